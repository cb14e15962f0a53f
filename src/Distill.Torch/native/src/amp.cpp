// Automatic mixed precision: torch.autocast's enter and exit (the same calls Python's context manager makes), and
// the gradient scaler's unscale-and-check and scale update, for fp16 training.
#include "shim.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

using namespace dst;

// libtorch 2.4 replaced the per-device autocast functions (set_cpu_enabled, get_autocast_cpu_dtype, ...) with ones
// taking the device type; these wrappers call whichever this libtorch has.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define DISTILL_AUTOCAST_BY_DEVICE 1
#endif

namespace {

bool autocast_enabled(at::DeviceType type) {
#ifdef DISTILL_AUTOCAST_BY_DEVICE
    return at::autocast::is_autocast_enabled(type);
#else
    return type == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

void set_autocast_enabled(at::DeviceType type, bool on) {
#ifdef DISTILL_AUTOCAST_BY_DEVICE
    at::autocast::set_autocast_enabled(type, on);
#else
    if (type == at::kCPU) at::autocast::set_cpu_enabled(on);
    else at::autocast::set_enabled(on);
#endif
}

at::ScalarType autocast_dtype(at::DeviceType type) {
#ifdef DISTILL_AUTOCAST_BY_DEVICE
    return at::autocast::get_autocast_dtype(type);
#else
    return type == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void set_autocast_dtype(at::DeviceType type, at::ScalarType dtype) {
#ifdef DISTILL_AUTOCAST_BY_DEVICE
    at::autocast::set_autocast_dtype(type, dtype);
#else
    if (type == at::kCPU) at::autocast::set_autocast_cpu_dtype(dtype);
    else at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

// The state an autocast scope replaces, restored when it ends.
struct AutocastState {
    bool enabled;
    at::ScalarType dtype;
};
}  // namespace

// Enters an autocast region on `device_type` (0 CPU, 1 CUDA) computing eligible ops in `dtype`; writes the state to
// restore into *previous (caller-owned, freed by dst_autocast_exit). CPU autocast supports bfloat16 only (libtorch 1.13).
DST_EXPORT int dst_autocast_enter(int32_t device_type, int32_t dtype, int32_t enabled, void** previous) {
    return guard([&] {
        auto st = static_cast<at::ScalarType>(dtype);
        TORCH_CHECK_VALUE(device_type == 0 || device_type == 1, "autocast: unknown device type ", device_type);
        auto type = device_type == 0 ? at::kCPU : at::kCUDA;
        if (type == at::kCPU) {
            TORCH_CHECK_VALUE(st == at::kBFloat16 || (TORCH_VERSION_MAJOR >= 2 && st == at::kHalf),
                              "CPU autocast supports torch.bfloat16 only, got ", st);
        } else {
            TORCH_CHECK_VALUE(st == at::kBFloat16 || st == at::kHalf, "CUDA autocast computes in torch.float16 or torch.bfloat16, got ", st);
        }
        std::unique_ptr<AutocastState> saved(new AutocastState{autocast_enabled(type), autocast_dtype(type)});
        set_autocast_enabled(type, enabled != 0);
        set_autocast_dtype(type, st);
        at::autocast::increment_nesting();
        *previous = saved.release();
    });
}

// Leaves the region dst_autocast_enter opened (the innermost one first), dropping the cast cache at the outermost.
DST_EXPORT int dst_autocast_exit(int32_t device_type, void* previous) {
    return guard([&] {
        std::unique_ptr<AutocastState> saved(static_cast<AutocastState*>(previous));
        TORCH_CHECK_VALUE(saved != nullptr, "autocast exit without a matching enter");
        if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
        auto type = device_type == 0 ? at::kCPU : at::kCUDA;
        set_autocast_enabled(type, saved->enabled);
        set_autocast_dtype(type, saved->dtype);
    });
}

DST_EXPORT int dst_autocast_is_enabled(int32_t device_type, int32_t* out) {
    return guard([&] { *out = autocast_enabled(device_type == 0 ? at::kCPU : at::kCUDA); });
}

// The gradient scaler's unscale: multiplies every gradient by inv_scale in place and sets found_inf (a one-element
// float tensor on the gradients' device) to 1 when any of them holds an infinity or NaN.
DST_EXPORT int dst_amp_unscale_(const dst_tensor* grads, int64_t n, dst_tensor found_inf, dst_tensor inv_scale) {
    return guard([&] {
        at::NoGradGuard no_grad;
        auto found = T(found_inf);
        const auto& inv = T(inv_scale);
        for (int64_t k = 0; k < n; ++k) {
            auto g = T(grads[k]);
            auto bad = at::logical_not(at::isfinite(g)).any();
            found.copy_(at::maximum(found, bad.to(found.scalar_type()).reshape(found.sizes())));
            g.mul_(inv.to(g.scalar_type()));
        }
    });
}
