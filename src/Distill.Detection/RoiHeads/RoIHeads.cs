using Distill.Detection.Boxes;
using F = Distill.Torch.torch.nn.functional;

namespace Distill.Detection.RoiHeads;

/// <summary>The box head run on a set of RoIs: the pooled features and everything after them (owned by the caller's scope).</summary>
public sealed class RoiHeadOutputs : IDisposable
{
    public RoiHeadOutputs(Tensor features, Tensor embedding, Tensor logits, Tensor deltas)
    {
        this.features = features;
        this.embedding = embedding;
        this.logits = logits;
        this.deltas = deltas;
    }

    /// <summary>RoIAlign output [R, C, S, S].</summary>
    public Tensor features { get; }

    /// <summary>The box head's output [R, representation_size].</summary>
    public Tensor embedding { get; }

    /// <summary>Class logits [R, classes + 1] (column 0 = background).</summary>
    public Tensor logits { get; }

    /// <summary>Class-specific box deltas [R, (classes + 1)·4].</summary>
    public Tensor deltas { get; }

    public void Dispose()
    {
        features.Dispose();
        embedding.Dispose();
        logits.Dispose();
        deltas.Dispose();
    }
}

/// <summary>The RoIs a training step sampled and their targets (owned by the caller's scope).</summary>
public sealed record SampledRois(Tensor rois, Tensor labels, Tensor matched_boxes, Tensor targets);

/// <summary>
/// torchvision's <c>RoIHeads</c> (boxes only): <c>box_roi_pool</c>, <c>box_head</c>, <c>box_predictor</c>. Training: the
/// ground-truth boxes join each image's proposals, proposals are matched (IoU ≥ fg → the box's label, &lt; bg →
/// background 0, between → ignored), sampled (<see cref="BalancedPositiveNegativeSampler"/>, kept in index order),
/// and encoded with weights (10, 10, 5, 5); the loss is cross-entropy plus smooth-L1 (β = 1/9) of the positives'
/// deltas of their own class, summed and divided by the number of sampled RoIs. Evaluation: softmax, per-class decoding,
/// clipping, background removed, score &gt; <see cref="score_thresh"/>, boxes under 0.01 px removed, NMS per class, the
/// best <see cref="detections_per_img"/>.
/// </summary>
public sealed class RoIHeads : Module
{
    private readonly MultiScaleRoIAlign box_roi_pool;
    private readonly Module<Tensor, Tensor> box_head;
    private readonly FastRCNNPredictor box_predictor;

    public RoIHeads(MultiScaleRoIAlign box_roi_pool, Module<Tensor, Tensor> box_head, FastRCNNPredictor box_predictor,
        double fg_iou_thresh, double bg_iou_thresh, int batch_size_per_image, double positive_fraction,
        (double, double, double, double)? bbox_reg_weights, double score_thresh, double nms_thresh, int detections_per_img)
    {
        this.box_roi_pool = box_roi_pool;
        this.box_head = box_head;
        this.box_predictor = box_predictor;
        proposal_matcher = new Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches: false);
        fg_bg_sampler = new BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction);
        box_coder = new BoxCoder(bbox_reg_weights ?? (10.0, 10.0, 5.0, 5.0));
        this.score_thresh = score_thresh;
        this.nms_thresh = nms_thresh;
        this.detections_per_img = detections_per_img;
        RegisterComponents();
    }

    public Matcher proposal_matcher { get; }
    public BalancedPositiveNegativeSampler fg_bg_sampler { get; }
    public BoxCoder box_coder { get; }
    public double score_thresh { get; }
    public double nms_thresh { get; }
    public int detections_per_img { get; }
    public MultiScaleRoIAlign Pooler => box_roi_pool;

    /// <summary>Rows (batch index, x1, y1, x2, y2) of per-image boxes.</summary>
    public static Tensor to_rois(IReadOnlyList<Tensor> boxes)
    {
        using var scope = torch.NewDisposeScope();
        var parts = boxes.Select((b, i) => torch.cat([torch.full([b.shape[0], 1], i, b.dtype, b.device), b], 1)).ToList();
        return scope.MoveToOuter(torch.cat(parts, 0));
    }

    /// <summary>torchvision's <c>select_training_samples</c>, as RoI rows with their labels, matched boxes and targets.</summary>
    public SampledRois select_training_samples(IReadOnlyList<Tensor> proposals, IReadOnlyList<Tensor> gt_boxes, IReadOnlyList<Tensor> gt_labels)
    {
        using var scope = torch.NewDisposeScope();
        var n = proposals.Count;
        var dtype = proposals[0].dtype;
        var device = proposals[0].device;
        var props = new List<Tensor>();
        var labels = new List<Tensor>();
        var matchedIdx = new List<Tensor>();
        for (var i = 0; i < n; i++)
        {
            var gt = gt_boxes[i].to(dtype);
            var p = torch.cat([proposals[i], gt], 0);
            Tensor clamped, lab;
            if (gt.numel() == 0)
            {
                clamped = torch.zeros([p.shape[0]], ScalarType.Int64, device);
                lab = torch.zeros([p.shape[0]], ScalarType.Int64, device);
            }
            else
            {
                var idx = proposal_matcher.call(torch.ops.box_iou(gt, p));
                clamped = idx.clamp_min(0);
                lab = gt_labels[i].index(clamped).to(ScalarType.Int64);
                lab.masked_fill_(idx.eq(Matcher.BELOW_LOW_THRESHOLD), 0);
                lab.masked_fill_(idx.eq(Matcher.BETWEEN_THRESHOLDS), -1);
            }
            props.Add(p);
            labels.Add(lab);
            matchedIdx.Add(clamped);
        }
        var (pos, neg) = fg_bg_sampler.call(labels);
        var rois = new List<Tensor>();
        var sampledLabels = new List<Tensor>();
        var matchedBoxes = new List<Tensor>();
        var sampledProps = new List<Tensor>();
        for (var i = 0; i < n; i++)
        {
            var keep = torch.where(pos[i].logical_or(neg[i]))[0];
            var p = props[i].index(keep);
            var gt = gt_boxes[i].to(dtype);
            if (gt.numel() == 0) gt = torch.zeros([1, 4], dtype, device);
            matchedBoxes.Add(gt.index(matchedIdx[i].index(keep)));
            sampledLabels.Add(labels[i].index(keep));
            sampledProps.Add(p);
        }
        var allProps = torch.cat(sampledProps, 0);
        var matched = torch.cat(matchedBoxes, 0);
        var targets = box_coder.encode_single(matched, allProps);
        var result = new SampledRois(to_rois(sampledProps), torch.cat(sampledLabels, 0), matched, targets);
        scope.MoveToOuter(new[] { result.rois, result.labels, result.matched_boxes, result.targets });
        return result;
    }

    /// <summary>RoIAlign over the pyramid, the box head and the predictor on <paramref name="rois"/> [R, 5].</summary>
    public RoiHeadOutputs run_head(IReadOnlyList<Tensor> features, Tensor rois, IReadOnlyList<(long h, long w)> image_sizes)
    {
        using var scope = torch.NewDisposeScope();
        var pooled = box_roi_pool.forward(features, rois, image_sizes);
        var embedding = box_head.call(pooled);
        var (logits, deltas) = box_predictor.forward(embedding);
        var result = new RoiHeadOutputs(pooled, embedding, logits, deltas);
        scope.MoveToOuter(new[] { pooled, embedding, logits, deltas });
        return result;
    }

    /// <summary>torchvision's <c>fastrcnn_loss</c>: (cross-entropy, smooth-L1 of the positives' own-class deltas / R).</summary>
    public static (Tensor loss_classifier, Tensor loss_box_reg) fastrcnn_loss(Tensor class_logits, Tensor box_regression, Tensor labels, Tensor regression_targets)
    {
        using var scope = torch.NewDisposeScope();
        var cls = F.cross_entropy(class_logits, labels);
        var pos = torch.where(labels.gt(0))[0];
        var labelsPos = labels.index(pos);
        var n = class_logits.shape[0];
        var reg = box_regression.reshape(n, box_regression.shape[^1] / 4, 4);
        var box = F.smooth_l1_loss(reg.index([pos, labelsPos]), regression_targets.index(pos), reduction: "sum", beta: 1.0 / 9) / labels.numel();
        return (scope.MoveToOuter(cls), scope.MoveToOuter(box));
    }

    /// <summary>torchvision's <c>postprocess_detections</c>: per image (boxes [D, 4], scores [D], labels [D] int64), network-input pixels.</summary>
    public List<(Tensor boxes, Tensor scores, Tensor labels)> postprocess_detections(Tensor class_logits, Tensor box_regression,
        IReadOnlyList<Tensor> proposals, IReadOnlyList<(long h, long w)> image_sizes)
    {
        using var scope = torch.NewDisposeScope();
        var numClasses = class_logits.shape[^1];
        var perImage = proposals.Select(p => p.shape[0]).ToArray();
        var predBoxes = box_coder.decode(box_regression, proposals);
        var predScores = F.softmax(class_logits, -1);
        var boxesList = predBoxes.split(perImage, 0);
        var scoresList = predScores.split(perImage, 0);
        var results = new List<(Tensor, Tensor, Tensor)>();
        for (var i = 0; i < proposals.Count; i++)
        {
            var boxes = torch.ops.clip_boxes_to_image(boxesList[i], image_sizes[i]);
            var scores = scoresList[i];
            var labels = torch.arange(numClasses, device: class_logits.device).view(1, -1).expand_as(scores);
            boxes = boxes.narrow(1, 1, numClasses - 1).reshape(-1, 4);
            scores = scores.narrow(1, 1, numClasses - 1).reshape(-1);
            labels = labels.narrow(1, 1, numClasses - 1).reshape(-1);
            var inds = torch.where(scores.gt(score_thresh))[0];
            (boxes, scores, labels) = (boxes.index(inds), scores.index(inds), labels.index(inds));
            var keep = torch.ops.remove_small_boxes(boxes, 1e-2);
            (boxes, scores, labels) = (boxes.index(keep), scores.index(keep), labels.index(keep));
            keep = torch.ops.batched_nms(boxes, scores, labels, nms_thresh);
            keep = keep.narrow(0, 0, Math.Min(detections_per_img, keep.shape[0]));
            results.Add((scope.MoveToOuter(boxes.index(keep)), scope.MoveToOuter(scores.index(keep)), scope.MoveToOuter(labels.index(keep))));
        }
        return results;
    }
}
