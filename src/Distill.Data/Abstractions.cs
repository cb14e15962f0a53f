namespace Distill.Data;

/// <summary>Random access to the samples of a data set.</summary>
public interface IDataset<out TSample>
{
    /// <summary>The number of samples; valid indices are 0 .. Count - 1.</summary>
    int Count { get; }

    /// <summary>The sample at <paramref name="index"/>. A sample holding tensors belongs to the caller.</summary>
    TSample Get(int index);
}

/// <summary>
/// A batch: one tensor per field of the data set (each with the batch as dim 0). The batch owns its
/// tensors and frees them when disposed. Batch classes expose each field as a public
/// <see cref="Tensor"/> member named exactly as the field (<c>batch.image</c>, <c>batch.label</c>).
/// </summary>
public interface IBatch : IDisposable
{
    /// <summary>The number of samples in the batch.</summary>
    long Count { get; }

    /// <summary>Every tensor of the batch, in field order.</summary>
    IReadOnlyList<Tensor> Tensors { get; }

    /// <summary>Moves every field to <paramref name="device"/>, freeing the tensors it replaces.</summary>
    void To(Device device);

    /// <summary>
    /// Lays out the batch's images in <paramref name="memoryFormat"/> (channels_last for the models' convolutions),
    /// freeing the tensors it replaces. A batch without images keeps its fields as they are.
    /// </summary>
    void ToMemoryFormat(MemoryFormat memoryFormat) { }
}

/// <summary>
/// A data set that collates batches itself: the form the <see cref="DataLoader{TBatch}"/> consumes. A data
/// set class of the DSL implements it; the generator reads <typeparamref name="TBatch"/> from it.
/// </summary>
public interface IBatchDataset<out TBatch> where TBatch : IBatch
{
    int Count { get; }

    /// <summary>
    /// The batch of the samples at <paramref name="indices"/>, in that order. Called from the loader's
    /// background thread (never from two threads at once for one loader), so it must not rely on the
    /// calling thread's dispose scope or grad mode.
    /// </summary>
    TBatch Collate(ReadOnlySpan<int> indices);
}

/// <summary>
/// Changes a batch in place or replaces it (augmentation, normalisation). Draw every random number from
/// <paramref name="generator"/>: the loader seeds it from (seed, epoch, batch) so the result replays.
/// A transform that returns a new batch disposes the one it was given.
/// </summary>
public interface IBatchTransform<TBatch> where TBatch : IBatch
{
    TBatch Apply(TBatch batch, Generator generator);

    /// <summary>
    /// Transforms the rows <paramref name="rows"/> of a larger batch (one data-parallel rank's share): the random
    /// draws are the whole batch's, so the shards of all ranks together are augmented exactly as the whole batch would
    /// be in one process. A transform that cannot do that refuses shards.
    /// </summary>
    TBatch Apply(TBatch batch, Generator generator, BatchRows rows) =>
        rows.Offset == 0 && rows.Total == batch.Count
            ? Apply(batch, generator)
            : throw new NotSupportedException($"{GetType().Name} cannot augment a share of a batch (rows {rows.Offset}.. of {rows.Total}); implement Apply(batch, generator, rows) for data-parallel training");
}

/// <summary>Where a batch's rows lie in the batch it is a share of: from <paramref name="Offset"/>, of <paramref name="Total"/> rows.</summary>
public readonly record struct BatchRows(long Offset, long Total)
{
    /// <summary>The whole batch of <paramref name="count"/> rows.</summary>
    public static BatchRows Whole(long count) => new(0, count);

    /// <summary>Draws <see cref="Total"/> integers in [low, high) and keeps this share's <paramref name="count"/> of them.</summary>
    public Tensor Randint(long low, long high, long count, Generator? generator)
    {
        if (Offset == 0 && count == Total) return torch.randint(low, high, [count], generator: generator);
        using var all = torch.randint(low, high, [Total], generator: generator);
        return all.narrow(0, Offset, count).clone();
    }
}

/// <summary>
/// Adapts a per-sample data set to <see cref="IBatchDataset{TBatch}"/> with a collate function (such as
/// stacking). Samples that are <see cref="IDisposable"/> are disposed after collating.
/// </summary>
public sealed class SampleBatchDataset<TSample, TBatch> : IBatchDataset<TBatch> where TBatch : IBatch
{
    private readonly IDataset<TSample> _samples;
    private readonly Func<IReadOnlyList<TSample>, TBatch> _collate;

    public SampleBatchDataset(IDataset<TSample> samples, Func<IReadOnlyList<TSample>, TBatch> collate)
    {
        _samples = samples ?? throw new ArgumentNullException(nameof(samples));
        _collate = collate ?? throw new ArgumentNullException(nameof(collate));
    }

    public int Count => _samples.Count;

    public TBatch Collate(ReadOnlySpan<int> indices)
    {
        var list = new TSample[indices.Length];
        try
        {
            for (var i = 0; i < indices.Length; i++) list[i] = _samples.Get(indices[i]);
            return _collate(list);
        }
        finally
        {
            foreach (var s in list) (s as IDisposable)?.Dispose();
        }
    }
}

/// <summary>
/// A data set's files or arguments are wrong: names the file (<see cref="Path"/>) and, where one is at
/// fault, the record (<see cref="Record"/>: a 0-based record index of a binary file, or the 1-based line of
/// a text file such as an LFW pairs file; for a folder, <see cref="Path"/> is the image file at fault).
/// </summary>
public sealed class DatasetException : Exception
{
    public DatasetException(string message, string? path = null, long? record = null, Exception? inner = null)
        : base(message, inner)
    {
        Path = path;
        Record = record;
    }

    public string? Path { get; }
    public long? Record { get; }
}
