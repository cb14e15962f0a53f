namespace Distill.Data.Tests;

public class CifarTests
{
    private const int Image = CifarFormat.ImageBytes;

    private static byte[] RandomPixels(int records, int seed)
    {
        var bytes = new byte[records * Image];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] AllPixels(ImageDataset data)
    {
        using var batch = data.Collate(Enumerable.Range(0, data.Count).ToArray());
        return batch.image.ToArray<byte>();
    }

    /// <summary>A CIFAR-10 archive of five 2-record training files and a 3-record test file.</summary>
    private static (byte[] Train, int[] TrainLabels, byte[] Test, int[] TestLabels) WriteCifar10(string dir)
    {
        Directory.CreateDirectory(dir);
        var train = RandomPixels(10, 1);
        int[] trainLabels = [3, 9, 0, 1, 2, 8, 7, 6, 5, 4];
        for (var f = 0; f < 5; f++)
            CifarFormat.Write(Path.Combine(dir, $"data_batch_{f + 1}.bin"), train.AsSpan(f * 2 * Image, 2 * Image), trainLabels.AsSpan(f * 2, 2));
        var test = RandomPixels(3, 2);
        int[] testLabels = [5, 0, 9];
        CifarFormat.Write(Path.Combine(dir, "test_batch.bin"), test, testLabels);
        File.WriteAllLines(Path.Combine(dir, "batches.meta.txt"),
            ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck", ""]);
        return (train, trainLabels, test, testLabels);
    }

    [Fact]
    public void Cifar10_reads_the_five_training_files_and_the_test_file()
    {
        using var dir = new TempDir();
        var (train, trainLabels, test, testLabels) = WriteCifar10(dir["cifar-10-batches-bin"]);

        using var data = new Cifar10(dir.Path); // the parent of the archive directory
        Assert.Equal(10, data.Count);
        Assert.Equal((3, 32, 32, 10), (data.Channels, data.Height, data.Width, data.Classes));
        Assert.Equal(train, AllPixels(data));
        Assert.Equal(trainLabels, Enumerable.Range(0, 10).Select(data.Label));
        Assert.Equal("cat", data.ClassNames![3]);
        Assert.Equal(dir["cifar-10-batches-bin"], data.Directory);
        Assert.Equal(ImageTransform.Cifar10Mean, data.Normalization.Mean); // the published statistics
        Assert.Equal(ImageTransform.Cifar10Std, data.Normalization.Std);

        using var testSet = new Cifar10(dir["cifar-10-batches-bin"], split: "test");
        Assert.Equal(test, AllPixels(testSet));
        using var batch = testSet.Collate([2, 0]);
        Assert.Equal(new long[] { 9, 5 }, batch.label.ToArray<long>());
        Assert.Equal(new long[] { 2, 3, 32, 32 }, batch.image.shape);
        // Record layout: red plane first; pixel (row 0, column 1) of the green plane is byte 1 + 1024 + 1.
        var bytes = File.ReadAllBytes(dir["cifar-10-batches-bin/test_batch.bin"]);
        using var sample = testSet.Get(0);
        Assert.Equal(bytes[1 + 1024 + 1], sample.image.ToArray<byte>()[1024 + 1]);
        Assert.Equal(testLabels[0], sample.label);
    }

    [Fact]
    public void Cifar100_reads_fine_labels_and_keeps_the_coarse_ones()
    {
        using var dir = new TempDir();
        var pixels = RandomPixels(3, 3);
        CifarFormat.Write(dir.File("train.bin"), pixels, [99, 0, 42], [19, 4, 7]);
        File.WriteAllLines(dir["coarse_label_names.txt"], Enumerable.Range(0, 20).Select(i => $"super{i}"));
        using var data = new Cifar100(dir.Path);
        Assert.Equal(3, data.Count);
        Assert.Equal(100, data.Classes);
        Assert.Equal(pixels, AllPixels(data));
        Assert.Equal([99, 0, 42], Enumerable.Range(0, 3).Select(data.Label));
        Assert.Equal([19, 4, 7], Enumerable.Range(0, 3).Select(data.CoarseLabel));
        Assert.Null(data.ClassNames);
        Assert.Equal("super7", data.CoarseNames![7]);
        Assert.Equal(ImageTransform.Cifar100Mean, data.Normalization.Mean);
    }

    [Fact]
    public void A_truncated_record_is_named_with_its_file_and_index()
    {
        using var dir = new TempDir();
        var path = dir.File("data_batch_1.bin");
        CifarFormat.Write(path, RandomPixels(2, 4), [1, 2]);
        using (var f = new FileStream(path, FileMode.Append)) f.Write(new byte[100]);
        var error = Assert.Throws<DatasetException>(() => CifarFormat.Read(path, cifar100: false));
        Assert.Equal($"cifar file '{path}': record 2 is truncated (expected 3073 bytes, got 100)", error.Message);
        Assert.Equal(path, error.Path);
        Assert.Equal(2, error.Record);
    }

    [Fact]
    public void A_cifar100_file_read_as_cifar10_gets_a_hint()
    {
        using var dir = new TempDir();
        var path = dir.File("test_batch.bin");
        CifarFormat.Write(path, RandomPixels(3, 5), [1, 2, 3], [0, 0, 0]);
        var error = Assert.Throws<DatasetException>(() => CifarFormat.Read(path, cifar100: false));
        Assert.Equal($"cifar file '{path}': record 3 is truncated (expected 3073 bytes, got 3) (the size fits CIFAR-100 records of 3074 bytes: is this the other format?)", error.Message);
    }

    [Fact]
    public void Labels_out_of_range_name_the_record()
    {
        using var dir = new TempDir();
        var ten = dir.File("ten.bin");
        CifarFormat.Write(ten, RandomPixels(3, 6), [0, 1, 10]);
        var e10 = Assert.Throws<DatasetException>(() => CifarFormat.Read(ten, cifar100: false));
        Assert.Equal($"cifar file '{ten}': record 2 has label 10, outside CIFAR-10's 0..9", e10.Message);
        Assert.Equal(2, e10.Record);

        var hundred = dir.File("hundred.bin");
        CifarFormat.Write(hundred, RandomPixels(2, 7), [5, 100], [1, 1]);
        Assert.Equal($"cifar file '{hundred}': record 1 has fine label 100, outside CIFAR-100's 0..99",
            Assert.Throws<DatasetException>(() => CifarFormat.Read(hundred, cifar100: true)).Message);
        CifarFormat.Write(hundred, RandomPixels(2, 7), [5, 6], [1, 20]);
        Assert.Equal($"cifar file '{hundred}': record 1 has coarse label 20, outside CIFAR-100's 0..19",
            Assert.Throws<DatasetException>(() => CifarFormat.Read(hundred, cifar100: true)).Message);
    }

    [Fact]
    public void Missing_and_empty_files_are_named()
    {
        using var dir = new TempDir();
        var missing = dir["nope.bin"];
        Assert.Equal($"cifar file '{missing}' does not exist", Assert.Throws<DatasetException>(() => CifarFormat.Read(missing, false)).Message);
        var empty = dir.File("empty.bin");
        File.WriteAllBytes(empty, []);
        Assert.Equal($"cifar file '{empty}' is empty (expected CIFAR-10 records of 3073 bytes)", Assert.Throws<DatasetException>(() => CifarFormat.Read(empty, false)).Message);

        // A training set with a file missing.
        WriteCifar10(dir["c10"]);
        File.Delete(dir["c10/data_batch_3.bin"]);
        var error = Assert.Throws<DatasetException>(() => new Cifar10(dir["c10"]));
        Assert.Contains("lacks 'data_batch_3.bin'", error.Message);
        Assert.Equal(dir["c10/data_batch_3.bin"], error.Path);

        var noArchive = Assert.Throws<DatasetException>(() => new Cifar100(dir.Path));
        Assert.Contains("has no 'train.bin'", noArchive.Message);
        Assert.Contains("does not exist", Assert.Throws<DatasetException>(() => new Cifar10(dir["absent"])).Message);
        Assert.Throws<ArgumentException>(() => new Cifar10(dir["c10"], split: "validation"));
    }

    [Fact]
    public void A_corrupt_file_inside_a_split_fails_the_whole_data_set_naming_it()
    {
        using var dir = new TempDir();
        WriteCifar10(dir.Path);
        var bad = dir["data_batch_4.bin"];
        File.WriteAllBytes(bad, new byte[3073 + 5]);
        var error = Assert.Throws<DatasetException>(() => new Cifar10(dir.Path));
        Assert.Equal($"cifar file '{bad}': record 1 is truncated (expected 3073 bytes, got 5)", error.Message);
    }
}
