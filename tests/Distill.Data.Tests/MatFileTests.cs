using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Distill.Data.Tests;

/// <summary>
/// <see cref="MatFile"/> on files assembled byte by byte from MATLAB's level-5 MAT-file format description (header,
/// tagged data elements padded to 8 bytes, small data elements, array flags / dimensions / name subelements, cells,
/// structs with their field-name length, zlib-compressed elements).
/// </summary>
public class MatFileTests
{
    private const int MiInt8 = MatWriter.MiInt8, MiUInt8 = MatWriter.MiUInt8, MiUInt16 = MatWriter.MiUInt16, MiInt32 = MatWriter.MiInt32, MiDouble = MatWriter.MiDouble;
    private const int MxCell = MatWriter.MxCell, MxStruct = MatWriter.MxStruct, MxChar = MatWriter.MxChar, MxSparse = 5, MxDouble = MatWriter.MxDouble, MxUInt8 = 9;

    private static byte[] Sample(bool little)
    {
        var w = new MatWriter(little);
        // boxes: 2 × 3 doubles 1..6 (column-major), stored as uint8 — MATLAB stores values in the smallest type that holds them.
        var boxes = w.Matrix("boxes", MxDouble, [2, 3], w.Element(MiUInt8, [1, 2, 3, 4, 5, 6]));
        var title = w.Matrix("title", MxChar, [1, 5], w.Element(MiUInt16, w.Chars16("hello")));
        // cell {7, 'ab'}: each cell an unnamed matrix.
        var cell = w.Matrix("cells", MxCell, [1, 2],
            w.Matrix("", MxDouble, [1, 1], w.Element(MiDouble, w.Doubles(7))),
            w.Matrix("", MxChar, [1, 2], w.Element(MiUInt16, w.Chars16("ab"))));
        // struct array 1 × 2 with fields imname and idlocate (field names padded to 32 bytes), compressed.
        var fieldNames = new byte[64];
        Encoding.ASCII.GetBytes("imname").CopyTo(fieldNames, 0);
        Encoding.ASCII.GetBytes("idlocate").CopyTo(fieldNames, 32);
        var people = w.Matrix("Test", MxStruct, [1, 2],
            w.Element(MiInt32, w.Int32s(32), small: true),
            w.Element(MiInt8, fieldNames),
            w.Matrix("", MxChar, [1, 10], w.Element(MiUInt16, w.Chars16("s15535.jpg"))),
            w.Matrix("", MxDouble, [1, 4], w.Element(MiDouble, w.Doubles(10.5, 20, 30, 80))),
            w.Matrix("", MxChar, [1, 6], w.Element(MiUInt16, w.Chars16("s2.jpg"))),
            w.Matrix("", MxUInt8, [0, 0], w.Element(MiUInt8, [])));
        return [.. w.Header(), .. boxes, .. title, .. cell, .. w.Compressed(people)];
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reads_arrays_text_cells_and_compressed_structs_in_either_byte_order(bool little)
    {
        var vars = MatFile.Read(Sample(little), "sample.mat");
        Assert.Equal(["boxes", "title", "cells", "Test"], vars.Keys);
        var boxes = Assert.IsType<MatNumeric>(vars["boxes"]);
        Assert.Equal([2, 3], boxes.Dimensions);
        Assert.Equal("double", boxes.Class);
        Assert.Equal(5, boxes[0, 2]);  // column-major: row 0 of column 2
        Assert.Equal(2, boxes[1, 0]);
        Assert.Equal("hello", Assert.IsType<MatText>(vars["title"]).Text);
        var cells = Assert.IsType<MatCell>(vars["cells"]);
        Assert.Equal(7, Assert.IsType<MatNumeric>(cells.Cells[0]).Values.Single());
        Assert.Equal("ab", Assert.IsType<MatText>(cells.Cells[1]).Text);
        var test = Assert.IsType<MatStruct>(vars["Test"]);
        Assert.Equal(["imname", "idlocate"], test.Fields);
        Assert.Equal(2, test.Count);
        Assert.Equal("s15535.jpg", ((MatText)test.Field(0, "imname")).Text);
        Assert.Equal([10.5, 20, 30, 80], ((MatNumeric)test.Field(0, "idlocate")).Values);
        Assert.Equal(0, test.Field(1, "idlocate").Count);
        Assert.Contains("the struct has no field 'boxes' (its fields: imname, idlocate)", Assert.Throws<KeyNotFoundException>(() => test.Field(0, "boxes")).Message);
    }

    [Fact]
    public void Files_it_cannot_read_are_clear_errors()
    {
        using var dir = new TempDir();
        var w = new MatWriter(true);
        Assert.Contains("does not exist", Assert.Throws<DatasetException>(() => MatFile.Read(dir["none.mat"])).Message);
        Assert.Contains("shorter than the 128-byte header", Assert.Throws<DatasetException>(() => MatFile.Read(new byte[10], "short.mat")).Message);
        var v73 = w.Header("MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Dec  7 2026 HDF5 schema 1.00 .");
        Assert.Contains("is MATLAB 7.3 (HDF5), which this reader does not read: save it with -v7", Assert.Throws<DatasetException>(() => MatFile.Read(v73, "v73.mat")).Message);
        var sample = Sample(true);
        var truncated = sample[..(sample.Length - 30)];
        var e = Assert.Throws<DatasetException>(() => MatFile.Read(truncated, "cut.mat"));
        Assert.StartsWith("MAT-file 'cut.mat': an element of", e.Message);
        byte[] sparse = [.. w.Header(), .. w.Matrix("S", MxSparse, [3, 3])];
        Assert.Contains("variable 'S' is of MATLAB class sparse, which this reader does not read", Assert.Throws<DatasetException>(() => MatFile.Read(sparse, "sparse.mat")).Message);
        byte[] notMat = [.. Encoding.ASCII.GetBytes("just some text file that is long enough ".PadRight(200))];
        Assert.Contains("has no level-5 header", Assert.Throws<DatasetException>(() => MatFile.Read(notMat, "text.mat")).Message);
    }
}
