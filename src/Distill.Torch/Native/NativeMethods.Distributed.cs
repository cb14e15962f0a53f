using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

// native/src/distributed.cpp: c10d process groups (Gloo or NCCL over a TCP store), collectives and the gradient reducer.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int dst_pg_new(string host, int port, int rank, int size, long timeoutMs, string backend, int deviceIndex, out IntPtr group);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int dst_pg_backend_built(string backend, out int built);

    [LibraryImport(Lib)] internal static partial void dst_pg_free(IntPtr group);
    [LibraryImport(Lib)] internal static partial int dst_pg_all_reduce_sum(ProcessGroupHandle group, IntPtr* tensors, long n);
    [LibraryImport(Lib)] internal static partial int dst_pg_broadcast(ProcessGroupHandle group, IntPtr* tensors, long n, int root);
    [LibraryImport(Lib)] internal static partial int dst_pg_barrier(ProcessGroupHandle group);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int dst_pg_store_get(ProcessGroupHandle group, string key, long timeoutMs, out IntPtr value, out long length);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int dst_pg_store_set(ProcessGroupHandle group, string key, byte* value, long length);

    [LibraryImport(Lib)] internal static partial int dst_pg_all_reduce_sum_autograd(ProcessGroupHandle group, TensorHandle x, out IntPtr result);

    [LibraryImport(Lib)]
    internal static partial int dst_grad_reducer_new(ProcessGroupHandle group, IntPtr* parameters, long n, long bucketBytes, long firstBucketBytes, out IntPtr reducer);

    [LibraryImport(Lib)] internal static partial void dst_grad_reducer_free(IntPtr reducer);
    [LibraryImport(Lib)] internal static partial int dst_grad_reducer_prepare(GradReducerHandle reducer, int sync);
    [LibraryImport(Lib)] internal static partial int dst_grad_reducer_finish(GradReducerHandle reducer);
    [LibraryImport(Lib)] internal static partial int dst_grad_reducer_buckets(GradReducerHandle reducer, out long count);
}

/// <summary>Owns one native process group.</summary>
internal sealed class ProcessGroupHandle : SafeHandle
{
    public ProcessGroupHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public ProcessGroupHandle(IntPtr handle) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMethods.dst_pg_free(handle);
        return true;
    }
}

/// <summary>Owns one native gradient reducer.</summary>
internal sealed class GradReducerHandle : SafeHandle
{
    public GradReducerHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public GradReducerHandle(IntPtr handle) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        NativeMethods.dst_grad_reducer_free(handle);
        return true;
    }
}
