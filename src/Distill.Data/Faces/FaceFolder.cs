using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// Face images on disk, one directory per identity — <c>root/[split/]&lt;identity&gt;/&lt;image&gt;.ppm|.pgm|.pnm</c>,
/// the layout of LFW, CASIA-WebFace and most aligned face sets — read as <see cref="ImageFolder"/> reads
/// classes: identities are the subdirectories in ordinal order (label 0 first), images in ordinal file
/// order, every image <c>size</c> × <c>size</c> (grey images replicated when <c>channels</c> = 3), all
/// decoded into memory at construction.
/// <para>
/// <b>Verification pairs</b> (<see cref="IVerificationPairs"/>): from an LFW-format <c>pairs</c> file
/// (<see cref="VerificationPairs.ReadLfw"/>; a name is an identity directory, image number i the i-th
/// image of that directory in file order, 1-based — LFW's <c>Name_0004.jpg</c> is image 4), or, without a
/// file, <c>pair_count</c> pairs drawn in <c>folds</c> identity-disjoint folds with
/// <see cref="VerificationPairs.Build(IReadOnlyList{int}, int, int, int)"/> from <c>seed</c>; with neither, no
/// pairs. A name or image number the folder lacks is a <see cref="DatasetException"/> naming the pairs
/// file and its line.
/// </para>
/// </summary>
[DistillDataset(Task = "face")]
[BatchField("image", TensorKind.FeatureMap, "N, channels, size, size")]
[BatchField("label", TensorKind.Labels, "N", Classes = "identities")]
public sealed class FaceFolder : InMemoryImageDataset, IVerificationPairs
{
    private readonly int[] _start;

    /// <param name="root">The folder of identity directories, or its parent when <paramref name="split"/> is given.</param>
    /// <param name="pairs">An LFW-format pairs file (a relative path not found as given is looked up in the folder), or null / "" for none.</param>
    /// <param name="identities">The number of identity directories expected.</param>
    /// <param name="channels">3 (colour) or 1 (grey).</param>
    /// <param name="size">The images' height and width (112 for the usual aligned crops).</param>
    /// <param name="split">A subdirectory of <paramref name="root"/>, or "" for root itself.</param>
    /// <param name="pair_count">Without a pairs file: the number of pairs to draw (a multiple of 2 × folds), or 0 for none.</param>
    /// <param name="folds">Without a pairs file: the folds the drawn pairs form.</param>
    /// <param name="seed">Without a pairs file: seeds the drawn pairs.</param>
    public FaceFolder(string root = "data/faces", string? pairs = null, int identities = 10, int channels = 3, int size = 112,
        string split = "", int pair_count = 0, int folds = 10, int seed = 0)
    {
        if (pair_count < 0) throw new ArgumentOutOfRangeException(nameof(pair_count), pair_count, "pair_count must not be negative");
        if (!string.IsNullOrEmpty(pairs) && pair_count > 0)
            throw new ArgumentException("give either a pairs file or pair_count (pairs drawn from the labels), not both", nameof(pair_count));
        var folder = FolderReader.Read(root, split, identities, channels, size, FolderReader.Identities);
        Directory = folder.Directory;
        Files = folder.Files;
        _start = folder.Start;
        Initialize(folder.Images, folder.Labels, identities, folder.Names);

        try
        {
            if (!string.IsNullOrEmpty(pairs))
            {
                var path = pairs;
                if (!File.Exists(path) && !System.IO.Path.IsPathRooted(path) && File.Exists(System.IO.Path.Combine(Directory, path)))
                    path = System.IO.Path.Combine(Directory, path);
                PairsPath = path;
                var file = VerificationPairs.ReadLfw(path);
                Pairs = Resolve(file, folder.Names);
                Folds = file.Folds;
            }
            else if (pair_count > 0)
            {
                Pairs = VerificationPairs.Build(folder.Labels, pair_count, folds, seed);
                Folds = folds;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The folder the identities were read from.</summary>
    public string Directory { get; }

    /// <summary>The image file of each sample, in sample order.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>The pairs file read, or null when the pairs were drawn (or there are none).</summary>
    public string? PairsPath { get; }

    public IReadOnlyList<VerificationPair> Pairs { get; } = [];

    public int Folds { get; }

    /// <summary>The sample index of image <paramref name="number"/> (1-based, in file order) of identity <paramref name="identity"/>.</summary>
    public int Sample(int identity, int number)
    {
        if ((uint)identity >= (uint)Classes) throw new ArgumentOutOfRangeException(nameof(identity), identity, $"the folder has {Classes} identities");
        var count = ImageCount(identity);
        if (number < 1 || number > count) throw new ArgumentOutOfRangeException(nameof(number), number, $"identity {identity} has {count} images (numbered from 1)");
        return _start[identity] + number - 1;
    }

    /// <summary>The number of images of identity <paramref name="identity"/>.</summary>
    public int ImageCount(int identity) => _start[identity + 1] - _start[identity];

    private VerificationPair[] Resolve(VerificationPairs.LfwPairsFile file, string[] names)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < names.Length; i++) index[names[i]] = i;
        var result = new VerificationPair[file.Pairs.Count];
        for (var k = 0; k < result.Length; k++)
        {
            var p = file.Pairs[k];
            result[k] = new VerificationPair(Find(p.Name1, p.Image1, p.Line), Find(p.Name2, p.Image2, p.Line), p.Same);
        }
        return result;

        int Find(string name, int number, int line)
        {
            if (!index.TryGetValue(name, out var identity))
                throw new DatasetException($"pairs file '{file.Path}', line {line}: identity '{name}' has no directory in '{Directory}'", file.Path, line);
            var count = ImageCount(identity);
            if (number > count)
                throw new DatasetException(
                    $"pairs file '{file.Path}', line {line}: identity '{name}' has {count} image{(count == 1 ? "" : "s")} in '{Directory}', but the pair names image {number}", file.Path, line);
            return _start[identity] + number - 1;
        }
    }
}
