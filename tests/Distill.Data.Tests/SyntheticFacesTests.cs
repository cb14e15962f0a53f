namespace Distill.Data.Tests;

public class SyntheticFacesTests
{
    private static byte[] Pixels(ImageDataset data, params int[] indices)
    {
        using var batch = data.Collate(indices);
        return batch.image.ToArray<byte>();
    }

    /// <summary>The images as float vectors, one per sample.</summary>
    private static float[][] Vectors(ImageDataset data, int[] indices)
    {
        var pixels = Pixels(data, indices);
        var per = pixels.Length / indices.Length;
        return Enumerable.Range(0, indices.Length).Select(i => pixels.Skip(i * per).Take(per).Select(p => p / 255f).ToArray()).ToArray();
    }

    private static double Distance(float[] a, float[] b) => Math.Sqrt(a.Zip(b).Sum(p => (double)(p.First - p.Second) * (p.First - p.Second)));

    [Fact]
    public void The_same_arguments_give_the_same_images_labels_and_pairs()
    {
        var a = new SyntheticFaces(identities: 30, samples_per_identity: 4, seed: 3, split: "val", pairs: 40);
        var b = new SyntheticFaces(identities: 30, samples_per_identity: 4, seed: 3, split: "val", pairs: 40);
        int[] indices = [0, 7, 63, 119, 7];
        Assert.Equal(Pixels(a, indices), Pixels(b, indices));
        Assert.Equal(a.Pairs, b.Pairs);
        using var batch = a.Collate(indices);
        Assert.Equal(new long[] { 0, 1, 15, 29, 1 }, batch.label.ToArray<long>());
        Assert.Equal(ScalarType.Int64, batch.label.dtype);
        Assert.Equal(ScalarType.Byte, batch.image.dtype);
        Assert.Equal(new long[] { 5, 3, 32, 32 }, batch.image.shape);
    }

    [Fact]
    public void A_sample_depends_only_on_its_index_not_on_its_batch_or_thread()
    {
        var data = new SyntheticFaces(identities: 10, samples_per_identity: 5, size: 24, seed: 1);
        var together = Pixels(data, 5, 3, 49);
        var alone = Pixels(data, 5).Concat(Pixels(data, 3)).Concat(Pixels(data, 49)).ToArray();
        Assert.Equal(alone, together);
        var rendered = new byte[3 * 24 * 24];
        data.Render(3, rendered);
        Assert.Equal(Pixels(data, 3), rendered);
        using var sample = data.Get(49);
        Assert.Equal(new long[] { 3, 24, 24 }, sample.image.shape);
        Assert.Equal(Pixels(data, 49), sample.image.ToArray<byte>());
        Assert.Equal(9, sample.label);

        var indices = Enumerable.Range(0, 40).Reverse().ToArray();
        var before = SyntheticFaces.Parallelism;
        try
        {
            SyntheticFaces.Parallelism = 1;
            var serial = Pixels(data, indices);
            SyntheticFaces.Parallelism = 4;
            Assert.Equal(serial, Pixels(data, indices));
        }
        finally { SyntheticFaces.Parallelism = before; }
    }

    [Fact]
    public void Labels_are_identity_major_and_balanced()
    {
        var data = new SyntheticFaces(identities: 12, samples_per_identity: 3, size: 16);
        Assert.Equal(36, data.Count);
        Assert.Equal(12, data.Classes);
        Assert.Equal(3, data.SamplesPerIdentity);
        Assert.Equal(Enumerable.Range(0, 36).Select(i => i / 3), Enumerable.Range(0, 36).Select(data.Label));
        Assert.All(data.LabelCounts(), c => Assert.Equal(3, c));
        Assert.Equal((3, 16, 16), (data.Channels, data.Height, data.Width));
        Assert.Equal(10, data.FamilySize);
        Assert.Equal(1, data.Family(11));
        Assert.Equal(5, new SyntheticFaces(identities: 12, samples_per_identity: 1, size: 16, family_size: 2).Family(11));
    }

    [Fact]
    public void Without_nuisance_every_sample_of_an_identity_is_the_same_image()
    {
        var data = new SyntheticFaces(identities: 6, samples_per_identity: 3, difficulty: 0, size: 20);
        var v = Vectors(data, Enumerable.Range(0, 18).ToArray());
        for (var j = 0; j < 6; j++)
        {
            Assert.Equal(v[3 * j], v[3 * j + 1]);
            Assert.Equal(v[3 * j], v[3 * j + 2]);
        }
        Assert.NotEqual(v[0], v[3]);
        // With nuisance, no two samples are the same.
        var noisy = Vectors(new SyntheticFaces(identities: 6, samples_per_identity: 3, size: 20), [0, 1, 2]);
        Assert.NotEqual(noisy[0], noisy[1]);
        Assert.NotEqual(noisy[1], noisy[2]);
    }

    [Fact]
    public void Heldout_shares_the_training_people_and_other_splits_have_their_own()
    {
        // Without nuisance a sample shows its identity's canonical face, so the splits can be compared directly.
        const int People = 40;
        SyntheticFaces Split(string split, int seed = 5) =>
            new(identities: People, samples_per_identity: 2, size: 20, seed: seed, split: split, difficulty: 0, pairs: 0);
        var canonical = Enumerable.Range(0, People).Select(j => 2 * j).ToArray();
        var train = Vectors(Split("train"), canonical);
        Assert.Equal(train, Vectors(Split("heldout"), canonical));
        foreach (var other in new[] { Vectors(Split("val"), canonical), Vectors(Split("test"), canonical), Vectors(Split("train", seed: 6), canonical) })
        {
            // No person of the other set is any training person: the nearest training face is as far away
            // as training faces are from each other.
            var nearestAcross = other.Select(o => train.Min(t => Distance(o, t))).Min();
            var nearestWithin = train.Select((t, i) => train.Where((_, k) => k != i).Min(u => Distance(t, u))).Min();
            Assert.True(nearestAcross > 0.5 * nearestWithin, $"nearest across {nearestAcross:F2}, within train {nearestWithin:F2}");
        }
        // And the heldout samples are other images of those people.
        Assert.NotEqual(Pixels(new SyntheticFaces(identities: 4, samples_per_identity: 2, size: 20), 0, 1, 2),
            Pixels(new SyntheticFaces(identities: 4, samples_per_identity: 2, size: 20, split: "heldout", pairs: 0), 0, 1, 2));
    }

    [Fact]
    public void Samples_of_one_identity_are_closer_than_siblings_and_siblings_closer_than_strangers()
    {
        // Two families of five people, eight images each, at the default difficulty: the mean distance between
        // images of one person < between siblings < between families — the structure a teacher's soft
        // labels pass on.
        const int PerIdentity = 8;
        var data = new SyntheticFaces(identities: 10, samples_per_identity: PerIdentity, family_size: 5, seed: 2);
        var v = Vectors(data, Enumerable.Range(0, data.Count).ToArray());
        // Compare the centre (the face), where the per-sample background matters least.
        var centre = v.Select(x => Centre(x, 32, 8)).ToArray();
        double same = 0, sibling = 0, stranger = 0;
        int nSame = 0, nSibling = 0, nStranger = 0;
        for (var a = 0; a < centre.Length; a++)
            for (var b = a + 1; b < centre.Length; b++)
            {
                var d = Distance(centre[a], centre[b]);
                int ia = a / PerIdentity, ib = b / PerIdentity;
                if (ia == ib) { same += d; nSame++; }
                else if (data.Family(ia) == data.Family(ib)) { sibling += d; nSibling++; }
                else { stranger += d; nStranger++; }
            }
        (same, sibling, stranger) = (same / nSame, sibling / nSibling, stranger / nStranger);
        Assert.True(same < sibling && sibling < stranger, $"mean distances: same {same:F3}, sibling {sibling:F3}, stranger {stranger:F3}");

        // The identity means: siblings' faces are nearer each other than other families' faces.
        var means = Enumerable.Range(0, 10).Select(j => Mean(centre.Skip(j * PerIdentity).Take(PerIdentity))).ToArray();
        double meanSibling = 0, meanStranger = 0;
        for (var a = 0; a < 10; a++)
            for (var b = a + 1; b < 10; b++)
                if (a / 5 == b / 5) meanSibling += Distance(means[a], means[b]) / 20;
                else meanStranger += Distance(means[a], means[b]) / 25;
        Assert.True(meanSibling < meanStranger, $"identity means: sibling {meanSibling:F3}, stranger {meanStranger:F3}");
    }

    private static float[] Centre(float[] chw, int size, int margin)
    {
        var list = new List<float>();
        for (var c = 0; c < 3; c++)
            for (var y = margin; y < size - margin; y++)
                for (var x = margin; x < size - margin; x++) list.Add(chw[(c * size + y) * size + x]);
        return list.ToArray();
    }

    private static float[] Mean(IEnumerable<float[]> vectors)
    {
        var list = vectors.ToList();
        return Enumerable.Range(0, list[0].Length).Select(i => list.Average(v => v[i])).ToArray();
    }

    [Fact]
    public void The_train_split_has_no_pairs_and_the_others_have_balanced_folds()
    {
        var train = new SyntheticFaces(identities: 30, samples_per_identity: 2, size: 16);
        Assert.Empty(train.Pairs);
        Assert.Equal(0, train.Folds);

        var val = new SyntheticFaces(identities: 40, samples_per_identity: 4, size: 16, split: "val", pairs: 200, seed: 1);
        Assert.Equal(10, val.Folds);
        Assert.Equal(200, val.Pairs.Count);
        var labels = Enumerable.Range(0, val.Count).Select(val.Label).ToArray();
        VerificationPairs.Validate(val.Pairs, val.Folds, labels);
        for (var f = 0; f < 10; f++)
        {
            var fold = val.Pairs.Skip(20 * f).Take(20).ToArray();
            Assert.All(fold.Take(10), p => Assert.True(p.Same && labels[p.First] == labels[p.Second]));
            Assert.All(fold.Skip(10), p => Assert.True(!p.Same && labels[p.First] != labels[p.Second]));
        }
        Assert.Equal(200, val.Pairs.Distinct().Count());
        Assert.All(val.Pairs, p => Assert.True(p.First < p.Second && p.Second < val.Count));

        Assert.NotEqual(val.Pairs, new SyntheticFaces(identities: 40, samples_per_identity: 4, size: 16, split: "val", pairs: 200, seed: 2).Pairs);
        Assert.NotEqual(val.Pairs, new SyntheticFaces(identities: 40, samples_per_identity: 4, size: 16, split: "test", pairs: 200, seed: 1).Pairs);
        var heldout = new SyntheticFaces(identities: 20, samples_per_identity: 3, size: 16, split: "heldout", pairs: 60, folds: 3);
        Assert.Equal((60, 3), (heldout.Pairs.Count, heldout.Folds));
        Assert.Empty(new SyntheticFaces(identities: 20, samples_per_identity: 3, size: 16, split: "val", pairs: 0).Pairs);
    }

    [Fact]
    public void Pixel_values_use_the_range_without_saturating()
    {
        var data = new SyntheticFaces(identities: 32, samples_per_identity: 4, seed: 5);
        var (mean, std) = data.ChannelStatistics();
        Assert.All(mean, m => Assert.InRange(m, 0.3, 0.7));
        Assert.All(std, s => Assert.InRange(s, 0.1, 0.35));
        var pixels = Pixels(data, Enumerable.Range(0, data.Count).ToArray());
        var saturated = pixels.Count(p => p is 0 or 255) / (double)pixels.Length;
        Assert.True(saturated < 0.02, $"{saturated:P2} of the pixels are 0 or 255");
    }

    [Fact]
    public void Bad_arguments_are_rejected_with_the_argument_named()
    {
        Assert.Equal("identities", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticFaces(identities: 1)).ParamName);
        Assert.Equal("samples_per_identity", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticFaces(samples_per_identity: 0)).ParamName);
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticFaces(size: 8)).ParamName);
        Assert.Equal("difficulty", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticFaces(difficulty: 5)).ParamName);
        Assert.Equal("family_size", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticFaces(family_size: 0)).ParamName);
        Assert.Equal("split", Assert.Throws<ArgumentException>(() => new SyntheticFaces(split: "")).ParamName);
        Assert.Equal("pairs", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticFaces(identities: 40, split: "val", pairs: 30)).ParamName);
        Assert.Equal("identities", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticFaces(identities: 19, split: "val", pairs: 20)).ParamName);
        Assert.Equal("samples_per_identity", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticFaces(identities: 40, samples_per_identity: 1, split: "val")).ParamName);
        var data = new SyntheticFaces(identities: 2, samples_per_identity: 2, size: 16);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Collate([4]));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Label(-1));
    }
}
