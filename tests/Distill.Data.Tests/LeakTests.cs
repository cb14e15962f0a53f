namespace Distill.Data.Tests;

[Collection(SequentialCollection.Name)]
public class LeakTests
{
    [Fact]
    public void Many_epochs_with_prefetch_augmentation_breaks_and_failures_leave_no_tensor_behind()
    {
        using var data = new SyntheticImages(samples: 96, size: 16, seed: 1);
        var transform = ImageTransform.Train([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]);
        var background = new DataLoader<ImageBatch>(data, new DataLoaderOptions { BatchSize = 16, Prefetch = 3 }, transform);
        var inline = new DataLoader<ImageBatch>(data, new DataLoaderOptions { BatchSize = 16, Prefetch = 0 }, transform);
        var failing = new DataLoader<IndexBatch>(new IndexDataset(40, failAt: 30), new DataLoaderOptions { BatchSize = 4, Prefetch = 2 }, new NoiseTransform());
        void Run(int epoch)
        {
            foreach (var loader in new[] { background, inline })
            {
                foreach (var batch in loader.Epoch(epoch))
                {
                    using var scope = torch.NewDisposeScope();
                    _ = (batch.image * 2).sum();
                }
                // Leaving early, with batches still queued.
                foreach (var batch in loader.Epoch(epoch))
                    if (batch.Count > 0) break;
                using var kept = loader.GetBatch(epoch, 1);
            }
            Assert.Throws<InvalidOperationException>(() => { foreach (var _ in failing.Epoch(epoch)) { } });
        }

        Run(0); // warm-up: lazily created state
        var before = SequentialCollection.SettledLiveCount();
        for (var epoch = 1; epoch <= 30; epoch++) Run(epoch);
        Assert.Equal(before, SequentialCollection.SettledLiveCount());
    }

    [Fact]
    public void In_memory_data_sets_free_their_tensors_when_disposed()
    {
        var before = SequentialCollection.SettledLiveCount();
        using (var dir = new TempDir())
        {
            var path = dir.File("t.safetensors");
            using (var scope = torch.NewDisposeScope())
                Safetensors.Save(path, new Dictionary<string, Tensor>
                {
                    ["image"] = torch.zeros([4, 3, 8, 8], dtype: torch.uint8),
                    ["label"] = torch.tensor(new long[] { 0, 1, 2, 3 }),
                });
            var data = new TensorImages(path, classes: 4, size: 8);
            using (var batch = data.Collate([0, 3])) Assert.Equal(2, batch.Count);
            data.Dispose();
        }
        Assert.Equal(before, SequentialCollection.SettledLiveCount());
    }
}
