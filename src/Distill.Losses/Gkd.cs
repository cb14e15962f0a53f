using Distill.Metadata;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Losses;

/// <summary>
/// The per-sample parts of GKD's decomposition at temperature T (no T² factor), each of shape (B):
/// KL(p_t‖p_s) = <see cref="Binary"/> + <see cref="TeacherPrimaryMass"/>·<see cref="Primary"/>
/// + <see cref="TeacherSecondaryMass"/>·<see cref="Secondary"/>. An empty group's KD and mass are 0.
/// </summary>
/// <param name="Binary">BKD: KL(b_t ‖ b_s) of the two-bin group masses b = [Σ_P p, Σ_S p].</param>
/// <param name="Primary">PKD: KL of the distributions renormalised within the primary group P.</param>
/// <param name="Secondary">SKD: KL of the distributions renormalised within the secondary group S.</param>
/// <param name="TeacherPrimaryMass">b_t,P = Σ_P p_t.</param>
/// <param name="TeacherSecondaryMass">b_t,S = Σ_S p_t.</param>
public sealed record GkdComponents(Tensor Binary, Tensor Primary, Tensor Secondary, Tensor TeacherPrimaryMass, Tensor TeacherSecondaryMass)
    : IDisposable
{
    public void Dispose()
    {
        Binary.Dispose();
        Primary.Dispose();
        Secondary.Dispose();
        TeacherPrimaryMass.Dispose();
        TeacherSecondaryMass.Dispose();
    }
}

/// <summary>
/// GKD, Grouped Knowledge Distillation (Zhao et al., AAAI 2023, arXiv 2304.04462; code WisonZ/GKD):
/// the Binary / Primary / Secondary decomposition of the KD term, its official weighting and the three
/// ways of choosing each sample's primary group.
/// </summary>
public static class Gkd
{
    /// <summary>
    /// The decomposition of KL(softmax(t/T) ‖ softmax(s/T)) per sample for the classes marked in
    /// <paramref name="primary"/> (P) and the rest (S): BKD, PKD, SKD and the teacher's masses
    /// b_t,P, b_t,S (see <see cref="GkdComponents"/>). Computed exactly from masked log-sum-exps of the
    /// log-softmax (the released code's −1000·mask trick is the same up to float underflow); an empty group
    /// gives 0 for its KD and mass, with finite gradients (the released BKD is NaN there). The teacher is
    /// detached; the result's tensors belong to the caller.
    /// </summary>
    public static GkdComponents gkd_components(Tensor student, Tensor teacher, Tensor primary, double temperature = 4.0)
    {
        const string loss = "gkd_components";
        CheckLogits(loss, student, teacher, temperature);
        Guard.Mask(loss, nameof(primary), primary, nameof(student), student);

        using var scope = torch.NewDisposeScope();
        var parts = Decompose(student, teacher, primary, temperature, primaryKd: true, secondaryKd: true);
        var result = new GkdComponents(parts.Binary, parts.Primary!, parts.Secondary!, parts.MassP, parts.MassS);
        scope.MoveToOuter([result.Binary, result.Primary, result.Secondary, result.TeacherPrimaryMass, result.TeacherSecondaryMass]);
        return result;
    }

    /// <summary>
    /// The GKD loss with the official weighting: T² · (1/B) Σ_b [α·BKD_b + β·PKD_b + λ·SKD_b] (no b_t,P
    /// factor on PKD, as in the released code), with the primary group chosen per batch by
    /// <paramref name="group"/>: 'topk' (the released <c>GKD</c> module: top-<paramref name="n"/> classes by
    /// the student's logits, ground truth forced in), 'adaptive' (<c>gkd_adaptive.py</c>: n from the batch's
    /// summed softmax, see <see cref="gkd_adaptive_group"/>; its released β is 4) or 'cumprob' (the
    /// paper's wording: the shortest prefix of the teacher's sorted softmax(z_t/T) reaching
    /// <paramref name="threshold"/>). <paramref name="rank_by"/> switches 'topk' and 'adaptive' to the
    /// teacher's logits (the released but unused <c>gkd_loss</c>). The teacher is detached.
    /// </summary>
    [DistillLoss("gkd_loss", Source = "Zhao et al. 2023, arXiv 2304.04462; WisonZ/GKD distillation/gkd.py (gkd_loss_student_base), gkd_adaptive.py",
        Formula = "T^2 * (1/B) * sum_b [alpha*KL(b_t||b_s) + beta*KL(p~_t||p~_s on P) + lambda*KL(p^_t||p^_s on S)], b = [sum_P p, sum_S p], p = softmax(z/T)",
        Convention = "released code: top-n primary group by student logits with the target forced in, no b_t,P factor, lambda = 0; exact masked log-softmax instead of the -1000 trick; empty groups give 0")]
    public static Tensor gkd_loss(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "B,K")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Logits, Shape = "B,K")] Tensor teacher,
        [Input(InputRole.Target, TensorKind.Labels, Shape = "B", BatchField = "label")] Tensor target,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "softmax temperature T")] double temperature = 4.0,
        [HyperParameter(Min = 0, Description = "weight alpha of Binary-KD")] double alpha = 1.0,
        [HyperParameter(Min = 0, Description = "weight beta of Primary-KD (4 in the adaptive release)")] double beta = 8.0,
        [HyperParameter(Min = 0, Description = "weight lambda of Secondary-KD (0: dropped, as released)")] double lambda = 0.0,
        [HyperParameter(Description = "primary-group rule: 'topk', 'adaptive' or 'cumprob'")] string group = "topk",
        [HyperParameter(Description = "logits that rank classes for 'topk' and 'adaptive': 'student' (released) or 'teacher'")] string rank_by = "student",
        [HyperParameter(Min = 1, Description = "primary-group size n for 'topk' (hcm_n)")] long n = 10000,
        [HyperParameter(Min = 0, MinExclusive = true, Max = 1, Description = "'adaptive': batch mass rate the top-n must reach")] double rate = 0.93,
        [HyperParameter(Min = 1, Description = "'adaptive': step f of the candidate sizes 1, 1+f, 1+2f, ...")] long frequency = 100,
        [HyperParameter(Min = 0, MinExclusive = true, Max = 1, Description = "'cumprob': cumulative teacher probability threshold")] double threshold = 0.93)
    {
        const string loss = "gkd_loss";
        CheckLogits(loss, student, teacher, temperature);
        var labels = Guard.Labels(loss, nameof(target), target, nameof(student), student);
        Guard.NonNegative(loss, nameof(alpha), alpha);
        Guard.NonNegative(loss, nameof(beta), beta);
        Guard.NonNegative(loss, nameof(lambda), lambda);
        Guard.OneOf(loss, nameof(group), group, "topk", "adaptive", "cumprob");
        Guard.OneOf(loss, nameof(rank_by), rank_by, "student", "teacher");
        Guard.AtLeast(loss, nameof(n), n, 1);
        Guard.UnitInterval(loss, nameof(rate), rate);
        Guard.AtLeast(loss, nameof(frequency), frequency, 1);
        Guard.UnitInterval(loss, nameof(threshold), threshold);

        using var scope = torch.NewDisposeScope();
        var ranking = rank_by == "student" ? student : teacher;
        var primary = group switch
        {
            "topk" => TopK(ranking, labels, n),
            "adaptive" => TopK(ranking, labels, AdaptiveN(ranking, rate, frequency)),
            _ => CumProb(teacher, threshold, temperature),
        };
        var parts = Decompose(student, teacher, primary, temperature, primaryKd: beta != 0, secondaryKd: lambda != 0);
        var perSample = parts.Binary * alpha;
        if (parts.Primary is not null) perSample = perSample + parts.Primary * beta;
        if (parts.Secondary is not null) perSample = perSample + parts.Secondary * lambda;
        return scope.MoveToOuter(perSample.mean() * (temperature * temperature));
    }

    /// <summary>
    /// The released primary group: per row, the top-<paramref name="n"/> classes by <paramref name="logits"/>
    /// (the student's in the released <c>GKD</c> module, the teacher's in its unused <c>gkd_loss</c>) with the
    /// ground-truth class forced in (the code sets its logit to 999999; here to +∞). n ≥ K selects every
    /// class. Returns a bool mask (B, K); not differentiable.
    /// </summary>
    public static Tensor gkd_topk_group(Tensor logits, Tensor target, long n = 10000)
    {
        const string loss = "gkd_topk_group";
        CheckRanking(loss, logits);
        var labels = Guard.Labels(loss, nameof(target), target, nameof(logits), logits);
        Guard.AtLeast(loss, nameof(n), n, 1);
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(TopK(logits, labels, n));
    }

    /// <summary>
    /// The batch-adaptive group size of <c>gkd_adaptive.py</c>: q = Σ_b softmax(z_b) (T = 1, summed over the
    /// batch), sorted descending; n = the first of 1, 1+f, 1+2f, … (below K) whose top-n mass reaches
    /// rate·B, or K when none does (the released loop leaves n undefined there). One host sync.
    /// </summary>
    public static long gkd_adaptive_n(Tensor logits, double rate = 0.93, long frequency = 100)
    {
        const string loss = "gkd_adaptive_n";
        CheckRanking(loss, logits);
        Guard.UnitInterval(loss, nameof(rate), rate);
        Guard.AtLeast(loss, nameof(frequency), frequency, 1);
        using var scope = torch.NewDisposeScope();
        return AdaptiveN(logits, rate, frequency);
    }

    /// <summary>
    /// The adaptive primary group (<c>gkd_adaptive.py</c>): n from <see cref="gkd_adaptive_n"/> on
    /// <paramref name="logits"/> (the student's in the release), then the top-n group of
    /// <see cref="gkd_topk_group"/> with the ground truth forced in. Returns a bool mask (B, K).
    /// </summary>
    public static Tensor gkd_adaptive_group(Tensor logits, Tensor target, double rate = 0.93, long frequency = 100)
    {
        const string loss = "gkd_adaptive_group";
        CheckRanking(loss, logits);
        var labels = Guard.Labels(loss, nameof(target), target, nameof(logits), logits);
        Guard.UnitInterval(loss, nameof(rate), rate);
        Guard.AtLeast(loss, nameof(frequency), frequency, 1);
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(TopK(logits, labels, AdaptiveN(logits, rate, frequency)));
    }

    /// <summary>
    /// The paper's wording: per row, sort softmax(z/T) (the teacher's) descending and take the shortest
    /// prefix reaching <paramref name="threshold"/>, i.e. every class whose exclusive cumulative
    /// probability is below it (the top-1 class always; every class when the threshold is 1). The ground
    /// truth is not forced in. Returns a bool mask (B, K).
    /// </summary>
    public static Tensor gkd_cumprob_group(Tensor logits, double threshold = 0.93, double temperature = 4.0)
    {
        const string loss = "gkd_cumprob_group";
        CheckRanking(loss, logits);
        Guard.UnitInterval(loss, nameof(threshold), threshold);
        Guard.Positive(loss, nameof(temperature), temperature);
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(CumProb(logits, threshold, temperature));
    }

    // ---- internals ------------------------------------------------------------------------------------------

    private static void CheckLogits(string loss, Tensor student, Tensor teacher, double temperature)
    {
        Guard.Rank(loss, nameof(student), student, 2, "B, K");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);
        Guard.Positive(loss, nameof(temperature), temperature);
    }

    private static void CheckRanking(string loss, Tensor logits)
    {
        Guard.Rank(loss, nameof(logits), logits, 2, "B, K");
        Guard.NonEmpty(loss, nameof(logits), logits);
    }

    internal static Tensor TopK(Tensor logits, Tensor labels, long n)
    {
        var classes = logits.size(1);
        if (n >= classes) return torch.ones(logits.shape, ScalarType.Bool, logits.device);
        var forced = logits.detach().scatter(1, labels.unsqueeze(1), double.PositiveInfinity);
        var (_, index) = forced.topk(n, 1, sorted: false);
        return torch.zeros(logits.shape, ScalarType.Bool, logits.device).scatter_(1, index, true);
    }

    internal static long AdaptiveN(Tensor logits, double rate, long frequency)
    {
        var classes = logits.size(1);
        if (classes <= 1) return classes;
        using var noGrad = torch.no_grad();
        var q = softmax(logits.detach(), 1).sum(0, dtype: ScalarType.Float64);
        var (sorted, _) = q.sort(0, descending: true);
        // candidate n = 1, 1+f, ... below K: the top-n mass is the cumulative sum at position n - 1
        var at = torch.arange(0, classes - 1, frequency, ScalarType.Int64, logits.device);
        var reached = sorted.cumsum(0).index_select(0, at).ge(rate * logits.size(0)).to(Device.CPU).ToArray<bool>();
        var first = Array.IndexOf(reached, true);
        return first < 0 ? classes : 1 + first * frequency;
    }

    internal static Tensor CumProb(Tensor logits, double threshold, double temperature)
    {
        // the exclusive cumulative sum before the last class is 1 - p_last < 1, so 1 takes every class
        if (threshold >= 1) return torch.ones(logits.shape, ScalarType.Bool, logits.device);
        using var noGrad = torch.no_grad();
        var p = softmax(logits.detach() / temperature, 1);
        var (sorted, index) = p.sort(1, descending: true);
        var exclusive = sorted.cumsum(1, ScalarType.Float64) - sorted.to(ScalarType.Float64);
        return torch.zeros(logits.shape, ScalarType.Bool, logits.device).scatter_(1, index, exclusive.lt(threshold));
    }

    internal readonly record struct Parts(Tensor Binary, Tensor? Primary, Tensor? Secondary, Tensor MassP, Tensor MassS);

    /// <summary>
    /// BKD, PKD, SKD (B) and the teacher masses for the bool group mask <paramref name="primary"/> (B, K), in
    /// the caller's dispose scope. With ls, lt the log-softmaxes and L_G = logsumexp_G(l) the log group mass:
    /// BKD = Σ_G e^{Lt_G}(Lt_G − Ls_G) and G-KD = Σ_{c∈G} e^{lt_c − Lt_G}(lt_c − ls_c) − Lt_G + Ls_G.
    /// <paramref name="primaryIndex"/> (B, 1), when given, says P is that one class per row (DKD): its
    /// log-masses are then gathered instead of reduced. Big temporaries are freed as soon as they are spent.
    /// </summary>
    internal static Parts Decompose(Tensor student, Tensor teacher, Tensor primary, double temperature, bool primaryKd, bool secondaryKd,
        Tensor? primaryIndex = null)
    {
        var single = primaryIndex is not null && student.size(1) > 1;
        var secondary = primary.logical_not();
        Tensor hasP, hasS, outP, outS;
        if (single)
        {
            // one primary class and at least one other in every row: both groups are non-empty
            hasP = hasS = torch.ones([student.size(0), 1], ScalarType.Bool, student.device);
            outP = secondary;
            outS = primary;
        }
        else
        {
            hasP = primary.any(1, keepdim: true);
            hasS = secondary.any(1, keepdim: true);
            // an empty group's log-mass runs over the whole row (finite); its terms are zeroed below, so
            // neither values nor gradients ever meet -inf - -inf
            outP = secondary.logical_and(hasP);
            outS = primary.logical_and(hasS);
        }
        var noP = hasP.logical_not();
        var noS = hasS.logical_not();

        // teacher side: no gradient, so buffers are reused in place
        Tensor lt, ltP, ltS, massP, massS;
        Tensor? weightP = null, weightS = null;
        using (torch.no_grad())
        {
            using (var scaled = teacher.detach() / temperature) lt = log_softmax(scaled, 1);
            using (var buffer = lt.masked_fill(outS, double.NegativeInfinity))
            {
                ltS = buffer.logsumexp(1, keepdim: true);
                ltP = single ? lt.gather(1, primaryIndex!) : buffer.copy_(lt).masked_fill_(outP, double.NegativeInfinity).logsumexp(1, keepdim: true);
            }
            massP = ltP.exp().masked_fill_(noP, 0);
            massS = ltS.exp().masked_fill_(noS, 0);
            // the teacher's probabilities renormalised within each group
            if (primaryKd) weightP = (lt - ltP).exp_().masked_fill_(secondary, 0).unsqueeze(2);
            if (secondaryKd) weightS = (lt - ltS).exp_().masked_fill_(primary, 0).unsqueeze(2);
        }

        Tensor ls;
        using (var scaled = student / temperature) ls = log_softmax(scaled, 1);
        Tensor lsP, lsS;
        using (var masked = ls.masked_fill(outS, double.NegativeInfinity)) lsS = masked.logsumexp(1, keepdim: true);
        if (single) lsP = ls.gather(1, primaryIndex!);
        else using (var masked = ls.masked_fill(outP, double.NegativeInfinity)) lsP = masked.logsumexp(1, keepdim: true);
        var binary = (massP * (ltP - lsP) + massS * (ltS - lsS)).squeeze(1);

        Tensor? pkd = null, skd = null;
        if (weightP is not null || weightS is not null)
        {
            // Σ_G q_t (lt − ls) as a batched row·column product: one pass, no (B, K) products kept
            using var diff = (lt - ls).unsqueeze(1);
            if (weightP is not null) pkd = (diff.bmm(weightP).squeeze(2) - ltP + lsP).masked_fill(noP, 0).squeeze(1);
            if (weightS is not null) skd = (diff.bmm(weightS).squeeze(2) - ltS + lsS).masked_fill(noS, 0).squeeze(1);
        }
        lt.Dispose();
        weightP?.Dispose();
        weightS?.Dispose();
        return new Parts(binary, pkd, skd, massP.squeeze(1), massS.squeeze(1));
    }
}
