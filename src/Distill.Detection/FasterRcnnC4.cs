using Distill.Detection.Backbones;
using Distill.Detection.RoiHeads;
using Distill.Detection.Rpn;
using F = Distill.Torch.torch.nn.functional;

namespace Distill.Detection;

/// <summary>
/// Faster R-CNN with a C4 backbone (Ren et al. / Detectron's R50-C4; the person-search detectors OIM, NAE, SeqNet): ResNet
/// conv1..layer3 (<c>backbone.body</c>) gives one feature map at stride 16 for the RPN (all anchor sizes on that level), RoIAlign
/// pools each RoI to 14×14 from it, and ResNet's layer4 (<c>roi_heads.box_head.layer4</c>, stride 2) + global average pooling is
/// the box head; then torchvision's <c>FastRCNNPredictor</c>. torchvision 0.14 has no C4 model: the parity test assembles the
/// same model from torchvision's parts (FasterRCNN with this backbone, pooler and head). Parameters, labels, ground truth and
/// taps follow <see cref="FasterRcnn"/>; the RoI taps' channels depend on the backbone (R50: 1024 pooled, 2048 embedding).
/// </summary>
[DistillModel(Task = "detection", Input = "N,3,H,W")]
[Tap("stage1", TensorKind.FeatureMap, "N, *, (H+3)/4, (W+3)/4")]
[Tap("stage2", TensorKind.FeatureMap, "N, *, (H+7)/8, (W+7)/8")]
[Tap("stage3", TensorKind.FeatureMap, "N, *, (H+15)/16, (W+15)/16", Description = "C4: the RPN's and the pooler's feature map")]
[Tap("rpn_logits", TensorKind.Any, "N, *")]
[Tap("rpn_deltas", TensorKind.Any, "N, *, 4")]
[Tap("proposals", TensorKind.Boxes, "P, 5", Description = "RPN proposals: rows (batch index, x1, y1, x2, y2)")]
[Tap("sampled_rois", TensorKind.Boxes, "R, 5", Description = "the RoIs the box head ran on, sampled with the ground truth: rows (batch index, x1, y1, x2, y2)", Needs = "boxes,labels")]
[Tap("roi_labels", TensorKind.Labels, "R", Needs = "boxes,labels", Rois = "sampled_rois")]
[Tap("roi_positive", TensorKind.Mask, "R", Description = "1 where a sampled RoI matched an object (roi_labels > 0), else 0", Needs = "boxes,labels", Rois = "sampled_rois")]
[Tap("roi_matched_boxes", TensorKind.Boxes, "R, 4", Needs = "boxes,labels", Rois = "sampled_rois")]
[Tap("roi_targets", TensorKind.Any, "R, 4", Needs = "boxes,labels", Rois = "sampled_rois")]
[Tap("roi_features", TensorKind.FeatureMap, "R, *, roi_output_size, roi_output_size", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_embedding", TensorKind.Embedding, "R, *", Description = "layer4 + average pooling: the person-search feature", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_logits", TensorKind.Logits, "R, classes+1", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_deltas", TensorKind.Any, "R, (classes+1)*4", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("loss_objectness", TensorKind.Any, "", Needs = "boxes,labels")]
[Tap("loss_rpn_box_reg", TensorKind.Any, "", Needs = "boxes,labels")]
[Tap("loss_classifier", TensorKind.Any, "", Needs = "boxes,labels")]
[Tap("loss_box_reg", TensorKind.Any, "", Needs = "boxes,labels")]
public sealed partial class FasterRcnnC4 : TwoStageDetector<FasterRcnnC4.Taps, FasterRcnnC4.Outputs>
{
    private readonly GeneralizedRcnnTransform transform;
    private readonly C4Backbone backbone;
    private readonly RegionProposalNetwork rpn;
    private readonly RoIHeads roi_heads;

    public FasterRcnnC4(int classes, string backbone = "small", int width = 32, int trainable_layers = 3,
        int[]? anchor_sizes = null, double[]? aspect_ratios = null,
        int min_size = 800, int max_size = 1333, double[]? image_mean = null, double[]? image_std = null, int size_divisible = 32,
        int rpn_pre_nms_top_n_train = 2000, int rpn_pre_nms_top_n_test = 1000, int rpn_post_nms_top_n_train = 2000, int rpn_post_nms_top_n_test = 1000,
        double rpn_nms_thresh = 0.7, double rpn_fg_iou_thresh = 0.7, double rpn_bg_iou_thresh = 0.3, int rpn_batch_size_per_image = 256,
        double rpn_positive_fraction = 0.5, double rpn_score_thresh = 0.0, int roi_output_size = 14, int sampling_ratio = 2,
        double box_score_thresh = 0.05, double box_nms_thresh = 0.5, int box_detections_per_img = 100,
        double box_fg_iou_thresh = 0.5, double box_bg_iou_thresh = 0.5, int box_batch_size_per_image = 512, double box_positive_fraction = 0.25,
        double[]? bbox_reg_weights = null)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "at least one foreground class (labels are 1..classes)");
        Classes = classes;
        this.roi_output_size = roi_output_size;
        (transform, this.backbone, rpn, roi_heads, _) = Build(classes, backbone, width, trainable_layers, anchor_sizes, aspect_ratios, min_size, max_size,
            image_mean, image_std, size_divisible, rpn_pre_nms_top_n_train, rpn_pre_nms_top_n_test, rpn_post_nms_top_n_train, rpn_post_nms_top_n_test,
            rpn_nms_thresh, rpn_fg_iou_thresh, rpn_bg_iou_thresh, rpn_batch_size_per_image, rpn_positive_fraction, rpn_score_thresh, roi_output_size,
            sampling_ratio, box_score_thresh, box_nms_thresh, box_detections_per_img, box_fg_iou_thresh, box_bg_iou_thresh, box_batch_size_per_image,
            box_positive_fraction, bbox_reg_weights);
        RegisterComponents();
    }

    /// <summary>
    /// The parts of a C4 Faster R-CNN (shared with the person-search network built on it): the transform, the C4 body, the RPN
    /// with all anchor sizes on C4, and the RoI heads (RoIAlign on C4, layer4 + average pooling, the predictor); and the box
    /// head's output channels (C5).
    /// </summary>
    internal static (GeneralizedRcnnTransform transform, C4Backbone backbone, RegionProposalNetwork rpn, RoIHeads roi_heads, long c5) Build(
        int classes, string backbone, int width, int trainable_layers, int[]? anchor_sizes, double[]? aspect_ratios,
        int min_size, int max_size, double[]? image_mean, double[]? image_std, int size_divisible,
        int rpn_pre_nms_top_n_train, int rpn_pre_nms_top_n_test, int rpn_post_nms_top_n_train, int rpn_post_nms_top_n_test,
        double rpn_nms_thresh, double rpn_fg_iou_thresh, double rpn_bg_iou_thresh, int rpn_batch_size_per_image,
        double rpn_positive_fraction, double rpn_score_thresh, int roi_output_size, int sampling_ratio,
        double box_score_thresh, double box_nms_thresh, int box_detections_per_img,
        double box_fg_iou_thresh, double box_bg_iou_thresh, int box_batch_size_per_image, double box_positive_fraction,
        double[]? bbox_reg_weights)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        (Module body, Module<Tensor, Tensor> stage5, long c4, long c5) = ResNetBody.DepthOf(backbone) is { } depth
            // stage 4 (C4) feeds the RPN; torchvision's layer4 of the same depth is the box head (C5)
            ? ((Module)new ResNetBody(depth, trainable_layers, stages: 3), (Module<Tensor, Tensor>)ResNetBody.MakeLayer4(depth), depth < 50 ? 256L : 1024L, depth < 50 ? 512L : 2048L)
            : backbone == "small"
                ? ((Module)new SmallBackbone(width, stages: 3), (Module<Tensor, Tensor>)new SmallBackbone.SmallBlock(4L * width, 8L * width), 4L * width, 8L * width)
                : throw FasterRcnn.UnknownBackbone(backbone);
        anchor_sizes ??= [32, 64, 128, 256, 512];
        aspect_ratios ??= [0.5, 1.0, 2.0];
        if (anchor_sizes.Length == 0) throw new ArgumentException("give at least one anchor size", nameof(anchor_sizes));
        if (bbox_reg_weights is not null && bbox_reg_weights.Length != 4)
            throw new ArgumentException("bbox_reg_weights needs 4 values (wx, wy, ww, wh)", nameof(bbox_reg_weights));
        var transform = new GeneralizedRcnnTransform(min_size, max_size, image_mean ?? [0.485, 0.456, 0.406], image_std ?? [0.229, 0.224, 0.225], size_divisible);
        var anchors = new AnchorGenerator([anchor_sizes.Select(s => (double)s).ToArray()], [aspect_ratios]);
        var rpn = new RegionProposalNetwork(anchors, new RPNHead(c4, anchors.num_anchors_per_location()[0]), rpn_fg_iou_thresh, rpn_bg_iou_thresh,
            rpn_batch_size_per_image, rpn_positive_fraction, (rpn_pre_nms_top_n_train, rpn_pre_nms_top_n_test),
            (rpn_post_nms_top_n_train, rpn_post_nms_top_n_test), rpn_nms_thresh, rpn_score_thresh);
        var roi_heads = new RoIHeads(new MultiScaleRoIAlign(1, roi_output_size, sampling_ratio), new ResNetC5Head(stage5), new FastRCNNPredictor(c5, classes + 1),
            box_fg_iou_thresh, box_bg_iou_thresh, box_batch_size_per_image, box_positive_fraction,
            bbox_reg_weights is null ? null : (bbox_reg_weights[0], bbox_reg_weights[1], bbox_reg_weights[2], bbox_reg_weights[3]),
            box_score_thresh, box_nms_thresh, box_detections_per_img);
        return (transform, new C4Backbone(body), rpn, roi_heads, c5);
    }

    public override int Classes { get; }
    public int roi_output_size { get; }
    public override IReadOnlyList<Taps> PooledLevelTaps { get; } = [Taps.Stage3];

    /// <summary><c>backbone.body</c>: the C4 body.</summary>
    internal sealed class C4Backbone : Module
    {
        private readonly Module body;

        public C4Backbone(Module body)
        {
            this.body = body;
            RegisterComponents();
        }

        public Tensor[] forward_stages(Tensor x) => ((IFeatureBody)body).forward_stages(x);
    }

    /// <summary>The C4 box head: <c>layer4</c> (stage 5, stride 2) then global average pooling: [R, C5].</summary>
    public sealed class ResNetC5Head : Module<Tensor, Tensor>
    {
        private readonly Module<Tensor, Tensor> layer4;

        public ResNetC5Head(Module<Tensor, Tensor> layer4)
        {
            this.layer4 = layer4;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            return scope.MoveToOuter(F.adaptive_avg_pool2d(layer4.call(x), 1).flatten(1));
        }
    }

    protected override List<Detections>? Run(Tensor images, Outputs outputs, IReadOnlyList<Tensor>? boxes, IReadOnlyList<Tensor>? labels, bool wantDetections)
    {
        CheckPass(images, outputs, boxes);
        Tensor[]? gtBoxes = null, gtLabels = null;
        if (boxes is not null)
            (gtBoxes, gtLabels) = Targets.prepare(boxes, labels!, images.shape[0], (images.shape[2], images.shape[3]), Classes, images.device);
        var (batch, scaled) = transform.forward(images, gtBoxes);
        SetContext(outputs, batch.image_sizes);
        var stages = backbone.forward_stages(batch.tensors);
        Keep(outputs, Taps.Stage1, stages[0]);
        Keep(outputs, Taps.Stage2, stages[1]);
        Keep(outputs, Taps.Stage3, stages[2]);
        if (!wantDetections && !WantsPastBackbone(outputs)) return null;
        // C4 (stage 3) is both the RPN's feature map and the one the RoIs are pooled from.
        Tensor[] features = [stages[2]];
        return RunRpnAndHead(outputs, rpn, roi_heads, batch, features, features, scaled, gtLabels, wantDetections);
    }

    protected override RoiHeadOutputs RunHead(IReadOnlyList<Tensor> levels, Tensor rois, (long h, long w)[] image_sizes) =>
        roi_heads.run_head(levels, rois, image_sizes);
}
