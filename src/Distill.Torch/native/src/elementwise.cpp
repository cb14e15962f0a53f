// Elementwise math: unary and binary operators selected by an operator code (one entry point per
// shape of call rather than one per operator), with broadcasting, type promotion and in-place forms.
#include "shim.h"

using namespace dst;

namespace {

// Keep in sync with Distill.Torch/Tensors/Tensor.Elementwise.cs (UnaryOp).
enum UnaryOp : int32_t {
    U_NEG, U_ABS, U_EXP, U_LOG, U_SQRT, U_RSQRT, U_SIN, U_COS, U_TANH, U_SIGMOID,
    U_RELU, U_FLOOR, U_CEIL, U_ROUND, U_TRUNC, U_SIGN, U_RECIPROCAL, U_LOG1P, U_EXPM1, U_SQUARE,
    U_LOGICAL_NOT, U_ERF, U_LOG2, U_EXP2, U_ISNAN, U_ISINF, U_ISFINITE, U_BITWISE_NOT, U_TAN, U_ATAN,
    U_ASIN, U_ACOS, U_SINH, U_COSH, U_FRAC, U_LOG10,
};

// Keep in sync with Distill.Torch/Tensors/Tensor.Elementwise.cs (BinaryOp).
enum BinaryOp : int32_t {
    B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_REMAINDER, B_FMOD, B_MAXIMUM, B_MINIMUM,
    B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE, B_LOGICAL_AND, B_LOGICAL_OR, B_LOGICAL_XOR,
    B_BITWISE_AND, B_BITWISE_OR, B_BITWISE_XOR, B_ATAN2, B_FLOOR_DIVIDE, B_DIV_TRUNC, B_DIV_FLOOR,
};

at::Tensor unary(int32_t op, const at::Tensor& x) {
    switch (op) {
        case U_NEG: return at::neg(x);
        case U_ABS: return at::abs(x);
        case U_EXP: return at::exp(x);
        case U_LOG: return at::log(x);
        case U_SQRT: return at::sqrt(x);
        case U_RSQRT: return at::rsqrt(x);
        case U_SIN: return at::sin(x);
        case U_COS: return at::cos(x);
        case U_TANH: return at::tanh(x);
        case U_SIGMOID: return at::sigmoid(x);
        case U_RELU: return at::relu(x);
        case U_FLOOR: return at::floor(x);
        case U_CEIL: return at::ceil(x);
        case U_ROUND: return at::round(x);
        case U_TRUNC: return at::trunc(x);
        case U_SIGN: return at::sign(x);
        case U_RECIPROCAL: return at::reciprocal(x);
        case U_LOG1P: return at::log1p(x);
        case U_EXPM1: return at::expm1(x);
        case U_SQUARE: return at::square(x);
        case U_LOGICAL_NOT: return at::logical_not(x);
        case U_ERF: return at::erf(x);
        case U_LOG2: return at::log2(x);
        case U_EXP2: return at::exp2(x);
        case U_ISNAN: return at::isnan(x);
        case U_ISINF: return at::isinf(x);
        case U_ISFINITE: return at::isfinite(x);
        case U_BITWISE_NOT: return at::bitwise_not(x);
        case U_TAN: return at::tan(x);
        case U_ATAN: return at::atan(x);
        case U_ASIN: return at::asin(x);
        case U_ACOS: return at::acos(x);
        case U_SINH: return at::sinh(x);
        case U_COSH: return at::cosh(x);
        case U_FRAC: return at::frac(x);
        case U_LOG10: return at::log10(x);
        default: TORCH_CHECK_VALUE(false, "unknown unary operator code ", op);
    }
}

void unary_(int32_t op, at::Tensor& x) {
    switch (op) {
        case U_NEG: x.neg_(); return;
        case U_ABS: x.abs_(); return;
        case U_EXP: x.exp_(); return;
        case U_LOG: x.log_(); return;
        case U_SQRT: x.sqrt_(); return;
        case U_RSQRT: x.rsqrt_(); return;
        case U_SIN: x.sin_(); return;
        case U_COS: x.cos_(); return;
        case U_TANH: x.tanh_(); return;
        case U_SIGMOID: x.sigmoid_(); return;
        case U_RELU: x.relu_(); return;
        case U_FLOOR: x.floor_(); return;
        case U_CEIL: x.ceil_(); return;
        case U_ROUND: x.round_(); return;
        case U_TRUNC: x.trunc_(); return;
        case U_SIGN: x.sign_(); return;
        case U_RECIPROCAL: x.reciprocal_(); return;
        case U_LOG1P: x.log1p_(); return;
        case U_EXPM1: x.expm1_(); return;
        case U_SQUARE: x.square_(); return;
        case U_LOGICAL_NOT: x.logical_not_(); return;
        case U_ERF: x.erf_(); return;
        case U_LOG2: x.log2_(); return;
        case U_EXP2: x.exp2_(); return;
        case U_BITWISE_NOT: x.bitwise_not_(); return;
        case U_TAN: x.tan_(); return;
        case U_ATAN: x.atan_(); return;
        case U_ASIN: x.asin_(); return;
        case U_ACOS: x.acos_(); return;
        case U_SINH: x.sinh_(); return;
        case U_COSH: x.cosh_(); return;
        case U_FRAC: x.frac_(); return;
        case U_LOG10: x.log10_(); return;
        default: TORCH_CHECK_NOT_IMPLEMENTED(false, "unary operator code ", op, " has no in-place form");
    }
}

// `other` is a Tensor or a Scalar; ATen overloads both, so one template serves the two call shapes.
template <class Other>
at::Tensor binary(int32_t op, const at::Tensor& a, const Other& b, const at::Scalar& alpha) {
    switch (op) {
        case B_ADD: return at::add(a, b, alpha);
        case B_SUB: return at::sub(a, b, alpha);
        case B_MUL: return at::mul(a, b);
        case B_DIV: return at::div(a, b);
        case B_POW: return at::pow(a, b);
        case B_REMAINDER: return at::remainder(a, b);
        case B_FMOD: return at::fmod(a, b);
        case B_EQ: return at::eq(a, b);
        case B_NE: return at::ne(a, b);
        case B_LT: return at::lt(a, b);
        case B_LE: return at::le(a, b);
        case B_GT: return at::gt(a, b);
        case B_GE: return at::ge(a, b);
        case B_BITWISE_AND: return at::bitwise_and(a, b);
        case B_BITWISE_OR: return at::bitwise_or(a, b);
        case B_BITWISE_XOR: return at::bitwise_xor(a, b);
        case B_FLOOR_DIVIDE: return at::floor_divide(a, b);
        case B_DIV_TRUNC: return at::div(a, b, "trunc");
        case B_DIV_FLOOR: return at::div(a, b, "floor");
        default: break;
    }
    if constexpr (std::is_same_v<Other, at::Tensor>) {
        switch (op) {
            case B_MAXIMUM: return at::maximum(a, b);
            case B_MINIMUM: return at::minimum(a, b);
            case B_LOGICAL_AND: return at::logical_and(a, b);
            case B_LOGICAL_OR: return at::logical_or(a, b);
            case B_LOGICAL_XOR: return at::logical_xor(a, b);
            case B_ATAN2: return at::atan2(a, b);
            default: break;
        }
    } else {
        // Operators ATen defines only between tensors: a wrapped-number tensor promotes as the scalar would.
        auto bt = at::native::wrapped_scalar_tensor(b, a.device());
        return binary<at::Tensor>(op, a, bt, alpha);
    }
    TORCH_CHECK_VALUE(false, "unknown binary operator code ", op);
}

template <class Other>
void binary_(int32_t op, at::Tensor& a, const Other& b, const at::Scalar& alpha) {
    switch (op) {
        case B_ADD: a.add_(b, alpha); return;
        case B_SUB: a.sub_(b, alpha); return;
        case B_MUL: a.mul_(b); return;
        case B_DIV: a.div_(b); return;
        case B_POW: a.pow_(b); return;
        case B_REMAINDER: a.remainder_(b); return;
        case B_FMOD: a.fmod_(b); return;
        case B_EQ: a.eq_(b); return;
        case B_NE: a.ne_(b); return;
        case B_LT: a.lt_(b); return;
        case B_LE: a.le_(b); return;
        case B_GT: a.gt_(b); return;
        case B_GE: a.ge_(b); return;
        case B_BITWISE_AND: a.bitwise_and_(b); return;
        case B_BITWISE_OR: a.bitwise_or_(b); return;
        case B_BITWISE_XOR: a.bitwise_xor_(b); return;
        case B_FLOOR_DIVIDE: a.floor_divide_(b); return;
        case B_DIV_TRUNC: a.div_(b, "trunc"); return;
        case B_DIV_FLOOR: a.div_(b, "floor"); return;
        default: break;
    }
    if constexpr (std::is_same_v<Other, at::Tensor>) {
        switch (op) {
            case B_LOGICAL_AND: a.logical_and_(b); return;
            case B_LOGICAL_OR: a.logical_or_(b); return;
            case B_LOGICAL_XOR: a.logical_xor_(b); return;
            case B_ATAN2: a.atan2_(b); return;
            case B_MAXIMUM:
            case B_MINIMUM: {
                // ATen has no maximum_/minimum_: compute, then write back under the in-place casting rule.
                // Autograd saves the operands, so when it records they must not be the tensor written to.
                bool recorded = c10::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad());
                const at::Tensor self = recorded ? a.clone() : a;
                auto r = op == B_MAXIMUM ? at::maximum(self, b) : at::minimum(self, b);
                TORCH_CHECK(at::canCast(r.scalar_type(), a.scalar_type()), "result type ", r.scalar_type(),
                            " can't be cast to the desired output type ", a.scalar_type());
                a.copy_(r);
                return;
            }
            default: break;
        }
    } else {
        binary_<at::Tensor>(op, a, at::native::wrapped_scalar_tensor(b, a.device()), alpha);
        return;
    }
    TORCH_CHECK_NOT_IMPLEMENTED(false, "binary operator code ", op, " has no in-place form");
}

}  // namespace

DST_EXPORT int dst_unary(int32_t op, dst_tensor x, dst_tensor* out) {
    return guard([&] {
        const auto& t = T(x);
        *out = wrap(records_grad(t) ? unary(op, t) : below_autograd([&] { return unary(op, t); }));
    });
}
DST_EXPORT int dst_unary_(int32_t op, dst_tensor x) {
    return guard([&] { at::Tensor t = T(x); unary_(op, t); });
}
DST_EXPORT int dst_binary(int32_t op, dst_tensor a, dst_tensor b, dst_scalar alpha, dst_tensor* out) {
    return guard([&] {
        const auto& x = T(a);
        const auto& y = T(b);
        auto run = [&] { return binary(op, x, y, scalar(alpha)); };
        *out = wrap(records_grad(x, y) ? run() : below_autograd(run));
    });
}
DST_EXPORT int dst_binary_scalar(int32_t op, dst_tensor a, dst_scalar b, dst_scalar alpha, dst_tensor* out) {
    return guard([&] {
        const auto& x = T(a);
        auto run = [&] { return binary(op, x, scalar(b), scalar(alpha)); };
        *out = wrap(records_grad(x) ? run() : below_autograd(run));
    });
}
// scalar (op) tensor, for the reflected C# operators (2 - x, 1 / x, 2 ** x).
DST_EXPORT int dst_binary_rscalar(int32_t op, dst_scalar a, dst_tensor b, dst_tensor* out) {
    return guard([&] {
        const auto& t = T(b);
        at::Tensor lhs = at::native::wrapped_scalar_tensor(scalar(a), t.device());
        *out = wrap(binary(op, lhs, t, at::Scalar(1)));
    });
}
DST_EXPORT int dst_binary_(int32_t op, dst_tensor a, dst_tensor b, dst_scalar alpha) {
    return guard([&] { at::Tensor t = T(a); binary_(op, t, T(b), scalar(alpha)); });
}
DST_EXPORT int dst_binary_scalar_(int32_t op, dst_tensor a, dst_scalar b, dst_scalar alpha) {
    return guard([&] { at::Tensor t = T(a); binary_(op, t, scalar(b), scalar(alpha)); });
}
