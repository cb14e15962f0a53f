namespace Distill.Data.Tests;

/// <summary>
/// Data-parallel shares of a batch (<see cref="LoaderShard"/>): the ranks' rows together are the whole batch, augmented with
/// the whole batch's draws; a transform that cannot do that refuses a share; channels_last batches hold the same values.
/// </summary>
public class ShardTests
{
    private static readonly SyntheticImages Images = new(classes: 4, samples: 40, size: 8, seed: 3);

    private static DataLoader<ImageBatch> Loader(LoaderShard? shard, MemoryFormat format = MemoryFormat.Contiguous) =>
        new(Images, new DataLoaderOptions { BatchSize = 10, Seed = 5, Shard = shard, Prefetch = 0, MemoryFormat = format },
            new ImageTransform(padding: 2, horizontalFlip: true));

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void The_ranks_rows_together_are_the_whole_augmented_batch(int ranks)
    {
        using var whole = Loader(null).GetBatch(1, 2);
        var shares = Enumerable.Range(0, ranks).Select(r => Loader(new LoaderShard(r, ranks)).GetBatch(1, 2)).ToList();
        try
        {
            // 10 rows over 3 ranks: 3, 3, 4 (⌊r·n/W⌋ boundaries).
            Assert.Equal(ranks == 3 ? [3L, 3, 4] : [5L, 5], shares.Select(s => s.Count));
            using var images = torch.cat(shares.Select(s => s.image).ToList());
            using var labels = torch.cat(shares.Select(s => s.label).ToList());
            Assert.True(whole.image.equal(images));
            Assert.True(whole.label.equal(labels));
        }
        finally
        {
            foreach (var s in shares) s.Dispose();
        }
    }

    private sealed class WholeBatchOnly : IBatchTransform<ImageBatch>
    {
        public ImageBatch Apply(ImageBatch batch, Generator generator) => batch;
    }

    [Fact]
    public void A_transform_that_cannot_augment_a_share_refuses_it()
    {
        var loader = new DataLoader<ImageBatch>(Images, new DataLoaderOptions { BatchSize = 10, Shard = new LoaderShard(1, 2), Prefetch = 0 }, new WholeBatchOnly());
        var error = Assert.Throws<NotSupportedException>(() => loader.GetBatch(0, 0));
        Assert.Contains("WholeBatchOnly cannot augment a share of a batch (rows 5.. of 10)", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoaderOptions { Shard = new LoaderShard(2, 2) }.Validate());
    }

    [Fact]
    public void Channels_last_batches_hold_the_same_images()
    {
        using var plain = Loader(null).GetBatch(0, 1);
        using var channelsLast = Loader(null, MemoryFormat.ChannelsLast).GetBatch(0, 1);
        Assert.True(channelsLast.image.is_contiguous(MemoryFormat.ChannelsLast));
        Assert.True(plain.image.equal(channelsLast.image));
    }
}
