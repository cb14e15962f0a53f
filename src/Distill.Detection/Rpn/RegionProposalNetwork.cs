using Distill.Detection.Boxes;
using F = Distill.Torch.torch.nn.functional;

namespace Distill.Detection.Rpn;

/// <summary>What one RPN pass produced. Every tensor belongs to the caller's dispose scope.</summary>
public sealed class RpnResult
{
    /// <summary>Objectness logits [N, A_total], levels concatenated as torchvision's <c>concat_box_prediction_layers</c>.</summary>
    public required Tensor objectness { get; init; }

    /// <summary>Box deltas [N, A_total, 4] (same order).</summary>
    public required Tensor deltas { get; init; }

    /// <summary>The anchors [A_total, 4] (the same for every image of the batch).</summary>
    public required Tensor anchors { get; init; }

    /// <summary>Each image's proposals [P_i, 4] (detached) and their objectness probabilities [P_i].</summary>
    public required Tensor[] boxes { get; init; }

    public required Tensor[] scores { get; init; }

    /// <summary>With ground truth (always in training): the sampled-anchor BCE loss and the smooth-L1 box loss; null without.</summary>
    public Tensor? loss_objectness { get; init; }

    public Tensor? loss_rpn_box_reg { get; init; }
}

/// <summary>
/// torchvision's <c>RegionProposalNetwork</c>: anchors + head on every pyramid level; proposals = anchors decoded
/// with the (detached) deltas, then per level the pre-NMS top-k by objectness, clipping to the image, removal of
/// boxes under 1e-3 px, score threshold (sigmoid ≥ <see cref="score_thresh"/>), NMS per level and the post-NMS top-n.
/// Training adds the losses: anchors matched to ground truth (IoU ≥ fg → 1, &lt; bg → 0, between → ignored, plus each
/// ground truth's best anchors), <see cref="BalancedPositiveNegativeSampler"/>, BCE-with-logits over the sampled
/// anchors and smooth-L1 (β = 1/9) over the sampled positives, summed and divided by the number sampled.
/// </summary>
public sealed class RegionProposalNetwork : Module
{
    private readonly AnchorGenerator anchor_generator;
    private readonly RPNHead head;

    public RegionProposalNetwork(AnchorGenerator anchor_generator, RPNHead head, double fg_iou_thresh, double bg_iou_thresh,
        int batch_size_per_image, double positive_fraction, (int training, int testing) pre_nms_top_n,
        (int training, int testing) post_nms_top_n, double nms_thresh, double score_thresh = 0.0)
    {
        this.anchor_generator = anchor_generator;
        this.head = head;
        box_coder = new BoxCoder((1.0, 1.0, 1.0, 1.0));
        proposal_matcher = new Matcher(fg_iou_thresh, bg_iou_thresh, allow_low_quality_matches: true);
        fg_bg_sampler = new BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction);
        _preNmsTopN = pre_nms_top_n;
        _postNmsTopN = post_nms_top_n;
        this.nms_thresh = nms_thresh;
        this.score_thresh = score_thresh;
        RegisterComponents();
    }

    private readonly (int training, int testing) _preNmsTopN;
    private readonly (int training, int testing) _postNmsTopN;

    public BoxCoder box_coder { get; }
    public Matcher proposal_matcher { get; }
    public BalancedPositiveNegativeSampler fg_bg_sampler { get; }
    public double nms_thresh { get; }
    public double score_thresh { get; }
    public double min_size => 1e-3;
    public AnchorGenerator AnchorGenerator => anchor_generator;
    public RPNHead Head => head;

    public int pre_nms_top_n() => training ? _preNmsTopN.training : _preNmsTopN.testing;
    public int post_nms_top_n() => training ? _postNmsTopN.training : _postNmsTopN.testing;

    /// <summary>
    /// One pass over the pyramid <paramref name="features"/> of a batch padded to <paramref name="padded_size"/>,
    /// whose images have the (unpadded) <paramref name="image_sizes"/>; <paramref name="gt_boxes"/> per image (required in
    /// training mode, optional in evaluation; an image may have none) adds the losses.
    /// </summary>
    public RpnResult forward(IReadOnlyList<Tensor> features, (long h, long w) padded_size, IReadOnlyList<(long h, long w)> image_sizes,
        IReadOnlyList<Tensor>? gt_boxes = null)
    {
        if (training && gt_boxes is null) throw new ArgumentException("the RPN needs the ground-truth boxes in training mode", nameof(gt_boxes));
        using var scope = torch.NewDisposeScope();
        var n = features[0].shape[0];
        var (logitsPerLevel, regPerLevel) = head.forward(features);
        var grid = features.Select(f => (f.shape[2], f.shape[3])).ToList();
        var anchors = anchor_generator.call(grid, padded_size, features[0].dtype, features[0].device);
        var numPerLevel = logitsPerLevel.Select(o => o.shape[1] * o.shape[2] * o.shape[3]).ToArray();
        var (objectness, deltas) = concat_box_prediction_layers(logitsPerLevel, regPerLevel, n);
        var anchorsBatch = Enumerable.Repeat(anchors, (int)n).ToList();
        Tensor proposals;
        using (torch.no_grad())
            proposals = box_coder.decode(deltas.detach().reshape(-1, 4), anchorsBatch).view(n, -1, 4);
        var (boxes, scores) = filter_proposals(proposals, objectness, image_sizes, numPerLevel);

        Tensor? lossObj = null, lossBox = null;
        if (gt_boxes is not null)
        {
            var (labels, matched) = assign_targets_to_anchors(anchors, gt_boxes!);
            var targets = matched.Select(m => box_coder.encode_single(m, anchors)).ToList();
            (lossObj, lossBox) = compute_loss(objectness, deltas, labels, targets);
        }
        var result = new RpnResult
        {
            objectness = objectness,
            deltas = deltas,
            anchors = anchors,
            boxes = boxes,
            scores = scores,
            loss_objectness = lossObj,
            loss_rpn_box_reg = lossBox,
        };
        scope.MoveToOuter(new[] { objectness, deltas, anchors }.Concat(boxes).Concat(scores));
        if (lossObj is not null) scope.MoveToOuter(lossObj);
        if (lossBox is not null) scope.MoveToOuter(lossBox);
        return result;
    }

    /// <summary>
    /// torchvision's layout: per level [N, A·C, H, W] → [N, H·W·A, C], levels concatenated: logits [N, A_total] and
    /// deltas [N, A_total, 4].
    /// </summary>
    public static (Tensor objectness, Tensor deltas) concat_box_prediction_layers(IReadOnlyList<Tensor> box_cls, IReadOnlyList<Tensor> box_regression, long n)
    {
        using var scope = torch.NewDisposeScope();
        var cls = new List<Tensor>();
        var reg = new List<Tensor>();
        for (var i = 0; i < box_cls.Count; i++)
        {
            var s = box_cls[i].shape;
            long h = s[2], w = s[3];
            cls.Add(box_cls[i].view(n, -1, 1, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1));
            reg.Add(box_regression[i].view(n, -1, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4));
        }
        return (scope.MoveToOuter(torch.cat(cls, 1)), scope.MoveToOuter(torch.cat(reg, 1)));
    }

    /// <summary>Per image: the anchors' labels (1, 0, −1 ignored; float) and matched ground-truth boxes [A_total, 4].</summary>
    public (List<Tensor> labels, List<Tensor> matched) assign_targets_to_anchors(Tensor anchors, IReadOnlyList<Tensor> gt_boxes)
    {
        var labels = new List<Tensor>();
        var matched = new List<Tensor>();
        foreach (var gt in gt_boxes)
        {
            using var scope = torch.NewDisposeScope();
            Tensor l, m;
            if (gt.numel() == 0)
            {
                m = torch.zeros(anchors.shape, ScalarType.Float32, anchors.device);
                l = torch.zeros([anchors.shape[0]], ScalarType.Float32, anchors.device);
            }
            else
            {
                var quality = torch.ops.box_iou(gt, anchors);
                var idx = proposal_matcher.call(quality);
                m = gt.index(idx.clamp_min(0));
                l = idx.ge(0).to(ScalarType.Float32);
                l.masked_fill_(idx.eq(Matcher.BELOW_LOW_THRESHOLD), 0.0);
                l.masked_fill_(idx.eq(Matcher.BETWEEN_THRESHOLDS), -1.0);
            }
            labels.Add(scope.MoveToOuter(l));
            matched.Add(scope.MoveToOuter(m));
        }
        return (labels, matched);
    }

    /// <summary>
    /// torchvision's <c>filter_proposals</c>: per level the pre-NMS top-k by objectness, then per image clipping, removal of
    /// boxes under <see cref="min_size"/>, the score threshold, NMS per level (<c>batched_nms</c>) and the post-NMS top-n.
    /// <paramref name="proposals"/> [N, A_total, 4] decoded boxes, <paramref name="objectness"/> [N, A_total] logits.
    /// Each image's kept boxes and probabilities belong to the caller's dispose scope.
    /// </summary>
    public (Tensor[] boxes, Tensor[] scores) filter_proposals(Tensor proposals, Tensor objectness, IReadOnlyList<(long h, long w)> image_sizes, long[] numPerLevel)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var n = proposals.shape[0];
        var obj = objectness.detach().reshape(n, -1);
        var levels = torch.cat(numPerLevel.Select((c, i) => torch.full([c], i, ScalarType.Int64, obj.device)).ToList(), 0)
            .reshape(1, -1).expand_as(obj);
        // The pre-NMS top-k per level.
        var topIdx = new List<Tensor>();
        long offset = 0;
        foreach (var ob in obj.split(numPerLevel, 1))
        {
            var k = Math.Min(pre_nms_top_n(), ob.shape[1]);
            var (_, idx) = ob.topk(k, 1);
            topIdx.Add(idx + offset);
            offset += ob.shape[1];
        }
        var top = torch.cat(topIdx, 1);
        var batchIdx = torch.arange(n, device: obj.device).unsqueeze(1);
        obj = obj.index([batchIdx, top]);
        levels = levels.index([batchIdx, top]);
        var props = proposals.index([batchIdx, top]);
        var prob = obj.sigmoid();
        var finalBoxes = new Tensor[n];
        var finalScores = new Tensor[n];
        for (var i = 0; i < n; i++)
        {
            var boxes = torch.ops.clip_boxes_to_image(props.select(0, i), image_sizes[i]);
            var scores = prob.select(0, i);
            var lvl = levels.select(0, i);
            var keep = torch.ops.remove_small_boxes(boxes, min_size);
            (boxes, scores, lvl) = (boxes.index(keep), scores.index(keep), lvl.index(keep));
            keep = torch.where(scores.ge(score_thresh))[0];
            (boxes, scores, lvl) = (boxes.index(keep), scores.index(keep), lvl.index(keep));
            keep = torch.ops.batched_nms(boxes, scores, lvl, nms_thresh);
            keep = keep.narrow(0, 0, Math.Min(post_nms_top_n(), keep.shape[0]));
            finalBoxes[i] = scope.MoveToOuter(boxes.index(keep));
            finalScores[i] = scope.MoveToOuter(scores.index(keep));
        }
        return (finalBoxes, finalScores);
    }

    /// <summary>torchvision's <c>compute_loss</c>: (objectness BCE over the sampled anchors, smooth-L1 over the sampled positives / number sampled).</summary>
    public (Tensor loss_objectness, Tensor loss_box) compute_loss(Tensor objectness, Tensor pred_bbox_deltas, IReadOnlyList<Tensor> labels, IReadOnlyList<Tensor> regression_targets)
    {
        using var scope = torch.NewDisposeScope();
        var (posMasks, negMasks) = fg_bg_sampler.call(labels);
        var pos = torch.where(torch.cat(posMasks, 0))[0];
        var neg = torch.where(torch.cat(negMasks, 0))[0];
        var sampled = torch.cat([pos, neg], 0);
        var obj = objectness.flatten();
        var deltas = pred_bbox_deltas.reshape(-1, 4);
        var allLabels = torch.cat(labels.ToList(), 0);
        var targets = torch.cat(regression_targets.ToList(), 0);
        var boxLoss = F.smooth_l1_loss(deltas.index(pos), targets.index(pos), reduction: "sum", beta: 1.0 / 9) / sampled.numel();
        var objLoss = F.binary_cross_entropy_with_logits(obj.index(sampled), allLabels.index(sampled));
        return (scope.MoveToOuter(objLoss), scope.MoveToOuter(boxLoss));
    }
}
