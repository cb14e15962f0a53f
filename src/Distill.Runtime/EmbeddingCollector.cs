namespace Distill.Runtime;

/// <summary>
/// Collects L2-normalised embeddings over an evaluation loop, in sample order, and scores verification
/// pairs on them (cosine similarity, then <see cref="Verification.Evaluate"/>).
/// <para>
/// Each <see cref="Add"/> runs the embedding function on a batch under no-grad; with <c>flip: true</c>
/// it also runs it on the batch mirrored along its last dimension (the width of [N, C, H, W] images)
/// and sums the two embeddings before normalising (ArcFace's "flip test"). Embeddings are kept on the
/// CPU in float32, so the loop's device memory does not grow. Putting the model in eval mode is the caller's part.
/// </para>
/// </summary>
public sealed class EmbeddingCollector : IDisposable
{
    private readonly List<Tensor> _chunks = new();
    private long _dim = -1;
    private bool _disposed;

    /// <param name="flip">Also embed each image mirrored horizontally and sum the two embeddings.</param>
    public EmbeddingCollector(bool flip = false) => Flip = flip;

    public bool Flip { get; }

    /// <summary>The embeddings collected so far.</summary>
    public long Count { get; private set; }

    /// <summary>The embedding width (-1 before the first batch).</summary>
    public long Dimension => _dim;

    /// <summary>
    /// Embeds one batch and appends its normalised embeddings. <paramref name="embed"/> maps the images
    /// [N, ...] to embeddings [N, D] (any floating dtype, any device); whatever it creates inside this
    /// call is freed here.
    /// </summary>
    public void Add(Tensor images, Func<Tensor, Tensor> embed)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(embed);
        if (images.dim() < 2)
            throw new ArgumentException($"images must be a batch [N, ...] (e.g. [N, C, H, W]), got shape [{string.Join(", ", images.shape)}]", nameof(images));
        var batch = images.size(0);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var sum = Embed(images, embed, batch, "", _dim, "earlier batches had");
        if (Flip)
        {
            var mirrored = images.flip(-1);
            sum = sum.add(Embed(mirrored, embed, batch, " (on the flipped batch)", sum.size(1), "the unflipped batch had"));
        }
        var normalised = torch.nn.functional.normalize(sum, p: 2, dim: 1).cpu().contiguous();
        _chunks.Add(normalised.DetachFromDisposeScope());
        _dim = sum.size(1);
        Count += batch;
    }

    /// <summary>
    /// Every embedding collected, [<see cref="Count"/>, <see cref="Dimension"/>] float32 on the CPU, rows in
    /// the order added. Owned by the collector: valid until the next <see cref="Add"/>, <see cref="Reset"/>
    /// or <see cref="Dispose"/> (clone it to keep it longer).
    /// </summary>
    public Tensor Embeddings
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_chunks.Count == 0) throw new InvalidOperationException("no embeddings were added yet");
            if (_chunks.Count > 1)
            {
                Tensor joined;
                using (var scope = torch.NewDisposeScope())
                    joined = torch.cat(_chunks).DetachFromDisposeScope();
                foreach (var c in _chunks) c.Dispose();
                _chunks.Clear();
                _chunks.Add(joined);
            }
            return _chunks[0];
        }
    }

    /// <summary>The cosine similarity of each pair of embeddings (rows <paramref name="first"/>[i] and <paramref name="second"/>[i]).</summary>
    public double[] Similarities(ReadOnlySpan<int> first, ReadOnlySpan<int> second)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (first.Length != second.Length)
            throw new ArgumentException($"there are {first.Length} first and {second.Length} second indices; give one of each per pair", nameof(second));
        if (first.Length == 0) return [];
        CheckIndices(first, nameof(first));
        CheckIndices(second, nameof(second));
        var all = Embeddings;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var a = all.index_select(0, Indices(first)).to(ScalarType.Float64);
        var b = all.index_select(0, Indices(second)).to(ScalarType.Float64);
        return a.mul(b).sum(1).ToArray<double>();
    }

    /// <summary>Scores pairs given as three parallel arrays (row indices into the embeddings, and the same/different flags).</summary>
    public VerificationResult Score(ReadOnlySpan<int> first, ReadOnlySpan<int> second, ReadOnlySpan<bool> same, int folds = 10, IReadOnlyList<double>? fars = null)
    {
        if (same.Length != first.Length)
            throw new ArgumentException($"there are {first.Length} pairs but {same.Length} same/different flags", nameof(same));
        return Verification.Evaluate(Similarities(first, second), same, folds, fars);
    }

    /// <summary>Scores pairs given as (first row, second row, same identity) tuples, in the protocol's order.</summary>
    public VerificationResult Score(IReadOnlyList<(int First, int Second, bool Same)> pairs, int folds = 10, IReadOnlyList<double>? fars = null)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        var first = new int[pairs.Count];
        var second = new int[pairs.Count];
        var same = new bool[pairs.Count];
        for (var i = 0; i < pairs.Count; i++) (first[i], second[i], same[i]) = pairs[i];
        return Score(first, second, same, folds, fars);
    }

    /// <summary>Forgets every embedding (for the next evaluation).</summary>
    public void Reset()
    {
        foreach (var c in _chunks) c.Dispose();
        _chunks.Clear();
        _dim = -1;
        Count = 0;
    }

    public void Dispose()
    {
        if (_disposed) return;
        Reset();
        _disposed = true;
    }

    /// <summary>One call of <paramref name="embed"/>, checked: [batch, D] floating point, D = <paramref name="width"/> when that is known (≥ 0).</summary>
    private static Tensor Embed(Tensor images, Func<Tensor, Tensor> embed, long batch, string where, long width, string widthSource)
    {
        var e = embed(images) ?? throw new InvalidOperationException($"the embedding function returned null{where}");
        if (e.dim() != 2 || e.size(0) != batch)
            throw new ArgumentException($"the embedding function must return [N, D] with N = {batch} (the batch size){where}, got shape [{string.Join(", ", e.shape)}]", nameof(embed));
        if (!e.is_floating_point())
            throw new ArgumentException($"the embedding function returned {e.dtype}{where}; embeddings must be floating point", nameof(embed));
        if (width >= 0 && e.size(1) != width)
            throw new ArgumentException($"the embedding function returned width {e.size(1)}{where}, but {widthSource} {width}", nameof(embed));
        return e.detach().to(ScalarType.Float32);
    }

    private void CheckIndices(ReadOnlySpan<int> indices, string name)
    {
        for (var i = 0; i < indices.Length; i++)
            if (indices[i] < 0 || indices[i] >= Count)
                throw new ArgumentOutOfRangeException(name, indices[i], $"pair {i} refers to embedding {indices[i]}, but {Count} were collected (rows 0 to {Count - 1})");
    }

    private static Tensor Indices(ReadOnlySpan<int> indices)
    {
        var longs = new long[indices.Length];
        for (var i = 0; i < indices.Length; i++) longs[i] = indices[i];
        return torch.tensor(longs);
    }
}
