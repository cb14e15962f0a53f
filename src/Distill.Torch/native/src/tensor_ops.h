// Argument helpers shared by tensor_ops.cpp and tensor_ops_math.cpp (optional dims, scalars and
// dtypes; tensor pairs out; optional tensor lists in).
#pragma once
#include "shim.h"

namespace dst::ops {

inline c10::optional<at::ScalarType> opt_dtype(int32_t dtype) {
    if (dtype < 0) return c10::nullopt;
    return static_cast<at::ScalarType>(dtype);
}

// An optional int list: a negative count is None (an empty list is a real, empty list).
inline at::OptionalIntArrayRef opt_ints(const int64_t* values, int64_t count) {
    if (count < 0) return c10::nullopt;
    return ints(values, count);
}

inline c10::optional<at::Scalar> opt_scalar(const dst_scalar* s) {
    if (s == nullptr) return c10::nullopt;
    return scalar(*s);
}

// Frees a handle made by wrap() when a later step of the same call fails.
inline void release(dst_tensor h) noexcept {
    if (h == nullptr) return;
    delete reinterpret_cast<at::Tensor*>(h);
    live_tensors.fetch_sub(1, std::memory_order_relaxed);
}

// Writes a (values, indices)-style pair; both out-parameters stay untouched unless both handles exist.
inline void write_pair(std::tuple<at::Tensor, at::Tensor> pair, dst_tensor* first, dst_tensor* second) {
    dst_tensor a = wrap(std::move(std::get<0>(pair)));
    dst_tensor b;
    try {
        b = wrap(std::move(std::get<1>(pair)));
    } catch (...) {
        release(a);
        throw;
    }
    *first = a;
    *second = b;
}

// Tensor?[] of index_put / index: a null handle stands for a full slice (Python's None or ':').
inline c10::List<c10::optional<at::Tensor>> opt_tensors(const dst_tensor* handles, int64_t count) {
    c10::List<c10::optional<at::Tensor>> list;
    list.reserve(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) list.push_back(opt(handles[k]));
    return list;
}

}  // namespace dst::ops
