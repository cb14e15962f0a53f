using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

// Pointwise ops with several operands (native/src/tensor_ops_math.cpp): the clamp family, lerp,
// addcmul/addcdiv and isclose. The one- and two-operand ops are in Tensor.Elementwise.cs.
public partial class Tensor
{
    /// <summary>Limits every element to [min, max]; either bound may be omitted (not both), as in PyTorch.</summary>
    public unsafe Tensor clamp(Scalar? min = null, Scalar? max = null)
    {
        NativeScalar lo = (min ?? 0).ToNative(), hi = (max ?? 0).ToNative();
        Check(dst_clamp(Handle, min is null ? null : &lo, max is null ? null : &hi, out var r));
        return new Tensor(r);
    }

    public unsafe Tensor clamp_(Scalar? min = null, Scalar? max = null)
    {
        NativeScalar lo = (min ?? 0).ToNative(), hi = (max ?? 0).ToNative();
        Check(dst_clamp_(Handle, min is null ? null : &lo, max is null ? null : &hi));
        return this;
    }

    /// <summary>Clamps with broadcast tensor bounds (either may be null); differentiable with respect to them.</summary>
    public Tensor clamp(Tensor? min = null, Tensor? max = null)
    {
        Check(dst_clamp_tensor(Handle, min?.Handle.DangerousGetHandle() ?? IntPtr.Zero, max?.Handle.DangerousGetHandle() ?? IntPtr.Zero, out var r));
        GC.KeepAlive(min);
        GC.KeepAlive(max);
        return new Tensor(r);
    }

    public Tensor clamp_(Tensor? min = null, Tensor? max = null)
    {
        Check(dst_clamp_tensor_(Handle, min?.Handle.DangerousGetHandle() ?? IntPtr.Zero, max?.Handle.DangerousGetHandle() ?? IntPtr.Zero));
        GC.KeepAlive(min);
        GC.KeepAlive(max);
        return this;
    }

    public Tensor clamp_min(Scalar min) => clamp(min, null);
    public Tensor clamp_min(Tensor min) => clamp(min, null);
    public Tensor clamp_min_(Scalar min) => clamp_(min, null);
    public Tensor clamp_min_(Tensor min) => clamp_(min, null);
    public Tensor clamp_max(Scalar max) => clamp(null, max);
    public Tensor clamp_max(Tensor max) => clamp(null, max);
    public Tensor clamp_max_(Scalar max) => clamp_(null, max);
    public Tensor clamp_max_(Tensor max) => clamp_(null, max);

    /// <summary>PyTorch's alias of <see cref="clamp(Scalar?, Scalar?)"/>.</summary>
    public Tensor clip(Scalar? min = null, Scalar? max = null) => clamp(min, max);

    /// <summary>this + weight * (end - this).</summary>
    public Tensor lerp(Tensor end, Scalar weight) { Check(dst_lerp(Handle, end.Handle, weight.ToNative(), out var r)); return new Tensor(r); }
    public Tensor lerp_(Tensor end, Scalar weight) { Check(dst_lerp_(Handle, end.Handle, weight.ToNative())); return this; }
    public Tensor lerp(Tensor end, Tensor weight) { Check(dst_lerp_tensor(Handle, end.Handle, weight.Handle, out var r)); return new Tensor(r); }
    public Tensor lerp_(Tensor end, Tensor weight) { Check(dst_lerp_tensor_(Handle, end.Handle, weight.Handle)); return this; }

    /// <summary>this + value * tensor1 * tensor2.</summary>
    public Tensor addcmul(Tensor tensor1, Tensor tensor2, Scalar? value = null)
    {
        Check(dst_addcmul(Handle, tensor1.Handle, tensor2.Handle, (value ?? 1).ToNative(), out var r));
        return new Tensor(r);
    }

    public Tensor addcmul_(Tensor tensor1, Tensor tensor2, Scalar? value = null)
    {
        Check(dst_addcmul_(Handle, tensor1.Handle, tensor2.Handle, (value ?? 1).ToNative()));
        return this;
    }

    /// <summary>this + value * tensor1 / tensor2.</summary>
    public Tensor addcdiv(Tensor tensor1, Tensor tensor2, Scalar? value = null)
    {
        Check(dst_addcdiv(Handle, tensor1.Handle, tensor2.Handle, (value ?? 1).ToNative(), out var r));
        return new Tensor(r);
    }

    public Tensor addcdiv_(Tensor tensor1, Tensor tensor2, Scalar? value = null)
    {
        Check(dst_addcdiv_(Handle, tensor1.Handle, tensor2.Handle, (value ?? 1).ToNative()));
        return this;
    }

    /// <summary>Elementwise |this - other| &lt;= atol + rtol * |other|, as a bool tensor.</summary>
    public Tensor isclose(Tensor other, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false)
    {
        Check(dst_isclose(Handle, other.Handle, rtol, atol, equal_nan ? 1 : 0, out var r));
        return new Tensor(r);
    }
}
