using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.Face.Benchmarks;

/// <summary>
/// Deterministic weights and inputs that face_bench.py computes with the same libtorch ops in the same order
/// (frac(sin(i·a + b)·43758.5453)·2 − 1 in float64), so both sides start from identical values and their first
/// results can be compared.
/// </summary>
internal static class Formula
{
    /// <summary>n values in [−1, 1), float64.</summary>
    public static Tensor Values(long n, double a, double b)
    {
        using var scope = torch.NewDisposeScope();
        var y = torch.arange(n, ScalarType.Float64).mul(a).add(b).sin().mul(43758.5453);
        return scope.MoveToOuter((y - y.floor()) * 2 - 1);
    }

    /// <summary>
    /// Every floating state_dict entry j from the formula (as make_models.py and the model tests do): weights of
    /// rank ≥ 2 u·√(3/fan_in), running_var 0.75 + 0.25u, running_mean 0.1u, other weights 1 + 0.2u, biases 0.1u.
    /// </summary>
    public static void Weights(Module model)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var j = 0;
        foreach (var (key, value) in model.state_dict(keep_vars: true))
        {
            if (value.is_floating_point())
            {
                var n = value.numel();
                var u = Values(n, 0.9, 1.3 * j);
                var v = value.dim() >= 2 ? u * Math.Sqrt(3.0 / (n / value.shape[0]))
                    : key.EndsWith("running_var", StringComparison.Ordinal) ? u * 0.25 + 0.75
                    : key.EndsWith("running_mean", StringComparison.Ordinal) ? u * 0.1
                    : key.EndsWith("weight", StringComparison.Ordinal) ? u * 0.2 + 1.0
                    : u * 0.1;
                value.copy_(v.reshape(value.shape).to(value.dtype));
            }
            j++;
        }
    }

    /// <summary>Batch <paramref name="i"/> of images, (B, 3, size, size) float32 in [−1, 1).</summary>
    public static Tensor Images(long batch, long size, int i)
    {
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(Values(batch * 3 * size * size, 0.7, 2.9 * (i + 1)).to(ScalarType.Float32).reshape(batch, 3, size, size));
    }

    /// <summary>Batch <paramref name="i"/> of labels, (B) int64: (7919·row + 104729·i) mod K.</summary>
    public static Tensor Labels(long batch, long classes, int i)
    {
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(torch.arange(batch, ScalarType.Int64).mul(7919).add(i * 104729L).remainder(classes));
    }
}
