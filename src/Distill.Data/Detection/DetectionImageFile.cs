namespace Distill.Data;

/// <summary>
/// The image files of the detection readers. The project decodes binary PPM/PGM only (<see cref="Pnm"/>), so a
/// JPEG or PNG named by an annotation file is looked for as a PPM/PGM of the same stem beside it
/// (<c>000005.jpg</c> → <c>000005.ppm</c>, <c>.pgm</c> or <c>.pnm</c>), which a one-off conversion makes
/// (ImageMagick: <c>mogrify -format ppm *.jpg</c>). A file named <c>.jpg</c> whose bytes are a PPM is read as it is.
/// </summary>
internal static class DetectionImageFile
{
    private static readonly string[] PnmExtensions = [".ppm", ".pgm", ".pnm"];

    /// <summary>The file to decode for <paramref name="path"/>, or a message saying why there is none.</summary>
    public static (string? File, string? Problem) Resolve(string path)
    {
        if (File.Exists(path) && IsPnm(path)) return (path, null);
        foreach (var ext in PnmExtensions)
        {
            var sibling = Path.ChangeExtension(path, ext);
            if (!string.Equals(sibling, path, StringComparison.Ordinal) && File.Exists(sibling) && IsPnm(sibling)) return (sibling, null);
        }
        var stem = Path.ChangeExtension(path, ".ppm");
        if (!File.Exists(path)) return (null, $"image '{path}' does not exist (nor a PPM/PGM of the same stem such as '{stem}')");
        var kind = Format(path);
        return (null, $"image '{path}' is {kind}; Distill decodes binary PPM/PGM only: convert it to '{stem}' (e.g. ImageMagick's 'mogrify -format ppm'), which is then read in its place");
    }

    /// <summary>Decodes an image to 3 × H × W uint8 (grey replicated) and checks it has the size the annotations declare.</summary>
    public static byte[] Read(string file, int height, int width, string declaredBy)
    {
        var image = Pnm.Read(file);
        if (image.Height != height || image.Width != width)
            throw new DatasetException($"image '{file}' is {image.Width}×{image.Height} (width × height), but {declaredBy} says {width}×{height}", file);
        if (image.Channels == 3) return image.Pixels;
        var plane = height * width;
        var rgb = new byte[3 * plane];
        for (var c = 0; c < 3; c++) image.Pixels.AsSpan(0, plane).CopyTo(rgb.AsSpan(c * plane, plane));
        return rgb;
    }

    private static bool IsPnm(string path)
    {
        Span<byte> head = stackalloc byte[2];
        try
        {
            using var f = File.OpenRead(path);
            return f.Read(head) == 2 && head[0] == (byte)'P' && head[1] is (byte)'5' or (byte)'6';
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string Format(string path)
    {
        Span<byte> head = stackalloc byte[4];
        int read;
        try
        {
            using var f = File.OpenRead(path);
            read = f.Read(head);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"unreadable ({e.Message})";
        }
        if (read >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF) return "a JPEG file";
        if (read >= 4 && head[0] == 0x89 && head[1] == (byte)'P' && head[2] == (byte)'N' && head[3] == (byte)'G') return "a PNG file";
        if (read >= 2 && head[0] == (byte)'P' && head[1] is (byte)'2' or (byte)'3') return "an ASCII Netpbm file (not supported)";
        return "not a PPM/PGM file";
    }

    /// <summary>
    /// Clips a box to the image. Null when nothing of it lies inside (the caller reports that as an error).
    /// </summary>
    public static (float X1, float Y1, float X2, float Y2)? Clip(double x1, double y1, double x2, double y2, int width, int height)
    {
        var (cx1, cy1) = (Math.Clamp(x1, 0, width), Math.Clamp(y1, 0, height));
        var (cx2, cy2) = (Math.Clamp(x2, 0, width), Math.Clamp(y2, 0, height));
        if (cx2 <= cx1 || cy2 <= cy1) return null;
        return ((float)cx1, (float)cy1, (float)cx2, (float)cy2);
    }
}
