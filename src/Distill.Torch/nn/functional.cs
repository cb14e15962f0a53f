using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>
        /// <c>torch.nn.functional</c>: the stateless layers, activations, pooling, resampling and losses,
        /// with PyTorch's argument names, defaults and checks (native/src/nn_functional.cpp). Optional
        /// tensors are null for Python's None; reductions are "none", "mean" or "sum".
        /// </summary>
        public static partial class functional
        {
            // ---- helpers ---------------------------------------------------------------------------

            private static IntPtr Opt(Tensor? t) => t is null ? IntPtr.Zero : t.Handle.DangerousGetHandle();

            /// <summary>PyTorch's reduction codes (at::Reduction): none 0, mean 1, sum 2.</summary>
            internal static long ReductionCode(string reduction) => reduction switch
            {
                "none" => 0,
                "mean" => 1,
                "sum" => 2,
                _ => throw new TorchException($"{reduction} is not a valid value for reduction", ErrorCategory.Value),
            };

            private static long[] Ints(IntOrTuple? value, long fallback) => value?.Values ?? new[] { fallback };

            // ---- linear layers and convolutions ------------------------------------------------------

            /// <summary>y = x·Wᵀ + b.</summary>
            public static Tensor linear(Tensor input, Tensor weight, Tensor? bias = null)
            {
                Check(dst_linear(input.Handle, weight.Handle, Opt(bias), out var r));
                GC.KeepAlive(bias);
                return new Tensor(r);
            }

            /// <summary>2-D convolution of an (N, C, H, W) or (C, H, W) input with a (out, in/groups, kH, kW) weight.</summary>
            public static unsafe Tensor conv2d(Tensor input, Tensor weight, Tensor? bias = null, IntOrTuple? stride = null,
                IntOrTuple? padding = null, IntOrTuple? dilation = null, long groups = 1)
            {
                var s = Ints(stride, 1);
                var p = Ints(padding, 0);
                var d = Ints(dilation, 1);
                IntPtr r;
                fixed (long* ps = s)
                fixed (long* pp = p)
                fixed (long* pd = d)
                    Check(dst_conv2d(input.Handle, weight.Handle, Opt(bias), ps, s.Length, pp, p.Length, pd, d.Length, groups, out r));
                GC.KeepAlive(bias);
                return new Tensor(r);
            }

            /// <summary>The transpose of conv2d (a "deconvolution"); weight is (in, out/groups, kH, kW).</summary>
            public static unsafe Tensor conv_transpose2d(Tensor input, Tensor weight, Tensor? bias = null, IntOrTuple? stride = null,
                IntOrTuple? padding = null, IntOrTuple? output_padding = null, long groups = 1, IntOrTuple? dilation = null)
            {
                var s = Ints(stride, 1);
                var p = Ints(padding, 0);
                var o = Ints(output_padding, 0);
                var d = Ints(dilation, 1);
                IntPtr r;
                fixed (long* ps = s)
                fixed (long* pp = p)
                fixed (long* po = o)
                fixed (long* pd = d)
                    Check(dst_conv_transpose2d(input.Handle, weight.Handle, Opt(bias), ps, s.Length, pp, p.Length, po, o.Length, groups, pd, d.Length, out r));
                GC.KeepAlive(bias);
                return new Tensor(r);
            }

            // ---- normalization -------------------------------------------------------------------------

            /// <summary>
            /// Batch normalization over dim 1. In training, batch statistics normalize the input and the
            /// running statistics (when given) are updated in place with <paramref name="momentum"/>;
            /// otherwise the running statistics normalize.
            /// </summary>
            public static Tensor batch_norm(Tensor input, Tensor? running_mean, Tensor? running_var, Tensor? weight = null,
                Tensor? bias = null, bool training = false, double momentum = 0.1, double eps = 1e-5)
            {
                Check(dst_batch_norm(input.Handle, Opt(running_mean), Opt(running_var), Opt(weight), Opt(bias), training ? 1 : 0, momentum, eps, out var r));
                GC.KeepAlive(running_mean);
                GC.KeepAlive(running_var);
                GC.KeepAlive(weight);
                GC.KeepAlive(bias);
                return new Tensor(r);
            }

            /// <summary>Normalizes over the trailing <paramref name="normalized_shape"/> dimensions.</summary>
            public static unsafe Tensor layer_norm(Tensor input, long[] normalized_shape, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
            {
                IntPtr r;
                fixed (long* p = normalized_shape)
                    Check(dst_layer_norm(input.Handle, p, normalized_shape.Length, Opt(weight), Opt(bias), eps, out r));
                GC.KeepAlive(weight);
                GC.KeepAlive(bias);
                return new Tensor(r);
            }

            /// <summary>Normalizes over groups of channels (dim 1 split into <paramref name="num_groups"/>).</summary>
            public static Tensor group_norm(Tensor input, long num_groups, Tensor? weight = null, Tensor? bias = null, double eps = 1e-5)
            {
                Check(dst_group_norm(input.Handle, num_groups, Opt(weight), Opt(bias), eps, out var r));
                GC.KeepAlive(weight);
                GC.KeepAlive(bias);
                return new Tensor(r);
            }

            // ---- activations ------------------------------------------------------------------------------

            /// <summary>max(x, 0); <paramref name="inplace"/> overwrites and returns the input.</summary>
            public static Tensor relu(Tensor input, bool inplace = false) => inplace ? input.relu_() : input.relu();

            /// <summary>x·Φ(x); approximate "tanh" uses the tanh approximation.</summary>
            public static Tensor gelu(Tensor input, string approximate = "none")
            {
                Check(dst_gelu(input.Handle, approximate, out var r));
                return new Tensor(r);
            }

            /// <summary>x·sigmoid(x).</summary>
            public static Tensor silu(Tensor input, bool inplace = false)
            {
                if (inplace)
                {
                    Check(dst_silu_(input.Handle));
                    return input;
                }
                Check(dst_silu(input.Handle, out var r));
                return new Tensor(r);
            }

            public static Tensor leaky_relu(Tensor input, double negative_slope = 0.01, bool inplace = false)
            {
                Check(dst_leaky_relu(input.Handle, negative_slope, inplace ? 1 : 0, out var r));
                return inplace ? input : new Tensor(r);
            }

            /// <summary>
            /// max(0, x) + weight·min(0, x): <paramref name="weight"/> holds one slope, or one per channel
            /// (dim 1 of the input, as <see cref="Modules.PReLU"/> with <c>num_parameters</c> = channels).
            /// </summary>
            public static Tensor prelu(Tensor input, Tensor weight)
            {
                Check(dst_prelu(input.Handle, weight.Handle, out var r));
                return new Tensor(r);
            }

            public static Tensor sigmoid(Tensor input) => input.sigmoid();

            public static Tensor tanh(Tensor input) => input.tanh();

            /// <summary>Softmax along <paramref name="dim"/>, computed in <paramref name="dtype"/> when given.</summary>
            public static Tensor softmax(Tensor input, long dim, ScalarType? dtype = null)
            {
                Check(dst_softmax(input.Handle, dim, dtype is null ? -1 : (int)dtype.Value, 0, out var r));
                return new Tensor(r);
            }

            /// <summary>log(softmax(x)) along <paramref name="dim"/>, computed stably.</summary>
            public static Tensor log_softmax(Tensor input, long dim, ScalarType? dtype = null)
            {
                Check(dst_softmax(input.Handle, dim, dtype is null ? -1 : (int)dtype.Value, 1, out var r));
                return new Tensor(r);
            }

            /// <summary>
            /// Zeroes each element with probability <paramref name="p"/> and scales the rest by 1/(1-p) when
            /// <paramref name="training"/>; the identity otherwise.
            /// </summary>
            public static Tensor dropout(Tensor input, double p = 0.5, bool training = true, bool inplace = false)
            {
                Check(dst_dropout(input.Handle, p, training ? 1 : 0, inplace ? 1 : 0, out var r));
                return inplace ? input : new Tensor(r);
            }

            // ---- pooling ---------------------------------------------------------------------------------

            /// <summary>2-D max pooling; stride defaults to the kernel size.</summary>
            public static Tensor max_pool2d(Tensor input, IntOrTuple kernel_size, IntOrTuple? stride = null, IntOrTuple? padding = null,
                IntOrTuple? dilation = null, bool ceil_mode = false) =>
                MaxPool2d(input, kernel_size, stride, padding, dilation, ceil_mode, withIndices: false).output;

            /// <summary>2-D max pooling that also returns the flat (per plane) index of each maximum.</summary>
            public static (Tensor output, Tensor indices) max_pool2d_with_indices(Tensor input, IntOrTuple kernel_size, IntOrTuple? stride = null,
                IntOrTuple? padding = null, IntOrTuple? dilation = null, bool ceil_mode = false)
            {
                var (output, indices) = MaxPool2d(input, kernel_size, stride, padding, dilation, ceil_mode, withIndices: true);
                return (output, indices!);
            }

            private static unsafe (Tensor output, Tensor? indices) MaxPool2d(Tensor input, IntOrTuple kernel_size, IntOrTuple? stride,
                IntOrTuple? padding, IntOrTuple? dilation, bool ceil_mode, bool withIndices)
            {
                var k = kernel_size.Values;
                var s = stride?.Values ?? Array.Empty<long>();
                var p = Ints(padding, 0);
                var d = Ints(dilation, 1);
                IntPtr r, indices = IntPtr.Zero;
                fixed (long* pk = k)
                fixed (long* ps = s)
                fixed (long* pp = p)
                fixed (long* pd = d)
                    Check(dst_max_pool2d(input.Handle, pk, k.Length, ps, s.Length, pp, p.Length, pd, d.Length, ceil_mode ? 1 : 0, out r, withIndices ? &indices : null));
                return (new Tensor(r), Tensor.WrapOptional(indices));
            }

            /// <summary>2-D average pooling; stride defaults to the kernel size.</summary>
            public static unsafe Tensor avg_pool2d(Tensor input, IntOrTuple kernel_size, IntOrTuple? stride = null, IntOrTuple? padding = null,
                bool ceil_mode = false, bool count_include_pad = true, long? divisor_override = null)
            {
                if (divisor_override == 0) throw new TorchException("divisor must be not zero", ErrorCategory.Runtime);
                var k = kernel_size.Values;
                var s = stride?.Values ?? Array.Empty<long>();
                var p = Ints(padding, 0);
                IntPtr r;
                fixed (long* pk = k)
                fixed (long* ps = s)
                fixed (long* pp = p)
                    Check(dst_avg_pool2d(input.Handle, pk, k.Length, ps, s.Length, pp, p.Length, ceil_mode ? 1 : 0, count_include_pad ? 1 : 0, divisor_override ?? 0, out r));
                return new Tensor(r);
            }

            /// <summary>Average pooling to a fixed output size (a single value means a square output).</summary>
            public static unsafe Tensor adaptive_avg_pool2d(Tensor input, IntOrTuple output_size)
            {
                var size = output_size.Expand(2);
                IntPtr r;
                fixed (long* p = size) Check(dst_adaptive_avg_pool2d(input.Handle, p, size.Length, out r));
                return new Tensor(r);
            }

            /// <summary>Max pooling to a fixed output size.</summary>
            public static Tensor adaptive_max_pool2d(Tensor input, IntOrTuple output_size)
            {
                var (output, indices) = adaptive_max_pool2d_with_indices(input, output_size);
                indices.Dispose();
                return output;
            }

            public static unsafe (Tensor output, Tensor indices) adaptive_max_pool2d_with_indices(Tensor input, IntOrTuple output_size)
            {
                var size = output_size.Expand(2);
                IntPtr r, indices;
                fixed (long* p = size) Check(dst_adaptive_max_pool2d(input.Handle, p, size.Length, out r, &indices));
                return (new Tensor(r), new Tensor(indices));
            }

            // ---- resampling and padding --------------------------------------------------------------------

            /// <summary>
            /// Resizes the spatial dimensions to <paramref name="size"/> or by <paramref name="scale_factor"/>
            /// (exactly one). Modes: nearest, nearest-exact, linear (3-D), bilinear and bicubic (4-D),
            /// trilinear (5-D), area. align_corners applies to the interpolating modes only.
            /// </summary>
            public static unsafe Tensor interpolate(Tensor input, IntOrTuple? size = null, DoubleOrTuple? scale_factor = null,
                string mode = "nearest", bool? align_corners = null, bool? recompute_scale_factor = null, bool antialias = false)
            {
                var sizes = size?.Values;
                var scales = scale_factor?.Values;
                IntPtr r;
                fixed (long* ps = sizes)
                fixed (double* pf = scales)
                    Check(dst_interpolate(input.Handle, ps, sizes?.Length ?? 0, pf, scales?.Length ?? 0, mode,
                        align_corners is null ? -1 : align_corners.Value ? 1 : 0,
                        recompute_scale_factor is null ? -1 : recompute_scale_factor.Value ? 1 : 0, antialias ? 1 : 0, out r));
                return new Tensor(r);
            }

            /// <summary>
            /// Pads the last dimensions: <paramref name="pad"/> is (left, right) for the last dimension, then
            /// (top, bottom) for the one before, and so on. Modes: constant (with <paramref name="value"/>,
            /// default 0), reflect, replicate, circular.
            /// </summary>
            public static unsafe Tensor pad(Tensor input, long[] pad, string mode = "constant", double? value = null)
            {
                IntPtr r;
                fixed (long* p = pad)
                    Check(dst_pad(input.Handle, p, pad.Length, mode, value is null ? 0 : 1, value ?? 0, out r));
                return new Tensor(r);
            }

            /// <summary>
            /// Samples <paramref name="input"/> (N, C, H, W) at the normalized (x, y) locations of
            /// <paramref name="grid"/> (N, H_out, W_out, 2). Modes bilinear, nearest, bicubic; padding modes
            /// zeros, border, reflection. align_corners defaults to false.
            /// </summary>
            public static Tensor grid_sample(Tensor input, Tensor grid, string mode = "bilinear", string padding_mode = "zeros", bool? align_corners = null)
            {
                Check(dst_grid_sample(input.Handle, grid.Handle, mode, padding_mode, align_corners == true ? 1 : 0, out var r));
                return new Tensor(r);
            }

            // ---- distances, embeddings ------------------------------------------------------------------------

            /// <summary>x / max(‖x‖_p, eps) along <paramref name="dim"/>.</summary>
            public static Tensor normalize(Tensor input, double p = 2.0, long dim = 1, double eps = 1e-12)
            {
                Check(dst_normalize(input.Handle, p, dim, eps, out var r));
                return new Tensor(r);
            }

            public static Tensor cosine_similarity(Tensor x1, Tensor x2, long dim = 1, double eps = 1e-8)
            {
                Check(dst_cosine_similarity(x1.Handle, x2.Handle, dim, eps, out var r));
                return new Tensor(r);
            }

            /// <summary>‖x1 - x2 + eps‖_p along the last dimension.</summary>
            public static Tensor pairwise_distance(Tensor x1, Tensor x2, double p = 2.0, double eps = 1e-6, bool keepdim = false)
            {
                Check(dst_pairwise_distance(x1.Handle, x2.Handle, p, eps, keepdim ? 1 : 0, out var r));
                return new Tensor(r);
            }

            /// <summary>An int64 tensor with one more dimension: 1 at each class index, 0 elsewhere.</summary>
            public static Tensor one_hot(Tensor tensor, long num_classes = -1)
            {
                Check(dst_one_hot(tensor.Handle, num_classes, out var r));
                return new Tensor(r);
            }

            /// <summary>
            /// Looks up rows of <paramref name="weight"/>. The row at <paramref name="padding_idx"/> gets no
            /// gradient; with <paramref name="max_norm"/>, looked-up rows are renormalized in place first.
            /// </summary>
            public static Tensor embedding(Tensor input, Tensor weight, long? padding_idx = null, double? max_norm = null,
                double norm_type = 2.0, bool scale_grad_by_freq = false, bool sparse = false)
            {
                Check(dst_embedding(input.Handle, weight.Handle, padding_idx is null ? 0 : 1, padding_idx ?? -1,
                    max_norm is null ? 0 : 1, max_norm ?? 0, norm_type, scale_grad_by_freq ? 1 : 0, sparse ? 1 : 0, out var r));
                return new Tensor(r);
            }

            // ---- losses -------------------------------------------------------------------------------------------

            /// <summary>
            /// Cross entropy of logits (N, C, ...) against class indices (N, ...) or class probabilities
            /// (same shape as the input), with optional class weights, ignored index and label smoothing.
            /// </summary>
            public static Tensor cross_entropy(Tensor input, Tensor target, Tensor? weight = null, long ignore_index = -100,
                string reduction = "mean", double label_smoothing = 0.0)
            {
                Check(dst_cross_entropy(input.Handle, target.Handle, Opt(weight), ReductionCode(reduction), ignore_index, label_smoothing, out var r));
                GC.KeepAlive(weight);
                return new Tensor(r);
            }

            /// <summary>Negative log likelihood of log-probabilities (N, C, ...) at class indices (N, ...).</summary>
            public static Tensor nll_loss(Tensor input, Tensor target, Tensor? weight = null, long ignore_index = -100, string reduction = "mean")
            {
                Check(dst_nll_loss(input.Handle, target.Handle, Opt(weight), ReductionCode(reduction), ignore_index, out var r));
                GC.KeepAlive(weight);
                return new Tensor(r);
            }

            /// <summary>
            /// KL(target ‖ input) with <paramref name="input"/> as log-probabilities and the target as
            /// probabilities (or log-probabilities with <paramref name="log_target"/>). "batchmean" divides
            /// the sum by the batch size (the mathematically correct KL); "mean" averages every element.
            /// </summary>
            public static Tensor kl_div(Tensor input, Tensor target, string reduction = "mean", bool log_target = false)
            {
                var code = reduction == "batchmean" ? 3 : ReductionCode(reduction);
                Check(dst_kl_div(input.Handle, target.Handle, code, log_target ? 1 : 0, out var r));
                return new Tensor(r);
            }

            private static Tensor Regression(int kind, Tensor input, Tensor target, string reduction, double beta)
            {
                Check(dst_regression_loss(kind, input.Handle, target.Handle, ReductionCode(reduction), beta, out var r));
                return new Tensor(r);
            }

            public static Tensor mse_loss(Tensor input, Tensor target, string reduction = "mean") => Regression(0, input, target, reduction, 0);

            public static Tensor l1_loss(Tensor input, Tensor target, string reduction = "mean") => Regression(1, input, target, reduction, 0);

            /// <summary>Quadratic below <paramref name="beta"/> (scaled by 1/beta), linear above; beta 0 is l1_loss.</summary>
            public static Tensor smooth_l1_loss(Tensor input, Tensor target, string reduction = "mean", double beta = 1.0)
                => Regression(2, input, target, reduction, beta);

            /// <summary>Quadratic below <paramref name="delta"/>, linear above (smooth_l1_loss times delta).</summary>
            public static Tensor huber_loss(Tensor input, Tensor target, string reduction = "mean", double delta = 1.0) =>
                Regression(3, input, target, reduction, delta);

            /// <summary>
            /// Binary cross entropy of logits (sigmoid and BCE fused for stability), with optional element
            /// weights and per-class weights of positive examples.
            /// </summary>
            public static Tensor binary_cross_entropy_with_logits(Tensor input, Tensor target, Tensor? weight = null,
                string reduction = "mean", Tensor? pos_weight = null)
            {
                Check(dst_binary_cross_entropy_with_logits(input.Handle, target.Handle, Opt(weight), Opt(pos_weight), ReductionCode(reduction), out var r));
                GC.KeepAlive(weight);
                GC.KeepAlive(pos_weight);
                return new Tensor(r);
            }

            /// <summary>Binary cross entropy of probabilities.</summary>
            public static Tensor binary_cross_entropy(Tensor input, Tensor target, Tensor? weight = null, string reduction = "mean")
            {
                Check(dst_binary_cross_entropy(input.Handle, target.Handle, Opt(weight), ReductionCode(reduction), out var r));
                GC.KeepAlive(weight);
                return new Tensor(r);
            }
        }
    }
}
