// The tensor-operation catalogue, part 2: reductions, linear algebra, and the pointwise ops with
// several operands (the clamp family, lerp, addcmul/addcdiv, isclose).
#include "tensor_ops.h"

using namespace dst;
using namespace dst::ops;

// ---- reductions ---------------------------------------------------------------------------------

DST_EXPORT int dst_nansum(dst_tensor x, const int64_t* dims, int64_t ndims, int32_t keepdim, int32_t dtype, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).nansum(opt_ints(dims, ndims), keepdim != 0, opt_dtype(dtype))); });
}
DST_EXPORT int dst_max(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).max()); }); }
DST_EXPORT int dst_min(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).min()); }); }
DST_EXPORT int dst_max_dim(dst_tensor x, int64_t dim, int32_t keepdim, dst_tensor* values, dst_tensor* indices) {
    return guard([&] { write_pair(T(x).max(dim, keepdim != 0), values, indices); });
}
DST_EXPORT int dst_min_dim(dst_tensor x, int64_t dim, int32_t keepdim, dst_tensor* values, dst_tensor* indices) {
    return guard([&] { write_pair(T(x).min(dim, keepdim != 0), values, indices); });
}
// An empty dims list reduces every dim, as amax(dim=()) does in PyTorch.
DST_EXPORT int dst_amax(dst_tensor x, const int64_t* dims, int64_t ndims, int32_t keepdim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).amax(ints(dims, ndims), keepdim != 0)); });
}
DST_EXPORT int dst_amin(dst_tensor x, const int64_t* dims, int64_t ndims, int32_t keepdim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).amin(ints(dims, ndims), keepdim != 0)); });
}
// Tensor.norm(p, dim, keepdim); ndims < 0 reduces every element (p may be ±inf).
DST_EXPORT int dst_norm(dst_tensor x, double p, const int64_t* dims, int64_t ndims, int32_t keepdim, dst_tensor* out) {
    return guard([&] {
        const auto& t = T(x);
        *out = wrap(ndims < 0 ? t.norm(at::Scalar(p)) : t.norm(c10::optional<at::Scalar>(at::Scalar(p)), ints(dims, ndims), keepdim != 0));
    });
}
DST_EXPORT int dst_linalg_vector_norm(dst_tensor x, double ord, const int64_t* dims, int64_t ndims, int32_t keepdim,
                                      int32_t dtype, dst_tensor* out) {
    return guard([&] {
        *out = wrap(at::linalg_vector_norm(T(x), at::Scalar(ord), opt_ints(dims, ndims), keepdim != 0, opt_dtype(dtype)));
    });
}
DST_EXPORT int dst_logsumexp(dst_tensor x, const int64_t* dims, int64_t ndims, int32_t keepdim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).logsumexp(ints(dims, ndims), keepdim != 0)); });
}
DST_EXPORT int dst_prod(dst_tensor x, int32_t dtype, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).prod(opt_dtype(dtype))); });
}
DST_EXPORT int dst_prod_dim(dst_tensor x, int64_t dim, int32_t keepdim, int32_t dtype, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).prod(dim, keepdim != 0, opt_dtype(dtype))); });
}
// var/std with Bessel's correction as a count (1 = unbiased, 0 = biased); ndims < 0 reduces everything.
DST_EXPORT int dst_var(dst_tensor x, const int64_t* dims, int64_t ndims, int64_t correction, int32_t keepdim, dst_tensor* out) {
    return guard([&] {
        *out = wrap(T(x).var(opt_ints(dims, ndims), c10::optional<int64_t>(correction), keepdim != 0));
    });
}
DST_EXPORT int dst_std(dst_tensor x, const int64_t* dims, int64_t ndims, int64_t correction, int32_t keepdim, dst_tensor* out) {
    return guard([&] {
        *out = wrap(T(x).std(opt_ints(dims, ndims), c10::optional<int64_t>(correction), keepdim != 0));
    });
}
DST_EXPORT int dst_var_mean(dst_tensor x, const int64_t* dims, int64_t ndims, int64_t correction, int32_t keepdim,
                            dst_tensor* var, dst_tensor* mean) {
    return guard([&] {
        write_pair(at::var_mean(T(x), opt_ints(dims, ndims), c10::optional<int64_t>(correction), keepdim != 0), var, mean);
    });
}
DST_EXPORT int dst_std_mean(dst_tensor x, const int64_t* dims, int64_t ndims, int64_t correction, int32_t keepdim,
                            dst_tensor* std, dst_tensor* mean) {
    return guard([&] {
        write_pair(at::std_mean(T(x), opt_ints(dims, ndims), c10::optional<int64_t>(correction), keepdim != 0), std, mean);
    });
}
DST_EXPORT int dst_all(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).all()); }); }
DST_EXPORT int dst_any(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).any()); }); }
DST_EXPORT int dst_all_dim(dst_tensor x, int64_t dim, int32_t keepdim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).all(dim, keepdim != 0)); });
}
DST_EXPORT int dst_any_dim(dst_tensor x, int64_t dim, int32_t keepdim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).any(dim, keepdim != 0)); });
}
// ndims < 0 counts over every element.
DST_EXPORT int dst_count_nonzero(dst_tensor x, const int64_t* dims, int64_t ndims, dst_tensor* out) {
    return guard([&] {
        const auto& t = T(x);
        *out = wrap(ndims < 0 ? t.count_nonzero() : t.count_nonzero(ints(dims, ndims)));
    });
}

// ---- linear algebra -----------------------------------------------------------------------------

DST_EXPORT int dst_matmul(dst_tensor a, dst_tensor b, dst_tensor* out) { return guard([&] { *out = wrap(at::matmul(T(a), T(b))); }); }
DST_EXPORT int dst_mm(dst_tensor a, dst_tensor b, dst_tensor* out) { return guard([&] { *out = wrap(at::mm(T(a), T(b))); }); }
DST_EXPORT int dst_bmm(dst_tensor a, dst_tensor b, dst_tensor* out) { return guard([&] { *out = wrap(at::bmm(T(a), T(b))); }); }
DST_EXPORT int dst_mv(dst_tensor a, dst_tensor b, dst_tensor* out) { return guard([&] { *out = wrap(at::mv(T(a), T(b))); }); }
DST_EXPORT int dst_dot(dst_tensor a, dst_tensor b, dst_tensor* out) { return guard([&] { *out = wrap(at::dot(T(a), T(b))); }); }
DST_EXPORT int dst_outer(dst_tensor a, dst_tensor b, dst_tensor* out) { return guard([&] { *out = wrap(at::outer(T(a), T(b))); }); }
// beta * self + alpha * (mat1 @ mat2)
DST_EXPORT int dst_addmm(dst_tensor self, dst_tensor mat1, dst_tensor mat2, dst_scalar beta, dst_scalar alpha, dst_tensor* out) {
    return guard([&] { *out = wrap(at::addmm(T(self), T(mat1), T(mat2), scalar(beta), scalar(alpha))); });
}
DST_EXPORT int dst_baddbmm(dst_tensor self, dst_tensor batch1, dst_tensor batch2, dst_scalar beta, dst_scalar alpha,
                           dst_tensor* out) {
    return guard([&] { *out = wrap(at::baddbmm(T(self), T(batch1), T(batch2), scalar(beta), scalar(alpha))); });
}
DST_EXPORT int dst_einsum(const char* equation, const dst_tensor* operands, int64_t count, dst_tensor* out) {
    return guard([&] {
        TORCH_CHECK_VALUE(equation != nullptr, "einsum(): the equation is null");
        *out = wrap(at::einsum(equation, tensors(operands, count)));
    });
}

// ---- clamp family and multi-operand pointwise ops -----------------------------------------------

// min/max: null for None.
DST_EXPORT int dst_clamp(dst_tensor x, const dst_scalar* min, const dst_scalar* max, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).clamp(opt_scalar(min), opt_scalar(max))); });
}
DST_EXPORT int dst_clamp_(dst_tensor x, const dst_scalar* min, const dst_scalar* max) {
    return guard([&] { T(x).clamp_(opt_scalar(min), opt_scalar(max)); });
}
DST_EXPORT int dst_clamp_tensor(dst_tensor x, dst_tensor min, dst_tensor max, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).clamp(opt(min), opt(max))); });
}
DST_EXPORT int dst_clamp_tensor_(dst_tensor x, dst_tensor min, dst_tensor max) {
    return guard([&] { T(x).clamp_(opt(min), opt(max)); });
}
DST_EXPORT int dst_lerp(dst_tensor x, dst_tensor end, dst_scalar weight, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).lerp(T(end), scalar(weight))); });
}
DST_EXPORT int dst_lerp_(dst_tensor x, dst_tensor end, dst_scalar weight) {
    return guard([&] { T(x).lerp_(T(end), scalar(weight)); });
}
DST_EXPORT int dst_lerp_tensor(dst_tensor x, dst_tensor end, dst_tensor weight, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).lerp(T(end), T(weight))); });
}
DST_EXPORT int dst_lerp_tensor_(dst_tensor x, dst_tensor end, dst_tensor weight) {
    return guard([&] { T(x).lerp_(T(end), T(weight)); });
}
DST_EXPORT int dst_addcmul(dst_tensor x, dst_tensor t1, dst_tensor t2, dst_scalar value, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).addcmul(T(t1), T(t2), scalar(value))); });
}
DST_EXPORT int dst_addcmul_(dst_tensor x, dst_tensor t1, dst_tensor t2, dst_scalar value) {
    return guard([&] { T(x).addcmul_(T(t1), T(t2), scalar(value)); });
}
DST_EXPORT int dst_addcdiv(dst_tensor x, dst_tensor t1, dst_tensor t2, dst_scalar value, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).addcdiv(T(t1), T(t2), scalar(value))); });
}
DST_EXPORT int dst_addcdiv_(dst_tensor x, dst_tensor t1, dst_tensor t2, dst_scalar value) {
    return guard([&] { T(x).addcdiv_(T(t1), T(t2), scalar(value)); });
}
DST_EXPORT int dst_isclose(dst_tensor a, dst_tensor b, double rtol, double atol, int32_t equal_nan, dst_tensor* out) {
    return guard([&] { *out = wrap(T(a).isclose(T(b), rtol, atol, equal_nan != 0)); });
}
