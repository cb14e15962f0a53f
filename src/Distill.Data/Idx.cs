using System.Buffers.Binary;
using System.IO.Compression;
using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// The IDX format of MNIST and Fashion-MNIST: a 4-byte magic number — two zero bytes, the element type
/// (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64) and the number
/// of dimensions — then each dimension as a big-endian uint32, then the elements in row-major order
/// (multi-byte elements big-endian). Files may be gzip-compressed (as distributed: <c>*.gz</c>); the
/// reader recognises gzip by its magic bytes, whatever the file is called.
/// </summary>
public static class IdxFormat
{
    /// <summary>The element types IDX knows, by their type byte.</summary>
    public enum ElementType : byte
    {
        UInt8 = 0x08,
        Int8 = 0x09,
        Int16 = 0x0B,
        Int32 = 0x0C,
        Float32 = 0x0D,
        Float64 = 0x0E,
    }

    /// <summary>The bytes of one element of <paramref name="type"/>.</summary>
    public static int ElementSize(ElementType type) => type switch
    {
        ElementType.UInt8 or ElementType.Int8 => 1,
        ElementType.Int16 => 2,
        ElementType.Int32 or ElementType.Float32 => 4,
        ElementType.Float64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "not an IDX element type"),
    };

    /// <summary>One IDX file: its element type, its dimensions, and the element bytes as stored (big-endian).</summary>
    public sealed record Array(string Path, ElementType Type, long[] Shape, byte[] Data, int DataOffset)
    {
        /// <summary>The records: the first dimension (the number of images or labels).</summary>
        public long Count => Shape.Length == 0 ? 1 : Shape[0];

        /// <summary>The elements of one record (the product of the other dimensions).</summary>
        public long RecordElements => Shape.Skip(1).Aggregate(1L, (a, b) => a * b);

        /// <summary>The element bytes, without the header.</summary>
        public ReadOnlySpan<byte> Elements => Data.AsSpan(DataOffset);
    }

    /// <summary>
    /// Reads an IDX file (gzip-compressed or not). A missing, empty, truncated or malformed file is a
    /// <see cref="DatasetException"/> that names the file and, for truncation, the first incomplete record.
    /// </summary>
    public static Array Read(string path)
    {
        if (!File.Exists(path)) throw new DatasetException($"IDX file '{path}' does not exist", path);
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
            if (data.Length >= 2 && data[0] == 0x1F && data[1] == 0x8B) data = Gunzip(data);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            throw new DatasetException($"IDX file '{path}' cannot be read: {e.Message}", path, inner: e);
        }
        if (data.Length == 0) throw new DatasetException($"IDX file '{path}' is empty", path);
        if (data.Length < 4)
            throw new DatasetException($"IDX file '{path}' is {data.Length} bytes long, shorter than the 4-byte magic number", path);
        if (data[0] != 0 || data[1] != 0)
            throw new DatasetException(
                $"IDX file '{path}' does not start with an IDX magic number (expected 00 00 <type> <dims>, got {data[0]:X2} {data[1]:X2} {data[2]:X2} {data[3]:X2})", path);
        var type = (ElementType)data[2];
        if (!Enum.IsDefined(type))
            throw new DatasetException($"IDX file '{path}' has element type 0x{data[2]:X2}; IDX knows 0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32) and 0x0E (float64)", path);
        int dims = data[3];
        if (dims == 0) throw new DatasetException($"IDX file '{path}' declares 0 dimensions", path);
        var header = 4 + 4 * dims;
        if (data.Length < header)
            throw new DatasetException($"IDX file '{path}' is truncated in its header ({dims} dimensions need {header} bytes, the file has {data.Length})", path);
        var shape = new long[dims];
        for (var d = 0; d < dims; d++) shape[d] = BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(4 + 4 * d, 4));
        var size = ElementSize(type);
        var perRecord = shape.Skip(1).Aggregate(1L, (a, b) => a * b) * size;
        var expected = header + shape[0] * perRecord;
        if (data.Length < expected)
        {
            var complete = perRecord == 0 ? 0 : (data.Length - header) / perRecord;
            throw new DatasetException(
                $"IDX file '{path}': record {complete} is truncated (the header declares {shape[0]} records of {perRecord} bytes, [{string.Join(", ", shape)}], " +
                $"so {expected} bytes; the file has {data.Length})", path, complete);
        }
        if (data.Length > expected)
            throw new DatasetException(
                $"IDX file '{path}' has {data.Length - expected} bytes after its last record (the header declares [{string.Join(", ", shape)}], {expected} bytes in all)", path);
        return new Array(path, type, shape, data, header);
    }

    private static byte[] Gunzip(byte[] compressed)
    {
        using var input = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>Writes unsigned-byte records (images or labels) as an IDX file, gzip-compressed when <paramref name="gzip"/> (for tests and exports).</summary>
    public static void WriteBytes(string path, ReadOnlySpan<byte> elements, ReadOnlySpan<int> shape, bool gzip = false)
    {
        if (shape.Length is 0 or > 255) throw new ArgumentException("an IDX file has 1 to 255 dimensions", nameof(shape));
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException("dimensions must not be negative", nameof(shape));
            count *= d;
        }
        if (count != elements.Length) throw new ArgumentException($"the shape holds {count} elements, {elements.Length} were given");
        var bytes = new byte[4 + 4 * shape.Length + elements.Length];
        bytes[2] = (byte)ElementType.UInt8;
        bytes[3] = (byte)shape.Length;
        for (var d = 0; d < shape.Length; d++) BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4 + 4 * d, 4), (uint)shape[d]);
        elements.CopyTo(bytes.AsSpan(4 + 4 * shape.Length));
        using var file = File.Create(path);
        if (gzip)
        {
            using var zip = new GZipStream(file, CompressionLevel.Fastest);
            zip.Write(bytes);
        }
        else file.Write(bytes);
    }
}

/// <summary>
/// An MNIST-layout data set: grey-scale images and labels in two IDX files per split
/// (<c>train-images-idx3-ubyte</c> / <c>train-labels-idx1-ubyte</c>, <c>t10k-…</c> for "test"), each found
/// plain or as <c>.gz</c>. Images are uint8 (N, H, W) in the file and (N, 1, H, W) in batches; labels uint8.
/// Loaded into memory (47 MB for a 60,000-image training split).
/// </summary>
public abstract class IdxImageDataset : InMemoryImageDataset
{
    /// <param name="root">The directory holding the four files.</param>
    /// <param name="split">"train" or "test".</param>
    /// <param name="perClass">Keep only the first <paramref name="perClass"/> images of each class, in file order (0 keeps all): a
    /// class-balanced subset for data-limited experiments, the same for every run.</param>
    /// <param name="kind">The data set's name in messages.</param>
    /// <param name="classNames">The class names, by label.</param>
    /// <param name="missingHint">Appended to the message when <paramref name="root"/> does not exist: how to get the files.</param>
    protected IdxImageDataset(string root, string split, int perClass, string kind, IReadOnlyList<string> classNames, string missingHint = "")
    {
        if (split is not ("train" or "test")) throw new ArgumentException($"split must be \"train\" or \"test\", got \"{split}\"", nameof(split));
        if (perClass < 0) throw new ArgumentOutOfRangeException(nameof(perClass), perClass, "per_class must be 0 (all images) or positive");
        if (!System.IO.Directory.Exists(root))
            throw new DatasetException($"{kind} directory '{root}' does not exist{missingHint}", root);
        var prefix = split == "train" ? "train" : "t10k";
        var imagesPath = FindFile(root, $"{prefix}-images-idx3-ubyte", kind);
        var labelsPath = FindFile(root, $"{prefix}-labels-idx1-ubyte", kind);
        Directory = root;
        Split = split;
        var images = IdxFormat.Read(imagesPath);
        var labels = IdxFormat.Read(labelsPath);
        if (images.Type != IdxFormat.ElementType.UInt8 || images.Shape.Length != 3)
            throw new DatasetException($"{kind} images '{imagesPath}' must be uint8 of shape [N, H, W], got {images.Type} [{string.Join(", ", images.Shape)}]", imagesPath);
        if (labels.Type != IdxFormat.ElementType.UInt8 || labels.Shape.Length != 1)
            throw new DatasetException($"{kind} labels '{labelsPath}' must be uint8 of shape [N], got {labels.Type} [{string.Join(", ", labels.Shape)}]", labelsPath);
        if (images.Count != labels.Count)
            throw new DatasetException($"{kind} {split} split: '{imagesPath}' has {images.Count} images but '{labelsPath}' has {labels.Count} labels", labelsPath);
        var classes = classNames.Count;
        var labelBytes = labels.Elements.ToArray();
        var keep = new List<int>((int)labels.Count);
        var taken = new int[classes];
        for (var i = 0; i < labelBytes.Length; i++)
        {
            int label = labelBytes[i];
            if (label >= classes)
                throw new DatasetException($"{kind} labels '{labelsPath}': record {i} has label {label}, outside 0..{classes - 1}", labelsPath, i);
            if (perClass == 0 || taken[label]++ < perClass) keep.Add(i);
        }
        if (perClass > 0 && taken.Min() < perClass)
            throw new DatasetException(
                $"{kind} {split} split has only {taken.Min()} images of class {System.Array.IndexOf(taken, taken.Min())}, fewer than per_class {perClass}", labelsPath);
        var (h, w) = ((int)images.Shape[1], (int)images.Shape[2]);
        var pixels = h * w;
        using var scope = torch.NewDisposeScope();
        var all = torch.tensor(images.Elements.ToArray(), new long[] { images.Count, 1, h, w });
        var selected = keep.Count == images.Count ? all : all.index_select(0, torch.tensor(keep.Select(i => (long)i).ToArray()));
        Initialize(scope.MoveToOuter(selected.contiguous()), keep.Select(i => (int)labelBytes[i]).ToArray(), classes, classNames);
        PerClass = perClass;
    }

    /// <summary>The directory the files were read from.</summary>
    public string Directory { get; }

    public string Split { get; }

    /// <summary>Images kept per class (0: all).</summary>
    public int PerClass { get; }

    private static string FindFile(string root, string name, string kind)
    {
        foreach (var candidate in new[] { name, name + ".gz" })
        {
            var path = Path.Combine(root, candidate);
            if (File.Exists(path)) return path;
        }
        throw new DatasetException($"{kind} directory '{root}' has neither '{name}' nor '{name}.gz'", Path.Combine(root, name));
    }
}

/// <summary>
/// Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): 28×28 grey-scale images of 10 kinds of clothing, 60,000 for
/// training and 10,000 for testing, in the MNIST layout. Debian's <c>dataset-fashion-mnist</c> package (which
/// <c>scripts/install-deps.sh</c> installs) puts the files in the default <c>root</c>.
/// </summary>
[DistillDataset(Task = "classification")]
[BatchField("image", TensorKind.FeatureMap, "N, 1, 28, 28")]
[BatchField("label", TensorKind.Labels, "N", Classes = "10")]
public sealed class FashionMnist : IdxImageDataset
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> installs the files.</summary>
    public const string DebianRoot = "/usr/share/datasets/fashion-mnist";

    /// <summary>The published mean and standard deviation of the training images' pixels (in [0, 1]).</summary>
    public static double[] TrainMean => [0.2860];
    public static double[] TrainStd => [0.3530];

    public static IReadOnlyList<string> Names { get; } =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <param name="root">The directory with the four IDX files (plain or <c>.gz</c>).</param>
    /// <param name="split">"train" (60,000 images) or "test" (10,000).</param>
    /// <param name="per_class">Keep the first this many images of each class, in file order (0: all).</param>
    public FashionMnist(string root = DebianRoot, string split = "train", [HyperParameter(Min = 0)] int per_class = 0)
        : base(root, split, per_class, "Fashion-MNIST", Names,
            root == DebianRoot ? " (install Debian's dataset-fashion-mnist package: bash scripts/install-deps.sh does)" : "")
    {
    }

    /// <summary>The training split's statistics, for every split.</summary>
    public override (double[] Mean, double[] Std) Normalization => (TrainMean, TrainStd);
}

/// <summary>MNIST (LeCun et al.): 28×28 grey-scale handwritten digits, 60,000 for training and 10,000 for testing.</summary>
[DistillDataset(Task = "classification")]
[BatchField("image", TensorKind.FeatureMap, "N, 1, 28, 28")]
[BatchField("label", TensorKind.Labels, "N", Classes = "10")]
public sealed class Mnist : IdxImageDataset
{
    /// <summary>The published mean and standard deviation of the training images' pixels (in [0, 1]).</summary>
    public static double[] TrainMean => [0.1307];
    public static double[] TrainStd => [0.3081];

    /// <param name="root">The directory with the four IDX files (plain or <c>.gz</c>).</param>
    /// <param name="split">"train" (60,000 images) or "test" (10,000).</param>
    /// <param name="per_class">Keep the first this many images of each class, in file order (0: all).</param>
    public Mnist(string root = "data/mnist", string split = "train", [HyperParameter(Min = 0)] int per_class = 0)
        : base(root, split, per_class, "MNIST", ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    {
    }

    public override (double[] Mean, double[] Std) Normalization => (TrainMean, TrainStd);
}
