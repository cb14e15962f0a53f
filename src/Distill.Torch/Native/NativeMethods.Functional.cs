using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

// native/src/nn_functional.cpp
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Lib)] internal static partial int dst_linear(TensorHandle input, TensorHandle weight, IntPtr bias, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_conv2d(TensorHandle input, TensorHandle weight, IntPtr bias, long* stride, long nstride, long* padding, long npadding, long* dilation, long ndilation, long groups, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_conv_transpose2d(TensorHandle input, TensorHandle weight, IntPtr bias, long* stride, long nstride, long* padding, long npadding, long* outputPadding, long noutputPadding, long groups, long* dilation, long ndilation, out IntPtr result);

    [LibraryImport(Lib)] internal static partial int dst_batch_norm(TensorHandle input, IntPtr runningMean, IntPtr runningVar, IntPtr weight, IntPtr bias, int training, double momentum, double eps, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_layer_norm(TensorHandle input, long* shape, long nshape, IntPtr weight, IntPtr bias, double eps, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_group_norm(TensorHandle input, long numGroups, IntPtr weight, IntPtr bias, double eps, out IntPtr result);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_gelu(TensorHandle input, string approximate, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_silu(TensorHandle input, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_silu_(TensorHandle input);
    [LibraryImport(Lib)] internal static partial int dst_leaky_relu(TensorHandle input, double negativeSlope, int inplace, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_prelu(TensorHandle input, TensorHandle weight, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_softmax(TensorHandle input, long dim, int dtype, int log, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_dropout(TensorHandle input, double p, int training, int inplace, out IntPtr result);

    [LibraryImport(Lib)] internal static partial int dst_max_pool2d(TensorHandle input, long* kernel, long nkernel, long* stride, long nstride, long* padding, long npadding, long* dilation, long ndilation, int ceilMode, out IntPtr result, IntPtr* indices);
    [LibraryImport(Lib)] internal static partial int dst_avg_pool2d(TensorHandle input, long* kernel, long nkernel, long* stride, long nstride, long* padding, long npadding, int ceilMode, int countIncludePad, long divisorOverride, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_adaptive_avg_pool2d(TensorHandle input, long* size, long nsize, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_adaptive_max_pool2d(TensorHandle input, long* size, long nsize, out IntPtr result, IntPtr* indices);

    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_interpolate(TensorHandle input, long* size, long nsize, double* scale, long nscale, string mode, int alignCorners, int recomputeScaleFactor, int antialias, out IntPtr result);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_pad(TensorHandle input, long* pad, long npad, string mode, int hasValue, double value, out IntPtr result);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int dst_grid_sample(TensorHandle input, TensorHandle grid, string mode, string paddingMode, int alignCorners, out IntPtr result);

    [LibraryImport(Lib)] internal static partial int dst_normalize(TensorHandle input, double p, long dim, double eps, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_cosine_similarity(TensorHandle x1, TensorHandle x2, long dim, double eps, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_pairwise_distance(TensorHandle x1, TensorHandle x2, double p, double eps, int keepdim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_one_hot(TensorHandle input, long numClasses, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_embedding(TensorHandle input, TensorHandle weight, int hasPaddingIdx, long paddingIdx, int hasMaxNorm, double maxNorm, double normType, int scaleGradByFreq, int sparse, out IntPtr result);

    [LibraryImport(Lib)] internal static partial int dst_cross_entropy(TensorHandle input, TensorHandle target, IntPtr weight, long reduction, long ignoreIndex, double labelSmoothing, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_nll_loss(TensorHandle input, TensorHandle target, IntPtr weight, long reduction, long ignoreIndex, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_kl_div(TensorHandle input, TensorHandle target, long reduction, int logTarget, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_regression_loss(int kind, TensorHandle input, TensorHandle target, long reduction, double beta, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_binary_cross_entropy_with_logits(TensorHandle input, TensorHandle target, IntPtr weight, IntPtr posWeight, long reduction, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_binary_cross_entropy(TensorHandle input, TensorHandle target, IntPtr weight, long reduction, out IntPtr result);
}
