using Distill.Data;

namespace Distill.Runtime;

/// <summary>The evaluators of one pass over a detection data set: COCO's always, the VOC devkit's for VOC data.</summary>
public sealed class DetectionEvaluators : IDisposable
{
    internal DetectionEvaluators(CocoEvaluator coco, VocEvaluator? voc)
    {
        Coco = coco;
        Voc = voc;
    }

    public CocoEvaluator Coco { get; }

    /// <summary>The VOC devkit's AP, for data whose benchmark is VOC's (<see cref="DetectionDataset.IsVocBenchmark"/>); else null.</summary>
    public VocEvaluator? Voc { get; }

    public void Dispose()
    {
        Coco.Dispose();
        Voc?.Dispose();
    }
}

/// <summary>
/// What a generated training loop evaluates a detector with: a <see cref="CocoEvaluator"/> set up for a detection data set
/// (and a <see cref="VocEvaluator"/> for VOC data), fed batch by batch with the detector's detections against the batch's
/// ground truth. The detections' type is the caller's (a detection model's own), read through <c>parts</c>, so the
/// runtime depends on no model library.
/// </summary>
public static class DetectionEvaluation
{
    /// <summary>
    /// The evaluators for <paramref name="data"/>. COCO's: its classes and class names; the area ranges scaled to its image
    /// side when every image is one square size (<see cref="CocoAreaRanges.ForImageSide"/>), COCO's otherwise; and the
    /// metrics of the hard instances too (<c>hard_AP</c>, …) when the data marks some. For VOC data also the devkit's
    /// (IoU 0.5, difficult objects ignored; pixel offset 0, since <c>VocDetection</c>'s boxes already span the devkit's
    /// xmax − xmin + 1 pixels). Per-class APs are left out of the logged metrics.
    /// </summary>
    public static DetectionEvaluators CreateEvaluator(DetectionDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var ranges = data.UniformImageSide is int side ? CocoAreaRanges.ForImageSide(side) : CocoAreaRanges.Default;
        var coco = new CocoEvaluator(data.Classes, ranges, classNames: data.ClassNames)
        {
            MetricSubsets = data.MarksHardInstances ? [GroundTruthSubset.All, GroundTruthSubset.Hard] : [GroundTruthSubset.All],
            PerClassMetrics = false,
        };
        var voc = data.IsVocBenchmark ? new VocEvaluator(data.Classes, pixelOffset: 0, classNames: data.ClassNames) { PerClassMetrics = false } : null;
        return new DetectionEvaluators(coco, voc);
    }

    /// <summary>
    /// Adds each image of <paramref name="batch"/>: <paramref name="detections"/>[i] (boxes [D, 4], scores [D], labels [D]
    /// in the batch's pixel coordinates) against the batch's boxes, labels, crowd and hard flags of image i.
    /// </summary>
    public static void Add<TDetections>(DetectionEvaluators evaluator, DetectionBatch batch, IReadOnlyList<TDetections> detections,
        Func<TDetections, (Tensor Boxes, Tensor Scores, Tensor Labels)> parts)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(parts);
        if (detections.Count != batch.Count)
            throw new ArgumentException($"{detections.Count} images' detections for a batch of {batch.Count} images", nameof(detections));
        for (var i = 0; i < detections.Count; i++)
        {
            var (boxes, scores, labels) = parts(detections[i]);
            evaluator.Coco.Add(boxes, scores, labels, batch.boxes[i], batch.labels[i], batch.crowd[i], batch.hard[i]);
            evaluator.Voc?.Add(boxes, scores, labels, batch.boxes[i], batch.labels[i], batch.crowd[i]);
        }
    }

    /// <summary>
    /// Computes the metrics and writes them with <paramref name="prefix"/> (<c>val_AP</c>, <c>val_AP50</c>, …,
    /// <c>val_hard_AP</c>, …; for VOC data <c>val_VOC07_AP50</c> and <c>val_VOC_AP50</c> too).
    /// </summary>
    public static void WriteTo(DetectionEvaluators evaluator, IDictionary<string, double> values, string prefix)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        evaluator.Coco.WriteTo(values, prefix);
        evaluator.Voc?.WriteTo(values, prefix);
    }
}
