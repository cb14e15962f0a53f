using System.Globalization;
using Distill.Metadata;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Losses;

/// <summary>
/// Knowledge distillation for end-to-end person search (Munjal, Galasso, Amin, BMVC 2019): the OIM
/// identity loss with its look-up table and circular queue, the distilled variant with a fixed teacher
/// table, and the detector KD of Chen et al. (NeurIPS 2017) that the paper adopts.
/// </summary>
/// <remarks>
/// Identity labels of RoIs: <c>0 .. L−1</c> is a labelled identity (a row of the look-up table);
/// <see cref="Unlabelled"/> (−1) is a person box without an identity (ignored by the loss, pushed into
/// the circular queue); <see cref="Background"/> (−2) is a background proposal (ignored by the loss and
/// never pushed). Any other value is an error.
/// </remarks>
public static class PersonSearch
{
    /// <summary>The identity label of a person RoI without an identity: ignored by the loss, enqueued.</summary>
    public const long Unlabelled = -1;

    /// <summary>The identity label of a background RoI: ignored by the loss and by the table updates.</summary>
    public const long Background = -2;

    /// <summary>
    /// OIM (Xiao et al., CVPR 2017): x̂ = x/‖x‖; logits = s·[x̂ Vᵀ, x̂ Uᵀ] over the labelled look-up table V
    /// (L×D) and the circular queue of unlabelled persons U (Q×D); the loss is the mean over labelled RoIs of
    /// −log softmax(logits)[label]. Unlabelled and background RoIs are ignored; with no labelled RoI the loss
    /// is 0 (with a zero gradient). The tables are constants here (detached): they are updated by
    /// <see cref="oim_lut_update"/> and <see cref="oim_queue_push"/>, not by backpropagation.
    /// </summary>
    [DistillLoss("oim_loss", Source = "Xiao et al. 2017 (OIM), as used in Munjal et al. 2019, arXiv 1909.01058",
        Formula = "mean over labelled i of -log softmax(s * [x_i/|x_i| V^T, x_i/|x_i| U^T])[label_i]",
        Convention = "labels: 0..L-1 identity, -1 unlabelled person, -2 background (both ignored); s = 10 (tau = 0.1, OIM paper), some reimplementations use 30")]
    public static Tensor oim_loss(
        [Input(InputRole.Student, TensorKind.Embedding, Shape = "N,D")] Tensor embeddings,
        [Input(InputRole.Target, TensorKind.Labels, Shape = "N", BatchField = "person_id")] Tensor labels,
        [Input(InputRole.Auxiliary, TensorKind.Table, Shape = "L,D")] Tensor lut,
        [Input(InputRole.Auxiliary, TensorKind.Table, Shape = "Q,D")] Tensor queue,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "logit scale s = 1/tau")] double scale = 10.0) =>
        Oim("oim_loss", embeddings, labels, lut, nameof(lut), queue, scale);

    /// <summary>
    /// ID distillation with a teacher look-up table (Munjal et al. 2019, "OIM with QEEPS teacher"): the OIM
    /// loss of <see cref="oim_loss"/> with V fixed to the teacher's L2-normalised per-identity features
    /// (see <see cref="build_teacher_lut"/>), never updated. The table is used as given (it is not
    /// re-normalised). The circular queue of unlabelled persons is kept as in OIM.
    /// </summary>
    [DistillLoss("lut_id_distill", Source = "Munjal et al. 2019, arXiv 1909.01058 (no code released); OIM, Xiao et al. 2017",
        Formula = "mean over labelled i of -log softmax(s * [x_i/|x_i| V_t^T, x_i/|x_i| U^T])[label_i], V_t fixed teacher table",
        Convention = "labels: 0..L-1 identity, -1 unlabelled person, -2 background (both ignored); s = 10; how the paper built V_t is not public")]
    public static Tensor lut_id_distill(
        [Input(InputRole.Student, TensorKind.Embedding, Shape = "N,D")] Tensor embeddings,
        [Input(InputRole.Target, TensorKind.Labels, Shape = "N", BatchField = "person_id")] Tensor labels,
        [Input(InputRole.Teacher, TensorKind.Table, Shape = "L,D", IdentityTable = "person_id")] Tensor teacher_lut,
        [Input(InputRole.Auxiliary, TensorKind.Table, Shape = "Q,D")] Tensor queue,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "logit scale s = 1/tau")] double scale = 10.0) =>
        Oim("lut_id_distill", embeddings, labels, teacher_lut, nameof(teacher_lut), queue, scale);

    private static Tensor Oim(string loss, Tensor x, Tensor labels, Tensor lut, string lutName, Tensor queue, double scale)
    {
        var (min, max) = CheckOimInputs(loss, x, labels, lut, lutName, queue);
        Guard.Positive(loss, nameof(scale), scale);

        using var scope = torch.NewDisposeScope();
        // No labelled RoI: exactly 0, and a zero (finite) gradient into the embeddings.
        if (max < 0) return scope.MoveToOuter(x.sum() * 0.0);
        // Ignored RoIs add nothing to the loss or the gradient: score only the labelled rows (the
        // index_select's backward gives the others a zero gradient), which saves most of the matmuls.
        if (min < 0)
        {
            var rows = labels.ge(0).nonzero().squeeze(1);
            x = x.index_select(0, rows);
            labels = labels.index_select(0, rows);
        }
        // Scaling x̂ (n×D) instead of the logits (n×(L+Q)) is the same product, for less work.
        var xs = normalize(x, 2.0, 1) * scale;
        var logits = queue.size(0) == 0
            ? xs.mm(lut.detach().t())
            : torch.cat([xs.mm(lut.detach().t()), xs.mm(queue.detach().t())], 1);
        return scope.MoveToOuter(cross_entropy(logits, labels));
    }

    /// <summary>
    /// The standard OIM look-up-table update, in place and without gradient: for each labelled RoI in batch
    /// order, v_label ← normalize(m·v_label + (1 − m)·x̂). A label seen twice in the batch is updated twice,
    /// in order (the rows are processed in rounds of distinct labels, which is the same computation).
    /// Call it after the loss of the batch (OIM updates the table in its backward pass).
    /// </summary>
    public static void oim_lut_update(Tensor lut, Tensor embeddings, Tensor labels, double momentum = 0.5)
    {
        const string op = "oim_lut_update";
        CheckOimInputs(op, embeddings, labels, lut, nameof(lut), null);
        if (!(momentum >= 0 && momentum <= 1))
            throw new LossArgumentException(op, nameof(momentum), $"momentum must be in [0, 1], got {momentum.ToString(CultureInfo.InvariantCulture)}");

        var host = labels.ToArray<long>();
        // Round r holds the r-th occurrence of each label, so rows inside a round touch distinct table rows.
        var seen = new Dictionary<long, int>();
        var rounds = new List<(List<long> Rows, List<long> Ids)>();
        for (var i = 0; i < host.Length; i++)
        {
            if (host[i] < 0) continue;
            var r = seen.TryGetValue(host[i], out var n) ? n : 0;
            seen[host[i]] = r + 1;
            if (r == rounds.Count) rounds.Add((new List<long>(), new List<long>()));
            rounds[r].Rows.Add(i);
            rounds[r].Ids.Add(host[i]);
        }
        if (rounds.Count == 0) return;

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var xhat = normalize(embeddings.detach(), 2.0, 1);
        foreach (var (rows, ids) in rounds)
        {
            var rowIndex = torch.tensor(rows.ToArray()).to(embeddings.device);
            var idIndex = torch.tensor(ids.ToArray()).to(lut.device);
            var mixed = lut.index_select(0, idIndex) * momentum + xhat.index_select(0, rowIndex) * (1 - momentum);
            lut.index_put_([idIndex], normalize(mixed, 2.0, 1));
        }
    }

    /// <summary>
    /// Pushes the L2-normalised embeddings of the unlabelled RoIs (label <see cref="Unlabelled"/>) into the
    /// circular queue in batch order, writing at <paramref name="head"/> and wrapping around; returns the new
    /// head. In place, without gradient. Labelled and background RoIs are not pushed.
    /// </summary>
    public static long oim_queue_push(Tensor queue, Tensor embeddings, Tensor labels, long head)
    {
        const string op = "oim_queue_push";
        CheckOimInputs(op, embeddings, labels, null, null, queue);
        var q = queue.size(0);
        if (q == 0 ? head != 0 : head < 0 || head >= q)
            throw new LossArgumentException(op, nameof(head), $"head must be in [0, {q}) for queue {Guard.Shape(queue)}, got {head}");
        if (q == 0) return 0;

        var host = labels.ToArray<long>();
        var rows = new List<long>();
        for (var i = 0; i < host.Length; i++)
            if (host[i] == Unlabelled) rows.Add(i);
        if (rows.Count == 0) return head;

        // Pushing more than Q rows overwrites the earliest ones: only the last Q survive.
        var skip = Math.Max(0, rows.Count - q);
        var kept = rows.Skip((int)skip).ToArray();
        var positions = new long[kept.Length];
        for (var k = 0; k < kept.Length; k++) positions[k] = (head + skip + k) % q;

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var xhat = normalize(embeddings.detach().index_select(0, torch.tensor(kept).to(embeddings.device)), 2.0, 1);
        queue.index_put_([torch.tensor(positions).to(queue.device)], xhat);
        return (head + rows.Count) % q;
    }

    /// <summary>
    /// A teacher look-up table for <see cref="lut_id_distill"/>: the mean of the teacher's ID features per
    /// identity over the given rows (negative labels skipped), L2-normalised; identities without a row stay
    /// zero. How the paper built its table (which boxes, which teacher features) is not public
    /// (spec section 4.4); this is the natural reading, "mean teacher feature per identity over the GT boxes".
    /// </summary>
    public static Tensor build_teacher_lut(Tensor teacher_features, Tensor labels, long identities)
    {
        const string op = "build_teacher_lut";
        Guard.Rank(op, nameof(teacher_features), teacher_features, 2, "M, D");
        Guard.NonEmpty(op, nameof(teacher_features), teacher_features);
        if (identities <= 0)
            throw new LossArgumentException(op, nameof(identities), $"identities must be > 0, got {identities}");
        CheckLabels(op, labels, teacher_features, identities);

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var f = teacher_features.detach();
        var keep = labels.ge(0);
        var rows = f.index(keep);
        var ids = labels.index(keep);
        var sums = torch.zeros([identities, f.size(1)], f.dtype, f.device).index_add_(0, ids, rows);
        var counts = torch.zeros([identities], f.dtype, f.device).index_add_(0, ids, torch.ones([ids.size(0)], f.dtype, f.device));
        var mean = sums / counts.clamp_min(1).unsqueeze(1);
        return scope.MoveToOuter(normalize(mean, 2.0, 1));
    }

    /// <summary>
    /// Chen et al.'s weighted soft cross entropy: L_soft = −(1/N) Σ_i Σ_c w_c P_t,ic log P_s,ic with
    /// P = softmax(z/T), w_bg = <paramref name="background_weight"/> for the background class and 1 otherwise.
    /// No T² factor. The background class is the last column by default (mmdetection's convention: K
    /// foreground classes, background at index K); pass 0 for detectors that put it first.
    /// </summary>
    [DistillLoss("chen_soft_ce", Source = "Chen et al. 2017, Learning Efficient Object Detection Models with Knowledge Distillation (NeurIPS)",
        Formula = "-(1/N) sum_i sum_c w_c P_t,ic log P_s,ic, P = softmax(z/T), w_bg = 1.5, w_c = 1 otherwise",
        Convention = "background index -1 = last column (mmdetection); T = 1, no T^2 factor")]
    public static Tensor chen_soft_ce(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "N,K")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Logits, Shape = "N,K")] Tensor teacher,
        [HyperParameter(Min = 0, Description = "weight w_bg of the background class")] double background_weight = 1.5,
        [HyperParameter(Min = -1, Description = "background class column; -1 = the last one")] int background_index = -1,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "softmax temperature T")] double temperature = 1.0)
    {
        const string loss = "chen_soft_ce";
        var bg = CheckChenLogits(loss, student, teacher, background_weight, background_index, temperature);

        using var scope = torch.NewDisposeScope();
        var logPs = log_softmax(temperature == 1.0 ? student : student / temperature, 1);
        return scope.MoveToOuter(SoftCe(logPs, teacher, bg, background_weight, temperature, 1.0));
    }

    /// <summary>
    /// Chen et al.'s classification distillation for the RPN and the RoI head:
    /// L_cls = μ·CE(softmax(z_s), y) + (1 − μ)·L_soft (see <see cref="chen_soft_ce"/>). The hard cross
    /// entropy is the mean over the N rows at temperature 1.
    /// </summary>
    [DistillLoss("chen_cls_distill", Source = "Chen et al. 2017 (NeurIPS), adopted by Munjal et al. 2019, arXiv 1909.01058",
        Formula = "mu * CE(softmax(z_s), y) + (1 - mu) * L_soft(P_t, P_s)",
        Convention = "mu = 0.5, w_bg = 1.5, background index -1 = last column (mmdetection), T = 1 without T^2")]
    public static Tensor chen_cls_distill(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "N,K")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Logits, Shape = "N,K")] Tensor teacher,
        [Input(InputRole.Target, TensorKind.Labels, Shape = "N", BatchField = "labels")] Tensor labels,
        [HyperParameter(Min = 0, Max = 1, Description = "weight mu of the hard cross entropy")] double mu = 0.5,
        [HyperParameter(Min = 0, Description = "weight w_bg of the background class")] double background_weight = 1.5,
        [HyperParameter(Min = -1, Description = "background class column; -1 = the last one")] int background_index = -1,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "softmax temperature T of the soft term")] double temperature = 1.0)
    {
        const string loss = "chen_cls_distill";
        var bg = CheckChenLogits(loss, student, teacher, background_weight, background_index, temperature);
        if (!(mu >= 0 && mu <= 1))
            throw new LossArgumentException(loss, nameof(mu), $"mu must be in [0, 1], got {mu.ToString(CultureInfo.InvariantCulture)}");
        CheckLabels(loss, labels, student, student.size(1), minimum: 0);

        using var scope = torch.NewDisposeScope();
        var logPs = log_softmax(student, 1);
        if (temperature != 1.0)
        {
            var hard = nll_loss(logPs, labels);
            var soft = SoftCe(log_softmax(student / temperature, 1), teacher, bg, background_weight, temperature, 1.0);
            return scope.MoveToOuter(hard * mu + soft * (1 - mu));
        }
        // At T = 1 both terms share log P_s: −(1/N) Σ_ic [(1 − μ)·w_c·P_t,ic + μ·1(c = y_i)] log P_s,ic,
        // one target and one product (no separate NLL gradient to build and add).
        var target = SoftTarget(teacher, bg, background_weight, 1.0, 1 - mu).scatter_(1, labels.unsqueeze(1), mu, "add");
        return scope.MoveToOuter((target * logPs).sum() * (-1.0 / logPs.size(0)));
    }

    private static Tensor SoftCe(Tensor logPs, Tensor teacher, long bg, double wBg, double temperature, double factor) =>
        (SoftTarget(teacher, bg, wBg, temperature, factor) * logPs).sum() * (-1.0 / logPs.size(0));

    /// <summary>factor·w_c·softmax(z_t/T) with the class weights folded into the (gradient-free) teacher side.</summary>
    private static Tensor SoftTarget(Tensor teacher, long bg, double wBg, double temperature, double factor)
    {
        var pt = softmax(temperature == 1.0 ? teacher.detach() : teacher.detach() / temperature, 1);
        var k = teacher.size(1);
        if (wBg == 1.0) return factor == 1.0 ? pt : pt.mul_(factor);
        var w = torch.full([k], factor, pt.dtype, pt.device);
        w.narrow(0, bg, 1).fill_(wBg * factor);
        return pt.mul_(w);
    }

    /// <summary>
    /// Chen et al.'s teacher-bounded regression term: L_b = (1/N) Σ_i ‖R_s,i − y_i‖² ·
    /// 1[‖R_s,i − y_i‖² + m > ‖R_t,i − y_i‖²], the squared L2 error of the student's box regression counted
    /// only where it is not better than the teacher's by the margin m. The mean is over the N rows (the RoIs
    /// the caller selects, usually the positives). Chen's weight ν = 0.5 (L_reg = smoothL1(R_s, y) + ν·L_b)
    /// is the caller's loss weight, not a parameter here.
    /// </summary>
    [DistillLoss("teacher_bounded_l2", Source = "Chen et al. 2017 (NeurIPS), adopted by Munjal et al. 2019, arXiv 1909.01058",
        Formula = "(1/N) sum_i |R_s,i - y_i|^2 * [ |R_s,i - y_i|^2 + m > |R_t,i - y_i|^2 ]",
        Convention = "mean over rows; m = 0; the weight nu = 0.5 is applied by the caller")]
    public static Tensor teacher_bounded_l2(
        [Input(InputRole.Student, TensorKind.Any, Shape = "N,D")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Any, Shape = "N,D")] Tensor teacher,
        [Input(InputRole.Target, TensorKind.Any, Shape = "N,D", BatchField = "bbox_targets")] Tensor targets,
        [HyperParameter(Min = 0, Description = "margin m")] double margin = 0.0)
    {
        const string loss = "teacher_bounded_l2";
        Guard.Rank(loss, nameof(student), student, 2, "N, D");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.SameShape(loss, nameof(student), student, nameof(targets), targets);
        Guard.NonEmpty(loss, nameof(student), student);
        Guard.NonNegative(loss, nameof(margin), margin);

        using var scope = torch.NewDisposeScope();
        var y = targets.detach();
        var es = (student - y).square().sum(1);
        // The indicator is a constant of the step (a comparison carries no gradient).
        var et = (teacher.detach() - y).square().sum(1);
        var on = margin == 0.0 ? es.gt(et) : (es.detach() + margin).gt(et);
        return scope.MoveToOuter(torch.where(on, es, 0.0).mean());
    }

    /// <summary>
    /// Chen et al.'s hint loss ‖V − Z‖² between the adapted student features V (the output of the adaptation
    /// layer, same shape as the teacher's) and the teacher features Z, as the mean over elements (MSE; the
    /// paper writes the squared L2 norm without stating its normalisation).
    /// </summary>
    [DistillLoss("hint_l2", Source = "Chen et al. 2017 (NeurIPS), adopted by Munjal et al. 2019, arXiv 1909.01058",
        Formula = "mean((V - Z)^2)", Convention = "mean over all elements (MSE); the weight gamma = 0.5 is applied by the caller")]
    public static Tensor hint_l2(
        [Input(InputRole.Student, TensorKind.FeatureMap, Shape = "N,C,H,W")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.FeatureMap, Shape = "N,C,H,W")] Tensor teacher)
    {
        const string loss = "hint_l2";
        Guard.Rank(loss, nameof(student), student, 4, "N, C, H, W");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);

        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(mse_loss(student, teacher.detach()));
    }

    // ---- argument checks ------------------------------------------------------------------------------

    /// <summary>Checks embeddings, labels and the tables; returns the smallest and largest label.</summary>
    private static (long Min, long Max) CheckOimInputs(string loss, Tensor x, Tensor labels, Tensor? lut, string? lutName, Tensor? queue)
    {
        Guard.Rank(loss, "embeddings", x, 2, "N, D");
        Guard.NonEmpty(loss, "embeddings", x);
        foreach (var (table, name) in new[] { (lut, lutName), (queue, nameof(queue)) })
        {
            if (table is null) continue;
            Guard.Rank(loss, name!, table, 2, name == "queue" ? "Q, D" : "L, D");
            if (table.size(1) != x.size(1))
                throw new LossArgumentException(loss, name!, $"embeddings {Guard.Shape(x)} and {name} {Guard.Shape(table)} must have the same embedding dim");
            if (table.dtype != x.dtype)
                throw new LossArgumentException(loss, name!, $"{name} is {table.dtype.Name()} but embeddings are {x.dtype.Name()}");
        }
        if (lut is not null && lut.size(0) == 0)
            throw new LossArgumentException(loss, lutName!, $"{lutName} {Guard.Shape(lut)} has no identities");
        return CheckLabels(loss, labels, x, lut?.size(0) ?? long.MaxValue, minimum: Background);
    }

    /// <summary>Int64, one per row of <paramref name="rows"/>, within [minimum, count); returns min and max.</summary>
    private static (long Min, long Max) CheckLabels(string loss, Tensor labels, Tensor rows, long count, long minimum = Background)
    {
        if (labels.dtype != ScalarType.Int64)
            throw new LossArgumentException(loss, nameof(labels), $"labels must be int64, got {labels.dtype.Name()}");
        if (labels.dim() != 1 || labels.size(0) != rows.size(0))
            throw new LossArgumentException(loss, nameof(labels), $"labels {Guard.Shape(labels)} must have one entry per row of {Guard.Shape(rows)}");
        using var lo = labels.min();
        using var hi = labels.max();
        var (min, max) = (lo.item<long>(), hi.item<long>());
        if (min < minimum || max >= count)
        {
            var range = count == long.MaxValue ? $"[{minimum}, inf)" : $"[{minimum}, {count - 1}]";
            var bad = min < minimum ? min : max;
            throw new LossArgumentException(loss, nameof(labels), $"label {bad} is outside {range}");
        }
        return (min, max);
    }

    /// <summary>The checks shared by the two classification terms; returns the background column.</summary>
    private static long CheckChenLogits(string loss, Tensor student, Tensor teacher, double wBg, int bgIndex, double temperature)
    {
        Guard.Rank(loss, nameof(student), student, 2, "N, K");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);
        Guard.Positive(loss, nameof(temperature), temperature);
        Guard.NonNegative(loss, "background_weight", wBg);
        var k = student.size(1);
        if (bgIndex < -1 || bgIndex >= k)
            throw new LossArgumentException(loss, "background_index", $"background_index must be -1 (last) or in [0, {k - 1}] for student {Guard.Shape(student)}, got {bgIndex}");
        return bgIndex == -1 ? k - 1 : bgIndex;
    }
}

/// <summary>
/// The state of an OIM identity head: the labelled look-up table V (L×D), the circular queue U (Q×D) of
/// unlabelled persons and the queue head. Owns its tensors (they are outside any dispose scope). With a
/// frozen table (<see cref="FromTeacher"/>) it is the state of <see cref="PersonSearch.lut_id_distill"/>.
/// </summary>
public sealed class OimTable : IDisposable
{
    /// <summary>Zero-initialised table and queue (as in OIM).</summary>
    public OimTable(long identities, long queueSize, long dim, ScalarType? dtype = null, Device? device = null)
    {
        if (identities <= 0 || queueSize < 0 || dim <= 0)
            throw new ArgumentOutOfRangeException(nameof(identities), $"OimTable needs identities > 0, queueSize >= 0 and dim > 0, got {identities}, {queueSize}, {dim}");
        Lut = torch.zeros([identities, dim], dtype, device).DetachFromDisposeScope();
        Queue = torch.zeros([queueSize, dim], dtype, device).DetachFromDisposeScope();
    }

    /// <summary>Copies of the given tables (the caller keeps its own); a frozen LUT is never updated.</summary>
    public OimTable(Tensor lut, Tensor queue, long head = 0, bool lutFrozen = false)
    {
        if (lut.dim() != 2 || queue.dim() != 2 || lut.size(1) != queue.size(1) || lut.size(0) == 0)
            throw new ArgumentException($"OimTable needs lut (L, D) with L > 0 and queue (Q, D), got {Guard.Shape(lut)} and {Guard.Shape(queue)}", nameof(lut));
        var q = queue.size(0);
        if (q == 0 ? head != 0 : head < 0 || head >= q)
            throw new ArgumentOutOfRangeException(nameof(head), $"head must be in [0, {q}), got {head}");
        using (torch.no_grad())
        {
            Lut = lut.detach().clone().DetachFromDisposeScope();
            Queue = queue.detach().clone().DetachFromDisposeScope();
        }
        Head = head;
        LutFrozen = lutFrozen;
    }

    /// <summary>The distillation state: the teacher table (fixed) and an empty queue of <paramref name="queueSize"/> rows.</summary>
    public static OimTable FromTeacher(Tensor teacherLut, long queueSize)
    {
        using var scope = torch.NewDisposeScope();
        var queue = torch.zeros([queueSize, teacherLut.size(1)], teacherLut.dtype, teacherLut.device);
        return new OimTable(teacherLut, queue, 0, lutFrozen: true);
    }

    public Tensor Lut { get; }
    public Tensor Queue { get; }
    public long Head { get; private set; }
    public bool LutFrozen { get; }

    /// <summary><see cref="PersonSearch.oim_loss"/>, or <see cref="PersonSearch.lut_id_distill"/> with a frozen table.</summary>
    public Tensor Loss(Tensor embeddings, Tensor labels, double scale = 10.0) =>
        LutFrozen
            ? PersonSearch.lut_id_distill(embeddings, labels, Lut, Queue, scale)
            : PersonSearch.oim_loss(embeddings, labels, Lut, Queue, scale);

    /// <summary>After the batch's loss: the LUT update (unless frozen), then the queue push.</summary>
    public void Update(Tensor embeddings, Tensor labels, double momentum = 0.5)
    {
        if (!LutFrozen) PersonSearch.oim_lut_update(Lut, embeddings, labels, momentum);
        Head = PersonSearch.oim_queue_push(Queue, embeddings, labels, Head);
    }

    public void Dispose()
    {
        Lut.Dispose();
        Queue.Dispose();
    }
}

/// <summary>
/// A teacher look-up table the training loop builds once, before the first epoch, and keeps (the teacher is frozen): per
/// identity, the L2-normalised mean of the teacher's features of that identity's ground-truth boxes over the training data
/// (<see cref="PersonSearch.build_teacher_lut"/>). What an experiment's <see cref="PersonSearch.lut_id_distill"/> term reads
/// when its <c>teacher_lut</c> is wired to a teacher's per-box tap. Part of a run's checkpoint (<see cref="StateTensors"/>).
/// </summary>
public sealed class TeacherIdentityTable : IDisposable
{
    private const string Key = "table";
    private Tensor? _table;

    /// <summary>The table [identities, D]; an error before it is built.</summary>
    public Tensor Table => _table ?? throw new InvalidOperationException("the teacher look-up table is used before it was built: the training loop builds it before the first epoch");

    public bool IsBuilt => _table is not null;

    /// <summary>Builds the table from every ground-truth box's teacher feature [M, D] and identity [M] (negative: skipped).</summary>
    public void Build(Tensor features, Tensor identities, long count)
    {
        var table = PersonSearch.build_teacher_lut(features, identities, count);
        _table?.Dispose();
        _table = table.DetachFromDisposeScope();
    }

    /// <summary>Moves a built table to <paramref name="device"/> (a restored checkpoint's table is on the CPU).</summary>
    public void MoveTo(Device device)
    {
        if (_table is null || _table.device == device) return;
        var moved = _table.to(device).DetachFromDisposeScope();
        _table.Dispose();
        _table = moved;
    }

    /// <summary>The table under "table" (nothing before it is built).</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateTensors()
    {
        if (_table is not null) yield return new(Key, _table);
    }

    /// <summary>Restores a table saved by <see cref="StateTensors"/> (a copy; none: not built).</summary>
    public void LoadStateTensors(IReadOnlyDictionary<string, Tensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var unknown = tensors.Keys.Where(k => k != Key).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"the saved teacher look-up table has entries it does not know: {string.Join(", ", unknown)}", nameof(tensors));
        _table?.Dispose();
        _table = null;
        if (tensors.TryGetValue(Key, out var saved))
        {
            if (saved.dim() != 2) throw new ArgumentException($"the saved teacher look-up table must be [identities, D], got {Guard.Shape(saved)}", nameof(tensors));
            using (torch.no_grad()) _table = saved.detach().clone().DetachFromDisposeScope();
        }
    }

    public void Dispose()
    {
        _table?.Dispose();
        _table = null;
    }
}
