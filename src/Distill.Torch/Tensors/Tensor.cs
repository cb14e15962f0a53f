using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

/// <summary>
/// A libtorch tensor. Owns one native handle: dispose it (or create it inside a
/// <see cref="DisposeScope"/>) to free native memory deterministically. Method names follow PyTorch.
/// The operations are spread over the partial files of this folder by area.
/// </summary>
public partial class Tensor : IDisposable
{
    private readonly TensorHandle _handle;

    internal Tensor(IntPtr handle)
    {
        if (handle == IntPtr.Zero) throw new TorchException("libtorch returned an undefined tensor", ErrorCategory.Runtime);
        _handle = new TensorHandle(handle);
        DisposeScope.Register(this);
    }

    /// <summary>Wraps a handle that may be null (an undefined tensor, such as a missing gradient).</summary>
    internal static Tensor? WrapOptional(IntPtr handle) => handle == IntPtr.Zero ? null : new Tensor(handle);

    internal DisposeScope? OwningScope { get; set; }

    internal TensorHandle Handle
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            if (_handle.IsClosed) ThrowDisposed();
            return _handle;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowDisposed() =>
        throw new ObjectDisposedException(nameof(Tensor), "The tensor was disposed (explicitly or by its DisposeScope) and can no longer be used.");

    public bool IsDisposed => _handle.IsClosed;

    public void Dispose()
    {
        _handle.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Moves this tensor to the scope enclosing the one that owns it (or to no scope).</summary>
    public Tensor MoveToOuterDisposeScope()
    {
        OwningScope?.MoveToOuter(this);
        return this;
    }

    /// <summary>Detaches this tensor from every dispose scope: the caller now owns it.</summary>
    public Tensor DetachFromDisposeScope()
    {
        OwningScope = null;
        return this;
    }

    /// <summary>The number of native tensor handles alive in this process (for leak tests).</summary>
    public static long LiveCount => dst_live_tensor_count();

    // ---- properties ----------------------------------------------------------------------------

    public long[] shape
    {
        get
        {
            Span<long> buffer = stackalloc long[8];
            long dim;
            unsafe
            {
                fixed (long* p = buffer) Check(dst_tensor_sizes(Handle, p, buffer.Length, out dim));
            }
            if (dim <= buffer.Length) return buffer[..(int)dim].ToArray();
            var sizes = new long[dim];
            unsafe
            {
                fixed (long* p = sizes) Check(dst_tensor_sizes(Handle, p, sizes.Length, out dim));
            }
            return sizes;
        }
    }

    public long[] stride()
    {
        var strides = new long[dim()];
        unsafe
        {
            fixed (long* p = strides) Check(dst_tensor_strides(Handle, p, strides.Length, out _));
        }
        return strides;
    }

    /// <summary>The size of one dimension (negative dims count from the end).</summary>
    public long size(long dim)
    {
        var s = shape;
        var d = dim < 0 ? dim + s.Length : dim;
        if (d < 0 || d >= s.Length)
            throw new TorchException($"Dimension out of range (expected to be in range of [{-s.Length}, {s.Length - 1}], but got {dim})", ErrorCategory.Index);
        return s[d];
    }

    public long dim() { Check(dst_tensor_dim(Handle, out var d)); return d; }
    public long numel() { Check(dst_tensor_numel(Handle, out var n)); return n; }
    public long element_size() { Check(dst_tensor_element_size(Handle, out var n)); return n; }

    public ScalarType dtype { get { Check(dst_tensor_dtype(Handle, out var t)); return (ScalarType)t; } }

    public Device device
    {
        get
        {
            Check(dst_tensor_device(Handle, out var type, out var index));
            return new Device((DeviceType)type, index);
        }
    }

    public bool is_contiguous() { Check(dst_tensor_is_contiguous(Handle, out var r)); return r != 0; }

    /// <summary>Whether the elements lie densely in <paramref name="memory_format"/>'s order.</summary>
    public bool is_contiguous(MemoryFormat memory_format) { Check(dst_is_contiguous_format(Handle, (int)memory_format, out var r)); return r != 0; }
    public bool is_cuda => device.Type == DeviceType.CUDA;
    public bool is_floating_point() => dtype.IsFloatingPoint();

    // ---- autograd state --------------------------------------------------------------------------

    public bool requires_grad
    {
        get { Check(dst_tensor_requires_grad(Handle, out var r)); return r != 0; }
        set => Check(dst_tensor_set_requires_grad(Handle, value ? 1 : 0));
    }

    /// <summary>Sets <see cref="requires_grad"/> in place and returns this tensor.</summary>
    public Tensor requires_grad_(bool requires = true)
    {
        requires_grad = requires;
        return this;
    }

    public bool is_leaf { get { Check(dst_tensor_is_leaf(Handle, out var r)); return r != 0; } }

    /// <summary>
    /// The version counter, as PyTorch's <c>Tensor._version</c>: every in-place operation on the tensor (or on a
    /// view of it) increments it. <see cref="set_data"/> does not (as in PyTorch); see <see cref="data_ptr"/>.
    /// </summary>
    public long _version { get { Check(dst_tensor_version(Handle, out var v)); return v; } }

    /// <summary>The address of the first element, as PyTorch's <c>Tensor.data_ptr()</c> (0 for an empty tensor).</summary>
    public long data_ptr() { Check(dst_tensor_data_ptr(Handle, out var p)); return p.ToInt64(); }

    /// <summary>
    /// The accumulated gradient, or null. Each read returns a new handle to the same gradient tensor;
    /// setting replaces it (null clears it).
    /// </summary>
    public Tensor? grad
    {
        get { Check(dst_tensor_grad(Handle, out var g)); return WrapOptional(g); }
        set
        {
            Check(dst_tensor_set_grad(Handle, value is null ? IntPtr.Zero : value.Handle.DangerousGetHandle()));
            GC.KeepAlive(value);
        }
    }

    public void retain_grad() => Check(dst_tensor_retain_grad(Handle));

    /// <summary>Clears the gradient (PyTorch 2's default) or zeroes it in place.</summary>
    public void zero_grad(bool set_to_none = true) => Check(dst_tensor_zero_grad(Handle, set_to_none ? 1 : 0));

    /// <summary>
    /// Back-propagates from this tensor. A non-scalar tensor needs <paramref name="gradient"/> (the
    /// vector of the vector-Jacobian product), as in PyTorch.
    /// </summary>
    public void backward(Tensor? gradient = null, bool? retain_graph = null, bool create_graph = false)
    {
        var g = gradient is null ? IntPtr.Zero : gradient.Handle.DangerousGetHandle();
        Check(dst_tensor_backward(Handle, g, retain_graph is null ? -1 : retain_graph.Value ? 1 : 0, create_graph ? 1 : 0));
        GC.KeepAlive(gradient);
    }

    public Tensor detach() { Check(dst_tensor_detach(Handle, out var r)); return new Tensor(r); }
    public Tensor detach_() { Check(dst_tensor_detach_(Handle)); return this; }

    /// <summary>A second handle to the very same tensor (shared storage and autograd identity).</summary>
    public Tensor alias() { Check(dst_tensor_alias(Handle, out var r)); return new Tensor(r); }

    /// <summary>Replaces this tensor's data but keeps its identity, as PyTorch's <c>param.data = x</c>.</summary>
    public void set_data(Tensor data) => Check(dst_tensor_set_data(Handle, data.Handle));

    // ---- data out ----------------------------------------------------------------------------------

    /// <summary>Copies every element (any device, any layout) into a new array, converting to <typeparamref name="T"/>.</summary>
    public T[] ToArray<T>() where T : unmanaged
    {
        var result = new T[numel()];
        unsafe
        {
            fixed (T* p = result)
                Check(dst_tensor_copy_to(Handle, (int)ScalarTypeExtensions.Of<T>(), p, (long)result.Length * sizeof(T)));
        }
        return result;
    }

    /// <summary>The value of a one-element tensor.</summary>
    public T item<T>() where T : unmanaged
    {
        if (typeof(T) == typeof(Half) || typeof(T) == typeof(BFloat16))
            return ToArray<T>() is [var only] ? only : throw new TorchException($"item() needs a one-element tensor, got shape [{string.Join(", ", shape)}]", ErrorCategory.Value);
        Check(dst_tensor_item(Handle, out var f, out var i));
        if (typeof(T) == typeof(double)) return (T)(object)f;
        if (typeof(T) == typeof(float)) return (T)(object)(float)f;
        if (typeof(T) == typeof(long)) return (T)(object)i;
        if (typeof(T) == typeof(int)) return (T)(object)checked((int)i);
        if (typeof(T) == typeof(short)) return (T)(object)checked((short)i);
        if (typeof(T) == typeof(byte)) return (T)(object)checked((byte)i);
        if (typeof(T) == typeof(sbyte)) return (T)(object)checked((sbyte)i);
        if (typeof(T) == typeof(bool)) return (T)(object)(i != 0);
        throw new TorchException($"item<{typeof(T).Name}>() is not supported", ErrorCategory.Type);
    }

    /// <summary>libtorch's printout of the values.</summary>
    public string str()
    {
        Check(dst_tensor_to_string(Handle, out var p));
        try { return Marshal.PtrToStringUTF8(p) ?? ""; }
        finally { dst_free(p); }
    }

    public override string ToString() =>
        IsDisposed ? "Tensor(disposed)" : $"Tensor[{string.Join(", ", shape)}, {dtype.Name()}, {device}]";
}
