using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch.Modules;

/// <summary>
/// A tensor that is a module's learnable parameter (<c>torch.nn.Parameter</c>): a leaf sharing storage
/// with the data it was made from, requiring gradients by default. It belongs to no dispose scope; the
/// module it is registered with disposes it.
/// </summary>
public sealed class Parameter : Tensor
{
    public Parameter(Tensor data, bool requires_grad = true) : base(DetachedAlias(data))
    {
        DetachFromDisposeScope();
        if (requires_grad) this.requires_grad = true;
    }

    private static IntPtr DetachedAlias(Tensor data)
    {
        Check(dst_tensor_detach(data.Handle, out var r));
        return r;
    }

    public override string ToString() =>
        IsDisposed ? "Parameter(disposed)" : $"Parameter[{string.Join(", ", shape)}, {dtype.Name()}, {device}]";
}
