using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

/// <summary>
/// A group of processes that train together: a libtorch c10d process group over a TCP store hosted by rank 0
/// (PyTorch's <c>init_process_group(backend, init_method="env://")</c>), whose collectives run on Gloo (tensors on
/// any device) or NCCL (tensors on this rank's GPU; others are staged through it). Collectives are issued in the same
/// order on every rank. Under Gloo each waits at most <see cref="Timeout"/>, and a rank that dies or never arrives
/// makes the others fail with an exception naming the rank that saw it, never hang. Under NCCL a collective's wait
/// only orders the GPU's stream: libtorch's watchdog enforces the timeout and ends a process whose collective
/// outlasts it (libtorch 2.x; 1.13 does so with NCCL_ASYNC_ERROR_HANDLING=1), as in PyTorch.
/// </summary>
public sealed class ProcessGroup : IDisposable
{
    internal readonly ProcessGroupHandle Handle;

    private ProcessGroup(ProcessGroupHandle handle, int rank, int size, TimeSpan timeout, torch.distributed.Backend backend, Device device)
    {
        Handle = handle;
        Rank = rank;
        Size = size;
        Timeout = timeout;
        Backend = backend;
        Device = device;
    }

    /// <summary>What carries the collectives.</summary>
    public torch.distributed.Backend Backend { get; }

    /// <summary>Where the collectives run: this rank's GPU under NCCL, the CPU under Gloo (which also takes CUDA tensors).</summary>
    public Device Device { get; }

    /// <summary>This process's rank, 0..<see cref="Size"/>-1; rank 0 hosts the store.</summary>
    public int Rank { get; }

    /// <summary>The number of processes (the world size).</summary>
    public int Size { get; }

    /// <summary>The longest the rendezvous or one collective waits for the other ranks.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>
    /// Joins the group of <paramref name="size"/> processes that meet at <paramref name="host"/>:<paramref name="port"/>
    /// (rank 0 listens there). Returns when every rank has joined; throws after <paramref name="timeout"/> otherwise.
    /// </summary>
    /// <param name="backend">Gloo, or NCCL for CUDA training (a build of the shim against a CUDA libtorch: <see cref="torch.distributed.is_nccl_available"/>).</param>
    /// <param name="device">Under NCCL, this rank's GPU (made the calling thread's current CUDA device); ignored by Gloo.</param>
    public static ProcessGroup Create(string host, int port, int rank, int size, TimeSpan timeout,
                                      torch.distributed.Backend backend = torch.distributed.Backend.Gloo, Device? device = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        if (timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "the timeout must be positive");
        var on = Device.CPU;
        if (backend == torch.distributed.Backend.Nccl)
        {
            on = device ?? throw new ArgumentException("the nccl backend needs this rank's CUDA device (cuda:LOCAL_RANK)", nameof(device));
            if (on.Type != DeviceType.CUDA || on.Index < 0)
                throw new ArgumentException($"the nccl backend runs on one CUDA device, such as cuda:0; got {on}", nameof(device));
        }
        Check(dst_pg_new(host, port, rank, size, (long)timeout.TotalMilliseconds, torch.distributed.BackendName(backend), on.Index, out var h));
        return new ProcessGroup(new ProcessGroupHandle(h), rank, size, timeout, backend, on);
    }

    /// <summary>Sums each tensor over the ranks, in place (the same shapes on every rank; any layout).</summary>
    public unsafe void all_reduce(params Tensor[] tensors)
    {
        var handles = TensorLists.Handles(tensors);
        fixed (IntPtr* p = handles) Check(dst_pg_all_reduce_sum(Handle, p, handles.Length));
        GC.KeepAlive(tensors);
    }

    /// <summary>Copies each tensor of rank <paramref name="src"/> into the same tensor of every other rank.</summary>
    public unsafe void broadcast(IReadOnlyList<Tensor> tensors, int src = 0)
    {
        var handles = TensorLists.Handles(tensors);
        fixed (IntPtr* p = handles) Check(dst_pg_broadcast(Handle, p, handles.Length, src));
        GC.KeepAlive(tensors);
    }

    /// <summary>
    /// Returns when every rank has called it, within <see cref="Timeout"/> (to wait longer for one rank's work, have it
    /// <see cref="SetValue"/> a key and the others <see cref="GetValue"/> it with a longer timeout).
    /// </summary>
    public void barrier() => Check(dst_pg_barrier(Handle));

    /// <summary>
    /// The sum over ranks with autograd: the gradient reaching each rank's input is the sum of every rank's output
    /// gradient (what synchronised batch normalisation needs). Every rank must call it at the same point.
    /// </summary>
    public Tensor all_reduce_with_grad(Tensor x)
    {
        Check(dst_pg_all_reduce_sum_autograd(Handle, x.Handle, out var r));
        return new Tensor(r);
    }

    /// <summary>Publishes a text under <paramref name="key"/> in the group's store (a run name rank 0 chose, ...).</summary>
    public unsafe void SetValue(string key, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        fixed (byte* p = bytes) Check(dst_pg_store_set(Handle, key, p, bytes.Length));
    }

    /// <summary>
    /// The text under <paramref name="key"/>, waiting up to <paramref name="timeout"/> (null: <see cref="Timeout"/>) for a
    /// rank to set it. The wait is on the store, not a collective: the same under every backend.
    /// </summary>
    public string GetValue(string key, TimeSpan? timeout = null)
    {
        Check(dst_pg_store_get(Handle, key, timeout is { } t ? Math.Max(1, (long)t.TotalMilliseconds) : 0, out var buffer, out var length));
        try { return Marshal.PtrToStringUTF8(buffer, checked((int)length)); }
        finally { dst_free(buffer); }
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"ProcessGroup(rank {Rank} of {Size}, {torch.distributed.BackendName(Backend)})");

    public void Dispose() => Handle.Dispose();
}

/// <summary>
/// Averages the gradients of data-parallel replicas, overlapped with the backward pass (what PyTorch's
/// DistributedDataParallel does through c10d's reducer): the parameters are grouped in reverse order into buckets of
/// about <c>bucketCapMB</c>; as each bucket's gradients are accumulated its all-reduce starts, while the backward pass
/// goes on. Call <see cref="Prepare"/> before the backward pass of a step (sync false on the earlier batches of an
/// accumulation group: their gradients just accumulate locally) and <see cref="Finish"/> after it; then every rank
/// holds the mean of the ranks' gradients. A parameter no rank computed a gradient for keeps none.
/// </summary>
public sealed class GradientReducer : IDisposable
{
    private readonly GradReducerHandle _handle;
    private readonly Tensor[] _parameters;

    /// <param name="group">The process group (kept alive by the caller for the reducer's lifetime).</param>
    /// <param name="parameters">The trained parameters: the same list in the same order on every rank.</param>
    /// <param name="bucketCapMB">Bucket size in MiB (PyTorch's default 25); the first bucket is 1 MiB, so communication starts early.</param>
    public unsafe GradientReducer(ProcessGroup group, IReadOnlyList<Tensor> parameters, double bucketCapMB = 25)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (!(bucketCapMB > 0)) throw new ArgumentOutOfRangeException(nameof(bucketCapMB), bucketCapMB, "the bucket size must be positive");
        _parameters = [.. parameters];
        var handles = TensorLists.Handles(_parameters);
        var bytes = (long)(bucketCapMB * 1024 * 1024);
        IntPtr r;
        fixed (IntPtr* p = handles) Check(dst_grad_reducer_new(group.Handle, p, handles.Length, bytes, Math.Min(bytes, 1024 * 1024), out r));
        _handle = new GradReducerHandle(r);
    }

    /// <summary>The number of buckets the parameters were grouped into.</summary>
    public long BucketCount
    {
        get
        {
            Check(dst_grad_reducer_buckets(_handle, out var count));
            return count;
        }
    }

    /// <summary>Before a backward pass: <paramref name="sync"/> true for the pass whose gradients are averaged.</summary>
    public void Prepare(bool sync = true) => Check(dst_grad_reducer_prepare(_handle, sync ? 1 : 0));

    /// <summary>After the backward pass prepared with sync: waits for every bucket and writes the mean gradients.</summary>
    public void Finish() => Check(dst_grad_reducer_finish(_handle));

    public void Dispose()
    {
        _handle.Dispose();
        GC.KeepAlive(_parameters);
    }
}
