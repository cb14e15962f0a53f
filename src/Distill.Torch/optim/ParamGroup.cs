using System.Globalization;

namespace Distill.Torch;

/// <summary>
/// A group of parameters optimized with the same hyper-parameters: PyTorch's <c>param_groups</c> dicts.
/// Hyper-parameters left unset when the group is given to an optimizer take the optimizer's defaults,
/// so a group overrides only what it names: <c>new ParamGroup(head.parameters()) { lr = 0.01 }</c>.
/// Values stay mutable after the optimizer adopted the group (schedulers change <see cref="lr"/>).
/// A value is a number (<see cref="double"/>), a <see cref="bool"/>, a <see cref="string"/> or a pair of
/// numbers (<c>betas</c>).
/// </summary>
public sealed class ParamGroup
{
    private readonly List<Tensor> _params;
    private Dictionary<string, object> _options = new(StringComparer.Ordinal);

    public ParamGroup(IEnumerable<Tensor> @params)
    {
        ArgumentNullException.ThrowIfNull(@params);
        _params = @params.ToList();
    }

    /// <summary>A group with hyper-parameters given by name, as PyTorch's dict form.</summary>
    public ParamGroup(IEnumerable<Tensor> @params, IEnumerable<KeyValuePair<string, object>> options) : this(@params)
    {
        foreach (var (name, value) in options) this[name] = value;
    }

    public IReadOnlyList<Tensor> @params => _params;

    /// <summary>The optimizer that owns this group, once it was added to one.</summary>
    public Optimizer? optimizer { get; internal set; }

    /// <summary>Per-slot, per-parameter optimizer state (null: not created yet); set up by the owner.</summary>
    internal Tensor?[][] State { get; set; } = [];

    /// <summary>Native identities of the parameters (duplicate detection, lookups by parameter).</summary>
    internal long[] Ids { get; set; } = [];

    // ---- hyper-parameters ------------------------------------------------------------------------

    public double lr { get => Number("lr"); set => this["lr"] = value; }
    public double momentum { get => Number("momentum"); set => this["momentum"] = value; }
    public double dampening { get => Number("dampening"); set => this["dampening"] = value; }
    public double weight_decay { get => Number("weight_decay"); set => this["weight_decay"] = value; }
    public bool nesterov { get => Flag("nesterov"); set => this["nesterov"] = value; }
    public bool maximize { get => Flag("maximize"); set => this["maximize"] = value; }
    public double eps { get => Number("eps"); set => this["eps"] = value; }
    public bool amsgrad { get => Flag("amsgrad"); set => this["amsgrad"] = value; }
    public (double, double) betas { get => Pair("betas"); set => this["betas"] = value; }

    /// <summary>The learning rate schedules start from (set by the first scheduler); null until then.</summary>
    public double? initial_lr
    {
        get => _options.ContainsKey("initial_lr") ? Number("initial_lr") : null;
        set
        {
            if (value is null) _options.Remove("initial_lr");
            else this["initial_lr"] = value.Value;
        }
    }

    /// <summary>A hyper-parameter by name (PyTorch's <c>group["name"]</c>); integers are stored as numbers.</summary>
    public object this[string name]
    {
        get => _options.TryGetValue(name, out var v)
            ? v
            : throw new TorchException($"parameter group has no hyper-parameter '{name}' (it has: {string.Join(", ", _options.Keys)})", ErrorCategory.Value);
        set => _options[name] = Normalize(name, value);
    }

    public bool ContainsKey(string name) => _options.ContainsKey(name);
    public bool Remove(string name) => _options.Remove(name);

    /// <summary>The hyper-parameters' names, in the order they were set.</summary>
    public IEnumerable<string> Keys => _options.Keys;

    internal IReadOnlyDictionary<string, object> Options => _options;

    internal void ReplaceOptions(Dictionary<string, object> options) => _options = options;

    internal void SetDefault(string name, object value) => _options.TryAdd(name, value);

    private double Number(string name) => this[name] switch
    {
        double d => d,
        var other => throw WrongType(name, other, "a number"),
    };

    private bool Flag(string name) => this[name] switch
    {
        bool b => b,
        var other => throw WrongType(name, other, "a boolean"),
    };

    private (double, double) Pair(string name) => this[name] switch
    {
        ValueTuple<double, double> p => p,
        var other => throw WrongType(name, other, "a pair of numbers"),
    };

    private static TorchException WrongType(string name, object value, string expected) =>
        new($"hyper-parameter '{name}' is {Describe(value)}, expected {expected}", ErrorCategory.Type);

    internal static string Describe(object value) => value switch
    {
        double d => $"the number {Format(d)}",
        bool b => $"the boolean {(b ? "True" : "False")}",
        string s => $"the string '{s}'",
        ValueTuple<double, double> p => $"the pair ({Format(p.Item1)}, {Format(p.Item2)})",
        _ => value.GetType().Name,
    };

    private static object Normalize(string name, object value) => value switch
    {
        null => throw new TorchException($"hyper-parameter '{name}' cannot be null", ErrorCategory.Value),
        double or bool or string or ValueTuple<double, double> => value,
        float f => (double)f,
        int i => (double)i,
        long l => (double)l,
        decimal m => (double)m,
        ValueTuple<int, int> p => ((double)p.Item1, (double)p.Item2),
        ValueTuple<float, float> p => ((double)p.Item1, (double)p.Item2),
        _ => throw new TorchException($"hyper-parameter '{name}' has unsupported type {value.GetType().Name} (use a number, a boolean, a string or a pair of numbers)", ErrorCategory.Type),
    };

    /// <summary>A number as Python prints it (0.1, 2.0, inf), for messages.</summary>
    internal static string Format(double d)
    {
        if (double.IsPositiveInfinity(d)) return "inf";
        if (double.IsNegativeInfinity(d)) return "-inf";
        if (double.IsNaN(d)) return "nan";
        var s = d.ToString("R", CultureInfo.InvariantCulture);
        return s.Contains('.') || s.Contains('E') ? s : s + ".0";
    }
}
