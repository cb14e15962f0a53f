using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Distill.Torch;

/// <summary>
/// The base of the learning-rate schedulers, with PyTorch 1.13's semantics (<c>_LRScheduler</c>):
/// constructing one records each group's <c>initial_lr</c> and takes the first step (epoch 0);
/// <see cref="step()"/> then advances one epoch (or iteration) with the recursive ("chainable") form,
/// so other changes to a group's lr compose with the schedule, and <see cref="step(int)"/> jumps to an
/// epoch with the closed form where there is one. Call it after <c>optimizer.step()</c>.
/// To resume, build the optimizer and the scheduler as before, then load the optimizer's state and the
/// scheduler's <see cref="state_dict"/>.
/// </summary>
public abstract class LRScheduler
{
    private double[] _lastLr = [];

    /// <summary>A scheduler computing from the groups' learning rates.</summary>
    private protected LRScheduler(Optimizer optimizer, int last_epoch)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        this.optimizer = optimizer;
        var groups = optimizer.param_groups;
        if (last_epoch == -1)
        {
            foreach (var g in groups) g.initial_lr ??= g.lr;
        }
        else
        {
            for (var i = 0; i < groups.Count; i++)
                if (groups[i].initial_lr is null)
                    throw new TorchException($"param 'initial_lr' is not specified in param_groups[{i}] when resuming an optimizer", ErrorCategory.Value);
        }
        base_lrs = groups.Select(g => g.initial_lr!.Value).ToArray();
        this.last_epoch = last_epoch;
    }

    /// <summary>A scheduler that delegates to others (it records nothing in the groups).</summary>
    private protected LRScheduler(Optimizer optimizer)
    {
        ArgumentNullException.ThrowIfNull(optimizer);
        this.optimizer = optimizer;
        base_lrs = [];
    }

    public Optimizer optimizer { get; }

    /// <summary>The index of the last epoch (or iteration) stepped to; -1 before the first step.</summary>
    public int last_epoch { get; set; }

    /// <summary>The groups' <c>initial_lr</c>s the schedule starts from.</summary>
    public IReadOnlyList<double> base_lrs { get; private protected set; }

    /// <summary>Steps taken since construction (PyTorch's <c>_step_count</c>; the constructor's counts).</summary>
    internal int step_count { get; set; }

    /// <summary>The learning rates the last step set, one per group.</summary>
    public IReadOnlyList<double> get_last_lr() => _lastLr;

    private protected void SetLastLr(IReadOnlyList<double> values) => _lastLr = values.ToArray();

    /// <summary>The constructor's step (PyTorch's <c>_initial_step</c>).</summary>
    internal void initial_step()
    {
        step_count = 0;
        step();
    }

    /// <summary>Advances one epoch and sets the groups' learning rates.</summary>
    public virtual void step()
    {
        step_count++;
        last_epoch++;
        Apply(ChainedLr());
    }

    /// <summary>Jumps to <paramref name="epoch"/> (deprecated in PyTorch): the closed form where the scheduler has one.</summary>
    public virtual void step(int epoch)
    {
        step_count++;
        last_epoch = epoch;
        Apply(ClosedFormLr() ?? ChainedLr());
    }

    /// <summary>The next learning rates from the current ones (PyTorch's <c>get_lr</c>).</summary>
    private protected abstract double[] ChainedLr();

    /// <summary>The learning rates at <see cref="last_epoch"/> from <see cref="base_lrs"/>, or null without a closed form.</summary>
    private protected virtual double[]? ClosedFormLr() => null;

    private void Apply(double[] values)
    {
        var groups = optimizer.param_groups;
        // zip(): a group added after the scheduler keeps its lr.
        for (var i = 0; i < Math.Min(groups.Count, values.Length); i++) groups[i].lr = values[i];
        _lastLr = groups.Select(g => g.lr).ToArray();
    }

    private protected double[] FromGroups(Func<double, double> f) => optimizer.param_groups.Select(g => f(g.lr)).ToArray();

    private protected double[] FromBase(Func<double, double> f) => base_lrs.Select(f).ToArray();

    /// <summary>Python's floor division.</summary>
    private protected static int FloorDiv(int a, int b) => (int)Math.Floor((double)a / b);

    // ---- state --------------------------------------------------------------------------------------

    /// <summary>The scheduler's state as JSON: PyTorch's field names (<c>last_epoch</c>, <c>base_lrs</c>, <c>_last_lr</c>, ...).</summary>
    public string state_dict()
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            WriteState(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Restores a <see cref="state_dict"/> (fields it lacks keep their values).</summary>
    public void load_state_dict(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new TorchException($"{GetType().Name}.load_state_dict: not valid JSON ({e.Message})", ErrorCategory.Value);
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new TorchException($"{GetType().Name}.load_state_dict: the state is not a JSON object", ErrorCategory.Value);
        ReadState(doc.RootElement);
    }

    internal virtual void WriteState(Utf8JsonWriter w)
    {
        w.WriteNumber("last_epoch", last_epoch);
        w.WriteNumber("_step_count", step_count);
        WriteNumbers(w, "base_lrs", base_lrs);
        WriteNumbers(w, "_last_lr", _lastLr);
        WriteHyperParameters(w);
    }

    internal virtual void ReadState(JsonElement e)
    {
        // Read everything first so a malformed state changes nothing.
        var lastEpoch = Int(e, "last_epoch", last_epoch);
        var stepCount = Int(e, "_step_count", step_count);
        var baseLrs = Numbers(e, "base_lrs") ?? base_lrs.ToArray();
        var lastLr = Numbers(e, "_last_lr") ?? _lastLr;
        ReadHyperParameters(e);
        last_epoch = lastEpoch;
        step_count = stepCount;
        base_lrs = baseLrs;
        _lastLr = lastLr;
    }

    /// <summary>The scheduler's own settings (step_size, gamma, ...), written with PyTorch's names.</summary>
    private protected virtual void WriteHyperParameters(Utf8JsonWriter w) { }

    private protected virtual void ReadHyperParameters(JsonElement e) { }

    private protected static void WriteNumbers(Utf8JsonWriter w, string name, IEnumerable<double> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private protected int Int(JsonElement e, string name, int current)
    {
        if (!e.TryGetProperty(name, out var v)) return current;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i)) return i;
        throw StateError(name, v, "an integer");
    }

    private protected double Number(JsonElement e, string name, double current)
    {
        if (!e.TryGetProperty(name, out var v)) return current;
        if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
        throw StateError(name, v, "a number");
    }

    private protected double[]? Numbers(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Array && v.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number))
            return v.EnumerateArray().Select(x => x.GetDouble()).ToArray();
        throw StateError(name, v, "a list of numbers");
    }

    private protected TorchException StateError(string name, JsonElement value, string expected) =>
        new($"{GetType().Name}.load_state_dict: '{name}' is {value.GetRawText()}, expected {expected}", ErrorCategory.Value);
}
