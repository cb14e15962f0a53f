using System.Globalization;
using System.Text;

namespace Distill.Runtime;

/// <summary>
/// A loss became NaN or infinite: the run stops. The message names the term that diverged first (in
/// the guard's term order when several did at the same step), the epoch, the step, the value, the
/// total and the term's last finite value.
/// </summary>
public sealed class TrainingDivergedException : DistillRuntimeException
{
    internal TrainingDivergedException(string message, string? term, int epoch, long step, double value, double total,
                                       double? lastFiniteValue, IReadOnlyDictionary<string, double> terms)
        : base(message)
    {
        Term = term;
        Epoch = epoch;
        Step = step;
        Value = value;
        Total = total;
        LastFiniteValue = lastFiniteValue;
        Terms = terms;
    }

    /// <summary>The term that diverged; null when every term was finite and only their weighted sum was not.</summary>
    public string? Term { get; }

    /// <summary>The 1-based epoch number.</summary>
    public int Epoch { get; }

    /// <summary>The global step.</summary>
    public long Step { get; }

    /// <summary>The non-finite value (the term's, or the total's when <see cref="Term"/> is null).</summary>
    public double Value { get; }

    /// <summary>The total loss at that step.</summary>
    public double Total { get; }

    /// <summary>The last finite value of the same quantity before that step, or null if it never was finite.</summary>
    public double? LastFiniteValue { get; }

    /// <summary>Every term's value at that step.</summary>
    public IReadOnlyDictionary<string, double> Terms { get; }
}

/// <summary>
/// Stops a run whose loss diverged. Each step, <see cref="Observe"/> copies the loss terms and the total
/// into a small device-side table (no synchronisation); every <see cref="CheckEvery"/> steps, and on
/// <see cref="Flush"/>, the whole table is read with one copy to the host and scanned. So the guard
/// costs one sync per check however many terms there are, and always reports the exact step of the
/// first non-finite value, even when it checks less often than every step.
/// </summary>
public sealed class DivergenceGuard : IDisposable
{
    private readonly string[] _terms;
    private readonly double?[] _lastFinite;
    private readonly int[] _epochs;
    private readonly long[] _steps;
    private Tensor? _table; // [CheckEvery, terms + 1] float64: the terms, then the total
    private int _pending;

    /// <param name="terms">The loss terms' names, in the order <see cref="Observe"/> passes their values.</param>
    /// <param name="checkEvery">Steps between checks (1: every step).</param>
    public DivergenceGuard(IEnumerable<string> terms, int checkEvery = 1)
    {
        ArgumentNullException.ThrowIfNull(terms);
        if (checkEvery < 1) throw new ArgumentOutOfRangeException(nameof(checkEvery), checkEvery, "checkEvery must be at least 1");
        _terms = terms.ToArray();
        var duplicate = _terms.GroupBy(t => t, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"the loss term '{duplicate.Key}' is named twice", nameof(terms));
        CheckEvery = checkEvery;
        _lastFinite = new double?[_terms.Length + 1];
        _epochs = new int[checkEvery];
        _steps = new long[checkEvery];
    }

    public IReadOnlyList<string> Terms => _terms;

    public int CheckEvery { get; }

    /// <summary>The last finite value seen of a term (or of the total, named "total" unless a term has that name); null before any.</summary>
    public double? LastFinite(string term)
    {
        var i = Array.IndexOf(_terms, term);
        if (i < 0 && term == "total") i = _terms.Length;
        return i < 0 ? throw new ArgumentException($"no loss term '{term}' (terms: {string.Join(", ", _terms)})", nameof(term)) : _lastFinite[i];
    }

    /// <summary>
    /// Records one step's loss values (one-element tensors, any float dtype, on one device) without a
    /// sync; checks when <see cref="CheckEvery"/> steps have gathered.
    /// </summary>
    /// <param name="epoch">The 1-based epoch number, for the message.</param>
    /// <param name="step">The global step, for the message.</param>
    public void Observe(Tensor total, IReadOnlyList<Tensor> terms, int epoch, long step)
    {
        ArgumentNullException.ThrowIfNull(total);
        ArgumentNullException.ThrowIfNull(terms);
        if (terms.Count != _terms.Length)
            throw new ArgumentException($"expected {_terms.Length} loss terms ({string.Join(", ", _terms)}), got {terms.Count}", nameof(terms));
        using (torch.NewDisposeScope())
        using (torch.no_grad())
        {
            _table ??= torch.zeros([CheckEvery, _terms.Length + 1], ScalarType.Float64, total.device).DetachFromDisposeScope();
            var row = _table.select(0, _pending);
            for (var i = 0; i < terms.Count; i++)
            {
                if (terms[i].numel() != 1)
                    throw new ArgumentException($"loss term '{_terms[i]}' must be a one-element tensor, got shape [{string.Join(", ", terms[i].shape)}]", nameof(terms));
                row.select(0, i).copy_(terms[i].detach().reshape([]));
            }
            if (total.numel() != 1) throw new ArgumentException($"the total loss must be a one-element tensor, got shape [{string.Join(", ", total.shape)}]", nameof(total));
            row.select(0, _terms.Length).copy_(total.detach().reshape([]));
        }
        _epochs[_pending] = epoch;
        _steps[_pending] = step;
        _pending++;
        if (_pending == CheckEvery) Flush();
    }

    /// <summary>Checks the steps observed since the last check (one sync). Call it at the end of each epoch too.</summary>
    public void Flush()
    {
        if (_pending == 0 || _table is null) return;
        var count = _pending;
        _pending = 0;
        double[] values;
        using (torch.NewDisposeScope()) values = _table.narrow(0, 0, count).ToArray<double>();
        var width = _terms.Length + 1;
        for (var r = 0; r < count; r++)
            Scan(values.AsSpan(r * width, width), _epochs[r], _steps[r]);
    }

    /// <summary>Checks values already on the host (no tensors involved).</summary>
    public void Check(double total, IReadOnlyList<double> terms, int epoch, long step)
    {
        ArgumentNullException.ThrowIfNull(terms);
        if (terms.Count != _terms.Length)
            throw new ArgumentException($"expected {_terms.Length} loss terms ({string.Join(", ", _terms)}), got {terms.Count}", nameof(terms));
        Span<double> row = terms.Count + 1 <= 64 ? stackalloc double[terms.Count + 1] : new double[terms.Count + 1];
        for (var i = 0; i < terms.Count; i++) row[i] = terms[i];
        row[^1] = total;
        Scan(row, epoch, step);
    }

    private void Scan(ReadOnlySpan<double> row, int epoch, long step)
    {
        var bad = -1;
        for (var i = 0; i < row.Length && bad < 0; i++)
            if (!double.IsFinite(row[i])) bad = i;
        if (bad < 0)
        {
            for (var i = 0; i < row.Length; i++) _lastFinite[i] = row[i];
            return;
        }
        // Stay stopped: further steps are not checked against a state that already diverged.
        _pending = 0;
        throw Diverged(row, bad, epoch, step);
    }

    private TrainingDivergedException Diverged(ReadOnlySpan<double> row, int bad, int epoch, long step)
    {
        var total = row[^1];
        var terms = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < _terms.Length; i++) terms[_terms[i]] = row[i];
        var last = _lastFinite[bad];
        var lastText = last is { } l ? $"last finite value {JsonNumbers.Format(l)}" : "it was never finite before";
        var sb = new StringBuilder();
        if (bad < _terms.Length)
        {
            sb.Append(CultureInfo.InvariantCulture, $"loss term '{_terms[bad]}' became {JsonNumbers.Format(row[bad])} at epoch {epoch}, step {step} (total loss {JsonNumbers.Format(total)}");
            var others = new List<string>();
            for (var i = bad + 1; i < _terms.Length; i++)
                if (!double.IsFinite(row[i])) others.Add($"'{_terms[i]}' {JsonNumbers.Format(row[i])}");
            if (others.Count > 0) sb.Append("; also non-finite: ").Append(string.Join(", ", others));
            sb.Append("); ").Append(lastText);
            sb.Append(". Lower the learning rate, clip gradients, or check the inputs of this term.");
            return new TrainingDivergedException(sb.ToString(), _terms[bad], epoch, step, row[bad], total, last, terms);
        }
        sb.Append(CultureInfo.InvariantCulture, $"the total loss became {JsonNumbers.Format(total)} at epoch {epoch}, step {step} although every term is finite (");
        sb.Append(string.Join(", ", terms.Select(kv => $"{kv.Key} {JsonNumbers.Format(kv.Value)}")));
        sb.Append("): the weighted sum overflowed; ").Append(lastText).Append('.');
        return new TrainingDivergedException(sb.ToString(), null, epoch, step, total, total, last, terms);
    }

    public void Dispose()
    {
        _table?.Dispose();
        _table = null;
    }
}
