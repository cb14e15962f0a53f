namespace Distill.Data.Tests;

public class FaceFolderTests
{
    private static byte[] Image(int channels, int size, int seed) =>
        Enumerable.Range(0, channels * size * size).Select(i => (byte)((i * 7 + seed * 31) % 256)).ToArray();

    /// <summary>LFW-style: root/Name/Name_000k.pgm, 4×4 grey images; returns the folder.</summary>
    private static string Lfw(TempDir dir, params (string Name, int Images)[] people)
    {
        var seed = 0;
        foreach (var (name, images) in people)
            for (var k = images; k >= 1; k--) // written out of order: file order decides
                Pnm.Write(dir.File($"lfw/{name}/{name}_{k:D4}.pgm"), Image(1, 4, seed++), 1, 4, 4);
        return dir["lfw"];
    }

    [Fact]
    public void Identities_are_the_sorted_directories_and_images_their_sorted_files()
    {
        using var dir = new TempDir();
        var root = Lfw(dir, ("Bob", 1), ("Ann", 3), ("Cid", 2));
        using var faces = new FaceFolder(root, identities: 3, channels: 1, size: 4);
        Assert.Equal(["Ann", "Bob", "Cid"], faces.ClassNames!);
        Assert.Equal(6, faces.Count);
        Assert.Equal(3, faces.Classes);
        Assert.Equal([0, 0, 0, 1, 2, 2], Enumerable.Range(0, 6).Select(faces.Label));
        Assert.Equal(["Ann_0001.pgm", "Ann_0002.pgm", "Ann_0003.pgm", "Bob_0001.pgm", "Cid_0001.pgm", "Cid_0002.pgm"], faces.Files.Select(Path.GetFileName));
        Assert.Equal((3, 1, 2), (faces.ImageCount(0), faces.ImageCount(1), faces.ImageCount(2)));
        Assert.Equal(5, faces.Sample(2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => faces.Sample(1, 2));
        Assert.Empty(faces.Pairs);
        Assert.Equal(0, faces.Folds);
        Assert.Null(faces.PairsPath);
        // Sample 2 is Ann_0003, written (first of Ann's) with seed 1.
        using var batch = faces.Collate([2]);
        Assert.Equal(Image(1, 4, 1), batch.image.ToArray<byte>());
        Assert.Equal($"image folder '{root}' has 3 identity directories (Ann, Bob, Cid), but identities = 5",
            Assert.Throws<DatasetException>(() => new FaceFolder(root, identities: 5, channels: 1, size: 4)).Message);
    }

    [Fact]
    public void A_pairs_file_is_resolved_to_sample_indices()
    {
        using var dir = new TempDir();
        var root = Lfw(dir, ("Ann", 3), ("Bob", 2), ("Cid", 1), ("Dee", 2));
        File.WriteAllText(dir.File("lfw/pairs.txt"), "2 1\nAnn 1 3\nAnn 2 Bob 1\nDee 2 1\nCid 1 Bob 2\n");
        using var faces = new FaceFolder(root, pairs: Path.Combine(root, "pairs.txt"), identities: 4, size: 4);
        // Samples: Ann 0-2, Bob 3-4, Cid 5, Dee 6-7.
        Assert.Equal([new(0, 2, true), new(1, 3, false), new(7, 6, true), new(5, 4, false)], faces.Pairs);
        Assert.Equal(2, faces.Folds);
        VerificationPairs.Validate(faces.Pairs, faces.Folds, Enumerable.Range(0, faces.Count).Select(faces.Label).ToArray());
        // Grey images are replicated to three channels.
        using var batch = faces.Collate([0]);
        Assert.Equal(new long[] { 1, 3, 4, 4 }, batch.image.shape);

        // A relative path not found as given is looked up in the folder.
        using var relative = new FaceFolder(root, pairs: "pairs.txt", identities: 4, size: 4);
        Assert.Equal(faces.Pairs, relative.Pairs);
        Assert.Equal(Path.Combine(root, "pairs.txt"), relative.PairsPath);
    }

    [Fact]
    public void Pairs_naming_what_the_folder_lacks_are_errors_naming_the_file_and_line()
    {
        using var dir = new TempDir();
        var root = Lfw(dir, ("Ann", 3), ("Bob", 2));
        var unknown = dir.File("unknown.txt");
        File.WriteAllText(unknown, "1 1\nAnn 1 2\nAnn 1 Zed 1\n");
        var e1 = Assert.Throws<DatasetException>(() => new FaceFolder(root, pairs: unknown, identities: 2, size: 4));
        Assert.Equal($"pairs file '{unknown}', line 3: identity 'Zed' has no directory in '{root}'", e1.Message);
        Assert.Equal((unknown, 3L), (e1.Path, e1.Record));

        var beyond = dir.File("beyond.txt");
        File.WriteAllText(beyond, "1 1\nBob 1 3\nAnn 1 Bob 1\n");
        var e2 = Assert.Throws<DatasetException>(() => new FaceFolder(root, pairs: beyond, identities: 2, size: 4));
        Assert.Equal($"pairs file '{beyond}', line 2: identity 'Bob' has 2 images in '{root}', but the pair names image 3", e2.Message);
        Assert.Equal(2, e2.Record);

        var broken = dir.File("broken.txt");
        File.WriteAllText(broken, "1 1\nBob 1 2\n");
        var e3 = Assert.Throws<DatasetException>(() => new FaceFolder(root, pairs: broken, identities: 2, size: 4));
        Assert.StartsWith($"pairs file '{broken}', line 3: the file ends early", e3.Message);

        var missing = dir["missing.txt"];
        Assert.Equal($"pairs file '{missing}' does not exist",
            Assert.Throws<DatasetException>(() => new FaceFolder(root, pairs: missing, identities: 2, size: 4)).Message);
    }

    [Fact]
    public void Without_a_file_pairs_are_drawn_and_round_trip_through_the_lfw_format()
    {
        using var dir = new TempDir();
        var root = Lfw(dir, Enumerable.Range(0, 8).Select(j => ($"P{j}", 2 + j % 3)).ToArray());
        using var drawn = new FaceFolder(root, identities: 8, size: 4, pair_count: 16, folds: 2, seed: 1);
        Assert.Equal((16, 2), (drawn.Pairs.Count, drawn.Folds));
        Assert.Null(drawn.PairsPath);
        var labels = Enumerable.Range(0, drawn.Count).Select(drawn.Label).ToArray();
        VerificationPairs.Validate(drawn.Pairs, 2, labels);
        Assert.Equal(VerificationPairs.Build(labels, 16, 2, seed: 1), drawn.Pairs);

        var path = dir.File("drawn.txt");
        VerificationPairs.WriteLfw(path, drawn.Pairs, drawn.Folds, i => drawn.ClassNames![drawn.Label(i)], i => i - drawn.Sample(drawn.Label(i), 1) + 1);
        Assert.StartsWith("2\t4\n", File.ReadAllText(path));
        using var read = new FaceFolder(root, pairs: path, identities: 8, size: 4);
        Assert.Equal(drawn.Pairs, read.Pairs);
        Assert.Equal(2, read.Folds);

        Assert.Equal("pair_count", Assert.Throws<ArgumentException>(() => new FaceFolder(root, pairs: path, identities: 8, size: 4, pair_count: 16)).ParamName);
    }
}
