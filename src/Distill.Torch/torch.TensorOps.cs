using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

// torch.* functions over the tensor-operation catalogue: joining (cat, stack), where, einsum, and the
// static forms of the Tensor methods (torch.matmul(a, b) == a.matmul(b)).
public static partial class torch
{
    // ---- joining ---------------------------------------------------------------------------------

    /// <summary>Concatenates along an existing dim; every other dim must match.</summary>
    public static unsafe Tensor cat(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        var handles = TensorLists.Handles(tensors);
        IntPtr r;
        fixed (IntPtr* p = handles) Check(dst_cat(p, handles.Length, dim, out r));
        GC.KeepAlive(tensors);
        return new Tensor(r);
    }

    /// <summary>PyTorch's alias of <see cref="cat"/>.</summary>
    public static Tensor concat(IReadOnlyList<Tensor> tensors, long dim = 0) => cat(tensors, dim);

    /// <summary>Joins tensors of one shape along a new dim.</summary>
    public static unsafe Tensor stack(IReadOnlyList<Tensor> tensors, long dim = 0)
    {
        var handles = TensorLists.Handles(tensors);
        IntPtr r;
        fixed (IntPtr* p = handles) Check(dst_stack(p, handles.Length, dim, out r));
        GC.KeepAlive(tensors);
        return new Tensor(r);
    }

    /// <summary>Broadcast views of every tensor to their common shape.</summary>
    public static unsafe Tensor[] broadcast_tensors(params Tensor[] tensors)
    {
        var handles = TensorLists.Handles(tensors);
        IntPtr array;
        long count;
        fixed (IntPtr* p = handles) Check(dst_broadcast_tensors(p, handles.Length, out array, out count));
        GC.KeepAlive(tensors);
        return TensorLists.Take(array, count);
    }

    // ---- where -----------------------------------------------------------------------------------

    /// <summary>Picks from <paramref name="input"/> where the condition holds, else from <paramref name="other"/> (all broadcast).</summary>
    public static Tensor where(Tensor condition, Tensor input, Tensor other)
    {
        Check(dst_where(condition.Handle, input.Handle, other.Handle, out var r));
        return new Tensor(r);
    }

    public static Tensor where(Tensor condition, Tensor input, Scalar other)
    {
        Check(dst_where_tensor_scalar(condition.Handle, input.Handle, other.ToNative(), out var r));
        return new Tensor(r);
    }

    public static Tensor where(Tensor condition, Scalar input, Tensor other)
    {
        Check(dst_where_scalar_tensor(condition.Handle, input.ToNative(), other.Handle, out var r));
        return new Tensor(r);
    }

    public static Tensor where(Tensor condition, Scalar input, Scalar other)
    {
        Check(dst_where_scalars(condition.Handle, input.ToNative(), other.ToNative(), out var r));
        return new Tensor(r);
    }

    /// <summary><c>torch.where(condition)</c>: the indices of the true elements, one tensor per dim.</summary>
    public static Tensor[] where(Tensor condition)
    {
        Check(dst_where_condition(condition.Handle, out var array, out var count));
        return TensorLists.Take(array, count);
    }

    // ---- linear algebra --------------------------------------------------------------------------

    /// <summary>
    /// Einstein summation, e.g. <c>einsum("bij,bjk->bik", a, b)</c>: explicit ("->") and implicit output,
    /// "..." for broadcast dims, repeated indices for diagonals.
    /// </summary>
    public static unsafe Tensor einsum(string equation, params Tensor[] operands)
    {
        var handles = TensorLists.Handles(operands);
        IntPtr r;
        fixed (IntPtr* p = handles) Check(dst_einsum(equation, p, handles.Length, out r));
        GC.KeepAlive(operands);
        return new Tensor(r);
    }

    public static Tensor matmul(Tensor input, Tensor other) => input.matmul(other);
    public static Tensor mm(Tensor input, Tensor mat2) => input.mm(mat2);
    public static Tensor bmm(Tensor input, Tensor mat2) => input.bmm(mat2);
    public static Tensor mv(Tensor input, Tensor vec) => input.mv(vec);
    public static Tensor dot(Tensor input, Tensor other) => input.dot(other);
    public static Tensor outer(Tensor input, Tensor vec2) => input.outer(vec2);
    public static Tensor addmm(Tensor input, Tensor mat1, Tensor mat2, Scalar? beta = null, Scalar? alpha = null) => input.addmm(mat1, mat2, beta, alpha);
    public static Tensor baddbmm(Tensor input, Tensor batch1, Tensor batch2, Scalar? beta = null, Scalar? alpha = null) => input.baddbmm(batch1, batch2, beta, alpha);

    /// <summary><c>torch.linalg</c>: the norms.</summary>
    public static class linalg
    {
        /// <summary>The vector ord-norm over <paramref name="dim"/> (every element when null); ord may be ±infinity or 0.</summary>
        public static unsafe Tensor vector_norm(Tensor x, double ord = 2, long[]? dim = null, bool keepdim = false, ScalarType? dtype = null)
        {
            IntPtr r;
            fixed (long* p = dim) Check(dst_linalg_vector_norm(x.Handle, ord, p, dim?.Length ?? -1, keepdim ? 1 : 0, dtype is null ? -1 : (int)dtype.Value, out r));
            return new Tensor(r);
        }
    }

    // ---- static forms of the view methods -----------------------------------------------------------

    public static Tensor permute(Tensor input, params long[] dims) => input.permute(dims);
    public static Tensor transpose(Tensor input, long dim0, long dim1) => input.transpose(dim0, dim1);
    public static Tensor t(Tensor input) => input.t();
    public static Tensor reshape(Tensor input, params long[] shape) => input.reshape(shape);
    public static Tensor flatten(Tensor input, long start_dim = 0, long end_dim = -1) => input.flatten(start_dim, end_dim);
    public static Tensor unflatten(Tensor input, long dim, params long[] sizes) => input.unflatten(dim, sizes);
    public static Tensor unsqueeze(Tensor input, long dim) => input.unsqueeze(dim);
    public static Tensor squeeze(Tensor input) => input.squeeze();
    public static Tensor squeeze(Tensor input, long dim) => input.squeeze(dim);
    public static Tensor squeeze(Tensor input, long[] dims) => input.squeeze(dims);
    public static Tensor broadcast_to(Tensor input, params long[] sizes) => input.broadcast_to(sizes);
    public static Tensor narrow(Tensor input, long dim, long start, long length) => input.narrow(dim, start, length);
    public static Tensor select(Tensor input, long dim, long index) => input.select(dim, index);
    public static Tensor diagonal(Tensor input, long offset = 0, long dim1 = 0, long dim2 = 1) => input.diagonal(offset, dim1, dim2);
    public static Tensor[] chunk(Tensor input, long chunks, long dim = 0) => input.chunk(chunks, dim);
    public static Tensor[] split(Tensor input, long split_size, long dim = 0) => input.split(split_size, dim);
    public static Tensor[] split(Tensor input, long[] split_sizes, long dim = 0) => input.split(split_sizes, dim);
    public static Tensor[] unbind(Tensor input, long dim = 0) => input.unbind(dim);
    public static Tensor flip(Tensor input, params long[] dims) => input.flip(dims);
    public static Tensor roll(Tensor input, long shifts, long? dim = null) => input.roll(shifts, dim);
    public static Tensor roll(Tensor input, long[] shifts, long[] dims) => input.roll(shifts, dims);
    public static Tensor movedim(Tensor input, long source, long destination) => input.movedim(source, destination);
    public static Tensor movedim(Tensor input, long[] source, long[] destination) => input.movedim(source, destination);

    // ---- static forms of the indexing methods -------------------------------------------------------

    public static Tensor index_select(Tensor input, long dim, Tensor index) => input.index_select(dim, index);
    public static Tensor gather(Tensor input, long dim, Tensor index) => input.gather(dim, index);
    public static Tensor scatter(Tensor input, long dim, Tensor index, Tensor src, string? reduce = null) => input.scatter(dim, index, src, reduce);
    public static Tensor scatter(Tensor input, long dim, Tensor index, Scalar value, string? reduce = null) => input.scatter(dim, index, value, reduce);
    public static Tensor scatter_add(Tensor input, long dim, Tensor index, Tensor src) => input.scatter_add(dim, index, src);
    public static Tensor scatter_reduce(Tensor input, long dim, Tensor index, Tensor src, string reduce, bool include_self = true) => input.scatter_reduce(dim, index, src, reduce, include_self);
    public static Tensor index_add(Tensor input, long dim, Tensor index, Tensor source, Scalar? alpha = null) => input.index_add(dim, index, source, alpha);
    public static Tensor index_put(Tensor input, Tensor?[] indices, Tensor values, bool accumulate = false) => input.index_put(indices, values, accumulate);
    public static Tensor index_fill(Tensor input, long dim, Tensor index, Scalar value) => input.index_fill(dim, index, value);
    public static Tensor masked_fill(Tensor input, Tensor mask, Scalar value) => input.masked_fill(mask, value);
    public static Tensor masked_fill(Tensor input, Tensor mask, Tensor value) => input.masked_fill(mask, value);
    public static Tensor masked_select(Tensor input, Tensor mask) => input.masked_select(mask);
    public static Tensor masked_scatter(Tensor input, Tensor mask, Tensor source) => input.masked_scatter(mask, source);
    public static Tensor nonzero(Tensor input) => input.nonzero();
    public static Tensor argmax(Tensor input, long? dim = null, bool keepdim = false) => input.argmax(dim, keepdim);
    public static Tensor argmin(Tensor input, long? dim = null, bool keepdim = false) => input.argmin(dim, keepdim);
    public static (Tensor values, Tensor indices) topk(Tensor input, long k, long dim = -1, bool largest = true, bool sorted = true) => input.topk(k, dim, largest, sorted);
    public static (Tensor values, Tensor indices) sort(Tensor input, long dim = -1, bool descending = false, bool stable = false) => input.sort(dim, descending, stable);
    public static Tensor argsort(Tensor input, long dim = -1, bool descending = false, bool stable = false) => input.argsort(dim, descending, stable);
    public static Tensor cumsum(Tensor input, long dim, ScalarType? dtype = null) => input.cumsum(dim, dtype);
    public static Tensor cumprod(Tensor input, long dim, ScalarType? dtype = null) => input.cumprod(dim, dtype);
    public static Tensor tril(Tensor input, long diagonal = 0) => input.tril(diagonal);
    public static Tensor triu(Tensor input, long diagonal = 0) => input.triu(diagonal);

    // ---- static forms of the reductions -------------------------------------------------------------

    public static Tensor sum(Tensor input, ScalarType? dtype = null) => input.sum(dtype);
    public static Tensor sum(Tensor input, long dim, bool keepdim = false, ScalarType? dtype = null) => input.sum(dim, keepdim, dtype);
    public static Tensor sum(Tensor input, int dim, bool keepdim = false, ScalarType? dtype = null) => input.sum(dim, keepdim, dtype);
    public static Tensor sum(Tensor input, long[] dims, bool keepdim = false, ScalarType? dtype = null) => input.sum(dims, keepdim, dtype);
    public static Tensor mean(Tensor input) => input.mean();
    public static Tensor mean(Tensor input, long dim, bool keepdim = false) => input.mean(dim, keepdim);
    public static Tensor mean(Tensor input, long[] dims, bool keepdim = false) => input.mean(dims, keepdim);
    public static Tensor nansum(Tensor input, long[]? dims = null, bool keepdim = false, ScalarType? dtype = null) => input.nansum(dims, keepdim, dtype);
    public static Tensor max(Tensor input) => input.max();
    public static (Tensor values, Tensor indices) max(Tensor input, long dim, bool keepdim = false) => input.max(dim, keepdim);
    public static Tensor max(Tensor input, Tensor other) => input.max(other);
    public static Tensor min(Tensor input) => input.min();
    public static (Tensor values, Tensor indices) min(Tensor input, long dim, bool keepdim = false) => input.min(dim, keepdim);
    public static Tensor min(Tensor input, Tensor other) => input.min(other);
    public static Tensor amax(Tensor input, long[]? dims = null, bool keepdim = false) => input.amax(dims, keepdim);
    public static Tensor amax(Tensor input, long dim, bool keepdim = false) => input.amax(dim, keepdim);
    public static Tensor amin(Tensor input, long[]? dims = null, bool keepdim = false) => input.amin(dims, keepdim);
    public static Tensor amin(Tensor input, long dim, bool keepdim = false) => input.amin(dim, keepdim);
    public static Tensor norm(Tensor input, double p = 2, long[]? dim = null, bool keepdim = false) => input.norm(p, dim, keepdim);
    public static Tensor logsumexp(Tensor input, long[] dims, bool keepdim = false) => input.logsumexp(dims, keepdim);
    public static Tensor logsumexp(Tensor input, long dim, bool keepdim = false) => input.logsumexp(dim, keepdim);
    public static Tensor prod(Tensor input, ScalarType? dtype = null) => input.prod(dtype);
    public static Tensor prod(Tensor input, long dim, bool keepdim = false, ScalarType? dtype = null) => input.prod(dim, keepdim, dtype);
    public static Tensor prod(Tensor input, int dim, bool keepdim = false, ScalarType? dtype = null) => input.prod(dim, keepdim, dtype);
    public static Tensor var(Tensor input, long[]? dim = null, bool unbiased = true, bool keepdim = false, long? correction = null) => input.var(dim, unbiased, keepdim, correction);
    public static Tensor std(Tensor input, long[]? dim = null, bool unbiased = true, bool keepdim = false, long? correction = null) => input.std(dim, unbiased, keepdim, correction);
    public static (Tensor var, Tensor mean) var_mean(Tensor input, long[]? dim = null, bool unbiased = true, bool keepdim = false, long? correction = null) => input.var_mean(dim, unbiased, keepdim, correction);
    public static (Tensor std, Tensor mean) std_mean(Tensor input, long[]? dim = null, bool unbiased = true, bool keepdim = false, long? correction = null) => input.std_mean(dim, unbiased, keepdim, correction);
    public static Tensor all(Tensor input) => input.all();
    public static Tensor all(Tensor input, long dim, bool keepdim = false) => input.all(dim, keepdim);
    public static Tensor any(Tensor input) => input.any();
    public static Tensor any(Tensor input, long dim, bool keepdim = false) => input.any(dim, keepdim);
    public static Tensor count_nonzero(Tensor input, long[]? dims = null) => input.count_nonzero(dims);

    // ---- static forms of the clamp family and friends -----------------------------------------------

    public static Tensor clamp(Tensor input, Scalar? min = null, Scalar? max = null) => input.clamp(min, max);
    public static Tensor clamp(Tensor input, Tensor? min = null, Tensor? max = null) => input.clamp(min, max);
    public static Tensor clip(Tensor input, Scalar? min = null, Scalar? max = null) => input.clamp(min, max);
    public static Tensor clamp_min(Tensor input, Scalar min) => input.clamp_min(min);
    public static Tensor clamp_max(Tensor input, Scalar max) => input.clamp_max(max);
    public static Tensor lerp(Tensor input, Tensor end, Scalar weight) => input.lerp(end, weight);
    public static Tensor lerp(Tensor input, Tensor end, Tensor weight) => input.lerp(end, weight);
    public static Tensor addcmul(Tensor input, Tensor tensor1, Tensor tensor2, Scalar? value = null) => input.addcmul(tensor1, tensor2, value);
    public static Tensor addcdiv(Tensor input, Tensor tensor1, Tensor tensor2, Scalar? value = null) => input.addcdiv(tensor1, tensor2, value);
    public static Tensor isclose(Tensor input, Tensor other, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false) => input.isclose(other, rtol, atol, equal_nan);
}
