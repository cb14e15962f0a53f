using Distill.Detection.Backbones;
using Distill.Detection.RoiHeads;
using Distill.Detection.Rpn;

namespace Distill.Detection;

/// <summary>
/// torchvision 0.14's Faster R-CNN with FPN (<c>torchvision.models.detection.FasterRCNN</c> over
/// <c>resnet_fpn_backbone</c>) with torchvision's module names, so a torchvision state_dict loads strictly:
/// <c>backbone.body</c> (ResNet with frozen batch norm, or the small GroupNorm body), <c>backbone.fpn</c> (P2–P5 plus
/// P6 by max pooling), <c>rpn.head</c>, <c>roi_heads.box_head</c> (fc6, fc7), <c>roi_heads.box_predictor</c> (cls_score,
/// bbox_pred). <c>classes</c> counts foreground classes; the predictor has classes + 1 outputs (torchvision's
/// <c>num_classes</c>, which counts the background as class 0). See docs/detection.md for the parameters and taps.
/// <para>
/// Box taps are in network-input pixels (after resizing, before padding); H and W in the tap shapes are the padded batch
/// size (a multiple of size_divisible). <c>sampled_rois</c> are the RoIs the box head ran on: the sampled training RoIs
/// when ground truth is given, all proposals otherwise; the roi_* taps follow them.
/// </para>
/// </summary>
[DistillModel(Task = "detection", Input = "N,3,H,W")]
[Tap("stage1", TensorKind.FeatureMap, "N, *, (H+3)/4, (W+3)/4", Description = "backbone stage 1 (C2), stride 4")]
[Tap("stage2", TensorKind.FeatureMap, "N, *, (H+7)/8, (W+7)/8", Description = "backbone stage 2 (C3), stride 8")]
[Tap("stage3", TensorKind.FeatureMap, "N, *, (H+15)/16, (W+15)/16", Description = "backbone stage 3 (C4), stride 16")]
[Tap("stage4", TensorKind.FeatureMap, "N, *, (H+31)/32, (W+31)/32", Description = "backbone stage 4 (C5), stride 32")]
[Tap("p2", TensorKind.FeatureMap, "N, fpn_channels, (H+3)/4, (W+3)/4")]
[Tap("p3", TensorKind.FeatureMap, "N, fpn_channels, (H+7)/8, (W+7)/8")]
[Tap("p4", TensorKind.FeatureMap, "N, fpn_channels, (H+15)/16, (W+15)/16")]
[Tap("p5", TensorKind.FeatureMap, "N, fpn_channels, (H+31)/32, (W+31)/32")]
[Tap("p6", TensorKind.FeatureMap, "N, fpn_channels, (H+63)/64, (W+63)/64")]
[Tap("rpn_logits", TensorKind.Any, "N, *", Description = "objectness logits of every anchor, levels concatenated (torchvision's order)")]
[Tap("rpn_deltas", TensorKind.Any, "N, *, 4", Description = "box deltas of every anchor")]
[Tap("proposals", TensorKind.Boxes, "P, 5", Description = "RPN proposals: rows (batch index, x1, y1, x2, y2)")]
[Tap("sampled_rois", TensorKind.Boxes, "R, 5", Description = "the RoIs the box head ran on, sampled with the ground truth: rows (batch index, x1, y1, x2, y2)", Needs = "boxes,labels")]
[Tap("roi_labels", TensorKind.Labels, "R", Description = "class of each sampled RoI, 0 = background (needs ground truth)", Needs = "boxes,labels", Rois = "sampled_rois")]
[Tap("roi_positive", TensorKind.Mask, "R", Description = "1 where a sampled RoI matched an object (roi_labels > 0), else 0", Needs = "boxes,labels", Rois = "sampled_rois")]
[Tap("roi_matched_boxes", TensorKind.Boxes, "R, 4", Description = "the ground-truth box matched to each sampled RoI (needs ground truth)", Needs = "boxes,labels", Rois = "sampled_rois")]
[Tap("roi_targets", TensorKind.Any, "R, 4", Description = "encoded regression targets (weights 10, 10, 5, 5; needs ground truth)", Needs = "boxes,labels", Rois = "sampled_rois")]
[Tap("roi_features", TensorKind.FeatureMap, "R, fpn_channels, roi_output_size, roi_output_size", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_embedding", TensorKind.Embedding, "R, representation_size", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_logits", TensorKind.Logits, "R, classes+1", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_deltas", TensorKind.Any, "R, (classes+1)*4", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("loss_objectness", TensorKind.Any, "", Description = "RPN objectness loss (needs ground truth)", Needs = "boxes,labels")]
[Tap("loss_rpn_box_reg", TensorKind.Any, "", Description = "RPN box loss (needs ground truth)", Needs = "boxes,labels")]
[Tap("loss_classifier", TensorKind.Any, "", Description = "box-head classification loss (needs ground truth)", Needs = "boxes,labels")]
[Tap("loss_box_reg", TensorKind.Any, "", Description = "box-head regression loss (needs ground truth)", Needs = "boxes,labels")]
public sealed partial class FasterRcnn : TwoStageDetector<FasterRcnn.Taps, FasterRcnn.Outputs>
{
    /// <summary>The backbone names the constructor accepts.</summary>
    public static readonly IReadOnlyList<string> Backbones = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "small"];

    /// <summary>The error of a backbone name none of the detectors knows, listing <see cref="Backbones"/>.</summary>
    internal static ArgumentException UnknownBackbone(string backbone) =>
        new($"unknown backbone '{backbone}': valid backbones are {string.Join(", ", Backbones)}", nameof(backbone));

    private readonly GeneralizedRcnnTransform transform;
    private readonly BackboneWithFpn backbone;
    private readonly RegionProposalNetwork rpn;
    private readonly RoIHeads roi_heads;

    /// <param name="classes">Foreground classes; labels are 1..classes and the predictor has classes + 1 outputs.</param>
    /// <param name="backbone">"resnet18", "resnet34", "resnet50" (torchvision ResNet, frozen batch norm) or "small" (GroupNorm, <paramref name="width"/>).</param>
    /// <param name="width">Stage-1 channels of the small backbone (stage k: width·2^(k−1)); unused by the ResNets.</param>
    /// <param name="trainable_layers">ResNets: how many of layer4, layer3, layer2, layer1, conv1 train (0..5); unused by "small".</param>
    /// <param name="fpn_channels">Channels of every pyramid level.</param>
    /// <param name="anchor_sizes">One anchor size per pyramid level P2..P6 (5 values).</param>
    /// <param name="aspect_ratios">Anchor aspect ratios (height / width), the same on every level.</param>
    /// <param name="min_size">Resize so the shorter side is min_size (unless the longer would exceed max_size); ≤ 0: no resizing.</param>
    public FasterRcnn(int classes, string backbone = "small", int width = 32, int trainable_layers = 3, int fpn_channels = 256,
        int[]? anchor_sizes = null, double[]? aspect_ratios = null,
        int min_size = 800, int max_size = 1333, double[]? image_mean = null, double[]? image_std = null, int size_divisible = 32,
        int rpn_pre_nms_top_n_train = 2000, int rpn_pre_nms_top_n_test = 1000, int rpn_post_nms_top_n_train = 2000, int rpn_post_nms_top_n_test = 1000,
        double rpn_nms_thresh = 0.7, double rpn_fg_iou_thresh = 0.7, double rpn_bg_iou_thresh = 0.3, int rpn_batch_size_per_image = 256,
        double rpn_positive_fraction = 0.5, double rpn_score_thresh = 0.0,
        int roi_output_size = 7, int sampling_ratio = 2, double canonical_scale = 224, int canonical_level = 4, int representation_size = 1024,
        double box_score_thresh = 0.05, double box_nms_thresh = 0.5, int box_detections_per_img = 100,
        double box_fg_iou_thresh = 0.5, double box_bg_iou_thresh = 0.5, int box_batch_size_per_image = 512, double box_positive_fraction = 0.25,
        double[]? bbox_reg_weights = null)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "at least one foreground class (labels are 1..classes; 0 is the background)");
        ArgumentNullException.ThrowIfNull(backbone);
        Module body = ResNetBody.DepthOf(backbone) is { } depth ? new ResNetBody(depth, trainable_layers)
            : backbone == "small" ? new SmallBackbone(width)
            : throw UnknownBackbone(backbone);
        if (fpn_channels < 1) throw new ArgumentOutOfRangeException(nameof(fpn_channels), fpn_channels, "must be positive");
        anchor_sizes ??= [32, 64, 128, 256, 512];
        aspect_ratios ??= [0.5, 1.0, 2.0];
        if (anchor_sizes.Length != 5)
            throw new ArgumentException($"anchor_sizes needs one size per pyramid level P2..P6 (5 values), got {anchor_sizes.Length}", nameof(anchor_sizes));
        if (bbox_reg_weights is not null && bbox_reg_weights.Length != 4)
            throw new ArgumentException("bbox_reg_weights needs 4 values (wx, wy, ww, wh)", nameof(bbox_reg_weights));
        CheckFraction(rpn_positive_fraction, nameof(rpn_positive_fraction));
        CheckFraction(box_positive_fraction, nameof(box_positive_fraction));
        CheckFraction(rpn_nms_thresh, nameof(rpn_nms_thresh));
        CheckFraction(box_nms_thresh, nameof(box_nms_thresh));
        CheckPositive(rpn_pre_nms_top_n_train, nameof(rpn_pre_nms_top_n_train));
        CheckPositive(rpn_pre_nms_top_n_test, nameof(rpn_pre_nms_top_n_test));
        CheckPositive(rpn_post_nms_top_n_train, nameof(rpn_post_nms_top_n_train));
        CheckPositive(rpn_post_nms_top_n_test, nameof(rpn_post_nms_top_n_test));
        CheckPositive(representation_size, nameof(representation_size));
        CheckPositive(box_detections_per_img, nameof(box_detections_per_img));

        Classes = classes;
        BackboneName = backbone;
        this.fpn_channels = fpn_channels;
        transform = new GeneralizedRcnnTransform(min_size, max_size, image_mean ?? [0.485, 0.456, 0.406], image_std ?? [0.229, 0.224, 0.225], size_divisible);
        this.backbone = new BackboneWithFpn(body, fpn_channels, new LastLevelMaxPool());
        var anchors = new AnchorGenerator(anchor_sizes.Select(s => new double[] { s }).ToArray(), Enumerable.Repeat(aspect_ratios, 5).ToArray());
        var head = new RPNHead(fpn_channels, anchors.num_anchors_per_location()[0]);
        rpn = new RegionProposalNetwork(anchors, head, rpn_fg_iou_thresh, rpn_bg_iou_thresh, rpn_batch_size_per_image, rpn_positive_fraction,
            (rpn_pre_nms_top_n_train, rpn_pre_nms_top_n_test), (rpn_post_nms_top_n_train, rpn_post_nms_top_n_test), rpn_nms_thresh, rpn_score_thresh);
        var pool = new MultiScaleRoIAlign(4, roi_output_size, sampling_ratio, canonical_scale, canonical_level);
        var boxHead = new TwoMLPHead(fpn_channels * roi_output_size * roi_output_size, representation_size);
        var predictor = new FastRCNNPredictor(representation_size, classes + 1);
        roi_heads = new RoIHeads(pool, boxHead, predictor, box_fg_iou_thresh, box_bg_iou_thresh, box_batch_size_per_image, box_positive_fraction,
            bbox_reg_weights is null ? null : (bbox_reg_weights[0], bbox_reg_weights[1], bbox_reg_weights[2], bbox_reg_weights[3]),
            box_score_thresh, box_nms_thresh, box_detections_per_img);
        RegisterComponents();
    }

    /// <summary>
    /// torchvision's <c>fasterrcnn_resnet50_fpn</c> configuration (COCO: 90 foreground classes, torchvision's 91 with the
    /// background) without weights; load a torchvision state_dict with <c>load_state_dict</c>.
    /// </summary>
    public static FasterRcnn fasterrcnn_resnet50_fpn(int classes = 90, int trainable_layers = 3, int min_size = 800, int max_size = 1333,
        double box_score_thresh = 0.05, int box_detections_per_img = 100) =>
        new(classes, "resnet50", trainable_layers: trainable_layers, min_size: min_size, max_size: max_size,
            box_score_thresh: box_score_thresh, box_detections_per_img: box_detections_per_img);

    public override int Classes { get; }
    public string BackboneName { get; }
    public int fpn_channels { get; }
    public GeneralizedRcnnTransform Transform => transform;
    public BackboneWithFpn Backbone => backbone;
    public RegionProposalNetwork Rpn => rpn;
    public RoIHeads RoiHeads => roi_heads;

    public override IReadOnlyList<Taps> PooledLevelTaps { get; } = [Taps.P2, Taps.P3, Taps.P4, Taps.P5];

    private static void CheckFraction(double v, string name)
    {
        if (!(v >= 0 && v <= 1)) throw new ArgumentOutOfRangeException(name, v, "must be in [0, 1]");
    }

    private static void CheckPositive(int v, string name)
    {
        if (v < 1) throw new ArgumentOutOfRangeException(name, v, "must be positive");
    }

    protected override List<Detections>? Run(Tensor images, Outputs outputs, IReadOnlyList<Tensor>? boxes, IReadOnlyList<Tensor>? labels, bool wantDetections)
    {
        CheckPass(images, outputs, boxes);
        Tensor[]? gtBoxes = null, gtLabels = null;
        if (boxes is not null)
            (gtBoxes, gtLabels) = Targets.prepare(boxes, labels!, images.shape[0], (images.shape[2], images.shape[3]), Classes, images.device);

        var (batch, scaledBoxes) = transform.forward(images, gtBoxes);
        SetContext(outputs, batch.image_sizes);
        var (stages, levels) = backbone.forward(batch.tensors);
        Keep(outputs, Taps.Stage1, stages[0]);
        Keep(outputs, Taps.Stage2, stages[1]);
        Keep(outputs, Taps.Stage3, stages[2]);
        Keep(outputs, Taps.Stage4, stages[3]);
        Keep(outputs, Taps.P2, levels[0]);
        Keep(outputs, Taps.P3, levels[1]);
        Keep(outputs, Taps.P4, levels[2]);
        Keep(outputs, Taps.P5, levels[3]);
        Keep(outputs, Taps.P6, levels[4]);
        if (!wantDetections && !WantsPastBackbone(outputs)) return null;
        // The RPN reads every level (P2..P6); the RoI pooler maps each RoI to one of P2..P5 by its level rule.
        return RunRpnAndHead(outputs, rpn, roi_heads, batch, levels, levels, scaledBoxes, gtLabels, wantDetections);
    }

    protected override RoiHeadOutputs RunHead(IReadOnlyList<Tensor> levels, Tensor rois, (long h, long w)[] image_sizes) =>
        roi_heads.run_head(levels, rois, image_sizes);
}
