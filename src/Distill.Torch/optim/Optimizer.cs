using System.Buffers;
using System.Text;
using System.Text.Json;
using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

/// <summary>
/// The base of the optimizers (PyTorch's <c>torch.optim.Optimizer</c>): parameter groups with their
/// hyper-parameters, lazily created per-parameter state, and a state_dict for resuming. A step runs
/// natively, one call per group. The optimizer holds the caller's parameter tensors (it does not own
/// them) and owns its state tensors: dispose the optimizer to free them.
/// </summary>
public abstract class Optimizer : IDisposable
{
    // Hyper-parameters some optimizer understands: naming one another optimizer lacks is a mistake.
    private static readonly HashSet<string> s_known = new(StringComparer.Ordinal)
    {
        "lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "betas", "eps", "amsgrad",
    };

    private readonly List<ParamGroup> _groups = new();
    private readonly Dictionary<string, object> _defaults;
    private bool _disposed;

    private protected Optimizer(IEnumerable<ParamGroup> groups, Dictionary<string, object> defaults)
    {
        ArgumentNullException.ThrowIfNull(groups);
        _defaults = defaults;
        var list = groups.ToList();
        if (list.Count == 0) throw new TorchException($"{Name} got an empty parameter list", ErrorCategory.Value);
        Merge(new ParamGroup([]), "the defaults");
        foreach (var g in list) add_param_group(g);
    }

    private protected static IEnumerable<ParamGroup> OneGroup(IEnumerable<Tensor> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var group = new ParamGroup(parameters);
        if (group.@params.Count == 0) throw new TorchException("optimizer got an empty parameter list", ErrorCategory.Value);
        return [group];
    }

    /// <summary>The names of the per-parameter state tensors, in state_dict order.</summary>
    private protected abstract string[] StateNames { get; }

    /// <summary>Rejects hyper-parameter values the optimizer cannot use.</summary>
    private protected abstract void Validate(ParamGroup group);

    /// <summary>Updates every parameter of the group that has a gradient.</summary>
    private protected abstract void StepGroup(ParamGroup group);

    private string Name => GetType().Name;

    public IReadOnlyList<ParamGroup> param_groups => _groups;

    /// <summary>The hyper-parameters a group gets when it does not set them.</summary>
    public IReadOnlyDictionary<string, object> defaults => _defaults;

    /// <summary>Adds a group (for example layers unfrozen while training); unset hyper-parameters take the defaults.</summary>
    public void add_param_group(ParamGroup group)
    {
        ArgumentNullException.ThrowIfNull(group);
        ThrowIfDisposed();
        if (group.optimizer is not null)
            throw new TorchException("the parameter group already belongs to an optimizer; create a new ParamGroup", ErrorCategory.Value);
        var ps = group.@params;
        for (var k = 0; k < ps.Count; k++)
        {
            var p = ps[k] ?? throw new TorchException($"parameter {k} of the group is null", ErrorCategory.Value);
            if (!p.requires_grad)
                throw new TorchException($"{Name} can only optimize tensors that require grad, but parameter {k} of the group does not (leave frozen parameters out)", ErrorCategory.Value);
            if (!p.is_leaf)
                throw new TorchException($"{Name} can't optimize a non-leaf Tensor (parameter {k} of the group)", ErrorCategory.Value);
        }
        var ids = Ids(ps);
        var seen = new Dictionary<long, int>();
        for (var k = 0; k < ids.Length; k++)
            if (!seen.TryAdd(ids[k], k))
                throw new TorchException($"parameter {k} of the group is the same tensor as parameter {seen[ids[k]]}: a parameter may appear only once", ErrorCategory.Value);
        for (var gi = 0; gi < _groups.Count; gi++)
            for (var j = 0; j < _groups[gi].Ids.Length; j++)
                if (seen.TryGetValue(_groups[gi].Ids[j], out var k))
                    throw new TorchException($"some parameters appear in more than one parameter group (parameter {k} of the new group is parameter {j} of group {gi})", ErrorCategory.Value);

        var merged = Merge(group, $"parameter group {_groups.Count}");
        group.ReplaceOptions(new Dictionary<string, object>(merged.Options, StringComparer.Ordinal));
        group.Ids = ids;
        group.State = StateNames.Select(_ => new Tensor?[ps.Count]).ToArray();
        group.optimizer = this;
        _groups.Add(group);
    }

    /// <summary>The group's hyper-parameters completed with the defaults, checked; the group itself is not changed.</summary>
    private ParamGroup Merge(ParamGroup group, string where) => Merge(group.Options, where);

    private ParamGroup Merge(IReadOnlyDictionary<string, object> options, string where)
    {
        var merged = new ParamGroup([]);
        foreach (var (name, value) in options)
        {
            if (s_known.Contains(name) && !_defaults.ContainsKey(name))
                throw new TorchException($"{Name} has no hyper-parameter '{name}' ({where}; it has: {string.Join(", ", _defaults.Keys)})", ErrorCategory.Value);
            merged[name] = value;
        }
        foreach (var (name, value) in _defaults)
        {
            merged.SetDefault(name, value);
            var actual = merged[name];
            if (actual.GetType() != value.GetType())
                throw new TorchException($"{Name}: hyper-parameter '{name}' of {where} is {ParamGroup.Describe(actual)}, expected a value like {ParamGroup.Describe(value)}", ErrorCategory.Type);
        }
        if (merged.ContainsKey("initial_lr") && merged["initial_lr"] is not double)
            throw new TorchException($"{Name}: 'initial_lr' of {where} is {ParamGroup.Describe(merged["initial_lr"])}, expected a number", ErrorCategory.Type);
        Validate(merged);
        return merged;
    }

    // ---- stepping -----------------------------------------------------------------------------------

    /// <summary>
    /// Updates the parameters from their gradients (parameters without a gradient are skipped). A closure
    /// that re-evaluates the model and returns the loss runs first, with gradients enabled; its loss is returned.
    /// </summary>
    public Tensor? step(Func<Tensor>? closure = null)
    {
        ThrowIfDisposed();
        Tensor? loss = null;
        if (closure is not null)
        {
            using (torch.enable_grad()) loss = closure();
        }
        foreach (var g in _groups) StepGroup(g);
        return loss;
    }

    /// <summary>Drops (default, as PyTorch 2) or zeroes the gradients of every parameter.</summary>
    public void zero_grad(bool set_to_none = true)
    {
        ThrowIfDisposed();
        foreach (var g in _groups)
            foreach (var p in g.@params) p.zero_grad(set_to_none);
    }

    internal static IntPtr[] ParameterHandles(ParamGroup group) => TensorLists.Handles(group.@params);

    /// <summary>The state handles of one slot; null entries are state not created yet.</summary>
    internal static IntPtr[] StateHandles(ParamGroup group, int slot) => TensorLists.OptionalHandles(group.State[slot]);

    /// <summary>Takes ownership of the state the native step created (the entries that were null).</summary>
    internal static void Adopt(ParamGroup group, int slot, IntPtr[] handles)
    {
        var state = group.State[slot];
        for (var k = 0; k < state.Length; k++)
            if (state[k] is null && handles[k] != IntPtr.Zero) state[k] = new Tensor(handles[k]).DetachFromDisposeScope();
    }

    private static unsafe long[] Ids(IReadOnlyList<Tensor> tensors)
    {
        var handles = TensorLists.Handles(tensors);
        var ids = new long[handles.Length];
        fixed (IntPtr* h = handles)
        fixed (long* i = ids)
            Check(dst_optim_tensor_ids(h, handles.Length, i));
        GC.KeepAlive(tensors);
        return ids;
    }

    // ---- state --------------------------------------------------------------------------------------

    /// <summary>The per-parameter state: <c>optimizer.state[p]["momentum_buffer"]</c>.</summary>
    public StateView state => new(this);

    /// <summary>Looks state up by parameter. The tensors are the optimizer's own: read them, do not dispose them.</summary>
    public readonly struct StateView
    {
        private readonly Optimizer _owner;

        internal StateView(Optimizer owner) => _owner = owner;

        /// <summary>The state of a parameter (empty before its first step).</summary>
        public IReadOnlyDictionary<string, Tensor> this[Tensor parameter]
        {
            get
            {
                _owner.ThrowIfDisposed();
                var id = Ids([parameter])[0];
                foreach (var g in _owner._groups)
                {
                    var k = Array.IndexOf(g.Ids, id);
                    if (k < 0) continue;
                    var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                    for (var s = 0; s < _owner.StateNames.Length; s++)
                        if (g.State[s][k] is { } t) result[_owner.StateNames[s]] = t;
                    return result;
                }
                throw new TorchException($"the tensor is not a parameter of this {_owner.Name}", ErrorCategory.Value);
            }
        }

        /// <summary>The number of parameters that have state.</summary>
        public int Count => _owner._groups.Sum(g => Enumerable.Range(0, g.@params.Count).Count(k => g.State.Any(s => s[k] is not null)));
    }

    /// <summary>
    /// The state for resuming, as PyTorch numbers it: parameters are indexed consecutively across groups;
    /// tensors are named <c>state.&lt;index&gt;.&lt;name&gt;</c> (new handles to the live state, so the
    /// values follow later steps as PyTorch's do), and the JSON part holds each group's hyper-parameters
    /// and parameter indices. Save it with <see cref="OptimizerState.Save"/>.
    /// </summary>
    public OptimizerState state_dict()
    {
        ThrowIfDisposed();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var buffer = new ArrayBufferWriter<byte>();
        try
        {
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("optimizer", Name);
                w.WriteStartArray("param_groups");
                var index = 0;
                foreach (var g in _groups)
                {
                    w.WriteStartObject();
                    foreach (var (name, value) in g.Options)
                    {
                        w.WritePropertyName(name);
                        WriteValue(w, value);
                    }
                    w.WriteStartArray("params");
                    for (var k = 0; k < g.@params.Count; k++, index++)
                    {
                        w.WriteNumberValue(index);
                        for (var s = 0; s < StateNames.Length; s++)
                            if (g.State[s][k] is { } t) tensors.Add($"state.{index}.{StateNames[s]}", t.alias());
                    }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return new OptimizerState(tensors, Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    /// <summary>
    /// Restores a state_dict: each group's hyper-parameters (its parameters stay) and the per-parameter
    /// state, copied and cast to each parameter's dtype and device (the step counts are kept as saved).
    /// The group count, each group's parameter count and every state tensor's shape must match; on any
    /// mismatch nothing changes.
    /// </summary>
    public void load_state_dict(OptimizerState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        ThrowIfDisposed();
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(state.Json);
        }
        catch (JsonException e)
        {
            throw LoadError($"the JSON part is not valid JSON ({e.Message})");
        }
        using var _ = doc;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw LoadError("the JSON part is not an object");
        if (root.TryGetProperty("optimizer", out var kind) && kind.ValueKind == JsonValueKind.String && kind.GetString() != Name)
            throw LoadError($"the state was saved by {kind.GetString()}, not by {Name}");
        if (!root.TryGetProperty("param_groups", out var groupsElement) || groupsElement.ValueKind != JsonValueKind.Array)
            throw LoadError("the JSON part has no 'param_groups' list");
        var saved = groupsElement.EnumerateArray().ToList();
        if (saved.Count != _groups.Count)
            throw LoadError($"loaded state dict has a different number of parameter groups (saved {saved.Count}, the optimizer has {_groups.Count})");

        var owners = new Dictionary<long, (int Group, int Index)>();
        var options = new List<Dictionary<string, object>>();
        for (var gi = 0; gi < saved.Count; gi++)
        {
            var sg = saved[gi];
            if (sg.ValueKind != JsonValueKind.Object) throw LoadError($"parameter group {gi} is not an object");
            if (!sg.TryGetProperty("params", out var indices) || indices.ValueKind != JsonValueKind.Array)
                throw LoadError($"parameter group {gi} has no 'params' list");
            var count = _groups[gi].@params.Count;
            if (indices.GetArrayLength() != count)
                throw LoadError($"loaded state dict contains a parameter group that doesn't match the size of optimizer's group (group {gi}: saved {indices.GetArrayLength()} parameters, the optimizer has {count})");
            var k = 0;
            foreach (var e in indices.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out var index))
                    throw LoadError($"parameter group {gi} lists {e.GetRawText()} as a parameter index");
                if (!owners.TryAdd(index, (gi, k)))
                    throw LoadError($"parameter index {index} is listed twice");
                k++;
            }
            var values = new Dictionary<string, object>(StringComparer.Ordinal);
            foreach (var property in sg.EnumerateObject())
            {
                if (property.Name == "params") continue;
                if (ReadValue(property.Value, property.Name, gi) is { } value) values[property.Name] = value;
            }
            var merged = Merge(values, $"saved parameter group {gi}");
            options.Add(new Dictionary<string, object>(merged.Options, StringComparer.Ordinal));
        }

        var fresh = _groups.Select(g => StateNames.Select(_ => new Tensor?[g.@params.Count]).ToArray()).ToArray();
        try
        {
            foreach (var (name, tensor) in state.Tensors)
            {
                var parts = name.Split('.');
                if (parts.Length != 3 || parts[0] != "state" || !long.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index))
                    throw LoadError($"tensor '{name}' is not named state.<parameter index>.<state name>");
                if (!owners.TryGetValue(index, out var owner))
                    throw LoadError($"tensor '{name}' belongs to parameter {index}, which no saved parameter group lists");
                var slot = Array.IndexOf(StateNames, parts[2]);
                if (slot < 0)
                    throw LoadError($"tensor '{name}': {Name} keeps no state named '{parts[2]}' (it keeps: {string.Join(", ", StateNames)})");
                var p = _groups[owner.Group].@params[owner.Index];
                Tensor copy;
                if (parts[2] == "step")
                {
                    if (tensor.numel() != 1) throw LoadError($"tensor '{name}' must hold one step count, got shape [{string.Join(", ", tensor.shape)}]");
                    copy = tensor.clone();
                }
                else
                {
                    if (!tensor.shape.SequenceEqual(p.shape))
                        throw LoadError($"tensor '{name}' has shape [{string.Join(", ", tensor.shape)}] but parameter {index} (group {owner.Group}, position {owner.Index}) has shape [{string.Join(", ", p.shape)}]");
                    copy = tensor.to(p.is_floating_point() ? p.dtype : null, p.device, copy: true);
                }
                fresh[owner.Group][slot][owner.Index] = copy.DetachFromDisposeScope();
            }
        }
        catch
        {
            foreach (var t in fresh.SelectMany(g => g).SelectMany(s => s)) t?.Dispose();
            throw;
        }

        for (var gi = 0; gi < _groups.Count; gi++)
        {
            var g = _groups[gi];
            foreach (var t in g.State.SelectMany(s => s)) t?.Dispose();
            g.State = fresh[gi];
            g.ReplaceOptions(options[gi]);
        }
    }

    private TorchException LoadError(string what) => new($"{Name}.load_state_dict: {what}", ErrorCategory.Value);

    private static void WriteValue(Utf8JsonWriter w, object value)
    {
        switch (value)
        {
            case double d: WriteNumber(w, d); break;
            case bool b: w.WriteBooleanValue(b); break;
            case string s: w.WriteStringValue(s); break;
            case ValueTuple<double, double> p:
                w.WriteStartArray();
                WriteNumber(w, p.Item1);
                WriteNumber(w, p.Item2);
                w.WriteEndArray();
                break;
            default: throw new TorchException($"cannot serialise a hyper-parameter of type {value.GetType().Name}", ErrorCategory.Type);
        }
    }

    // JSON has no NaN or infinities; write them as the strings .NET and Python's json module read.
    private static void WriteNumber(Utf8JsonWriter w, double d)
    {
        if (double.IsFinite(d)) w.WriteNumberValue(d);
        else w.WriteStringValue(double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
    }

    private object? ReadValue(JsonElement e, string name, int group)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Number: return e.GetDouble();
            case JsonValueKind.True: return true;
            case JsonValueKind.False: return false;
            case JsonValueKind.Null: return null;
            case JsonValueKind.String:
                var s = e.GetString()!;
                return s switch { "NaN" => double.NaN, "Infinity" => double.PositiveInfinity, "-Infinity" => double.NegativeInfinity, _ => s };
            case JsonValueKind.Array when e.GetArrayLength() == 2 && e[0].ValueKind == JsonValueKind.Number && e[1].ValueKind == JsonValueKind.Number:
                return (e[0].GetDouble(), e[1].GetDouble());
            default:
                throw LoadError($"hyper-parameter '{name}' of parameter group {group} has an unsupported value {e.GetRawText()}");
        }
    }

    // ---- lifetime -----------------------------------------------------------------------------------

    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Frees the optimizer's state tensors (the parameters belong to the caller).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var g in _groups)
            foreach (var slot in g.State)
                for (var k = 0; k < slot.Length; k++)
                {
                    slot[k]?.Dispose();
                    slot[k] = null;
                }
        GC.SuppressFinalize(this);
    }

    public override string ToString()
    {
        var sb = new StringBuilder().Append(Name).Append(" (");
        for (var gi = 0; gi < _groups.Count; gi++)
        {
            sb.Append("\nParameter Group ").Append(gi);
            foreach (var (name, value) in _groups[gi].Options)
                sb.Append("\n    ").Append(name).Append(": ").Append(value switch
                {
                    double d => ParamGroup.Format(d),
                    bool b => b ? "True" : "False",
                    ValueTuple<double, double> p => $"({ParamGroup.Format(p.Item1)}, {ParamGroup.Format(p.Item2)})",
                    _ => value.ToString(),
                });
        }
        return sb.Append("\n)").ToString();
    }
}
