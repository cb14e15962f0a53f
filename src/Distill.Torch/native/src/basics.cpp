// The handful of operations everything else leans on: copies and conversions, fills, basic views and
// the two most common reductions. The full catalogue of views, indexing and reductions is in
// tensor_ops.cpp.
#include "shim.h"

using namespace dst;

DST_EXPORT int dst_clone(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).clone()); }); }
DST_EXPORT int dst_contiguous(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).contiguous()); }); }

namespace {
// Memory formats as the managed MemoryFormat enum numbers them.
at::MemoryFormat memory_format(int32_t code) {
    switch (code) {
        case 0: return at::MemoryFormat::Contiguous;
        case 1: return at::MemoryFormat::ChannelsLast;
        case 2: return at::MemoryFormat::ChannelsLast3d;
        case 3: return at::MemoryFormat::Preserve;
        default: throw std::invalid_argument("unknown memory format code " + std::to_string(code));
    }
}
}  // namespace

// x laid out in `format` (itself when it already is); channels_last needs 4-D, channels_last_3d 5-D, as in PyTorch.
DST_EXPORT int dst_contiguous_format(dst_tensor x, int32_t format, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).contiguous(memory_format(format))); });
}
DST_EXPORT int dst_is_contiguous_format(dst_tensor x, int32_t format, int32_t* out) {
    return guard([&] { *out = T(x).is_contiguous(memory_format(format)); });
}
// Converts dtype and/or device (dtype < 0 keeps it; device_type < 0 keeps it). copy forces a new tensor.
DST_EXPORT int dst_to(dst_tensor x, int32_t dtype, int32_t device_type, int32_t device_index, int32_t non_blocking,
                      int32_t copy, dst_tensor* out) {
    return guard([&] {
        const auto& t = T(x);
        auto st = dtype < 0 ? t.scalar_type() : static_cast<at::ScalarType>(dtype);
        auto dev = device_type < 0 ? t.device() : device(device_type, device_index);
        *out = wrap(t.to(dev, st, non_blocking != 0, copy != 0));
    });
}
DST_EXPORT int dst_copy_(dst_tensor dst, dst_tensor src, int32_t non_blocking) {
    return guard([&] { T(dst).copy_(T(src), non_blocking != 0); });
}
DST_EXPORT int dst_fill_(dst_tensor x, dst_scalar value) { return guard([&] { T(x).fill_(scalar(value)); }); }
DST_EXPORT int dst_zero_(dst_tensor x) { return guard([&] { T(x).zero_(); }); }

DST_EXPORT int dst_view(dst_tensor x, const int64_t* shape, int64_t ndim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).view(ints(shape, ndim))); });
}
DST_EXPORT int dst_reshape(dst_tensor x, const int64_t* shape, int64_t ndim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).reshape(ints(shape, ndim))); });
}
DST_EXPORT int dst_flatten(dst_tensor x, int64_t start_dim, int64_t end_dim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).flatten(start_dim, end_dim)); });
}

// dtype < 0: the default result dtype (integral inputs sum to int64, as in PyTorch).
DST_EXPORT int dst_sum(dst_tensor x, int32_t dtype, dst_tensor* out) {
    return guard([&] {
        *out = wrap(dtype < 0 ? T(x).sum() : T(x).sum(static_cast<at::ScalarType>(dtype)));
    });
}
DST_EXPORT int dst_sum_dims(dst_tensor x, const int64_t* dims, int64_t ndims, int32_t keepdim, int32_t dtype, dst_tensor* out) {
    return guard([&] {
        c10::optional<at::ScalarType> st = dtype < 0 ? c10::nullopt : c10::optional<at::ScalarType>(static_cast<at::ScalarType>(dtype));
        *out = wrap(T(x).sum(ints(dims, ndims), keepdim != 0, st));
    });
}
DST_EXPORT int dst_mean(dst_tensor x, dst_tensor* out) { return guard([&] { *out = wrap(T(x).mean()); }); }
DST_EXPORT int dst_mean_dims(dst_tensor x, const int64_t* dims, int64_t ndims, int32_t keepdim, dst_tensor* out) {
    return guard([&] { *out = wrap(T(x).mean(ints(dims, ndims), keepdim != 0)); });
}
DST_EXPORT int dst_allclose(dst_tensor a, dst_tensor b, double rtol, double atol, int32_t equal_nan, int32_t* out) {
    return guard([&] { *out = at::allclose(T(a), T(b), rtol, atol, equal_nan != 0); });
}
DST_EXPORT int dst_equal(dst_tensor a, dst_tensor b, int32_t* out) {
    return guard([&] { *out = at::equal(T(a), T(b)); });
}
