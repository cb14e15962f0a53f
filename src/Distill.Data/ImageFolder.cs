using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// An image folder: <c>root/[split/]&lt;class&gt;/&lt;image&gt;.ppm|.pgm|.pnm</c>. Classes are the
/// subdirectories in ordinal name order (label 0 is the first); images in each, in ordinal name order.
/// Every image must be <c>size</c> × <c>size</c>; with <c>channels</c> = 3, grey PGM images are replicated to
/// three channels, with 1 a colour PPM is an error. Decoded into memory at construction, so a bad file is
/// reported at once, naming it.
/// </summary>
[DistillDataset(Task = "classification")]
[BatchField("image", TensorKind.FeatureMap, "N, channels, size, size")]
[BatchField("label", TensorKind.Labels, "N", Classes = "classes")]
public sealed class ImageFolder : InMemoryImageDataset
{
    /// <param name="root">The folder of class directories, or its parent when <paramref name="split"/> is given.</param>
    /// <param name="classes">The number of class directories expected.</param>
    /// <param name="channels">3 (colour) or 1 (grey).</param>
    /// <param name="size">The images' height and width.</param>
    /// <param name="split">A subdirectory of <paramref name="root"/> ("train", "test"), or "" for root itself.</param>
    public ImageFolder(string root = "data/images", int classes = 10, int channels = 3, int size = 32, string split = "")
    {
        var folder = FolderReader.Read(root, split, classes, channels, size, FolderReader.Classes);
        Directory = folder.Directory;
        Files = folder.Files;
        Initialize(folder.Images, folder.Labels, classes, folder.Names);
    }

    /// <summary>The folder the classes were read from.</summary>
    public string Directory { get; }

    /// <summary>The image file of each sample, in sample order.</summary>
    public IReadOnlyList<string> Files { get; }
}

/// <summary>
/// Reads a folder of class (or identity) directories of PPM/PGM images into one (N, C, H, W) uint8 tensor:
/// what <see cref="ImageFolder"/> and <see cref="FaceFolder"/> share.
/// </summary>
internal static class FolderReader
{
    /// <summary>The words an error uses for a directory and for the count argument.</summary>
    internal sealed record Wording(string Directory, string Argument);

    internal static readonly Wording Classes = new("class", "classes");
    internal static readonly Wording Identities = new("identity", "identities");

    private static readonly string[] Extensions = [".ppm", ".pgm", ".pnm"];

    /// <param name="Images">(N, channels, size, size) uint8 (in the caller's dispose scope, if any).</param>
    /// <param name="Start">The first sample of each directory, plus N at the end.</param>
    internal sealed record Content(string Directory, Tensor Images, int[] Labels, string[] Names, string[] Files, int[] Start);

    internal static Content Read(string root, string split, int expected, int channels, int size, Wording words)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels), channels, "an image folder has 3 (PPM) or 1 (PGM) channels");
        if (size < 1) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be positive");
        var dir = split.Length == 0 ? root : Path.Combine(root, split);
        if (!System.IO.Directory.Exists(dir)) throw new DatasetException($"image folder '{dir}' does not exist", dir);

        var classDirs = System.IO.Directory.GetDirectories(dir)
            .Where(d => !Path.GetFileName(d).StartsWith('.'))
            .OrderBy(d => Path.GetFileName(d), StringComparer.Ordinal)
            .ToArray();
        var names = classDirs.Select(Path.GetFileName).Cast<string>().ToArray();
        if (classDirs.Length != expected)
            throw new DatasetException(
                $"image folder '{dir}' has {classDirs.Length} {words.Directory} directories ({Preview(names)}), but {words.Argument} = {expected}", dir);

        var per = channels * size * size;
        var pixels = new List<byte[]>();
        var labels = new List<int>();
        var fileList = new List<string>();
        var start = new int[classDirs.Length + 1];
        for (var label = 0; label < classDirs.Length; label++)
        {
            start[label] = pixels.Count;
            var files = System.IO.Directory.GetFiles(classDirs[label])
                .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal)
                .ToArray();
            if (files.Length == 0)
                throw new DatasetException($"{words.Directory} directory '{classDirs[label]}' has no .ppm/.pgm images", classDirs[label]);
            foreach (var file in files)
            {
                var image = Pnm.Read(file);
                if (image.Height != size || image.Width != size)
                    throw new DatasetException($"image '{file}' is {image.Width}×{image.Height}, but the data set has size = {size} ({size}×{size})", file);
                if (image.Channels != channels)
                {
                    if (channels == 1)
                        throw new DatasetException($"image '{file}' is a colour PPM, but the data set has channels = 1 (grey)", file);
                    var rgb = new byte[per];
                    for (var c = 0; c < 3; c++) image.Pixels.CopyTo(rgb, c * size * size);
                    image = image with { Channels = 3, Pixels = rgb };
                }
                pixels.Add(image.Pixels);
                labels.Add(label);
                fileList.Add(file);
            }
        }
        start[classDirs.Length] = pixels.Count;
        var all = new byte[pixels.Count * per];
        for (var i = 0; i < pixels.Count; i++) pixels[i].CopyTo(all, i * per);
        return new Content(dir, torch.tensor(all, new long[] { pixels.Count, channels, size, size }), labels.ToArray(), names, fileList.ToArray(), start);
    }

    private static string Preview(string[] names) =>
        names.Length == 0 ? "none" : string.Join(", ", names.Take(12)) + (names.Length > 12 ? ", ..." : "");
}
