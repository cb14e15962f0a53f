using Distill.Detection.Backbones;
using Distill.Detection.Boxes;
using Distill.Detection.Retina;

namespace Distill.Detection;

/// <summary>
/// torchvision 0.14's RetinaNet (<c>retinanet_resnet50_fpn</c>: FPN over stages 2–4 with <c>LastLevelP6P7</c> → P3–P7, 9
/// anchors per location, <c>head.classification_head</c> / <c>head.regression_head</c>) with torchvision's names. The
/// classifier has classes + 1 columns like torchvision's (<c>num_classes</c> counts the background column 0, which is never a
/// target); detections drop column 0 after the per-level top-k. Losses: sigmoid focal loss over the anchors not between the
/// thresholds (α, γ), divided by the image's foreground count, averaged over images; L1 on the encoded foreground deltas
/// (torchvision 0.14's default), likewise. Boxes and taps as for <see cref="FasterRcnn"/>.
/// </summary>
[DistillModel(Task = "detection", Input = "N,3,H,W")]
[Tap("stage1", TensorKind.FeatureMap, "N, *, (H+3)/4, (W+3)/4")]
[Tap("stage2", TensorKind.FeatureMap, "N, *, (H+7)/8, (W+7)/8")]
[Tap("stage3", TensorKind.FeatureMap, "N, *, (H+15)/16, (W+15)/16")]
[Tap("stage4", TensorKind.FeatureMap, "N, *, (H+31)/32, (W+31)/32")]
[Tap("p3", TensorKind.FeatureMap, "N, fpn_channels, (H+7)/8, (W+7)/8")]
[Tap("p4", TensorKind.FeatureMap, "N, fpn_channels, (H+15)/16, (W+15)/16")]
[Tap("p5", TensorKind.FeatureMap, "N, fpn_channels, (H+31)/32, (W+31)/32")]
[Tap("p6", TensorKind.FeatureMap, "N, fpn_channels, (H+63)/64, (W+63)/64")]
[Tap("p7", TensorKind.FeatureMap, "N, fpn_channels, (H+127)/128, (W+127)/128")]
[Tap("cls_logits", TensorKind.Logits, "N, *, classes+1", Description = "per anchor (levels concatenated, torchvision's order), column 0 unused background")]
[Tap("bbox_regression", TensorKind.Any, "N, *, 4", Description = "box deltas per anchor")]
[Tap("loss_classification", TensorKind.Any, "", Description = "focal loss (needs ground truth)", Needs = "boxes,labels")]
[Tap("loss_bbox_regression", TensorKind.Any, "", Description = "L1 box loss (needs ground truth)", Needs = "boxes,labels")]
public sealed partial class RetinaNet : DetectionModel<RetinaNet.Taps, RetinaNet.Outputs>
{
    private readonly GeneralizedRcnnTransform transform;
    private readonly BackboneWithFpn backbone;
    private readonly AnchorGenerator anchor_generator;
    private readonly RetinaNetHead head;

    /// <param name="anchor_sizes">One base size per level P3..P7 (5 values); each level gets base·2^(k/scales_per_octave), k &lt; scales_per_octave (truncated to integers as torchvision).</param>
    public RetinaNet(int classes, string backbone = "small", int width = 32, int trainable_layers = 3, int fpn_channels = 256,
        int[]? anchor_sizes = null, int scales_per_octave = 3, double[]? aspect_ratios = null,
        int min_size = 800, int max_size = 1333, double[]? image_mean = null, double[]? image_std = null, int size_divisible = 32,
        double score_thresh = 0.05, double nms_thresh = 0.5, int detections_per_img = 300, double fg_iou_thresh = 0.5, double bg_iou_thresh = 0.4,
        int topk_candidates = 1000, double focal_alpha = 0.25, double focal_gamma = 2.0)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "at least one foreground class (labels are 1..classes)");
        ArgumentNullException.ThrowIfNull(backbone);
        Module body = ResNetBody.DepthOf(backbone) is { } depth ? new ResNetBody(depth, trainable_layers)
            : backbone == "small" ? new SmallBackbone(width)
            : throw FasterRcnn.UnknownBackbone(backbone);
        anchor_sizes ??= [32, 64, 128, 256, 512];
        aspect_ratios ??= [0.5, 1.0, 2.0];
        if (anchor_sizes.Length != 5) throw new ArgumentException($"anchor_sizes needs one base size per level P3..P7 (5 values), got {anchor_sizes.Length}", nameof(anchor_sizes));
        if (scales_per_octave < 1) throw new ArgumentOutOfRangeException(nameof(scales_per_octave), scales_per_octave, "must be positive");
        if (topk_candidates < 1) throw new ArgumentOutOfRangeException(nameof(topk_candidates), topk_candidates, "must be positive");
        if (detections_per_img < 1) throw new ArgumentOutOfRangeException(nameof(detections_per_img), detections_per_img, "must be positive");
        Classes = classes;
        this.fpn_channels = fpn_channels;
        this.score_thresh = score_thresh;
        this.nms_thresh = nms_thresh;
        this.detections_per_img = detections_per_img;
        this.topk_candidates = topk_candidates;
        this.focal_alpha = focal_alpha;
        this.focal_gamma = focal_gamma;
        transform = new GeneralizedRcnnTransform(min_size, max_size, image_mean ?? [0.485, 0.456, 0.406], image_std ?? [0.229, 0.224, 0.225], size_divisible);
        this.backbone = new BackboneWithFpn(body, fpn_channels, new LastLevelP6P7(fpn_channels, fpn_channels), [2, 3, 4]);
        var sizes = anchor_sizes.Select(x => Enumerable.Range(0, scales_per_octave).Select(k => (double)(int)(x * Math.Pow(2, k / (double)scales_per_octave))).ToArray()).ToArray();
        anchor_generator = new AnchorGenerator(sizes, Enumerable.Repeat(aspect_ratios, 5).ToArray());
        head = new RetinaNetHead(fpn_channels, anchor_generator.num_anchors_per_location()[0], classes + 1);
        proposal_matcher = new Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches: true);
        box_coder = new BoxCoder((1.0, 1.0, 1.0, 1.0));
        RegisterComponents();
    }

    /// <summary>torchvision's <c>retinanet_resnet50_fpn</c> configuration (COCO: 90 foreground classes) without weights.</summary>
    public static RetinaNet retinanet_resnet50_fpn(int classes = 90, int trainable_layers = 3, int min_size = 800, int max_size = 1333,
        double score_thresh = 0.05, int detections_per_img = 300) =>
        new(classes, "resnet50", trainable_layers: trainable_layers, min_size: min_size, max_size: max_size, score_thresh: score_thresh,
            detections_per_img: detections_per_img);

    public override int Classes { get; }
    public int fpn_channels { get; }
    public double score_thresh { get; }
    public double nms_thresh { get; }
    public int detections_per_img { get; }
    public int topk_candidates { get; }
    public double focal_alpha { get; }
    public double focal_gamma { get; }
    public Matcher proposal_matcher { get; }
    public BoxCoder box_coder { get; }

    private const Taps HeadTaps = Taps.ClsLogits | Taps.BboxRegression | Taps.LossClassification | Taps.LossBboxRegression;
    private const Taps TargetTaps = Taps.LossClassification | Taps.LossBboxRegression;

    protected override List<Detections>? Run(Tensor images, Outputs outputs, IReadOnlyList<Tensor>? boxes, IReadOnlyList<Tensor>? labels, bool wantDetections)
    {
        var requested = outputs.Requested;
        if (boxes is null && (requested & TargetTaps) != 0)
            throw new ArgumentException($"the taps {requested & TargetTaps} need the ground truth: pass boxes and labels to forward_taps", nameof(boxes));
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"images must be [N, 3, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        var n = images.shape[0];
        Tensor[]? gtBoxes = null, gtLabels = null;
        if (boxes is not null)
            (gtBoxes, gtLabels) = Targets.prepare(boxes, labels!, n, (images.shape[2], images.shape[3]), Classes, images.device);
        var (batch, scaled) = transform.forward(images, gtBoxes);
        SetContext(outputs, batch.image_sizes);
        var (stages, levels) = backbone.forward(batch.tensors);
        Taps[] stageTaps = [Taps.Stage1, Taps.Stage2, Taps.Stage3, Taps.Stage4];
        Taps[] levelTaps = [Taps.P3, Taps.P4, Taps.P5, Taps.P6, Taps.P7];
        for (var i = 0; i < 4; i++) Keep(outputs, stageTaps[i], stages[i]);
        for (var i = 0; i < 5; i++) Keep(outputs, levelTaps[i], levels[i]);
        if (!wantDetections && (requested & HeadTaps) == 0) return null;

        var cls = head.ClassificationHead.forward(levels);
        var reg = head.RegressionHead.forward(levels);
        Keep(outputs, Taps.ClsLogits, cls);
        Keep(outputs, Taps.BboxRegression, reg);
        var grid = levels.Select(f => (f.shape[2], f.shape[3])).ToList();
        var anchors = anchor_generator.call(grid, batch.padded_size, levels[0].dtype, levels[0].device);
        if (scaled is not null && (requested & TargetTaps) != 0)
        {
            var (lc, lb) = compute_loss(cls, reg, anchors, scaled, gtLabels!);
            Keep(outputs, Taps.LossClassification, lc);
            Keep(outputs, Taps.LossBboxRegression, lb);
        }
        if (!wantDetections) return null;
        var perLevel = grid.Select(g => g.Item1 * g.Item2 * anchor_generator.num_anchors_per_location()[0]).ToArray();
        var result = new List<Detections>();
        for (var i = 0; i < n; i++)
        {
            var (b, s, l) = postprocess_image(cls.select(0, i), reg.select(0, i), anchors, perLevel, batch.image_sizes[i]);
            result.Add(new Detections(GeneralizedRcnnTransform.postprocess(b, batch.image_sizes[i], batch.original_size), s, l));
        }
        return result;
    }

    /// <summary>torchvision's <c>compute_loss</c>: (focal classification loss, L1 box loss), each averaged over images.</summary>
    public (Tensor classification, Tensor bbox_regression) compute_loss(Tensor cls_logits, Tensor bbox_regression, Tensor anchors,
        IReadOnlyList<Tensor> gt_boxes, IReadOnlyList<Tensor> gt_labels)
    {
        using var scope = torch.NewDisposeScope();
        var clsLosses = new List<Tensor>();
        var boxLosses = new List<Tensor>();
        for (var i = 0; i < gt_boxes.Count; i++)
        {
            var matched = gt_boxes[i].numel() == 0
                ? torch.full([anchors.shape[0]], -1L, ScalarType.Int64, anchors.device)
                : proposal_matcher.call(torch.ops.box_iou(gt_boxes[i], anchors));
            var logits = cls_logits.select(0, i);
            var fgMask = matched.ge(0);
            var fg = torch.where(fgMask)[0];
            var numFg = fg.numel();
            var target = torch.zeros_like(logits);
            if (numFg > 0) target.index_put_([fg, gt_labels[i].index(matched.index(fg))], torch.ones([numFg], target.dtype, target.device));
            var valid = torch.where(matched.ne(Matcher.BETWEEN_THRESHOLDS))[0];
            clsLosses.Add(torch.ops.sigmoid_focal_loss(logits.index(valid), target.index(valid), focal_alpha, focal_gamma, "sum") / Math.Max(1, numFg));
            var gtFg = numFg > 0 ? gt_boxes[i].index(matched.index(fg)) : torch.zeros([0, 4], anchors.dtype, anchors.device);
            var targets = box_coder.encode_single(gtFg, anchors.index(fg));
            boxLosses.Add(torch.nn.functional.l1_loss(bbox_regression.select(0, i).index(fg), targets, reduction: "sum") / Math.Max(1, numFg));
        }
        var c = clsLosses.Skip(1).Aggregate(clsLosses[0], (a, b) => a + b) / gt_boxes.Count;
        var r = boxLosses.Skip(1).Aggregate(boxLosses[0], (a, b) => a + b) / Math.Max(1, gt_boxes.Count);
        return (scope.MoveToOuter(c), scope.MoveToOuter(r));
    }

    private (Tensor boxes, Tensor scores, Tensor labels) postprocess_image(Tensor cls, Tensor reg, Tensor anchors, long[] perLevel, (long h, long w) size)
    {
        using var scope = torch.NewDisposeScope();
        var numClasses = cls.shape[^1];
        var boxes = new List<Tensor>();
        var scores = new List<Tensor>();
        var labels = new List<Tensor>();
        var clsLevels = cls.split(perLevel, 0);
        var regLevels = reg.split(perLevel, 0);
        var anchorLevels = anchors.split(perLevel, 0);
        for (var k = 0; k < perLevel.Length; k++)
        {
            var s = clsLevels[k].sigmoid().flatten();
            var keepMask = s.gt(score_thresh);
            s = s.index(torch.where(keepMask)[0]);
            var topIdx = torch.where(keepMask)[0];
            var (top, idx) = s.topk(Math.Min(topk_candidates, topIdx.shape[0]));
            topIdx = topIdx.index(idx);
            var anchorIdx = topIdx.div(numClasses, rounding_mode: "floor");
            var lab = topIdx.remainder(numClasses);
            // Column 0 is torchvision's unused background class: drop its candidates (after the top-k, so the rest is torchvision's).
            var fg = torch.where(lab.ne(0))[0];
            (anchorIdx, lab, top) = (anchorIdx.index(fg), lab.index(fg), top.index(fg));
            var b = box_coder.decode_single(regLevels[k].index(anchorIdx), anchorLevels[k].index(anchorIdx));
            boxes.Add(torch.ops.clip_boxes_to_image(b, size));
            scores.Add(top);
            labels.Add(lab);
        }
        var allBoxes = torch.cat(boxes, 0);
        var allScores = torch.cat(scores, 0);
        var allLabels = torch.cat(labels, 0);
        var keep = torch.ops.batched_nms(allBoxes, allScores, allLabels, nms_thresh);
        keep = keep.narrow(0, 0, Math.Min(detections_per_img, keep.shape[0]));
        return (scope.MoveToOuter(allBoxes.index(keep)), scope.MoveToOuter(allScores.index(keep)), scope.MoveToOuter(allLabels.index(keep)));
    }
}
