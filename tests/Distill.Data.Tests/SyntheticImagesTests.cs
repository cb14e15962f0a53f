namespace Distill.Data.Tests;

public class SyntheticImagesTests
{
    private static byte[] Pixels(ImageDataset data, params int[] indices)
    {
        using var batch = data.Collate(indices);
        return batch.image.ToArray<byte>();
    }

    [Fact]
    public void The_same_arguments_give_the_same_images_and_labels()
    {
        var a = new SyntheticImages(classes: 10, samples: 500, seed: 3);
        var b = new SyntheticImages(classes: 10, samples: 500, seed: 3);
        int[] indices = [0, 7, 123, 499, 7];
        Assert.Equal(Pixels(a, indices), Pixels(b, indices));
        using var batch = a.Collate(indices);
        Assert.Equal(indices.Select(i => (long)a.Label(i)), batch.label.ToArray<long>());
    }

    [Fact]
    public void A_sample_depends_only_on_its_index_not_on_its_batch()
    {
        var data = new SyntheticImages(samples: 100, seed: 1);
        var together = Pixels(data, 5, 3, 99);
        var alone = Pixels(data, 5).Concat(Pixels(data, 3)).Concat(Pixels(data, 99)).ToArray();
        Assert.Equal(alone, together);
        var rendered = new byte[3 * 32 * 32];
        data.Render(3, rendered);
        Assert.Equal(Pixels(data, 3), rendered);
        using var sample = data.Get(99);
        Assert.Equal(new long[] { 3, 32, 32 }, sample.image.shape);
        Assert.Equal(Pixels(data, 99), sample.image.ToArray<byte>());
        Assert.Equal(data.Label(99), sample.label);
    }

    [Fact]
    public void Parallel_rendering_gives_the_serial_result()
    {
        var data = new SyntheticImages(samples: 64, seed: 2);
        var indices = Enumerable.Range(0, 40).ToArray();
        var before = SyntheticImages.Parallelism;
        try
        {
            SyntheticImages.Parallelism = 1;
            var serial = Pixels(data, indices);
            SyntheticImages.Parallelism = 4;
            Assert.Equal(serial, Pixels(data, indices));
        }
        finally { SyntheticImages.Parallelism = before; }
    }

    [Fact]
    public void Different_seeds_and_splits_give_different_images()
    {
        var indices = Enumerable.Range(0, 20).ToArray();
        var baseline = Pixels(new SyntheticImages(samples: 20, seed: 0), indices);
        Assert.NotEqual(baseline, Pixels(new SyntheticImages(samples: 20, seed: 1), indices));
        Assert.NotEqual(baseline, Pixels(new SyntheticImages(samples: 20, seed: 0, split: "test"), indices));
        // Samples differ from each other too.
        Assert.NotEqual(Pixels(new SyntheticImages(samples: 20), 0), Pixels(new SyntheticImages(samples: 20), 10));
    }

    [Fact]
    public void Classes_are_balanced_and_the_true_class_is_index_mod_classes()
    {
        var data = new SyntheticImages(classes: 10, samples: 1000);
        Assert.All(data.LabelCounts(), c => Assert.Equal(100, c));
        Assert.Equal(7, data.Label(17));
        var hundred = new SyntheticImages(classes: 100, samples: 250);
        Assert.Equal(Enumerable.Range(0, 100).Select(c => c < 50 ? 3 : 2), hundred.LabelCounts());
        Assert.Equal(5, hundred.GroupSize);
        Assert.Equal(2, data.GroupSize);
        Assert.Equal(19, hundred.Group(99));
    }

    [Fact]
    public void Label_noise_flips_the_requested_fraction_to_other_classes_on_the_train_split_only()
    {
        const int N = 20000;
        var noisy = new SyntheticImages(classes: 10, samples: N, label_noise: 0.2, seed: 4);
        var flipped = 0;
        var offsets = new int[10];
        for (var i = 0; i < N; i++)
        {
            var label = noisy.Label(i);
            var clean = noisy.CleanLabel(i);
            Assert.InRange(label, 0, 9);
            if (label == clean) continue;
            flipped++;
            offsets[(label - clean + 10) % 10]++;
        }
        Assert.InRange(flipped / (double)N, 0.185, 0.215);
        Assert.Equal(0, offsets[0]);
        // The wrong class is uniform over the other nine.
        Assert.All(offsets.Skip(1), n => Assert.InRange(n / (double)flipped, 1 / 9.0 - 0.025, 1 / 9.0 + 0.025));
        // Fixed per sample, and the batches carry it.
        Assert.Equal(noisy.Label(123), new SyntheticImages(classes: 10, samples: N, label_noise: 0.2, seed: 4).Label(123));
        using var batch = noisy.Collate(Enumerable.Range(0, 50).ToArray());
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)noisy.Label(i)), batch.label.ToArray<long>());

        var test = new SyntheticImages(classes: 10, samples: 2000, label_noise: 0.2, seed: 4, split: "test");
        Assert.All(Enumerable.Range(0, 2000), i => Assert.Equal(test.CleanLabel(i), test.Label(i)));
        var clean0 = new SyntheticImages(classes: 10, samples: 2000, seed: 4);
        Assert.All(Enumerable.Range(0, 2000), i => Assert.Equal(clean0.CleanLabel(i), clean0.Label(i)));
    }

    [Fact]
    public void Channels_size_and_classes_are_configurable()
    {
        var data = new SyntheticImages(classes: 100, samples: 300, channels: 1, size: 16, seed: 9);
        using var batch = data.Collate([0, 1, 299]);
        Assert.Equal(new long[] { 3, 1, 16, 16 }, batch.image.shape);
        Assert.Equal(ScalarType.Byte, batch.image.dtype);
        Assert.Equal(new long[] { 0, 1, 99 }, batch.label.ToArray<long>());
        Assert.Equal(ScalarType.Int64, batch.label.dtype);
        var wide = new SyntheticImages(samples: 4, channels: 4, size: 40);
        using var w = wide.Collate([3]);
        Assert.Equal(new long[] { 1, 4, 40, 40 }, w.image.shape);
    }

    [Fact]
    public void Pixel_values_use_the_range_without_saturating()
    {
        var data = new SyntheticImages(samples: 256, seed: 5);
        var (mean, std) = data.ChannelStatistics();
        Assert.All(mean, m => Assert.InRange(m, 0.3, 0.7));
        Assert.All(std, s => Assert.InRange(s, 0.05, 0.3));
        Assert.Equal((mean, std), data.Normalization, (a, b) => a.Item1.SequenceEqual(b.Item1) && a.Item2.SequenceEqual(b.Item2));
        var pixels = Pixels(data, Enumerable.Range(0, 256).ToArray());
        Assert.True(pixels.Count(p => p is 0 or 255) < pixels.Length / 100);
    }

    [Fact]
    public void Difficulty_zero_leaves_only_the_grating_phase_random()
    {
        // Without nuisance, two samples of one class differ only where the parts are (the phase);
        // the background is identical.
        var data = new SyntheticImages(classes: 10, samples: 100, difficulty: 0, seed: 6);
        var a = Pixels(data, 3);
        var b = Pixels(data, 13);
        var same = a.Zip(b).Count(p => p.First == p.Second);
        Assert.InRange(same, a.Length / 4, a.Length - 1);
    }

    [Fact]
    public void The_graded_task_is_deterministic_and_differs_from_the_grouped_one()
    {
        var a = new SyntheticImages(classes: 20, samples: 60, size: 16, seed: 2, similarity: "graded");
        var b = new SyntheticImages(classes: 20, samples: 60, size: 16, seed: 2, similarity: "graded");
        int[] indices = [0, 19, 41, 59];
        Assert.Equal(Pixels(a, indices), Pixels(b, indices));
        Assert.NotEqual(Pixels(a, indices), Pixels(new SyntheticImages(classes: 20, samples: 60, size: 16, seed: 2), indices));
        Assert.Equal("graded", a.Similarity);
        Assert.Equal(0.0, a.LatentDistance(3, 3));
        Assert.Equal(a.LatentDistance(3, 17), a.LatentDistance(17, 3));
        Assert.Throws<InvalidOperationException>(() => new SyntheticImages(classes: 20, samples: 60).LatentDistance(0, 1));
    }

    [Fact]
    public void On_the_graded_task_classes_near_in_the_latent_tree_look_alike()
    {
        // Without nuisance, the mean images of two classes are closer the closer their latent points are: the
        // similarity is graded, not all-or-nothing. Measured as the rank correlation over all class pairs.
        const int classes = 20;
        var data = new SyntheticImages(classes: classes, samples: classes * 8, size: 16, seed: 3, difficulty: 0, similarity: "graded");
        var means = new double[classes][];
        for (var c = 0; c < classes; c++)
        {
            var samples = Enumerable.Range(0, 8).Select(k => Pixels(data, c + k * classes)).ToList();
            means[c] = Enumerable.Range(0, samples[0].Length).Select(i => samples.Average(s => (double)s[i])).ToArray();
        }
        var latent = new List<double>();
        var image = new List<double>();
        for (var i = 0; i < classes; i++)
            for (var j = i + 1; j < classes; j++)
            {
                latent.Add(data.LatentDistance(i, j));
                image.Add(Math.Sqrt(means[i].Zip(means[j], (x, y) => (x - y) * (x - y)).Sum()));
            }
        static double[] Ranks(List<double> v) { var order = v.Select((x, i) => (x, i)).OrderBy(p => p.x).ToList(); var r = new double[v.Count]; for (var k = 0; k < order.Count; k++) r[order[k].i] = k; return r; }
        var (rl, ri) = (Ranks(latent), Ranks(image));
        var (ml, mi) = (rl.Average(), ri.Average());
        var spearman = rl.Zip(ri, (x, y) => (x - ml) * (y - mi)).Sum() / Math.Sqrt(rl.Sum(x => (x - ml) * (x - ml)) * ri.Sum(y => (y - mi) * (y - mi)));
        Assert.True(spearman > 0.5, $"rank correlation of latent and image distances {spearman:0.00}");
        // Siblings in the tree (one branch of GroupSize leaves) are nearer, on average, than classes of other branches.
        var pairs = Enumerable.Range(0, classes).SelectMany(i => Enumerable.Range(i + 1, classes - i - 1).Select(j => (i, j))).ToList();
        var within = pairs.Where(p => data.Group(p.i) == data.Group(p.j)).Average(p => data.LatentDistance(p.i, p.j));
        var across = pairs.Where(p => data.Group(p.i) != data.Group(p.j)).Average(p => data.LatentDistance(p.i, p.j));
        Assert.True(within < 0.8 * across, $"mean latent distance within a branch {within:0.00}, across branches {across:0.00}");
    }

    [Fact]
    public void Bad_arguments_are_rejected_with_the_argument_named()
    {
        Assert.Equal("classes", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticImages(classes: 1)).ParamName);
        Assert.Equal("samples", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticImages(samples: 0)).ParamName);
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticImages(size: 4)).ParamName);
        Assert.Equal("channels", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticImages(channels: 0)).ParamName);
        Assert.Equal("label_noise", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticImages(label_noise: 1.0)).ParamName);
        Assert.Equal("difficulty", Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticImages(difficulty: -1)).ParamName);
        Assert.Equal("split", Assert.Throws<ArgumentException>(() => new SyntheticImages(split: " ")).ParamName);
        Assert.Equal("similarity", Assert.Throws<ArgumentException>(() => new SyntheticImages(similarity: "tree")).ParamName);
        var data = new SyntheticImages(samples: 5);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Collate([5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Label(-1));
    }
}
