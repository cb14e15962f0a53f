using System.Globalization;

namespace Distill.Runtime;

/// <summary>
/// What <see cref="CocoEvaluator.Compute"/> measured: pycocotools' twelve summary numbers (its <c>stats</c>, in its
/// order), per-class AP, and its full <c>precision</c> and <c>recall</c> arrays. Every value is −1 where pycocotools
/// gives −1: no class has a ground-truth box that counts (in that area range, in the evaluated subset).
/// <see cref="WriteTo"/> names them:
/// <list type="bullet">
/// <item><c>AP</c>: AP at IoU .50:.05:.95, all areas, the largest max-detections (100) — COCO's primary metric;</item>
/// <item><c>AP50</c>, <c>AP75</c>: AP at IoU .50 and .75;</item>
/// <item><c>APs</c>, <c>APm</c>, <c>APl</c>: AP of small, medium and large ground truth (<see cref="CocoAreaRanges"/>);</item>
/// <item><c>AR1</c>, <c>AR10</c>, <c>AR100</c>: recall averaged over the thresholds with at most 1, 10, 100
/// detections per image and class (named after <see cref="MaxDetections"/>);</item>
/// <item><c>ARs</c>, <c>ARm</c>, <c>ARl</c>: AR of small, medium, large ground truth;</item>
/// <item><c>AP_{class}</c>: each class's AP (the class name, or its label when the evaluator was given no names).</item>
/// </list>
/// </summary>
/// <param name="Subset">The ground truth evaluated.</param>
/// <param name="Images">The images evaluated.</param>
/// <param name="Classes">The number of classes K.</param>
/// <param name="AR">AR for each entry of <paramref name="MaxDetections"/> (all areas).</param>
/// <param name="ClassAP">AP of class k + 1 at index k (IoU .50:.05:.95, all areas, the largest max-detections); −1 without ground truth.</param>
/// <param name="ClassAP50">Likewise at IoU .50.</param>
/// <param name="ClassAR">Class k + 1's recall averaged over the thresholds (all areas, the largest max-detections); −1 without ground truth.</param>
/// <param name="MaxDetections">The detections kept per image and class (1, 10, 100).</param>
/// <param name="ClassNames">The names of the classes, label 1 first.</param>
/// <param name="Precision">pycocotools' <c>eval['precision']</c>: [threshold T=10, recall point R=101, class K, area A=4
/// (all, small, medium, large), max-detections M]; −1 where the class has no ground truth that counts.</param>
/// <param name="Recall">pycocotools' <c>eval['recall']</c>: [T, K, A, M].</param>
public sealed record CocoResult(
    GroundTruthSubset Subset,
    int Images,
    int Classes,
    double AP,
    double AP50,
    double AP75,
    double APs,
    double APm,
    double APl,
    IReadOnlyList<double> AR,
    double ARs,
    double ARm,
    double ARl,
    IReadOnlyList<double> ClassAP,
    IReadOnlyList<double> ClassAP50,
    IReadOnlyList<double> ClassAR,
    IReadOnlyList<int> MaxDetections,
    IReadOnlyList<string> ClassNames,
    double[,,,,] Precision,
    double[,,,] Recall)
{
    /// <summary>The summary numbers in pycocotools' <c>stats</c> order (with 1, 10, 100 max-detections, the same 12 values).</summary>
    public IReadOnlyList<double> Stats => [AP, AP50, AP75, APs, APm, APl, .. AR, ARs, ARm, ARl];

    /// <summary>Writes the values named in the type's summary, each prefixed (e.g. "val/").</summary>
    public void WriteTo(IDictionary<string, double> values, string prefix = "", bool perClass = true)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(prefix);
        values[prefix + "AP"] = AP;
        values[prefix + "AP50"] = AP50;
        values[prefix + "AP75"] = AP75;
        values[prefix + "APs"] = APs;
        values[prefix + "APm"] = APm;
        values[prefix + "APl"] = APl;
        for (var m = 0; m < AR.Count; m++) values[prefix + "AR" + MaxDetections[m].ToString(CultureInfo.InvariantCulture)] = AR[m];
        values[prefix + "ARs"] = ARs;
        values[prefix + "ARm"] = ARm;
        values[prefix + "ARl"] = ARl;
        if (!perClass) return;
        for (var k = 0; k < ClassAP.Count; k++) values[prefix + "AP_" + ClassNames[k]] = ClassAP[k];
    }

    /// <summary>The values <see cref="WriteTo"/> writes, in its order.</summary>
    public Dictionary<string, double> ToDictionary(string prefix = "", bool perClass = true)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        WriteTo(values, prefix, perClass);
        return values;
    }
}
