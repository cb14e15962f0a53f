using System.Text;

namespace Distill.Data;

/// <summary>
/// Binary Netpbm images: PPM (<c>P6</c>, colour) and PGM (<c>P5</c>, grey). The header is the magic number,
/// the width, the height and the maximum value (1..65535) as whitespace-separated decimal tokens (with
/// <c>#</c> comments to the end of a line allowed between them), then exactly one whitespace byte and the
/// raster: rows top to bottom, pixels interleaved (R G B), one byte per sample when maxval &lt; 256, else
/// two bytes big-endian.
/// </summary>
public static class Pnm
{
    /// <summary>A decoded image: 8-bit samples in C × H × W order (samples above 8 bits are rescaled to 0..255).</summary>
    public sealed record Image(int Channels, int Height, int Width, byte[] Pixels);

    public static Image Read(string path)
    {
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (FileNotFoundException e) { throw new DatasetException($"image file '{path}' does not exist", path, inner: e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"image file '{path}' cannot be read: {e.Message}", path, inner: e);
        }
        return Decode(data, path);
    }

    /// <summary>An image's width and height from its header alone (the raster is not read); errors as <see cref="Read"/>'s.</summary>
    public static (int Width, int Height) ReadSize(string path)
    {
        var head = new byte[4096];
        int length;
        try
        {
            using var stream = File.OpenRead(path);
            length = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        catch (FileNotFoundException e) { throw new DatasetException($"image file '{path}' does not exist", path, inner: e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"image file '{path}' cannot be read: {e.Message}", path, inner: e);
        }
        DatasetException Bad(string what) => new($"PPM/PGM file '{path}': {what}", path);
        var data = head.AsSpan(0, length);
        if (data.Length < 2 || data[0] != (byte)'P' || (data[1] != (byte)'5' && data[1] != (byte)'6'))
            throw Bad("bad header: expected the magic number 'P6' (colour PPM) or 'P5' (grey PGM)");
        var pos = 2;
        var width = ReadNumber(data, ref pos, "the width", Bad);
        var height = ReadNumber(data, ref pos, "the height", Bad);
        return (width, height);
    }

    /// <summary>Decodes a P5/P6 image; <paramref name="path"/> names it in errors.</summary>
    public static Image Decode(ReadOnlySpan<byte> data, string path)
    {
        var kindName = "PPM/PGM";
        DatasetException Bad(string what) => new($"{kindName} file '{path}': {what}", path);

        if (data.Length < 2 || data[0] != (byte)'P' || (data[1] != (byte)'5' && data[1] != (byte)'6'))
        {
            var got = data.Length == 0 ? "an empty file" : $"'{Printable(data[..Math.Min(2, data.Length)])}'";
            var ascii = data.Length >= 2 && data[0] == (byte)'P' && data[1] is (byte)'2' or (byte)'3'
                ? " (ASCII Netpbm is not supported)" : "";
            throw Bad($"bad header: expected the magic number 'P6' (colour PPM) or 'P5' (grey PGM), got {got}{ascii}");
        }
        var channels = data[1] == (byte)'6' ? 3 : 1;
        kindName = channels == 3 ? "PPM" : "PGM";
        var pos = 2;
        var width = ReadNumber(data, ref pos, "the width", Bad);
        var height = ReadNumber(data, ref pos, "the height", Bad);
        var maxval = ReadNumber(data, ref pos, "the maximum value", Bad);
        if (maxval > 65535) throw Bad($"bad header: the maximum value must be 1..65535, got {maxval}");
        if (pos >= data.Length || !IsSpace(data[pos]))
            throw Bad($"bad header: expected one whitespace byte after the maximum value {maxval}, got {(pos >= data.Length ? "the end of the file" : $"'{Printable(data.Slice(pos, 1))}'")}");
        pos++;

        var bytesPerSample = maxval < 256 ? 1 : 2;
        var expected = (long)width * height * channels * bytesPerSample;
        var available = data.Length - pos;
        if (available < expected)
            throw Bad($"pixel data is truncated (expected {expected} bytes for {width}×{height}×{channels} samples of maxval {maxval}, got {available})");

        var plane = width * height;
        var pixels = new byte[plane * channels];
        var raster = data.Slice(pos, (int)expected);
        for (var i = 0; i < plane; i++)
            for (var c = 0; c < channels; c++)
            {
                var k = i * channels + c;
                int value = bytesPerSample == 1 ? raster[k] : (raster[2 * k] << 8) | raster[2 * k + 1];
                if (maxval != 255) value = (int)Math.Round(Math.Min(value, maxval) * 255.0 / maxval);
                pixels[c * plane + i] = (byte)value;
            }
        return new Image(channels, height, width, pixels);
    }

    /// <summary>Writes an 8-bit P6 (3 channels) or P5 (1 channel) file from C × H × W pixels.</summary>
    public static void Write(string path, ReadOnlySpan<byte> chw, int channels, int height, int width)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "PPM has 3 channels, PGM 1");
        var plane = height * width;
        if (chw.Length != plane * channels) throw new ArgumentException($"expected {plane * channels} bytes, got {chw.Length}", nameof(chw));
        var header = Encoding.ASCII.GetBytes($"{(channels == 3 ? "P6" : "P5")}\n{width} {height}\n255\n");
        var raster = new byte[plane * channels];
        for (var i = 0; i < plane; i++)
            for (var c = 0; c < channels; c++) raster[i * channels + c] = chw[c * plane + i];
        using var file = File.Create(path);
        file.Write(header);
        file.Write(raster);
    }

    private static int ReadNumber(ReadOnlySpan<byte> data, ref int pos, string what, Func<string, DatasetException> bad)
    {
        // Whitespace and comments before the token.
        while (pos < data.Length)
        {
            if (IsSpace(data[pos])) pos++;
            else if (data[pos] == (byte)'#')
                while (pos < data.Length && data[pos] != (byte)'\n' && data[pos] != (byte)'\r') pos++;
            else break;
        }
        if (pos >= data.Length) throw bad($"bad header: expected {what} (a positive decimal integer), got the end of the file");
        var start = pos;
        long value = 0;
        while (pos < data.Length && data[pos] >= (byte)'0' && data[pos] <= (byte)'9' && value <= int.MaxValue)
            value = value * 10 + (data[pos++] - (byte)'0');
        var tokenEnd = start;
        while (tokenEnd < data.Length && !IsSpace(data[tokenEnd]) && tokenEnd - start < 12) tokenEnd++;
        if (pos == start || value < 1 || value > int.MaxValue || (pos < data.Length && !IsSpace(data[pos]) && data[pos] != (byte)'#'))
            throw bad($"bad header: expected {what} (a positive decimal integer), got '{Printable(data[start..Math.Max(tokenEnd, start + 1)])}'");
        return (int)value;
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0B or 0x0C;

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes) sb.Append(b is >= 0x20 and < 0x7F ? (char)b : $"\\x{b:X2}");
        return sb.ToString();
    }
}
