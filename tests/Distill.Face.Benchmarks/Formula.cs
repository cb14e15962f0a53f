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
    /// <summary>n values in [−1, 1), float64. In place, so a class-centre matrix costs two float64 copies at most
    /// (the step's peak RSS, not the set-up's, is what the benchmark reports).</summary>
    public static Tensor Values(long n, double a, double b)
    {
        var y = torch.arange(n, ScalarType.Float64).mul_(a).add_(b).sin_().mul_(43758.5453);
        using (var floor = y.floor()) y.sub_(floor);
        return y.mul_(2).sub_(1);
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
                using var entry = torch.NewDisposeScope(); // each entry's temporaries are freed before the next
                var n = value.numel();
                var u = Values(n, 0.9, 1.3 * j);
                var v = value.dim() >= 2 ? u.mul_(Math.Sqrt(3.0 / (n / value.shape[0])))
                    : key.EndsWith("running_var", StringComparison.Ordinal) ? u.mul_(0.25).add_(0.75)
                    : key.EndsWith("running_mean", StringComparison.Ordinal) ? u.mul_(0.1)
                    : key.EndsWith("weight", StringComparison.Ordinal) ? u.mul_(0.2).add_(1.0)
                    : u.mul_(0.1);
                value.copy_(v.view(value.shape)); // copy_ converts to the entry's dtype
            }
            j++;
        }
    }

    /// <summary>Batch <paramref name="i"/> of images, (B, 3, size, size) float32 in [−1, 1).</summary>
    public static Tensor Images(long batch, long size, int i)
    {
        using var values = Values(batch * 3 * size * size, 0.7, 2.9 * (i + 1));
        using var single = values.to(ScalarType.Float32);
        return single.reshape(batch, 3, size, size);
    }

    /// <summary>Batch <paramref name="i"/> of labels, (B) int64: (7919·row + 104729·i) mod K.</summary>
    public static Tensor Labels(long batch, long classes, int i)
    {
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(torch.arange(batch, ScalarType.Int64).mul(7919).add(i * 104729L).remainder(classes));
    }
}
