using System.Buffers.Binary;
using System.IO.Compression;

namespace Distill.Data.Tests;

public class IdxTests
{
    /// <summary>An MNIST-layout directory: <paramref name="train"/> and <paramref name="test"/> images of 28×28 with their labels, gzipped or not.</summary>
    private static (byte[] TrainPixels, int[] TrainLabels) WriteMnistLayout(string dir, int[] trainLabels, int testCount, bool gzip)
    {
        Directory.CreateDirectory(dir);
        var suffix = gzip ? ".gz" : "";
        var pixels = new byte[trainLabels.Length * 28 * 28];
        new Random(7).NextBytes(pixels);
        IdxFormat.WriteBytes(Path.Combine(dir, "train-images-idx3-ubyte" + suffix), pixels, [trainLabels.Length, 28, 28], gzip);
        IdxFormat.WriteBytes(Path.Combine(dir, "train-labels-idx1-ubyte" + suffix), trainLabels.Select(l => (byte)l).ToArray(), [trainLabels.Length], gzip);
        var testPixels = new byte[testCount * 28 * 28];
        new Random(8).NextBytes(testPixels);
        IdxFormat.WriteBytes(Path.Combine(dir, "t10k-images-idx3-ubyte" + suffix), testPixels, [testCount, 28, 28], gzip);
        IdxFormat.WriteBytes(Path.Combine(dir, "t10k-labels-idx1-ubyte" + suffix), Enumerable.Range(0, testCount).Select(i => (byte)(i % 10)).ToArray(), [testCount], gzip);
        return (pixels, trainLabels);
    }

    private static byte[] AllPixels(ImageDataset data)
    {
        using var batch = data.Collate(Enumerable.Range(0, data.Count).ToArray());
        return batch.image.ToArray<byte>();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Fashion_mnist_reads_images_and_labels_plain_or_gzipped(bool gzip)
    {
        using var dir = new TempDir();
        int[] labels = [9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9];
        var (pixels, _) = WriteMnistLayout(dir.Path, labels, testCount: 4, gzip);

        using var train = new FashionMnist(dir.Path);
        Assert.Equal((12, 1, 28, 28, 10), (train.Count, train.Channels, train.Height, train.Width, train.Classes));
        Assert.Equal(pixels, AllPixels(train));
        Assert.Equal(labels, Enumerable.Range(0, train.Count).Select(train.Label));
        Assert.Equal("Ankle boot", train.ClassNames![9]);
        using (var batch = train.Collate([3, 0]))
        {
            Assert.Equal(new long[] { 2, 1, 28, 28 }, batch.image.shape);
            Assert.Equal(new long[] { 3, 9 }, batch.label.ToArray<long>());
            // Row-major pixels: sample 3, row 2, column 5 is byte 3·784 + 2·28 + 5 of the payload.
            Assert.Equal(pixels[3 * 784 + 2 * 28 + 5], batch.image.ToArray<byte>()[2 * 28 + 5]); // the batch's first image is sample 3
        }
        // Every split normalises with the published training statistics, not its own.
        using var test = new FashionMnist(dir.Path, split: "test");
        Assert.Equal(4, test.Count);
        Assert.Equal(FashionMnist.TrainMean, test.Normalization.Mean);
        Assert.Equal(FashionMnist.TrainStd, test.Normalization.Std);
    }

    [Fact]
    public void Per_class_keeps_the_first_images_of_each_class_in_file_order()
    {
        using var dir = new TempDir();
        int[] labels = [1, 0, 1, 2, 0, 1, 2, 0, 2, 1, 3, 4, 5, 6, 7, 8, 9, 3, 4, 5, 6, 7, 8, 9];
        var (pixels, _) = WriteMnistLayout(dir.Path, labels, testCount: 1, gzip: false);
        using var subset = new FashionMnist(dir.Path, per_class: 2);
        int[] kept = [0, 1, 2, 3, 4, 6, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23];
        Assert.Equal(kept.Select(i => labels[i]), Enumerable.Range(0, subset.Count).Select(subset.Label));
        Assert.Equal(kept.SelectMany(i => pixels.Skip(i * 784).Take(784)), AllPixels(subset));
        Assert.All(subset.LabelCounts(), c => Assert.Equal(2, c));

        var e = Assert.Throws<DatasetException>(() => new FashionMnist(dir.Path, per_class: 3));
        Assert.Contains("only 2 images of class 3", e.Message);
    }

    [Fact]
    public void A_truncated_file_names_the_file_and_the_first_incomplete_record()
    {
        using var dir = new TempDir();
        var path = dir["images"];
        IdxFormat.WriteBytes(path, new byte[5 * 4 * 4], [5, 4, 4]);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 20)]); // record 3 loses 4 of 16 bytes, record 4 all
        var e = Assert.Throws<DatasetException>(() => IdxFormat.Read(path));
        Assert.Equal(path, e.Path);
        Assert.Equal(3, e.Record);
        Assert.Contains("record 3 is truncated", e.Message);
        Assert.Contains("[5, 4, 4]", e.Message);
    }

    [Fact]
    public void Malformed_headers_are_named_with_what_was_expected()
    {
        using var dir = new TempDir();
        var path = dir["bad"];
        File.WriteAllBytes(path, [0x50, 0x4B, 0x03, 0x04, 0, 0]);
        Assert.Contains("does not start with an IDX magic number", Assert.Throws<DatasetException>(() => IdxFormat.Read(path)).Message);
        File.WriteAllBytes(path, [0, 0, 0x07, 1, 0, 0, 0, 0]);
        Assert.Contains("element type 0x07", Assert.Throws<DatasetException>(() => IdxFormat.Read(path)).Message);
        File.WriteAllBytes(path, [0, 0, 0x08, 3, 0, 0, 0, 1]);
        Assert.Contains("truncated in its header", Assert.Throws<DatasetException>(() => IdxFormat.Read(path)).Message);
        File.WriteAllBytes(path, []);
        Assert.Contains("is empty", Assert.Throws<DatasetException>(() => IdxFormat.Read(path)).Message);
        var extra = new byte[] { 0, 0, 0x08, 1, 0, 0, 0, 2, 7, 7, 7 };
        File.WriteAllBytes(path, extra);
        Assert.Contains("1 bytes after its last record", Assert.Throws<DatasetException>(() => IdxFormat.Read(path)).Message);
        // A gzip stream cut short is a read error naming the file, not an exception of the compressor.
        using (var file = File.Create(path))
        using (var zip = new GZipStream(file, CompressionLevel.Fastest))
            zip.Write(new byte[4000]);
        var zipped = File.ReadAllBytes(path);
        File.WriteAllBytes(path, zipped[..(zipped.Length / 2)]);
        var e = Assert.Throws<DatasetException>(() => IdxFormat.Read(path));
        Assert.Equal(path, e.Path);
    }

    [Fact]
    public void The_header_is_big_endian_and_other_element_types_are_read_by_size()
    {
        using var dir = new TempDir();
        var path = dir["ints"];
        // Two int32 records of 3 elements: the header says 0x0C, 1 dimension of 2... as [2, 3].
        var bytes = new byte[4 + 8 + 24];
        bytes[2] = 0x0C;
        bytes[3] = 2;
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(4), 2);
        BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(8), 3);
        for (var i = 0; i < 6; i++) BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(12 + 4 * i), 1000 * i - 1);
        File.WriteAllBytes(path, bytes);
        var array = IdxFormat.Read(path);
        Assert.Equal(IdxFormat.ElementType.Int32, array.Type);
        Assert.Equal(new long[] { 2, 3 }, array.Shape);
        Assert.Equal((2, 3), (array.Count, array.RecordElements));
        Assert.Equal(4999, BinaryPrimitives.ReadInt32BigEndian(array.Elements.Slice(20, 4)));
    }

    [Fact]
    public void Images_and_labels_of_different_lengths_or_out_of_range_labels_are_named()
    {
        using var dir = new TempDir();
        WriteMnistLayout(dir.Path, [1, 2, 3], testCount: 2, gzip: false);
        IdxFormat.WriteBytes(dir["train-labels-idx1-ubyte"], [1, 2], [2]);
        var e = Assert.Throws<DatasetException>(() => new FashionMnist(dir.Path));
        Assert.Contains("has 3 images but", e.Message);

        IdxFormat.WriteBytes(dir["train-labels-idx1-ubyte"], [1, 12, 3], [3]);
        e = Assert.Throws<DatasetException>(() => new FashionMnist(dir.Path));
        Assert.Equal(1, e.Record);
        Assert.Contains("record 1 has label 12, outside 0..9", e.Message);

        File.Delete(dir["t10k-images-idx3-ubyte"]);
        e = Assert.Throws<DatasetException>(() => new FashionMnist(dir.Path, split: "test"));
        Assert.Contains("has neither 't10k-images-idx3-ubyte' nor 't10k-images-idx3-ubyte.gz'", e.Message);
        Assert.Contains("does not exist", Assert.Throws<DatasetException>(() => new FashionMnist(dir["nowhere"])).Message);
        Assert.Throws<ArgumentException>(() => new FashionMnist(dir.Path, split: "val"));
    }

    [Fact]
    public void The_installed_fashion_mnist_has_its_published_size_when_present()
    {
        // The project's scripts install Debian's dataset-fashion-mnist; on a machine without it this checks the message instead.
        if (!Directory.Exists(FashionMnist.DebianRoot))
        {
            var e = Assert.Throws<DatasetException>(() => new FashionMnist());
            Assert.Contains("dataset-fashion-mnist", e.Message);
            return;
        }
        using var test = new FashionMnist(split: "test");
        Assert.Equal(10000, test.Count);
        Assert.All(test.LabelCounts(), c => Assert.Equal(1000, c));
    }
}
