namespace Distill.Runtime;

/// <summary>
/// An accumulator of one epoch's (or one log interval's) values. Accumulating stays on the device
/// (no host synchronisation per batch); <see cref="WriteTo"/> reads the result, which is the one sync.
/// </summary>
public interface IMetric : IDisposable
{
    /// <summary>Forgets everything accumulated (call at the start of each epoch).</summary>
    void Reset();

    /// <summary>Adds this metric's current values to <paramref name="values"/>, each named <paramref name="prefix"/> + its own name.</summary>
    void WriteTo(IDictionary<string, double> values, string prefix = "");
}

/// <summary>
/// A weighted mean: <see cref="Add(Tensor, long)"/> a batch's mean value with the batch size as weight,
/// and <see cref="Value"/> is the mean over samples, whatever the batch sizes. The sum is kept in
/// float64 on the value's device.
/// </summary>
public sealed class Mean : IMetric
{
    private Tensor? _sum;
    private double _hostSum;

    public Mean(string name = "mean") => Name = name;

    public string Name { get; }

    /// <summary>The total weight added.</summary>
    public long Count { get; private set; }

    /// <summary>Adds a one-element tensor (a batch mean) with a weight (the batch size). No device sync.</summary>
    public void Add(Tensor value, long weight = 1)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (weight < 0) throw new ArgumentOutOfRangeException(nameof(weight), weight, "the weight must not be negative");
        if (value.numel() != 1) throw new ArgumentException($"Mean.Add takes a one-element tensor (a batch mean), got shape [{string.Join(", ", value.shape)}]", nameof(value));
        using var noGrad = torch.no_grad();
        using var flat = value.detach().reshape([]);
        if (_sum is null) _sum = torch.zeros([], ScalarType.Float64, flat.device).DetachFromDisposeScope();
        _sum.add_(flat, weight);
        Count += weight;
    }

    /// <summary>Adds a value already on the host.</summary>
    public void Add(double value, long weight = 1)
    {
        if (weight < 0) throw new ArgumentOutOfRangeException(nameof(weight), weight, "the weight must not be negative");
        _hostSum += value * weight;
        Count += weight;
    }

    /// <summary>The weighted mean (one device sync); NaN when nothing was added.</summary>
    public double Value => Count == 0 ? double.NaN : (_hostSum + (_sum?.item<double>() ?? 0)) / Count;

    public void Reset()
    {
        _sum?.Dispose();
        _sum = null;
        _hostSum = 0;
        Count = 0;
    }

    public void WriteTo(IDictionary<string, double> values, string prefix = "") => values[prefix + Name] = Value;

    public void Dispose() => Reset();
}

/// <summary>
/// Top-k accuracy from logits and integer labels, for several k at once (top-1 and top-5 by default).
/// A sample counts as correct at k when its label is among the k largest logits; with fewer than k
/// classes every sample is correct at k. Logits are [N, C] (or [N, C, d1, ...] with labels [N, d1, ...],
/// every position a sample). Per batch: one topk and a sum on the device, no sync.
/// </summary>
public sealed class TopKAccuracy : IMetric
{
    private readonly int[] _ks;
    private Tensor? _hits; // [maxk] int64: how often the label sat at each rank
    private long _classes = -1;

    public TopKAccuracy(params int[] ks)
    {
        _ks = ks is { Length: > 0 } ? ks.Distinct().Order().ToArray() : [1, 5];
        if (_ks[0] < 1) throw new ArgumentOutOfRangeException(nameof(ks), _ks[0], "k must be at least 1");
    }

    public IReadOnlyList<int> Ks => _ks;

    /// <summary>The samples counted.</summary>
    public long Count { get; private set; }

    public void Update(Tensor logits, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        if (logits.dim() < 2) throw new ArgumentException($"logits must be [N, C] or [N, C, ...], got shape [{string.Join(", ", logits.shape)}]", nameof(logits));
        if (labels.is_floating_point()) throw new ArgumentException($"labels must be class indices (an integer tensor), got {labels.dtype}", nameof(labels));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var classes = logits.size(1);
        var scores = logits.dim() == 2 ? logits.detach() : logits.detach().movedim(1, -1).reshape([-1, classes]);
        var flat = labels.reshape([-1]);
        if (flat.size(0) != scores.size(0))
            throw new ArgumentException($"labels [{string.Join(", ", labels.shape)}] do not match logits [{string.Join(", ", logits.shape)}]: {flat.size(0)} labels for {scores.size(0)} samples", nameof(labels));
        if (_classes >= 0 && _classes != classes)
            throw new ArgumentException($"logits have {classes} classes, but earlier batches had {_classes}", nameof(logits));
        _classes = classes;
        var maxk = Math.Min(_ks[^1], classes);
        var (_, indices) = scores.topk(maxk, dim: 1);
        var hits = indices.eq(flat.to(indices.device).view([-1, 1])).sum(dim: 0); // [maxk]; a bare 0 would bind to the dtype overload
        if (_hits is null) _hits = hits.to(ScalarType.Int64).DetachFromDisposeScope();
        else _hits.add_(hits);
        Count += scores.size(0);
    }

    /// <summary>The accuracy at each k (one device sync); NaN when nothing was counted.</summary>
    public IReadOnlyDictionary<int, double> Compute()
    {
        var result = new SortedDictionary<int, double>();
        var perRank = _hits?.ToArray<long>() ?? [];
        foreach (var k in _ks)
        {
            if (Count == 0)
            {
                result[k] = double.NaN;
                continue;
            }
            long correct = 0;
            for (var r = 0; r < Math.Min(k, perRank.Length); r++) correct += perRank[r];
            result[k] = (double)correct / Count;
        }
        return result;
    }

    public void Reset()
    {
        _hits?.Dispose();
        _hits = null;
        _classes = -1;
        Count = 0;
    }

    /// <summary>Writes "top1", "top5", ... (one sync).</summary>
    public void WriteTo(IDictionary<string, double> values, string prefix = "")
    {
        foreach (var (k, v) in Compute()) values[$"{prefix}top{k}"] = v;
    }

    public void Dispose() => Reset();
}

/// <summary>
/// Per-term loss averages (weighted by batch size), keyed by term name in first-seen order, plus the
/// total under <see cref="TotalName"/> when it is added. All terms sit in one float64 vector on the
/// device, so <see cref="Compute"/> is a single sync however many terms there are.
/// </summary>
public sealed class LossAverages : IMetric
{
    public const string TotalName = "loss";

    private readonly List<string> _names = new();
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly List<long> _counts = new();
    private Tensor? _sums;

    /// <param name="names">The terms in the order to report them (others are added as they come).</param>
    public LossAverages(IEnumerable<string>? names = null)
    {
        if (names is not null) foreach (var n in names) IndexOf(n);
    }

    public IReadOnlyList<string> Names => _names;

    /// <summary>Adds one term's batch value (a one-element tensor) weighted by the batch size. No sync.</summary>
    public void Add(string term, Tensor value, long batchSize)
    {
        ArgumentNullException.ThrowIfNull(term);
        ArgumentNullException.ThrowIfNull(value);
        if (batchSize < 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "the batch size must not be negative");
        if (value.numel() != 1) throw new ArgumentException($"loss term '{term}' must be a one-element tensor, got shape [{string.Join(", ", value.shape)}]", nameof(value));
        var i = IndexOf(term);
        using var noGrad = torch.no_grad();
        using var flat = value.detach().reshape([]);
        var sums = Sums(flat.device);
        using var slot = sums.select(0, i);
        slot.add_(flat, batchSize);
        _counts[i] += batchSize;
    }

    /// <summary>Adds every term of a batch at once.</summary>
    public void Add(IEnumerable<KeyValuePair<string, Tensor>> terms, long batchSize)
    {
        ArgumentNullException.ThrowIfNull(terms);
        foreach (var (name, value) in terms) Add(name, value, batchSize);
    }

    /// <summary>The average of every term (one device sync); NaN for a term never added since the reset.</summary>
    public IReadOnlyDictionary<string, double> Compute()
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        var sums = _sums?.ToArray<double>() ?? [];
        for (var i = 0; i < _names.Count; i++)
            result[_names[i]] = _counts[i] == 0 || i >= sums.Length ? double.NaN : sums[i] / _counts[i];
        return result;
    }

    public void Reset()
    {
        _sums?.Dispose();
        _sums = null;
        for (var i = 0; i < _counts.Count; i++) _counts[i] = 0;
    }

    public void WriteTo(IDictionary<string, double> values, string prefix = "")
    {
        foreach (var (name, v) in Compute()) values[prefix + name] = v;
    }

    public void Dispose() => Reset();

    private int IndexOf(string term)
    {
        if (_index.TryGetValue(term, out var i)) return i;
        i = _names.Count;
        _names.Add(term);
        _index[term] = i;
        _counts.Add(0);
        if (_sums is not null)
        {
            // A new term: grow the vector (rare; normally every term is known from the first batch).
            var grown = torch.cat([_sums, torch.zeros([1], ScalarType.Float64, _sums.device)]).DetachFromDisposeScope();
            _sums.Dispose();
            _sums = grown;
        }
        return i;
    }

    private Tensor Sums(Device device) =>
        _sums ??= torch.zeros([_names.Count], ScalarType.Float64, device).DetachFromDisposeScope();
}

/// <summary>
/// Named metrics reported together: <see cref="Snapshot"/> gives one flat dictionary for logging
/// ("loss", "kd", "top1", ...), <see cref="Reset"/> clears all (each epoch).
/// </summary>
public sealed class MetricSet : IDisposable
{
    private readonly List<IMetric> _metrics = new();

    public MetricSet(params IMetric[] metrics) => _metrics.AddRange(metrics);

    public T Add<T>(T metric) where T : IMetric
    {
        _metrics.Add(metric);
        return metric;
    }

    public IReadOnlyList<IMetric> Metrics => _metrics;

    /// <summary>Every metric's values, in the metrics' order, names prefixed (e.g. "val/").</summary>
    public Dictionary<string, double> Snapshot(string prefix = "")
    {
        var values = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var m in _metrics) m.WriteTo(values, prefix);
        return values;
    }

    public void Reset()
    {
        foreach (var m in _metrics) m.Reset();
    }

    public void Dispose()
    {
        foreach (var m in _metrics) m.Dispose();
    }
}
