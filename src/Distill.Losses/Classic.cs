using Distill.Metadata;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Losses;

/// <summary>The classic distillation baselines.</summary>
public static partial class Classic
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

    /// <summary>
    /// FitNets hint loss (Romero et al. 2015) between the student's regressed hint r(u) and the teacher's
    /// feature of the same shape. 'mean' (default; nn.MSELoss, what most codebases run): Σ(s − t)² / numel.
    /// 'paper': the paper's L_HT = ½‖s_b − t_b‖² averaged over the batch, (1/B) Σ_b ½‖s_b − t_b‖². Any
    /// shape works when called directly; the metadata declares feature maps.
    /// </summary>
    [DistillLoss("fitnet_mse", Source = "Romero et al. 2015, arXiv 1412.6550 (FitNets hint loss)",
        Formula = "mean: sum (s - t)^2 / numel;  paper: (1/B) sum_b 1/2 ||s_b - t_b||^2",
        Convention = "default 'mean' (nn.MSELoss, as in most released code); 'paper' is the paper's 1/2 ||.||^2 per sample")]
    public static Tensor fitnet_mse(
        [Input(InputRole.Student, TensorKind.FeatureMap, Shape = "B,C,H,W")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.FeatureMap, Shape = "B,C,H,W")] Tensor teacher,
        [HyperParameter(Description = "'mean' (nn.MSELoss) or 'paper' ((1/B) sum 1/2 ||s - t||^2)")] string reduction = "mean")
    {
        const string loss = "fitnet_mse";
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);
        Guard.OneOf(loss, nameof(reduction), reduction, "mean", "paper");

        using var scope = torch.NewDisposeScope();
        var result = reduction == "mean"
            ? mse_loss(student, teacher.detach())
            : mse_loss(student, teacher.detach(), reduction: "sum") * (0.5 / student.size(0));
        return scope.MoveToOuter(result);
    }

    /// <summary>
    /// Cross entropy of the student's logits against class labels, as torch.nn.functional.cross_entropy
    /// with <paramref name="label_smoothing"/> ε and <paramref name="ignore_index"/>: per kept row
    /// (1 − ε)·(−log p_y) + ε·(1/K)Σ_c(−log p_c), averaged over the rows whose label is not
    /// <paramref name="ignore_index"/>. When every row is ignored the result is 0 (PyTorch gives NaN).
    /// </summary>
    [DistillLoss("cross_entropy", Source = "torch.nn.functional.cross_entropy; label smoothing: Szegedy et al. 2016, arXiv 1512.00567",
        Formula = "(1/N) sum_{b: y_b != ignore} [(1 - eps) (-log p_{b,y_b}) + eps/K sum_c (-log p_{b,c})], p = softmax(z)",
        Convention = "PyTorch's reduction='mean' (divide by the kept rows); 0 instead of NaN when no row is kept")]
    public static Tensor cross_entropy(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "B,K")] Tensor input,
        [Input(InputRole.Target, TensorKind.Labels, Shape = "B", BatchField = "label")] Tensor target,
        [HyperParameter(Min = 0, Max = 1, Description = "label smoothing epsilon")] double label_smoothing = 0.0,
        [HyperParameter(Description = "rows with this label are ignored")] long ignore_index = -100)
    {
        const string loss = "cross_entropy";
        Guard.Rank(loss, nameof(input), input, 2, "B, K");
        Guard.NonEmpty(loss, nameof(input), input);
        var labels = Guard.Labels(loss, nameof(target), target, nameof(input), input, ignore_index, out var ignored);
        if (!(label_smoothing >= 0 && label_smoothing <= 1))
            throw new LossArgumentException(loss, nameof(label_smoothing),
                $"label_smoothing must be in [0, 1], got {label_smoothing.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

        using var scope = torch.NewDisposeScope();
        // every row kept: PyTorch's 'mean' itself
        if (ignored == 0)
            return scope.MoveToOuter(torch.nn.functional.cross_entropy(input, labels, ignore_index: ignore_index, reduction: "mean", label_smoothing: label_smoothing));
        // sum / kept rows is PyTorch's 'mean'; with no row kept the sum is 0 (and so is its gradient), not 0/0
        var sum = torch.nn.functional.cross_entropy(input, labels, ignore_index: ignore_index, reduction: "sum", label_smoothing: label_smoothing);
        return scope.MoveToOuter(sum * (1.0 / Math.Max(input.size(0) - ignored, 1)));
    }

    /// <summary>
    /// Attention transfer (Zagoruyko &amp; Komodakis, ICLR 2017). Attention map a = F.normalize(mean_c |f|^p)
    /// flattened to (B, H·W), L2-normalised per sample (p = 2). 'mean' (default, the released
    /// szagoruyko/attention-transfer <c>at_loss</c>): (a_s − a_t)².mean() over B·H·W, which the repo weights
    /// by β/2 = 500. 'paper': ½ · (1/B) Σ_b ‖a_s,b − a_t,b‖₂ (the paper's β/2·‖·‖₂ with p = 2, not squared;
    /// β goes into the term weight). Channels may differ; batch and spatial size must match.
    /// </summary>
    [DistillLoss("attention_transfer", Source = "Zagoruyko & Komodakis 2017, arXiv 1612.03928; szagoruyko/attention-transfer utils.py at_loss",
        Formula = "a = normalize(mean_c |f|^p).flatten;  mean: mean_{b,j} (a_s - a_t)^2;  paper: (1/B) sum_b 1/2 ||a_s,b - a_t,b||_2",
        Convention = "default 'mean' = released at_loss (the repo trains with weight beta/2 = 500); 'paper' = 1/2 ||.||_2 per sample, beta in the weight")]
    public static Tensor attention_transfer(
        [Input(InputRole.Student, TensorKind.FeatureMap, Shape = "B,*,H,W")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.FeatureMap, Shape = "B,*,H,W")] Tensor teacher,
        [HyperParameter(Description = "'mean' (released at_loss) or 'paper' (1/2 ||a_s - a_t||_2 per sample)")] string reduction = "mean",
        [HyperParameter(Min = 0, MinExclusive = true, Description = "power p of the attention map mean_c |f|^p")] double p = 2.0)
    {
        const string loss = "attention_transfer";
        Guard.Rank(loss, nameof(student), student, 4, "B, C, H, W");
        Guard.Rank(loss, nameof(teacher), teacher, 4, "B, C, H, W");
        if (student.size(0) != teacher.size(0) || student.size(2) != teacher.size(2) || student.size(3) != teacher.size(3))
            throw new LossArgumentException(loss, nameof(teacher),
                $"student {Guard.Shape(student)} and teacher {Guard.Shape(teacher)} must have the same batch and spatial size");
        Guard.NonEmpty(loss, nameof(student), student);
        Guard.OneOf(loss, nameof(reduction), reduction, "mean", "paper");
        Guard.Positive(loss, nameof(p), p);

        using var scope = torch.NewDisposeScope();
        var diff = AttentionMap(student, p) - AttentionMap(teacher.detach(), p);
        var result = reduction == "mean"
            ? diff.square().mean()
            : diff.norm(2, 1).mean() * 0.5;
        return scope.MoveToOuter(result);
    }

    private static Tensor AttentionMap(Tensor feature, double p)
    {
        // p = 2 is the released x.pow(2); |f|^p keeps odd powers a magnitude. The (B, C, H, W) power is
        // not kept for the backward (pow saves its input), so it is freed at once rather than with the scope.
        // The channel mean is a sum then a division of the (B, H, W) map: sum's backward is a free
        // broadcast, mean's writes a full (B, C, H, W) tensor.
        using var powered = p == 2 ? feature.square() : feature.abs().pow(p);
        using var sum = powered.sum(1);
        using var mean = sum / feature.size(1);
        return normalize(mean.flatten(1), 2, 1);
    }

    /// <summary>
    /// The GKD repo's FitNet baseline on embeddings: Σ(normalize(s) − normalize(t))² / (2B) with the rows
    /// L2-normalised (F.normalize, eps 1e-12); the repo writes it as MSELoss(sum) / (T·B) with T = 2.
    /// </summary>
    [DistillLoss("embedding_distill", Source = "WisonZ/GKD distillation/fitnet.py (HintLoss on normalised embeddings)",
        Formula = "(1/(2B)) * sum_b ||s_b/||s_b|| - t_b/||t_b|| ||^2")]
    public static Tensor embedding_distill(
        [Input(InputRole.Student, TensorKind.Embedding, Shape = "B,D")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Embedding, Shape = "B,D")] Tensor teacher)
    {
        const string loss = "embedding_distill";
        Guard.Rank(loss, nameof(student), student, 2, "B, D");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);

        using var scope = torch.NewDisposeScope();
        var sum = mse_loss(normalize(student, 2, 1), normalize(teacher.detach(), 2, 1), reduction: "sum");
        return scope.MoveToOuter(sum * (0.5 / student.size(0)));
    }

    /// <summary>Cosine embedding distillation: mean over the batch of 1 − cos(s_b, t_b) (cosine_similarity, eps 1e-8).</summary>
    [DistillLoss("cosine_embedding_distill", Source = "cosine-similarity embedding distillation (e.g. the GKD repo's embedding baselines)",
        Formula = "(1/B) * sum_b (1 - s_b . t_b / (||s_b|| ||t_b||))")]
    public static Tensor cosine_embedding_distill(
        [Input(InputRole.Student, TensorKind.Embedding, Shape = "B,D")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Embedding, Shape = "B,D")] Tensor teacher)
    {
        const string loss = "cosine_embedding_distill";
        Guard.Rank(loss, nameof(student), student, 2, "B, D");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);

        using var scope = torch.NewDisposeScope();
        var cos = cosine_similarity(student, teacher.detach(), 1);
        return scope.MoveToOuter((1 - cos).mean());
    }

    /// <summary>
    /// Decoupled KD (Zhao et al., CVPR 2022): with p = softmax(z/T), TCKD = KL([p_y, 1 − p_y]_t ‖ [p_y, 1 − p_y]_s)
    /// and NCKD = KL over the non-target classes renormalised; loss = (α·TCKD + β·NCKD)·T², averaged over
    /// the batch. Equals GKD's BKD and SKD with the primary group {y}. Computed with exact masked
    /// log-sum-exps (the released code subtracts 1000·gt_mask, identical up to float underflow); with one
    /// class NCKD is 0. Defaults: mdistiller's CIFAR-100 config (α = 1, β = 8, T = 4).
    /// </summary>
    [DistillLoss("dkd", Source = "Zhao et al. 2022, arXiv 2203.08679; megvii-research/mdistiller mdistiller/distillers/DKD.py",
        Formula = "T^2 * (1/B) * sum_b [alpha * KL(b_t || b_s) + beta * KL(p^_t || p^_s)], b = [p_y, 1 - p_y], p^ = p on classes != y renormalised, p = softmax(z/T)",
        Convention = "released dkd_loss (mdistiller CIFAR config alpha 1, beta 8, T 4); exact masked log-softmax for the -1000 trick")]
    public static Tensor dkd(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "B,K")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Logits, Shape = "B,K")] Tensor teacher,
        [Input(InputRole.Target, TensorKind.Labels, Shape = "B", BatchField = "label")] Tensor target,
        [HyperParameter(Min = 0, Description = "weight alpha of target-class KD (TCKD)")] double alpha = 1.0,
        [HyperParameter(Min = 0, Description = "weight beta of non-target-class KD (NCKD)")] double beta = 8.0,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "softmax temperature T")] double temperature = 4.0)
    {
        const string loss = "dkd";
        Guard.Rank(loss, nameof(student), student, 2, "B, K");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);
        var labels = Guard.Labels(loss, nameof(target), target, nameof(student), student);
        Guard.NonNegative(loss, nameof(alpha), alpha);
        Guard.NonNegative(loss, nameof(beta), beta);
        Guard.Positive(loss, nameof(temperature), temperature);

        using var scope = torch.NewDisposeScope();
        var index = labels.unsqueeze(1);
        var gt = torch.zeros(student.shape, ScalarType.Bool, student.device).scatter_(1, index, true);
        var parts = Gkd.Decompose(student, teacher, gt, temperature, primaryKd: false, secondaryKd: beta != 0, primaryIndex: index);
        var perSample = parts.Binary * alpha;
        if (parts.Secondary is not null) perSample = perSample + parts.Secondary * beta;
        return scope.MoveToOuter(perSample.mean() * (temperature * temperature));
    }
}
