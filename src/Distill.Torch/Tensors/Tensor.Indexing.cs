using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

// Indexing (native/src/tensor_ops.cpp): selecting and scattering by index tensors and masks, where,
// nonzero, arg-max/min, top-k and sorting, cumulative sums and products, triangular parts.
public partial class Tensor
{
    public Tensor index_select(long dim, Tensor index) { Check(dst_index_select(Handle, dim, index.Handle, out var r)); return new Tensor(r); }

    /// <summary>out[i][j] = this[i][index[i][j]] for dim 1 (and likewise for any dim).</summary>
    public Tensor gather(long dim, Tensor index) { Check(dst_gather(Handle, dim, index.Handle, out var r)); return new Tensor(r); }

    // ---- scatter ----

    /// <summary>Writes <paramref name="src"/> at <paramref name="index"/> along <paramref name="dim"/>; reduce: null, "add" or "multiply".</summary>
    public Tensor scatter(long dim, Tensor index, Tensor src, string? reduce = null) { Check(dst_scatter(Handle, dim, index.Handle, src.Handle, reduce, out var r)); return new Tensor(r); }
    public Tensor scatter_(long dim, Tensor index, Tensor src, string? reduce = null) { Check(dst_scatter_(Handle, dim, index.Handle, src.Handle, reduce)); return this; }
    public Tensor scatter(long dim, Tensor index, Scalar value, string? reduce = null) { Check(dst_scatter_value(Handle, dim, index.Handle, value.ToNative(), reduce, out var r)); return new Tensor(r); }
    public Tensor scatter_(long dim, Tensor index, Scalar value, string? reduce = null) { Check(dst_scatter_value_(Handle, dim, index.Handle, value.ToNative(), reduce)); return this; }
    public Tensor scatter_add(long dim, Tensor index, Tensor src) { Check(dst_scatter_add(Handle, dim, index.Handle, src.Handle, out var r)); return new Tensor(r); }
    public Tensor scatter_add_(long dim, Tensor index, Tensor src) { Check(dst_scatter_add_(Handle, dim, index.Handle, src.Handle)); return this; }

    /// <summary>Reduces <paramref name="src"/> into this at <paramref name="index"/>; reduce: "sum", "prod", "mean", "amax" or "amin".</summary>
    public Tensor scatter_reduce(long dim, Tensor index, Tensor src, string reduce, bool include_self = true)
    {
        Check(dst_scatter_reduce(Handle, dim, index.Handle, src.Handle, reduce, include_self ? 1 : 0, out var r));
        return new Tensor(r);
    }

    public Tensor scatter_reduce_(long dim, Tensor index, Tensor src, string reduce, bool include_self = true)
    {
        Check(dst_scatter_reduce_(Handle, dim, index.Handle, src.Handle, reduce, include_self ? 1 : 0));
        return this;
    }

    /// <summary>this[..., index[i], ...] += alpha * source[..., i, ...] along <paramref name="dim"/>.</summary>
    public Tensor index_add(long dim, Tensor index, Tensor source, Scalar? alpha = null)
    {
        Check(dst_index_add(Handle, dim, index.Handle, source.Handle, (alpha ?? 1).ToNative(), out var r));
        return new Tensor(r);
    }

    public Tensor index_add_(long dim, Tensor index, Tensor source, Scalar? alpha = null)
    {
        Check(dst_index_add_(Handle, dim, index.Handle, source.Handle, (alpha ?? 1).ToNative()));
        return this;
    }

    public Tensor index_fill(long dim, Tensor index, Scalar value) { Check(dst_index_fill(Handle, dim, index.Handle, value.ToNative(), out var r)); return new Tensor(r); }
    public Tensor index_fill_(long dim, Tensor index, Scalar value) { Check(dst_index_fill_(Handle, dim, index.Handle, value.ToNative())); return this; }

    // ---- advanced indexing ----

    /// <summary>
    /// <c>this[i0, i1, ...] = values</c> (or <c>+=</c> with <paramref name="accumulate"/>): each entry indexes one
    /// dim with a long or bool tensor; a null entry is a full slice (Python's <c>:</c>).
    /// </summary>
    public unsafe Tensor index_put_(Tensor?[] indices, Tensor values, bool accumulate = false)
    {
        var handles = TensorLists.OptionalHandles(indices);
        fixed (IntPtr* p = handles) Check(dst_index_put_(Handle, p, handles.Length, values.Handle, accumulate ? 1 : 0));
        GC.KeepAlive(indices);
        return this;
    }

    /// <summary>The out-of-place form of <see cref="index_put_"/>.</summary>
    public unsafe Tensor index_put(Tensor?[] indices, Tensor values, bool accumulate = false)
    {
        var handles = TensorLists.OptionalHandles(indices);
        IntPtr r;
        fixed (IntPtr* p = handles) Check(dst_index_put(Handle, p, handles.Length, values.Handle, accumulate ? 1 : 0, out r));
        GC.KeepAlive(indices);
        return new Tensor(r);
    }

    /// <summary><c>this[indices]</c>: a long tensor picks along dim 0, a bool mask selects the true elements.</summary>
    public Tensor index(Tensor indices) => index(new Tensor?[] { indices });

    /// <summary><c>this[i0, i1, ...]</c> with one long/bool tensor (or null for <c>:</c>) per leading dim.</summary>
    public unsafe Tensor index(Tensor?[] indices)
    {
        var handles = TensorLists.OptionalHandles(indices);
        IntPtr r;
        fixed (IntPtr* p = handles) Check(dst_index(Handle, p, handles.Length, out r));
        GC.KeepAlive(indices);
        return new Tensor(r);
    }

    // ---- masks ----

    public Tensor masked_fill(Tensor mask, Scalar value) { Check(dst_masked_fill(Handle, mask.Handle, value.ToNative(), out var r)); return new Tensor(r); }
    public Tensor masked_fill_(Tensor mask, Scalar value) { Check(dst_masked_fill_(Handle, mask.Handle, value.ToNative())); return this; }

    /// <summary>Fills with a zero-dimensional tensor (differentiable with respect to it).</summary>
    public Tensor masked_fill(Tensor mask, Tensor value) { Check(dst_masked_fill_tensor(Handle, mask.Handle, value.Handle, out var r)); return new Tensor(r); }
    public Tensor masked_fill_(Tensor mask, Tensor value) { Check(dst_masked_fill_tensor_(Handle, mask.Handle, value.Handle)); return this; }

    /// <summary>The elements where the (broadcast) mask is true, as a 1-D tensor.</summary>
    public Tensor masked_select(Tensor mask) { Check(dst_masked_select(Handle, mask.Handle, out var r)); return new Tensor(r); }

    /// <summary>Copies consecutive elements of <paramref name="source"/> to the positions where the mask is true.</summary>
    public Tensor masked_scatter(Tensor mask, Tensor source) { Check(dst_masked_scatter(Handle, mask.Handle, source.Handle, out var r)); return new Tensor(r); }
    public Tensor masked_scatter_(Tensor mask, Tensor source) { Check(dst_masked_scatter_(Handle, mask.Handle, source.Handle)); return this; }

    /// <summary>this where <paramref name="condition"/> holds, else <paramref name="other"/> (<c>torch.where(condition, this, other)</c>).</summary>
    public Tensor where(Tensor condition, Tensor other) => torch.where(condition, this, other);
    public Tensor where(Tensor condition, Scalar other) => torch.where(condition, this, other);

    /// <summary>The indices of the nonzero elements, one row per element: shape (n, dim()).</summary>
    public Tensor nonzero() { Check(dst_nonzero(Handle, out var r)); return new Tensor(r); }

    // ---- arg-max/min, top-k, sorting ----

    /// <summary>The index of the largest element of the flattened tensor, or along <paramref name="dim"/>.</summary>
    public Tensor argmax(long? dim = null, bool keepdim = false) { Check(dst_argmax(Handle, dim is null ? 0 : 1, dim ?? 0, keepdim ? 1 : 0, out var r)); return new Tensor(r); }
    public Tensor argmin(long? dim = null, bool keepdim = false) { Check(dst_argmin(Handle, dim is null ? 0 : 1, dim ?? 0, keepdim ? 1 : 0, out var r)); return new Tensor(r); }

    /// <summary>The <paramref name="k"/> largest (or smallest) elements along <paramref name="dim"/> and their indices.</summary>
    public (Tensor values, Tensor indices) topk(long k, long dim = -1, bool largest = true, bool sorted = true)
    {
        Check(dst_topk(Handle, k, dim, largest ? 1 : 0, sorted ? 1 : 0, out var v, out var i));
        return (new Tensor(v), new Tensor(i));
    }

    /// <summary>Sorts along <paramref name="dim"/>; <paramref name="stable"/> keeps the order of equal elements.</summary>
    public (Tensor values, Tensor indices) sort(long dim = -1, bool descending = false, bool stable = false)
    {
        Check(dst_sort(Handle, dim, descending ? 1 : 0, stable ? 1 : 0, out var v, out var i));
        return (new Tensor(v), new Tensor(i));
    }

    public Tensor argsort(long dim = -1, bool descending = false, bool stable = false)
    {
        Check(dst_argsort(Handle, dim, descending ? 1 : 0, stable ? 1 : 0, out var r));
        return new Tensor(r);
    }

    // ---- cumulative ops and triangles ----

    /// <summary>Cumulative sum along <paramref name="dim"/>; integral inputs accumulate in int64 unless a dtype is given.</summary>
    public Tensor cumsum(long dim, ScalarType? dtype = null) { Check(dst_cumsum(Handle, dim, dtype is null ? -1 : (int)dtype.Value, out var r)); return new Tensor(r); }
    public Tensor cumprod(long dim, ScalarType? dtype = null) { Check(dst_cumprod(Handle, dim, dtype is null ? -1 : (int)dtype.Value, out var r)); return new Tensor(r); }

    /// <summary>The lower triangle (on and below the given diagonal) of the last two dims; the rest is zero.</summary>
    public Tensor tril(long diagonal = 0) { Check(dst_tril(Handle, diagonal, out var r)); return new Tensor(r); }
    public Tensor triu(long diagonal = 0) { Check(dst_triu(Handle, diagonal, out var r)); return new Tensor(r); }
    public Tensor tril_(long diagonal = 0) { Check(dst_tril_(Handle, diagonal)); return this; }
    public Tensor triu_(long diagonal = 0) { Check(dst_triu_(Handle, diagonal)); return this; }
}
