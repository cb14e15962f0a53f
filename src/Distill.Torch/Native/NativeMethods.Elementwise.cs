using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

// native/src/elementwise.cpp and native/src/basics.cpp
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Lib)] internal static partial int dst_unary(UnaryOp op, TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_unary_(UnaryOp op, TensorHandle x);
    [LibraryImport(Lib)] internal static partial int dst_binary(BinaryOp op, TensorHandle a, TensorHandle b, NativeScalar alpha, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_binary_scalar(BinaryOp op, TensorHandle a, NativeScalar b, NativeScalar alpha, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_binary_rscalar(BinaryOp op, NativeScalar a, TensorHandle b, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_binary_(BinaryOp op, TensorHandle a, TensorHandle b, NativeScalar alpha);
    [LibraryImport(Lib)] internal static partial int dst_binary_scalar_(BinaryOp op, TensorHandle a, NativeScalar b, NativeScalar alpha);

    [LibraryImport(Lib)] internal static partial int dst_clone(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_contiguous(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_to(TensorHandle x, int dtype, int deviceType, int deviceIndex, int nonBlocking, int copy, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_copy_(TensorHandle dst, TensorHandle src, int nonBlocking);
    [LibraryImport(Lib)] internal static partial int dst_fill_(TensorHandle x, NativeScalar value);
    [LibraryImport(Lib)] internal static partial int dst_zero_(TensorHandle x);
    [LibraryImport(Lib)] internal static partial int dst_view(TensorHandle x, long* shape, long ndim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_reshape(TensorHandle x, long* shape, long ndim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_flatten(TensorHandle x, long startDim, long endDim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_sum(TensorHandle x, int dtype, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_sum_dims(TensorHandle x, long* dims, long ndims, int keepdim, int dtype, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_mean(TensorHandle x, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_mean_dims(TensorHandle x, long* dims, long ndims, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_allclose(TensorHandle a, TensorHandle b, double rtol, double atol, int equalNan, out int result);
    [LibraryImport(Lib)] internal static partial int dst_equal(TensorHandle a, TensorHandle b, out int result);
}

/// <summary>Unary operator codes of <c>dst_unary</c>; keep in sync with native/src/elementwise.cpp.</summary>
internal enum UnaryOp
{
    Neg, Abs, Exp, Log, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid,
    Relu, Floor, Ceil, Round, Trunc, Sign, Reciprocal, Log1p, Expm1, Square,
    LogicalNot, Erf, Log2, Exp2, IsNan, IsInf, IsFinite, BitwiseNot, Tan, Atan,
    Asin, Acos, Sinh, Cosh, Frac, Log10,
}

/// <summary>Binary operator codes of <c>dst_binary*</c>; keep in sync with native/src/elementwise.cpp.</summary>
internal enum BinaryOp
{
    Add, Sub, Mul, Div, Pow, Remainder, Fmod, Maximum, Minimum,
    Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr, LogicalXor,
    BitwiseAnd, BitwiseOr, BitwiseXor, Atan2, FloorDivide, DivTrunc, DivFloor,
}
