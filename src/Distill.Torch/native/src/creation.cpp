// Factory functions: zeros, ones, full, empty, arange, linspace and the random creators.
#include "shim.h"

using namespace dst;

// Shared argument tail of every factory: dtype, device and requires_grad.
#define DST_OPTIONS int32_t dtype, int32_t device_type, int32_t device_index, int32_t requires_grad
#define DST_MAKE_OPTIONS options(dtype, device_type, device_index, false)

namespace {
// ATen's factories ignore requires_grad in TensorOptions (only torch:: factories honour it): set it after.
inline dst_tensor made(at::Tensor t, int32_t requires_grad) {
    if (requires_grad != 0) t.set_requires_grad(true);
    return wrap(std::move(t));
}
}  // namespace

DST_EXPORT int dst_zeros(const int64_t* shape, int64_t ndim, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::zeros(ints(shape, ndim), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_ones(const int64_t* shape, int64_t ndim, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::ones(ints(shape, ndim), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_empty(const int64_t* shape, int64_t ndim, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::empty(ints(shape, ndim), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_full(const int64_t* shape, int64_t ndim, dst_scalar value, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::full(ints(shape, ndim), scalar(value), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_scalar_tensor(dst_scalar value, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::scalar_tensor(scalar(value), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_arange(dst_scalar start, dst_scalar end, dst_scalar step, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::arange(scalar(start), scalar(end), scalar(step), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_linspace(double start, double end, int64_t steps, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::linspace(start, end, steps, DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_eye(int64_t n, int64_t m, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::eye(n, m, DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_randn(const int64_t* shape, int64_t ndim, dst_generator g, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::randn(ints(shape, ndim), gen(g), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_rand(const int64_t* shape, int64_t ndim, dst_generator g, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::rand(ints(shape, ndim), gen(g), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_randint(int64_t low, int64_t high, const int64_t* shape, int64_t ndim, dst_generator g, DST_OPTIONS,
                           dst_tensor* out) {
    return guard([&] { *out = made(at::randint(low, high, ints(shape, ndim), gen(g), DST_MAKE_OPTIONS), requires_grad); });
}
DST_EXPORT int dst_randperm(int64_t n, dst_generator g, DST_OPTIONS, dst_tensor* out) {
    return guard([&] { *out = made(at::randperm(n, gen(g), DST_MAKE_OPTIONS), requires_grad); });
}
// *_like: same shape, with the given dtype/device (dtype < 0 keeps the source's).
DST_EXPORT int dst_zeros_like(dst_tensor t, dst_tensor* out) { return guard([&] { *out = wrap(at::zeros_like(T(t))); }); }
DST_EXPORT int dst_ones_like(dst_tensor t, dst_tensor* out) { return guard([&] { *out = wrap(at::ones_like(T(t))); }); }
DST_EXPORT int dst_empty_like(dst_tensor t, dst_tensor* out) { return guard([&] { *out = wrap(at::empty_like(T(t))); }); }
DST_EXPORT int dst_full_like(dst_tensor t, dst_scalar value, dst_tensor* out) {
    return guard([&] { *out = wrap(at::full_like(T(t), scalar(value))); });
}
DST_EXPORT int dst_randn_like(dst_tensor t, dst_tensor* out) { return guard([&] { *out = wrap(at::randn_like(T(t))); }); }
DST_EXPORT int dst_rand_like(dst_tensor t, dst_tensor* out) { return guard([&] { *out = wrap(at::rand_like(T(t))); }); }

// In-place random fills (nn.init builds on these), with an optional generator.
DST_EXPORT int dst_uniform_(dst_tensor t, double from, double to, dst_generator g) {
    return guard([&] { T(t).uniform_(from, to, gen(g)); });
}
DST_EXPORT int dst_normal_(dst_tensor t, double mean, double std, dst_generator g) {
    return guard([&] { T(t).normal_(mean, std, gen(g)); });
}
DST_EXPORT int dst_bernoulli_(dst_tensor t, double p, dst_generator g) {
    return guard([&] { T(t).bernoulli_(p, gen(g)); });
}
DST_EXPORT int dst_multinomial(dst_tensor probs, int64_t n, int32_t replacement, dst_generator g, dst_tensor* out) {
    return guard([&] { *out = wrap(at::multinomial(T(probs), n, replacement != 0, gen(g))); });
}
