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
