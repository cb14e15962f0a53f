namespace Distill.Data.Tests;

/// <summary>
/// The synthetic detection task's invariants: scenes are pure functions of (seed, split, index); splits are disjoint
/// streams of one task; boxes are exact, inside the image and non-degenerate; the hard share, the spread of sizes over
/// pyramid levels and the class balance are what the design says.
/// </summary>
public class SyntheticDetectionTests
{
    private static byte[] Pixels(SyntheticDetection d, int index)
    {
        var bytes = new byte[3 * d.ImageSize * d.ImageSize];
        d.Render(index, bytes);
        return bytes;
    }

    [Fact]
    public void A_scene_is_a_function_of_seed_split_and_index_only()
    {
        var a = new SyntheticDetection(samples: 40, seed: 3);
        var b = new SyntheticDetection(samples: 40, seed: 3);
        Assert.Equal(Pixels(a, 17), Pixels(b, 17));
        Assert.Equal(a.Target(17).Objects, b.Target(17).Objects);

        // Batch composition and thread count do not matter.
        var saved = SyntheticDetection.Parallelism;
        try
        {
            SyntheticDetection.Parallelism = 1;
            using var serial = a.Collate(Enumerable.Range(0, 16).ToArray());
            SyntheticDetection.Parallelism = 4;
            using var parallel = b.Collate(Enumerable.Range(0, 16).ToArray());
            using var single = a.Collate([5]);
            Assert.Equal(serial.image.ToArray<byte>(), parallel.image.ToArray<byte>());
            Assert.Equal(serial.image.select(0, 5).ToArray<byte>(), single.image.select(0, 0).ToArray<byte>());
            Assert.Equal(serial.boxes[5].ToArray<float>(), single.boxes[0].ToArray<float>());
        }
        finally
        {
            SyntheticDetection.Parallelism = saved;
        }

        // Another seed is another task and other scenes.
        var c = new SyntheticDetection(samples: 40, seed: 4);
        Assert.NotEqual(Pixels(a, 17), Pixels(c, 17));
    }

    [Fact]
    public void Batches_carry_the_targets_and_the_documented_types()
    {
        var d = new SyntheticDetection(samples: 30, seed: 1);
        using var batch = d.Collate([0, 1, 2, 3, 4, 5]);
        Assert.Equal(new long[] { 6, 3, 128, 128 }, batch.image.shape);
        Assert.Equal(ScalarType.Byte, batch.image.dtype);
        Assert.Equal(Enumerable.Repeat(128L, 12), batch.image_size.ToArray<long>());
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 5 }, batch.image_id.ToArray<long>());
        for (var i = 0; i < 6; i++)
        {
            var target = d.Target(i);
            Assert.Equal(ScalarType.Float32, batch.boxes[i].dtype);
            Assert.Equal(ScalarType.Int64, batch.labels[i].dtype);
            Assert.Equal(ScalarType.Bool, batch.crowd[i].dtype);
            Assert.Equal(ScalarType.Bool, batch.hard[i].dtype);
            Assert.Equal(target.Objects.SelectMany(o => new[] { o.X1, o.Y1, o.X2, o.Y2 }), batch.boxes[i].ToArray<float>());
            Assert.Equal(target.Objects.Select(o => (long)o.Label), batch.labels[i].ToArray<long>());
            Assert.Equal(target.Objects.Select(o => o.Hard), batch.hard[i].ToArray<bool>());
            Assert.All(batch.crowd[i].ToArray<bool>(), c => Assert.False(c));
        }
        Assert.Equal(["ellipse", "rectangle", "triangle", "diamond", "cross", "ring"], d.ClassNames);
        Assert.Equal(12, new SyntheticDetection(classes: 12).ClassNames.Count);
        Assert.Equal("ellipse-patterned", new SyntheticDetection(classes: 12).ClassNames[8]);
    }

    [Fact]
    public void Splits_are_disjoint_streams_of_the_same_task()
    {
        var train = new SyntheticDetection(samples: 50, seed: 2, split: "train");
        var val = new SyntheticDetection(samples: 50, seed: 2, split: "val");
        var test = new SyntheticDetection(samples: 50, seed: 2, split: "test");
        var seen = new HashSet<string>();
        foreach (var d in new[] { train, val, test })
            for (var i = 0; i < 50; i++)
                Assert.True(seen.Add(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Pixels(d, i)))), $"{d.Split} image {i} repeats another split's");
        Assert.Equal(train.ClassNames, val.ClassNames);
    }

    [Fact]
    public void Boxes_are_inside_the_image_tight_and_non_degenerate()
    {
        var d = new SyntheticDetection(samples: 300, seed: 5);
        var objects = Enumerable.Range(0, d.Count).SelectMany(i => d.Objects(i)).ToList();
        Assert.All(objects, o =>
        {
            var b = o.Box;
            Assert.True(b.X1 >= 0 && b.Y1 >= 0 && b.X2 <= 128 && b.Y2 <= 128, $"box {b} leaves the image");
            Assert.True(b.X2 - b.X1 >= 2 && b.Y2 - b.Y1 >= 2, $"box {b} is degenerate");
            Assert.Equal(b.X1, MathF.Round(b.X1)); // whole pixels: the tight box of a pixel mask
            Assert.InRange(b.Label, 1, 6);
            Assert.InRange(o.Visible, 0.05, 1.0);
            Assert.InRange(o.Subtype, 0, 2);
        });
        // Occluded objects are partly covered, the others (almost) not.
        var occluded = objects.Where(o => o.Hard == SyntheticDetection.HardKind.Occluded).ToList();
        Assert.InRange(occluded.Average(o => o.Visible), 0.5, 0.85);
        Assert.True(objects.Where(o => o.Hard == SyntheticDetection.HardKind.None).Average(o => o.Visible) > 0.95);
        // Objects per image: 1..max_objects, a few images empty.
        var counts = Enumerable.Range(0, d.Count).Select(i => d.Target(i).Objects.Count).ToArray();
        Assert.InRange(counts.Count(c => c == 0), 1, 30);
        Assert.InRange(counts.Max(), 6, 12); // occluding objects may add some
        Assert.InRange(counts.Average(), 3.0, 4.0);
    }

    [Fact]
    public void Boxes_bound_the_rendered_object()
    {
        // On a flat background without noise or distractors, a lone object's box is where the pixels differ from the background.
        var d = new SyntheticDetection(samples: 200, seed: 7, clutter: 0, distractors: 0, max_objects: 1, hard_fraction: 0);
        var checkedImages = 0;
        for (var i = 0; i < d.Count && checkedImages < 15; i++)
        {
            var objects = d.Objects(i);
            if (objects.Count != 1) continue;
            var b = objects[0].Box;
            var flat = Pixels(d, i);
            // The gradient varies slowly: compare each pixel with the background model of its row/column outside the box.
            var reference = new SyntheticDetection(samples: 200, seed: 7, clutter: 0, distractors: 0, max_objects: 1, hard_fraction: 0);
            Assert.Equal(flat, Pixels(reference, i));
            // Rows and columns well outside the box match a smooth background: their second differences are tiny.
            int Changed(int x, int y)
            {
                var sum = 0;
                for (var c = 0; c < 3; c++)
                {
                    var p = c * 128 * 128;
                    int v = flat[p + y * 128 + x], l = flat[p + y * 128 + Math.Max(0, x - 1)], r = flat[p + y * 128 + Math.Min(127, x + 1)];
                    int u = flat[p + Math.Max(0, y - 1) * 128 + x], dn = flat[p + Math.Min(127, y + 1) * 128 + x];
                    sum += Math.Abs(2 * v - l - r) + Math.Abs(2 * v - u - dn);
                }
                return sum;
            }
            // Outside the box grown by 2 px, no edges; the object's edge shows within one pixel of each side of the box.
            for (var y = 1; y < 127; y++)
                for (var x = 1; x < 127; x++)
                    if (x < b.X1 - 2 || x > b.X2 + 1 || y < b.Y1 - 2 || y > b.Y2 + 1)
                        Assert.True(Changed(x, y) <= 12, $"image {i}: an edge at ({x}, {y}) outside the box {b}");
            int EdgeAlongColumn(int x) => Enumerable.Range((int)b.Y1, (int)(b.Y2 - b.Y1)).Max(y => Changed(x, y));
            int EdgeAlongRow(int y) => Enumerable.Range((int)b.X1, (int)(b.X2 - b.X1)).Max(x => Changed(x, y));
            if (b.X1 > 1) Assert.True(Math.Max(EdgeAlongColumn((int)b.X1), EdgeAlongColumn((int)b.X1 - 1)) > 12, $"image {i}: no edge at the left of {b}");
            if (b.X2 < 127) Assert.True(Math.Max(EdgeAlongColumn((int)b.X2 - 1), EdgeAlongColumn((int)b.X2)) > 12, $"image {i}: no edge at the right of {b}");
            if (b.Y1 > 1) Assert.True(Math.Max(EdgeAlongRow((int)b.Y1), EdgeAlongRow((int)b.Y1 - 1)) > 12, $"image {i}: no edge at the top of {b}");
            if (b.Y2 < 127) Assert.True(Math.Max(EdgeAlongRow((int)b.Y2 - 1), EdgeAlongRow((int)b.Y2)) > 12, $"image {i}: no edge at the bottom of {b}");
            checkedImages++;
        }
        Assert.Equal(15, checkedImages);
    }

    [Fact]
    public void Hard_share_sizes_and_classes_follow_the_knobs()
    {
        var d = new SyntheticDetection(samples: 400, seed: 11);
        var objects = Enumerable.Range(0, d.Count).SelectMany(i => d.Objects(i)).ToList();
        Assert.True(objects.Count > 1200);

        // The hard share is hard_fraction, less the few occluding objects the occluded kind adds; the four kinds equally often.
        var hard = objects.Count(o => o.Box.Hard);
        Assert.InRange(hard / (double)objects.Count, 0.21, 0.29);
        var kinds = objects.Where(o => o.Box.Hard).GroupBy(o => o.Hard).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(4, kinds.Count);
        Assert.All(kinds.Values, k => Assert.InRange(k, hard / 4 * 0.7, hard / 4 * 1.3));
        Assert.All(objects, o => Assert.Equal(o.Box.Hard, o.Hard != SyntheticDetection.HardKind.None));
        // Tiny ones are the smallest.
        Assert.All(objects.Where(o => o.Hard == SyntheticDetection.HardKind.Tiny), o => Assert.True(o.Size < 14, $"tiny object of size {o.Size}"));

        // Sizes (square root of the box area) spread over the FPN levels: < 16, 16-32, 32-64 px on a 128 px image.
        var buckets = new int[4];
        foreach (var o in objects) buckets[o.Size < 16 ? 0 : o.Size < 32 ? 1 : o.Size < 64 ? 2 : 3]++;
        Assert.InRange(buckets[0] / (double)objects.Count, 0.12, 0.35);
        Assert.InRange(buckets[1] / (double)objects.Count, 0.3, 0.5);
        Assert.InRange(buckets[2] / (double)objects.Count, 0.25, 0.45);

        // Classes and looks are balanced.
        var perClass = objects.GroupBy(o => o.Label).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(6, perClass.Count);
        Assert.All(perClass.Values, c => Assert.InRange(c, objects.Count / 6 * 0.8, objects.Count / 6 * 1.2));
        var perLook = objects.GroupBy(o => (o.Label, o.Subtype)).Select(g => g.Count()).ToArray();
        Assert.Equal(18, perLook.Length);
        Assert.All(perLook, c => Assert.InRange(c, objects.Count / 18 * 0.6, objects.Count / 18 * 1.4));

        // The knobs move what they say.
        var none = new SyntheticDetection(samples: 100, seed: 11, hard_fraction: 0);
        Assert.DoesNotContain(Enumerable.Range(0, 100).SelectMany(i => none.Objects(i)), o => o.Box.Hard);
        var all = new SyntheticDetection(samples: 100, seed: 11, hard_fraction: 1);
        var allObjects = Enumerable.Range(0, 100).SelectMany(i => all.Objects(i)).ToList();
        Assert.True(allObjects.Count(o => o.Box.Hard) > 0.85 * allObjects.Count);
        var small = new SyntheticDetection(samples: 50, seed: 11, size: 64, min_object: 6, max_object: 24, max_objects: 3);
        Assert.All(Enumerable.Range(0, 50).SelectMany(i => small.Objects(i)), o => Assert.True(o.Size <= 24 * 1.5 && o.Box.X2 <= 64));
    }

    [Fact]
    public void Arguments_are_checked()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticDetection(classes: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticDetection(classes: 17));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticDetection(hard_fraction: 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticDetection(max_object: 200));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticDetection(min_object: 40, max_object: 64));
        Assert.Throws<ArgumentException>(() => new SyntheticDetection(split: " "));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SyntheticDetection(samples: 3).Target(3));
    }
}
