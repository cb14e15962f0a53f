// F.normalize(x, p=2) with a fused backward.
//
// PyTorch's F.normalize is the composite x / norm(x).clamp_min(eps).expand_as(x); its backward runs the
// autograd formulas of div, expand, clamp_min and norm one by one: about ten elementwise passes and as many
// temporaries of x's size. For a margin head's class centres (K x D with K in the tens of thousands, normalised
// every training step) that backward costs more than the head's matrix products. Here the forward computes the
// same values with the same ATen calls, and the backward is the closed form of the same derivative:
//     y = x / n, n = max(||x||, eps):  dx = (g - y * <g, y>) / n   where ||x|| >= eps,
//                                      dx = g / eps                where ||x|| < eps (the clamp holds n constant),
// four passes (a product, its row sums, an addcmul, an in-place division). The values differ from the
// composite's only by rounding. Under create_graph the same formula is evaluated from the saved input (n and y
// recomputed by differentiable calls), so a double backward differentiates through n as well.
#include "shim.h"
#include <torch/csrc/autograd/custom_function.h>

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct L2Normalize : public torch::autograd::Function<L2Normalize> {
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t dim, double eps) {
        int64_t dims[1] = {dim};
        auto norm = at::norm(x, at::Scalar(2.0), at::IntArrayRef(dims, 1), /*keepdim=*/true);
        auto denom = norm.clamp_min(eps);
        auto y = x / denom.expand_as(x);
        // rows whose norm is below eps: their divisor is the constant eps (clamp_min's gradient mask is norm >= eps)
        ctx->save_for_backward({x, y, denom, norm.lt(eps)});
        ctx->saved_data["dim"] = dim;
        ctx->saved_data["eps"] = eps;
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        auto saved = ctx->get_saved_variables();
        const auto& clamped = saved[3];
        const auto dim = ctx->saved_data["dim"].toInt();
        const auto& g = grads[0];
        if (c10::GradMode::is_enabled()) {
            // create_graph: out of place and from x, so the graph of this gradient covers n's dependence on x
            int64_t dims[1] = {dim};
            const auto& x = saved[0];
            auto denom = at::norm(x, at::Scalar(2.0), at::IntArrayRef(dims, 1), /*keepdim=*/true).clamp_min(ctx->saved_data["eps"].toDouble());
            auto y = x / denom;
            auto dot = (g * y).sum(dim, /*keepdim=*/true).masked_fill(clamped, 0);
            return {(g - y * dot) / denom, at::Tensor(), at::Tensor()};
        }
        const auto& y = saved[1];
        const auto& denom = saved[2];
        auto dot = (g * y).sum(dim, /*keepdim=*/true).masked_fill_(clamped, 0);
        auto dx = at::addcmul(g, y, dot, /*value=*/-1).div_(denom);
        return {dx, at::Tensor(), at::Tensor()};
    }
};

}  // namespace

namespace dst {

at::Tensor l2_normalize(const at::Tensor& x, int64_t dim, double eps) {
    return L2Normalize::apply(x, dim, eps);
}

}  // namespace dst
