// torch.nn.init helpers that need more than one ATen call, and small in-place edits the modules use at
// construction. All run outside autograd, as PyTorch's initialisers do.
#include "shim.h"

using namespace dst;

namespace {
double norm_cdf(double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; }
}  // namespace

// Truncated normal by inverse-CDF sampling, the method and call sequence of PyTorch's trunc_normal_:
// uniform in [2l-1, 2u-1], erfinv, scale by std·√2, shift by mean, clamp to [a, b].
DST_EXPORT int dst_init_trunc_normal_(dst_tensor t, double mean, double std, double a, double b, dst_generator g) {
    return guard([&] {
        at::NoGradGuard no_grad;
        auto x = T(t);
        const double l = norm_cdf((a - mean) / std);
        const double u = norm_cdf((b - mean) / std);
        x.uniform_(2 * l - 1, 2 * u - 1, gen(g));
        x.erfinv_();
        x.mul_(std * std::sqrt(2.0));
        x.add_(mean);
        x.clamp_(a, b);
    });
}

// Fills row `index` of dimension 0 (Embedding's padding row).
DST_EXPORT int dst_init_fill_row_(dst_tensor t, int64_t index, dst_scalar value) {
    return guard([&] {
        at::NoGradGuard no_grad;
        T(t).select(0, index).fill_(scalar(value));
    });
}
