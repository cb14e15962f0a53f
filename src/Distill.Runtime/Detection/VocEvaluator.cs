using System.Globalization;

namespace Distill.Runtime;

/// <summary>
/// What <see cref="VocEvaluator.Compute"/> measured. <see cref="WriteTo"/> names the values (for the default IoU
/// threshold 0.5; another threshold t is written as <c>AP{100 t}</c>, e.g. <c>VOC_AP70</c>):
/// <list type="bullet">
/// <item><c>VOC_AP50</c>: the mean over classes of the area under the monotone precision envelope (VOC2010 and later);</item>
/// <item><c>VOC07_AP50</c>: the mean over classes of the 11-point interpolated AP (VOC2007);</item>
/// <item><c>VOC_AP50_{class}</c>: each class's area AP (NaN for a class without a non-difficult box).</item>
/// </list>
/// </summary>
/// <param name="Images">The images evaluated.</param>
/// <param name="IouThreshold">A detection matches a box at IoU ≥ this.</param>
/// <param name="PixelOffset">Added to widths and heights (1: the devkit's integer-pixel convention; 0: continuous).</param>
/// <param name="AP">The mean of <paramref name="ClassAP"/> over the classes with at least one non-difficult box; NaN when none has.</param>
/// <param name="AP07">Likewise of <paramref name="ClassAP07"/>.</param>
/// <param name="ClassAP">Class k + 1's area-under-envelope AP at index k; NaN without a non-difficult box.</param>
/// <param name="ClassAP07">Class k + 1's 11-point AP; NaN without a non-difficult box.</param>
/// <param name="Positives">Class k + 1's non-difficult boxes (the devkit's <c>npos</c>).</param>
/// <param name="ClassNames">The names of the classes, label 1 first.</param>
public sealed record VocResult(
    int Images,
    double IouThreshold,
    double PixelOffset,
    double AP,
    double AP07,
    IReadOnlyList<double> ClassAP,
    IReadOnlyList<double> ClassAP07,
    IReadOnlyList<int> Positives,
    IReadOnlyList<string> ClassNames)
{
    /// <summary>"AP50" for IoU 0.5, "AP70" for 0.7, "AP62.5" for 0.625.</summary>
    public string ApName => "AP" + (IouThreshold * 100).ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Writes the values named in the type's summary, each prefixed (e.g. "val/").</summary>
    public void WriteTo(IDictionary<string, double> values, string prefix = "", bool perClass = true)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(prefix);
        values[prefix + "VOC_" + ApName] = AP;
        values[prefix + "VOC07_" + ApName] = AP07;
        if (!perClass) return;
        for (var k = 0; k < ClassAP.Count; k++) values[prefix + "VOC_" + ApName + "_" + ClassNames[k]] = ClassAP[k];
    }

    /// <summary>The values <see cref="WriteTo"/> writes, in its order.</summary>
    public Dictionary<string, double> ToDictionary(string prefix = "", bool perClass = true)
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        WriteTo(values, prefix, perClass);
        return values;
    }
}

/// <summary>
/// PASCAL VOC detection AP as the VOC devkit computes it (docs/runtime.md, "Detection evaluation"). Per class, the
/// detections of every image are sorted by score (stable: equal scores keep the order added, images in the order
/// added); each in turn is compared with every box of its class in its image and takes the one of highest IoU (the
/// first of equal ones), matched or not, difficult or not. At IoU ≥ the threshold it is a true positive if that box
/// is neither difficult nor already taken (and takes it), a false positive if taken (a duplicate), and neither if
/// difficult; below the threshold, a false positive. Recall is over the non-difficult boxes. AP is the area under
/// the monotone precision envelope (VOC2010+) and the 11-point interpolation (VOC2007); the mAPs average the classes
/// that have a non-difficult box. As an <see cref="IMetric"/>, <see cref="WriteTo"/> computes and writes
/// <see cref="VocResult.WriteTo"/>'s names. Not thread-safe.
/// </summary>
public sealed class VocEvaluator : IMetric
{
    /// <summary>numpy's <c>np.finfo(np.float64).eps</c> = 2⁻⁵², the devkit's guard against 0 / 0 in precision (not .NET's <c>double.Epsilon</c>).</summary>
    private const double MachineEpsilon = 2.220446049250313e-16;

    private readonly List<DetectionImage> _images = new();
    private readonly string[] _classNames;

    /// <param name="classes">The number of classes K; labels are 1..K.</param>
    /// <param name="iouThreshold">The IoU a match needs (≥, as the devkit's <c>VOCevaldet.m</c>); in (0, 1].</param>
    /// <param name="pixelOffset">1: the devkit's convention for integer pixel boxes (a box from x1 to x2 is
    /// x2 − x1 + 1 wide, in areas and intersections); 0: continuous coordinates, as COCO's evaluation.</param>
    /// <param name="classNames">The classes' names for the per-class metric names (null: the labels).</param>
    public VocEvaluator(int classes, double iouThreshold = 0.5, double pixelOffset = 1, IReadOnlyList<string>? classNames = null)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "at least one class");
        if (!(iouThreshold > 0 && iouThreshold <= 1)) throw new ArgumentOutOfRangeException(nameof(iouThreshold), iouThreshold, "the IoU threshold must lie in (0, 1]");
        if (pixelOffset is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(pixelOffset), pixelOffset, "the pixel offset is 1 (the VOC devkit's integer pixel boxes) or 0 (continuous coordinates)");
        Classes = classes;
        IouThreshold = iouThreshold;
        PixelOffset = pixelOffset;
        _classNames = CocoEvaluator.ClassNamesOrLabels(classes, classNames, nameof(classNames));
    }

    public int Classes { get; }

    public double IouThreshold { get; }

    public double PixelOffset { get; }

    public IReadOnlyList<string> ClassNames => _classNames;

    /// <summary>The images added since the last <see cref="Reset"/>.</summary>
    public int Images => _images.Count;

    /// <summary>Whether <see cref="WriteTo"/> writes each class's AP besides the two mAPs (default true).</summary>
    public bool PerClassMetrics { get; init; } = true;

    /// <summary>
    /// Adds one image from tensors: detections <paramref name="boxes"/> [D, 4] (x1, y1, x2, y2), <paramref name="scores"/>
    /// [D], <paramref name="labels"/> [D] (integer, 1..K); ground truth <paramref name="gtBoxes"/> [G, 4],
    /// <paramref name="gtLabels"/> [G] and optionally <paramref name="gtDifficult"/> [G] (bool or integer; null: none).
    /// </summary>
    public void Add(Tensor boxes, Tensor scores, Tensor labels, Tensor gtBoxes, Tensor gtLabels, Tensor? gtDifficult = null) =>
        _images.Add(DetectionInput.FromTensors(_images.Count, Classes, boxes, scores, labels, gtBoxes, gtLabels, null, gtDifficult, "difficult", null));

    /// <summary>Adds one image from flat arrays (4 values per box); <paramref name="gtDifficult"/> empty means none is difficult.</summary>
    /// <exception cref="ArgumentException">As <see cref="CocoEvaluator.Add(ReadOnlySpan{double}, ReadOnlySpan{double}, ReadOnlySpan{long}, ReadOnlySpan{double}, ReadOnlySpan{long}, ReadOnlySpan{bool}, ReadOnlySpan{bool}, ReadOnlySpan{double})"/>.</exception>
    public void Add(
        ReadOnlySpan<double> boxes, ReadOnlySpan<double> scores, ReadOnlySpan<long> labels,
        ReadOnlySpan<double> gtBoxes, ReadOnlySpan<long> gtLabels, ReadOnlySpan<bool> gtDifficult = default) =>
        _images.Add(DetectionInput.FromSpans(_images.Count, Classes, boxes, scores, labels, gtBoxes, gtLabels, default, gtDifficult, "difficult", default));

    /// <summary>Forgets every image.</summary>
    public void Reset() => _images.Clear();

    /// <summary>Computes and writes VOC_AP50, VOC07_AP50 and the per-class APs (<see cref="VocResult.WriteTo"/>).</summary>
    public void WriteTo(IDictionary<string, double> values, string prefix = "") => Compute().WriteTo(values, prefix, PerClassMetrics);

    public void Dispose() => Reset();

    public VocResult Compute()
    {
        var K = Classes;
        var n = _images.Count;
        var detSplit = new (int[] Order, int[] Start)[n];
        var gtSplit = new (int[] Order, int[] Start)[n];
        for (var i = 0; i < n; i++)
        {
            detSplit[i] = DetectionImage.ByLabel(_images[i].Labels, K);
            gtSplit[i] = DetectionImage.ByLabel(_images[i].GtLabels, K);
        }

        var classAp = new double[K];
        var classAp07 = new double[K];
        var positives = new int[K];
        var taken = Array.Empty<bool>();
        var gtOffset = new int[n];
        var detImage = Array.Empty<int>();
        var detRow = Array.Empty<int>();
        var keys = Array.Empty<double>();
        var order = Array.Empty<int>();
        var tp = Array.Empty<double>();
        var fp = Array.Empty<double>();
        for (var k = 1; k <= K; k++)
        {
            // The class's boxes, numbered over all images, and its detections in the order added.
            var boxes = 0;
            var detections = 0;
            for (var i = 0; i < n; i++)
            {
                gtOffset[i] = boxes;
                boxes += gtSplit[i].Start[k] - gtSplit[i].Start[k - 1];
                detections += detSplit[i].Start[k] - detSplit[i].Start[k - 1];
                var (gOrder, gStart) = gtSplit[i];
                for (var j = gStart[k - 1]; j < gStart[k]; j++)
                    if (!_images[i].GtFlag[gOrder[j]]) positives[k - 1]++;
            }
            if (taken.Length < boxes) taken = new bool[boxes];
            Array.Clear(taken, 0, boxes);
            if (detImage.Length < detections)
            {
                detImage = new int[detections];
                detRow = new int[detections];
                keys = new double[detections];
                order = new int[detections];
                tp = new double[detections];
                fp = new double[detections];
            }
            var c = 0;
            for (var i = 0; i < n; i++)
            {
                var (dOrder, dStart) = detSplit[i];
                for (var j = dStart[k - 1]; j < dStart[k]; j++)
                {
                    detImage[c] = i;
                    detRow[c] = dOrder[j];
                    keys[c] = -_images[i].Scores[dOrder[j]];
                    order[c] = c;
                    c++;
                }
            }
            DetectionInput.SortStable(keys, order, detections);

            double tpSum = 0, fpSum = 0;
            for (var s = 0; s < detections; s++)
            {
                var image = _images[detImage[order[s]]];
                var i = detImage[order[s]];
                var b = 4 * detRow[order[s]];
                double x1 = image.Boxes[b], y1 = image.Boxes[b + 1], x2 = image.Boxes[b + 2], y2 = image.Boxes[b + 3];
                var (gOrder, gStart) = gtSplit[i];
                var best = double.NegativeInfinity;
                var bestIndex = -1;
                for (var j = gStart[k - 1]; j < gStart[k]; j++)
                {
                    var q = 4 * gOrder[j];
                    var o = Overlap(x1, y1, x2, y2, image.GtBoxes[q], image.GtBoxes[q + 1], image.GtBoxes[q + 2], image.GtBoxes[q + 3]);
                    if (o > best)
                    {
                        best = o;
                        bestIndex = j;
                    }
                }
                if (best >= IouThreshold)
                {
                    var slot = gtOffset[i] + (bestIndex - gStart[k - 1]);
                    if (!image.GtFlag[gOrder[bestIndex]])
                    {
                        if (!taken[slot])
                        {
                            taken[slot] = true;
                            tpSum++;
                        }
                        else fpSum++;
                    }
                }
                else fpSum++;
                tp[s] = tpSum;
                fp[s] = fpSum;
            }
            if (positives[k - 1] == 0)
            {
                classAp[k - 1] = classAp07[k - 1] = double.NaN;
                continue;
            }
            (classAp[k - 1], classAp07[k - 1]) = AveragePrecision(tp.AsSpan(0, detections), fp.AsSpan(0, detections), positives[k - 1]);
        }

        return new VocResult(n, IouThreshold, PixelOffset, MeanOfDefined(classAp), MeanOfDefined(classAp07), classAp, classAp07, positives, _classNames);
    }

    /// <summary>
    /// The devkit's overlap with widths and heights + <see cref="PixelOffset"/>: intersection / union, 0 when the boxes
    /// do not intersect.
    /// </summary>
    private double Overlap(double x1, double y1, double x2, double y2, double gx1, double gy1, double gx2, double gy2)
    {
        var o = PixelOffset;
        var iw = Math.Min(x2, gx2) - Math.Max(x1, gx1) + o;
        var ih = Math.Min(y2, gy2) - Math.Max(y1, gy1) + o;
        if (iw <= 0 || ih <= 0) return 0;
        var inter = iw * ih;
        return inter / ((x2 - x1 + o) * (y2 - y1 + o) + (gx2 - gx1 + o) * (gy2 - gy1 + o) - inter);
    }

    /// <summary>
    /// The area under the monotone envelope of precision against recall (points (0, ·) and (1, 0) added), and the
    /// 11-point AP: the mean over recall r = 0, 0.1, ..., 1 (i/10) of the highest precision at recall ≥ r (0 if none).
    /// </summary>
    internal static (double Area, double ElevenPoint) AveragePrecision(ReadOnlySpan<double> tp, ReadOnlySpan<double> fp, int positives)
    {
        var n = tp.Length;
        var rec = new double[n + 2];
        var prec = new double[n + 2];
        for (var i = 0; i < n; i++)
        {
            rec[i + 1] = tp[i] / positives;
            prec[i + 1] = tp[i] / Math.Max(tp[i] + fp[i], MachineEpsilon);
        }
        double eleven = 0;
        for (var t = 0; t <= 10; t++)
        {
            var threshold = t / 10.0;
            double p = 0;
            for (var i = 1; i <= n; i++)
                if (rec[i] >= threshold && prec[i] > p) p = prec[i];
            eleven += p / 11;
        }
        rec[0] = 0;
        prec[0] = 0;
        rec[n + 1] = 1;
        prec[n + 1] = 0;
        for (var i = n + 1; i > 0; i--)
            if (prec[i] > prec[i - 1]) prec[i - 1] = prec[i];
        double area = 0;
        for (var i = 0; i <= n; i++)
            if (rec[i + 1] != rec[i]) area += (rec[i + 1] - rec[i]) * prec[i + 1];
        return (area, eleven);
    }

    private static double MeanOfDefined(double[] values)
    {
        double sum = 0;
        var count = 0;
        foreach (var v in values)
            if (!double.IsNaN(v))
            {
                sum += v;
                count++;
            }
        return count == 0 ? double.NaN : sum / count;
    }
}
