using static Distill.Torch.Native.NativeMethods;
using Distill.Torch.Native;

namespace Distill.Torch;

// Elementwise math (native/src/elementwise.cpp): every unary and binary operator PyTorch has on tensors,
// with broadcasting and type promotion, the C# operators, and the in-place forms (trailing underscore).
public partial class Tensor
{
    private Tensor Unary(UnaryOp op) { Check(dst_unary(op, Handle, out var r)); return new Tensor(r); }
    private Tensor Unary_(UnaryOp op) { Check(dst_unary_(op, Handle)); return this; }

    private static readonly NativeScalar One = ((Scalar)1).ToNative();

    private Tensor Binary(BinaryOp op, Tensor other) { Check(dst_binary(op, Handle, other.Handle, One, out var r)); return new Tensor(r); }
    private Tensor Binary(BinaryOp op, Scalar other) { Check(dst_binary_scalar(op, Handle, other.ToNative(), One, out var r)); return new Tensor(r); }
    private static Tensor Binary(BinaryOp op, Scalar left, Tensor right) { Check(dst_binary_rscalar(op, left.ToNative(), right.Handle, out var r)); return new Tensor(r); }
    private Tensor Binary_(BinaryOp op, Tensor other) { Check(dst_binary_(op, Handle, other.Handle, One)); return this; }
    private Tensor Binary_(BinaryOp op, Scalar other) { Check(dst_binary_scalar_(op, Handle, other.ToNative(), One)); return this; }

    // ---- unary ----
    public Tensor neg() => Unary(UnaryOp.Neg);
    public Tensor neg_() => Unary_(UnaryOp.Neg);
    public Tensor abs() => Unary(UnaryOp.Abs);
    public Tensor abs_() => Unary_(UnaryOp.Abs);
    public Tensor exp() => Unary(UnaryOp.Exp);
    public Tensor exp_() => Unary_(UnaryOp.Exp);
    public Tensor log() => Unary(UnaryOp.Log);
    public Tensor log_() => Unary_(UnaryOp.Log);
    public Tensor sqrt() => Unary(UnaryOp.Sqrt);
    public Tensor sqrt_() => Unary_(UnaryOp.Sqrt);
    public Tensor rsqrt() => Unary(UnaryOp.Rsqrt);
    public Tensor rsqrt_() => Unary_(UnaryOp.Rsqrt);
    public Tensor sin() => Unary(UnaryOp.Sin);
    public Tensor sin_() => Unary_(UnaryOp.Sin);
    public Tensor cos() => Unary(UnaryOp.Cos);
    public Tensor cos_() => Unary_(UnaryOp.Cos);
    public Tensor tanh() => Unary(UnaryOp.Tanh);
    public Tensor tanh_() => Unary_(UnaryOp.Tanh);
    public Tensor sigmoid() => Unary(UnaryOp.Sigmoid);
    public Tensor sigmoid_() => Unary_(UnaryOp.Sigmoid);
    public Tensor relu() => Unary(UnaryOp.Relu);
    public Tensor relu_() => Unary_(UnaryOp.Relu);
    public Tensor floor() => Unary(UnaryOp.Floor);
    public Tensor floor_() => Unary_(UnaryOp.Floor);
    public Tensor ceil() => Unary(UnaryOp.Ceil);
    public Tensor ceil_() => Unary_(UnaryOp.Ceil);
    public Tensor round() => Unary(UnaryOp.Round);
    public Tensor round_() => Unary_(UnaryOp.Round);
    public Tensor trunc() => Unary(UnaryOp.Trunc);
    public Tensor trunc_() => Unary_(UnaryOp.Trunc);
    public Tensor sign() => Unary(UnaryOp.Sign);
    public Tensor sign_() => Unary_(UnaryOp.Sign);
    public Tensor reciprocal() => Unary(UnaryOp.Reciprocal);
    public Tensor reciprocal_() => Unary_(UnaryOp.Reciprocal);
    public Tensor log1p() => Unary(UnaryOp.Log1p);
    public Tensor log1p_() => Unary_(UnaryOp.Log1p);
    public Tensor expm1() => Unary(UnaryOp.Expm1);
    public Tensor expm1_() => Unary_(UnaryOp.Expm1);
    public Tensor square() => Unary(UnaryOp.Square);
    public Tensor square_() => Unary_(UnaryOp.Square);
    public Tensor logical_not() => Unary(UnaryOp.LogicalNot);
    public Tensor logical_not_() => Unary_(UnaryOp.LogicalNot);
    public Tensor erf() => Unary(UnaryOp.Erf);
    public Tensor erf_() => Unary_(UnaryOp.Erf);
    public Tensor log2() => Unary(UnaryOp.Log2);
    public Tensor log2_() => Unary_(UnaryOp.Log2);
    public Tensor exp2() => Unary(UnaryOp.Exp2);
    public Tensor exp2_() => Unary_(UnaryOp.Exp2);
    public Tensor isnan() => Unary(UnaryOp.IsNan);
    public Tensor isinf() => Unary(UnaryOp.IsInf);
    public Tensor isfinite() => Unary(UnaryOp.IsFinite);
    public Tensor bitwise_not() => Unary(UnaryOp.BitwiseNot);
    public Tensor bitwise_not_() => Unary_(UnaryOp.BitwiseNot);
    public Tensor tan() => Unary(UnaryOp.Tan);
    public Tensor tan_() => Unary_(UnaryOp.Tan);
    public Tensor atan() => Unary(UnaryOp.Atan);
    public Tensor atan_() => Unary_(UnaryOp.Atan);
    public Tensor asin() => Unary(UnaryOp.Asin);
    public Tensor asin_() => Unary_(UnaryOp.Asin);
    public Tensor acos() => Unary(UnaryOp.Acos);
    public Tensor acos_() => Unary_(UnaryOp.Acos);
    public Tensor sinh() => Unary(UnaryOp.Sinh);
    public Tensor sinh_() => Unary_(UnaryOp.Sinh);
    public Tensor cosh() => Unary(UnaryOp.Cosh);
    public Tensor cosh_() => Unary_(UnaryOp.Cosh);
    public Tensor frac() => Unary(UnaryOp.Frac);
    public Tensor frac_() => Unary_(UnaryOp.Frac);
    public Tensor log10() => Unary(UnaryOp.Log10);
    public Tensor log10_() => Unary_(UnaryOp.Log10);

    // ---- binary ----
    /// <summary>this + alpha * other.</summary>
    public Tensor add(Tensor other, Scalar alpha) { Check(dst_binary(BinaryOp.Add, Handle, other.Handle, alpha.ToNative(), out var r)); return new Tensor(r); }
    public Tensor add_(Tensor other, Scalar alpha) { Check(dst_binary_(BinaryOp.Add, Handle, other.Handle, alpha.ToNative())); return this; }
    /// <summary>this - alpha * other.</summary>
    public Tensor sub(Tensor other, Scalar alpha) { Check(dst_binary(BinaryOp.Sub, Handle, other.Handle, alpha.ToNative(), out var r)); return new Tensor(r); }
    public Tensor sub_(Tensor other, Scalar alpha) { Check(dst_binary_(BinaryOp.Sub, Handle, other.Handle, alpha.ToNative())); return this; }
    /// <summary>Division with rounding_mode "trunc" or "floor" (null: true division).</summary>
    public Tensor div(Tensor other, string? rounding_mode) => Binary(RoundingOp(rounding_mode), other);
    public Tensor div(Scalar other, string? rounding_mode) => Binary(RoundingOp(rounding_mode), other);
    public Tensor div_(Tensor other, string? rounding_mode) => Binary_(RoundingOp(rounding_mode), other);
    private static BinaryOp RoundingOp(string? mode) => mode switch
    {
        null => BinaryOp.Div,
        "trunc" => BinaryOp.DivTrunc,
        "floor" => BinaryOp.DivFloor,
        _ => throw new TorchException($"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{mode}'", ErrorCategory.Value),
    };

    public Tensor add(Tensor other) => Binary(BinaryOp.Add, other);
    public Tensor add(Scalar other) => Binary(BinaryOp.Add, other);
    public Tensor add_(Tensor other) => Binary_(BinaryOp.Add, other);
    public Tensor add_(Scalar other) => Binary_(BinaryOp.Add, other);
    public Tensor sub(Tensor other) => Binary(BinaryOp.Sub, other);
    public Tensor sub(Scalar other) => Binary(BinaryOp.Sub, other);
    public Tensor sub_(Tensor other) => Binary_(BinaryOp.Sub, other);
    public Tensor sub_(Scalar other) => Binary_(BinaryOp.Sub, other);
    public Tensor mul(Tensor other) => Binary(BinaryOp.Mul, other);
    public Tensor mul(Scalar other) => Binary(BinaryOp.Mul, other);
    public Tensor mul_(Tensor other) => Binary_(BinaryOp.Mul, other);
    public Tensor mul_(Scalar other) => Binary_(BinaryOp.Mul, other);
    public Tensor div(Tensor other) => Binary(BinaryOp.Div, other);
    public Tensor div(Scalar other) => Binary(BinaryOp.Div, other);
    public Tensor div_(Tensor other) => Binary_(BinaryOp.Div, other);
    public Tensor div_(Scalar other) => Binary_(BinaryOp.Div, other);
    public Tensor pow(Tensor other) => Binary(BinaryOp.Pow, other);
    public Tensor pow(Scalar other) => Binary(BinaryOp.Pow, other);
    public Tensor pow_(Tensor other) => Binary_(BinaryOp.Pow, other);
    public Tensor pow_(Scalar other) => Binary_(BinaryOp.Pow, other);
    public Tensor remainder(Tensor other) => Binary(BinaryOp.Remainder, other);
    public Tensor remainder(Scalar other) => Binary(BinaryOp.Remainder, other);
    public Tensor remainder_(Tensor other) => Binary_(BinaryOp.Remainder, other);
    public Tensor remainder_(Scalar other) => Binary_(BinaryOp.Remainder, other);
    public Tensor fmod(Tensor other) => Binary(BinaryOp.Fmod, other);
    public Tensor fmod(Scalar other) => Binary(BinaryOp.Fmod, other);
    public Tensor fmod_(Tensor other) => Binary_(BinaryOp.Fmod, other);
    public Tensor fmod_(Scalar other) => Binary_(BinaryOp.Fmod, other);
    public Tensor maximum(Tensor other) => Binary(BinaryOp.Maximum, other);
    public Tensor maximum(Scalar other) => Binary(BinaryOp.Maximum, other);
    public Tensor maximum_(Tensor other) => Binary_(BinaryOp.Maximum, other);
    public Tensor maximum_(Scalar other) => Binary_(BinaryOp.Maximum, other);
    public Tensor minimum(Tensor other) => Binary(BinaryOp.Minimum, other);
    public Tensor minimum(Scalar other) => Binary(BinaryOp.Minimum, other);
    public Tensor minimum_(Tensor other) => Binary_(BinaryOp.Minimum, other);
    public Tensor minimum_(Scalar other) => Binary_(BinaryOp.Minimum, other);
    public Tensor eq(Tensor other) => Binary(BinaryOp.Eq, other);
    public Tensor eq(Scalar other) => Binary(BinaryOp.Eq, other);
    public Tensor eq_(Tensor other) => Binary_(BinaryOp.Eq, other);
    public Tensor eq_(Scalar other) => Binary_(BinaryOp.Eq, other);
    public Tensor ne(Tensor other) => Binary(BinaryOp.Ne, other);
    public Tensor ne(Scalar other) => Binary(BinaryOp.Ne, other);
    public Tensor ne_(Tensor other) => Binary_(BinaryOp.Ne, other);
    public Tensor ne_(Scalar other) => Binary_(BinaryOp.Ne, other);
    public Tensor lt(Tensor other) => Binary(BinaryOp.Lt, other);
    public Tensor lt(Scalar other) => Binary(BinaryOp.Lt, other);
    public Tensor lt_(Tensor other) => Binary_(BinaryOp.Lt, other);
    public Tensor lt_(Scalar other) => Binary_(BinaryOp.Lt, other);
    public Tensor le(Tensor other) => Binary(BinaryOp.Le, other);
    public Tensor le(Scalar other) => Binary(BinaryOp.Le, other);
    public Tensor le_(Tensor other) => Binary_(BinaryOp.Le, other);
    public Tensor le_(Scalar other) => Binary_(BinaryOp.Le, other);
    public Tensor gt(Tensor other) => Binary(BinaryOp.Gt, other);
    public Tensor gt(Scalar other) => Binary(BinaryOp.Gt, other);
    public Tensor gt_(Tensor other) => Binary_(BinaryOp.Gt, other);
    public Tensor gt_(Scalar other) => Binary_(BinaryOp.Gt, other);
    public Tensor ge(Tensor other) => Binary(BinaryOp.Ge, other);
    public Tensor ge(Scalar other) => Binary(BinaryOp.Ge, other);
    public Tensor ge_(Tensor other) => Binary_(BinaryOp.Ge, other);
    public Tensor ge_(Scalar other) => Binary_(BinaryOp.Ge, other);
    public Tensor logical_and(Tensor other) => Binary(BinaryOp.LogicalAnd, other);
    public Tensor logical_and(Scalar other) => Binary(BinaryOp.LogicalAnd, other);
    public Tensor logical_and_(Tensor other) => Binary_(BinaryOp.LogicalAnd, other);
    public Tensor logical_and_(Scalar other) => Binary_(BinaryOp.LogicalAnd, other);
    public Tensor logical_or(Tensor other) => Binary(BinaryOp.LogicalOr, other);
    public Tensor logical_or(Scalar other) => Binary(BinaryOp.LogicalOr, other);
    public Tensor logical_or_(Tensor other) => Binary_(BinaryOp.LogicalOr, other);
    public Tensor logical_or_(Scalar other) => Binary_(BinaryOp.LogicalOr, other);
    public Tensor logical_xor(Tensor other) => Binary(BinaryOp.LogicalXor, other);
    public Tensor logical_xor(Scalar other) => Binary(BinaryOp.LogicalXor, other);
    public Tensor logical_xor_(Tensor other) => Binary_(BinaryOp.LogicalXor, other);
    public Tensor logical_xor_(Scalar other) => Binary_(BinaryOp.LogicalXor, other);
    public Tensor bitwise_and(Tensor other) => Binary(BinaryOp.BitwiseAnd, other);
    public Tensor bitwise_and(Scalar other) => Binary(BinaryOp.BitwiseAnd, other);
    public Tensor bitwise_and_(Tensor other) => Binary_(BinaryOp.BitwiseAnd, other);
    public Tensor bitwise_and_(Scalar other) => Binary_(BinaryOp.BitwiseAnd, other);
    public Tensor bitwise_or(Tensor other) => Binary(BinaryOp.BitwiseOr, other);
    public Tensor bitwise_or(Scalar other) => Binary(BinaryOp.BitwiseOr, other);
    public Tensor bitwise_or_(Tensor other) => Binary_(BinaryOp.BitwiseOr, other);
    public Tensor bitwise_or_(Scalar other) => Binary_(BinaryOp.BitwiseOr, other);
    public Tensor bitwise_xor(Tensor other) => Binary(BinaryOp.BitwiseXor, other);
    public Tensor bitwise_xor(Scalar other) => Binary(BinaryOp.BitwiseXor, other);
    public Tensor bitwise_xor_(Tensor other) => Binary_(BinaryOp.BitwiseXor, other);
    public Tensor bitwise_xor_(Scalar other) => Binary_(BinaryOp.BitwiseXor, other);
    public Tensor atan2(Tensor other) => Binary(BinaryOp.Atan2, other);
    public Tensor atan2(Scalar other) => Binary(BinaryOp.Atan2, other);
    public Tensor atan2_(Tensor other) => Binary_(BinaryOp.Atan2, other);
    public Tensor atan2_(Scalar other) => Binary_(BinaryOp.Atan2, other);
    public Tensor floor_divide(Tensor other) => Binary(BinaryOp.FloorDivide, other);
    public Tensor floor_divide(Scalar other) => Binary(BinaryOp.FloorDivide, other);
    public Tensor floor_divide_(Tensor other) => Binary_(BinaryOp.FloorDivide, other);
    public Tensor floor_divide_(Scalar other) => Binary_(BinaryOp.FloorDivide, other);

    // PyTorch's aliases.
    public Tensor multiply(Tensor other) => mul(other);
    public Tensor divide(Tensor other) => div(other);
    public Tensor subtract(Tensor other) => sub(other);
    public Tensor greater(Tensor other) => gt(other);
    public Tensor less(Tensor other) => lt(other);

    // ---- operators ----
    public static Tensor operator -(Tensor x) => x.neg();
    public static Tensor operator ~(Tensor x) => x.dtype == ScalarType.Bool ? x.logical_not() : x.bitwise_not();
    public static Tensor operator +(Tensor a, Tensor b) => a.Binary(BinaryOp.Add, b);
    public static Tensor operator +(Tensor a, Scalar b) => a.Binary(BinaryOp.Add, b);
    public static Tensor operator +(Scalar a, Tensor b) => b.Binary(BinaryOp.Add, a);
    public static Tensor operator -(Tensor a, Tensor b) => a.Binary(BinaryOp.Sub, b);
    public static Tensor operator -(Tensor a, Scalar b) => a.Binary(BinaryOp.Sub, b);
    public static Tensor operator -(Scalar a, Tensor b) => Binary(BinaryOp.Sub, a, b);
    public static Tensor operator *(Tensor a, Tensor b) => a.Binary(BinaryOp.Mul, b);
    public static Tensor operator *(Tensor a, Scalar b) => a.Binary(BinaryOp.Mul, b);
    public static Tensor operator *(Scalar a, Tensor b) => b.Binary(BinaryOp.Mul, a);
    public static Tensor operator /(Tensor a, Tensor b) => a.Binary(BinaryOp.Div, b);
    public static Tensor operator /(Tensor a, Scalar b) => a.Binary(BinaryOp.Div, b);
    public static Tensor operator /(Scalar a, Tensor b) => Binary(BinaryOp.Div, a, b);
    public static Tensor operator %(Tensor a, Tensor b) => a.Binary(BinaryOp.Remainder, b);
    public static Tensor operator %(Tensor a, Scalar b) => a.Binary(BinaryOp.Remainder, b);
    public static Tensor operator &(Tensor a, Tensor b) => a.Binary(BinaryOp.BitwiseAnd, b);
    public static Tensor operator |(Tensor a, Tensor b) => a.Binary(BinaryOp.BitwiseOr, b);
    public static Tensor operator ^(Tensor a, Tensor b) => a.Binary(BinaryOp.BitwiseXor, b);
    public static Tensor operator <(Tensor a, Tensor b) => a.Binary(BinaryOp.Lt, b);
    public static Tensor operator <(Tensor a, Scalar b) => a.Binary(BinaryOp.Lt, b);
    public static Tensor operator >(Tensor a, Tensor b) => a.Binary(BinaryOp.Gt, b);
    public static Tensor operator >(Tensor a, Scalar b) => a.Binary(BinaryOp.Gt, b);
    public static Tensor operator <=(Tensor a, Tensor b) => a.Binary(BinaryOp.Le, b);
    public static Tensor operator <=(Tensor a, Scalar b) => a.Binary(BinaryOp.Le, b);
    public static Tensor operator >=(Tensor a, Tensor b) => a.Binary(BinaryOp.Ge, b);
    public static Tensor operator >=(Tensor a, Scalar b) => a.Binary(BinaryOp.Ge, b);

    /// <summary>scalar ** tensor.</summary>
    public static Tensor pow(Scalar self, Tensor exponent) => Binary(BinaryOp.Pow, self, exponent);
    /// <summary>scalar - tensor (PyTorch's rsub).</summary>
    public static Tensor rsub(Tensor x, Scalar other) => Binary(BinaryOp.Sub, other, x);
}
