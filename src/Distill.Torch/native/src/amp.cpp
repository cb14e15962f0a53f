// Automatic mixed precision: torch.autocast's enter and exit (the same calls Python's context manager makes), and
// the gradient scaler's unscale-and-check and scale update, for fp16 training.
#include "shim.h"

#include <ATen/autocast_mode.h>

using namespace dst;

namespace {
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
        std::unique_ptr<AutocastState> saved;
        if (device_type == 0) {
            TORCH_CHECK_VALUE(st == at::kBFloat16, "CPU autocast supports torch.bfloat16 only, got ", st);
            saved.reset(new AutocastState{at::autocast::is_cpu_enabled(), at::autocast::get_autocast_cpu_dtype()});
            at::autocast::set_cpu_enabled(enabled != 0);
            at::autocast::set_autocast_cpu_dtype(st);
        } else if (device_type == 1) {
            TORCH_CHECK_VALUE(st == at::kBFloat16 || st == at::kHalf, "CUDA autocast computes in torch.float16 or torch.bfloat16, got ", st);
            saved.reset(new AutocastState{at::autocast::is_enabled(), at::autocast::get_autocast_gpu_dtype()});
            at::autocast::set_enabled(enabled != 0);
            at::autocast::set_autocast_gpu_dtype(st);
        } else {
            throw std::invalid_argument("autocast: unknown device type " + std::to_string(device_type));
        }
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
        if (device_type == 0) {
            at::autocast::set_cpu_enabled(saved->enabled);
            at::autocast::set_autocast_cpu_dtype(saved->dtype);
        } else {
            at::autocast::set_enabled(saved->enabled);
            at::autocast::set_autocast_gpu_dtype(saved->dtype);
        }
    });
}

DST_EXPORT int dst_autocast_is_enabled(int32_t device_type, int32_t* out) {
    return guard([&] { *out = device_type == 0 ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled(); });
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
