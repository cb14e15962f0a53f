using Distill.Data;

namespace Distill.Runtime;

/// <summary>
/// What a generated training loop evaluates a detector with: a <see cref="CocoEvaluator"/> set up for a detection data set,
/// fed batch by batch with the detector's detections against the batch's ground truth. The detections' type is the
/// caller's (a detection model's own), read through <c>parts</c>, so the runtime depends on no model library.
/// </summary>
public static class DetectionEvaluation
{
    /// <summary>
    /// A COCO evaluator for <paramref name="data"/>: its classes and class names; the area ranges scaled to its image side
    /// when every image is one square size (<see cref="CocoAreaRanges.ForImageSide"/>), COCO's otherwise; and the metrics of
    /// the hard instances too (<c>hard_AP</c>, …) when the data marks some. Per-class APs are left out of the logged metrics.
    /// </summary>
    public static CocoEvaluator CreateEvaluator(DetectionDataset data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var ranges = data.UniformImageSide is int side ? CocoAreaRanges.ForImageSide(side) : CocoAreaRanges.Default;
        return new CocoEvaluator(data.Classes, ranges, classNames: data.ClassNames)
        {
            MetricSubsets = data.MarksHardInstances ? [GroundTruthSubset.All, GroundTruthSubset.Hard] : [GroundTruthSubset.All],
            PerClassMetrics = false,
        };
    }

    /// <summary>
    /// Adds each image of <paramref name="batch"/>: <paramref name="detections"/>[i] (boxes [D, 4], scores [D], labels [D]
    /// in the batch's pixel coordinates) against the batch's boxes, labels, crowd and hard flags of image i.
    /// </summary>
    public static void Add<TDetections>(CocoEvaluator evaluator, DetectionBatch batch, IReadOnlyList<TDetections> detections,
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
            evaluator.Add(boxes, scores, labels, batch.boxes[i], batch.labels[i], batch.crowd[i], batch.hard[i]);
        }
    }

    /// <summary>Computes the metrics and writes them with <paramref name="prefix"/> (<c>val_AP</c>, <c>val_AP50</c>, …, <c>val_hard_AP</c>, …).</summary>
    public static void WriteTo(CocoEvaluator evaluator, IDictionary<string, double> values, string prefix)
    {
        ArgumentNullException.ThrowIfNull(evaluator);
        evaluator.WriteTo(values, prefix);
    }
}
