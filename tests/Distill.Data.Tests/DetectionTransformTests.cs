namespace Distill.Data.Tests;

public class DetectionTransformTests
{
    /// <summary>A batch of images each with one filled box (value 200 inside, 10 outside), of the given sizes (padded to the largest).</summary>
    private static DetectionBatch FilledBoxes(params (int H, int W, int X1, int Y1, int X2, int Y2)[] images)
    {
        var loaded = images.Select((im, i) =>
        {
            var pixels = new byte[3 * im.H * im.W];
            for (var c = 0; c < 3; c++)
                for (var y = 0; y < im.H; y++)
                    for (var x = 0; x < im.W; x++)
                        pixels[(c * im.H + y) * im.W + x] = (byte)(x >= im.X1 && x < im.X2 && y >= im.Y1 && y < im.Y2 ? 200 : 10 + c);
            var target = new DetectionTarget(i, im.H, im.W, [new DetectionObject(im.X1, im.Y1, im.X2, im.Y2, 1 + i)]);
            return (pixels, target);
        }).ToList();
        return DetectionDataset.Build(loaded);
    }

    /// <summary>The tight box of the pixels above 100 in channel 0 of image i, within its own size.</summary>
    private static float[] PixelBox(DetectionBatch batch, int i)
    {
        var size = batch.image_size.ToArray<long>();
        var (h, w) = ((int)size[2 * i], (int)size[2 * i + 1]);
        using var plane = batch.image.select(0, i).select(0, 0).to(ScalarType.Float32);
        var v = plane.ToArray<float>();
        var stride = (int)batch.image.size(3);
        var scale = batch.image.dtype == ScalarType.Byte ? 1f : 255f;
        int x1 = int.MaxValue, y1 = int.MaxValue, x2 = -1, y2 = -1;
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
                if (v[y * stride + x] * scale > 100)
                    (x1, y1, x2, y2) = (Math.Min(x1, x), Math.Min(y1, y), Math.Max(x2, x + 1), Math.Max(y2, y + 1));
        return [x1, y1, x2, y2];
    }

    [Fact]
    public void Boxes_follow_the_pixels_when_flipped_within_each_images_own_width()
    {
        // Three images of different widths: the narrower ones are padded right, and must flip within their own width.
        using var batch = FilledBoxes((8, 12, 1, 2, 4, 6), (6, 9, 5, 0, 9, 3), (8, 7, 0, 1, 2, 8));
        var t = new DetectionTransform(toFloat: false);
        t.Apply(batch, [true, true, false], null);
        Assert.Equal(ScalarType.Byte, batch.image.dtype);
        Assert.Equal(new float[] { 8, 2, 11, 6 }, batch.boxes[0].ToArray<float>());   // x1' = 12 − 4, x2' = 12 − 1
        Assert.Equal(new float[] { 0, 0, 4, 3 }, batch.boxes[1].ToArray<float>());    // x1' = 9 − 9, x2' = 9 − 5
        Assert.Equal(new float[] { 0, 1, 2, 8 }, batch.boxes[2].ToArray<float>());
        for (var i = 0; i < 3; i++) Assert.Equal(batch.boxes[i].ToArray<float>(), PixelBox(batch, i));
        // The padding stays bottom/right (zeros).
        using var pad = batch.image.select(0, 1).narrow(2, 9, 3);
        Assert.All(pad.ToArray<byte>(), v => Assert.Equal(0, v));
        Assert.Equal(new long[] { 8, 12, 6, 9, 8, 7 }, batch.image_size.ToArray<long>());
    }

    [Fact]
    public void Flipping_twice_is_the_identity()
    {
        var d = new SyntheticDetection(samples: 8, seed: 3);
        using var batch = d.Collate([0, 1, 2, 3]);
        using var original = batch.image.clone();
        var boxes = batch.boxes.Select(b => b.ToArray<float>()).ToArray();
        var t = new DetectionTransform(toFloat: false);
        bool[] flip = [true, false, true, true];
        t.Apply(batch, flip, null);
        Assert.False(batch.image.equal(original));
        Assert.NotEqual(boxes[0], batch.boxes[0].ToArray<float>());
        t.Apply(batch, flip, null);
        Assert.True(batch.image.equal(original));
        for (var i = 0; i < 4; i++) Assert.Equal(boxes[i], batch.boxes[i].ToArray<float>());

        // Padded images of different widths, too.
        using var mixed = FilledBoxes((5, 10, 2, 1, 5, 4), (5, 6, 0, 0, 3, 5));
        using var before = mixed.image.clone();
        t.Apply(mixed, [true, true], null);
        t.Apply(mixed, [true, true], null);
        Assert.True(mixed.image.equal(before));
    }

    [Fact]
    public void The_float_conversion_divides_by_255_and_does_not_normalise()
    {
        using var batch = FilledBoxes((4, 4, 1, 1, 3, 3));
        using var bytes = batch.image.to(ScalarType.Float32);
        var expected = bytes.ToArray<float>().Select(v => v / 255f).ToArray();
        new DetectionTransform().Apply(batch, null, null);
        Assert.Equal(ScalarType.Float32, batch.image.dtype);
        Assert.Equal(expected, batch.image.ToArray<float>());
    }

    [Fact]
    public void Resizing_scales_boxes_with_the_pixels()
    {
        // Short side 8 -> 16 (scale 2), capped by max side 30 for the wide one (20 -> 30: scale 1.5).
        using var batch = FilledBoxes((8, 10, 2, 2, 6, 4), (8, 20, 4, 0, 12, 8));
        var t = new DetectionTransform(shortSides: [16], maxSide: 30, toFloat: true, sizeDivisible: 8);
        t.Apply(batch, null, [16, 16]);
        Assert.Equal(new long[] { 16, 20, 12, 30 }, batch.image_size.ToArray<long>());
        Assert.Equal(new long[] { 2, 3, 16, 32 }, batch.image.shape); // 30 rounded up to a multiple of 8
        Assert.Equal(new float[] { 4, 4, 12, 8 }, batch.boxes[0].ToArray<float>());
        Assert.Equal(new float[] { 6, 0, 18, 12 }, batch.boxes[1].ToArray<float>());
        // The resized pixels above half-way between inside (200) and outside (10) lie within one pixel of the box.
        for (var i = 0; i < 2; i++)
        {
            var p = PixelBox(batch, i);
            var b = batch.boxes[i].ToArray<float>();
            for (var k = 0; k < 4; k++) Assert.InRange(p[k], b[k] - 1, b[k] + 1);
        }
        // Outside each image's new size: zeros.
        using var right = batch.image.select(0, 1).narrow(2, 30, 2);
        Assert.All(right.ToArray<float>(), v => Assert.Equal(0f, v));
        using var bottom = batch.image.select(0, 1).narrow(1, 12, 4);
        Assert.All(bottom.ToArray<float>(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Draws_come_from_the_generator_and_replay()
    {
        var d = new SyntheticDetection(samples: 64, seed: 9);
        var t = DetectionTransform.Train(shortSides: [96, 128, 160], maxSide: 200);
        float[][] Run(ulong seed)
        {
            using var batch = d.Collate(Enumerable.Range(0, 32).ToArray());
            using var g = new Generator(seed);
            t.Apply(batch, g);
            return [batch.image.sum().ToArray<float>(), batch.image_size.to(ScalarType.Float32).ToArray<float>(), .. batch.boxes.Select(b => b.ToArray<float>())];
        }
        var a = Run(5);
        var b = Run(5);
        var c = Run(6);
        Assert.Equal(a.Length, b.Length);
        for (var i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i]);
        Assert.NotEqual(a[1], c[1]);
        // Several short sides are drawn, and about half the images are flipped.
        Assert.True(a[1].Where((v, k) => k % 2 == 0).Distinct().Count() >= 2);
        using var batch2 = d.Collate(Enumerable.Range(0, 64).ToArray());
        using var g2 = new Generator(1);
        var boxesBefore = batch2.boxes.Select(x => x.ToArray<float>()).ToArray();
        new DetectionTransform(horizontalFlip: true).Apply(batch2, g2);
        var flipped = Enumerable.Range(0, 64).Count(i => boxesBefore[i].Length > 0 && !boxesBefore[i].SequenceEqual(batch2.boxes[i].ToArray<float>()));
        Assert.InRange(flipped, 18, 46);
    }
}
