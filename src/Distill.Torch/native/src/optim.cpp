// Optimizer steps and gradient clipping: one call per parameter group runs PyTorch 1.13's
// single-tensor algorithm for every parameter of the group with ATen in-place ops.
//
// State tensors travel as in/out handle arrays parallel to the parameters: a null entry is state not
// created yet. A step creates the state a parameter needs and, on success only, writes the new
// caller-owned handles into the null entries; entries that were set are never replaced. Everything a
// step reads is validated before anything is written, so a rejected call leaves parameters and state
// as they were.
#include "shim.h"

using namespace dst;

namespace {

const at::Tensor* state_or_null(const dst_tensor* slots, int64_t k) {
    if (slots == nullptr || slots[k] == nullptr) return nullptr;
    return &T(slots[k]);
}

// The parameter's gradient if it takes part in this step (PyTorch skips parameters without one).
const at::Tensor* checked_grad(const at::Tensor& p, int64_t k, const char* optimizer, bool sparse_ok) {
    const auto& g = p.grad();
    if (!g.defined()) return nullptr;
    TORCH_CHECK_VALUE(sparse_ok || !g.is_sparse(), optimizer,
                      " does not support sparse gradients (parameter ", k, ")");
    TORCH_CHECK_VALUE(g.sizes() == p.sizes(), optimizer, ": parameter ", k, " has shape ", p.sizes(),
                      " but its gradient has shape ", g.sizes());
    TORCH_CHECK_VALUE(g.scalar_type() == p.scalar_type() && g.device() == p.device(), optimizer, ": parameter ", k,
                      " is ", p.scalar_type(), " on ", p.device(), " but its gradient is ", g.scalar_type(), " on ",
                      g.device());
    return &g;
}

void check_like(const at::Tensor* state, const at::Tensor& p, int64_t k, const char* optimizer, const char* name) {
    if (state == nullptr) return;
    TORCH_CHECK_VALUE(state->sizes() == p.sizes(), optimizer, ": state '", name, "' of parameter ", k, " has shape ",
                      state->sizes(), " but the parameter has shape ", p.sizes());
}

void check_step(const at::Tensor* step, int64_t k, const char* optimizer) {
    if (step == nullptr) return;
    TORCH_CHECK_VALUE(step->numel() == 1, optimizer, ": state 'step' of parameter ", k,
                      " must hold one number, got shape ", step->sizes());
}

// step_t += 1, then the step as a Python float. PyTorch keeps the count in a float32 scalar tensor; the
// usual CPU one is updated in place directly (the same float addition, without two dispatcher round trips).
double advance_step(at::Tensor& step_t) {
    if (step_t.device().is_cpu() && step_t.scalar_type() == at::kFloat && !step_t.requires_grad()) {
        float* count = step_t.data_ptr<float>();
        *count = *count + 1.0f;
        return static_cast<double>(*count);
    }
    step_t.add_(1);
    return step_t.item<double>();
}

// Writes the handles of state created during a successful step into the caller's null entries.
void publish(std::vector<std::pair<dst_tensor*, at::Tensor>>& created) {
    for (auto& [slot, tensor] : created) *slot = wrap(std::move(tensor));
}

}  // namespace

// An identity for each tensor (its TensorImpl): two handles to the same parameter get the same id.
DST_EXPORT int dst_optim_tensor_ids(const dst_tensor* tensors, int64_t n, int64_t* ids) {
    return guard([&] {
        for (int64_t k = 0; k < n; ++k)
            ids[k] = static_cast<int64_t>(reinterpret_cast<intptr_t>(T(tensors[k]).unsafeGetTensorImpl()));
    });
}

// torch.optim.SGD over one parameter group. momentum_buffers: n in/out entries (state 'momentum_buffer').
DST_EXPORT int dst_optim_sgd_step(const dst_tensor* params, int64_t n, dst_tensor* momentum_buffers, double lr,
                                  double momentum, double dampening, double weight_decay, int32_t nesterov,
                                  int32_t maximize) {
    return guard([&] {
        at::NoGradGuard no_grad;
        for (int64_t k = 0; k < n; ++k) {
            const auto& p = T(params[k]);
            if (checked_grad(p, k, "SGD", true) == nullptr) continue;
            if (momentum != 0) check_like(state_or_null(momentum_buffers, k), p, k, "SGD", "momentum_buffer");
        }
        std::vector<std::pair<dst_tensor*, at::Tensor>> created;
        for (int64_t k = 0; k < n; ++k) {
            const auto& p = T(params[k]);
            const auto& grad = p.grad();
            if (!grad.defined()) continue;
            at::Tensor d_p = maximize ? grad.neg() : grad;
            if (weight_decay != 0) d_p = d_p.add(p, weight_decay);
            if (momentum != 0) {
                at::Tensor buf;
                if (momentum_buffers[k] == nullptr) {
                    buf = at::clone(d_p).detach();
                    created.emplace_back(&momentum_buffers[k], buf);
                } else {
                    buf = T(momentum_buffers[k]);
                    buf.mul_(momentum).add_(d_p, 1 - dampening);
                }
                d_p = nesterov ? d_p.add(buf, momentum) : buf;
            }
            p.add_(d_p, -lr);
        }
        publish(created);
    });
}

// torch.optim.Adam (decoupled = 0) and torch.optim.AdamW (decoupled = 1) over one parameter group.
// steps, exp_avgs, exp_avg_sqs: n in/out entries each; max_exp_avg_sqs too when amsgrad (else may be null).
DST_EXPORT int dst_optim_adam_step(const dst_tensor* params, int64_t n, dst_tensor* steps, dst_tensor* exp_avgs,
                                   dst_tensor* exp_avg_sqs, dst_tensor* max_exp_avg_sqs, double lr, double beta1,
                                   double beta2, double eps, double weight_decay, int32_t amsgrad, int32_t maximize,
                                   int32_t decoupled) {
    return guard([&] {
        const char* name = decoupled ? "AdamW" : "Adam";
        TORCH_CHECK_VALUE(!amsgrad || max_exp_avg_sqs != nullptr, name, ": amsgrad needs the max_exp_avg_sq slots");
        at::NoGradGuard no_grad;
        for (int64_t k = 0; k < n; ++k) {
            const auto& p = T(params[k]);
            if (checked_grad(p, k, name, false) == nullptr) continue;
            check_step(state_or_null(steps, k), k, name);
            check_like(state_or_null(exp_avgs, k), p, k, name, "exp_avg");
            check_like(state_or_null(exp_avg_sqs, k), p, k, name, "exp_avg_sq");
            if (amsgrad) check_like(state_or_null(max_exp_avg_sqs, k), p, k, name, "max_exp_avg_sq");
        }
        std::vector<std::pair<dst_tensor*, at::Tensor>> created;
        // Existing state, or zeros registered for publication (PyTorch's lazy initialisation).
        auto slot = [&](dst_tensor* slots, int64_t k, const at::Tensor& like) -> at::Tensor {
            if (slots[k] != nullptr) return T(slots[k]);
            auto t = like.defined() ? at::zeros_like(like, at::MemoryFormat::Preserve)
                                    : at::zeros({}, at::TensorOptions().dtype(at::kFloat));
            created.emplace_back(&slots[k], t);
            return t;
        };
        for (int64_t k = 0; k < n; ++k) {
            at::Tensor param = T(params[k]);
            at::Tensor grad = param.grad();
            if (!grad.defined()) continue;
            if (maximize) grad = grad.neg();
            at::Tensor step_t = slot(steps, k, at::Tensor());
            at::Tensor exp_avg = slot(exp_avgs, k, param);
            at::Tensor exp_avg_sq = slot(exp_avg_sqs, k, param);
            at::Tensor max_exp_avg_sq = amsgrad ? slot(max_exp_avg_sqs, k, param) : at::Tensor();

            if (!decoupled && weight_decay != 0) grad = grad.add(param, weight_decay);
            if (param.is_complex()) {
                grad = at::view_as_real(grad);
                exp_avg = at::view_as_real(exp_avg);
                exp_avg_sq = at::view_as_real(exp_avg_sq);
                param = at::view_as_real(param);
            }
            double step = advance_step(step_t);
            if (decoupled) param.mul_(1 - lr * weight_decay);

            exp_avg.mul_(beta1).add_(grad, 1 - beta1);
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);

            double bias_correction1 = 1 - std::pow(beta1, step);
            double bias_correction2 = 1 - std::pow(beta2, step);
            double step_size = lr / bias_correction1;
            double bias_correction2_sqrt = std::sqrt(bias_correction2);

            at::Tensor denom;
            if (amsgrad) {
                at::maximum_out(max_exp_avg_sq, max_exp_avg_sq, exp_avg_sq);
                denom = max_exp_avg_sq.sqrt().div_(bias_correction2_sqrt).add_(eps);
            } else {
                denom = exp_avg_sq.sqrt().div_(bias_correction2_sqrt).add_(eps);
            }
            param.addcdiv_(exp_avg, denom, -step_size);
        }
        publish(created);
    });
}

// torch.nn.utils.clip_grad_norm_: the norm of all gradients together, then every gradient scaled by
// min(1, max_norm / (norm + 1e-6)). Parameters without a gradient are ignored. Writes the total norm.
DST_EXPORT int dst_clip_grad_norm_(const dst_tensor* params, int64_t n, double max_norm, double norm_type,
                                   int32_t error_if_nonfinite, dst_tensor* total_norm) {
    return guard([&] {
        at::NoGradGuard no_grad;
        std::vector<at::Tensor> grads;
        for (int64_t k = 0; k < n; ++k) {
            const auto& g = T(params[k]).grad();
            if (g.defined()) grads.push_back(g.detach());
        }
        if (grads.empty()) {
            *total_norm = wrap(at::zeros({}, at::TensorOptions().dtype(at::kFloat)));
            return;
        }
        auto device = grads[0].device();
        at::Tensor total;
        std::vector<at::Tensor> norms;
        norms.reserve(grads.size());
        if (std::isinf(norm_type) && norm_type > 0) {
            for (const auto& g : grads) norms.push_back(g.abs().max().to(device));
            total = norms.size() == 1 ? norms[0] : at::stack(norms).max();
        } else {
            for (const auto& g : grads) {
                std::vector<int64_t> all(static_cast<size_t>(g.dim()));
                for (int64_t d = 0; d < g.dim(); ++d) all[static_cast<size_t>(d)] = d;
                norms.push_back(at::norm(g, at::Scalar(norm_type), at::IntArrayRef(all), false).to(device));
            }
            const int64_t first[] = {0};
            total = at::norm(at::stack(norms), at::Scalar(norm_type), at::IntArrayRef(first, 1), false);
        }
        if (error_if_nonfinite) {
            bool nonfinite = at::logical_or(total.isnan(), total.isinf()).item<bool>();
            // Python prints the order as a float: 2.0, inf.
            std::ostringstream order;
            order << norm_type;
            if (std::isfinite(norm_type) && norm_type == std::floor(norm_type)) order << ".0";
            TORCH_CHECK(!nonfinite, "The total norm of order ", order.str(),
                        " for gradients from `parameters` is non-finite, so it cannot be clipped. To disable this "
                        "error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`");
        }
        // Python's `max_norm / tensor` is reciprocal() * max_norm.
        auto clip_coef = total.add(1e-6).reciprocal().mul(max_norm);
        auto clamped = at::clamp(clip_coef, c10::nullopt, 1.0);
        for (auto& g : grads) g.mul_(clamped.to(g.device()));
        *total_norm = wrap(std::move(total));
    });
}

// torch.nn.utils.clip_grad_value_: clamps every gradient to [-clip_value, clip_value] in place.
DST_EXPORT int dst_clip_grad_value_(const dst_tensor* params, int64_t n, double clip_value) {
    return guard([&] {
        at::NoGradGuard no_grad;
        for (int64_t k = 0; k < n; ++k) {
            const auto& g = T(params[k]).grad();
            if (g.defined()) g.detach().clamp_(-clip_value, clip_value);
        }
    });
}
