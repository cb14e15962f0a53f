using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>PyTorch's <c>torch.nn.utils</c>.</summary>
        public static partial class utils
        {
            /// <summary>
            /// Scales the gradients of <paramref name="parameters"/> in place so that their norm, taken over
            /// all of them together, is at most <paramref name="max_norm"/>: each is multiplied by
            /// min(1, max_norm / (total_norm + 1e-6)), as PyTorch 1.13 does. Parameters without a gradient
            /// are ignored. Returns the total norm before clipping (a zero float32 scalar when no parameter
            /// has a gradient). <paramref name="norm_type"/> may be <see cref="double.PositiveInfinity"/>.
            /// With <paramref name="error_if_nonfinite"/>, a NaN or infinite total norm is an error and
            /// nothing is scaled.
            /// </summary>
            public static unsafe Tensor clip_grad_norm_(IEnumerable<Tensor> parameters, double max_norm, double norm_type = 2.0,
                                                        bool error_if_nonfinite = false)
            {
                ArgumentNullException.ThrowIfNull(parameters);
                var list = parameters as IReadOnlyList<Tensor> ?? parameters.ToList();
                var handles = TensorLists.Handles(list);
                IntPtr r;
                fixed (IntPtr* p = handles)
                    Check(dst_clip_grad_norm_(p, handles.Length, max_norm, norm_type, error_if_nonfinite ? 1 : 0, out r));
                GC.KeepAlive(list);
                return new Tensor(r);
            }

            public static Tensor clip_grad_norm_(Tensor parameter, double max_norm, double norm_type = 2.0, bool error_if_nonfinite = false) =>
                clip_grad_norm_([parameter], max_norm, norm_type, error_if_nonfinite);

            /// <summary>Clamps every gradient of <paramref name="parameters"/> to [-clip_value, clip_value] in place.</summary>
            public static unsafe void clip_grad_value_(IEnumerable<Tensor> parameters, double clip_value)
            {
                ArgumentNullException.ThrowIfNull(parameters);
                var list = parameters as IReadOnlyList<Tensor> ?? parameters.ToList();
                var handles = TensorLists.Handles(list);
                fixed (IntPtr* p = handles)
                    Check(dst_clip_grad_value_(p, handles.Length, clip_value));
                GC.KeepAlive(list);
            }

            public static void clip_grad_value_(Tensor parameter, double clip_value) => clip_grad_value_([parameter], clip_value);
        }
    }
}
