using System.Collections;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Distill.Data;

/// <summary>How a <see cref="DataLoader{TBatch}"/> batches and orders a data set.</summary>
public sealed record DataLoaderOptions
{
    public int BatchSize { get; init; } = 64;

    /// <summary>A new random order every epoch (a pure function of <see cref="Seed"/> and the epoch).</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Leave out the last, smaller batch of an epoch.</summary>
    public bool DropLast { get; init; }

    /// <summary>Seeds the epoch orders and the transform's random draws (e.g. <c>TrainOptions.SeedFor("loader")</c>).</summary>
    public ulong Seed { get; init; }

    /// <summary>Batches prepared ahead on a background thread; 0 prepares each batch on the consuming thread.</summary>
    public int Prefetch { get; init; } = 2;

    /// <summary>Where batches are delivered (moved there before the transform runs); null keeps the data set's device.</summary>
    public Device? Device { get; init; }

    /// <summary>
    /// One data-parallel rank's share: every batch is the rows of the same global batch (the same order, seed and
    /// augmentation draws as one process) that fall to this rank — rows ⌊r·n/W⌋ .. ⌊(r+1)·n/W⌋ of a batch of n.
    /// Null: whole batches.
    /// </summary>
    public LoaderShard? Shard { get; init; }

    /// <summary>The layout of the batches' images, applied after the transform (<see cref="IBatch.ToMemoryFormat"/>).</summary>
    public MemoryFormat MemoryFormat { get; init; } = MemoryFormat.Contiguous;

    public void Validate()
    {
        if (BatchSize < 1) throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "the batch size must be at least 1");
        if (Prefetch < 0) throw new ArgumentOutOfRangeException(nameof(Prefetch), Prefetch, "the prefetch depth must not be negative");
        if (Shard is { } shard && (shard.Count < 1 || shard.Rank < 0 || shard.Rank >= shard.Count))
            throw new ArgumentOutOfRangeException(nameof(Shard), shard, "the shard's rank must be in 0..count-1");
    }
}

/// <summary>Rank <paramref name="Rank"/> of <paramref name="Count"/> data-parallel ranks.</summary>
public readonly record struct LoaderShard(int Rank, int Count)
{
    /// <summary>This rank's rows of a batch of <paramref name="total"/>: the first and how many.</summary>
    public (int Start, int Count) Rows(int total)
    {
        var start = (int)((long)total * Rank / Count);
        return (start, (int)((long)total * (Rank + 1) / Count) - start);
    }
}

/// <summary>
/// Batches a data set for training. Every epoch's order is derived from (<see cref="DataLoaderOptions.Seed"/>,
/// epoch) and every batch's augmentation from (seed, epoch, batch index), so
/// <c>Epoch(e, startBatch: k)</c> yields exactly the batches k, k+1, ... of an uninterrupted epoch e: a
/// resumed run needs only (epoch, batch index), which <c>TrainingState</c> already stores.
/// <para>
/// With <see cref="DataLoaderOptions.Prefetch"/> &gt; 0 a background thread prepares batches (collate,
/// move to the device, transform) while the consumer trains, at most Prefetch ahead. Batches are the same
/// with or without it. A yielded batch is owned by the enumeration: it is freed when the enumerator moves
/// on or is disposed (keep a clone of anything needed longer); <see cref="GetBatch"/> hands one over instead.
/// </para>
/// </summary>
public sealed class DataLoader<TBatch> where TBatch : class, IBatch
{
    private readonly object _orderLock = new();
    private int _orderEpoch = -1;
    private int[] _order = [];

    public DataLoader(IBatchDataset<TBatch> dataset, DataLoaderOptions? options = null, IBatchTransform<TBatch>? transform = null)
    {
        Dataset = dataset ?? throw new ArgumentNullException(nameof(dataset));
        Options = options ?? new DataLoaderOptions();
        Options.Validate();
        Transform = transform;
    }

    public IBatchDataset<TBatch> Dataset { get; }
    public DataLoaderOptions Options { get; }
    public IBatchTransform<TBatch>? Transform { get; }

    /// <summary>Batches per epoch: ⌈Count / BatchSize⌉, or ⌊Count / BatchSize⌋ with DropLast.</summary>
    public long BatchesPerEpoch => Options.DropLast
        ? Dataset.Count / Options.BatchSize
        : (Dataset.Count + (long)Options.BatchSize - 1) / Options.BatchSize;

    /// <summary>
    /// The sample order of an epoch: <c>torch.randperm(Count, generator)</c> with a generator seeded from
    /// (seed, epoch) when shuffling, else 0, 1, 2, ...
    /// </summary>
    public int[] Order(int epoch) => (int[])SharedOrder(epoch).Clone();

    /// <summary>The cached order of the latest epoch asked for (never handed out to callers).</summary>
    private int[] SharedOrder(int epoch)
    {
        if (epoch < 0) throw new ArgumentOutOfRangeException(nameof(epoch), epoch, "epochs are numbered from 0");
        lock (_orderLock)
        {
            if (_orderEpoch != epoch)
            {
                _order = ComputeOrder(epoch);
                _orderEpoch = epoch;
            }
            return _order;
        }
    }

    private int[] ComputeOrder(int epoch)
    {
        var n = Dataset.Count;
        if (!Options.Shuffle) return Enumerable.Range(0, n).ToArray();
        using var generator = new Generator(Seeds.Combine(Options.Seed, Seeds.Order, (ulong)epoch));
        using var perm = torch.randperm(n, torch.int32, generator: generator);
        return perm.ToArray<int>();
    }

    /// <summary>The sample indices of batch <paramref name="batch"/> of epoch <paramref name="epoch"/>.</summary>
    public int[] BatchIndices(int epoch, long batch) => Slice(SharedOrder(epoch), batch).ToArray();

    private ReadOnlySpan<int> Slice(int[] order, long batch)
    {
        if (batch < 0 || batch >= BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"an epoch has {BatchesPerEpoch} batches");
        var start = (int)(batch * Options.BatchSize);
        return order.AsSpan(start, Math.Min(Options.BatchSize, order.Length - start));
    }

    /// <summary>One batch, prepared exactly as the enumeration prepares it; the caller owns (and disposes) it.</summary>
    public TBatch GetBatch(int epoch, long batch) => Prepare(epoch, batch, SharedOrder(epoch));

    /// <summary>The batches of epoch <paramref name="epoch"/> (0-based), from batch <paramref name="startBatch"/> on.</summary>
    public LoaderEpoch<TBatch> Epoch(int epoch, long startBatch = 0)
    {
        if (startBatch < 0 || startBatch > BatchesPerEpoch)
            throw new ArgumentOutOfRangeException(nameof(startBatch), startBatch, $"an epoch has {BatchesPerEpoch} batches");
        return new LoaderEpoch<TBatch>(this, epoch, startBatch, SharedOrder(epoch));
    }

    /// <summary>
    /// Collates, moves and transforms one batch inside its own dispose scope and without grad recording
    /// (both are per thread); the result's tensors are detached from every scope and handed to the caller.
    /// </summary>
    internal TBatch Prepare(int epoch, long batchIndex, int[] order)
    {
        var indices = Slice(order, batchIndex);
        var (start, count) = Options.Shard is { } shard ? shard.Rows(indices.Length) : (0, indices.Length);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var batch = Dataset.Collate(indices.Slice(start, count));
        try
        {
            if (Options.Device is { } device) batch.To(device);
            if (Transform is not null)
            {
                using var generator = new Generator(Seeds.Combine(Options.Seed, Seeds.Augment, (ulong)epoch, (ulong)batchIndex));
                batch = Transform.Apply(batch, generator, new BatchRows(start, indices.Length));
            }
            if (Options.MemoryFormat != MemoryFormat.Contiguous) batch.ToMemoryFormat(Options.MemoryFormat);
            foreach (var t in batch.Tensors) t.DetachFromDisposeScope();
            return batch;
        }
        catch
        {
            batch.Dispose();
            throw;
        }
    }
}

/// <summary>
/// One epoch of a <see cref="DataLoader{TBatch}"/> (from a start batch on). Enumerate it once per pass;
/// <see cref="WaitTime"/> and <see cref="PrepareTime"/> give the loader's share of the wall time.
/// </summary>
public sealed class LoaderEpoch<TBatch> : IEnumerable<TBatch> where TBatch : class, IBatch
{
    private readonly DataLoader<TBatch> _loader;
    private readonly int[] _order;
    private long _waitTicks;
    private long _prepareTicks;

    internal LoaderEpoch(DataLoader<TBatch> loader, int epoch, long startBatch, int[] order)
    {
        _loader = loader;
        _order = order;
        Epoch = epoch;
        StartBatch = startBatch;
    }

    public int Epoch { get; }
    public long StartBatch { get; }

    /// <summary>The batches this enumeration yields.</summary>
    public long Count => _loader.BatchesPerEpoch - StartBatch;

    /// <summary>Time the consumer spent blocked waiting for a batch (all of the preparation when not prefetching).</summary>
    public TimeSpan WaitTime => TimeSpan.FromTicks(Interlocked.Read(ref _waitTicks));

    /// <summary>Time spent preparing batches, on whichever thread did it.</summary>
    public TimeSpan PrepareTime => TimeSpan.FromTicks(Interlocked.Read(ref _prepareTicks));

    public IEnumerator<TBatch> GetEnumerator() => _loader.Options.Prefetch > 0
        ? new BackgroundEnumerator(this, _loader.Options.Prefetch)
        : new InlineEnumerator(this);

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private TBatch Prepare(long batch)
    {
        var start = Stopwatch.GetTimestamp();
        try { return _loader.Prepare(Epoch, batch, _order); }
        finally { Interlocked.Add(ref _prepareTicks, Stopwatch.GetElapsedTime(start).Ticks); }
    }

    private long End => _loader.BatchesPerEpoch;

    /// <summary>Prepares each batch on the consuming thread.</summary>
    private sealed class InlineEnumerator(LoaderEpoch<TBatch> epoch) : IEnumerator<TBatch>
    {
        private long _next = epoch.StartBatch;
        private TBatch? _current;

        public TBatch Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true");
        object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            _current?.Dispose();
            _current = null;
            if (_next >= epoch.End) return false;
            var start = Stopwatch.GetTimestamp();
            try { _current = epoch.Prepare(_next++); }
            finally { Interlocked.Add(ref epoch._waitTicks, Stopwatch.GetElapsedTime(start).Ticks); }
            return true;
        }

        public void Reset() => throw new NotSupportedException("enumerate the epoch again instead");

        public void Dispose()
        {
            _current?.Dispose();
            _current = null;
            _next = epoch.End;
        }
    }

    /// <summary>
    /// A dedicated thread prepares batches into a bounded queue. Its tensors are created in its own dispose
    /// scope and detached before they cross threads; an exception there is rethrown from MoveNext after the
    /// batches before it. Disposing (also after a break) stops the thread and frees every queued batch.
    /// </summary>
    private sealed class BackgroundEnumerator : IEnumerator<TBatch>
    {
        private readonly LoaderEpoch<TBatch> _epoch;
        private readonly BlockingCollection<TBatch> _queue;
        private readonly CancellationTokenSource _cancel = new();
        private Thread? _thread;
        private ExceptionDispatchInfo? _error;
        private TBatch? _current;
        private bool _disposed;

        public BackgroundEnumerator(LoaderEpoch<TBatch> epoch, int prefetch)
        {
            _epoch = epoch;
            _queue = new BlockingCollection<TBatch>(new ConcurrentQueue<TBatch>(), prefetch);
        }

        public TBatch Current => _current ?? throw new InvalidOperationException("MoveNext has not returned true");
        object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            if (_disposed) return false;
            _current?.Dispose();
            _current = null;
            if (_thread is null)
            {
                _thread = new Thread(Produce) { IsBackground = true, Name = $"Distill.Data loader (epoch {_epoch.Epoch})" };
                _thread.Start();
            }
            var start = Stopwatch.GetTimestamp();
            var got = _queue.TryTake(out var batch, Timeout.Infinite);
            Interlocked.Add(ref _epoch._waitTicks, Stopwatch.GetElapsedTime(start).Ticks);
            if (got)
            {
                _current = batch;
                return true;
            }
            _error?.Throw();
            return false;
        }

        private void Produce()
        {
            var token = _cancel.Token;
            try
            {
                for (var b = _epoch.StartBatch; b < _epoch.End && !token.IsCancellationRequested; b++)
                {
                    var batch = _epoch.Prepare(b);
                    try { _queue.Add(batch, token); }
                    catch
                    {
                        batch.Dispose();
                        throw;
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested) { }
            catch (Exception e) { _error = ExceptionDispatchInfo.Capture(e); }
            finally { _queue.CompleteAdding(); }
        }

        public void Reset() => throw new NotSupportedException("enumerate the epoch again instead");

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _current?.Dispose();
            _current = null;
            if (_thread is not null)
            {
                _cancel.Cancel();
                _thread.Join();
                while (_queue.TryTake(out var left)) left.Dispose();
            }
            _queue.Dispose();
            _cancel.Dispose();
        }
    }
}
