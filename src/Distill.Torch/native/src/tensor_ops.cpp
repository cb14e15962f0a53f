// The tensor-operation catalogue, part 1: views, indexing (gather/scatter, masks, sorting, cumulative
// ops) and joining. Reductions, linear algebra and the clamp family are in tensor_ops_math.cpp.
// Dims may be negative everywhere (libtorch wraps them); an optional int list is passed with a
// negative count for "None".
#include "tensor_ops.h"

using namespace dst;
using namespace dst::ops;

// ---- views --------------------------------------------------------------------------------------

DST_EXPORT int dst_permute(dst_tensor x, const int64_t* dims, int64_t ndims, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).permute(ints(dims, ndims))); });
}
DST_EXPORT int dst_transpose(dst_tensor x, int64_t dim0, int64_t dim1, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).transpose(dim0, dim1)); });
}
DST_EXPORT int dst_t(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).t()); }); }
DST_EXPORT int dst_unflatten(dst_tensor x, int64_t dim, const int64_t* sizes, int64_t nsizes, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).unflatten(dim, ints(sizes, nsizes))); });
}
DST_EXPORT int dst_unsqueeze(dst_tensor x, int64_t dim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).unsqueeze(dim)); });
}
DST_EXPORT int dst_squeeze(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).squeeze()); }); }
DST_EXPORT int dst_squeeze_dim(dst_tensor x, int64_t dim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).squeeze(dim)); });
}
// squeeze(dims) as PyTorch 2 has it (libtorch 1.13 lacks it): every listed dim of size 1 goes.
DST_EXPORT int dst_squeeze_dims(dst_tensor x, const int64_t* dims, int64_t ndims, dst_tensor* out) {
    return guard([&] {
        at::Tensor t = T(x);
        const int64_t rank = t.dim();
        std::vector<int64_t> wrapped;
        for (int64_t k = 0; k < ndims; ++k) {
            int64_t d = c10::maybe_wrap_dim(dims[k], rank);
            TORCH_CHECK(std::find(wrapped.begin(), wrapped.end(), d) == wrapped.end(), "dim ", d,
                        " appears multiple times in the list of dims");
            wrapped.push_back(d);
        }
        // Highest first, so the remaining dims keep their positions.
        std::sort(wrapped.rbegin(), wrapped.rend());
        for (int64_t d : wrapped) t = t.squeeze(d);
        *out = wrap(std::move(t));
    });
}
DST_EXPORT int dst_expand(dst_tensor x, const int64_t* sizes, int64_t nsizes, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).expand(ints(sizes, nsizes))); });
}
DST_EXPORT int dst_expand_as(dst_tensor x, dst_tensor other, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).expand_as(T(other))); });
}
DST_EXPORT int dst_broadcast_to(dst_tensor x, const int64_t* sizes, int64_t nsizes, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).broadcast_to(ints(sizes, nsizes))); });
}
DST_EXPORT int dst_narrow(dst_tensor x, int64_t dim, int64_t start, int64_t length, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).narrow(dim, start, length)); });
}
DST_EXPORT int dst_select(dst_tensor x, int64_t dim, int64_t index, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).select(dim, index)); });
}
DST_EXPORT int dst_diagonal(dst_tensor x, int64_t offset, int64_t dim1, int64_t dim2, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).diagonal(offset, dim1, dim2)); });
}
DST_EXPORT int dst_chunk(dst_tensor x, int64_t chunks, int64_t dim, dst_tensor** out, int64_t* count) {
    return guard([&] { write_list(T(x).chunk(chunks, dim), out, count); });
}
DST_EXPORT int dst_split(dst_tensor x, int64_t split_size, int64_t dim, dst_tensor** out, int64_t* count) {
    return guard([&] { write_list(T(x).split(split_size, dim), out, count); });
}
DST_EXPORT int dst_split_with_sizes(dst_tensor x, const int64_t* sizes, int64_t nsizes, int64_t dim, dst_tensor** out,
                                    int64_t* count) {
    return guard([&] { write_list(T(x).split_with_sizes(ints(sizes, nsizes), dim), out, count); });
}
DST_EXPORT int dst_unbind(dst_tensor x, int64_t dim, dst_tensor** out, int64_t* count) {
    return guard([&] { write_list(T(x).unbind(dim), out, count); });
}
DST_EXPORT int dst_repeat(dst_tensor x, const int64_t* repeats, int64_t nrepeats, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).repeat(ints(repeats, nrepeats))); });
}
DST_EXPORT int dst_flip(dst_tensor x, const int64_t* dims, int64_t ndims, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).flip(ints(dims, ndims))); });
}
// An empty dims list rolls the flattened tensor, as PyTorch's roll(shifts) without dims.
DST_EXPORT int dst_roll(dst_tensor x, const int64_t* shifts, int64_t nshifts, const int64_t* dims, int64_t ndims,
                        dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).roll(ints(shifts, nshifts), ints(dims, ndims))); });
}
DST_EXPORT int dst_movedim(dst_tensor x, const int64_t* source, int64_t nsource, const int64_t* destination,
                           int64_t ndestination, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).movedim(ints(source, nsource), ints(destination, ndestination))); });
}

// ---- indexing -----------------------------------------------------------------------------------

DST_EXPORT int dst_index_select(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).index_select(dim, T(index))); });
}
DST_EXPORT int dst_gather(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).gather(dim, T(index))); });
}
// reduce: null for plain scatter, else "add" or "multiply" (scatter's reduce argument).
DST_EXPORT int dst_scatter(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor src, const char* reduce, dst_tensor* out) {
    return guard([&] {
        *out = wrap(reduce == nullptr ? T(x).scatter(dim, T(index), T(src)) : T(x).scatter(dim, T(index), T(src), reduce));
    });
}
DST_EXPORT int dst_scatter_(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor src, const char* reduce) {
    return guard([&] {
        if (reduce == nullptr) T(x).scatter_(dim, T(index), T(src)); else T(x).scatter_(dim, T(index), T(src), reduce);
    });
}
DST_EXPORT int dst_scatter_value(dst_tensor x, int64_t dim, dst_tensor index, dst_scalar value, const char* reduce,
                                 dst_tensor* out) {
    return guard([&] {
        auto v = scalar(value);
        *out = wrap(reduce == nullptr ? T(x).scatter(dim, T(index), v) : T(x).scatter(dim, T(index), v, reduce));
    });
}
DST_EXPORT int dst_scatter_value_(dst_tensor x, int64_t dim, dst_tensor index, dst_scalar value, const char* reduce) {
    return guard([&] {
        auto v = scalar(value);
        if (reduce == nullptr) T(x).scatter_(dim, T(index), v); else T(x).scatter_(dim, T(index), v, reduce);
    });
}
DST_EXPORT int dst_scatter_add(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor src, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).scatter_add(dim, T(index), T(src))); });
}
DST_EXPORT int dst_scatter_add_(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor src) {
    return guard([&] { T(x).scatter_add_(dim, T(index), T(src)); });
}
// reduce: "sum", "prod", "mean", "amax" or "amin".
DST_EXPORT int dst_scatter_reduce(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor src, const char* reduce,
                                  int32_t include_self, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).scatter_reduce(dim, T(index), T(src), reduce, include_self != 0)); });
}
DST_EXPORT int dst_scatter_reduce_(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor src, const char* reduce,
                                   int32_t include_self) {
    return guard([&] { T(x).scatter_reduce_(dim, T(index), T(src), reduce, include_self != 0); });
}
DST_EXPORT int dst_index_add(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor source, dst_scalar alpha,
                             dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).index_add(dim, T(index), T(source), scalar(alpha))); });
}
DST_EXPORT int dst_index_add_(dst_tensor x, int64_t dim, dst_tensor index, dst_tensor source, dst_scalar alpha) {
    return guard([&] { T(x).index_add_(dim, T(index), T(source), scalar(alpha)); });
}
DST_EXPORT int dst_index_put(dst_tensor x, const dst_tensor* indices, int64_t nindices, dst_tensor values,
                             int32_t accumulate, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).index_put(opt_tensors(indices, nindices), T(values), accumulate != 0)); });
}
DST_EXPORT int dst_index_put_(dst_tensor x, const dst_tensor* indices, int64_t nindices, dst_tensor values,
                              int32_t accumulate) {
    return guard([&] { T(x).index_put_(opt_tensors(indices, nindices), T(values), accumulate != 0); });
}
DST_EXPORT int dst_index_fill(dst_tensor x, int64_t dim, dst_tensor index, dst_scalar value, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).index_fill(dim, T(index), scalar(value))); });
}
DST_EXPORT int dst_index_fill_(dst_tensor x, int64_t dim, dst_tensor index, dst_scalar value) {
    return guard([&] { T(x).index_fill_(dim, T(index), scalar(value)); });
}
// Advanced indexing x[i0, i1, ...]; a null handle is a full slice.
DST_EXPORT int dst_index(dst_tensor x, const dst_tensor* indices, int64_t nindices, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).index(opt_tensors(indices, nindices))); });
}
DST_EXPORT int dst_masked_fill(dst_tensor x, dst_tensor mask, dst_scalar value, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).masked_fill(T(mask), scalar(value))); });
}
DST_EXPORT int dst_masked_fill_(dst_tensor x, dst_tensor mask, dst_scalar value) {
    return guard([&] { T(x).masked_fill_(T(mask), scalar(value)); });
}
DST_EXPORT int dst_masked_fill_tensor(dst_tensor x, dst_tensor mask, dst_tensor value, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).masked_fill(T(mask), T(value))); });
}
DST_EXPORT int dst_masked_fill_tensor_(dst_tensor x, dst_tensor mask, dst_tensor value) {
    return guard([&] { T(x).masked_fill_(T(mask), T(value)); });
}
DST_EXPORT int dst_masked_select(dst_tensor x, dst_tensor mask, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).masked_select(T(mask))); });
}
DST_EXPORT int dst_masked_scatter(dst_tensor x, dst_tensor mask, dst_tensor source, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).masked_scatter(T(mask), T(source))); });
}
DST_EXPORT int dst_masked_scatter_(dst_tensor x, dst_tensor mask, dst_tensor source) {
    return guard([&] { T(x).masked_scatter_(T(mask), T(source)); });
}
DST_EXPORT int dst_where(dst_tensor condition, dst_tensor a, dst_tensor b, dst_tensor* out) {
    return guard([&] { *out = wrap(at::where(T(condition), T(a), T(b))); });
}
DST_EXPORT int dst_where_tensor_scalar(dst_tensor condition, dst_tensor a, dst_scalar b, dst_tensor* out) {
    return guard([&] { *out = wrap(at::where(T(condition), T(a), scalar(b))); });
}
DST_EXPORT int dst_where_scalar_tensor(dst_tensor condition, dst_scalar a, dst_tensor b, dst_tensor* out) {
    return guard([&] { *out = wrap(at::where(T(condition), scalar(a), T(b))); });
}
DST_EXPORT int dst_where_scalars(dst_tensor condition, dst_scalar a, dst_scalar b, dst_tensor* out) {
    return guard([&] { *out = wrap(at::where(T(condition), scalar(a), scalar(b))); });
}
// torch.where(condition): the indices of the true elements, one tensor per dim.
DST_EXPORT int dst_where_condition(dst_tensor condition, dst_tensor** out, int64_t* count) {
    return guard([&] { write_list(at::where(T(condition)), out, count); });
}
DST_EXPORT int dst_nonzero(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).nonzero()); }); }
DST_EXPORT int dst_argmax(dst_tensor x, int32_t has_dim, int64_t dim, int32_t keepdim, dst_tensor* out) {
    return guard([&] {
        *out = wrap(T(x).argmax(has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim != 0));
    });
}
DST_EXPORT int dst_argmin(dst_tensor x, int32_t has_dim, int64_t dim, int32_t keepdim, dst_tensor* out) {
    return guard([&] {
        *out = wrap(T(x).argmin(has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim != 0));
    });
}
DST_EXPORT int dst_topk(dst_tensor x, int64_t k, int64_t dim, int32_t largest, int32_t sorted, dst_tensor* values,
                        dst_tensor* indices) {
    return guard([&] { write_pair(T(x).topk(k, dim, largest != 0, sorted != 0), values, indices); });
}
DST_EXPORT int dst_sort(dst_tensor x, int64_t dim, int32_t descending, int32_t stable, dst_tensor* values,
                        dst_tensor* indices) {
    return guard([&] { write_pair(T(x).sort(c10::optional<bool>(stable != 0), dim, descending != 0), values, indices); });
}
DST_EXPORT int dst_argsort(dst_tensor x, int64_t dim, int32_t descending, int32_t stable, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).argsort(stable != 0, dim, descending != 0)); });
}
DST_EXPORT int dst_cumsum(dst_tensor x, int64_t dim, int32_t dtype, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).cumsum(dim, opt_dtype(dtype))); });
}
DST_EXPORT int dst_cumprod(dst_tensor x, int64_t dim, int32_t dtype, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).cumprod(dim, opt_dtype(dtype))); });
}
DST_EXPORT int dst_tril(dst_tensor x, int64_t diagonal, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).tril(diagonal)); });
}
DST_EXPORT int dst_triu(dst_tensor x, int64_t diagonal, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).triu(diagonal)); });
}
DST_EXPORT int dst_tril_(dst_tensor x, int64_t diagonal) { return guard([&] { T(x).tril_(diagonal); }); }
DST_EXPORT int dst_triu_(dst_tensor x, int64_t diagonal) { return guard([&] { T(x).triu_(diagonal); }); }

// ---- joining ------------------------------------------------------------------------------------

DST_EXPORT int dst_cat(const dst_tensor* tensors_in, int64_t count, int64_t dim, dst_tensor* out) {
    return guard([&] { *out = wrap(at::cat(tensors(tensors_in, count), dim)); });
}
DST_EXPORT int dst_stack(const dst_tensor* tensors_in, int64_t count, int64_t dim, dst_tensor* out) {
    return guard([&] { *out = wrap(at::stack(tensors(tensors_in, count), dim)); });
}
DST_EXPORT int dst_broadcast_tensors(const dst_tensor* tensors_in, int64_t count, dst_tensor** out, int64_t* out_count) {
    return guard([&] { write_list(at::broadcast_tensors(tensors(tensors_in, count)), out, out_count); });
}
