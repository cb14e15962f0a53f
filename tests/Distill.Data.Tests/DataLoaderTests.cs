namespace Distill.Data.Tests;

public class DataLoaderTests
{
    private static List<long[]> Indices(IEnumerable<IndexBatch> batches) => batches.Select(b => b.Indices).ToList();

    private static List<(long[] Index, float[] Value)> Contents(IEnumerable<IndexBatch> batches) =>
        batches.Select(b => (b.Indices, b.value.ToArray<float>())).ToList();

    [Fact]
    public void Batches_cover_every_sample_once_with_a_smaller_last_batch()
    {
        var loader = new DataLoader<IndexBatch>(new IndexDataset(10), new DataLoaderOptions { BatchSize = 4, Seed = 3 });
        Assert.Equal(3, loader.BatchesPerEpoch);
        var batches = Indices(loader.Epoch(0));
        Assert.Equal([4, 4, 2], batches.Select(b => b.Length));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), batches.SelectMany(b => b).Order());
    }

    [Fact]
    public void Drop_last_leaves_out_the_partial_batch()
    {
        var loader = new DataLoader<IndexBatch>(new IndexDataset(10), new DataLoaderOptions { BatchSize = 4, DropLast = true, Shuffle = false });
        Assert.Equal(2, loader.BatchesPerEpoch);
        Assert.Equal([[0, 1, 2, 3], [4, 5, 6, 7]], Indices(loader.Epoch(0)));
        var exact = new DataLoader<IndexBatch>(new IndexDataset(8), new DataLoaderOptions { BatchSize = 4, DropLast = true });
        Assert.Equal(2, exact.BatchesPerEpoch);
    }

    [Fact]
    public void Without_shuffling_the_order_is_sequential()
    {
        var loader = new DataLoader<IndexBatch>(new IndexDataset(7), new DataLoaderOptions { BatchSize = 3, Shuffle = false });
        Assert.Equal([[0, 1, 2], [3, 4, 5], [6]], Indices(loader.Epoch(5)));
    }

    [Fact]
    public void The_order_is_a_function_of_seed_and_epoch()
    {
        DataLoader<IndexBatch> Loader(ulong seed) => new(new IndexDataset(100), new DataLoaderOptions { BatchSize = 10, Seed = seed });
        var a = Loader(7);
        var b = Loader(7);
        Assert.Equal(a.Order(0), b.Order(0));
        Assert.Equal(a.Order(3), b.Order(3));
        Assert.NotEqual(a.Order(0), a.Order(1));
        Assert.NotEqual(a.Order(0), Loader(8).Order(0));
        Assert.NotEqual(Enumerable.Range(0, 100), a.Order(0));
        Assert.Equal(Enumerable.Range(0, 100), a.Order(2).Order());
        // Computing epoch 3 first (as a resumed run does) gives the same order as reaching it.
        Assert.Equal(Loader(7).Order(3), a.Order(3));
    }

    [Fact]
    public void The_order_is_torch_randperm_with_a_generator_seeded_per_epoch()
    {
        // The documented contract: randperm(Count) from a generator seeded with Combine(seed, "order", epoch).
        var loader = new DataLoader<IndexBatch>(new IndexDataset(50), new DataLoaderOptions { Seed = 11 });
        using var generator = new Generator(Seeds.Combine(11, Seeds.Order, 4));
        using var perm = torch.randperm(50, generator: generator);
        Assert.Equal(perm.ToArray<long>().Select(v => (int)v), loader.Order(4));
    }

    [Fact]
    public void An_epoch_started_at_batch_k_yields_the_uninterrupted_epochs_batches_from_k()
    {
        var options = new DataLoaderOptions { BatchSize = 6, Seed = 21, Prefetch = 2 };
        var loader = new DataLoader<IndexBatch>(new IndexDataset(40), options, new NoiseTransform());
        var full = Contents(loader.Epoch(2));
        for (var k = 0; k <= 7; k++)
        {
            // A fresh loader, as after a restart.
            var resumed = Contents(new DataLoader<IndexBatch>(new IndexDataset(40), options, new NoiseTransform()).Epoch(2, startBatch: k));
            Assert.Equal(full.Count - k, resumed.Count);
            for (var i = 0; i < resumed.Count; i++)
            {
                Assert.Equal(full[k + i].Index, resumed[i].Index);
                Assert.Equal(full[k + i].Value, resumed[i].Value);
            }
        }
        Assert.Empty(loader.Epoch(2, startBatch: loader.BatchesPerEpoch));
        Assert.Throws<ArgumentOutOfRangeException>(() => loader.Epoch(2, startBatch: loader.BatchesPerEpoch + 1));
    }

    [Fact]
    public void GetBatch_prepares_the_same_batch_as_the_enumeration()
    {
        var loader = new DataLoader<IndexBatch>(new IndexDataset(30), new DataLoaderOptions { BatchSize = 8, Seed = 5 }, new NoiseTransform());
        var epoch = Contents(loader.Epoch(1));
        using var third = loader.GetBatch(1, 2);
        Assert.Equal(epoch[2].Index, third.Indices);
        Assert.Equal(epoch[2].Value, third.value.ToArray<float>());
        Assert.Equal(epoch[2].Index.Select(i => (int)i), loader.BatchIndices(1, 2));
    }

    [Fact]
    public void Augmentation_draws_differ_between_batches_and_epochs()
    {
        var loader = new DataLoader<IndexBatch>(new IndexDataset(8), new DataLoaderOptions { BatchSize = 8, Shuffle = false }, new NoiseTransform());
        var e0 = Contents(loader.Epoch(0)).Single().Value;
        var e1 = Contents(loader.Epoch(1)).Single().Value;
        Assert.NotEqual(e0, e1);
        Assert.Equal(e0, Contents(loader.Epoch(0)).Single().Value);
    }

    [Fact]
    public void Prefetching_yields_exactly_the_batches_of_the_inline_loader()
    {
        var inline = new DataLoader<IndexBatch>(new IndexDataset(53), new DataLoaderOptions { BatchSize = 5, Seed = 9, Prefetch = 0 }, new NoiseTransform());
        var background = new DataLoader<IndexBatch>(new IndexDataset(53), new DataLoaderOptions { BatchSize = 5, Seed = 9, Prefetch = 3 }, new NoiseTransform());
        for (var e = 0; e < 3; e++)
        {
            var a = Contents(inline.Epoch(e));
            var b = Contents(background.Epoch(e));
            Assert.Equal(a.Count, b.Count);
            for (var i = 0; i < a.Count; i++)
            {
                Assert.Equal(a[i].Index, b[i].Index);
                Assert.Equal(a[i].Value, b[i].Value);
            }
        }
    }

    [Fact]
    public void The_background_thread_prepares_batches_ahead_while_the_consumer_holds_one()
    {
        var data = new IndexDataset(64, delayMs: 5);
        var loader = new DataLoader<IndexBatch>(data, new DataLoaderOptions { BatchSize = 4, Prefetch = 2, Shuffle = false });
        using var e = loader.Epoch(0).GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.Equal([0, 1, 2, 3], e.Current.Indices);
        // While the consumer "trains" on batch 0, the loader fills its queue: batch 0 taken, 1 and 2
        // queued, 3 prepared and waiting for room — and no further (bounded).
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (data.Collated < 4 && DateTime.UtcNow < deadline) Thread.Sleep(5);
        Assert.Equal(4, data.Collated);
        Thread.Sleep(100);
        Assert.Equal(4, data.Collated);
        Assert.DoesNotContain(Environment.CurrentManagedThreadId, data.Threads);
        var next = 1;
        while (e.MoveNext()) Assert.Equal(Enumerable.Range(4 * next++, 4).Select(i => (long)i), e.Current.Indices);
        Assert.Equal(16, next);
    }

    [Fact]
    public void Inline_loading_runs_on_the_consuming_thread()
    {
        var data = new IndexDataset(8);
        var loader = new DataLoader<IndexBatch>(data, new DataLoaderOptions { BatchSize = 4, Prefetch = 0 });
        Assert.Equal(2, loader.Epoch(0).Count());
        Assert.Equal([Environment.CurrentManagedThreadId], data.Threads.Distinct());
    }

    [Fact]
    public void A_failure_in_the_loader_thread_surfaces_in_MoveNext_after_the_earlier_batches()
    {
        foreach (var prefetch in new[] { 0, 2 })
        {
            var loader = new DataLoader<IndexBatch>(new IndexDataset(20, failAt: 13), new DataLoaderOptions { BatchSize = 5, Shuffle = false, Prefetch = prefetch });
            var seen = new List<long[]>();
            var error = Assert.Throws<InvalidOperationException>(() =>
            {
                foreach (var b in loader.Epoch(0)) seen.Add(b.Indices);
            });
            Assert.Equal("sample 13 is broken", error.Message);
            Assert.Equal([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]], seen);
        }
    }

    [Fact]
    public void Batches_are_made_without_grad_and_leave_the_consumers_grad_mode_alone()
    {
        foreach (var prefetch in new[] { 0, 2 })
        {
            Assert.True(torch.is_grad_enabled());
            var loader = new DataLoader<IndexBatch>(new IndexDataset(12), new DataLoaderOptions { BatchSize = 4, Prefetch = prefetch }, new GradProbe());
            foreach (var b in loader.Epoch(0))
            {
                Assert.False(b.value.requires_grad);
                Assert.True(torch.is_grad_enabled());
            }
        }
    }

    /// <summary>Fails unless it runs with grad recording off.</summary>
    private sealed class GradProbe : IBatchTransform<IndexBatch>
    {
        public IndexBatch Apply(IndexBatch batch, Generator generator)
        {
            Assert.False(torch.is_grad_enabled());
            return batch;
        }
    }

    [Fact]
    public void A_consumers_dispose_scope_does_not_take_the_yielded_batches()
    {
        // The batch belongs to the enumeration, not to whatever scope is open on the consuming thread.
        var loader = new DataLoader<IndexBatch>(new IndexDataset(12), new DataLoaderOptions { BatchSize = 4, Prefetch = 0 }, new NoiseTransform());
        using var outer = torch.NewDisposeScope();
        foreach (var b in loader.Epoch(0))
        {
            Assert.Equal(0, outer.Count);
            using (var inner = torch.NewDisposeScope()) _ = b.value * 2;
            Assert.False(b.value.IsDisposed);
        }
        Assert.Equal(0, outer.Count);
    }

    [Fact]
    public void A_yielded_batch_is_freed_when_the_enumerator_moves_on()
    {
        foreach (var prefetch in new[] { 0, 2 })
        {
            var loader = new DataLoader<IndexBatch>(new IndexDataset(12), new DataLoaderOptions { BatchSize = 4, Prefetch = prefetch });
            using var e = loader.Epoch(0).GetEnumerator();
            Assert.True(e.MoveNext());
            var first = e.Current;
            Assert.True(e.MoveNext());
            Assert.True(first.index.IsDisposed);
            var second = e.Current;
            e.Dispose();
            Assert.True(second.index.IsDisposed);
        }
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader<IndexBatch>(new IndexDataset(4), new DataLoaderOptions { BatchSize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader<IndexBatch>(new IndexDataset(4), new DataLoaderOptions { Prefetch = -1 }));
        var loader = new DataLoader<IndexBatch>(new IndexDataset(4));
        Assert.Throws<ArgumentOutOfRangeException>(() => loader.Order(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => loader.GetBatch(0, 1));
    }

    [Fact]
    public void Moving_to_a_device_happens_before_the_transform()
    {
        var loader = new DataLoader<IndexBatch>(new IndexDataset(6), new DataLoaderOptions { BatchSize = 3, Device = Device.CPU }, new NoiseTransform());
        foreach (var b in loader.Epoch(0)) Assert.Equal(Device.CPU, b.value.device);
    }

    [Fact]
    public void Wait_and_prepare_times_are_reported()
    {
        var loader = new DataLoader<IndexBatch>(new IndexDataset(12, delayMs: 10), new DataLoaderOptions { BatchSize = 4, Prefetch = 0 });
        var epoch = loader.Epoch(0);
        foreach (var _ in epoch) { }
        Assert.True(epoch.PrepareTime >= TimeSpan.FromMilliseconds(25), epoch.PrepareTime.ToString());
        Assert.True(epoch.WaitTime >= epoch.PrepareTime, $"{epoch.WaitTime} < {epoch.PrepareTime}");
    }

    [Fact]
    public void A_per_sample_data_set_collates_through_SampleBatchDataset()
    {
        var samples = new SampleBatchDataset<int, IndexBatch>(new Squares(), list =>
        {
            var index = torch.tensor(list.Select(v => (long)v).ToArray());
            return new IndexBatch(index, index.to(torch.float32));
        });
        var loader = new DataLoader<IndexBatch>(samples, new DataLoaderOptions { BatchSize = 3, Shuffle = false });
        Assert.Equal([[0, 1, 4], [9, 16]], Indices(loader.Epoch(0)));
    }

    private sealed class Squares : IDataset<int>
    {
        public int Count => 5;
        public int Get(int index) => index * index;
    }
}
