using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

// Copies and conversions, fills, basic views and the two most common reductions (native/src/basics.cpp).
public partial class Tensor
{
    public Tensor clone() { Check(dst_clone(Handle, out var r)); return new Tensor(r); }
    public Tensor contiguous() { Check(dst_contiguous(Handle, out var r)); return new Tensor(r); }

    /// <summary>This tensor laid out in <paramref name="memory_format"/> (a new handle to the same data when it already is).</summary>
    public Tensor contiguous(MemoryFormat memory_format) { Check(dst_contiguous_format(Handle, (int)memory_format, out var r)); return new Tensor(r); }

    /// <summary>Converts dtype and/or device; returns a new handle even when nothing changes (as <c>alias()</c>).</summary>
    public Tensor to(ScalarType? dtype = null, Device? device = null, bool non_blocking = false, bool copy = false)
    {
        var d = device;
        Check(dst_to(Handle, dtype is null ? -1 : (int)dtype.Value, d is null ? -1 : (int)d.Value.Type, d?.Index ?? -1, non_blocking ? 1 : 0, copy ? 1 : 0, out var r));
        return new Tensor(r);
    }

    public Tensor to(Device device) => to(null, device);
    public Tensor to(ScalarType dtype) => to(dtype, null);
    public Tensor cpu() => to(Device.CPU);
    public Tensor cuda() => to(Device.CUDA);
    public Tensor @float() => to(ScalarType.Float32);
    public Tensor @double() => to(ScalarType.Float64);
    public Tensor @long() => to(ScalarType.Int64);
    public Tensor @int() => to(ScalarType.Int32);
    public Tensor half() => to(ScalarType.Float16);
    public Tensor bfloat16() => to(ScalarType.BFloat16);
    public Tensor @bool() => to(ScalarType.Bool);
    public Tensor type(ScalarType dtype) => to(dtype);

    /// <summary>Copies <paramref name="src"/> into this tensor in place (broadcasting, converting dtype/device).</summary>
    public Tensor copy_(Tensor src, bool non_blocking = false) { Check(dst_copy_(Handle, src.Handle, non_blocking ? 1 : 0)); return this; }
    public Tensor fill_(Scalar value) { Check(dst_fill_(Handle, value.ToNative())); return this; }
    public Tensor zero_() { Check(dst_zero_(Handle)); return this; }

    public unsafe Tensor view(params long[] shape)
    {
        IntPtr r;
        fixed (long* p = shape) Check(dst_view(Handle, p, shape.Length, out r));
        return new Tensor(r);
    }

    public unsafe Tensor reshape(params long[] shape)
    {
        IntPtr r;
        fixed (long* p = shape) Check(dst_reshape(Handle, p, shape.Length, out r));
        return new Tensor(r);
    }

    public Tensor flatten(long start_dim = 0, long end_dim = -1) { Check(dst_flatten(Handle, start_dim, end_dim, out var r)); return new Tensor(r); }

    public Tensor sum(ScalarType? dtype = null) { Check(dst_sum(Handle, dtype is null ? -1 : (int)dtype.Value, out var r)); return new Tensor(r); }
    public Tensor sum(long dim, bool keepdim = false, ScalarType? dtype = null) => sum(new[] { dim }, keepdim, dtype);

    // C# converts the literal 0 to any enum: without an int overload, x.sum(0) would bind to sum(dtype).
    public Tensor sum(int dim, bool keepdim = false, ScalarType? dtype = null) => sum(new long[] { dim }, keepdim, dtype);

    public unsafe Tensor sum(long[] dims, bool keepdim = false, ScalarType? dtype = null)
    {
        IntPtr r;
        fixed (long* p = dims) Check(dst_sum_dims(Handle, p, dims.Length, keepdim ? 1 : 0, dtype is null ? -1 : (int)dtype.Value, out r));
        return new Tensor(r);
    }

    public Tensor mean() { Check(dst_mean(Handle, out var r)); return new Tensor(r); }
    public Tensor mean(long dim, bool keepdim = false) => mean(new[] { dim }, keepdim);

    public unsafe Tensor mean(long[] dims, bool keepdim = false)
    {
        IntPtr r;
        fixed (long* p = dims) Check(dst_mean_dims(Handle, p, dims.Length, keepdim ? 1 : 0, out r));
        return new Tensor(r);
    }

    public bool allclose(Tensor other, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false)
    {
        Check(dst_allclose(Handle, other.Handle, rtol, atol, equal_nan ? 1 : 0, out var r));
        return r != 0;
    }

    /// <summary>True when both tensors have the same shape and elements.</summary>
    public bool equal(Tensor other) { Check(dst_equal(Handle, other.Handle, out var r)); return r != 0; }
}
