using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Distill.Data.Tests;

/// <summary>Writes level-5 MAT-files element by element, as MATLAB's format description lays them out (for the readers' tests).</summary>
internal sealed class MatWriter(bool little = true)
{
    public const int MiInt8 = 1, MiUInt8 = 2, MiUInt16 = 4, MiInt32 = 5, MiUInt32 = 6, MiDouble = 9, MiMatrix = 14, MiCompressed = 15;
    public const int MxCell = 1, MxStruct = 2, MxChar = 4, MxDouble = 6;

    private byte[] U32(uint v)
    {
        var b = new byte[4];
        if (little) BinaryPrimitives.WriteUInt32LittleEndian(b, v); else BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }

    public byte[] Header(string text = "MATLAB 5.0 MAT-file, written by hand for Distill's tests")
    {
        var h = new byte[128];
        Encoding.ASCII.GetBytes(text.PadRight(116)).CopyTo(h, 0);
        h[124] = little ? (byte)0x00 : (byte)0x01;
        h[125] = little ? (byte)0x01 : (byte)0x00;
        h[126] = little ? (byte)'I' : (byte)'M';
        h[127] = little ? (byte)'M' : (byte)'I';
        return h;
    }

    /// <summary>A data element: tag, data, padding to 8 bytes (small format when the data fits in 4 bytes and small is asked).</summary>
    public byte[] Element(int type, byte[] data, bool small = false)
    {
        if (small && data.Length <= 4)
            return [.. U32(((uint)data.Length << 16) | (uint)type), .. data, .. new byte[4 - data.Length]];
        return [.. U32((uint)type), .. U32((uint)data.Length), .. data, .. new byte[(8 - data.Length % 8) % 8]];
    }

    public byte[] Int32s(params int[] values) => values.SelectMany(v => U32((uint)v)).ToArray();

    public byte[] Doubles(params double[] values) => values.SelectMany(v =>
    {
        var b = new byte[8];
        if (little) BinaryPrimitives.WriteDoubleLittleEndian(b, v); else BinaryPrimitives.WriteDoubleBigEndian(b, v);
        return b;
    }).ToArray();

    public byte[] Chars16(string s) => s.SelectMany(c =>
    {
        var b = new byte[2];
        if (little) BinaryPrimitives.WriteUInt16LittleEndian(b, c); else BinaryPrimitives.WriteUInt16BigEndian(b, c);
        return b;
    }).ToArray();

    /// <summary>An miMATRIX element: flags, dimensions, name, then the class's own subelements.</summary>
    public byte[] Matrix(string name, int mxClass, int[] dims, params byte[][] rest) =>
        Element(MiMatrix, [.. Element(MiUInt32, [.. U32((uint)mxClass), .. U32(0)]), .. Element(MiInt32, Int32s(dims)),
            .. Element(MiInt8, Encoding.ASCII.GetBytes(name), small: true), .. rest.SelectMany(r => r)]);

    public byte[] Compressed(byte[] element)
    {
        using var output = new MemoryStream();
        using (var z = new ZLibStream(output, CompressionLevel.Optimal, leaveOpen: true)) z.Write(element);
        return [.. U32(MiCompressed), .. U32((uint)output.Length), .. output.ToArray()]; // not padded
    }

    // ---- whole values, for the readers' tests ----

    public byte[] Text(string name, string text) => Matrix(name, MxChar, [1, text.Length], Element(MiUInt16, Chars16(text)));

    public byte[] Row(string name, params double[] values) => Matrix(name, MxDouble, [values.Length == 0 ? 0 : 1, values.Length], Element(MiDouble, Doubles(values)));

    public byte[] Cell(string name, int[] dims, params byte[][] cells) => Matrix(name, MxCell, dims, cells);

    /// <summary>A struct array: per element (column-major) the unnamed values of <paramref name="fields"/>, in field order.</summary>
    public byte[] Struct(string name, int[] dims, string[] fields, params byte[][][] elements)
    {
        const int width = 32;
        var names = new byte[width * fields.Length];
        for (var i = 0; i < fields.Length; i++) Encoding.ASCII.GetBytes(fields[i]).CopyTo(names, i * width);
        return Matrix(name, MxStruct, dims, [Element(MiInt32, Int32s(width), small: true), Element(MiInt8, names), .. elements.SelectMany(e => e)]);
    }

    public byte[] File(params byte[][] variables) => [.. Header(), .. variables.SelectMany(v => Compressed(v))];
}
