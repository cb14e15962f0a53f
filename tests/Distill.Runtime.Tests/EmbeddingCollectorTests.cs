namespace Distill.Runtime.Tests;

public class EmbeddingCollectorTests
{
    // A fixed linear map of the flattened [1, 2, 3] image x = (x0 .. x5), row-major:
    // e(x) = (x0, x1 + x5).
    private static readonly float[,] Map = { { 1, 0 }, { 0, 1 }, { 0, 0 }, { 0, 0 }, { 0, 0 }, { 0, 1 } };

    private static Tensor Linear(Tensor images, Tensor map) => images.flatten(1).mm(map);

    [Fact]
    public void The_flip_test_sums_the_embeddings_of_the_image_and_its_mirror_then_normalises()
    {
        using var map = torch.tensor(Map);
        // One image [C=1, H=2, W=3]: rows (1 2 3), (4 5 6); mirrored along the width: (3 2 1), (6 5 4).
        // e(image) = (1, 2 + 6) = (1, 8); e(mirror) = (3, 2 + 4) = (3, 6); sum (4, 14), norm √212.
        // Second image: rows (0 -1 0), (0 0 2): e = (0, -1 + 2) = (0, 1); mirror (0 -1 0), (2 0 0): e = (0, -1);
        // the sum is zero, and normalising a zero vector leaves it zero (no NaN).
        using var images = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6, 0, -1, 0, 0, 0, 2 }, new long[] { 2, 1, 2, 3 });
        using var flipped = new EmbeddingCollector(flip: true);
        flipped.Add(images, x => Linear(x, map));
        Assert.Equal(2, flipped.Count);
        Assert.Equal(2, flipped.Dimension);
        var e = flipped.Embeddings;
        Assert.Equal([2L, 2L], e.shape);
        Assert.Equal(ScalarType.Float32, e.dtype);
        var values = e.ToArray<float>();
        Assert.Equal(4 / Math.Sqrt(212), values[0], 6);
        Assert.Equal(14 / Math.Sqrt(212), values[1], 6);
        Assert.Equal(0f, values[2]);
        Assert.Equal(0f, values[3]);

        // Without flipping: (1, 8) / √65.
        using var plain = new EmbeddingCollector();
        plain.Add(images, x => Linear(x, map));
        var p = plain.Embeddings.ToArray<float>();
        Assert.Equal(1 / Math.Sqrt(65), p[0], 6);
        Assert.Equal(8 / Math.Sqrt(65), p[1], 6);
        Assert.Equal(0, p[2]);
        Assert.Equal(1, p[3], 6);
    }

    [Fact]
    public void Embeddings_keep_the_sample_order_over_batches_and_pairs_score_as_cosine_similarity()
    {
        using var g = new Generator(7);
        using var map = torch.randn([12, 5], generator: g);
        using var images = torch.randn([17, 3, 2, 2], generator: g, dtype: ScalarType.Float64);
        using var collector = new EmbeddingCollector(flip: true);
        long start = 0;
        foreach (var size in new long[] { 5, 1, 8, 3 })
        {
            using var batch = images.narrow(0, start, size);
            collector.Add(batch, x => x.flatten(1).to(ScalarType.Float32).mm(map));
            start += size;
        }
        Assert.Equal(17, collector.Count);

        // The same computed in one go, by hand.
        using var scope = torch.NewDisposeScope();
        var sum = images.flatten(1).to(ScalarType.Float32).mm(map).add(images.flip(-1).flatten(1).to(ScalarType.Float32).mm(map));
        var expected = sum.div(sum.norm(2, [1], keepdim: true));
        Assert.True(collector.Embeddings.allclose(expected, rtol: 1e-5, atol: 1e-6));

        int[] first = [0, 3, 16, 5, 9, 2, 2, 11];
        int[] second = [1, 4, 0, 5, 10, 7, 13, 6];
        bool[] same = [true, false, true, true, false, false, true, false];
        var similarities = collector.Similarities(first, second);
        var rows = expected.to(ScalarType.Float64);
        for (var i = 0; i < first.Length; i++)
        {
            var dot = rows.select(0, first[i]).mul(rows.select(0, second[i])).sum().item<double>();
            Assert.Equal(dot, similarities[i], 6);
        }
        Assert.Equal(1.0, similarities[3], 6); // a row with itself

        var r = collector.Score(first, second, same, folds: 2);
        var direct = Verification.Evaluate(similarities, same, folds: 2);
        Assert.Equal(direct.Folds, r.Folds);
        Assert.Equal(direct.TarAtFar, r.TarAtFar);
        Assert.Equal(direct.Auc, r.Auc);
        var tuples = collector.Score(first.Select((f, i) => (f, second[i], same[i])).ToList(), folds: 2);
        Assert.Equal(direct.Folds, tuples.Folds);

        collector.Reset();
        Assert.Equal(0, collector.Count);
        Assert.Throws<InvalidOperationException>(() => collector.Embeddings);
    }

    [Fact]
    public void An_identity_embedding_leaves_the_callers_batch_alive()
    {
        using var images = torch.tensor(new float[,] { { 3, 4 }, { 0, 2 } });
        using var collector = new EmbeddingCollector();
        collector.Add(images, x => x);
        Assert.False(images.IsDisposed);
        Assert.Equal([3f, 4f, 0f, 2f], images.ToArray<float>());
        Assert.Equal([0.6f, 0.8f, 0f, 1f], collector.Embeddings.ToArray<float>());
        Assert.Equal([0.8], collector.Similarities([0], [1]).Select(s => Math.Round(s, 6)));
    }

    [Fact]
    public void Bad_embeddings_and_pairs_are_rejected()
    {
        using var collector = new EmbeddingCollector(flip: true);
        using var images = torch.ones([4, 1, 2, 2]);
        var e = Assert.Throws<ArgumentException>(() => collector.Add(images, x => x.flatten(1).sum(1)));
        Assert.Contains("must return [N, D] with N = 4", e.Message);
        e = Assert.Throws<ArgumentException>(() => collector.Add(images, x => x.flatten(1).narrow(0, 0, 3)));
        Assert.Contains("got shape [3, 4]", e.Message);
        e = Assert.Throws<ArgumentException>(() => collector.Add(images, x => x.flatten(1).to(ScalarType.Int64)));
        Assert.Contains("floating point", e.Message);
        Assert.Equal(0, collector.Count);

        collector.Add(images, x => x.flatten(1));
        e = Assert.Throws<ArgumentException>(() => collector.Add(images, x => x.flatten(1).narrow(1, 0, 2)));
        Assert.Contains("width 2", e.Message);
        Assert.Contains("earlier batches had 4", e.Message);
        Assert.Equal(4, collector.Count);

        using var vector = torch.ones([4]);
        Assert.Throws<ArgumentException>(() => collector.Add(vector, x => x));

        var range = Assert.Throws<ArgumentOutOfRangeException>(() => collector.Similarities([0, 4], [1, 2]));
        Assert.Contains("pair 1 refers to embedding 4, but 4 were collected", range.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => collector.Similarities([0], [-1]));
        e = Assert.Throws<ArgumentException>(() => collector.Similarities([0, 1], [1]));
        Assert.Contains("2 first and 1 second", e.Message);
        e = Assert.Throws<ArgumentException>(() => collector.Score([0, 1], [1, 2], [true], folds: 2));
        Assert.Contains("2 pairs but 1 same/different flags", e.Message);

        collector.Dispose();
        Assert.Throws<ObjectDisposedException>(() => collector.Add(images, x => x.flatten(1)));
    }
}

[Collection(GlobalStateCollection.Name)]
public class EmbeddingCollectorLeakTests
{
    [Fact]
    public void Collecting_and_scoring_frees_every_tensor_it_made()
    {
        using var map = torch.randn([12, 8]);
        using var images = torch.randn([10, 3, 2, 2]);
        int[] first = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        int[] second = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
        bool[] same = [true, false, true, false, true, false, true, false, true, false];
        void Evaluate()
        {
            using var collector = new EmbeddingCollector(flip: true);
            for (var i = 0; i < 5; i++)
            {
                using var batch = images.narrow(0, 2 * i, 2);
                collector.Add(batch, x => x.flatten(1).mm(map).relu().add(1));
            }
            _ = collector.Embeddings;
            collector.Score(first, second, same, folds: 5);
            Assert.Throws<ArgumentException>(() => collector.Add(images, x => x.flatten(1).narrow(1, 0, 3))); // fails after making tensors
            collector.Add(images, x => x.flatten(1).mm(map)); // more rows after the join
            Assert.Equal(20, collector.Embeddings.size(0));
        }
        Evaluate();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = Tensor.LiveCount;
        for (var i = 0; i < 20; i++) Evaluate();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(before, Tensor.LiveCount);
    }
}
