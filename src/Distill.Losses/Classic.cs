using Distill.Metadata;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Losses;

/// <summary>The classic distillation baselines.</summary>
public static class Classic
{
    /// <summary>
    /// Hinton KD (Hinton, Vinyals, Dean 2015): T² · (1/B) Σ_b KL(softmax(t_b/T) ‖ softmax(s_b/T)),
    /// KL summed over classes and averaged over rows ("batchmean"), computed from log-softmax.
    /// The teacher is detached.
    /// </summary>
    [DistillLoss("hinton_kd", Source = "Hinton et al. 2015, arXiv 1503.02531; WisonZ/GKD distillation/kd.py",
        Formula = "T^2 * (1/B) * sum_b sum_c p_t (log p_t - log p_s), p = softmax(z/T)")]
    public static Tensor hinton_kd(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "B,K")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Logits, Shape = "B,K")] Tensor teacher,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "softmax temperature T")] double temperature = 4.0)
    {
        const string loss = "hinton_kd";
        Guard.Rank(loss, nameof(student), student, 2, "B, K");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);
        Guard.Positive(loss, nameof(temperature), temperature);

        using var scope = torch.NewDisposeScope();
        var logPs = log_softmax(student / temperature, 1);
        var logPt = log_softmax(teacher.detach() / temperature, 1);
        var kl = kl_div(logPs, logPt, reduction: "batchmean", log_target: true);
        return scope.MoveToOuter(kl * (temperature * temperature));
    }
}
