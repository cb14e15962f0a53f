using Distill.Metadata;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Losses;

/// <summary>
/// DeFeat (Guo et al., CVPR 2021, arXiv 2103.14475; code ggjy/DeFeat.pytorch): decoupled object /
/// background imitation of the FPN features, and decoupled KL of the RoI classification for positive
/// and negative proposals. Also the GT-box → FPN-level rule and the object-mask builder that the
/// Global Knowledge losses reuse.
/// </summary>
public static class DeFeat
{
    /// <summary>
    /// The FPN level of every box by mmdet's RoI rule (<c>_map_roi_levels</c>):
    /// lvl = floor(log2(sqrt((x2 − x1 + 1)(y2 − y1 + 1)) / <paramref name="finest_scale"/> + 1e-6)),
    /// clamped to [0, <paramref name="num_levels"/> − 1]. Computed in the boxes' dtype (as the
    /// released code does), so a box on a level boundary lands where the authors' code puts it.
    /// </summary>
    /// <param name="boxes">(..., 4) boxes (x1, y1, x2, y2) in image pixels, x2 ≥ x1 and y2 ≥ y1.</param>
    /// <param name="num_levels">number of FPN levels L (5 in mmdet: strides 4 … 64).</param>
    /// <param name="finest_scale">box scale of level 0's upper half (56 in mmdet).</param>
    /// <returns>int64 levels with the boxes' leading shape.</returns>
    public static Tensor defeat_box_levels(Tensor boxes, int num_levels, double finest_scale = 56)
    {
        const string fn = "defeat_box_levels";
        if (boxes.dim() < 1 || boxes.size(-1) != 4)
            throw new LossArgumentException(fn, nameof(boxes), $"boxes must be (..., 4) rows (x1, y1, x2, y2), got {Guard.Shape(boxes)}");
        if (num_levels < 1)
            throw new LossArgumentException(fn, nameof(num_levels), $"num_levels must be >= 1, got {num_levels}");
        Guard.Positive(fn, nameof(finest_scale), finest_scale);

        using var scope = torch.NewDisposeScope();
        var b = boxes.detach();
        if (!b.is_floating_point()) b = b.to(ScalarType.Float32);
        var w = b.select(-1, 2) - b.select(-1, 0) + 1;
        var h = b.select(-1, 3) - b.select(-1, 1) + 1;
        var level = ((w * h).sqrt() / finest_scale + 1e-6).log2().floor().clamp(0, num_levels - 1).to(ScalarType.Int64);
        return scope.MoveToOuter(level);
    }

    /// <summary>
    /// The object masks M_l of DeFeat's neck loss ('mask-neck-gt', <c>get_gt_mask</c>). Each GT box is
    /// assigned to one level by <see cref="defeat_box_levels"/>; on that level the cells
    /// [int(y1/s) : min(int(y2/s), H), int(x1/s) : min(int(x2/s), W)] are set to 1, and a box that is
    /// degenerate in cells (an empty row or column range) marks the single cell (ly, lx). On every other
    /// level the box counts as background.
    /// </summary>
    /// <param name="boxes">one (n_i, 4) tensor of GT boxes (x1, y1, x2, y2, image pixels) per image; n_i may be 0.</param>
    /// <param name="strides">the stride s_l of every FPN level (e.g. 4, 8, 16, 32, 64).</param>
    /// <param name="sizes">the (H_l, W_l) of every FPN level's feature map.</param>
    /// <returns>one float32 (N, H_l, W_l) 0/1 mask per level, on the boxes' device.</returns>
    /// <remarks>
    /// Cell bounds are truncated like Python's <c>int()</c>; lower bounds are clamped at 0, and the single
    /// cell of a degenerate box is clamped into the map (the released code would index past the map for
    /// a box starting on its last cell). A box whose cell range is empty but not degenerate (it lies
    /// outside the map) marks nothing, as in the released code.
    /// </remarks>
    public static Tensor[] defeat_gt_masks(IReadOnlyList<Tensor> boxes, IReadOnlyList<int> strides, IReadOnlyList<(long Height, long Width)> sizes) =>
        FpnBoxes.Paint("defeat_gt_masks", boxes, null, strides, sizes);

    /// <summary>
    /// DeFeat's decoupled neck-feature imitation, the released code's normalisation:
    /// per level E_l = (s_l − t_l)², Lobj_l = Σ M_l E_l / max(1, 2·C·Σ M_l) and
    /// Lbg_l = Σ (1 − M_l) E_l / max(1, 2·C·Σ (1 − M_l)) (sums over the whole batch, the mask
    /// broadcast over channels), L = α_obj·mean_l Lobj_l + α_bg·mean_l Lbg_l. A level without object
    /// cells contributes Lobj_l = 0. The teacher is detached.
    /// </summary>
    /// <param name="student">per FPN level, the student feature after its 3×3 adaptation conv, (N, C, H_l, W_l).</param>
    /// <param name="teacher">per FPN level, the teacher feature, same shape.</param>
    /// <param name="masks">per FPN level, the (N, H_l, W_l) 0/1 object mask (<see cref="defeat_gt_masks"/>).</param>
    /// <param name="alpha_obj">α_obj, the object weight (hint_neck_w: 3 in the VOC config, 4 on COCO).</param>
    /// <param name="alpha_bg">α_bg, the background weight (hint_neck_back_w: 12 in the VOC config, 16 on COCO).</param>
    [DistillLoss("defeat_feature",
        Source = "Guo et al. 2021, arXiv 2103.14475; ggjy/DeFeat.pytorch mmdet/apis/train.py (batch_processor_kd, 'neck-decouple')",
        Formula = "alpha_obj/L * sum_l sum(M_l (s_l-t_l)^2) / max(1, 2 C sum M_l) + alpha_bg/L * sum_l sum((1-M_l)(s_l-t_l)^2) / max(1, 2 C sum(1-M_l))",
        Convention = "released code: normalised by masked cells x channels pooled over the batch, per level, levels averaged; defaults from the VOC config (COCO: 4 / 16)")]
    public static Tensor defeat_feature(
        [Input(InputRole.Student, TensorKind.FeatureMap, Shape = "N,C,*,*")] IReadOnlyList<Tensor> student,
        [Input(InputRole.Teacher, TensorKind.FeatureMap, Shape = "N,C,*,*")] IReadOnlyList<Tensor> teacher,
        [Input(InputRole.Auxiliary, TensorKind.Mask, Shape = "N,*,*")] IReadOnlyList<Tensor> masks,
        [HyperParameter(Min = 0, Description = "alpha_obj, weight of the object part (hint_neck_w)")] double alpha_obj = 3.0,
        [HyperParameter(Min = 0, Description = "alpha_bg, weight of the background part (hint_neck_back_w)")] double alpha_bg = 12.0)
    {
        const string loss = "defeat_feature";
        FpnBoxes.CheckLevels(loss, student, teacher, masks, nameof(masks));
        Guard.NonNegative(loss, nameof(alpha_obj), alpha_obj);
        Guard.NonNegative(loss, nameof(alpha_bg), alpha_bg);

        using var scope = torch.NewDisposeScope();
        var parts = FpnBoxes.SumLevels(student, teacher, masks, binary: true);
        var levels = student.Count;
        var result = parts.select(0, 0) * (alpha_obj / levels) + parts.select(0, 1) * (alpha_bg / levels);
        return scope.MoveToOuter(result);
    }

    /// <summary>
    /// <see cref="defeat_feature"/> with its object masks made from the batch's ground-truth boxes
    /// (<see cref="defeat_gt_masks"/> on each level's feature size): the form an experiment writes, since the masks depend
    /// on the boxes and the levels only — <c>defeat: { loss: defeat_feature_gt, student: [a2, a3, a4, a5, a6],
    /// teacher: [teacher.p2, ..., teacher.p6] }</c> reads <c>batch.boxes</c> itself.
    /// </summary>
    /// <param name="student">per FPN level, the student feature after its adaptation conv, (N, C, H_l, W_l).</param>
    /// <param name="teacher">per FPN level, the teacher feature, same shape.</param>
    /// <param name="boxes">one (n_i, 4) tensor of ground-truth boxes (x1, y1, x2, y2, network-input pixels) per image.</param>
    /// <param name="strides">the stride of each level; default 4·2^l (P2, P3, ... of an FPN).</param>
    /// <param name="alpha_obj">α_obj (hint_neck_w: 3 in the VOC config, 4 on COCO).</param>
    /// <param name="alpha_bg">α_bg (hint_neck_back_w: 12 in the VOC config, 16 on COCO).</param>
    [DistillLoss("defeat_feature_gt",
        Source = "Guo et al. 2021, arXiv 2103.14475; ggjy/DeFeat.pytorch mmdet/apis/train.py (batch_processor_kd, 'neck-decouple', 'mask-neck-gt')",
        Formula = "defeat_feature(student, teacher, defeat_gt_masks(boxes, strides, level sizes), alpha_obj, alpha_bg)",
        Convention = "masks by mmdet's RoI level rule (finest scale 56) and DeFeat's cell rule; strides 4·2^l unless given")]
    public static Tensor defeat_feature_gt(
        [Input(InputRole.Student, TensorKind.FeatureMap, Shape = "N,C,*,*")] IReadOnlyList<Tensor> student,
        [Input(InputRole.Teacher, TensorKind.FeatureMap, Shape = "N,C,*,*")] IReadOnlyList<Tensor> teacher,
        [Input(InputRole.Target, TensorKind.Boxes, Shape = "N,*,4", BatchField = "boxes")] IReadOnlyList<Tensor> boxes,
        [HyperParameter(Min = 1, Description = "the stride of each level (default 4, 8, 16, ...: P2, P3, ...)")] int[]? strides = null,
        [HyperParameter(Min = 0, Description = "alpha_obj, weight of the object part (hint_neck_w)")] double alpha_obj = 3.0,
        [HyperParameter(Min = 0, Description = "alpha_bg, weight of the background part (hint_neck_back_w)")] double alpha_bg = 12.0)
    {
        const string loss = "defeat_feature_gt";
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(boxes);
        if (student.Count == 0) throw new LossArgumentException(loss, nameof(student), "student has no FPN level");
        strides ??= Enumerable.Range(0, student.Count).Select(l => 4 << l).ToArray();
        if (strides.Length != student.Count)
            throw new LossArgumentException(loss, nameof(strides), $"strides has {strides.Length} entries but student has {student.Count} FPN levels");
        if (boxes.Count != student[0].size(0))
            throw new LossArgumentException(loss, nameof(boxes), $"boxes has {boxes.Count} images but the features have a batch of {student[0].size(0)}");
        using var scope = torch.NewDisposeScope();
        var masks = defeat_gt_masks(boxes, strides, student.Select(s => (s.size(-2), s.size(-1))).ToArray());
        return scope.MoveToOuter(defeat_feature(student, teacher, masks, alpha_obj, alpha_bg));
    }

    /// <summary>
    /// DeFeat's decoupled RoI classification KD ('head-cls' 'KL-decouple'): with
    /// KL_r(T) = Σ_c softmax(t_r/T)_c (log softmax(t_r/T)_c − log softmax(s_r/T)_c),
    /// Lobj = T_obj²·Σ_{r∈pos} KL_r(T_obj) / |pos| and Lbg = T_bg²·Σ_{r∈neg} KL_r(T_bg) / |neg|
    /// (an empty group contributes 0), L = β_obj·Lobj + β_bg·Lbg. The teacher is detached.
    /// </summary>
    /// <param name="student">student RoI-head logits on the teacher's sampled proposals, (R, K+1), background included.</param>
    /// <param name="teacher">teacher RoI-head logits on the same proposals, (R, K+1).</param>
    /// <param name="positive">(R) mask of the positive proposals (label &lt; background index); bool or 0/1 numbers.</param>
    /// <param name="temperature_obj">T_obj (head_cls_T; the released code uses one temperature for both groups).</param>
    /// <param name="temperature_bg">T_bg (the code's head_cls_back_T is unused: set it equal to T_obj to reproduce the code).</param>
    /// <param name="beta_obj">β_obj (head_cls_w).</param>
    /// <param name="beta_bg">β_bg (head_cls_back_w).</param>
    [DistillLoss("defeat_cls",
        Source = "Guo et al. 2021, arXiv 2103.14475; ggjy/DeFeat.pytorch mmdet/apis/train.py (KLDivergenceLoss, 'KL-decouple')",
        Formula = "beta_obj * T_obj^2 * sum_{r in pos} KL_r(T_obj) / |pos| + beta_bg * T_bg^2 * sum_{r in neg} KL_r(T_bg) / |neg|, KL_r(T) = sum_c p_t (log p_t - log p_s), p = softmax(z/T); empty group = 0",
        Convention = "released code: one temperature for both groups (T_obj = T_bg = 1), beta 2 / 2; separate T_bg is the paper's variant")]
    public static Tensor defeat_cls(
        [Input(InputRole.Student, TensorKind.Logits, Shape = "R,K")] Tensor student,
        [Input(InputRole.Teacher, TensorKind.Logits, Shape = "R,K")] Tensor teacher,
        [Input(InputRole.Auxiliary, TensorKind.Mask, Shape = "R")] Tensor positive,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "T_obj, temperature of the positive proposals (head_cls_T)")] double temperature_obj = 1.0,
        [HyperParameter(Min = 0, MinExclusive = true, Description = "T_bg, temperature of the negative proposals")] double temperature_bg = 1.0,
        [HyperParameter(Min = 0, Description = "beta_obj, weight of the positive part (head_cls_w)")] double beta_obj = 2.0,
        [HyperParameter(Min = 0, Description = "beta_bg, weight of the negative part (head_cls_back_w)")] double beta_bg = 2.0)
    {
        const string loss = "defeat_cls";
        Guard.Rank(loss, nameof(student), student, 2, "R, K+1");
        Guard.SameShape(loss, nameof(student), student, nameof(teacher), teacher);
        Guard.NonEmpty(loss, nameof(student), student);
        if (positive.dim() != 1 || positive.size(0) != student.size(0))
            throw new LossArgumentException(loss, nameof(positive),
                $"positive must have shape [R] = [{student.size(0)}] (one flag per row of student {Guard.Shape(student)}), got {Guard.Shape(positive)}");
        Guard.Positive(loss, nameof(temperature_obj), temperature_obj);
        Guard.Positive(loss, nameof(temperature_bg), temperature_bg);
        Guard.NonNegative(loss, nameof(beta_obj), beta_obj);
        Guard.NonNegative(loss, nameof(beta_bg), beta_bg);

        using var scope = torch.NewDisposeScope();
        var t = teacher.detach();
        var pos = (positive.dtype == ScalarType.Bool ? positive : positive.ne(0)).to(student.dtype);
        var neg = 1 - pos;
        var klObj = KlRows(student, t, temperature_obj);
        var klBg = temperature_bg == temperature_obj ? klObj : KlRows(student, t, temperature_bg);
        // Sum over the group / max(1, |group|): an empty group gives exactly 0 with a zero gradient.
        var lObj = klObj.dot(pos) / pos.sum().clamp_min(1);
        var lBg = klBg.dot(neg) / neg.sum().clamp_min(1);
        var result = lObj * (beta_obj * temperature_obj * temperature_obj) + lBg * (beta_bg * temperature_bg * temperature_bg);
        return scope.MoveToOuter(result);
    }

    /// <summary>KL(softmax(t/T) ‖ softmax(s/T)) per row, from log-softmax (no epsilon).</summary>
    internal static Tensor KlRows(Tensor student, Tensor teacher, double temperature)
    {
        var logPs = log_softmax(temperature == 1 ? student : student / temperature, 1);
        var logPt = log_softmax(temperature == 1 ? teacher : teacher / temperature, 1);
        return (logPt.exp() * (logPt - logPs)).sum(1);
    }
}

/// <summary>
/// FPN box helpers shared by DeFeat and Global Knowledge: the level-list checks, the per-level masked
/// sums, and the box → cell painting of the masks.
/// </summary>
internal static class FpnBoxes
{
    /// <summary>
    /// Student/teacher/mask level lists: same number of levels, each level (N, C, H, W) with the same
    /// shape for student and teacher and the same N on every level, masks (N, H, W) (not checked when null).
    /// </summary>
    public static void CheckLevels(string loss, IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<Tensor>? masks, string masksName)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        if (student.Count == 0)
            throw new LossArgumentException(loss, nameof(student), "student has no FPN level (an empty list)");
        if (teacher.Count != student.Count)
            throw new LossArgumentException(loss, nameof(teacher), $"student has {student.Count} FPN levels but teacher has {teacher.Count}");
        if (masks is not null && masks.Count != student.Count)
            throw new LossArgumentException(loss, masksName, $"student has {student.Count} FPN levels but {masksName} has {masks.Count}");
        for (var l = 0; l < student.Count; l++)
        {
            var s = student[l];
            Guard.Rank(loss, $"student[{l}]", s, 4, "N, C, H, W");
            Guard.SameShape(loss, $"student[{l}]", s, $"teacher[{l}]", teacher[l]);
            Guard.NonEmpty(loss, $"student[{l}]", s);
            if (s.size(0) != student[0].size(0))
                throw new LossArgumentException(loss, nameof(student),
                    $"student[{l}] {Guard.Shape(s)} and student[0] {Guard.Shape(student[0])} must have the same batch size");
            if (masks is null) continue;
            var m = masks[l];
            if (m.dim() != 3 || m.size(0) != s.size(0) || m.size(1) != s.size(2) || m.size(2) != s.size(3))
                throw new LossArgumentException(loss, masksName,
                    $"{masksName}[{l}] must have shape [N, H, W] = [{s.size(0)}, {s.size(2)}, {s.size(3)}] of student[{l}] {Guard.Shape(s)}, got {Guard.Shape(m)}");
        }
    }

    /// <summary>
    /// Σ_l of the two normalised masked sums of every level, as a (2) tensor: with E = Σ_c (s − t)² and
    /// the level's mask W broadcast over the C channels,
    /// [Σ E·W / max(1, 2·C·Σ W), Σ E·G / max(1, 2·C·Σ G)], where G = 1 − W (binary masks, DeFeat) or
    /// G = 1[W ≤ 0] (weight masks, Global Knowledge). The channel sum first and one matrix-vector
    /// product per level keep it to a few large ops.
    /// </summary>
    public static Tensor SumLevels(IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<Tensor> masks, bool binary)
    {
        Tensor? total = null;
        for (var l = 0; l < student.Count; l++)
        {
            var s = student[l];
            var d = s - teacher[l].detach();
            Tensor e;
            // the (N, C, H, W) square is not saved for the backward (d is): freed at once
            using (var squared = d * d) e = squared.sum(1).reshape(-1);
            var w = masks[l].detach().to(e.dtype).reshape(1, -1);
            var g = binary ? 1 - w : w.le(0).to(e.dtype);
            var select = torch.cat([w, g], 0);
            var part = select.mv(e) / (select.sum(1) * (2.0 * s.size(1))).clamp_min(1);
            total = total is null ? part : total + part;
        }
        return total!;
    }

    /// <summary>
    /// Paints per-level masks from per-image boxes: 1 (weights null) or the box's weight on its level's
    /// cells. The level and the truncated cell bounds are computed with tensor ops in the boxes' dtype
    /// (bit-for-bit the released code's arithmetic) and copied to the host once; the rectangles are
    /// then filled on the host, a data-dependent loop as in the released code.
    /// </summary>
    public static Tensor[] Paint(string fn, IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor>? weights, IReadOnlyList<int> strides, IReadOnlyList<(long Height, long Width)> sizes)
    {
        if (boxes.Count == 0)
            throw new LossArgumentException(fn, nameof(boxes), "boxes is an empty batch (no image)");
        if (strides.Count == 0)
            throw new LossArgumentException(fn, nameof(strides), "strides has no FPN level (an empty list)");
        if (sizes.Count != strides.Count)
            throw new LossArgumentException(fn, nameof(sizes), $"strides has {strides.Count} FPN levels but sizes has {sizes.Count}");
        for (var l = 0; l < strides.Count; l++)
        {
            if (strides[l] <= 0)
                throw new LossArgumentException(fn, nameof(strides), $"strides[{l}] must be > 0, got {strides[l]}");
            if (sizes[l].Height <= 0 || sizes[l].Width <= 0)
                throw new LossArgumentException(fn, nameof(sizes), $"sizes[{l}] must be positive, got ({sizes[l].Height}, {sizes[l].Width})");
        }
        if (weights is not null && weights.Count != boxes.Count)
            throw new LossArgumentException(fn, nameof(weights), $"boxes has {boxes.Count} images but weights has {weights.Count}");
        var counts = new long[boxes.Count];
        for (var n = 0; n < boxes.Count; n++)
        {
            var b = boxes[n];
            if (b.dim() != 2 || b.size(1) != 4)
                throw new LossArgumentException(fn, nameof(boxes), $"boxes[{n}] must be (n, 4) rows (x1, y1, x2, y2), got {Guard.Shape(b)}");
            counts[n] = b.size(0);
            if (weights is not null && (weights[n].dim() != 1 || weights[n].size(0) != counts[n]))
                throw new LossArgumentException(fn, nameof(weights),
                    $"weights[{n}] must have shape [{counts[n]}] (one weight per box of boxes[{n}] {Guard.Shape(b)}), got {Guard.Shape(weights[n])}");
        }

        var levels = strides.Count;
        var batch = boxes.Count;
        var planes = new float[levels][];
        for (var l = 0; l < levels; l++) planes[l] = new float[batch * sizes[l].Height * sizes[l].Width];

        var total = counts.Sum();
        if (total > 0)
        {
            long[] level, cells;
            float[]? values = null;
            using (var scope = torch.NewDisposeScope())
            {
                var all = torch.cat(boxes.Select(b => b.detach()).ToArray(), 0);
                if (!all.is_floating_point()) all = all.to(ScalarType.Float32);
                var lvl = DeFeat.defeat_box_levels(all, levels);
                var strideOf = torch.tensor(strides.Select(s => (double)s).ToArray()).to(all.dtype, all.device).index_select(0, lvl);
                // int(x / s): the division in the boxes' dtype, then truncation toward zero.
                cells = (all / strideOf.unsqueeze(1)).to(ScalarType.Int64).ToArray<long>();
                level = lvl.ToArray<long>();
                if (weights is not null)
                    values = torch.cat(weights.Select(w => w.detach().to(ScalarType.Float32, all.device)).ToArray(), 0).ToArray<float>();
            }

            var i = 0;
            for (var n = 0; n < batch; n++)
            {
                for (var k = 0; k < counts[n]; k++, i++)
                {
                    var l = (int)level[i];
                    var (h, w) = sizes[l];
                    var plane = planes[l];
                    var offset = n * h * w;
                    var lx = Math.Max(cells[4 * i], 0);
                    var ly = Math.Max(cells[4 * i + 1], 0);
                    var rx = Math.Max(Math.Min(cells[4 * i + 2], w), 0);
                    var ry = Math.Max(Math.Min(cells[4 * i + 3], h), 0);
                    var v = values is null ? 1f : values[i];
                    if (lx == rx || ly == ry)
                    {
                        // Degenerate in cells: the single cell (ly, lx), kept inside the map. Weight masks keep
                        // the larger value there, as the released Global Knowledge code does.
                        var at = offset + Math.Min(ly, h - 1) * w + Math.Min(lx, w - 1);
                        plane[at] = values is null ? 1f : Math.Max(plane[at], v);
                        continue;
                    }
                    for (var y = ly; y < ry; y++)
                        Array.Fill(plane, v, (int)(offset + y * w + lx), (int)Math.Max(rx - lx, 0));
                }
            }
        }

        var device = boxes[0].device;
        var masks = new Tensor[levels];
        for (var l = 0; l < levels; l++)
        {
            var cpu = torch.tensor(planes[l], new[] { (long)batch, sizes[l].Height, sizes[l].Width });
            if (device.Type == DeviceType.CPU) masks[l] = cpu;
            else
            {
                masks[l] = cpu.to(device);
                cpu.Dispose();
            }
        }
        return masks;
    }
}
