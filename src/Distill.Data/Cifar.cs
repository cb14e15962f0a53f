using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// The CIFAR binary format (the "binary version" archives of CIFAR-10 and CIFAR-100). Each record is the
/// label byte(s) — CIFAR-10: the class; CIFAR-100: the coarse (0..19), then the fine class (0..99) —
/// followed by 3072 pixel bytes: the 1024 red values, then green, then blue, each plane row-major 32×32.
/// A file is a plain sequence of records, with no header.
/// </summary>
public static class CifarFormat
{
    public const int ImageBytes = 3 * 32 * 32;

    /// <summary>The records of one file: pixels (N, 3, 32, 32) uint8, fine (or only) labels, coarse labels for CIFAR-100.</summary>
    public sealed class Records : IDisposable
    {
        internal Records(Tensor images, int[] labels, int[]? coarseLabels)
        {
            Images = images;
            Labels = labels;
            CoarseLabels = coarseLabels;
        }

        public Tensor Images { get; }
        public int[] Labels { get; }
        public int[]? CoarseLabels { get; }
        public int Count => Labels.Length;

        public void Dispose() => Images.Dispose();
    }

    /// <summary>
    /// Reads a CIFAR-10 (<paramref name="cifar100"/> false) or CIFAR-100 binary file. A missing, empty or
    /// truncated file or a label out of range is a <see cref="DatasetException"/> naming the file and record.
    /// </summary>
    public static Records Read(string path, bool cifar100)
    {
        var labelBytes = cifar100 ? 2 : 1;
        var recordBytes = labelBytes + ImageBytes;
        var kind = cifar100 ? "CIFAR-100" : "CIFAR-10";
        if (!File.Exists(path)) throw new DatasetException($"cifar file '{path}' does not exist", path);
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"cifar file '{path}' cannot be read: {e.Message}", path, inner: e);
        }
        if (data.Length == 0) throw new DatasetException($"cifar file '{path}' is empty (expected {kind} records of {recordBytes} bytes)", path);
        var count = data.Length / recordBytes;
        var rest = data.Length % recordBytes;
        if (rest != 0)
        {
            var other = cifar100 ? 1 + ImageBytes : 2 + ImageBytes;
            var hint = data.Length % other == 0 ? $" (the size fits {(cifar100 ? "CIFAR-10" : "CIFAR-100")} records of {other} bytes: is this the other format?)" : "";
            throw new DatasetException(
                $"cifar file '{path}': record {count} is truncated (expected {recordBytes} bytes, got {rest}){hint}", path, count);
        }

        var labels = new int[count];
        var coarse = cifar100 ? new int[count] : null;
        for (var i = 0; i < count; i++)
        {
            var at = i * recordBytes;
            if (cifar100)
            {
                coarse![i] = data[at];
                labels[i] = data[at + 1];
                if (coarse[i] >= 20)
                    throw new DatasetException($"cifar file '{path}': record {i} has coarse label {coarse[i]}, outside CIFAR-100's 0..19", path, i);
                if (labels[i] >= 100)
                    throw new DatasetException($"cifar file '{path}': record {i} has fine label {labels[i]}, outside CIFAR-100's 0..99", path, i);
            }
            else
            {
                labels[i] = data[at];
                if (labels[i] >= 10)
                    throw new DatasetException($"cifar file '{path}': record {i} has label {labels[i]}, outside CIFAR-10's 0..9", path, i);
            }
        }

        // The records as a (N, record) byte tensor; the pixel columns are already C×H×W per record.
        using var scope = torch.NewDisposeScope();
        var table = torch.tensor(data, new long[] { count, recordBytes });
        var images = table.narrow(1, labelBytes, ImageBytes).contiguous().view(count, 3, 32, 32);
        return new Records(scope.MoveToOuter(images), labels, coarse);
    }

    /// <summary>Writes records in the binary format (for tests and for exporting a data set).</summary>
    public static void Write(string path, ReadOnlySpan<byte> chwImages, ReadOnlySpan<int> labels, ReadOnlySpan<int> coarseLabels = default)
    {
        var cifar100 = !coarseLabels.IsEmpty;
        if (chwImages.Length != labels.Length * ImageBytes)
            throw new ArgumentException($"{labels.Length} labels need {labels.Length * ImageBytes} pixel bytes, got {chwImages.Length}");
        if (cifar100 && coarseLabels.Length != labels.Length) throw new ArgumentException("give one coarse label per record");
        using var file = File.Create(path);
        for (var i = 0; i < labels.Length; i++)
        {
            if (cifar100) file.WriteByte(checked((byte)coarseLabels[i]));
            file.WriteByte(checked((byte)labels[i]));
            file.Write(chwImages.Slice(i * ImageBytes, ImageBytes));
        }
    }

    /// <summary>The directory holding the files: <paramref name="root"/> itself or its archive subdirectory.</summary>
    internal static string ResolveDirectory(string root, string archiveDirectory, string probeFile, string kind)
    {
        if (File.Exists(Path.Combine(root, probeFile))) return root;
        var nested = Path.Combine(root, archiveDirectory);
        if (File.Exists(Path.Combine(nested, probeFile))) return nested;
        if (!Directory.Exists(root))
            throw new DatasetException($"{kind} directory '{root}' does not exist", root);
        throw new DatasetException($"{kind} directory '{root}' has no '{probeFile}' (looked in '{root}' and '{nested}')", root);
    }

    internal static IReadOnlyList<string>? ReadNames(string path, int expected)
    {
        if (!File.Exists(path)) return null;
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return names.Length == expected ? names : null;
    }

    internal static string CheckSplit(string split) => split is "train" or "test"
        ? split
        : throw new ArgumentException($"split must be \"train\" or \"test\", got \"{split}\"", nameof(split));
}

/// <summary>
/// CIFAR-10 from its binary archive (<c>cifar-10-batches-bin</c>): <c>data_batch_1.bin</c> .. <c>data_batch_5.bin</c>
/// for "train", <c>test_batch.bin</c> for "test"; class names from <c>batches.meta.txt</c>. <c>root</c> is
/// that directory or its parent. Loaded into memory (150 MB for the training set).
/// </summary>
[DistillDataset(Task = "classification")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, 32, 32")]
[BatchField("label", TensorKind.Labels, "N", Classes = "10")]
public sealed class Cifar10 : InMemoryImageDataset
{
    public Cifar10(string root = "data", string split = "train")
    {
        split = CifarFormat.CheckSplit(split);
        var files = split == "train" ? Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").ToArray() : ["test_batch.bin"];
        var dir = CifarFormat.ResolveDirectory(root, "cifar-10-batches-bin", files[0], "CIFAR-10");
        Directory = dir;
        var parts = new List<CifarFormat.Records>();
        try
        {
            foreach (var f in files)
            {
                var path = Path.Combine(dir, f);
                if (!File.Exists(path)) throw new DatasetException($"CIFAR-10 directory '{dir}' lacks '{f}' (the {split} split needs {string.Join(", ", files)})", path);
                parts.Add(CifarFormat.Read(path, cifar100: false));
            }
            using var scope = torch.NewDisposeScope();
            var images = parts.Count == 1 ? parts[0].Images.alias() : torch.cat(parts.Select(p => p.Images).ToList());
            Initialize(scope.MoveToOuter(images), parts.SelectMany(p => p.Labels).ToArray(), 10,
                CifarFormat.ReadNames(Path.Combine(dir, "batches.meta.txt"), 10));
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    /// <summary>The directory the files were read from.</summary>
    public string Directory { get; }

    /// <summary>CIFAR-10's published training-set statistics (<see cref="ImageTransform.Cifar10Mean"/>, <see cref="ImageTransform.Cifar10Std"/>).</summary>
    public override (double[] Mean, double[] Std) Normalization => (ImageTransform.Cifar10Mean, ImageTransform.Cifar10Std);
}

/// <summary>
/// CIFAR-100 from its binary archive (<c>cifar-100-binary</c>): <c>train.bin</c> / <c>test.bin</c>, batches
/// labelled with the 100 fine classes (<see cref="CoarseLabel"/> gives the 20 superclasses); names from
/// <c>fine_label_names.txt</c>. <c>root</c> is that directory or its parent.
/// </summary>
[DistillDataset(Task = "classification")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, 32, 32")]
[BatchField("label", TensorKind.Labels, "N", Classes = "100")]
public sealed class Cifar100 : InMemoryImageDataset
{
    private readonly int[] _coarse;

    public Cifar100(string root = "data", string split = "train")
    {
        split = CifarFormat.CheckSplit(split);
        var file = split + ".bin";
        var dir = CifarFormat.ResolveDirectory(root, "cifar-100-binary", file, "CIFAR-100");
        Directory = dir;
        using var records = CifarFormat.Read(Path.Combine(dir, file), cifar100: true);
        _coarse = records.CoarseLabels!;
        Initialize(records.Images.alias(), records.Labels, 100, CifarFormat.ReadNames(Path.Combine(dir, "fine_label_names.txt"), 100));
        CoarseNames = CifarFormat.ReadNames(Path.Combine(dir, "coarse_label_names.txt"), 20);
    }

    public string Directory { get; }

    /// <summary>CIFAR-100's published training-set statistics (<see cref="ImageTransform.Cifar100Mean"/>, <see cref="ImageTransform.Cifar100Std"/>).</summary>
    public override (double[] Mean, double[] Std) Normalization => (ImageTransform.Cifar100Mean, ImageTransform.Cifar100Std);

    /// <summary>The superclass (0..19) of sample <paramref name="index"/>.</summary>
    public int CoarseLabel(int index)
    {
        CheckIndex(index);
        return _coarse[index];
    }

    public IReadOnlyList<string>? CoarseNames { get; }
}
