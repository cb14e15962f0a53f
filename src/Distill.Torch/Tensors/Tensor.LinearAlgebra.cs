using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

// Linear algebra (native/src/tensor_ops_math.cpp): matrix products with PyTorch's broadcasting rules.
// torch.einsum and the static forms are in torch.TensorOps.cs.
public partial class Tensor
{
    /// <summary>The matrix product with NumPy semantics (1-D operands, batch broadcasting).</summary>
    public Tensor matmul(Tensor other) { Check(dst_matmul(Handle, other.Handle, out var r)); return new Tensor(r); }

    /// <summary>The product of two matrices (2-D only, no broadcasting).</summary>
    public Tensor mm(Tensor mat2) { Check(dst_mm(Handle, mat2.Handle, out var r)); return new Tensor(r); }

    /// <summary>The batched product of (b, n, m) and (b, m, p) tensors.</summary>
    public Tensor bmm(Tensor mat2) { Check(dst_bmm(Handle, mat2.Handle, out var r)); return new Tensor(r); }

    /// <summary>Matrix times vector.</summary>
    public Tensor mv(Tensor vec) { Check(dst_mv(Handle, vec.Handle, out var r)); return new Tensor(r); }

    /// <summary>The inner product of two 1-D tensors.</summary>
    public Tensor dot(Tensor other) { Check(dst_dot(Handle, other.Handle, out var r)); return new Tensor(r); }

    /// <summary>The outer product of two 1-D tensors.</summary>
    public Tensor outer(Tensor vec2) { Check(dst_outer(Handle, vec2.Handle, out var r)); return new Tensor(r); }

    /// <summary>beta * this + alpha * (mat1 @ mat2), this broadcast to the product's shape.</summary>
    public Tensor addmm(Tensor mat1, Tensor mat2, Scalar? beta = null, Scalar? alpha = null)
    {
        Check(dst_addmm(Handle, mat1.Handle, mat2.Handle, (beta ?? 1).ToNative(), (alpha ?? 1).ToNative(), out var r));
        return new Tensor(r);
    }

    /// <summary>beta * this + alpha * bmm(batch1, batch2).</summary>
    public Tensor baddbmm(Tensor batch1, Tensor batch2, Scalar? beta = null, Scalar? alpha = null)
    {
        Check(dst_baddbmm(Handle, batch1.Handle, batch2.Handle, (beta ?? 1).ToNative(), (alpha ?? 1).ToNative(), out var r));
        return new Tensor(r);
    }
}
