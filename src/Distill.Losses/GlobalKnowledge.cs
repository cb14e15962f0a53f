using System.Globalization;
using Distill.Metadata;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Losses;

/// <summary>
/// Global Knowledge (Tang et al., ECCV 2022, arXiv 2210.09022; code hikvision-research/DAVAR-Lab-ML,
/// ECCV22_Distilling_Object_Detectors_with_Global_Knowledge): prototype selection (PGM), robust
/// weights from the prototypes (RDM), the global-knowledge loss over all prototypes, and the local
/// losses filtered by the robust weights (point-wise feature KD, weighted soft-label KD).
/// </summary>
public static class GlobalKnowledge
{
    /// <summary>
    /// PGM, the prototype generation module (<c>_generate_prototypes_single</c>): a greedy joint
    /// matching pursuit on a shared index set, not k-means. For one class on one FPN level:
    /// <list type="number">
    /// <item>row-normalise A = X_s/‖X_s‖, B = X_t/‖X_t‖;</item>
    /// <item>density ρ_i = Σ_j exp(−((1 − a_iᵀa_j)/σ)²) in both spaces; the candidates are the instances
    /// with ρ^s_i &gt; sort(ρ^s)[⌊qN⌋] and ρ^t_i &gt; sort(ρ^t)[⌊qN⌋];</item>
    /// <item>residuals R_s = A, R_t = B (all N instances); at every step, for each candidate k and
    /// instance n with a = ⟨p_s^k, r_s^n⟩, b = ⟨p_t^k, r_t^n⟩, the closed-form weights
    /// w_s = (α(a+b) + a)/(1+2α), w_t = (α(a+b) + b)/(1+2α); pick the k minimising
    /// Σ_n ‖p_s w_s − r_s‖² + ‖p_t w_t − r_t‖² + α(w_s − w_t)² (first index on an exact tie), then
    /// R ← R − p w; K steps, an atom may be picked again.</item>
    /// </list>
    /// </summary>
    /// <param name="student">(N, D_s) student features of the class's instances (box-averaged FPN features).</param>
    /// <param name="teacher">(N, D_t) teacher features of the same instances, same order.</param>
    /// <param name="num_prototypes">K, the number of picks (10).</param>
    /// <param name="alpha">α, the coupling of the student and teacher weights (10).</param>
    /// <param name="sigma">σ of the density kernel (0.1).</param>
    /// <param name="quantile">q, the density quantile below which instances are not candidates (0.4).</param>
    /// <param name="dtype">precision of the pursuit: Float64 (default) or Float32. The released code runs
    /// it in float16 on the GPU, so on near-ties (candidates whose errors differ by less than fp16's
    /// resolution) its argmin may pick a different atom than this float64/float32 implementation; on
    /// well-separated errors the picks are the same.</param>
    /// <returns>the K picked instance indices (int64, repeats possible) and the raw (un-normalised)
    /// prototypes X_s[Γ] (K, D_s) and X_t[Γ] (K, D_t), detached.</returns>
    /// <remarks>When the density filter keeps no instance (e.g. N = 1, or all densities equal) every
    /// instance is a candidate; the released code has no candidate then and fails.</remarks>
    public static (Tensor indices, Tensor student, Tensor teacher) pgm_select_prototypes(
        Tensor student, Tensor teacher, int num_prototypes = 10, double alpha = 10, double sigma = 0.1,
        double quantile = 0.4, ScalarType dtype = ScalarType.Float64)
    {
        const string fn = "pgm_select_prototypes";
        Guard.Rank(fn, nameof(student), student, 2, "N, D_s");
        Guard.Rank(fn, nameof(teacher), teacher, 2, "N, D_t");
        if (teacher.size(0) != student.size(0))
            throw new LossArgumentException(fn, nameof(teacher),
                $"student {Guard.Shape(student)} and teacher {Guard.Shape(teacher)} must have the same number of instances (rows)");
        Guard.NonEmpty(fn, nameof(student), student);
        if (num_prototypes < 1)
            throw new LossArgumentException(fn, nameof(num_prototypes), $"num_prototypes must be >= 1, got {num_prototypes}");
        Guard.NonNegative(fn, nameof(alpha), alpha);
        Guard.Positive(fn, nameof(sigma), sigma);
        if (!(quantile >= 0 && quantile < 1))
            throw new LossArgumentException(fn, nameof(quantile), $"quantile must be in [0, 1), got {quantile.ToString(CultureInfo.InvariantCulture)}");
        if (dtype is not (ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16))
            throw new LossArgumentException(fn, nameof(dtype), $"dtype must be a floating-point type, got {dtype}");

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var n = student.size(0);
        var a = normalize(student.detach().to(dtype), dim: 1);
        var b = normalize(teacher.detach().to(dtype), dim: 1);

        var rhoA = Density(a, sigma);
        var rhoB = Density(b, sigma);
        var middle = (long)(n * quantile);
        var keep = rhoA.gt(rhoA.sort().values.select(0, middle)).logical_and(rhoB.gt(rhoB.sort().values.select(0, middle)));
        var candidates = keep.nonzero().reshape(-1);
        if (candidates.numel() == 0) candidates = torch.arange(n, ScalarType.Int64, a.device);

        var pa = a.index_select(0, candidates);               // (Kc, D_s) atoms
        var pb = b.index_select(0, candidates);
        var paNorm = (pa * pa).sum(1);                        // ‖p‖², 1 up to rounding
        var pbNorm = (pb * pb).sum(1);
        // ia[k, n] = ⟨p_s^k, r_s^n⟩ and ib[k, n] = ⟨p_t^k, r_t^n⟩, with the residuals R = A, B at the start.
        // The update r_n ← r_n − w_n p_j changes them by −⟨p_k, p_j⟩ w_n: a rank-1 update in place instead
        // of a new (Kc × D × N) product per step.
        var ia = pa.mm(a.t());
        var ib = pb.mm(b.t());
        // w_s = c1·a + c2·b, w_t = c2·a + c1·b (the closed form), so every sum over n in the error is a
        // quadratic form in Σa², Σab, Σb²; Σ_n ‖r_s‖² + ‖r_t‖² is the same for every k and is left out.
        var mix = 1 + 2 * alpha;
        var (c1, c2) = ((1 + alpha) / mix, alpha / mix);
        var picks = new Tensor[num_prototypes];
        for (var step = 0; step < num_prototypes; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            // row sums of products (a batched (1 × N)·(N × 1) bmm is several times slower on the CPU)
            var saa = (ia * ia).sum(1);
            var sab = (ia * ib).sum(1);
            var sbb = (ib * ib).sum(1);
            // Σ_n ‖p w − r‖² = ‖p‖² Σ_n w² − 2 Σ_n w⟨p, r⟩ + Σ_n ‖r‖², for both spaces, plus α Σ_n (w_s − w_t)²
            var errA = paNorm * (saa * (c1 * c1) + sab * (2 * c1 * c2) + sbb * (c2 * c2)) - (saa * c1 + sab * c2) * 2;
            var errB = pbNorm * (saa * (c2 * c2) + sab * (2 * c1 * c2) + sbb * (c1 * c1)) - (sab * c2 + sbb * c1) * 2;
            var err = errA + errB + (saa - sab * 2 + sbb) * (alpha * (c1 - c2) * (c1 - c2));
            // As the released code, the argmin of a float16 pursuit is taken in float32.
            var pick = (dtype == ScalarType.Float16 ? err.to(ScalarType.Float32) : err).argmin().reshape(1);
            picks[step] = stepScope.MoveToOuter(pick);
            if (step + 1 == num_prototypes) break;
            var aj = ia.index_select(0, pick);                // (1, N)
            var bj = ib.index_select(0, pick);
            ia.addcmul_(pa.mm(pa.index_select(0, pick).t()), aj * c1 + bj * c2, -1);   // −⟨p_k, p_j⟩ w_s,n
            ib.addcmul_(pb.mm(pb.index_select(0, pick).t()), aj * c2 + bj * c1, -1);
        }
        var indices = candidates.index_select(0, torch.cat(picks, 0));
        var ps = student.detach().index_select(0, indices);
        var pt = teacher.detach().index_select(0, indices);
        return (scope.MoveToOuter(indices), scope.MoveToOuter(ps), scope.MoveToOuter(pt));
    }

    private static Tensor Density(Tensor x, double sigma)
    {
        // exp(−((1 − xxᵀ)/σ)²) summed per row, in place in the one (N, N) buffer ((x − 1)² = (1 − x)²)
        using var d = x.mm(x.t());
        return d.sub_(1).div_(sigma).square_().neg_().exp_().sum(1);
    }

    /// <summary>
    /// Box average pooling of one FPN level (the RDM instance features): for each RoI
    /// (b, x1, y1, x2, y2), the mean over the cells [int(|y1|/s) : int(|y2|/s)+1, int(|x1|/s) : int(|x2|/s)+1]
    /// of image b's map (the released code takes |·| of the coordinates). Differentiable w.r.t. the feature.
    /// </summary>
    /// <param name="feature">(N, C, H, W) feature map of the level.</param>
    /// <param name="rois">(R, 5) rows (image index, x1, y1, x2, y2) in image pixels (mmdet's RoI layout).</param>
    /// <param name="stride">the level's stride s.</param>
    /// <returns>(R, C) box-averaged features.</returns>
    /// <remarks>The region end is clipped to the map as Python slicing does; a region that would be
    /// empty (a box starting beyond the map) is clamped to the map's last row/column, where Python
    /// would average an empty slice (NaN). Computed as one (RoIs × cells) by (cells × C) matrix product
    /// per image with 1/area weights, which equals the slice means up to float rounding.</remarks>
    public static Tensor gk_roi_avg_pool(Tensor feature, Tensor rois, int stride)
    {
        const string fn = "gk_roi_avg_pool";
        Guard.Rank(fn, nameof(feature), feature, 4, "N, C, H, W");
        Guard.NonEmpty(fn, nameof(feature), feature);
        if (rois.dim() != 2 || rois.size(1) != 5)
            throw new LossArgumentException(fn, nameof(rois), $"rois must be (R, 5) rows (image index, x1, y1, x2, y2), got {Guard.Shape(rois)}");
        if (stride <= 0)
            throw new LossArgumentException(fn, nameof(stride), $"stride must be > 0, got {stride}");

        var (batch, channels, height, width) = (feature.size(0), feature.size(1), feature.size(2), feature.size(3));
        var count = rois.size(0);
        if (count == 0) return torch.zeros([0, channels], feature.dtype, feature.device);

        long[] image, cells;
        using (var host = torch.NewDisposeScope())
        {
            var r = rois.detach();
            if (!r.is_floating_point()) r = r.to(ScalarType.Float32);
            image = r.select(1, 0).to(ScalarType.Int64).ToArray<long>();
            cells = (r.narrow(1, 1, 4).abs() / stride).to(ScalarType.Int64).ToArray<long>();
        }

        // Region bounds [y0, y1) x [x0, x1) per RoI, and the RoIs grouped by image.
        var bounds = new long[4 * count];
        var area = new double[count];
        var groups = new List<long>[batch];
        for (var i = 0; i < count; i++)
        {
            if (image[i] < 0 || image[i] >= batch)
                throw new LossArgumentException(fn, nameof(rois), $"rois[{i}] names image {image[i]}, but feature {Guard.Shape(feature)} has {batch}");
            var x0 = Math.Min(cells[4 * i], width - 1);
            var y0 = Math.Min(cells[4 * i + 1], height - 1);
            var x1 = Math.Max(Math.Min(cells[4 * i + 2] + 1, width), x0 + 1);
            var y1 = Math.Max(Math.Min(cells[4 * i + 3] + 1, height), y0 + 1);
            (bounds[i], bounds[count + i], bounds[2 * count + i], bounds[3 * count + i]) = (y0, y1, x0, x1);
            area[i] = (y1 - y0) * (x1 - x0);
            (groups[image[i]] ??= []).Add(i);
        }

        // Each RoI is a row of 1/area weights over its image's H·W cells; the pooling is then one matrix
        // product per image (a per-RoI slice would cost a full-size gradient per RoI in the backward).
        using var scope = torch.NewDisposeScope();
        var device = feature.device;
        var b = torch.tensor(bounds, new long[] { 4, count }).to(device);
        var rows = torch.arange(height, ScalarType.Int64, device).unsqueeze(0);
        var cols = torch.arange(width, ScalarType.Int64, device).unsqueeze(0);
        var inRow = rows.ge(b.select(0, 0).unsqueeze(1)).logical_and(rows.lt(b.select(0, 1).unsqueeze(1))).to(feature.dtype);
        var inCol = cols.ge(b.select(0, 2).unsqueeze(1)).logical_and(cols.lt(b.select(0, 3).unsqueeze(1))).to(feature.dtype);
        var scale = torch.tensor(area).to(feature.dtype, device).reciprocal().unsqueeze(1);
        var weight = (inRow.unsqueeze(2) * (inCol * scale).unsqueeze(1)).reshape(count, height * width);
        var flat = feature.reshape(batch, channels, height * width);

        var parts = new List<Tensor>();
        var order = new List<long>();
        for (var n = 0; n < batch; n++)
        {
            if (groups[n] is not { } members) continue;
            var rowsOfImage = members.Count == count ? weight : weight.index_select(0, torch.tensor(members.ToArray()).to(device));
            parts.Add(rowsOfImage.mm(flat.select(0, n).t()));
            order.AddRange(members);
        }
        if (parts.Count == 1) return scope.MoveToOuter(parts[0]);
        var inverse = new long[count];
        for (var j = 0; j < count; j++) inverse[order[j]] = j;
        return scope.MoveToOuter(torch.cat(parts, 0).index_select(0, torch.tensor(inverse).to(device)));
    }

    /// <summary>
    /// RDM robust weights: w_i = 1 − |max_{k∈class(i)} cos(f^s_i, P^s_k) − max_{k∈class(i)} cos(f^t_i, P^t_k)|,
    /// over the prototypes of instance i's own class only; detached (no gradient).
    /// </summary>
    /// <param name="student">(R, D_s) student instance features (<see cref="gk_roi_avg_pool"/>).</param>
    /// <param name="teacher">(R, D_t) teacher instance features.</param>
    /// <param name="labels">(R) class index of every instance.</param>
    /// <param name="student_prototypes">(P, D_s) the level's student prototypes, concatenated over classes.</param>
    /// <param name="teacher_prototypes">(P, D_t) the level's teacher prototypes, same order.</param>
    /// <param name="class_starts">(C + 1) integer start indices: class c owns prototypes
    /// [class_starts[c], class_starts[c+1]); non-decreasing, last = P (the released code's cls_start_index).</param>
    /// <returns>(R) weights in the student's dtype; an instance whose class has no prototype (or whose
    /// label is outside the classes) gets w = 1 (nothing to compare: kept as plain KD). w may be negative
    /// when the two maxima have opposite signs, as in the released code.</returns>
    public static Tensor gk_robust_weights(Tensor student, Tensor teacher, Tensor labels,
        Tensor student_prototypes, Tensor teacher_prototypes, Tensor class_starts)
    {
        const string fn = "gk_robust_weights";
        CheckInstances(fn, student, teacher, student_prototypes, teacher_prototypes);
        if (labels.dim() != 1 || labels.size(0) != student.size(0))
            throw new LossArgumentException(fn, nameof(labels),
                $"labels must have shape [R] = [{student.size(0)}] (one per row of student {Guard.Shape(student)}), got {Guard.Shape(labels)}");
        var prototypes = student_prototypes.size(0);
        var starts = class_starts.dim() == 1 ? class_starts.to(ScalarType.Int64).ToArray<long>() : [];
        if (starts.Length < 2 || starts[^1] != prototypes || starts[0] < 0 || starts.Zip(starts.Skip(1)).Any(p => p.Second < p.First))
            throw new LossArgumentException(fn, nameof(class_starts),
                $"class_starts must be a non-decreasing (C + 1) vector from >= 0 to P = {prototypes}, got {Guard.Shape(class_starts)} [{string.Join(", ", starts)}]");

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        if (prototypes == 0 || student.size(0) == 0)
            return scope.MoveToOuter(torch.ones([student.size(0)], student.dtype, student.device));
        var owner = new long[prototypes];
        Array.Fill(owner, -1);
        for (var c = 0; c + 1 < starts.Length; c++)
            for (var p = starts[c]; p < starts[c + 1]; p++) owner[p] = c;
        var protoClass = torch.tensor(owner).to(student.device);

        var cs = Cosines(student.detach(), student_prototypes.detach());
        var ct = Cosines(teacher.detach(), teacher_prototypes.detach());
        var same = labels.to(ScalarType.Int64).unsqueeze(1).eq(protoClass.unsqueeze(0));
        var other = same.logical_not();
        var ms = cs.masked_fill(other, double.NegativeInfinity).amax(1);
        var mt = ct.masked_fill(other, double.NegativeInfinity).amax(1);
        var w = torch.where(same.any(1), 1 - (ms - mt).abs(), 1.0);
        return scope.MoveToOuter(w.to(student.dtype));
    }

    /// <summary>(R, P) cosine similarities of rows with prototypes: normalised rows, one matrix product.</summary>
    private static Tensor Cosines(Tensor rows, Tensor prototypes) =>
        normalize(rows, dim: 1).mm(normalize(prototypes, dim: 1).t());

    /// <summary>
    /// The global-knowledge loss (RDM, code branch pair_wise='use_r2i'): with c^s_ik = cos(f^s_i, P^s_k)
    /// and c^t_ik = cos(f^t_i, P^t_k) over ALL prototypes k of the level (every class),
    /// L_g = factor · att · mean_{i,k} SmoothL1_{β=1}(w_i c^s_ik, w_i c^t_ik). Per level: the released
    /// code sums the levels' values. No instance on the level gives 0. Teacher, prototypes and weights
    /// are detached.
    /// </summary>
    /// <param name="student">(R, D_s) student instance features of the level.</param>
    /// <param name="teacher">(R, D_t) teacher instance features.</param>
    /// <param name="student_prototypes">(P, D_s) all student prototypes of the level.</param>
    /// <param name="teacher_prototypes">(P, D_t) all teacher prototypes of the level.</param>
    /// <param name="weights">(R) robust weights (<see cref="gk_robust_weights"/>).</param>
    /// <param name="factor">pair_wise_factor (5 in the released config).</param>
    /// <param name="attenuation">att = 1 − epoch/max_epochs with kd_attenuation (the caller's schedule value).</param>
    [DistillLoss("global_knowledge_loss",
        Source = "Tang et al. 2022, arXiv 2210.09022; DAVAR-Lab-ML ECCV22 .../strategy/kd_one_stage_strategy.py (r2i_om_loss)",
        Formula = "factor * att * mean_{i,k} SmoothL1_{beta=1}(w_i cos(f^s_i, P^s_k), w_i cos(f^t_i, P^t_k)), k over all prototypes of the level",
        Convention = "released code (pair_wise='use_r2i'): per level, summed over levels by the caller; factor 5; all prototypes, not only the instance's class")]
    public static Tensor global_knowledge_loss(
        [Input(InputRole.Student, TensorKind.Embedding, Shape = "R,Ds")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Embedding, Shape = "R,Dt")] Tensor teacher,
        [Input(InputRole.Auxiliary, TensorKind.Table, Shape = "P,Ds")] Tensor student_prototypes,
        [Input(InputRole.Auxiliary, TensorKind.Table, Shape = "P,Dt")] Tensor teacher_prototypes,
        [Input(InputRole.Auxiliary, TensorKind.Weights, Shape = "R")] Tensor weights,
        [HyperParameter(Min = 0, Description = "pair_wise_factor, scale of the global loss")] double factor = 5.0,
        [HyperParameter(Min = 0, Max = 1, Description = "attenuation 1 - epoch/max_epochs (kd_attenuation)")] double attenuation = 1.0)
    {
        const string loss = "global_knowledge_loss";
        CheckInstances(loss, student, teacher, student_prototypes, teacher_prototypes);
        if (student_prototypes.size(0) == 0)
            throw new LossArgumentException(loss, nameof(student_prototypes), $"student_prototypes has no prototype {Guard.Shape(student_prototypes)}");
        CheckWeights(loss, weights, student);
        Guard.NonNegative(loss, nameof(factor), factor);
        if (!(attenuation >= 0 && attenuation <= 1))
            throw new LossArgumentException(loss, nameof(attenuation), $"attenuation must be in [0, 1], got {attenuation.ToString(CultureInfo.InvariantCulture)}");

        using var scope = torch.NewDisposeScope();
        if (student.size(0) == 0) return scope.MoveToOuter(student.sum() * 0.0);
        var w = weights.detach().to(student.dtype).unsqueeze(1);
        // w_i cos(f_i, P_k) = (w_i f_i/‖f_i‖)·(P_k/‖P_k‖): the weight scales the (R, D) rows before the
        // product rather than the (R, P) cosines; the teacher's side carries no graph
        var cs = (normalize(student, dim: 1) * w).mm(normalize(student_prototypes.detach(), dim: 1).t());
        Tensor ct;
        using (torch.no_grad()) ct = (normalize(teacher.detach(), dim: 1) * w).mm(normalize(teacher_prototypes.detach(), dim: 1).t());
        var result = smooth_l1_loss(cs, ct, "mean", 1.0) * (factor * attenuation);
        return scope.MoveToOuter(result);
    }

    /// <summary>
    /// Robust-weight masks of the point-wise feature KD (<c>get_gt_mask</c> with weights): boxes are
    /// assigned to levels by the DeFeat rule (<see cref="DeFeat.defeat_box_levels"/>), and on its level a
    /// box's cells (the DeFeat cell rule) are SET to its weight w_i, later boxes overwriting earlier ones;
    /// a box degenerate in cells keeps max(existing, w_i) in its single cell, as the released code does.
    /// </summary>
    /// <param name="boxes">one (n_i, 4) tensor of boxes (x1, y1, x2, y2, image pixels) per image.</param>
    /// <param name="weights">one (n_i) tensor of robust weights per image, each computed on its box's level.</param>
    /// <param name="strides">the stride of every FPN level.</param>
    /// <param name="sizes">the (H_l, W_l) of every FPN level.</param>
    /// <returns>one float32 (N, H_l, W_l) weight mask per level, on the boxes' device.</returns>
    public static Tensor[] gk_weight_masks(IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor> weights,
        IReadOnlyList<int> strides, IReadOnlyList<(long Height, long Width)> sizes) =>
        FpnBoxes.Paint("gk_weight_masks", boxes, weights, strides, sizes);

    /// <summary>
    /// Point-wise feature KD filtered by the robust weights (point_strategy='decouple'): per level, with
    /// E = (s − t)², the weight mask W broadcast over the C channels and Bm = 1[W &gt; 0],
    /// fg_l = Σ E·W / max(1, 2·C·Σ W) (normalised by the weighted sum, not a count) and
    /// bg_l = Σ E·(1 − Bm) / max(1, 2·C·Σ (1 − Bm)); L = att · (1/L) Σ_l (λ_fg fg_l + λ_bg bg_l).
    /// The teacher is detached.
    /// </summary>
    /// <param name="student">per FPN level, the adapted student feature (N, C, H_l, W_l).</param>
    /// <param name="teacher">per FPN level, the teacher feature, same shape.</param>
    /// <param name="weight_masks">per FPN level, the (N, H_l, W_l) robust-weight mask (<see cref="gk_weight_masks"/>).</param>
    /// <param name="lambda_fg">λ_fg = kd_param[2][1]·kd_param[0][0] = 1.</param>
    /// <param name="lambda_bg">λ_bg = kd_param[2][0]·kd_param[0][0] = 4.</param>
    /// <param name="attenuation">att = 1 − epoch/max_epochs with kd_attenuation.</param>
    [DistillLoss("gk_point_kd",
        Source = "Tang et al. 2022, arXiv 2210.09022; DAVAR-Lab-ML ECCV22 .../models/losses/kd_loss.py (KDLoss, 'decouple'), kd_two_stage_strategy.py",
        Formula = "att/L * sum_l [lambda_fg * sum(E W) / max(1, 2 C sum W) + lambda_bg * sum(E (1-Bm)) / max(1, 2 C sum(1-Bm))], E = (s-t)^2, Bm = 1[W>0]",
        Convention = "released two-stage code: levels averaged (the one-stage strategy sums them: multiply by L); lambda_fg 1, lambda_bg 4")]
    public static Tensor gk_point_kd(
        [Input(InputRole.Student, TensorKind.FeatureMap, Shape = "N,C,*,*")] IReadOnlyList<Tensor> student,
        [Input(InputRole.Teacher, TensorKind.FeatureMap, Shape = "N,C,*,*")] IReadOnlyList<Tensor> teacher,
        [Input(InputRole.Auxiliary, TensorKind.Mask, Shape = "N,*,*")] IReadOnlyList<Tensor> weight_masks,
        [HyperParameter(Min = 0, Description = "lambda_fg, weight of the object part (kd_param[2][1])")] double lambda_fg = 1.0,
        [HyperParameter(Min = 0, Description = "lambda_bg, weight of the background part (kd_param[2][0])")] double lambda_bg = 4.0,
        [HyperParameter(Min = 0, Max = 1, Description = "attenuation 1 - epoch/max_epochs (kd_attenuation)")] double attenuation = 1.0)
    {
        const string loss = "gk_point_kd";
        FpnBoxes.CheckLevels(loss, student, teacher, weight_masks, nameof(weight_masks));
        Guard.NonNegative(loss, nameof(lambda_fg), lambda_fg);
        Guard.NonNegative(loss, nameof(lambda_bg), lambda_bg);
        if (!(attenuation >= 0 && attenuation <= 1))
            throw new LossArgumentException(loss, nameof(attenuation), $"attenuation must be in [0, 1], got {attenuation.ToString(CultureInfo.InvariantCulture)}");

        using var scope = torch.NewDisposeScope();
        var parts = FpnBoxes.SumLevels(student, teacher, weight_masks, binary: false);
        var scale = attenuation / student.Count;
        var result = parts.select(0, 0) * (lambda_fg * scale) + parts.select(0, 1) * (lambda_bg * scale);
        return scope.MoveToOuter(result);
    }

    /// <summary>
    /// Soft-label KD on the positive RoIs weighted by the robust weights (mmdet's
    /// <c>knowledge_distillation_kl_div_loss</c>): L = (1/R) Σ_r w_r · T² · (1/(K+1)) Σ_c p_t (log p_t − log p_s),
    /// p = softmax(z/T). Note the mean over the K+1 classes. No RoI gives 0. Teacher and weights are detached.
    /// </summary>
    /// <param name="student">(R, K+1) student RoI logits of the positive proposals.</param>
    /// <param name="teacher">(R, K+1) teacher RoI logits.</param>
    /// <param name="weights">(R) robust weights (ones for the unweighted variant).</param>
    /// <param name="temperature">T (kd_t = 2).</param>
    [DistillLoss("gk_soft_kd",
        Source = "Tang et al. 2022, arXiv 2210.09022; DAVAR-Lab-ML ECCV22 .../models/losses/kd_loss.py (knowledge_distillation_kl_div_loss)",
        Formula = "(1/R) sum_r w_r T^2 (1/(K+1)) sum_c p_t (log p_t - log p_s), p = softmax(z/T)",
        Convention = "released code: KL averaged over classes (not summed), then weighted mean over RoIs; T = 2")]
    public static Tensor gk_soft_kd(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "R,K")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Logits, Shape = "R,K")] Tensor teacher,
        [Input(InputRole.Auxiliary, TensorKind.Weights, Shape = "R")] Tensor weights,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "softmax temperature T (kd_t)")] double temperature = 2.0)
    {
        const string loss = "gk_soft_kd";
        Guard.Rank(loss, nameof(student), student, 2, "R, K+1");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        CheckWeights(loss, weights, student);
        Guard.Positive(loss, nameof(temperature), temperature);

        using var scope = torch.NewDisposeScope();
        if (student.size(0) == 0) return scope.MoveToOuter(student.sum() * 0.0);
        var kl = DeFeat.KlRows(student, teacher.detach(), temperature);
        var w = weights.detach().to(student.dtype);
        var result = kl.dot(w) * (temperature * temperature / (student.size(0) * (double)student.size(1)));
        return scope.MoveToOuter(result);
    }

    // ---- the terms an experiment wires: instances from the batch, prototypes from the loop's PrototypeBank ----------------

    /// <summary>
    /// The point-wise feature KD filtered by the robust weights over the batch's ground-truth boxes: the form an experiment
    /// writes (<c>boxes</c> and <c>labels</c> default to the batch's fields; the prototypes come from the
    /// <see cref="PrototypeBank"/> the training loop rebuilds before every epoch). Each box is assigned to one level by
    /// <see cref="DeFeat.defeat_box_levels"/> (finest scale 56); its robust weight w_i is <see cref="gk_robust_weights"/> of
    /// its <see cref="gk_roi_avg_pool"/> features on that level in <paramref name="student_features"/> and
    /// <paramref name="teacher"/>, against that level's prototypes of its class (1 when <paramref name="robust"/> is off or
    /// the bank has no table yet); then
    /// <c>gk_point_kd(student, teacher, gk_weight_masks(boxes, w, strides, level sizes), λ_fg, λ_bg, att)</c>.
    /// The weights are detached: the gradient reaches <paramref name="student"/> only.
    /// </summary>
    /// <param name="student">per FPN level, the adapted student feature (N, C, H_l, W_l).</param>
    /// <param name="teacher">per FPN level, the teacher feature, same shape; also the teacher space of the prototypes.</param>
    /// <param name="student_features">per FPN level, the student's own feature (N, D_s, H_l, W_l) before its adaptation: the
    /// student space of the prototypes.</param>
    /// <param name="boxes">one (n_i, 4) tensor of ground-truth boxes (x1, y1, x2, y2, network-input pixels) per image.</param>
    /// <param name="labels">one (n_i) tensor of class labels per image (the values the bank collected).</param>
    /// <param name="prototypes">the prototype tables of (<paramref name="student_features"/>, <paramref name="teacher"/>), one
    /// level per FPN level; empty before the first build.</param>
    /// <param name="strides">the stride of each level; default 4·2^l (P2, P3, ... of an FPN).</param>
    /// <param name="lambda_fg">λ_fg = kd_param[2][1]·kd_param[0][0] = 1.</param>
    /// <param name="lambda_bg">λ_bg = kd_param[2][0]·kd_param[0][0] = 4.</param>
    /// <param name="robust">weight the boxes by the robust weights (false: every w_i = 1, the local term without RDM).</param>
    /// <param name="attenuation">att = 1 − epoch/max_epochs with kd_attenuation.</param>
    [DistillLoss("gk_feature_gt",
        Source = "Tang et al. 2022, arXiv 2210.09022; DAVAR-Lab-ML ECCV22 .../strategy/kd_two_stage_strategy.py (get_gt_mask with the robust weights), models/losses/kd_loss.py ('decouple')",
        Formula = "gk_point_kd(student, teacher, gk_weight_masks(boxes, w, strides, level sizes), lambda_fg, lambda_bg, att), w_i = gk_robust_weights(box i's pooled student_features / teacher on its level, that level's prototypes, label_i); w = 1 without robust or prototypes",
        Convention = "instances are the ground-truth boxes (the released config replaces them by the student's positive proposals); box levels by mmdet's RoI rule (finest scale 56); strides 4·2^l unless given")]
    public static Tensor gk_feature_gt(
        [Input(InputRole.Student, TensorKind.FeatureMap, Shape = "N,C,*,*")] IReadOnlyList<Tensor> student,
        [Input(InputRole.Teacher, TensorKind.FeatureMap, Shape = "N,C,*,*")] IReadOnlyList<Tensor> teacher,
        [Input(InputRole.Student, TensorKind.FeatureMap)] IReadOnlyList<Tensor> student_features,
        [Input(InputRole.Target, TensorKind.Boxes, Shape = "N,*,4", BatchField = "boxes")] IReadOnlyList<Tensor> boxes,
        [Input(InputRole.Target, TensorKind.Labels, BatchField = "labels")] IReadOnlyList<Tensor> labels,
        [Input(InputRole.Auxiliary, TensorKind.Table, Prototypes = "student_features,teacher")] PrototypeBank prototypes,
        [HyperParameter(Min = 1, Description = "the stride of each level (default 4, 8, 16, ...: P2, P3, ...)")] int[]? strides = null,
        [HyperParameter(Min = 0, Description = "lambda_fg, weight of the object part (kd_param[2][1])")] double lambda_fg = 1.0,
        [HyperParameter(Min = 0, Description = "lambda_bg, weight of the background part (kd_param[2][0])")] double lambda_bg = 4.0,
        [HyperParameter(Description = "weight the boxes by the robust weights (false: every weight is 1)")] bool robust = true,
        [HyperParameter(Min = 0, Max = 1, Description = "attenuation 1 - epoch/max_epochs (kd_attenuation)")] double attenuation = 1.0)
    {
        const string loss = "gk_feature_gt";
        FpnBoxes.CheckLevels(loss, student, teacher, null, "");
        ArgumentNullException.ThrowIfNull(student_features);
        if (student_features.Count != student.Count)
            throw new LossArgumentException(loss, nameof(student_features), $"student has {student.Count} FPN levels but student_features has {student_features.Count}");
        var levelStrides = CheckPrototypeInputs(loss, nameof(student_features), student_features, nameof(teacher), teacher, prototypes, strides);
        Guard.NonNegative(loss, nameof(lambda_fg), lambda_fg);
        Guard.NonNegative(loss, nameof(lambda_bg), lambda_bg);
        CheckAttenuation(loss, attenuation);

        using var scope = torch.NewDisposeScope();
        var (rois, classes, counts) = GtInstances(loss, boxes, labels, student[0].size(0));
        var w = InstanceWeights(student_features, teacher, rois, classes, levelStrides, prototypes, robust);
        var perImage = new Tensor[counts.Length];
        for (long i = 0, at = 0; i < counts.Length; at += counts[i], i++) perImage[i] = w.narrow(0, at, counts[i]);
        var masks = gk_weight_masks(boxes, perImage, levelStrides, student.Select(x => (x.size(-2), x.size(-1))).ToArray());
        var device = student[0].device;
        if (masks[0].device != device) masks = masks.Select(m => m.to(device)).ToArray();
        return scope.MoveToOuter(gk_point_kd(student, teacher, masks, lambda_fg, lambda_bg, attenuation));
    }

    /// <summary>
    /// GK's soft-label KD on the positive RoIs, each weighted by its robust weight (<see cref="gk_soft_kd"/>): the positive
    /// rows of <paramref name="student"/> and <paramref name="teacher"/>, and for each the robust weight of its RoI computed as
    /// in <see cref="gk_feature_gt"/> — the RoI's box assigned to a level by <see cref="DeFeat.defeat_box_levels"/>, its
    /// <see cref="gk_roi_avg_pool"/> features there in <paramref name="student_features"/> and
    /// <paramref name="teacher_features"/>, <see cref="gk_robust_weights"/> with <paramref name="roi_labels"/> (1 when
    /// <paramref name="robust"/> is off or the bank has no table yet). No positive RoI gives 0 with a finite gradient.
    /// </summary>
    /// <remarks>The released code pools each RoI with a 7×7 RoIAlign on mmdet's RoI level for the weights; here it is the box
    /// average of the FPN feature on the DeFeat level, the same instance feature the prototypes are made of.</remarks>
    /// <param name="student">(R, K+1) student RoI logits on the RoIs below (e.g. <c>student.roi_logits@teacher.sampled_rois</c>).</param>
    /// <param name="teacher">(R, K+1) teacher RoI logits on the same RoIs.</param>
    /// <param name="positive">(R) 1 (or true) for the positive RoIs.</param>
    /// <param name="rois">(R, 5) the RoIs, rows (image index, x1, y1, x2, y2) in network-input pixels.</param>
    /// <param name="roi_labels">(R) the class of each RoI (the values the bank collected).</param>
    /// <param name="student_features">per FPN level, the student's own feature (N, D_s, H_l, W_l): the student space of the prototypes.</param>
    /// <param name="teacher_features">per FPN level, the teacher feature (N, D_t, H_l, W_l): the teacher space of the prototypes.</param>
    /// <param name="prototypes">the prototype tables of (<paramref name="student_features"/>, <paramref name="teacher_features"/>).</param>
    /// <param name="strides">the stride of each level; default 4·2^l.</param>
    /// <param name="temperature">T (kd_t = 2).</param>
    /// <param name="robust">weight the RoIs by the robust weights (false: every weight is 1).</param>
    [DistillLoss("gk_soft_kd_rois",
        Source = "Tang et al. 2022, arXiv 2210.09022; DAVAR-Lab-ML ECCV22 .../strategy/kd_two_stage_strategy.py, models/losses/kd_loss.py (knowledge_distillation_kl_div_loss)",
        Formula = "gk_soft_kd(student[pos], teacher[pos], w, T), w_r = gk_robust_weights(RoI r's pooled student_features / teacher_features on its level, that level's prototypes, roi_labels_r); w = 1 without robust or prototypes",
        Convention = "RoI features for the weights: box-averaged FPN features on the DeFeat level (the released code: 7x7 RoIAlign on mmdet's level); T = 2")]
    public static Tensor gk_soft_kd_rois(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "R,K")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Logits, Shape = "R,K")] Tensor teacher,
        [Input(InputRole.Auxiliary, TensorKind.Mask, Shape = "R")] Tensor positive,
        [Input(InputRole.Auxiliary, TensorKind.Boxes, Shape = "R,5")] Tensor rois,
        [Input(InputRole.Auxiliary, TensorKind.Labels, Shape = "R")] Tensor roi_labels,
        [Input(InputRole.Student, TensorKind.FeatureMap)] IReadOnlyList<Tensor> student_features,
        [Input(InputRole.Teacher, TensorKind.FeatureMap)] IReadOnlyList<Tensor> teacher_features,
        [Input(InputRole.Auxiliary, TensorKind.Table, Prototypes = "student_features,teacher_features")] PrototypeBank prototypes,
        [HyperParameter(Min = 1, Description = "the stride of each level (default 4, 8, 16, ...: P2, P3, ...)")] int[]? strides = null,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "softmax temperature T (kd_t)")] double temperature = 2.0,
        [HyperParameter(Description = "weight the RoIs by the robust weights (false: every weight is 1)")] bool robust = true)
    {
        const string loss = "gk_soft_kd_rois";
        Guard.Rank(loss, nameof(student), student, 2, "R, K+1");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        var count = student.size(0);
        if (positive.dim() != 1 || positive.size(0) != count)
            throw new LossArgumentException(loss, nameof(positive),
                $"positive must have shape [R] = [{count}] (one flag per row of student {Guard.Shape(student)}), got {Guard.Shape(positive)}");
        if (rois.dim() != 2 || rois.size(0) != count || rois.size(1) != 5)
            throw new LossArgumentException(loss, nameof(rois),
                $"rois must have shape [R, 5] = [{count}, 5] (image index, x1, y1, x2, y2 for each row of student {Guard.Shape(student)}), got {Guard.Shape(rois)}");
        if (roi_labels.dim() != 1 || roi_labels.size(0) != count)
            throw new LossArgumentException(loss, nameof(roi_labels),
                $"roi_labels must have shape [R] = [{count}] (one class per row of student {Guard.Shape(student)}), got {Guard.Shape(roi_labels)}");
        if (roi_labels.is_floating_point() || roi_labels.dtype == ScalarType.Bool)
            throw new LossArgumentException(loss, nameof(roi_labels), $"roi_labels must hold integer class labels, got {roi_labels.dtype.Name()}");
        var levelStrides = CheckPrototypeInputs(loss, nameof(student_features), student_features, nameof(teacher_features), teacher_features, prototypes, strides);
        Guard.Positive(loss, nameof(temperature), temperature);

        using var scope = torch.NewDisposeScope();
        var index = (positive.dtype == ScalarType.Bool ? positive : positive.ne(0)).nonzero().reshape(-1);
        if (index.numel() == 0) return scope.MoveToOuter(student.sum() * 0.0);
        var w = InstanceWeights(student_features, teacher_features, rois.detach().index_select(0, index.to(rois.device)),
            roi_labels.index_select(0, index.to(roi_labels.device)), levelStrides, prototypes, robust);
        var rows = index.to(student.device);
        return scope.MoveToOuter(gk_soft_kd(student.index_select(0, rows), teacher.index_select(0, rows), w.to(student.device), temperature));
    }

    /// <summary>
    /// The global-knowledge loss L_g (code branch pair_wise='use_r2i') over the batch's ground-truth boxes: per level l, the
    /// boxes assigned to l by <see cref="DeFeat.defeat_box_levels"/>, their <see cref="gk_roi_avg_pool"/> features in
    /// <paramref name="student_features"/> and <paramref name="teacher"/>, their weights (<see cref="gk_robust_weights"/>, or 1
    /// when <paramref name="robust"/> is off) and <see cref="global_knowledge_loss"/> against all of the level's prototypes;
    /// the levels' values are summed, as the released code's are. Before the bank's first build there is nothing global to
    /// match: the loss is 0 with a finite gradient, as it is for a batch without boxes.
    /// </summary>
    /// <param name="student_features">per FPN level, the student's own feature (N, D_s, H_l, W_l): the student space of the prototypes.</param>
    /// <param name="teacher">per FPN level, the teacher feature (N, D_t, H_l, W_l): the teacher space of the prototypes.</param>
    /// <param name="boxes">one (n_i, 4) tensor of ground-truth boxes (x1, y1, x2, y2, network-input pixels) per image.</param>
    /// <param name="labels">one (n_i) tensor of class labels per image (the values the bank collected).</param>
    /// <param name="prototypes">the prototype tables of (<paramref name="student_features"/>, <paramref name="teacher"/>).</param>
    /// <param name="strides">the stride of each level; default 4·2^l.</param>
    /// <param name="factor">pair_wise_factor (5 in the released config).</param>
    /// <param name="robust">weight the instances by the robust weights (false: every weight is 1).</param>
    /// <param name="attenuation">att = 1 − epoch/max_epochs with kd_attenuation.</param>
    [DistillLoss("gk_global_gt",
        Source = "Tang et al. 2022, arXiv 2210.09022; DAVAR-Lab-ML ECCV22 .../strategy/kd_one_stage_strategy.py (r2i_om_loss)",
        Formula = "sum_l global_knowledge_loss(pooled student_features[l], pooled teacher[l], level l's prototypes, w, factor, att) over the boxes assigned to level l; 0 before the first prototypes",
        Convention = "released code (pair_wise='use_r2i'): levels summed, factor 5, all prototypes of the level; instances are the ground-truth boxes (the released config uses the student's positive proposals)")]
    public static Tensor gk_global_gt(
        [Input(InputRole.Student, TensorKind.FeatureMap)] IReadOnlyList<Tensor> student_features,
        [Input(InputRole.Teacher, TensorKind.FeatureMap)] IReadOnlyList<Tensor> teacher,
        [Input(InputRole.Target, TensorKind.Boxes, Shape = "N,*,4", BatchField = "boxes")] IReadOnlyList<Tensor> boxes,
        [Input(InputRole.Target, TensorKind.Labels, BatchField = "labels")] IReadOnlyList<Tensor> labels,
        [Input(InputRole.Auxiliary, TensorKind.Table, Prototypes = "student_features,teacher")] PrototypeBank prototypes,
        [HyperParameter(Min = 1, Description = "the stride of each level (default 4, 8, 16, ...: P2, P3, ...)")] int[]? strides = null,
        [HyperParameter(Min = 0, Description = "pair_wise_factor, scale of the global loss")] double factor = 5.0,
        [HyperParameter(Description = "weight the instances by the robust weights (false: every weight is 1)")] bool robust = true,
        [HyperParameter(Min = 0, Max = 1, Description = "attenuation 1 - epoch/max_epochs (kd_attenuation)")] double attenuation = 1.0)
    {
        const string loss = "gk_global_gt";
        var levelStrides = CheckPrototypeInputs(loss, nameof(student_features), student_features, nameof(teacher), teacher, prototypes, strides);
        Guard.NonNegative(loss, nameof(factor), factor);
        CheckAttenuation(loss, attenuation);

        using var scope = torch.NewDisposeScope();
        var (rois, classes, _) = GtInstances(loss, boxes, labels, student_features[0].size(0));
        Tensor? total = null;
        if (!prototypes.IsEmpty && rois.size(0) > 0)
        {
            var level = DeFeat.defeat_box_levels(rois.narrow(1, 1, 4), levelStrides.Length).ToArray<long>();
            for (var l = 0; l < levelStrides.Length; l++)
            {
                if (Members(level, l) is not { } index) continue;
                var r = rois.index_select(0, index.to(rois.device));
                var fs = gk_roi_avg_pool(student_features[l], r, levelStrides[l]);
                Tensor ft;
                using (torch.no_grad()) ft = gk_roi_avg_pool(teacher[l].detach(), r, levelStrides[l]);
                var w = LevelWeights(fs, ft, classes.index_select(0, index.to(classes.device)), prototypes, l, robust);
                var table = prototypes.Level(l);
                var term = global_knowledge_loss(fs, ft, table.Student.to(fs.dtype, fs.device), table.Teacher.to(ft.dtype, ft.device), w, factor, attenuation);
                total = total is null ? term : total + term;
            }
        }
        return scope.MoveToOuter(total ?? student_features[0].sum() * 0.0);
    }

    /// <summary>
    /// The per-level feature lists a prototype bank is made of: the same number of levels, each (N, D, H_l, W_l) with one
    /// N and the same H_l, W_l on both sides; the strides (default 4·2^l); and a non-empty bank with one table per level
    /// whose feature sizes are the lists' channels.
    /// </summary>
    private static int[] CheckPrototypeInputs(string loss, string studentName, IReadOnlyList<Tensor> student, string teacherName,
        IReadOnlyList<Tensor> teacher, PrototypeBank prototypes, int[]? strides)
    {
        ArgumentNullException.ThrowIfNull(student, studentName);
        ArgumentNullException.ThrowIfNull(teacher, teacherName);
        ArgumentNullException.ThrowIfNull(prototypes);
        if (student.Count == 0)
            throw new LossArgumentException(loss, studentName, $"{studentName} has no FPN level (an empty list)");
        if (teacher.Count != student.Count)
            throw new LossArgumentException(loss, teacherName, $"{studentName} has {student.Count} FPN levels but {teacherName} has {teacher.Count}");
        for (var l = 0; l < student.Count; l++)
        {
            var (s, t) = (student[l], teacher[l]);
            Guard.Rank(loss, $"{studentName}[{l}]", s, 4, "N, D_s, H, W");
            Guard.Rank(loss, $"{teacherName}[{l}]", t, 4, "N, D_t, H, W");
            Guard.NonEmpty(loss, $"{studentName}[{l}]", s);
            if (s.size(0) != student[0].size(0) || t.size(0) != s.size(0) || t.size(2) != s.size(2) || t.size(3) != s.size(3))
                throw new LossArgumentException(loss, teacherName,
                    $"{studentName}[{l}] {Guard.Shape(s)} and {teacherName}[{l}] {Guard.Shape(t)} must have the batch size of {studentName}[0] {Guard.Shape(student[0])} and the same H, W");
        }
        strides ??= Enumerable.Range(0, student.Count).Select(l => 4 << l).ToArray();
        if (strides.Length != student.Count)
            throw new LossArgumentException(loss, nameof(strides), $"strides has {strides.Length} entries but {studentName} has {student.Count} FPN levels");
        for (var l = 0; l < strides.Length; l++)
            if (strides[l] <= 0)
                throw new LossArgumentException(loss, nameof(strides), $"strides[{l}] must be > 0, got {strides[l]}");
        if (prototypes.IsEmpty) return strides;
        if (prototypes.Levels != student.Count)
            throw new LossArgumentException(loss, nameof(prototypes),
                $"the prototype bank has {prototypes.Levels} levels but {studentName} has {student.Count} FPN levels (a bank is built from the same taps as {studentName} and {teacherName})");
        for (var l = 0; l < student.Count; l++)
        {
            var table = prototypes.Level(l);
            if (table.Student.size(1) != student[l].size(1) || table.Teacher.size(1) != teacher[l].size(1))
                throw new LossArgumentException(loss, nameof(prototypes),
                    $"the prototype bank's level {l} has {table.Student.size(1)} student and {table.Teacher.size(1)} teacher channels, but {studentName}[{l}] is {Guard.Shape(student[l])} and {teacherName}[{l}] is {Guard.Shape(teacher[l])}");
        }
        return strides;
    }

    private static void CheckAttenuation(string loss, double attenuation)
    {
        if (!(attenuation >= 0 && attenuation <= 1))
            throw new LossArgumentException(loss, nameof(attenuation), $"attenuation must be in [0, 1], got {attenuation.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>
    /// The batch's ground-truth boxes as RoI rows (image index, x1, y1, x2, y2) in batch order (the boxes' dtype, float32 for
    /// integer boxes, on their device), their int64 labels, and the number of boxes of every image.
    /// </summary>
    private static (Tensor Rois, Tensor Labels, long[] Counts) GtInstances(string loss, IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor> labels, long batch)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        ArgumentNullException.ThrowIfNull(labels);
        if (boxes.Count != batch)
            throw new LossArgumentException(loss, nameof(boxes), $"boxes has {boxes.Count} images but the features have a batch of {batch}");
        if (labels.Count != batch)
            throw new LossArgumentException(loss, nameof(labels), $"labels has {labels.Count} images but the features have a batch of {batch}");
        var counts = new long[batch];
        for (var i = 0; i < batch; i++)
        {
            var (b, c) = (boxes[i], labels[i]);
            if (b.dim() != 2 || b.size(1) != 4)
                throw new LossArgumentException(loss, nameof(boxes), $"boxes[{i}] must be (n, 4) rows (x1, y1, x2, y2), got {Guard.Shape(b)}");
            if (c.dim() != 1 || c.size(0) != b.size(0))
                throw new LossArgumentException(loss, nameof(labels), $"labels[{i}] must have shape [{b.size(0)}] (one label per box of boxes[{i}] {Guard.Shape(b)}), got {Guard.Shape(c)}");
            if (c.is_floating_point() || c.dtype == ScalarType.Bool)
                throw new LossArgumentException(loss, nameof(labels), $"labels[{i}] must hold integer class labels, got {c.dtype.Name()}");
            counts[i] = b.size(0);
        }
        var all = torch.cat(boxes.Select(b => b.detach()).ToArray(), 0);
        if (!all.is_floating_point()) all = all.to(ScalarType.Float32);
        var image = new float[all.size(0)];
        for (long i = 0, at = 0; i < batch; at += counts[i], i++) Array.Fill(image, (float)i, (int)at, (int)counts[i]);
        var rois = torch.cat([torch.tensor(image).to(all.dtype, all.device).unsqueeze(1), all], 1);
        var classes = torch.cat(labels.Select(c => c.to(ScalarType.Int64)).ToArray(), 0);
        return (rois, classes, counts);
    }

    /// <summary>The int64 indices of the instances on <paramref name="level"/>, or null when there is none.</summary>
    private static Tensor? Members(long[] levels, long level)
    {
        var members = Enumerable.Range(0, levels.Length).Where(i => levels[i] == level).Select(i => (long)i).ToArray();
        return members.Length == 0 ? null : torch.tensor(members);
    }

    /// <summary>
    /// One detached weight per RoI row (image index, x1, y1, x2, y2): the robust weight of its box-averaged features on the
    /// level its box is assigned to (DeFeat rule), or 1 without <paramref name="robust"/> or a table. On the student
    /// features' device, in their dtype.
    /// </summary>
    private static Tensor InstanceWeights(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, Tensor rois, Tensor labels,
        int[] strides, PrototypeBank bank, bool robust)
    {
        var first = studentFeatures[0];
        var w = torch.ones([rois.size(0)], first.dtype, first.device);
        if (!robust || bank.IsEmpty || rois.size(0) == 0) return w;
        using var noGrad = torch.no_grad();
        var box = rois.narrow(1, 1, 4);
        var level = DeFeat.defeat_box_levels(box, strides.Length).ToArray<long>();
        for (var l = 0; l < strides.Length; l++)
        {
            if (Members(level, l) is not { } index) continue;
            var r = rois.index_select(0, index.to(rois.device));
            var fs = gk_roi_avg_pool(studentFeatures[l].detach(), r, strides[l]);
            var ft = gk_roi_avg_pool(teacherFeatures[l].detach(), r, strides[l]);
            w.index_put_([index.to(w.device)], LevelWeights(fs, ft, labels.index_select(0, index.to(labels.device)), bank, l, robust).to(w.dtype));
        }
        return w;
    }

    /// <summary>The weights of one level's instances: <see cref="gk_robust_weights"/> against the bank's table, or ones.</summary>
    private static Tensor LevelWeights(Tensor student, Tensor teacher, Tensor labels, PrototypeBank bank, int level, bool robust)
    {
        if (!robust || bank.IsEmpty) return torch.ones([student.size(0)], student.dtype, student.device);
        var table = bank.Level(level);
        return gk_robust_weights(student.detach(), teacher.detach(), labels.to(student.device),
            table.Student.to(student.dtype, student.device), table.Teacher.to(teacher.dtype, teacher.device), table.ClassStarts);
    }

    /// <summary>Instance features and prototype tables: (R, D_s)/(R, D_t) rows, (P, D_s)/(P, D_t) prototypes.</summary>
    private static void CheckInstances(string fn, Tensor student, Tensor teacher, Tensor studentPrototypes, Tensor teacherPrototypes)
    {
        Guard.Rank(fn, nameof(student), student, 2, "R, D_s");
        Guard.Rank(fn, nameof(teacher), teacher, 2, "R, D_t");
        if (teacher.size(0) != student.size(0))
            throw new LossArgumentException(fn, nameof(teacher),
                $"student {Guard.Shape(student)} and teacher {Guard.Shape(teacher)} must have the same number of instances (rows)");
        Guard.Rank(fn, "student_prototypes", studentPrototypes, 2, "P, D_s");
        Guard.Rank(fn, "teacher_prototypes", teacherPrototypes, 2, "P, D_t");
        if (studentPrototypes.size(1) != student.size(1))
            throw new LossArgumentException(fn, "student_prototypes",
                $"student {Guard.Shape(student)} and student_prototypes {Guard.Shape(studentPrototypes)} must have the same feature size");
        if (teacherPrototypes.size(1) != teacher.size(1))
            throw new LossArgumentException(fn, "teacher_prototypes",
                $"teacher {Guard.Shape(teacher)} and teacher_prototypes {Guard.Shape(teacherPrototypes)} must have the same feature size");
        if (teacherPrototypes.size(0) != studentPrototypes.size(0))
            throw new LossArgumentException(fn, "teacher_prototypes",
                $"student_prototypes {Guard.Shape(studentPrototypes)} and teacher_prototypes {Guard.Shape(teacherPrototypes)} must have the same number of prototypes");
    }

    private static void CheckWeights(string fn, Tensor weights, Tensor student)
    {
        if (weights.dim() != 1 || weights.size(0) != student.size(0))
            throw new LossArgumentException(fn, nameof(weights),
                $"weights must have shape [R] = [{student.size(0)}] (one per row of student {Guard.Shape(student)}), got {Guard.Shape(weights)}");
    }
}
