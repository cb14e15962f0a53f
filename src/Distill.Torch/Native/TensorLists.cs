using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch.Native;

/// <summary>
/// Passing lists of tensors across the C ABI. In: <see cref="Handles"/> gives the raw handles of a
/// list (the caller keeps the tensors alive with <c>GC.KeepAlive</c> until the call returns). Out: a
/// shim-allocated <c>dst_tensor*</c> array of <c>count</c> handles becomes a <c>Tensor[]</c> and the
/// array is freed.
/// </summary>
internal static class TensorLists
{
    /// <summary>The raw handles of <paramref name="tensors"/>; throws if one is disposed.</summary>
    public static IntPtr[] Handles(IReadOnlyList<Tensor> tensors)
    {
        var handles = new IntPtr[tensors.Count];
        for (var k = 0; k < handles.Length; k++) handles[k] = tensors[k].Handle.DangerousGetHandle();
        return handles;
    }

    /// <summary>Raw handles where a null entry stands for an undefined (optional) tensor.</summary>
    public static IntPtr[] OptionalHandles(IReadOnlyList<Tensor?> tensors)
    {
        var handles = new IntPtr[tensors.Count];
        for (var k = 0; k < handles.Length; k++) handles[k] = tensors[k]?.Handle.DangerousGetHandle() ?? IntPtr.Zero;
        return handles;
    }

    /// <summary>Takes ownership of a shim-allocated handle array (see <c>dst::write_list</c>).</summary>
    public static unsafe Tensor[] Take(IntPtr array, long count)
    {
        try
        {
            var result = new Tensor[count];
            var p = (IntPtr*)array;
            for (var k = 0; k < count; k++) result[k] = new Tensor(p[k]);
            return result;
        }
        finally
        {
            dst_free(array);
        }
    }
}
