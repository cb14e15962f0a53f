using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

public static partial class torch
{
    public static partial class nn
    {
        /// <summary>
        /// <c>torch.nn.init</c>: in-place initialisers with PyTorch's formulas, run outside autograd. They
        /// draw from the global generator unless one is given, with the same calls PyTorch makes, so a
        /// seeded initialisation reproduces PyTorch's values.
        /// </summary>
        public static class init
        {
            /// <summary>The recommended gain for a nonlinearity (param: leaky_relu's negative slope, default 0.01).</summary>
            public static double calculate_gain(string nonlinearity, double? param = null) => nonlinearity switch
            {
                "linear" or "conv1d" or "conv2d" or "conv3d" or "conv_transpose1d" or "conv_transpose2d" or "conv_transpose3d"
                    or "sigmoid" => 1.0,
                "tanh" => 5.0 / 3,
                "relu" => Math.Sqrt(2.0),
                "leaky_relu" => Math.Sqrt(2.0 / (1 + Math.Pow(param ?? 0.01, 2))),
                "selu" => 3.0 / 4,
                _ => throw new TorchException($"Unsupported nonlinearity {nonlinearity}", ErrorCategory.Value),
            };

            /// <summary>
            /// (fan_in, fan_out) of a weight: size(1) and size(0) times the receptive field (the product of
            /// the remaining dimensions).
            /// </summary>
            public static (long fan_in, long fan_out) calculate_fan_in_and_fan_out(Tensor tensor)
            {
                var shape = tensor.shape;
                if (shape.Length < 2)
                    throw new TorchException("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions", ErrorCategory.Value);
                long receptive = 1;
                for (var d = 2; d < shape.Length; d++) receptive *= shape[d];
                return (shape[1] * receptive, shape[0] * receptive);
            }

            private static long CorrectFan(Tensor tensor, string mode)
            {
                var m = mode.ToLowerInvariant();
                if (m != "fan_in" && m != "fan_out")
                    throw new TorchException($"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']", ErrorCategory.Value);
                var (fanIn, fanOut) = calculate_fan_in_and_fan_out(tensor);
                return m == "fan_in" ? fanIn : fanOut;
            }

            private static bool IsEmpty(Tensor tensor) => tensor.shape.Contains(0L);

            public static Tensor uniform_(Tensor tensor, double a = 0, double b = 1, Generator? generator = null)
            {
                using (no_grad()) return tensor.uniform_(a, b, generator);
            }

            public static Tensor normal_(Tensor tensor, double mean = 0, double std = 1, Generator? generator = null)
            {
                using (no_grad()) return tensor.normal_(mean, std, generator);
            }

            /// <summary>N(mean, std²) truncated to [a, b] (PyTorch's inverse-CDF method).</summary>
            public static Tensor trunc_normal_(Tensor tensor, double mean = 0, double std = 1, double a = -2, double b = 2, Generator? generator = null)
            {
                Check(dst_init_trunc_normal_(tensor.Handle, mean, std, a, b, Generator.HandleOf(generator)));
                GC.KeepAlive(generator);
                return tensor;
            }

            public static Tensor constant_(Tensor tensor, Scalar val)
            {
                using (no_grad()) return tensor.fill_(val);
            }

            public static Tensor ones_(Tensor tensor) => constant_(tensor, 1.0);

            public static Tensor zeros_(Tensor tensor)
            {
                using (no_grad()) return tensor.zero_();
            }

            /// <summary>U(-a, a) with a = gain·√(6 / (fan_in + fan_out)) (Glorot).</summary>
            public static Tensor xavier_uniform_(Tensor tensor, double gain = 1.0, Generator? generator = null)
            {
                var (fanIn, fanOut) = calculate_fan_in_and_fan_out(tensor);
                var std = gain * Math.Sqrt(2.0 / (fanIn + fanOut));
                var a = Math.Sqrt(3.0) * std;
                return uniform_(tensor, -a, a, generator);
            }

            /// <summary>N(0, std²) with std = gain·√(2 / (fan_in + fan_out)) (Glorot).</summary>
            public static Tensor xavier_normal_(Tensor tensor, double gain = 1.0, Generator? generator = null)
            {
                var (fanIn, fanOut) = calculate_fan_in_and_fan_out(tensor);
                var std = gain * Math.Sqrt(2.0 / (fanIn + fanOut));
                return normal_(tensor, 0, std, generator);
            }

            /// <summary>
            /// U(-bound, bound) with bound = gain·√(3 / fan) (He); <paramref name="a"/> is the negative slope
            /// of the rectifier after this layer (leaky_relu's gain).
            /// </summary>
            public static Tensor kaiming_uniform_(Tensor tensor, double a = 0, string mode = "fan_in", string nonlinearity = "leaky_relu",
                Generator? generator = null)
            {
                if (IsEmpty(tensor)) return tensor; // PyTorch warns that this is a no-op
                var fan = CorrectFan(tensor, mode);
                var std = calculate_gain(nonlinearity, a) / Math.Sqrt(fan);
                var bound = Math.Sqrt(3.0) * std;
                return uniform_(tensor, -bound, bound, generator);
            }

            /// <summary>N(0, std²) with std = gain / √fan (He).</summary>
            public static Tensor kaiming_normal_(Tensor tensor, double a = 0, string mode = "fan_in", string nonlinearity = "leaky_relu",
                Generator? generator = null)
            {
                if (IsEmpty(tensor)) return tensor;
                var fan = CorrectFan(tensor, mode);
                var std = calculate_gain(nonlinearity, a) / Math.Sqrt(fan);
                return normal_(tensor, 0, std, generator);
            }
        }
    }
}
