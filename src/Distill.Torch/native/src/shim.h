// Internal helpers shared by the shim's translation units: error capture at the C boundary,
// handle wrapping, and conversions from C ABI arguments to ATen types.
#pragma once
#include "pch.h"
#include "distill_torch.h"

#define DST_EXPORT extern "C" DST_API

namespace dst {

// Records an error for the calling thread and returns its category.
int set_error(int category, const char* message) noexcept;

// Runs `body` and converts any exception into a status; the only way the shim's entry points run code.
template <class F>
inline int guard(F&& body) noexcept {
    try {
        body();
        return DST_OK;
    } catch (const c10::IndexError& e) {
        return set_error(DST_ERR_INDEX, e.what_without_backtrace());
    } catch (const c10::ValueError& e) {
        return set_error(DST_ERR_VALUE, e.what_without_backtrace());
    } catch (const c10::TypeError& e) {
        return set_error(DST_ERR_TYPE, e.what_without_backtrace());
    } catch (const c10::NotImplementedError& e) {
        return set_error(DST_ERR_NOT_IMPLEMENTED, e.what_without_backtrace());
    } catch (const c10::OutOfMemoryError& e) {
        return set_error(DST_ERR_OUT_OF_MEMORY, e.what_without_backtrace());
    } catch (const c10::Error& e) {
        return set_error(DST_ERR_RUNTIME, e.what_without_backtrace());
    } catch (const std::bad_alloc& e) {
        return set_error(DST_ERR_OUT_OF_MEMORY, e.what());
    } catch (const std::out_of_range& e) {
        return set_error(DST_ERR_INDEX, e.what());
    } catch (const std::invalid_argument& e) {
        return set_error(DST_ERR_VALUE, e.what());
    } catch (const std::exception& e) {
        return set_error(DST_ERR_RUNTIME, e.what());
    } catch (...) {
        return set_error(DST_ERR_UNKNOWN, "unknown C++ exception in the libtorch shim");
    }
}

// Live native tensor handles, for leak tests.
extern std::atomic<int64_t> live_tensors;

// x / max(||x||_2 along dim, eps) with a fused backward (normalize.cpp); the forward values are F.normalize's.
at::Tensor l2_normalize(const at::Tensor& x, int64_t dim, double eps);

// Moves a tensor into a new caller-owned handle; the undefined tensor becomes the null handle.
inline dst_tensor wrap(at::Tensor t) {
    if (!t.defined()) return nullptr;
    auto* h = new at::Tensor(std::move(t));
    live_tensors.fetch_add(1, std::memory_order_relaxed);
    return reinterpret_cast<dst_tensor>(h);
}

// Borrows the tensor behind a handle. A null handle is a caller bug and reported as such.
inline const at::Tensor& T(dst_tensor h) {
    if (h == nullptr) throw std::invalid_argument("null tensor handle passed to the libtorch shim");
    return *reinterpret_cast<at::Tensor*>(h);
}

// Borrows an optional tensor: the null handle is the undefined tensor.
inline c10::optional<at::Tensor> opt(dst_tensor h) {
    if (h == nullptr) return c10::nullopt;
    return *reinterpret_cast<at::Tensor*>(h);
}

inline at::IntArrayRef ints(const int64_t* values, int64_t count) {
    return at::IntArrayRef(values, static_cast<size_t>(count));
}

inline at::Scalar scalar(dst_scalar s) {
    switch (s.kind) {
        case 1: return at::Scalar(static_cast<int64_t>(s.i));
        case 2: return at::Scalar(s.i != 0);
        default: return at::Scalar(s.f);
    }
}

inline std::vector<at::Tensor> tensors(const dst_tensor* handles, int64_t count) {
    std::vector<at::Tensor> out;
    out.reserve(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) out.push_back(T(handles[k]));
    return out;
}

inline at::Device device(int32_t type, int32_t index) {
    return at::Device(type == 1 ? at::kCUDA : at::kCPU, static_cast<c10::DeviceIndex>(index));
}

inline at::TensorOptions options(int32_t dtype, int32_t device_type, int32_t device_index, bool requires_grad) {
    return at::TensorOptions()
        .dtype(static_cast<at::ScalarType>(dtype))
        .device(device(device_type, device_index))
        .requires_grad(requires_grad);
}

inline c10::optional<at::Generator> gen(dst_generator g) {
    if (g == nullptr) return c10::nullopt;
    return *reinterpret_cast<at::Generator*>(g);
}

// True when an out-of-place op on these inputs must be recorded for autograd.
inline bool records_grad(const at::Tensor& a) { return c10::GradMode::is_enabled() && a.requires_grad(); }
inline bool records_grad(const at::Tensor& a, const at::Tensor& b) {
    return c10::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad());
}

// Runs an out-of-place, non-view op below the autograd layers when nothing needs recording: the
// result is an ordinary tensor, exactly what the autograd kernel would return after finding no input
// that requires grad, but without its dispatch cost (measurable on small tensors). Never use it for
// in-place or view ops: those layers also bump version counters and track views.
template <class F>
inline at::Tensor below_autograd(F&& op) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return op();
}

// Hands a list of tensors to the caller as a malloc'd array of handles (freed with dst_free).
void write_list(const std::vector<at::Tensor>& list, dst_tensor** out, int64_t* count);

}  // namespace dst
