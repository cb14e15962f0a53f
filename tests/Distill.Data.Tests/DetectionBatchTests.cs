namespace Distill.Data.Tests;

public class DetectionBatchTests
{
    private static (byte[], DetectionTarget) Image(long id, int h, int w, byte value, params DetectionObject[] objects) =>
        (Enumerable.Repeat(value, 3 * h * w).ToArray(), new DetectionTarget(id, h, w, objects));

    [Fact]
    public void Collate_pads_bottom_right_and_keeps_each_images_size_and_objects()
    {
        using var batch = DetectionDataset.Build([
            Image(7, 3, 5, 9, new DetectionObject(0, 0, 2, 3, 4, Crowd: true), new DetectionObject(1, 1, 5, 2, 2, Hard: true)),
            Image(11, 4, 2, 5),
        ]);
        Assert.Equal(2, batch.Count);
        Assert.Equal(new long[] { 2, 3, 4, 5 }, batch.image.shape);
        Assert.Equal(new long[] { 3, 5, 4, 2 }, batch.image_size.ToArray<long>());
        Assert.Equal(new long[] { 7, 11 }, batch.image_id.ToArray<long>());
        // Image 0 fills rows 0..2 of 4; image 1 columns 0..1 of 5; the rest is zero.
        var pixels = batch.image.ToArray<byte>();
        byte At(int n, int c, int y, int x) => pixels[((n * 3 + c) * 4 + y) * 5 + x];
        Assert.Equal(9, At(0, 2, 2, 4));
        Assert.Equal(0, At(0, 0, 3, 0));
        Assert.Equal(5, At(1, 1, 3, 1));
        Assert.Equal(0, At(1, 1, 0, 2));
        Assert.Equal(new float[] { 0, 0, 2, 3, 1, 1, 5, 2 }, batch.boxes[0].ToArray<float>());
        Assert.Equal(new long[] { 2, 4 }, batch.boxes[0].shape);
        Assert.Equal(new long[] { 4, 2 }, batch.labels[0].ToArray<long>());
        Assert.Equal(new[] { true, false }, batch.crowd[0].ToArray<bool>());
        Assert.Equal(new[] { false, true }, batch.hard[0].ToArray<bool>());
        // An image without objects: (0, 4) boxes and empty label/flag vectors.
        Assert.Equal(new long[] { 0, 4 }, batch.boxes[1].shape);
        Assert.Equal(new long[] { 0 }, batch.labels[1].shape);
        Assert.Equal(ScalarType.Bool, batch.crowd[1].dtype);
        // Tensors: image, image_size, the boxes, labels, crowd and hard flags image by image, image_id, the person ids.
        var all = batch.Tensors;
        Assert.Equal(2 + 4 * 2 + 1 + 2, all.Count);
        Assert.Same(batch.image, all[0]);
        Assert.Same(batch.image_size, all[1]);
        Assert.Same(batch.boxes[1], all[3]);
        Assert.Same(batch.labels[0], all[4]);
        Assert.Same(batch.hard[1], all[9]);
        Assert.Same(batch.image_id, all[10]);
        Assert.Same(batch.person_id[1], all[12]);
        // Plain detection data has no identities: every box is -1.
        Assert.Equal(new long[] { -1, -1 }, batch.person_id[0].ToArray<long>());
        Assert.Equal(new long[] { 0 }, batch.person_id[1].shape);
        Assert.Equal(new long[] { 2, 0 }, batch.ObjectCounts);
    }

    [Fact]
    public void The_constructor_checks_the_per_image_lists()
    {
        using var scope = torch.NewDisposeScope();
        var image = torch.zeros([2, 3, 4, 4], torch.uint8);
        var size = torch.tensor(new long[] { 4, 4, 4, 4 }, new long[] { 2, 2 });
        var ids = torch.tensor(new long[] { 0, 1 });
        Tensor Boxes(int g) => torch.zeros([g, 4]);
        Tensor Labels(int g) => torch.zeros([g], torch.int64);
        Tensor Flags(int g) => torch.zeros([g], torch.@bool);
        var e = Assert.Throws<ArgumentException>(() => new DetectionBatch(image, size, [Boxes(1)], [Labels(1), Labels(0)], [Flags(1), Flags(0)], [Flags(1), Flags(0)], ids));
        Assert.Contains("boxes needs one tensor per image (2), got 1", e.Message);
        e = Assert.Throws<ArgumentException>(() => new DetectionBatch(image, size, [Boxes(1), Boxes(2)], [Labels(1), Labels(1)], [Flags(1), Flags(2)], [Flags(1), Flags(2)], ids));
        Assert.Contains("labels[1] must be (2) like boxes[1], got [1]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new DetectionBatch(image, size, [torch.zeros([1, 5]), Boxes(0)], [Labels(1), Labels(0)], [Flags(1), Flags(0)], [Flags(1), Flags(0)], ids));
        Assert.Contains("boxes[0] must be (G, 4), got [1, 5]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new DetectionBatch(image, torch.zeros([2, 3], torch.int64), [Boxes(1), Boxes(0)], [Labels(1), Labels(0)], [Flags(1), Flags(0)], [Flags(1), Flags(0)], ids));
        Assert.Contains("image_size must be (2, 2)", e.Message);
    }
}

[Collection(SequentialCollection.Name)]
public class DetectionBatchLifetimeTests
{
    [Fact]
    public void Batches_free_every_tensor_and_the_loader_leaks_nothing()
    {
        var data = new SyntheticDetection(samples: 24, size: 64, max_object: 40, seed: 1);
        var transform = DetectionTransform.Train(shortSides: [48, 64, 80], maxSide: 100, sizeDivisible: 16);
        var loader = new DataLoader<DetectionBatch>(data, new DataLoaderOptions { BatchSize = 8, Prefetch = 2 }, transform);
        void Run(int epoch)
        {
            foreach (var batch in loader.Epoch(epoch))
            {
                using var scope = torch.NewDisposeScope();
                Assert.Equal(ScalarType.Float32, batch.image.dtype);
                Assert.Equal(0, batch.image.size(2) % 16);
                _ = batch.boxes.Select(b => b.sum()).ToList();
            }
            using var kept = loader.GetBatch(epoch, 1);
            kept.To(Device.CPU);
        }
        Run(0);
        var before = SequentialCollection.SettledLiveCount();
        for (var epoch = 1; epoch <= 5; epoch++) Run(epoch);
        Assert.Equal(before, SequentialCollection.SettledLiveCount());

        // A batch from Collate: disposing it frees all of its tensors.
        var start = SequentialCollection.SettledLiveCount();
        var batch = data.Collate([0, 1, 2]);
        Assert.Equal(start + batch.Tensors.Count, Tensor.LiveCount);
        batch.To(Device.CPU);
        Assert.Equal(start + batch.Tensors.Count, Tensor.LiveCount);
        batch.Dispose();
        batch.Dispose();
        Assert.Equal(start, Tensor.LiveCount);
    }
}
