using Distill.Data;

namespace Distill.Runtime;

/// <summary>
/// What a generated training loop evaluates a person-search model with: one pass over an evaluation split of a person-search
/// data set (<see cref="IPersonSearchData"/>), batch by batch, collecting every image's detections with their embeddings
/// (the gallery) and the embedding of every query box in the images the queries come from; then
/// <see cref="PersonSearchEvaluator"/> over the protocol's queries. The model's detections are read through <c>parts</c>, so
/// the runtime depends on no model library.
/// <para>
/// A pass cut short (a batch limit in a quick or dry run) scores what it saw: each query whose image was embedded, over the
/// gallery images that were searched, when at least one of them holds the person; the number of queries scored is logged
/// as <c>queries</c>. With none, only the detection metrics are written.
/// </para>
/// </summary>
public sealed class PersonSearchEvaluation
{
    private readonly IPersonSearchData _data;
    private readonly Dictionary<string, List<int>> _queriesByImage = new(StringComparer.Ordinal);
    private readonly Dictionary<int, float[]> _queryEmbeddings = [];
    private readonly Dictionary<string, (double[] Boxes, double[] Scores, float[] Embeddings, double[] PersonBoxes)> _gallery = new(StringComparer.Ordinal);
    private int _embeddingSize = -1;

    private PersonSearchEvaluation(IPersonSearchData data)
    {
        _data = data;
        for (var q = 0; q < data.Queries.Count; q++)
        {
            var image = data.Queries[q].Image;
            if (!_queriesByImage.TryGetValue(image, out var list)) _queriesByImage[image] = list = [];
            list.Add(q);
        }
    }

    /// <summary>A pass over <paramref name="data"/>, which must be a person-search data set with queries.</summary>
    public static PersonSearchEvaluation Create(object data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data is not IPersonSearchData search)
            throw new ArgumentException($"{data.GetType().Name} is not a person-search data set (IPersonSearchData): it has no queries and galleries", nameof(data));
        if (search.Queries.Count == 0)
            throw new ArgumentException($"{data.GetType().Name} has no queries: person search is evaluated on a split with a protocol (a test or validation split)", nameof(data));
        return new PersonSearchEvaluation(search);
    }

    /// <summary>The queries scored by the last <see cref="WriteTo"/>.</summary>
    public int QueriesScored { get; private set; }

    /// <summary>
    /// Adds each image of <paramref name="batch"/>: <paramref name="detections"/>[i] (boxes [D, 4] in the batch's pixels, scores
    /// [D], embeddings [D, E]) as a gallery image, with the batch's boxes as its person boxes; and, for every query made in it,
    /// the query box's embedding from <paramref name="embedBoxes"/> (an image [1, 3, H, W] and its boxes [Q, 4] → [Q, E]).
    /// </summary>
    public void Add<TDetections>(DetectionBatch batch, IReadOnlyList<TDetections> detections, Func<TDetections, (Tensor Boxes, Tensor Scores, Tensor Embeddings)> parts,
        Func<Tensor, IReadOnlyList<Tensor>, IReadOnlyList<Tensor>> embedBoxes)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(parts);
        ArgumentNullException.ThrowIfNull(embedBoxes);
        if (detections.Count != batch.Count)
            throw new ArgumentException($"{detections.Count} images' detections for a batch of {batch.Count} images", nameof(detections));
        long[] ids;
        using (var cpu = batch.image_id.cpu()) ids = cpu.ToArray<long>();
        for (var i = 0; i < detections.Count; i++)
        {
            var name = _data.ImageName(ids[i]);
            var (boxes, scores, embeddings) = parts(detections[i]);
            var size = embeddings.dim() == 2 ? (int)embeddings.shape[1] : -1;
            if (size > 0) CheckSize(size, $"image '{name}''s detection embeddings");
            _gallery[name] = (Host<double>(boxes), Host<double>(scores), Host<float>(embeddings), Host<double>(batch.boxes[i]));
            if (!_queriesByImage.TryGetValue(name, out var queries)) continue;
            var queryBoxes = new double[4 * queries.Count];
            for (var k = 0; k < queries.Count; k++) _data.Queries[queries[k]].Box.CopyTo(queryBoxes, 4 * k);
            using var scope = torch.NewDisposeScope();
            var image = batch.image.narrow(0, i, 1);
            var boxTensor = torch.tensor(queryBoxes.Select(v => (float)v).ToArray(), new long[] { queries.Count, 4 }).to(batch.image.device);
            var embedded = embedBoxes(image, [boxTensor]);
            if (embedded.Count != 1 || embedded[0].dim() != 2 || embedded[0].shape[0] != queries.Count)
                throw new InvalidOperationException($"the model embedded the {queries.Count} query boxes of image '{name}' as [{string.Join(", ", embedded.Select(e => string.Join("x", e.shape)))}], not [{queries.Count}, E]");
            CheckSize((int)embedded[0].shape[1], $"image '{name}''s query embeddings");
            var values = Host<float>(embedded[0]);
            for (var k = 0; k < queries.Count; k++) _queryEmbeddings[queries[k]] = values.AsSpan(k * _embeddingSize, _embeddingSize).ToArray();
        }
    }

    /// <summary>
    /// Scores the queries (see the class) and writes <c>mAP</c>, <c>top1</c>, <c>top5</c>, <c>top10</c>, <c>det_AP</c>,
    /// <c>det_recall</c> and <c>queries</c>, each with <paramref name="prefix"/>.
    /// </summary>
    public void WriteTo(IDictionary<string, double> values, string prefix)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(prefix);
        if (_gallery.Count == 0) return;
        var evaluator = new PersonSearchEvaluator(_embeddingSize > 0 ? _embeddingSize : 1);
        foreach (var (name, g) in _gallery)
            evaluator.AddGalleryImage(name, g.Boxes, g.Scores, _embeddingSize > 0 ? g.Embeddings : new float[g.Scores.Length], g.PersonBoxes);
        var scored = 0;
        foreach (var (q, embedding) in _queryEmbeddings.OrderBy(kv => kv.Key))
        {
            var query = _data.Queries[q];
            var gallery = query.Gallery.Where(e => _gallery.ContainsKey(e.Image)).Select(e => new PersonSearchEvaluator.GalleryEntry(e.Image, e.Box)).ToList();
            if (!gallery.Any(e => e.Box is not null)) continue;
            evaluator.AddQuery(query.Image, embedding, gallery);
            scored++;
        }
        QueriesScored = scored;
        values[prefix + "queries"] = scored;
        if (scored > 0)
        {
            evaluator.Compute().WriteTo(values, prefix);
            return;
        }
        // No query could be scored (a pass cut short): the detector's metrics alone, through a query-free computation.
        var (ap, recall) = evaluator.DetectionMetrics();
        values[prefix + "det_AP"] = ap;
        values[prefix + "det_recall"] = recall;
    }

    private void CheckSize(int size, string what)
    {
        if (_embeddingSize < 0) _embeddingSize = size;
        else if (size != _embeddingSize)
            throw new InvalidOperationException($"{what} have {size} values, but earlier ones had {_embeddingSize}");
    }

    private static T[] Host<T>(Tensor t) where T : unmanaged
    {
        using var detached = t.detach();
        using var cpu = detached.cpu();
        using var typed = cpu.to(typeof(T) == typeof(float) ? ScalarType.Float32 : ScalarType.Float64);
        return typed.ToArray<T>();
    }
}
