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
        // the (B, K) and (B, n) temporaries are freed at once, not with the loss's scope
        Tensor index;
        using (var forced = logits.detach().scatter(1, labels.unsqueeze(1), double.PositiveInfinity))
        {
            var (values, top) = forced.topk(n, 1, sorted: false);
            values.Dispose();
            index = top;
        }
        using (index) return torch.zeros(logits.shape, ScalarType.Bool, logits.device).scatter_(1, index, true);
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
        using var scope = torch.NewDisposeScope();
        Tensor p;
        using (var scaled = logits.detach() / temperature) p = softmax(scaled, 1);
        var classes = p.size(1);
        // Sorting every row is most of the loss's time at K = 10^4..10^5, but a row's boundary usually lies
        // near one end: a few classes for a confident teacher, most of them for a softened one. So it is
        // looked for among the K/8 largest, then among the 3K/8 smallest (two partial sorts, one host check
        // each); only when some row's boundary lies in between is every row sorted. Small K: just sort.
        if (classes >= PartialSortMinClasses)
        {
            var top = TopPrefix(p, classes / 8, threshold, out var topDone);
            if (topDone.all().item<bool>()) return scope.MoveToOuter(top);
            var bottom = BottomPrefix(p, 3 * classes / 8, threshold, out var bottomDone);
            if (topDone.logical_or(bottomDone).all().item<bool>())
                return scope.MoveToOuter(torch.where(topDone.unsqueeze(1), top, bottom));
        }
        var (sorted, index) = p.sort(1, descending: true);
        var before = sorted.cumsum(1, ScalarType.Float64).sub_(sorted.to(ScalarType.Float64));
        return scope.MoveToOuter(torch.zeros(p.shape, ScalarType.Bool, p.device).scatter_(1, index, before.lt(threshold)));
    }

    /// <summary>Below this many classes <see cref="CumProb"/> sorts every row directly.</summary>
    internal const long PartialSortMinClasses = 2048;

    /// <summary>
    /// The prefix among each row's k largest probabilities (the same exclusive sums as the full sort);
    /// <paramref name="done"/>: the rows whose k largest already reach the threshold, so no other class is in.
    /// </summary>
    private static Tensor TopPrefix(Tensor p, long k, double threshold, out Tensor done)
    {
        var (values, index) = p.topk(k, 1, largest: true, sorted: true);
        var through = values.cumsum(1, ScalarType.Float64);
        done = through.select(1, k - 1).ge(threshold);
        var before = through.sub(values.to(ScalarType.Float64));
        return torch.zeros(p.shape, ScalarType.Bool, p.device).scatter_(1, index, before.lt(threshold));
    }

    /// <summary>
    /// The prefix seen from each row's k smallest probabilities: the class that is r-th smallest has the
    /// exclusive sum total − (sum of the r smallest), so it is in the prefix when that sum exceeds
    /// total − threshold. <paramref name="done"/>: the rows whose k-th smallest is in the prefix already, so
    /// every larger class is too.
    /// </summary>
    private static Tensor BottomPrefix(Tensor p, long k, double threshold, out Tensor done)
    {
        var (values, index) = p.topk(k, 1, largest: false, sorted: true);
        var limit = p.sum(1, keepdim: true, dtype: ScalarType.Float64) - threshold;
        var inPrefix = values.cumsum(1, ScalarType.Float64).gt(limit);
        done = inPrefix.select(1, k - 1);
        return torch.ones(p.shape, ScalarType.Bool, p.device).scatter_(1, index, inPrefix);
    }

    internal readonly record struct Parts(Tensor Binary, Tensor? Primary, Tensor? Secondary, Tensor MassP, Tensor MassS);

    /// <summary>
    /// BKD, PKD, SKD (B) and the teacher masses for the bool group mask <paramref name="primary"/> (B, K), in
    /// the caller's dispose scope. With z = logits/T, the group log-sum-exps S_G = logsumexp_{c∈G}(z_c) and
    /// the row's A = logsumexp(S_P, S_S), the log group mass is L_G = S_G − A, BKD = Σ_G e^{Lt_G}(Lt_G − Ls_G)
    /// and, with the teacher renormalised in the group q_c = e^{zt_c − St_G},
    /// G-KD = Σ_{c∈G} q_c (zt_c − St_G − zs_c + Ss_G) = Σ_G q·zt − St_G − Σ_G q·zs + Ss_G.
    /// A group is selected by adding a bias (0 on the group, −∞ elsewhere), which costs nothing in the
    /// backward (unlike masked_fill); no log-softmax is materialised, and the row sums are mul + sum (a
    /// batched (1 × K)·(K × 1) bmm is many times slower on the CPU).
    /// <paramref name="primaryIndex"/> (B, 1), when given, says P is that one class per row (DKD): its
    /// log-sum-exp is then gathered instead of reduced. Big temporaries are freed as soon as they are spent.
    /// </summary>
    internal static Parts Decompose(Tensor student, Tensor teacher, Tensor primary, double temperature, bool primaryKd, bool secondaryKd,
        Tensor? primaryIndex = null)
    {
        var single = primaryIndex is not null && student.size(1) > 1;
        // biases: 0 on the group's classes, −∞ elsewhere; noP / noS: rows whose group is empty (their terms
        // are zeroed), null when no row can be (DKD)
        Tensor biasS;
        Tensor? biasP = null, noP = null, noS = null;
        using (torch.no_grad())
        {
            // A bias is the log of its group's indicator (log 1 = 0, log 0 = −∞, exactly): a conversion, an add and
            // a log, vectorised passes, where masked_fill with a (B, K) bool mask (and the logical_and/any building
            // that mask) cost several times as much on the CPU.
            if (single)
            {
                // one primary class and at least one other in every row: both groups are non-empty
                biasS = torch.zeros(student.shape, student.dtype, student.device).scatter_(1, primaryIndex!, double.NegativeInfinity);
                if (primaryKd) biasP = primary.to(student.dtype).log_();
            }
            else
            {
                var inP = primary.to(student.dtype);
                using var countP = inP.sum(1, keepdim: true, dtype: ScalarType.Float64);
                noP = countP.eq(0);
                noS = countP.eq(student.size(1));
                // an empty group's log-sum-exp runs over the whole row (bias 0 there, finite); its terms are zeroed
                // below, so neither values nor gradients ever meet -inf - -inf
                using (var emptyS = noS.to(student.dtype))
                    biasS = (emptyS.add_(1) - inP).log_();
                using (var emptyP = noP.to(student.dtype))
                    biasP = inP.add_(emptyP).log_();
            }
        }

        // teacher side: no gradient, so buffers are reused in place
        Tensor ltP, ltS, massP, massS;
        Tensor? weightP = null, weightS = null, constP = null, constS = null;
        using (torch.no_grad())
        {
            var zt = Scaled(teacher.detach(), temperature);
            var inS = zt + biasS;
            var tS = inS.logsumexp(1, keepdim: true);
            Tensor? inP = single ? null : zt + biasP!;
            var tP = inP is null ? zt.gather(1, primaryIndex!) : inP.logsumexp(1, keepdim: true);
            var at = RowLogSumExp(tP, tS, noP, noS);
            ltP = tP - at;
            ltS = tS - at;
            massP = ltP.exp();
            massS = ltS.exp();
            if (noP is not null) massP.masked_fill_(noP, 0);
            if (noS is not null) massS.masked_fill_(noS, 0);
            // the teacher's probabilities renormalised within each group (e^{−∞} = 0 off the group), and its
            // part Σ_G q·zt − St_G
            if (primaryKd)
            {
                weightP = (inP ?? zt + biasP!).sub_(tP).exp_();
                constP = (weightP * zt).sum(1, keepdim: true).sub_(tP);
            }
            else inP?.Dispose();
            if (secondaryKd)
            {
                weightS = inS.sub_(tS).exp_();
                constS = (weightS * zt).sum(1, keepdim: true).sub_(tS);
            }
            else inS.Dispose();
            if (temperature != 1) zt.Dispose();
        }

        var zs = Scaled(student, temperature);
        Tensor sP, sS;
        using (var inS = zs + biasS) sS = inS.logsumexp(1, keepdim: true);
        if (single) sP = zs.gather(1, primaryIndex!);
        else using (var inP = zs + biasP!) sP = inP.logsumexp(1, keepdim: true);
        biasS.Dispose();
        biasP?.Dispose();
        var a = RowLogSumExp(sP, sS, noP, noS);
        var binary = (massP * (ltP - (sP - a)) + massS * (ltS - (sS - a))).squeeze(1);

        Tensor? pkd = null, skd = null;
        if (weightP is not null)
            using (var product = zs * weightP) pkd = ZeroRows(constP! - product.sum(1, keepdim: true) + sP, noP).squeeze(1);
        if (weightS is not null)
            using (var product = zs * weightS) skd = ZeroRows(constS! - product.sum(1, keepdim: true) + sS, noS).squeeze(1);
        return new Parts(binary, pkd, skd, massP.squeeze(1), massS.squeeze(1));
    }

    /// <summary>logits / T; T = 1 returns the logits themselves (x / 1 is x exactly).</summary>
    private static Tensor Scaled(Tensor logits, double temperature) => temperature == 1 ? logits : logits / temperature;

    /// <summary>
    /// The row's log-sum-exp A (B, 1) from its two group log-sum-exps; a row with an empty group (whose
    /// group sum ran over the whole row) takes the other group's, which is then the whole row's.
    /// </summary>
    private static Tensor RowLogSumExp(Tensor p, Tensor s, Tensor? noP, Tensor? noS)
    {
        if (noP is not null) p = p.masked_fill(noP, double.NegativeInfinity);
        if (noS is not null) s = s.masked_fill(noS, double.NegativeInfinity);
        return torch.cat([p, s], 1).logsumexp(1, keepdim: true);
    }

    private static Tensor ZeroRows(Tensor x, Tensor? rows) => rows is null ? x : x.masked_fill(rows, 0);
}
