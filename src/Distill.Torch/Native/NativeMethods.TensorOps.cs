using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

// native/src/tensor_ops.cpp and native/src/tensor_ops_math.cpp. Optional int lists pass a negative
// count for None; optional scalars a null pointer; tensor lists a pointer to raw handles.
internal static unsafe partial class NativeMethods
{
    // ---- views ----
    [LibraryImport(Lib)] internal static partial int dst_permute(TensorHandle x, long* dims, long ndims, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_transpose(TensorHandle x, long dim0, long dim1, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_t(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_unflatten(TensorHandle x, long dim, long* sizes, long nsizes, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_unsqueeze(TensorHandle x, long dim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_squeeze(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_squeeze_dim(TensorHandle x, long dim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_squeeze_dims(TensorHandle x, long* dims, long ndims, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_expand(TensorHandle x, long* sizes, long nsizes, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_expand_as(TensorHandle x, TensorHandle other, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_broadcast_to(TensorHandle x, long* sizes, long nsizes, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_narrow(TensorHandle x, long dim, long start, long length, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_select(TensorHandle x, long dim, long index, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_diagonal(TensorHandle x, long offset, long dim1, long dim2, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_chunk(TensorHandle x, long chunks, long dim, out IntPtr array, out long count);
    [LibraryImport(Lib)] internal static partial int dst_split(TensorHandle x, long splitSize, long dim, out IntPtr array, out long count);
    [LibraryImport(Lib)] internal static partial int dst_split_with_sizes(TensorHandle x, long* sizes, long nsizes, long dim, out IntPtr array, out long count);
    [LibraryImport(Lib)] internal static partial int dst_unbind(TensorHandle x, long dim, out IntPtr array, out long count);
    [LibraryImport(Lib)] internal static partial int dst_repeat(TensorHandle x, long* repeats, long nrepeats, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_flip(TensorHandle x, long* dims, long ndims, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_roll(TensorHandle x, long* shifts, long nshifts, long* dims, long ndims, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_movedim(TensorHandle x, long* source, long nsource, long* destination, long ndestination, out IntPtr result);

    // ---- indexing ----
    [LibraryImport(Lib)] internal static partial int dst_index_select(TensorHandle x, long dim, TensorHandle index, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_gather(TensorHandle x, long dim, TensorHandle index, out IntPtr result);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_scatter(TensorHandle x, long dim, TensorHandle index, TensorHandle src, string? reduce, out IntPtr result);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_scatter_(TensorHandle x, long dim, TensorHandle index, TensorHandle src, string? reduce);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_scatter_value(TensorHandle x, long dim, TensorHandle index, NativeScalar value, string? reduce, out IntPtr result);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_scatter_value_(TensorHandle x, long dim, TensorHandle index, NativeScalar value, string? reduce);
    [LibraryImport(Lib)] internal static partial int dst_scatter_add(TensorHandle x, long dim, TensorHandle index, TensorHandle src, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_scatter_add_(TensorHandle x, long dim, TensorHandle index, TensorHandle src);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_scatter_reduce(TensorHandle x, long dim, TensorHandle index, TensorHandle src, string reduce, int includeSelf, out IntPtr result);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_scatter_reduce_(TensorHandle x, long dim, TensorHandle index, TensorHandle src, string reduce, int includeSelf);
    [LibraryImport(Lib)] internal static partial int dst_index_add(TensorHandle x, long dim, TensorHandle index, TensorHandle source, NativeScalar alpha, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_index_add_(TensorHandle x, long dim, TensorHandle index, TensorHandle source, NativeScalar alpha);
    [LibraryImport(Lib)] internal static partial int dst_index_put(TensorHandle x, IntPtr* indices, long nindices, TensorHandle values, int accumulate, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_index_put_(TensorHandle x, IntPtr* indices, long nindices, TensorHandle values, int accumulate);
    [LibraryImport(Lib)] internal static partial int dst_index_fill(TensorHandle x, long dim, TensorHandle index, NativeScalar value, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_index_fill_(TensorHandle x, long dim, TensorHandle index, NativeScalar value);
    [LibraryImport(Lib)] internal static partial int dst_index(TensorHandle x, IntPtr* indices, long nindices, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_masked_fill(TensorHandle x, TensorHandle mask, NativeScalar value, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_masked_fill_(TensorHandle x, TensorHandle mask, NativeScalar value);
    [LibraryImport(Lib)] internal static partial int dst_masked_fill_tensor(TensorHandle x, TensorHandle mask, TensorHandle value, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_masked_fill_tensor_(TensorHandle x, TensorHandle mask, TensorHandle value);
    [LibraryImport(Lib)] internal static partial int dst_masked_select(TensorHandle x, TensorHandle mask, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_masked_scatter(TensorHandle x, TensorHandle mask, TensorHandle source, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_masked_scatter_(TensorHandle x, TensorHandle mask, TensorHandle source);
    [LibraryImport(Lib)] internal static partial int dst_where(TensorHandle condition, TensorHandle a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_where_tensor_scalar(TensorHandle condition, TensorHandle a, NativeScalar b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_where_scalar_tensor(TensorHandle condition, NativeScalar a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_where_scalars(TensorHandle condition, NativeScalar a, NativeScalar b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_where_condition(TensorHandle condition, out IntPtr array, out long count);
    [LibraryImport(Lib)] internal static partial int dst_nonzero(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_argmax(TensorHandle x, int hasDim, long dim, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_argmin(TensorHandle x, int hasDim, long dim, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_topk(TensorHandle x, long k, long dim, int largest, int sorted, out IntPtr values, out IntPtr indices);
    [LibraryImport(Lib)] internal static partial int dst_sort(TensorHandle x, long dim, int descending, int stable, out IntPtr values, out IntPtr indices);
    [LibraryImport(Lib)] internal static partial int dst_argsort(TensorHandle x, long dim, int descending, int stable, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_cumsum(TensorHandle x, long dim, int dtype, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_cumprod(TensorHandle x, long dim, int dtype, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_tril(TensorHandle x, long diagonal, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_triu(TensorHandle x, long diagonal, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_tril_(TensorHandle x, long diagonal);
    [LibraryImport(Lib)] internal static partial int dst_triu_(TensorHandle x, long diagonal);

    // ---- joining ----
    [LibraryImport(Lib)] internal static partial int dst_cat(IntPtr* tensors, long count, long dim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_stack(IntPtr* tensors, long count, long dim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_broadcast_tensors(IntPtr* tensors, long count, out IntPtr array, out long outCount);

    // ---- reductions ----
    [LibraryImport(Lib)] internal static partial int dst_nansum(TensorHandle x, long* dims, long ndims, int keepdim, int dtype, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_max(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_min(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_max_dim(TensorHandle x, long dim, int keepdim, out IntPtr values, out IntPtr indices);
    [LibraryImport(Lib)] internal static partial int dst_min_dim(TensorHandle x, long dim, int keepdim, out IntPtr values, out IntPtr indices);
    [LibraryImport(Lib)] internal static partial int dst_amax(TensorHandle x, long* dims, long ndims, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_amin(TensorHandle x, long* dims, long ndims, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_norm(TensorHandle x, double p, long* dims, long ndims, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_linalg_vector_norm(TensorHandle x, double ord, long* dims, long ndims, int keepdim, int dtype, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_logsumexp(TensorHandle x, long* dims, long ndims, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_prod(TensorHandle x, int dtype, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_prod_dim(TensorHandle x, long dim, int keepdim, int dtype, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_var(TensorHandle x, long* dims, long ndims, long correction, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_std(TensorHandle x, long* dims, long ndims, long correction, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_var_mean(TensorHandle x, long* dims, long ndims, long correction, int keepdim, out IntPtr var, out IntPtr mean);
    [LibraryImport(Lib)] internal static partial int dst_std_mean(TensorHandle x, long* dims, long ndims, long correction, int keepdim, out IntPtr std, out IntPtr mean);
    [LibraryImport(Lib)] internal static partial int dst_all(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_any(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_all_dim(TensorHandle x, long dim, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_any_dim(TensorHandle x, long dim, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_count_nonzero(TensorHandle x, long* dims, long ndims, out IntPtr result);

    // ---- linear algebra ----
    [LibraryImport(Lib)] internal static partial int dst_matmul(TensorHandle a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_mm(TensorHandle a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_bmm(TensorHandle a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_mv(TensorHandle a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_dot(TensorHandle a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_outer(TensorHandle a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_addmm(TensorHandle self, TensorHandle mat1, TensorHandle mat2, NativeScalar beta, NativeScalar alpha, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_baddbmm(TensorHandle self, TensorHandle batch1, TensorHandle batch2, NativeScalar beta, NativeScalar alpha, out IntPtr result);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_einsum(string equation, IntPtr* operands, long count, out IntPtr result);

    // ---- clamp family and multi-operand pointwise ops ----
    [LibraryImport(Lib)] internal static partial int dst_clamp(TensorHandle x, NativeScalar* min, NativeScalar* max, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_clamp_(TensorHandle x, NativeScalar* min, NativeScalar* max);
    [LibraryImport(Lib)] internal static partial int dst_clamp_tensor(TensorHandle x, IntPtr min, IntPtr max, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_clamp_tensor_(TensorHandle x, IntPtr min, IntPtr max);
    [LibraryImport(Lib)] internal static partial int dst_lerp(TensorHandle x, TensorHandle end, NativeScalar weight, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_lerp_(TensorHandle x, TensorHandle end, NativeScalar weight);
    [LibraryImport(Lib)] internal static partial int dst_lerp_tensor(TensorHandle x, TensorHandle end, TensorHandle weight, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_lerp_tensor_(TensorHandle x, TensorHandle end, TensorHandle weight);
    [LibraryImport(Lib)] internal static partial int dst_addcmul(TensorHandle x, TensorHandle t1, TensorHandle t2, NativeScalar value, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_addcmul_(TensorHandle x, TensorHandle t1, TensorHandle t2, NativeScalar value);
    [LibraryImport(Lib)] internal static partial int dst_addcdiv(TensorHandle x, TensorHandle t1, TensorHandle t2, NativeScalar value, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_addcdiv_(TensorHandle x, TensorHandle t1, TensorHandle t2, NativeScalar value);
    [LibraryImport(Lib)] internal static partial int dst_isclose(TensorHandle a, TensorHandle b, double rtol, double atol, int equalNan, out IntPtr result);
}
