using System.Globalization;

namespace Distill.Runtime;

/// <summary>
/// One image's detections and ground truth after validation, as the evaluators keep them: boxes as
/// (x1, y1, x2, y2) in float64, labels 1..K, flags expanded to one per ground-truth box.
/// </summary>
internal sealed class DetectionImage
{
    public required double[] Boxes { get; init; }      // [D * 4]
    public required double[] Scores { get; init; }     // [D]
    public required int[] Labels { get; init; }        // [D], 1..K
    public required double[] GtBoxes { get; init; }    // [G * 4]
    public required int[] GtLabels { get; init; }      // [G], 1..K
    public required bool[] GtCrowd { get; init; }      // [G]
    public required bool[] GtFlag { get; init; }       // [G]: "hard" (COCO) or "difficult" (VOC)
    public required double[] GtArea { get; init; }     // [G]: given, or the box area

    public int Detections => Scores.Length;
    public int GroundTruths => GtLabels.Length;

    /// <summary>
    /// Indices of the rows of each label, input order kept: rows of label k are
    /// <c>order[start[k - 1] .. start[k])</c> (a counting sort).
    /// </summary>
    public static (int[] Order, int[] Start) ByLabel(int[] labels, int classes)
    {
        var start = new int[classes + 1];
        foreach (var l in labels) start[l]++;
        for (var k = 1; k <= classes; k++) start[k] += start[k - 1];
        // start[k] now counts labels <= k; shift so start[k - 1] is where label k begins.
        var next = new int[classes + 1];
        Array.Copy(start, 0, next, 1, classes);
        var order = new int[labels.Length];
        for (var i = 0; i < labels.Length; i++) order[next[labels[i]]++] = i;
        return (order, start);
    }
}

/// <summary>Validation and conversion of one image's input, shared by <see cref="CocoEvaluator"/> and <see cref="VocEvaluator"/>.</summary>
internal static class DetectionInput
{
    /// <param name="flagName">What <paramref name="gtFlag"/> means ("hard", "difficult").</param>
    public static DetectionImage FromSpans(
        int image, int classes,
        ReadOnlySpan<double> boxes, ReadOnlySpan<double> scores, ReadOnlySpan<long> labels,
        ReadOnlySpan<double> gtBoxes, ReadOnlySpan<long> gtLabels,
        ReadOnlySpan<bool> gtCrowd, ReadOnlySpan<bool> gtFlag, string flagName, ReadOnlySpan<double> gtArea)
    {
        if (boxes.Length % 4 != 0)
            throw Error(image, $"the detection boxes have {boxes.Length} values, not a multiple of 4 (x1, y1, x2, y2 per box)", "boxes");
        var d = boxes.Length / 4;
        if (scores.Length != d)
            throw Error(image, $"there are {d} detection boxes but {scores.Length} scores; give one score per box", "scores");
        if (labels.Length != d)
            throw Error(image, $"there are {d} detection boxes but {labels.Length} labels; give one label per box", "labels");
        if (gtBoxes.Length % 4 != 0)
            throw Error(image, $"the ground-truth boxes have {gtBoxes.Length} values, not a multiple of 4 (x1, y1, x2, y2 per box)", "gtBoxes");
        var g = gtBoxes.Length / 4;
        if (gtLabels.Length != g)
            throw Error(image, $"there are {g} ground-truth boxes but {gtLabels.Length} labels; give one label per box", "gtLabels");
        if (!gtCrowd.IsEmpty && gtCrowd.Length != g)
            throw Error(image, $"there are {g} ground-truth boxes but {gtCrowd.Length} crowd flags; give one per box (or none: no crowd)", "gtCrowd");
        if (!gtFlag.IsEmpty && gtFlag.Length != g)
            throw Error(image, $"there are {g} ground-truth boxes but {gtFlag.Length} {flagName} flags; give one per box (or none: none is {flagName})", "gt" + char.ToUpperInvariant(flagName[0]) + flagName[1..]);
        if (!gtArea.IsEmpty && gtArea.Length != g)
            throw Error(image, $"there are {g} ground-truth boxes but {gtArea.Length} areas; give one per box (or none: the box areas)", "gtArea");

        CheckBoxes(image, boxes, "detection", "boxes");
        for (var i = 0; i < d; i++)
            if (!double.IsFinite(scores[i]))
                throw Error(image, $"detection {i} has score {JsonNumbers.Name(scores[i])}; every score must be finite", "scores");
        var outLabels = CheckLabels(image, labels, classes, "detection", "labels");
        CheckBoxes(image, gtBoxes, "ground-truth box", "gtBoxes");
        var outGtLabels = CheckLabels(image, gtLabels, classes, "ground-truth box", "gtLabels");

        var area = new double[g];
        for (var j = 0; j < g; j++)
        {
            if (gtArea.IsEmpty)
            {
                area[j] = (gtBoxes[4 * j + 2] - gtBoxes[4 * j]) * (gtBoxes[4 * j + 3] - gtBoxes[4 * j + 1]);
                continue;
            }
            if (!(gtArea[j] >= 0) || double.IsPositiveInfinity(gtArea[j]))
                throw Error(image, $"ground-truth box {j} has area {Format(gtArea[j])}; an area must be finite and not negative", "gtArea");
            area[j] = gtArea[j];
        }
        return new DetectionImage
        {
            Boxes = boxes.ToArray(),
            Scores = scores.ToArray(),
            Labels = outLabels,
            GtBoxes = gtBoxes.ToArray(),
            GtLabels = outGtLabels,
            GtCrowd = gtCrowd.IsEmpty ? new bool[g] : gtCrowd.ToArray(),
            GtFlag = gtFlag.IsEmpty ? new bool[g] : gtFlag.ToArray(),
            GtArea = area,
        };
    }

    /// <summary>
    /// Reads tensors (any device, any floating dtype for boxes, scores and areas; integer labels; bool or integer
    /// flags) and validates them as <see cref="FromSpans"/> does.
    /// </summary>
    public static DetectionImage FromTensors(
        int image, int classes,
        Tensor boxes, Tensor scores, Tensor labels, Tensor gtBoxes, Tensor gtLabels,
        Tensor? gtCrowd, Tensor? gtFlag, string flagName, Tensor? gtArea)
    {
        ArgumentNullException.ThrowIfNull(boxes);
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(gtBoxes);
        ArgumentNullException.ThrowIfNull(gtLabels);
        var b = BoxValues(image, boxes, "boxes", "detection boxes");
        var s = Vector<double>(image, scores, "scores", "detection scores", integer: false);
        var l = Vector<long>(image, labels, "labels", "detection labels", integer: true);
        var gb = BoxValues(image, gtBoxes, "gtBoxes", "ground-truth boxes");
        var gl = Vector<long>(image, gtLabels, "gtLabels", "ground-truth labels", integer: true);
        var crowd = gtCrowd is null ? [] : Flags(image, gtCrowd, "gtCrowd", "crowd flags");
        var flag = gtFlag is null ? [] : Flags(image, gtFlag, "gt" + char.ToUpperInvariant(flagName[0]) + flagName[1..], flagName + " flags");
        var area = gtArea is null ? [] : Vector<double>(image, gtArea, "gtArea", "ground-truth areas", integer: false);
        return FromSpans(image, classes, b, s, l, gb, gl, crowd, flag, flagName, area);
    }

    private static double[] BoxValues(int image, Tensor t, string param, string what)
    {
        var shape = t.shape;
        var ok = shape.Length == 2 && shape[1] == 4 || t.numel() == 0 && shape.Length <= 2;
        if (!ok)
            throw Error(image, $"the {what} must be a [N, 4] tensor (x1, y1, x2, y2 per row), got shape [{string.Join(", ", shape)}]", param);
        if (!t.is_floating_point())
            throw Error(image, $"the {what} must be a floating-point tensor, got {t.dtype}", param);
        return t.ToArray<double>();
    }

    private static T[] Vector<T>(int image, Tensor t, string param, string what, bool integer) where T : unmanaged
    {
        if (t.dim() != 1 && t.numel() != 0)
            throw Error(image, $"the {what} must be a vector [N], got shape [{string.Join(", ", t.shape)}]", param);
        if (integer && (t.is_floating_point() || t.dtype == ScalarType.Bool))
            throw Error(image, $"the {what} must be an integer tensor (class indices 1..K), got {t.dtype}", param);
        if (!integer && !t.is_floating_point())
            throw Error(image, $"the {what} must be a floating-point tensor, got {t.dtype}", param);
        return t.ToArray<T>();
    }

    private static bool[] Flags(int image, Tensor t, string param, string what)
    {
        if (t.dim() != 1 && t.numel() != 0)
            throw Error(image, $"the {what} must be a vector [N], got shape [{string.Join(", ", t.shape)}]", param);
        if (t.is_floating_point())
            throw Error(image, $"the {what} must be a bool or integer tensor, got {t.dtype}", param);
        return t.ToArray<bool>();
    }

    private static void CheckBoxes(int image, ReadOnlySpan<double> boxes, string what, string param)
    {
        for (var i = 0; i < boxes.Length / 4; i++)
        {
            var box = boxes.Slice(4 * i, 4);
            for (var c = 0; c < 4; c++)
                if (!double.IsFinite(box[c]))
                    throw Error(image, $"{what} {i} has box {Format(box)} with a non-finite {Coordinate(c)}; every coordinate must be finite", param);
            if (box[2] < box[0] || box[3] < box[1])
                throw Error(image, $"{what} {i} has box {Format(box)} with {(box[2] < box[0] ? "x2 < x1" : "y2 < y1")}; boxes are (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2 (zero width or height is allowed)", param);
        }
    }

    private static int[] CheckLabels(int image, ReadOnlySpan<long> labels, int classes, string what, string param)
    {
        var result = new int[labels.Length];
        for (var i = 0; i < labels.Length; i++)
        {
            if (labels[i] < 1 || labels[i] > classes)
                throw Error(image, $"{what} {i} has label {labels[i]}; labels are 1..{classes} (the evaluator's {classes} classes; 0 is the background, which has no boxes)", param);
            result[i] = (int)labels[i];
        }
        return result;
    }

    private static string Coordinate(int c) => c switch { 0 => "x1", 1 => "y1", 2 => "x2", _ => "y2" };

    private static string Format(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : JsonNumbers.Name(v);

    private static string Format(ReadOnlySpan<double> box) => $"({Format(box[0])}, {Format(box[1])}, {Format(box[2])}, {Format(box[3])})";

    private static ArgumentException Error(int image, string message, string param) => new($"image {image}: {message}", param);

    /// <summary>A stable sort of row indices by score, highest first (equal scores keep their index order, as numpy's mergesort of -score does).</summary>
    public static void SortByScoreDescending(int[] rows, int count, double[] scores, double[] keyBuffer)
    {
        if (count <= 1) return;
        if (count <= 24)
        {
            // Insertion sort: stable, and fastest for the handful of detections an image has per class.
            for (var i = 1; i < count; i++)
            {
                var r = rows[i];
                var s = scores[r];
                var j = i - 1;
                while (j >= 0 && scores[rows[j]] < s)
                {
                    rows[j + 1] = rows[j];
                    j--;
                }
                rows[j + 1] = r;
            }
            return;
        }
        for (var i = 0; i < count; i++) keyBuffer[i] = -scores[rows[i]];
        SortStable(keyBuffer, rows, count);
    }

    /// <summary>
    /// Sorts <paramref name="items"/> by <paramref name="keys"/> ascending; equal keys end in ascending item order
    /// (so, when the items are indices in input order, the sort is stable).
    /// </summary>
    public static void SortStable(double[] keys, int[] items, int count)
    {
        Array.Sort(keys, items, 0, count);
        for (var i = 0; i < count;)
        {
            var j = i + 1;
            while (j < count && keys[j] == keys[i]) j++;
            if (j - i > 1) Array.Sort(items, i, j - i);
            i = j;
        }
    }
}
