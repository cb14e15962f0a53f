namespace Distill.Data.Tests;

public class VerificationPairsTests
{
    /// <summary>Identity j has sizes[j] samples, identity-major.</summary>
    private static int[] Labels(params int[] sizes) => sizes.SelectMany((n, j) => Enumerable.Repeat(j, n)).ToArray();

    [Fact]
    public void Build_gives_balanced_identity_disjoint_folds_of_distinct_pairs()
    {
        // Uneven identities, some with a single sample (usable only in different pairs).
        var sizes = Enumerable.Range(0, 60).Select(j => j % 7 == 0 ? 1 : 2 + j % 5).ToArray();
        var labels = Labels(sizes);
        var pairs = VerificationPairs.Build(labels, count: 200, folds: 10, seed: 3);
        Assert.Equal(200, pairs.Length);
        VerificationPairs.Validate(pairs, 10, labels);
        Assert.Equal(200, pairs.Distinct().Count());
        Assert.All(pairs, p => Assert.True(p.First < p.Second && p.Second < labels.Length));
        var foldOf = new Dictionary<int, int>();
        for (var f = 0; f < 10; f++)
        {
            var fold = pairs.AsSpan(20 * f, 20).ToArray();
            Assert.All(fold[..10], p => Assert.True(p.Same));
            Assert.All(fold[10..], p => Assert.False(p.Same));
            foreach (var p in fold)
                foreach (var identity in new[] { labels[p.First], labels[p.Second] })
                    Assert.Equal(f, foldOf.TryGetValue(identity, out var seen) ? seen : foldOf[identity] = f);
        }

        Assert.Equal(pairs, VerificationPairs.Build(labels, 200, 10, seed: 3));
        Assert.NotEqual(pairs, VerificationPairs.Build(labels, 200, 10, seed: 4));
    }

    [Fact]
    public void Build_takes_every_pair_when_asked_for_all_of_them()
    {
        // Two people of three images: 6 same pairs (3 each) and 9 different pairs exist; one fold asks for 6 + 6.
        var labels = Labels(3, 3);
        var pairs = VerificationPairs.Build(labels, count: 12, folds: 1, seed: 0);
        VerificationPairs.Validate(pairs, 1, labels);
        Assert.Equal(12, pairs.Distinct().Count());
        Assert.Equal(6, pairs.Count(p => p.Same));
    }

    [Fact]
    public void Build_says_what_is_missing()
    {
        var count = Assert.Throws<ArgumentOutOfRangeException>(() => VerificationPairs.Build(Labels(2, 2, 2), 30, folds: 10));
        Assert.Equal("count", count.ParamName);
        Assert.Contains("multiple of 2 × folds = 20", count.Message);
        var people = Assert.Throws<ArgumentException>(() => VerificationPairs.Build(Labels(2, 2, 2), 4, folds: 2));
        Assert.StartsWith("2 identity-disjoint folds need at least 4 identities, 2 of them with two or more samples; the labels have 3 identities, 3 with two or more samples (use fewer folds)", people.Message);
        var pairs = Assert.Throws<ArgumentException>(() => VerificationPairs.Build(Labels(2, 2), 6, folds: 1));
        Assert.StartsWith("fold 1 has 2 identities with 2 distinct same-identity pairs, fewer than the 3 it needs", pairs.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => VerificationPairs.Build(Labels(2, 2), 2, folds: 0));
    }

    [Fact]
    public void Validate_names_the_first_bad_pair()
    {
        var labels = Labels(2, 2);
        VerificationPair[] good = [new(0, 1, true), new(0, 2, false)];
        VerificationPairs.Validate(good, 1, labels);
        VerificationPairs.Validate([], 0, labels);
        Assert.Contains("pair 1 (0, 3) is marked same, but the labels are 0 and 1",
            Assert.Throws<ArgumentException>(() => VerificationPairs.Validate([new(0, 1, true), new(0, 3, true)], 1, labels)).Message);
        Assert.Contains("fold 1 has 2 same and 0 different pairs",
            Assert.Throws<ArgumentException>(() => VerificationPairs.Validate([new(0, 1, true), new(2, 3, true)], 1, labels)).Message);
        Assert.Contains("indexes outside the 4 samples",
            Assert.Throws<ArgumentException>(() => VerificationPairs.Validate([new(0, 1, true), new(0, 4, false)], 1, labels)).Message);
        Assert.Throws<ArgumentException>(() => VerificationPairs.Validate(good, 2, labels));
    }

    private static string Write(TempDir dir, string text, string name = "pairs.txt")
    {
        var path = dir.File(name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void An_lfw_pairs_file_is_read_fold_by_fold()
    {
        using var dir = new TempDir();
        var path = Write(dir, "2\t2\nAnn\t1\t2\nBob 1 3\nAnn\t1\tBob\t2\nCid\t1\tAnn\t2\nCid\t1\t2\nDee\t2\t1\nDee\t1\tCid\t2\nBob\t3\tDee\t1\n\n\n");
        var file = VerificationPairs.ReadLfw(path);
        Assert.Equal((path, 2, 2, 8), (file.Path, file.Folds, file.PerFold, file.Pairs.Count));
        Assert.Equal(new VerificationPairs.LfwPair("Ann", 1, "Ann", 2, 2), file.Pairs[0]);
        Assert.Equal(new VerificationPairs.LfwPair("Bob", 1, "Bob", 3, 3), file.Pairs[1]);
        Assert.Equal(new VerificationPairs.LfwPair("Ann", 1, "Bob", 2, 4), file.Pairs[2]);
        Assert.Equal(new VerificationPairs.LfwPair("Dee", 2, "Dee", 1, 7), file.Pairs[5]);
        Assert.Equal([true, true, false, false, true, true, false, false], file.Pairs.Select(p => p.Same));

        // pairsDevTrain.txt's header is a single count: one fold.
        var single = VerificationPairs.ReadLfw(Write(dir, "1\nAnn 1 2\nAnn 1 Bob 1\n", "dev.txt"));
        Assert.Equal((1, 1, 2), (single.Folds, single.PerFold, single.Pairs.Count));
    }

    [Theory]
    [InlineData("", 1, "is empty (expected a first line '<folds> <pairs per fold>', e.g. '10 300')")]
    [InlineData("10 x\n", 1, "line 1: expected '<folds> <pairs per fold>' (two positive integers, e.g. '10 300'), got '10 x'")]
    [InlineData("1 0\n", 1, "line 1: expected '<folds> <pairs per fold>' (two positive integers, e.g. '10 300'), got '1 0'")]
    [InlineData("1 2\nAnn 1 2\nBob 1 2\nAnn 1 Bob 1\n", 5,
        "line 5: the file ends early: expected a different-identity pair 'name1 i name2 j' (fold 1 of 1, different-identity pair 2 of 2); the header promises 1 folds of 2 + 2 pairs (4 lines after the header), the file has 3")]
    [InlineData("1 1\nAnn 1 Bob 2\nAnn 1 Bob 1\n", 2,
        "line 2: expected a same-identity pair 'name i j' (fold 1 of 1, same-identity pair 1 of 1), got 4 fields 'Ann 1 Bob 2' (a different-identity line where the fold's same-identity pairs are expected)")]
    [InlineData("1 1\nAnn 1 2\nAnn 1 Bob\n", 3,
        "line 3: expected a different-identity pair 'name1 i name2 j' (fold 1 of 1, different-identity pair 1 of 1), got 3 fields 'Ann 1 Bob' (a same-identity line where the fold's different-identity pairs are expected)")]
    [InlineData("1 1\nAnn 1 two\nAnn 1 Bob 1\n", 2, "line 2: image number 'two' is not a positive integer (image numbers are 1-based)")]
    [InlineData("1 1\nAnn 0 2\nAnn 1 Bob 1\n", 2, "line 2: image number '0' is not a positive integer (image numbers are 1-based)")]
    [InlineData("1 1\nAnn 2 2\nAnn 1 Bob 1\n", 2, "line 2: the same-identity pair names image 2 of 'Ann' twice")]
    [InlineData("1 1\nAnn 1 2\nAnn 1 Ann 3\n", 3, "line 3: the different-identity pair names 'Ann' twice")]
    [InlineData("1 1\nAnn 1 2\nAnn 1 Bob 1\nCid 1 2\n", 4, "line 4: unexpected content after the 1 folds of 1 + 1 pairs the header promises: 'Cid 1 2'")]
    public void A_malformed_pairs_file_names_the_file_and_the_line(string text, int line, string message)
    {
        using var dir = new TempDir();
        var path = Write(dir, text);
        var error = Assert.Throws<DatasetException>(() => VerificationPairs.ReadLfw(path));
        var where = text.Length == 0 ? $"pairs file '{path}' " : $"pairs file '{path}', ";
        Assert.Equal(where + message, error.Message);
        Assert.Equal(path, error.Path);
        Assert.Equal(line, error.Record);
    }

    [Fact]
    public void A_missing_pairs_file_is_named()
    {
        using var dir = new TempDir();
        var error = Assert.Throws<DatasetException>(() => VerificationPairs.ReadLfw(dir["none.txt"]));
        Assert.Equal($"pairs file '{dir["none.txt"]}' does not exist", error.Message);
    }
}
