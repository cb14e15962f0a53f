using Distill.Metadata;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Losses;

// The shared forms of the classic losses: the same values as hinton_kd and cross_entropy, computed from a
// log-softmax the generated code computes once per batch and hands to every term that needs it (a KD term
// and cross-entropy on the same logits at T = 1, two teachers' KD terms on the student's log-softmax at one T).
public static partial class Classic
{
    /// <summary>log_softmax(z / T) over the class dim: the quantity the shared forms take.</summary>
    public static Tensor log_softmax_t(Tensor logits, double temperature = 1.0) =>
        temperature == 1.0 ? log_softmax(logits, 1) : log_softmax(logits / temperature, 1);

    /// <summary><see cref="hinton_kd"/> from the log-softmax of student and teacher at the temperature.</summary>
    [SharedForm("hinton_kd")]
    public static Tensor hinton_kd_shared(
        [Shared(nameof(log_softmax_t), "student", "temperature")] Tensor student_log_probs,
        [Shared(nameof(log_softmax_t), "teacher", "temperature")] Tensor teacher_log_probs,
        double temperature = 4.0)
    {
        const string loss = "hinton_kd";
        Guard.Rank(loss, "student", student_log_probs, 2, "B, K");
        Guard.SameShape(loss, "student", student_log_probs, "teacher", teacher_log_probs);
        Guard.NonEmpty(loss, "student", student_log_probs);
        Guard.Positive(loss, nameof(temperature), temperature);
        using var scope = torch.NewDisposeScope();
        var kl = kl_div(student_log_probs, teacher_log_probs.detach(), reduction: "batchmean", log_target: true);
        return scope.MoveToOuter(kl * (temperature * temperature));
    }

    /// <summary><see cref="cross_entropy"/> from the log-softmax of the logits (T = 1).</summary>
    [SharedForm("cross_entropy")]
    public static Tensor cross_entropy_shared(
        [Shared(nameof(log_softmax_t), "input")] Tensor input_log_probs,
        Tensor target,
        double label_smoothing = 0.0,
        long ignore_index = -100)
    {
        const string loss = "cross_entropy";
        Guard.Rank(loss, "input", input_log_probs, 2, "B, K");
        Guard.NonEmpty(loss, "input", input_log_probs);
        var labels = Guard.Labels(loss, nameof(target), target, "input", input_log_probs, ignore_index, out var ignored);
        if (!(label_smoothing >= 0 && label_smoothing <= 1))
            throw new LossArgumentException(loss, nameof(label_smoothing),
                $"label_smoothing must be in [0, 1], got {label_smoothing.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

        using var scope = torch.NewDisposeScope();
        if (label_smoothing == 0.0 && ignored == 0)
            return scope.MoveToOuter(nll_loss(input_log_probs, labels, ignore_index: ignore_index)); // F.cross_entropy is exactly this
        // Per kept row: (1 - eps)(-log p_y) + eps · mean_c(-log p_c); averaged over the kept rows (0 when none).
        var nll = nll_loss(input_log_probs, labels, ignore_index: ignore_index, reduction: "sum");
        var total = nll * (1.0 - label_smoothing);
        if (label_smoothing > 0)
        {
            var kept = labels.ne(ignore_index).to(input_log_probs.dtype);
            var uniform = (input_log_probs.mean(1) * kept).sum().neg();
            total = total + uniform * label_smoothing;
        }
        return scope.MoveToOuter(total * (1.0 / Math.Max(input_log_probs.size(0) - ignored, 1)));
    }
}
