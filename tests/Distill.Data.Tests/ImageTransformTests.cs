namespace Distill.Data.Tests;

public class ImageTransformTests
{
    /// <summary>The crop-and-flip definition, pixel by pixel: torchvision's RandomCrop(padding) then hflip.</summary>
    private static float[,,,] Reference(byte[] x, int n, int c, int h, int w, int padding, int[] oy, int[] ox, bool[] flip)
    {
        var result = new float[n, c, h, w];
        for (var s = 0; s < n; s++)
            for (var ch = 0; ch < c; ch++)
                for (var y = 0; y < h; y++)
                    for (var xo = 0; xo < w; xo++)
                    {
                        var xc = flip[s] ? w - 1 - xo : xo;       // column in the crop
                        var sy = y + oy[s] - padding;              // row in the unpadded source
                        var sx = xc + ox[s] - padding;
                        var inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
                        result[s, ch, y, xo] = inside ? x[((s * c + ch) * h + sy) * w + sx] / 255f : 0f;
                    }
        return result;
    }

    private static byte[] Pattern(int count) => Enumerable.Range(0, count).Select(i => (byte)(1 + i % 250)).ToArray();

    [Fact]
    public void Crop_and_flip_with_explicit_offsets_match_the_definition()
    {
        using var scope = torch.NewDisposeScope();
        const int N = 3, C = 2, H = 3, W = 4, P = 1;
        var bytes = Pattern(N * C * H * W);
        var images = torch.tensor(bytes, new long[] { N, C, H, W });
        int[] oy = [0, 2, 1], ox = [2, 1, 0];
        bool[] flip = [false, true, true];
        var t = new ImageTransform(padding: P, horizontalFlip: true);
        var result = t.Apply(images, torch.tensor(oy), torch.tensor(ox), torch.tensor(flip.Select(f => f ? 1L : 0L).ToArray()));

        Assert.Equal(new long[] { N, C, H, W }, result.shape);
        Assert.Equal(ScalarType.Float32, result.dtype);
        var expected = Reference(bytes, N, C, H, W, P, oy, ox, flip);
        var actual = result.ToArray<float>();
        var k = 0;
        foreach (var e in expected) Assert.Equal(e, actual[k++]);

        // Spot checks by hand. Sample 0, offset (0, 2): the first output row is the padding row.
        var r = result.ToArray<float>();
        float At(int s, int ch, int y, int x) => r[((s * C + ch) * H + y) * W + x];
        float Src(int s, int ch, int y, int x) => bytes[((s * C + ch) * H + y) * W + x] / 255f;
        Assert.All(Enumerable.Range(0, W), x => Assert.Equal(0f, At(0, 0, 0, x)));
        Assert.Equal(Src(0, 1, 0, 1), At(0, 1, 1, 0));   // padded (1, 2) is source (0, 1)
        Assert.Equal(0f, At(0, 1, 1, 3));                 // padded column 5 is right padding
        // Sample 2, offset (1, 0), flipped: output column x is crop column W-1-x, i.e. padded column W-1-x.
        Assert.Equal(Src(2, 0, 0, 2), At(2, 0, 0, 0));    // crop column 3 = padded column 3 = source column 2
        Assert.Equal(0f, At(2, 0, 0, 3));                 // crop column 0 = left padding
        Assert.False(images.IsDisposed);
    }

    [Fact]
    public void Without_offsets_or_flips_only_the_conversion_runs()
    {
        using var scope = torch.NewDisposeScope();
        var bytes = Pattern(2 * 3 * 5 * 5);
        var images = torch.tensor(bytes, new long[] { 2, 3, 5, 5 });
        var result = new ImageTransform().Apply(images, null, null, null);
        Assert.Equal(bytes.Select(b => b / 255f), result.ToArray<float>());
    }

    [Fact]
    public void Random_crops_and_flips_are_drawn_from_the_generator_and_cover_every_offset()
    {
        using var scope = torch.NewDisposeScope();
        const int N = 600, H = 4, W = 4, P = 2;
        // Distinct values per pixel (per sample), so the crop and flip of each output can be recovered.
        var bytes = new byte[N * H * W];
        for (var s = 0; s < N; s++) for (var i = 0; i < H * W; i++) bytes[s * H * W + i] = (byte)(10 + i * 10);
        var images = torch.tensor(bytes, new long[] { N, 1, H, W });
        var t = new ImageTransform(padding: P, horizontalFlip: true);
        using var g1 = new Generator(42);
        using var g2 = new Generator(42);
        using var g3 = new Generator(43);
        var a = t.Apply(images, g1);
        Assert.True(a.equal(t.Apply(images, g2)));
        Assert.False(a.equal(t.Apply(images, g3)));

        var values = a.ToArray<float>();
        var seenY = new HashSet<int>();
        var seenX = new HashSet<int>();
        var flips = 0;
        for (var s = 0; s < N; s++)
        {
            var output = values.AsSpan(s * H * W, H * W).ToArray();
            var matches = new List<(int, int, bool)>();
            for (var oy = 0; oy <= 2 * P; oy++)
                for (var ox = 0; ox <= 2 * P; ox++)
                    foreach (var f in new[] { false, true })
                    {
                        var expected = Reference(bytes.AsSpan(s * H * W, H * W).ToArray(), 1, 1, H, W, P, [oy], [ox], [f]);
                        if (expected.Cast<float>().SequenceEqual(output)) matches.Add((oy, ox, f));
                    }
            Assert.NotEmpty(matches); // every output is some crop (and flip) of the padded input
            if (matches.Count == 1)
            {
                var (my, mx, mf) = matches[0];
                seenY.Add(my);
                seenX.Add(mx);
                if (mf) flips++;
            }
        }
        Assert.Equal(2 * P + 1, seenY.Count);
        Assert.Equal(2 * P + 1, seenX.Count);
        Assert.InRange(flips, 150, 400);
    }

    [Fact]
    public void Normalisation_is_x_over_255_minus_mean_over_std_per_channel()
    {
        using var scope = torch.NewDisposeScope();
        double[] mean = [0.5, 0.25, 0.75], std = [0.5, 0.2, 0.1];
        var bytes = Pattern(2 * 3 * 2 * 2);
        var images = torch.tensor(bytes, new long[] { 2, 3, 2, 2 });
        var result = ImageTransform.Eval(mean, std).Apply(images, null, null, null).ToArray<float>();
        for (var i = 0; i < bytes.Length; i++)
        {
            var c = i / 4 % 3;
            Assert.Equal((bytes[i] / 255.0 - mean[c]) / std[c], result[i], 5);
        }
    }

    [Fact]
    public void Float_images_are_taken_as_values_in_0_to_1_and_are_not_modified()
    {
        using var scope = torch.NewDisposeScope();
        var images = torch.rand([2, 1, 3, 3]);
        var before = images.clone();
        var normalised = new ImageTransform(mean: [0.5], std: [0.25]).Apply(images, null, null, null);
        Assert.True(normalised.allclose((before - 0.5) / 0.25, atol: 1e-6));
        var plain = new ImageTransform().Apply(images, null, null, null);
        Assert.True(plain.equal(before));
        plain.add_(1);
        Assert.True(images.equal(before));
    }

    [Fact]
    public void One_mean_and_std_value_applies_to_every_channel()
    {
        using var scope = torch.NewDisposeScope();
        var images = torch.full([1, 3, 2, 2], 51, dtype: torch.uint8);
        var result = new ImageTransform(mean: [0.2], std: [0.5]).Apply(images, null, null, null);
        Assert.True(result.allclose(torch.zeros([1, 3, 2, 2]), atol: 1e-6));
    }

    [Fact]
    public void Applying_to_a_batch_replaces_and_frees_the_image()
    {
        using var scope = torch.NewDisposeScope();
        var original = torch.zeros([2, 3, 8, 8], dtype: torch.uint8);
        var batch = new ImageBatch(original, torch.tensor(new long[] { 0, 1 }));
        using var g = new Generator(1);
        var same = ImageTransform.Train(ImageTransform.Cifar10Mean, ImageTransform.Cifar10Std).Apply(batch, g);
        Assert.Same(batch, same);
        Assert.True(original.IsDisposed);
        Assert.Equal(ScalarType.Float32, batch.image.dtype);
        Assert.Equal(new long[] { 2, 3, 8, 8 }, batch.image.shape);
        batch.Dispose();
        Assert.True(batch.label.IsDisposed);
    }

    [Fact]
    public void Bad_arguments_are_rejected()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageTransform(padding: -1));
        Assert.Throws<ArgumentException>(() => new ImageTransform(mean: [0.5]));
        Assert.Throws<ArgumentException>(() => new ImageTransform(mean: [0.5, 0.5], std: [0.5]));
        Assert.Throws<ArgumentException>(() => new ImageTransform(mean: [0.5], std: [0]));
        var t = new ImageTransform(mean: [0.5, 0.5], std: [0.5, 0.5]);
        var error = Assert.Throws<ArgumentException>(() => t.Apply(torch.zeros([1, 3, 2, 2], dtype: torch.uint8), null, null, null));
        Assert.Contains("normalises 2 channels, but the images have 3", error.Message);
        Assert.Throws<ArgumentException>(() => t.Apply(torch.zeros([3, 2, 2]), null, null, null));
        Assert.Throws<ArgumentException>(() => t.Apply(torch.zeros([1, 2, 2, 2], dtype: torch.int64), null, null, null));
    }
}
