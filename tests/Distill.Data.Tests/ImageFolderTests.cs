namespace Distill.Data.Tests;

public class ImageFolderTests
{
    private static byte[] Image(int channels, int size, int seed) =>
        Enumerable.Range(0, channels * size * size).Select(i => (byte)((i * 7 + seed * 31) % 256)).ToArray();

    private static byte[] AllPixels(ImageDataset data)
    {
        using var batch = data.Collate(Enumerable.Range(0, data.Count).ToArray());
        return batch.image.ToArray<byte>();
    }

    [Fact]
    public void Classes_are_the_sorted_directories_and_images_their_sorted_files()
    {
        using var dir = new TempDir();
        // Written out of order; "ant" < "cat" < "dog" ordinally.
        Pnm.Write(dir.File("train/dog/b.ppm"), Image(3, 4, 1), 3, 4, 4);
        Pnm.Write(dir.File("train/dog/a.ppm"), Image(3, 4, 2), 3, 4, 4);
        Pnm.Write(dir.File("train/ant/z.ppm"), Image(3, 4, 3), 3, 4, 4);
        Pnm.Write(dir.File("train/cat/g.pgm"), Image(1, 4, 4), 1, 4, 4); // grey: replicated to RGB
        System.IO.File.WriteAllText(dir.File("train/cat/notes.txt"), "not an image");
        System.IO.File.WriteAllText(dir.File("train/README"), "ignored");

        using var data = new ImageFolder(dir.Path, classes: 3, channels: 3, size: 4, split: "train");
        Assert.Equal(["ant", "cat", "dog"], data.ClassNames!);
        Assert.Equal(4, data.Count);
        Assert.Equal([0, 1, 2, 2], Enumerable.Range(0, 4).Select(data.Label));
        Assert.Equal(["z.ppm", "g.pgm", "a.ppm", "b.ppm"], data.Files.Select(Path.GetFileName));
        var grey = Image(1, 4, 4);
        var expected = Image(3, 4, 3).Concat(grey).Concat(grey).Concat(grey).Concat(Image(3, 4, 2)).Concat(Image(3, 4, 1)).ToArray();
        Assert.Equal(expected, AllPixels(data));
    }

    [Fact]
    public void A_grey_folder_has_one_channel()
    {
        using var dir = new TempDir();
        Pnm.Write(dir.File("0/a.pgm"), Image(1, 5, 1), 1, 5, 5);
        Pnm.Write(dir.File("1/a.pgm"), Image(1, 5, 2), 1, 5, 5);
        using var data = new ImageFolder(dir.Path, classes: 2, channels: 1, size: 5);
        using var batch = data.Collate([1]);
        Assert.Equal(new long[] { 1, 1, 5, 5 }, batch.image.shape);
        Assert.Equal(Image(1, 5, 2), batch.image.ToArray<byte>());
    }

    [Fact]
    public void A_wrong_class_count_lists_the_directories()
    {
        using var dir = new TempDir();
        Pnm.Write(dir.File("a/1.ppm"), Image(3, 4, 1), 3, 4, 4);
        Pnm.Write(dir.File("b/1.ppm"), Image(3, 4, 1), 3, 4, 4);
        var error = Assert.Throws<DatasetException>(() => new ImageFolder(dir.Path, classes: 10, size: 4));
        Assert.Equal($"image folder '{dir.Path}' has 2 class directories (a, b), but classes = 10", error.Message);
    }

    [Fact]
    public void Bad_images_are_named()
    {
        using var dir = new TempDir();
        Pnm.Write(dir.File("a/1.ppm"), Image(3, 4, 1), 3, 4, 4);
        var wrongSize = dir.File("b/2.ppm");
        Pnm.Write(wrongSize, Image(3, 5, 1), 3, 5, 5);
        var e1 = Assert.Throws<DatasetException>(() => new ImageFolder(dir.Path, classes: 2, size: 4));
        Assert.Equal($"image '{wrongSize}' is 5×5, but the data set has size = 4 (4×4)", e1.Message);
        Assert.Equal(wrongSize, e1.Path);

        Pnm.Write(wrongSize, Image(3, 4, 1), 3, 4, 4);
        var e2 = Assert.Throws<DatasetException>(() => new ImageFolder(dir.Path, classes: 2, channels: 1, size: 4));
        Assert.Contains("is a colour PPM, but the data set has channels = 1", e2.Message);

        var broken = dir.File("b/3.ppm");
        System.IO.File.WriteAllBytes(broken, "P6\n4 4\n255\n"u8.ToArray().Concat(new byte[10]).ToArray());
        var e3 = Assert.Throws<DatasetException>(() => new ImageFolder(dir.Path, classes: 2, size: 4));
        Assert.Equal($"PPM file '{broken}': pixel data is truncated (expected 48 bytes for 4×4×3 samples of maxval 255, got 10)", e3.Message);
        Assert.Equal(broken, e3.Path);
    }

    [Fact]
    public void Empty_class_directories_and_missing_folders_are_errors()
    {
        using var dir = new TempDir();
        Pnm.Write(dir.File("a/1.ppm"), Image(3, 4, 1), 3, 4, 4);
        Directory.CreateDirectory(dir["b"]);
        Assert.Equal($"class directory '{dir["b"]}' has no .ppm/.pgm images",
            Assert.Throws<DatasetException>(() => new ImageFolder(dir.Path, classes: 2, size: 4)).Message);
        Assert.Equal($"image folder '{dir["test"]}' does not exist",
            Assert.Throws<DatasetException>(() => new ImageFolder(dir.Path, classes: 2, size: 4, split: "test")).Message);
    }
}
