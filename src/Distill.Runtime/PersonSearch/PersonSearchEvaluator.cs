using System.Globalization;

namespace Distill.Runtime;

/// <summary>
/// What <see cref="PersonSearchEvaluator.Compute"/> measured: search mAP and top-k over the queries, and the detector's AP and
/// recall over the gallery images.
/// </summary>
/// <param name="MeanAP">The mean over queries of each query's AP × its recall (OIM's search mAP).</param>
/// <param name="TopK">For each k, the fraction of queries with a correct match among the k most similar detections.</param>
/// <param name="DetectionAP">AP of the kept detections against every gallery person box, × <paramref name="DetectionRecall"/>.</param>
/// <param name="DetectionRecall">The gallery person boxes matched by a kept detection, over all of them.</param>
/// <param name="QueryAP">Each query's AP × recall, in the order added.</param>
public sealed record PersonSearchResult(
    int Queries,
    int GalleryImages,
    double MeanAP,
    IReadOnlyList<(int K, double Accuracy)> TopK,
    double DetectionAP,
    double DetectionRecall,
    IReadOnlyList<double> QueryAP)
{
    /// <summary>Writes <c>mAP</c>, <c>top1</c>, <c>top5</c>, …, <c>det_AP</c>, <c>det_recall</c>, each prefixed (e.g. "val_").</summary>
    public void WriteTo(IDictionary<string, double> values, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(prefix);
        values[prefix + "mAP"] = MeanAP;
        foreach (var (k, accuracy) in TopK) values[prefix + "top" + k.ToString(CultureInfo.InvariantCulture)] = accuracy;
        values[prefix + "det_AP"] = DetectionAP;
        values[prefix + "det_recall"] = DetectionRecall;
    }
}

/// <summary>
/// The standard person-search evaluation (docs/runtime.md, "Person search evaluation"), as the released OIM code computes it
/// for CUHK-SYSU and PRW. The detector runs on every gallery image; its detections scoring below the detection threshold
/// (0.5) are dropped. For a query (its embedding, from the query box in the query image) and its gallery (the protocol's
/// images, each with the query person's box there or none):
/// <list type="bullet">
/// <item>every kept detection of every gallery image is scored by the cosine similarity of its embedding to the query's;</item>
/// <item>in an image that holds the query person, the most similar detection whose IoU with the person's box reaches
/// <c>min(0.5, w·h / ((w + 10)(h + 10)))</c> (lower for small boxes) is the one true match, every other detection false;</item>
/// <item>the query's AP is scikit-learn's <c>average_precision_score</c> over all those detections (the precision at each
/// distinct score, weighted by the recall it adds), times its recall: matched images over the images holding the person
/// (0 when none is matched); top-k: whether a true match is among the k most similar detections.</item>
/// </list>
/// Detection: per gallery image, a kept detection and a person box match when each is the other's highest-IoU partner and the
/// IoU reaches the IoU threshold (0.5); AP over all kept detections times the recall of the person boxes. Ties in a sort:
/// among equal scores the one added later comes first (a stable ascending sort reversed; the released code's numpy
/// quicksort leaves exact ties unspecified, which only top-k can feel). Not thread-safe.
/// </summary>
public sealed class PersonSearchEvaluator
{
    private readonly Dictionary<string, GalleryImage> _gallery = new(StringComparer.Ordinal);
    private readonly List<Query> _queries = [];
    private readonly int[] _topK;

    /// <param name="embeddingSize">The length of every embedding (256 for OIM's head).</param>
    /// <param name="detectionThreshold">Detections scoring below this are dropped (0.5, the released evaluation's).</param>
    /// <param name="iouThreshold">The IoU a detection needs to match a gallery person box in the detection metrics (0.5).</param>
    /// <param name="topK">The k of the top-k accuracies (1, 5, 10).</param>
    public PersonSearchEvaluator(int embeddingSize, double detectionThreshold = 0.5, double iouThreshold = 0.5, IReadOnlyList<int>? topK = null)
    {
        if (embeddingSize < 1) throw new ArgumentOutOfRangeException(nameof(embeddingSize), embeddingSize, "an embedding has at least one value");
        if (!double.IsFinite(detectionThreshold)) throw new ArgumentOutOfRangeException(nameof(detectionThreshold), detectionThreshold, "must be finite");
        if (!(iouThreshold > 0 && iouThreshold <= 1)) throw new ArgumentOutOfRangeException(nameof(iouThreshold), iouThreshold, "the IoU threshold must lie in (0, 1]");
        _topK = (topK ?? [1, 5, 10]).ToArray();
        if (_topK.Length == 0 || _topK.Any(k => k < 1)) throw new ArgumentException("top-k needs one or more k >= 1", nameof(topK));
        EmbeddingSize = embeddingSize;
        DetectionThreshold = detectionThreshold;
        IouThreshold = iouThreshold;
    }

    public int EmbeddingSize { get; }
    public double DetectionThreshold { get; }
    public double IouThreshold { get; }

    /// <summary>The query person's box (x1, y1, x2, y2) in one image of a query's gallery, or null when the person is not there.</summary>
    public sealed record GalleryEntry(string Image, double[]? Box);

    /// <summary>
    /// Adds gallery image <paramref name="name"/>: the detector's <paramref name="boxes"/> (4 values each, x1 y1 x2 y2),
    /// <paramref name="scores"/> and <paramref name="embeddings"/> (<see cref="EmbeddingSize"/> values each), and the image's
    /// ground-truth person boxes <paramref name="personBoxes"/> (labelled or not) for the detection metrics.
    /// </summary>
    public void AddGalleryImage(string name, ReadOnlySpan<double> boxes, ReadOnlySpan<double> scores, ReadOnlySpan<float> embeddings, ReadOnlySpan<double> personBoxes)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (_gallery.ContainsKey(name)) throw new ArgumentException($"gallery image '{name}' was added twice", nameof(name));
        var n = scores.Length;
        if (boxes.Length != 4 * n) throw new ArgumentException($"gallery image '{name}': {boxes.Length} box values for {n} scores (4 a detection)", nameof(boxes));
        if (embeddings.Length != EmbeddingSize * n)
            throw new ArgumentException($"gallery image '{name}': {embeddings.Length} embedding values for {n} detections ({EmbeddingSize} a detection)", nameof(embeddings));
        if (personBoxes.Length % 4 != 0) throw new ArgumentException($"gallery image '{name}': {personBoxes.Length} person box values, not 4 a box", nameof(personBoxes));
        // Annotated person boxes may be empty (PRW keeps a few of zero width): they match nothing, as in the released code.
        CheckBoxes(personBoxes, $"gallery image '{name}': person box", nameof(personBoxes), allowEmpty: true);
        var kept = new List<int>();
        for (var i = 0; i < n; i++)
        {
            if (!double.IsFinite(scores[i])) throw new ArgumentException($"gallery image '{name}': detection {i} has the score {scores[i]}", nameof(scores));
            if (scores[i] < DetectionThreshold) continue;
            CheckBoxes(boxes.Slice(4 * i, 4), $"gallery image '{name}': detection", nameof(boxes), first: i);
            kept.Add(i);
        }
        var keptBoxes = new double[4 * kept.Count];
        var keptScores = new double[kept.Count];
        var keptEmbeddings = new double[kept.Count][];
        for (var j = 0; j < kept.Count; j++)
        {
            var i = kept[j];
            boxes.Slice(4 * i, 4).CopyTo(keptBoxes.AsSpan(4 * j));
            keptScores[j] = scores[i];
            keptEmbeddings[j] = Normalized(embeddings.Slice(EmbeddingSize * i, EmbeddingSize), $"gallery image '{name}': detection {i}'s embedding", nameof(embeddings));
        }
        _gallery[name] = new GalleryImage(keptBoxes, keptScores, keptEmbeddings, personBoxes.ToArray());
    }

    /// <summary>
    /// <see cref="AddGalleryImage(string, ReadOnlySpan{double}, ReadOnlySpan{double}, ReadOnlySpan{float}, ReadOnlySpan{double})"/>
    /// from a detector's tensors on any device: <paramref name="boxes"/> [D, 4], <paramref name="scores"/> [D],
    /// <paramref name="embeddings"/> [D, E], <paramref name="personBoxes"/> [G, 4], all floating point.
    /// </summary>
    public void AddGalleryImage(string name, Tensor boxes, Tensor scores, Tensor embeddings, Tensor personBoxes)
    {
        ArgumentNullException.ThrowIfNull(name);
        var what = $"gallery image '{name}'";
        AddGalleryImage(name, Values<double>(boxes, 4, what, "detection boxes", nameof(boxes)), Values<double>(scores, 0, what, "scores", nameof(scores)),
            Values<float>(embeddings, EmbeddingSize, what, "embeddings", nameof(embeddings)), Values<double>(personBoxes, 4, what, "person boxes", nameof(personBoxes)));
    }

    /// <summary><see cref="AddQuery(string, ReadOnlySpan{float}, IReadOnlyList{GalleryEntry})"/> with the query's embedding as a tensor ([E] or [1, E]).</summary>
    public void AddQuery(string image, Tensor embedding, IReadOnlyList<GalleryEntry> gallery)
    {
        ArgumentNullException.ThrowIfNull(embedding);
        AddQuery(image, Values<float>(embedding, -1, $"query image '{image}'", "embedding", nameof(embedding)), gallery);
    }

    /// <summary>
    /// A tensor's values on the host: rows of <paramref name="width"/> ([N, width]; an empty tensor is no row), a vector
    /// (0), or any floating-point tensor of one row (-1).
    /// </summary>
    private static T[] Values<T>(Tensor t, int width, string owner, string what, string parameter) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(t, parameter);
        var shape = t.shape;
        var ok = width switch
        {
            0 => shape.Length == 1,
            -1 => shape.Length == 1 || shape.Length == 2 && shape[0] == 1,
            _ => shape.Length == 2 && shape[1] == width || t.numel() == 0,
        };
        var expected = width switch { 0 => "[N]", -1 => "[E] or [1, E]", _ => $"[N, {width.ToString(CultureInfo.InvariantCulture)}]" };
        if (!ok) throw new ArgumentException($"{owner}: the {what} must be a {expected} tensor, got shape [{string.Join(", ", shape)}]", parameter);
        if (!t.is_floating_point()) throw new ArgumentException($"{owner}: the {what} must be floating point, got {t.dtype}", parameter);
        using var host = t.detach();
        return host.ToArray<T>();
    }

    /// <summary>
    /// Adds a query: its image <paramref name="image"/> (which its gallery must not hold), its <paramref name="embedding"/>,
    /// and its <paramref name="gallery"/> as the protocol defines it (every image added with <see cref="AddGalleryImage"/> by
    /// the time of <see cref="Compute"/>; at least one holding the person).
    /// </summary>
    public void AddQuery(string image, ReadOnlySpan<float> embedding, IReadOnlyList<GalleryEntry> gallery)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(gallery);
        var what = $"query {_queries.Count.ToString(CultureInfo.InvariantCulture)} (image '{image}')";
        if (embedding.Length != EmbeddingSize) throw new ArgumentException($"{what}: an embedding of {embedding.Length} values, not {EmbeddingSize}", nameof(embedding));
        if (gallery.Count == 0) throw new ArgumentException($"{what}: its gallery is empty", nameof(gallery));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in gallery)
        {
            ArgumentNullException.ThrowIfNull(entry, nameof(gallery));
            if (entry.Image == image) throw new ArgumentException($"{what}: its gallery holds the query's own image", nameof(gallery));
            if (!seen.Add(entry.Image)) throw new ArgumentException($"{what}: its gallery lists '{entry.Image}' twice", nameof(gallery));
            if (entry.Box is { } box)
            {
                if (box.Length != 4) throw new ArgumentException($"{what}: the person's box in '{entry.Image}' has {box.Length} values, not 4", nameof(gallery));
                CheckBoxes(box, $"{what}: the person's box in '{entry.Image}'", nameof(gallery));
            }
        }
        if (gallery.All(e => e.Box is null)) throw new ArgumentException($"{what}: no image of its gallery holds the query person", nameof(gallery));
        _queries.Add(new Query(image, Normalized(embedding, $"{what}: the embedding", nameof(embedding)), gallery.ToArray()));
    }

    /// <summary>The metrics over every query and gallery image added.</summary>
    public PersonSearchResult Compute()
    {
        if (_queries.Count == 0) throw new InvalidOperationException("no query was added");
        var queryAP = new double[_queries.Count];
        var hits = new double[_topK.Length];
        for (var q = 0; q < _queries.Count; q++)
        {
            var (ap, found) = Search(q);
            queryAP[q] = ap;
            for (var k = 0; k < _topK.Length; k++) hits[k] += found.Take(_topK[k]).Any(t => t) ? 1 : 0;
        }
        var (detectionAP, recall) = Detection();
        return new PersonSearchResult(_queries.Count, _gallery.Count, queryAP.Average(),
            _topK.Select((k, i) => (k, hits[i] / _queries.Count)).ToArray(), detectionAP, recall, queryAP);
    }

    /// <summary>Query <paramref name="q"/>'s AP × recall, and its detections' true/false flags from the most similar down.</summary>
    private (double AP, bool[] Ranked) Search(int q)
    {
        var query = _queries[q];
        var scores = new List<double>();
        var truth = new List<bool>();
        int holding = 0, matched = 0;
        foreach (var entry in query.Gallery)
        {
            if (!_gallery.TryGetValue(entry.Image, out var g))
                throw new InvalidOperationException($"query {q.ToString(CultureInfo.InvariantCulture)} (image '{query.Image}'): gallery image '{entry.Image}' was never added");
            if (entry.Box is not null) holding++;
            if (g.Scores.Length == 0) continue;
            var sims = g.Embeddings.Select(e => Dot(e, query.Embedding)).ToArray();
            var order = Descending(sims);
            var labels = new bool[order.Length];
            if (entry.Box is { } box)
            {
                var (w, h) = (box[2] - box[0], box[3] - box[1]);
                var threshold = Math.Min(0.5, w * h / ((w + 10) * (h + 10)));
                for (var j = 0; j < order.Length; j++)
                    if (Iou(g.Boxes, order[j], box, 0) >= threshold)
                    {
                        labels[j] = true;
                        matched++;
                        break;
                    }
            }
            foreach (var j in order) scores.Add(sims[j]);
            truth.AddRange(labels);
        }
        var ranked = Descending(scores).Select(i => truth[i]).ToArray();
        var ap = matched == 0 ? 0 : AveragePrecision(scores, truth) * matched / holding;
        return (ap, ranked);
    }

    /// <summary>The detection metrics alone (AP × recall, and recall) over the gallery images added; needs no query.</summary>
    public (double AP, double Recall) DetectionMetrics() => Detection();

    /// <summary>AP × recall of the kept detections against the gallery person boxes, and that recall (OIM's eval_detection).</summary>
    private (double AP, double Recall) Detection()
    {
        var scores = new List<double>();
        var truth = new List<bool>();
        int people = 0, matched = 0;
        foreach (var g in _gallery.Values)
        {
            var nGt = g.PersonBoxes.Length / 4;
            var nDet = g.Scores.Length;
            people += nGt;
            if (nDet == 0) continue;
            var iou = new double[nGt, nDet];
            for (var i = 0; i < nGt; i++)
                for (var j = 0; j < nDet; j++)
                    iou[i, j] = Iou(g.Boxes, j, g.PersonBoxes, i);
            // A pair matches when each is the other's highest-IoU partner (the first of equal ones) and the IoU is enough.
            for (var j = 0; j < nDet; j++)
            {
                var match = false;
                if (nGt > 0)
                {
                    var i = ArgMax(nGt, r => iou[r, j]);
                    var back = ArgMax(nDet, c => iou[i, c]);
                    match = back == j && iou[i, j] >= IouThreshold;
                }
                scores.Add(g.Scores[j]);
                truth.Add(match);
                if (match) matched++;
            }
        }
        if (people == 0) return (double.NaN, double.NaN);
        var recall = (double)matched / people;
        return (matched == 0 ? 0 : AveragePrecision(scores, truth) * recall, recall);
    }

    /// <summary>
    /// scikit-learn's <c>average_precision_score</c>: Σ over the distinct scores, highest first, of (recall − previous recall)
    /// × precision, counting every detection at or above the score. Needs a true one.
    /// </summary>
    internal static double AveragePrecision(IReadOnlyList<double> scores, IReadOnlyList<bool> truth)
    {
        var order = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ToArray();
        var positives = truth.Count(t => t);
        double ap = 0, previousRecall = 0;
        int tp = 0, seen = 0;
        for (var n = 0; n < order.Length; n++)
        {
            seen++;
            if (truth[order[n]]) tp++;
            if (n + 1 < order.Length && scores[order[n + 1]] == scores[order[n]]) continue; // one threshold per distinct score
            var recall = (double)tp / positives;
            ap += (recall - previousRecall) * tp / seen;
            previousRecall = recall;
        }
        return ap;
    }

    /// <summary>Indices from the highest value down; equal values: the later index first (a stable ascending sort reversed).</summary>
    private static int[] Descending(IReadOnlyList<double> values) =>
        Enumerable.Range(0, values.Count).OrderBy(i => values[i]).Reverse().ToArray();

    /// <summary>The first index of the largest of <paramref name="count"/> values (numpy's argmax).</summary>
    private static int ArgMax(int count, Func<int, double> value)
    {
        var best = 0;
        for (var i = 1; i < count; i++) if (value(i) > value(best)) best = i;
        return best;
    }

    /// <summary>IoU of box <paramref name="i"/> of <paramref name="a"/> and box <paramref name="j"/> of <paramref name="b"/> (continuous coordinates).</summary>
    private static double Iou(double[] a, int i, double[] b, int j)
    {
        var w = Math.Min(a[4 * i + 2], b[4 * j + 2]) - Math.Max(a[4 * i], b[4 * j]);
        var h = Math.Min(a[4 * i + 3], b[4 * j + 3]) - Math.Max(a[4 * i + 1], b[4 * j + 1]);
        if (w <= 0 || h <= 0) return 0;
        var inter = w * h;
        var union = (a[4 * i + 2] - a[4 * i]) * (a[4 * i + 3] - a[4 * i + 1]) + (b[4 * j + 2] - b[4 * j]) * (b[4 * j + 3] - b[4 * j + 1]) - inter;
        return inter / union;
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (var i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    private static double[] Normalized(ReadOnlySpan<float> values, string what, string parameter)
    {
        double norm = 0;
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) throw new ArgumentException($"{what} has the value {v}", parameter);
            norm += (double)v * v;
        }
        if (norm == 0) throw new ArgumentException($"{what} is all zeros (no direction to compare)", parameter);
        norm = Math.Sqrt(norm);
        var result = new double[values.Length];
        for (var i = 0; i < values.Length; i++) result[i] = values[i] / norm;
        return result;
    }

    private static void CheckBoxes(ReadOnlySpan<double> boxes, string what, string parameter, bool allowEmpty = false, int first = 0)
    {
        for (var i = 0; i + 3 < boxes.Length; i += 4)
        {
            var (x1, y1, x2, y2) = (boxes[i], boxes[i + 1], boxes[i + 2], boxes[i + 3]);
            var ordered = allowEmpty ? x2 >= x1 && y2 >= y1 : x2 > x1 && y2 > y1;
            if (!(double.IsFinite(x1) && double.IsFinite(y1) && double.IsFinite(x2) && double.IsFinite(y2)) || !ordered)
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"{what} {first + i / 4} is ({x1}, {y1}, {x2}, {y2}): a box needs finite x1 {(allowEmpty ? "<=" : "<")} x2 and y1 {(allowEmpty ? "<=" : "<")} y2"), parameter);
        }
    }

    private sealed record GalleryImage(double[] Boxes, double[] Scores, double[][] Embeddings, double[] PersonBoxes);

    private sealed record Query(string Image, double[] Embedding, GalleryEntry[] Gallery);
}
