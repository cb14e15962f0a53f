using System.Text;

namespace Distill.Data.Tests;

public class PnmTests
{
    private static byte[] File(string header, params byte[] raster) => Encoding.ASCII.GetBytes(header).Concat(raster).ToArray();

    [Fact]
    public void A_ppm_with_comments_decodes_to_channel_planes()
    {
        // 2×2 RGB: (1,2,3) (4,5,6) / (7,8,9) (10,11,12)
        var data = File("P6\n# a comment\n2 2 # width height\n255\n", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
        var image = Pnm.Decode(data, "x.ppm");
        Assert.Equal((3, 2, 2), (image.Channels, image.Height, image.Width));
        Assert.Equal(new byte[] { 1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12 }, image.Pixels);
    }

    [Fact]
    public void A_pgm_and_a_16_bit_pgm_decode_with_rescaling()
    {
        var grey = Pnm.Decode(File("P5 3 1 255\n", 0, 128, 255), "g.pgm");
        Assert.Equal((1, 1, 3), (grey.Channels, grey.Height, grey.Width));
        Assert.Equal(new byte[] { 0, 128, 255 }, grey.Pixels);

        // maxval 1000, two bytes big-endian: 0, 500, 1000 -> 0, 128 (127.5 rounds to even), 255.
        var deep = Pnm.Decode(File("P5\n3 1\n1000\n", 0, 0, 0x01, 0xF4, 0x03, 0xE8), "d.pgm");
        Assert.Equal(new byte[] { 0, 128, 255 }, deep.Pixels);

        var small = Pnm.Decode(File("P5 2 1 15\n", 15, 5), "s.pgm");
        Assert.Equal(new byte[] { 255, 85 }, small.Pixels);
    }

    [Fact]
    public void Write_and_read_round_trip()
    {
        using var dir = new TempDir();
        var pixels = Enumerable.Range(0, 3 * 4 * 5).Select(i => (byte)(i * 4)).ToArray();
        var path = dir["a.ppm"];
        Pnm.Write(path, pixels, 3, 4, 5);
        Assert.Equal(new Pnm.Image(3, 4, 5, pixels).Pixels, Pnm.Read(path).Pixels);
        Assert.Equal((3, 4, 5), (Pnm.Read(path).Channels, Pnm.Read(path).Height, Pnm.Read(path).Width));
        var grey = dir["a.pgm"];
        Pnm.Write(grey, pixels.AsSpan(0, 20), 1, 4, 5);
        Assert.Equal(pixels.Take(20), Pnm.Read(grey).Pixels);
    }

    [Theory]
    [InlineData("P3\n2 2\n255\n", "bad header: expected the magic number 'P6' (colour PPM) or 'P5' (grey PGM), got 'P3' (ASCII Netpbm is not supported)")]
    [InlineData("GIF89a", "bad header: expected the magic number 'P6' (colour PPM) or 'P5' (grey PGM), got 'GI'")]
    [InlineData("", "bad header: expected the magic number 'P6' (colour PPM) or 'P5' (grey PGM), got an empty file")]
    [InlineData("P6\n", "bad header: expected the width (a positive decimal integer), got the end of the file")]
    [InlineData("P6\n3x 2\n255\n", "bad header: expected the width (a positive decimal integer), got '3x'")]
    [InlineData("P6\n0 2\n255\n", "bad header: expected the width (a positive decimal integer), got '0'")]
    [InlineData("P5 2 two 255\n", "bad header: expected the height (a positive decimal integer), got 'two'")]
    [InlineData("P5 2 2 70000\n", "bad header: the maximum value must be 1..65535, got 70000")]
    [InlineData("P5 2 2 255", "bad header: expected one whitespace byte after the maximum value 255, got the end of the file")]
    public void A_bad_header_names_the_file_and_what_was_expected(string header, string what)
    {
        var error = Assert.Throws<DatasetException>(() => Pnm.Decode(Encoding.ASCII.GetBytes(header), "dir/img.ppm"));
        var kind = header.StartsWith("P5", StringComparison.Ordinal) ? "PGM" : header.StartsWith("P6", StringComparison.Ordinal) ? "PPM" : "PPM/PGM";
        Assert.Equal($"{kind} file 'dir/img.ppm': {what}", error.Message);
        Assert.Equal("dir/img.ppm", error.Path);
    }

    [Fact]
    public void Truncated_pixel_data_is_reported_with_the_expected_size()
    {
        var error = Assert.Throws<DatasetException>(() => Pnm.Decode(File("P6\n32 32\n255\n", new byte[100]), "cat/1.ppm"));
        Assert.Equal("PPM file 'cat/1.ppm': pixel data is truncated (expected 3072 bytes for 32×32×3 samples of maxval 255, got 100)", error.Message);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        using var dir = new TempDir();
        var path = dir["none.ppm"];
        Assert.Equal($"image file '{path}' does not exist", Assert.Throws<DatasetException>(() => Pnm.Read(path)).Message);
    }
}
