using Distill.Detection.RoiHeads;
using Distill.Detection.Rpn;

namespace Distill.Detection;

/// <summary>
/// The base of the two-stage detectors (<see cref="FasterRcnn"/>, <see cref="FasterRcnnC4"/>): what happens after the
/// backbone — the RPN with its taps and losses, the training RoIs sampled with the ground truth, the RoI head's taps and
/// losses, the detections — is the same whatever feature maps the RPN and the RoI pooler read, so it lives here once. A
/// model keeps its own modules (so its state_dict keeps torchvision's names and order) and hands them in; the taps are
/// found by name in the model's generated <c>Taps</c> enum, which every two-stage model declares alike.
/// </summary>
public abstract class TwoStageDetector<TTaps, TOutputs> : DetectionModel<TTaps, TOutputs>
    where TTaps : struct, Enum
    where TOutputs : TapOutputs<TTaps>, new()
{
    private static readonly TTaps RpnLogits = Tap("RpnLogits"), RpnDeltas = Tap("RpnDeltas"), Proposals = Tap("Proposals"),
        LossObjectness = Tap("LossObjectness"), LossRpnBoxReg = Tap("LossRpnBoxReg"), SampledRois = Tap("SampledRois"),
        RoiLabels = Tap("RoiLabels"), RoiPositive = Tap("RoiPositive"), RoiMatchedBoxes = Tap("RoiMatchedBoxes"), RoiTargets = Tap("RoiTargets"),
        RoiFeatures = Tap("RoiFeatures"), RoiEmbedding = Tap("RoiEmbedding"), RoiLogits = Tap("RoiLogits"), RoiDeltas = Tap("RoiDeltas"),
        LossClassifier = Tap("LossClassifier"), LossBoxReg = Tap("LossBoxReg");

    /// <summary>The taps that need the ground truth.</summary>
    private static readonly long TargetTaps = Bits(RoiLabels, RoiPositive, RoiMatchedBoxes, RoiTargets, LossObjectness, LossRpnBoxReg, LossClassifier, LossBoxReg);

    /// <summary>The taps past the backbone: the RPN's, then the RoI head's.</summary>
    private static readonly long RpnTaps = Bits(RpnLogits, RpnDeltas, Proposals, LossObjectness, LossRpnBoxReg);
    private static readonly long HeadTaps = Bits(SampledRois, RoiLabels, RoiPositive, RoiMatchedBoxes, RoiTargets, RoiFeatures, RoiEmbedding,
        RoiLogits, RoiDeltas, LossClassifier, LossBoxReg);

    private static readonly TTaps s_givenRoiTaps = TapSet<TTaps>.FromBits(Bits(RoiFeatures, RoiEmbedding, RoiLogits, RoiDeltas));

    public override TTaps GivenRoiTaps => s_givenRoiTaps;

    /// <summary>Whether the requested taps include any past the backbone (the RPN must run).</summary>
    protected static bool WantsPastBackbone(TOutputs outputs) => (TapSet<TTaps>.Bits(outputs.Requested) & (RpnTaps | HeadTaps)) != 0;

    /// <summary>The checks before a pass: taps that need the ground truth have it, and the images are [N, 3, H, W].</summary>
    protected static void CheckPass(Tensor images, TOutputs outputs, IReadOnlyList<Tensor>? boxes)
    {
        var wanted = TapSet<TTaps>.Bits(outputs.Requested) & TargetTaps;
        if (boxes is null && wanted != 0)
            throw new ArgumentException($"the taps {TapSet<TTaps>.FromBits(wanted)} need the ground truth: pass boxes and labels to forward_taps", nameof(boxes));
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"images must be [N, 3, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
    }

    /// <summary>
    /// The RPN on <paramref name="rpnFeatures"/> and the RoI head pooling from <paramref name="pooled"/>: keeps the
    /// requested RPN and RoI taps and losses. With ground truth (<paramref name="gtBoxes"/> in network-input pixels) the
    /// head runs on the RoIs sampled from the proposals, as in training; without, on every proposal. Returns each image's
    /// detections in its original coordinates when asked.
    /// </summary>
    protected static List<Detections>? RunRpnAndHead(TOutputs outputs, RegionProposalNetwork rpn, RoIHeads roi_heads, ImageBatch batch,
        IReadOnlyList<Tensor> rpnFeatures, IReadOnlyList<Tensor> pooled, Tensor[]? gtBoxes, Tensor[]? gtLabels, bool wantDetections)
    {
        var requested = TapSet<TTaps>.Bits(outputs.Requested);
        var r = rpn.forward(rpnFeatures, batch.padded_size, batch.image_sizes, gtBoxes);
        Keep(outputs, RpnLogits, r.objectness);
        Keep(outputs, RpnDeltas, r.deltas);
        if (Wants(outputs, Proposals)) Keep(outputs, Proposals, RoIHeads.to_rois(r.boxes));
        if (r.loss_objectness is not null)
        {
            Keep(outputs, LossObjectness, r.loss_objectness);
            Keep(outputs, LossRpnBoxReg, r.loss_rpn_box_reg!);
        }
        if (!wantDetections && (requested & HeadTaps) == 0) return null;

        if (gtBoxes is not null)
        {
            var sampled = roi_heads.select_training_samples(r.boxes, gtBoxes, gtLabels!);
            var head = roi_heads.run_head(pooled, sampled.rois, batch.image_sizes);
            Keep(outputs, SampledRois, sampled.rois);
            Keep(outputs, RoiLabels, sampled.labels);
            if (Wants(outputs, RoiPositive)) Keep(outputs, RoiPositive, sampled.labels.gt(0).to(ScalarType.Float32));
            Keep(outputs, RoiMatchedBoxes, sampled.matched_boxes);
            Keep(outputs, RoiTargets, sampled.targets);
            KeepHead(outputs, head);
            if (Wants(outputs, LossClassifier) || Wants(outputs, LossBoxReg))
            {
                var (cls, box) = RoIHeads.fastrcnn_loss(head.logits, head.deltas, sampled.labels, sampled.targets);
                Keep(outputs, LossClassifier, cls);
                Keep(outputs, LossBoxReg, box);
            }
        }
        if (gtBoxes is not null && !wantDetections) return null;

        var rois = RoIHeads.to_rois(r.boxes);
        var all = roi_heads.run_head(pooled, rois, batch.image_sizes);
        if (gtBoxes is null)
        {
            Keep(outputs, SampledRois, rois);
            KeepHead(outputs, all);
        }
        if (!wantDetections) return null;
        return roi_heads.postprocess_detections(all.logits, all.deltas, r.boxes, batch.image_sizes)
            .Select((d, i) => new Detections(GeneralizedRcnnTransform.postprocess(d.boxes, batch.image_sizes[i], batch.original_size), d.scores, d.labels))
            .ToList();
    }

    protected override void KeepRoiHead(TOutputs outputs, RoiHeadOutputs head) => KeepHead(outputs, head);

    private static void KeepHead(TOutputs outputs, RoiHeadOutputs head)
    {
        Keep(outputs, RoiFeatures, head.features);
        Keep(outputs, RoiEmbedding, head.embedding);
        Keep(outputs, RoiLogits, head.logits);
        Keep(outputs, RoiDeltas, head.deltas);
    }

    private static TTaps Tap(string name) =>
        Enum.TryParse<TTaps>(name, out var tap) ? tap
            : throw new InvalidOperationException($"{typeof(TTaps).DeclaringType?.Name} is a two-stage detector but declares no {name} tap");

    private static long Bits(params TTaps[] taps) => taps.Aggregate(0L, (bits, t) => bits | TapSet<TTaps>.Bits(t));
}
