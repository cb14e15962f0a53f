using System.Globalization;

namespace Distill.Runtime;

/// <summary>Which ground truth <see cref="CocoEvaluator.Compute"/> evaluates on.</summary>
public enum GroundTruthSubset
{
    /// <summary>Every ground-truth box (crowd boxes ignored as always): pycocotools' protocol.</summary>
    All,

    /// <summary>
    /// Only the boxes flagged hard. The others are ignored the way pycocotools ignores a box outside the area range:
    /// a detection may match one (once), and is then neither a true nor a false positive; a detection that matches
    /// nothing stays a false positive.
    /// </summary>
    Hard,

    /// <summary>Only the boxes not flagged hard; the hard ones are ignored as in <see cref="Hard"/>.</summary>
    NotHard,
}

/// <summary>
/// The area ranges of COCO's APs/APm/APl and ARs/ARm/ARl, in squared pixels, bounds inclusive as in pycocotools:
/// all = [0, <paramref name="Max"/>], small = [0, <paramref name="Small"/>], medium = [<paramref name="Small"/>,
/// <paramref name="Medium"/>], large = [<paramref name="Medium"/>, <paramref name="Max"/>]. (A box of area exactly
/// 32² counts as small and as medium, as in pycocotools.)
/// </summary>
/// <param name="Small">The upper bound of "small" (COCO: 32² = 1024).</param>
/// <param name="Medium">The upper bound of "medium" (COCO: 96² = 9216).</param>
/// <param name="Max">The upper bound of "all" and "large" (COCO: 1e5² = 1e10).</param>
public sealed record CocoAreaRanges(double Small, double Medium, double Max = 1e10)
{
    /// <summary>The number of ranges: all, small, medium, large (the order of pycocotools' <c>areaRng</c>).</summary>
    public const int Count = 4;

    /// <summary>COCO's ranges: small below 32², medium below 96², for COCO's images (about 640 pixels on the long side).</summary>
    public static CocoAreaRanges Default { get; } = new(32 * 32, 96 * 96);

    /// <summary>
    /// COCO's ranges scaled to images of another size: the side lengths 32 and 96 are multiplied by
    /// <paramref name="side"/> / <paramref name="referenceSide"/> (640, COCO's typical long side) before squaring, so
    /// on 128-pixel images small is below 6.4² = 40.96 and medium below 19.2² = 368.64. The same objects, relative to
    /// the image, fall into the same range at any resolution.
    /// </summary>
    public static CocoAreaRanges ForImageSide(double side, double referenceSide = 640)
    {
        if (!(side > 0) || !double.IsFinite(side)) throw new ArgumentOutOfRangeException(nameof(side), side, "the image side must be a positive length in pixels");
        if (!(referenceSide > 0) || !double.IsFinite(referenceSide)) throw new ArgumentOutOfRangeException(nameof(referenceSide), referenceSide, "the reference side must be a positive length in pixels");
        var scale = side / referenceSide;
        return new CocoAreaRanges(32 * scale * (32 * scale), 96 * scale * (96 * scale));
    }

    /// <summary>The names of the ranges, in order: "all", "small", "medium", "large".</summary>
    public static IReadOnlyList<string> Names { get; } = ["all", "small", "medium", "large"];

    /// <summary>The bounds of range <paramref name="index"/> (0 all, 1 small, 2 medium, 3 large), both inclusive.</summary>
    public (double Low, double High) this[int index] => index switch
    {
        0 => (0, Max),
        1 => (0, Small),
        2 => (Small, Medium),
        3 => (Medium, Max),
        _ => throw new ArgumentOutOfRangeException(nameof(index), index, "0 all, 1 small, 2 medium, 3 large"),
    };

    internal void Validate()
    {
        if (!(Small > 0 && Small <= Medium && Medium <= Max) || double.IsInfinity(Max))
            throw new ArgumentException($"area ranges need 0 < Small <= Medium <= Max (finite), got Small {Small}, Medium {Medium}, Max {Max}", "areaRanges");
    }
}

/// <summary>
/// COCO-style box AP and AR, computed exactly as pycocotools' <c>COCOeval</c> does for <c>iouType='bbox'</c>
/// (docs/runtime.md, "Detection evaluation"). Add one image at a time (<see cref="Add(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor?, Tensor?, Tensor?)"/>
/// or the span overload), then <see cref="Compute"/>. Images are numbered 0, 1, ... in the order added; that order
/// is pycocotools' image id order (it decides between equal scores in different images).
/// <para>
/// The protocol, per class and image: the detections sorted by score (stable: equal scores keep their input order),
/// the first <c>maxDet</c> kept; at each IoU threshold .50:.05:.95 every detection in turn takes the unmatched
/// ground-truth box of highest IoU (≥ the threshold; equal IoUs go to the later box) among the boxes that count,
/// else among the ignored ones (crowd, outside the area range, outside the evaluated subset); crowd boxes can be
/// matched again and again. IoU is intersection / union with areas (x2 − x1)(y2 − y1) (no +1), and intersection /
/// detection area against a crowd box. A detection matched to an ignored box is ignored, and so is an unmatched one
/// whose area lies outside the range. Over all images (detections sorted by score, stable, in image order), the
/// precision at each recall is made monotone and read at 101 recall points (the first detection reaching each);
/// AP averages them over thresholds and over the classes with at least one counted ground-truth box — a class
/// without is −1 and left out, as pycocotools does. Recall is the last detection's, and AR its mean likewise.
/// </para>
/// <para>
/// As an <see cref="IMetric"/> (in a <see cref="MetricSet"/>), <see cref="WriteTo"/> computes each subset of
/// <see cref="MetricSubsets"/> (all ground truth by default) and writes <see cref="CocoResult.WriteTo"/>'s names, those of
/// a subset prefixed by <see cref="SubsetPrefix"/> (<c>hard_AP</c>, ...); <see cref="Reset"/> forgets the images. Not thread-safe.
/// </para>
/// </summary>
public sealed class CocoEvaluator : IMetric
{
    private const byte FalsePositive = 0, TruePositive = 1, Ignored = 2;

    /// <summary>pycocotools' <c>np.finfo(float).eps</c>-sized guard (<c>np.spacing(1)</c>) in the precision's denominator.</summary>
    private const double Spacing = 2.220446049250313e-16;

    private static readonly double[] s_iouThresholds = Linspace(0.5, 0.95, 10);
    private static readonly double[] s_recallThresholds = Linspace(0.0, 1.0, 101);

    private readonly List<DetectionImage> _images = new();
    private readonly int[] _maxDetections;
    private readonly string[] _classNames;

    /// <param name="classes">The number of classes K; labels are 1..K (0 is the background).</param>
    /// <param name="areaRanges">The area ranges (null: <see cref="CocoAreaRanges.Default"/>, COCO's for ~640-pixel images; see <see cref="CocoAreaRanges.ForImageSide"/>).</param>
    /// <param name="maxDetections">The detections kept per image and class, ascending (null: 1, 10, 100). AP uses the last.</param>
    /// <param name="classNames">The classes' names for the per-class metric names (null: the labels, "1".."K").</param>
    public CocoEvaluator(int classes, CocoAreaRanges? areaRanges = null, IReadOnlyList<int>? maxDetections = null, IReadOnlyList<string>? classNames = null)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "at least one class");
        Classes = classes;
        AreaRanges = areaRanges ?? CocoAreaRanges.Default;
        AreaRanges.Validate();
        _maxDetections = maxDetections is null ? [1, 10, 100] : maxDetections.ToArray();
        if (_maxDetections.Length == 0) throw new ArgumentException("give at least one maximum number of detections", nameof(maxDetections));
        for (var i = 0; i < _maxDetections.Length; i++)
            if (_maxDetections[i] < 1 || i > 0 && _maxDetections[i] <= _maxDetections[i - 1])
                throw new ArgumentException($"the maximum numbers of detections must be positive and ascending, got [{string.Join(", ", _maxDetections)}]", nameof(maxDetections));
        _classNames = ClassNamesOrLabels(classes, classNames, nameof(classNames));
    }

    /// <summary>COCO's IoU thresholds .50:.05:.95 as pycocotools makes them (<c>np.linspace(.5, .95, 10)</c>).</summary>
    public static IReadOnlyList<double> IouThresholds => s_iouThresholds;

    /// <summary>The 101 recall points 0:.01:1 as pycocotools makes them (<c>np.linspace(0, 1, 101)</c>).</summary>
    public static IReadOnlyList<double> RecallThresholds => s_recallThresholds;

    public int Classes { get; }

    public CocoAreaRanges AreaRanges { get; }

    public IReadOnlyList<int> MaxDetections => _maxDetections;

    public IReadOnlyList<string> ClassNames => _classNames;

    /// <summary>The images added since the last <see cref="Reset"/>.</summary>
    public int Images => _images.Count;

    /// <summary>The subsets <see cref="WriteTo"/> computes and writes (default: <see cref="GroundTruthSubset.All"/> only).</summary>
    public IReadOnlyList<GroundTruthSubset> MetricSubsets { get; init; } = [GroundTruthSubset.All];

    /// <summary>
    /// The threads <see cref="Compute"/> may use, one class per thread at a time (default 1: the caller's thread only).
    /// The result is the same for any count. On the shared 2-core development machine, under load, 2 threads were
    /// no faster (docs/runtime.md); give more on an idle many-core machine.
    /// </summary>
    public int MaxThreads { get; init; } = 1;

    /// <summary>Whether <see cref="WriteTo"/> writes each class's AP (<c>AP_{class}</c>) besides the summaries (default true).</summary>
    public bool PerClassMetrics { get; init; } = true;

    /// <summary>What <see cref="WriteTo"/> puts before a subset's names: "" for all, "hard_" and "not_hard_".</summary>
    public static string SubsetPrefix(GroundTruthSubset subset) => subset switch
    {
        GroundTruthSubset.Hard => "hard_",
        GroundTruthSubset.NotHard => "not_hard_",
        _ => "",
    };

    /// <summary>
    /// Adds one image from tensors (any device; copied to the host): detections <paramref name="boxes"/> [D, 4]
    /// (x1, y1, x2, y2, floating point), <paramref name="scores"/> [D], <paramref name="labels"/> [D] (integer, 1..K);
    /// ground truth <paramref name="gtBoxes"/> [G, 4], <paramref name="gtLabels"/> [G], and optionally
    /// <paramref name="gtCrowd"/> [G] and <paramref name="gtHard"/> [G] (bool or integer; null: all false) and
    /// <paramref name="gtArea"/> [G] (null: the box areas). Empty tensors are an image without detections or boxes.
    /// </summary>
    public void Add(Tensor boxes, Tensor scores, Tensor labels, Tensor gtBoxes, Tensor gtLabels, Tensor? gtCrowd = null, Tensor? gtHard = null, Tensor? gtArea = null) =>
        _images.Add(DetectionInput.FromTensors(_images.Count, Classes, boxes, scores, labels, gtBoxes, gtLabels, gtCrowd, gtHard, "hard", gtArea));

    /// <summary>
    /// Adds one image: detection <paramref name="boxes"/> as 4 values per box (x1, y1, x2, y2), one score and label
    /// (1..K) each; ground-truth boxes and labels likewise; crowd and hard flags and areas one per ground-truth box,
    /// or empty for all false / the box areas. Boxes may have zero width or height (such a detection overlaps
    /// nothing, as in pycocotools), not a negative one.
    /// </summary>
    /// <exception cref="ArgumentException">Mismatched lengths, a non-finite coordinate, score or area, x2 &lt; x1 or
    /// y2 &lt; y1, a label outside 1..K; the message names the image (its index) and the row.</exception>
    public void Add(
        ReadOnlySpan<double> boxes, ReadOnlySpan<double> scores, ReadOnlySpan<long> labels,
        ReadOnlySpan<double> gtBoxes, ReadOnlySpan<long> gtLabels,
        ReadOnlySpan<bool> gtCrowd = default, ReadOnlySpan<bool> gtHard = default, ReadOnlySpan<double> gtArea = default) =>
        _images.Add(DetectionInput.FromSpans(_images.Count, Classes, boxes, scores, labels, gtBoxes, gtLabels, gtCrowd, gtHard, "hard", gtArea));

    /// <summary>Forgets every image.</summary>
    public void Reset() => _images.Clear();

    /// <summary>
    /// Computes each of <see cref="MetricSubsets"/> and writes AP, AP50, ... (and the per-class APs unless
    /// <see cref="PerClassMetrics"/> is false), a subset's names after <paramref name="prefix"/> + <see cref="SubsetPrefix"/>.
    /// </summary>
    public void WriteTo(IDictionary<string, double> values, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(prefix);
        foreach (var subset in MetricSubsets) Compute(subset).WriteTo(values, prefix + SubsetPrefix(subset), PerClassMetrics);
    }

    public void Dispose() => Reset();

    /// <summary>Evaluates every image added, on the ground truth <paramref name="subset"/> selects.</summary>
    public CocoResult Compute(GroundTruthSubset subset = GroundTruthSubset.All)
    {
        const int T = 10, R = 101, A = CocoAreaRanges.Count;
        int K = Classes, M = _maxDetections.Length, maxDet = _maxDetections[^1];
        var precision = new double[T, R, K, A, M];
        var recall = new double[T, K, A, M];
        Fill(precision, -1);
        Fill(recall, -1);

        var n = _images.Count;
        var detSplit = new (int[] Order, int[] Start)[n];
        var gtSplit = new (int[] Order, int[] Start)[n];
        for (var i = 0; i < n; i++)
        {
            detSplit[i] = DetectionImage.ByLabel(_images[i].Labels, K);
            gtSplit[i] = DetectionImage.ByLabel(_images[i].GtLabels, K);
        }

        var ranges = new (double Low, double High)[A];
        for (var a = 0; a < A; a++) ranges[a] = AreaRanges[a];
        // Classes are independent (each writes only its own slice of precision and recall): one at a time per thread,
        // each thread with its own buffers. The result does not depend on the scheduling.
        Parallel.For(1, K + 1, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, MaxThreads) },
            () => (Work: new Workspace(), Category: new CategoryDetections()),
            (k, _, state) =>
            {
                var (work, category) = state;
                category.Clear();
                var counted = new int[A]; // ground-truth boxes that count, per area range (pycocotools' npig)
                for (var i = 0; i < n; i++)
                {
                    var (dOrder, dStart) = detSplit[i];
                    var (gOrder, gStart) = gtSplit[i];
                    int d0 = dStart[k - 1], dCount = dStart[k] - d0, g0 = gStart[k - 1], gCount = gStart[k] - g0;
                    if (dCount == 0 && gCount == 0) continue;
                    EvaluateImage(_images[i], dOrder.AsSpan(d0, dCount), gOrder.AsSpan(g0, gCount), maxDet, subset, ranges, counted, work, category);
                }
                Accumulate(k - 1, category, counted, precision, recall, work);
                return state;
            },
            _ => { });

        return Summarize(subset, precision, recall);
    }

    /// <summary>pycocotools' <c>evaluateImg</c> for one image and class, at every area range and threshold at once.</summary>
    private static void EvaluateImage(
        DetectionImage image, ReadOnlySpan<int> detRows, ReadOnlySpan<int> gtRows, int maxDet, GroundTruthSubset subset,
        (double Low, double High)[] ranges, int[] counted, Workspace w, CategoryDetections category)
    {
        const int T = 10, A = CocoAreaRanges.Count;
        var g = gtRows.Length;
        var rows = w.Rows(detRows.Length);
        detRows.CopyTo(rows);
        DetectionInput.SortByScoreDescending(rows, detRows.Length, image.Scores, w.Keys(detRows.Length));
        var d = Math.Min(detRows.Length, maxDet);

        // Ground truth of this class: box, crowd flag, area, whether the evaluated subset holds it.
        var gtBox = w.GtBoxes(g);
        var crowd = w.Crowd(g);
        var area = w.GtArea(g);
        var inSubset = w.InSubset(g);
        for (var j = 0; j < g; j++)
        {
            var r = gtRows[j];
            for (var c = 0; c < 4; c++) gtBox[4 * j + c] = image.GtBoxes[4 * r + c];
            crowd[j] = image.GtCrowd[r];
            area[j] = image.GtArea[r];
            inSubset[j] = subset switch
            {
                GroundTruthSubset.Hard => image.GtFlag[r],
                GroundTruthSubset.NotHard => !image.GtFlag[r],
                _ => true,
            };
        }

        // IoU of every kept detection (score order) with every box (input order): maskApi's bbIou on (x1, y1, x2, y2).
        var iou = w.Iou(d * g);
        var detArea = w.DetArea(d);
        for (var i = 0; i < d; i++)
        {
            var b = 4 * rows[i];
            double x1 = image.Boxes[b], y1 = image.Boxes[b + 1], x2 = image.Boxes[b + 2], y2 = image.Boxes[b + 3];
            var da = (x2 - x1) * (y2 - y1);
            detArea[i] = da;
            var row = iou.AsSpan(i * g, g);
            for (var j = 0; j < g; j++)
            {
                var q = 4 * j;
                var iw = Math.Min(x2, gtBox[q + 2]) - Math.Max(x1, gtBox[q]);
                var ih = Math.Min(y2, gtBox[q + 3]) - Math.Max(y1, gtBox[q + 1]);
                if (iw <= 0 || ih <= 0)
                {
                    row[j] = 0;
                    continue;
                }
                var inter = iw * ih;
                var ga = (gtBox[q + 2] - gtBox[q]) * (gtBox[q + 3] - gtBox[q + 1]);
                row[j] = inter / (crowd[j] ? da : da + ga - inter);
            }
        }

        var first = category.Append(image.Scores, rows, d);
        var ignore = w.Ignore(g);
        var gtOrder = w.GtOrder(g);
        var matched = w.Matched(g);
        for (var a = 0; a < A; a++)
        {
            var (low, high) = ranges[a];
            // Boxes that count first, then the ignored ones, each in input order (pycocotools' mergesort on _ignore).
            var next = 0;
            for (var j = 0; j < g; j++)
            {
                ignore[j] = crowd[j] || !inSubset[j] || area[j] < low || area[j] > high;
                if (!ignore[j]) gtOrder[next++] = j;
            }
            counted[a] += next;
            for (var j = 0; j < g; j++)
                if (ignore[j]) gtOrder[next++] = j;

            for (var t = 0; t < T; t++)
            {
                var threshold = Math.Min(s_iouThresholds[t], 1 - 1e-10);
                Array.Clear(matched, 0, g);
                for (var i = 0; i < d; i++)
                {
                    var best = threshold;
                    var m = -1;
                    var row = iou.AsSpan(i * g, g);
                    for (var o = 0; o < g; o++)
                    {
                        var j = gtOrder[o];
                        if (matched[j] && !crowd[j]) continue;
                        if (m > -1 && !ignore[m] && ignore[j]) break; // matched a box that counts; only ignored ones follow
                        if (row[j] < best) continue;
                        best = row[j];
                        m = j;
                    }
                    byte status;
                    if (m >= 0)
                    {
                        matched[m] = true;
                        status = ignore[m] ? Ignored : TruePositive;
                    }
                    else status = detArea[i] < low || detArea[i] > high ? Ignored : FalsePositive;
                    category.Status[((first + i) * A + a) * T + t] = status;
                }
            }
        }
    }

    /// <summary>pycocotools' <c>accumulate</c> for one class: precision at the 101 recall points and the final recall.</summary>
    private void Accumulate(int k, CategoryDetections category, int[] counted, double[,,,,] precision, double[,,,] recall, Workspace w)
    {
        const int T = 10, R = 101, A = CocoAreaRanges.Count;
        var n = category.Count;
        // All the class's detections by score, stable: the order appended (images ascending, score order within one).
        var order = w.Order(n);
        var keys = w.SortKeys(n);
        for (var i = 0; i < n; i++)
        {
            order[i] = i;
            keys[i] = -category.Scores[i];
        }
        DetectionInput.SortStable(keys, order, n);

        // The statuses and ranks in that order, so the passes below read memory sequentially.
        const int stride = A * T;
        var status = w.SortedStatus(n * stride);
        var ranks = w.SortedRanks(n);
        for (var s = 0; s < n; s++)
        {
            var i = order[s];
            ranks[s] = category.Ranks[i];
            Array.Copy(category.Status, i * stride, status, s * stride, stride);
        }

        // One pass per (area, maxDet) fills every threshold's recall and precision rows: row t is [t * n, t * n + nd).
        var pr = w.Precision(T * n);
        var rc = w.Recall(T * n);
        Span<double> tp = stackalloc double[T];
        Span<double> fp = stackalloc double[T];
        for (var a = 0; a < A; a++)
        {
            if (counted[a] == 0) continue; // no box counts: -1, left out of every mean
            double npig = counted[a];
            for (var m = 0; m < _maxDetections.Length; m++)
            {
                var maxDet = _maxDetections[m];
                tp.Clear();
                fp.Clear();
                var nd = 0;
                for (var s = 0; s < n; s++)
                {
                    if (ranks[s] >= maxDet) continue;
                    var row = status.AsSpan(s * stride + a * T, T);
                    for (var t = 0; t < T; t++)
                    {
                        if (row[t] == TruePositive) tp[t]++;
                        else if (row[t] == FalsePositive) fp[t]++;
                        rc[t * n + nd] = tp[t] / npig;
                        pr[t * n + nd] = tp[t] / (fp[t] + tp[t] + Spacing);
                    }
                    nd++;
                }
                for (var t = 0; t < T; t++)
                {
                    var rcT = rc.AsSpan(t * n, nd);
                    var prT = pr.AsSpan(t * n, nd);
                    recall[t, k, a, m] = nd > 0 ? rcT[nd - 1] : 0;
                    for (var i = nd - 1; i > 0; i--)
                        if (prT[i] > prT[i - 1]) prT[i - 1] = prT[i];
                    // np.searchsorted(rc, recThrs, side='left'): the first detection whose recall reaches each point.
                    var p = 0;
                    for (var r = 0; r < R; r++)
                    {
                        var target = s_recallThresholds[r];
                        while (p < nd && rcT[p] < target) p++;
                        precision[t, r, k, a, m] = p < nd ? prT[p] : 0;
                    }
                }
            }
        }
    }

    private CocoResult Summarize(GroundTruthSubset subset, double[,,,,] precision, double[,,,] recall)
    {
        const int T = 10;
        var last = _maxDetections.Length - 1;
        var t75 = Array.IndexOf(s_iouThresholds, 0.75);
        var classAp = new double[Classes];
        var classAp50 = new double[Classes];
        var classAr = new double[Classes];
        for (var k = 0; k < Classes; k++)
        {
            classAp[k] = MeanPrecision(precision, 0, T, k, k + 1, 0, last);
            classAp50[k] = MeanPrecision(precision, 0, 1, k, k + 1, 0, last);
            classAr[k] = MeanRecall(recall, k, k + 1, 0, last);
        }
        var ar = new double[_maxDetections.Length];
        for (var m = 0; m < ar.Length; m++) ar[m] = MeanRecall(recall, 0, Classes, 0, m);
        return new CocoResult(
            subset, _images.Count, Classes,
            AP: MeanPrecision(precision, 0, T, 0, Classes, 0, last),
            AP50: MeanPrecision(precision, 0, 1, 0, Classes, 0, last),
            AP75: MeanPrecision(precision, t75, t75 + 1, 0, Classes, 0, last),
            APs: MeanPrecision(precision, 0, T, 0, Classes, 1, last),
            APm: MeanPrecision(precision, 0, T, 0, Classes, 2, last),
            APl: MeanPrecision(precision, 0, T, 0, Classes, 3, last),
            AR: ar,
            ARs: MeanRecall(recall, 0, Classes, 1, last),
            ARm: MeanRecall(recall, 0, Classes, 2, last),
            ARl: MeanRecall(recall, 0, Classes, 3, last),
            ClassAP: classAp,
            ClassAP50: classAp50,
            ClassAR: classAr,
            MaxDetections: _maxDetections.ToArray(),
            ClassNames: _classNames,
            Precision: precision,
            Recall: recall);
    }

    /// <summary>np.mean(s[s &gt; -1]) over thresholds [t0, t1), every recall point, classes [k0, k1); -1 when nothing counts.</summary>
    private static double MeanPrecision(double[,,,,] precision, int t0, int t1, int k0, int k1, int a, int m)
    {
        double sum = 0;
        long count = 0;
        for (var t = t0; t < t1; t++)
            for (var r = 0; r < precision.GetLength(1); r++)
                for (var k = k0; k < k1; k++)
                {
                    var v = precision[t, r, k, a, m];
                    if (v > -1)
                    {
                        sum += v;
                        count++;
                    }
                }
        return count == 0 ? -1 : sum / count;
    }

    /// <summary>np.mean(s[s &gt; -1]) of recall over every threshold and classes [k0, k1); -1 when nothing counts.</summary>
    private static double MeanRecall(double[,,,] recall, int k0, int k1, int a, int m)
    {
        double sum = 0;
        long count = 0;
        for (var t = 0; t < recall.GetLength(0); t++)
            for (var k = k0; k < k1; k++)
            {
                var v = recall[t, k, a, m];
                if (v > -1)
                {
                    sum += v;
                    count++;
                }
            }
        return count == 0 ? -1 : sum / count;
    }

    /// <summary>numpy's <c>linspace(start, stop, num)</c> bit for bit: <c>i * ((stop - start) / (num - 1)) + start</c>, the last exactly <paramref name="stop"/>.</summary>
    internal static double[] Linspace(double start, double stop, int num)
    {
        var step = (stop - start) / (num - 1);
        var y = new double[num];
        for (var i = 0; i < num; i++) y[i] = i * step + start;
        y[^1] = stop;
        return y;
    }

    internal static string[] ClassNamesOrLabels(int classes, IReadOnlyList<string>? names, string param)
    {
        if (names is null) return Enumerable.Range(1, classes).Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray();
        if (names.Count != classes) throw new ArgumentException($"there are {classes} classes but {names.Count} class names; give one name per label 1..{classes}", param);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a class name is empty", param);
            if (!seen.Add(name)) throw new ArgumentException($"the class name '{name}' appears twice", param);
        }
        return names.ToArray();
    }

    private static void Fill(Array array, double value)
    {
        // Multi-dimensional arrays of double: fill through a flat view of their storage.
        var span = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(
            ref System.Runtime.CompilerServices.Unsafe.As<byte, double>(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(array)),
            array.Length);
        span.Fill(value);
    }

    /// <summary>One class's kept detections over all images, in the order appended (images ascending, scores descending).</summary>
    private sealed class CategoryDetections
    {
        public double[] Scores = new double[256];
        public int[] Ranks = new int[256];
        public byte[] Status = new byte[256 * CocoAreaRanges.Count * 10]; // [detection, area, threshold]
        public int Count;

        public void Clear() => Count = 0;

        /// <summary>Appends the first <paramref name="d"/> of <paramref name="rows"/> (score order); returns the index of the first.</summary>
        public int Append(double[] scores, int[] rows, int d)
        {
            var first = Count;
            if (Count + d > Scores.Length)
            {
                var size = Math.Max(Count + d, 2 * Scores.Length);
                Array.Resize(ref Scores, size);
                Array.Resize(ref Ranks, size);
                Array.Resize(ref Status, size * CocoAreaRanges.Count * 10);
            }
            for (var i = 0; i < d; i++)
            {
                Scores[Count + i] = scores[rows[i]];
                Ranks[Count + i] = i;
            }
            Count += d;
            return first;
        }
    }

    /// <summary>Buffers reused across images and classes (no allocation per image in the steady state).</summary>
    private sealed class Workspace
    {
        private int[] _rows = [], _gtOrder = [], _order = [], _sortedRanks = [];
        private byte[] _sortedStatus = [];
        private double[] _keys = [], _gtBoxes = [], _gtArea = [], _iou = [], _detArea = [], _sortKeys = [], _precision = [], _recall = [];
        private bool[] _crowd = [], _inSubset = [], _ignore = [], _matched = [];

        public int[] Rows(int n) => Grow(ref _rows, n);
        public double[] Keys(int n) => Grow(ref _keys, n);
        public double[] GtBoxes(int n) => Grow(ref _gtBoxes, 4 * n);
        public bool[] Crowd(int n) => Grow(ref _crowd, n);
        public double[] GtArea(int n) => Grow(ref _gtArea, n);
        public bool[] InSubset(int n) => Grow(ref _inSubset, n);
        public double[] Iou(int n) => Grow(ref _iou, n);
        public double[] DetArea(int n) => Grow(ref _detArea, n);
        public bool[] Ignore(int n) => Grow(ref _ignore, n);
        public int[] GtOrder(int n) => Grow(ref _gtOrder, n);
        public bool[] Matched(int n) => Grow(ref _matched, n);
        public int[] Order(int n) => Grow(ref _order, n);
        public double[] SortKeys(int n) => Grow(ref _sortKeys, n);
        public double[] Precision(int n) => Grow(ref _precision, n);
        public double[] Recall(int n) => Grow(ref _recall, n);
        public byte[] SortedStatus(int n) => Grow(ref _sortedStatus, n);
        public int[] SortedRanks(int n) => Grow(ref _sortedRanks, n);

        private static T[] Grow<T>(ref T[] buffer, int n)
        {
            if (buffer.Length < n) buffer = new T[Math.Max(n, 2 * buffer.Length)];
            return buffer;
        }
    }
}
