namespace Distill.Data.Tests;

/// <summary>
/// Tests that read the process-wide live-tensor counter run alone: xunit runs this collection after the
/// parallel ones, with nothing beside it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SequentialCollection
{
    public const string Name = "Sequential (process-wide counters)";

    /// <summary>The live native tensor count once garbage left to the GC by earlier tests is finalized.</summary>
    public static long SettledLiveCount()
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return Tensor.LiveCount;
    }
}

/// <summary>A temporary directory, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "distill-data-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    /// <summary>Creates the parent directories of a relative path and returns its full path.</summary>
    public string File(string relative)
    {
        var full = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        return full;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>
/// A data set whose batches carry the sample indices themselves (and a float copy), so loader tests can
/// see exactly which samples a batch holds; it can be made slow, and it records the threads it runs on.
/// </summary>
internal sealed class IndexDataset(int count, int delayMs = 0, int failAt = -1) : IBatchDataset<IndexBatch>
{
    private int _collated;
    public readonly System.Collections.Concurrent.ConcurrentBag<int> Threads = new();

    public int Count => count;

    /// <summary>Batches collated so far.</summary>
    public int Collated => Volatile.Read(ref _collated);

    public IndexBatch Collate(ReadOnlySpan<int> indices)
    {
        Threads.Add(Environment.CurrentManagedThreadId);
        if (delayMs > 0) Thread.Sleep(delayMs);
        if (failAt >= 0 && indices.Contains(failAt)) throw new InvalidOperationException($"sample {failAt} is broken");
        var longs = new long[indices.Length];
        for (var i = 0; i < longs.Length; i++) longs[i] = indices[i];
        var index = torch.tensor(longs);
        var value = index.to(torch.float32);
        Interlocked.Increment(ref _collated);
        return new IndexBatch(index, value);
    }
}

internal sealed class IndexBatch(Tensor index, Tensor value) : IBatch
{
    public Tensor index { get; private set; } = index;
    public Tensor value { get; set; } = value;
    public long Count => index.size(0);
    public IReadOnlyList<Tensor> Tensors => [index, value];

    public void To(Device device)
    {
        var (i, v) = (index, value);
        (index, value) = (i.to(device), v.to(device));
        i.Dispose();
        v.Dispose();
    }

    public void Dispose()
    {
        index.Dispose();
        value.Dispose();
    }

    public long[] Indices => index.ToArray<long>();
}

/// <summary>Adds a random number (drawn from the batch's generator) to the values: a transform whose result shows its seed.</summary>
internal sealed class NoiseTransform : IBatchTransform<IndexBatch>
{
    public IndexBatch Apply(IndexBatch batch, Generator generator)
    {
        var old = batch.value;
        batch.value = old + torch.rand([old.size(0)], generator: generator);
        old.Dispose();
        return batch;
    }
}
