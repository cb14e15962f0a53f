using System.Reflection;

namespace Distill.Torch.Modules;

/// <summary>
/// The base of every layer and model (<c>torch.nn.Module</c>): named parameters, buffers and submodules
/// in registration order, so that <see cref="state_dict"/> has PyTorch's names and order
/// (<c>layer1.0.conv1.weight</c>, <c>bn1.running_mean</c>, ...); train/eval mode; device and dtype
/// moves that keep parameter identity; loading and saving state.
/// <para>
/// Register components explicitly (<see cref="register_parameter"/>, <see cref="register_buffer"/>,
/// <see cref="register_module"/>) or declare them as fields and call <see cref="RegisterComponents"/> at
/// the end of the constructor. A module owns what is registered with it: <see cref="Dispose()"/> frees
/// its parameters, buffers and submodules.
/// </para>
/// </summary>
public abstract class Module : IDisposable
{
    private readonly OrderedDictionary<string, Parameter?> _parameters = new();
    private readonly OrderedDictionary<string, Tensor?> _buffers = new();
    private readonly HashSet<string> _nonPersistentBuffers = new();
    private readonly OrderedDictionary<string, Module?> _modules = new();
    private bool _disposed;

    /// <summary>Training mode (the default) or evaluation mode; set it for the whole tree with <see cref="train"/>/<see cref="eval"/>.</summary>
    public bool training { get; set; } = true;

    /// <summary>The name PyTorch prints for this module: the class name.</summary>
    public virtual string _get_name()
    {
        var name = GetType().Name;
        var tick = name.IndexOf('`');
        return tick < 0 ? name : name[..tick];
    }

    // ---- registration ------------------------------------------------------------------------------

    private static void CheckName(string name, string kind, bool moduleMessage = false)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Contains('.'))
            throw new TorchException(moduleMessage ? $"module name can't contain \".\", got: {name}" : $"{kind} name can't contain \".\"", ErrorCategory.Value);
        if (name.Length == 0) throw new TorchException($"{kind} name can't be empty string \"\"", ErrorCategory.Value);
    }

    private static TorchException Exists(string name) => new($"attribute '{name}' already exists", ErrorCategory.Value);

    /// <summary>Adds (or replaces) a parameter; null registers PyTorch's None (absent from the state_dict).</summary>
    public void register_parameter(string name, Parameter? param)
    {
        CheckName(name, "parameter");
        if (_buffers.ContainsKey(name) || _modules.ContainsKey(name)) throw Exists(name);
        _parameters[name] = param;
    }

    /// <summary>
    /// Adds (or replaces) a buffer: state that is not trained (running statistics). A non-persistent
    /// buffer is moved with the module but left out of the state_dict. The module takes ownership.
    /// </summary>
    public void register_buffer(string name, Tensor? tensor, bool persistent = true)
    {
        CheckName(name, "buffer");
        if (_parameters.ContainsKey(name) || _modules.ContainsKey(name)) throw Exists(name);
        tensor?.DetachFromDisposeScope();
        _buffers[name] = tensor;
        if (persistent) _nonPersistentBuffers.Remove(name);
        else _nonPersistentBuffers.Add(name);
    }

    /// <summary>Adds (or replaces) a submodule under <paramref name="name"/>.</summary>
    public void register_module(string name, Module? module)
    {
        CheckName(name, "module", moduleMessage: true);
        if (_parameters.ContainsKey(name) || _buffers.ContainsKey(name)) throw Exists(name);
        _modules[name] = module;
    }

    /// <summary>PyTorch's other name for <see cref="register_module"/>.</summary>
    public void add_module(string name, Module? module) => register_module(name, module);

    /// <summary>
    /// Registers this object's fields, in declaration order (base classes first): <see cref="Parameter"/>
    /// fields as parameters, <see cref="Module"/> fields as submodules and other <see cref="Tensor"/>
    /// fields as buffers, each under the field's name (an auto-property under the property's name).
    /// Null fields are skipped, like plain attributes in PyTorch. Call it at the end of the constructor.
    /// </summary>
    protected void RegisterComponents()
    {
        var types = new List<Type>();
        for (var t = GetType(); t is not null && t != typeof(Module); t = t.BaseType)
            if (t.Assembly != typeof(Module).Assembly) types.Add(t); // our own modules register explicitly
        types.Reverse();
        const BindingFlags flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        foreach (var type in types)
        {
            foreach (var field in type.GetFields(flags).OrderBy(f => f.MetadataToken))
            {
                var name = ComponentName(field.Name);
                switch (field.GetValue(this))
                {
                    case Parameter p:
                        if (!_parameters.TryGetValue(name, out var existing) || !ReferenceEquals(existing, p)) register_parameter(name, p);
                        break;
                    case Module m:
                        if (!_modules.TryGetValue(name, out var existingModule) || !ReferenceEquals(existingModule, m)) register_module(name, m);
                        break;
                    case Tensor t:
                        if (!_buffers.TryGetValue(name, out var existingBuffer) || !ReferenceEquals(existingBuffer, t)) register_buffer(name, t);
                        break;
                }
            }
        }
    }

    // "<conv1>k__BackingField" is the field behind the auto-property conv1.
    private static string ComponentName(string fieldName) =>
        fieldName.StartsWith('<') && fieldName.IndexOf(">k__BackingField", StringComparison.Ordinal) is var end and > 0
            ? fieldName[1..end]
            : fieldName;

    // ---- direct access for subclasses ----------------------------------------------------------------

    /// <summary>This module's own parameter <paramref name="name"/> (null when None or absent).</summary>
    protected Parameter? GetParameter(string name) => _parameters.TryGetValue(name, out var p) ? p : null;

    /// <summary>This module's own buffer <paramref name="name"/> (null when None or absent).</summary>
    protected Tensor? GetBuffer(string name) => _buffers.TryGetValue(name, out var b) ? b : null;

    /// <summary>This module's own child <paramref name="name"/> (null when None or absent).</summary>
    protected Module? GetChild(string name) => _modules.TryGetValue(name, out var m) ? m : null;

    /// <summary>The ordered children by name (containers renumber it).</summary>
    private protected OrderedDictionary<string, Module?> ChildTable => _modules;

    // ---- lookup by dotted path ---------------------------------------------------------------------

    /// <summary>The submodule at a dotted path such as <c>layer1.0.conv1</c> ("" is this module).</summary>
    public Module get_submodule(string target)
    {
        if (target.Length == 0) return this;
        var module = this;
        foreach (var item in target.Split('.'))
        {
            if (!module._modules.TryGetValue(item, out var next) || next is null)
                throw new TorchException($"{module._get_name()} has no attribute `{item}`", ErrorCategory.Value);
            module = next;
        }
        return module;
    }

    /// <summary>The parameter at a dotted path such as <c>layer1.0.conv1.weight</c>.</summary>
    public Parameter get_parameter(string target)
    {
        var (owner, name) = Split(target);
        if (!owner._parameters.TryGetValue(name, out var p))
            throw new TorchException($"{owner._get_name()} has no attribute `{name}`", ErrorCategory.Value);
        return p ?? throw new TorchException($"`{name}` is not an nn.Parameter", ErrorCategory.Value);
    }

    /// <summary>The buffer at a dotted path such as <c>bn1.running_mean</c>.</summary>
    public Tensor get_buffer(string target)
    {
        var (owner, name) = Split(target);
        if (!owner._buffers.TryGetValue(name, out var b))
            throw new TorchException($"{owner._get_name()} has no attribute `{name}`", ErrorCategory.Value);
        return b ?? throw new TorchException($"`{name}` is not a buffer", ErrorCategory.Value);
    }

    private (Module owner, string name) Split(string target)
    {
        var dot = target.LastIndexOf('.');
        return dot < 0 ? (this, target) : (get_submodule(target[..dot]), target[(dot + 1)..]);
    }

    // ---- traversal ---------------------------------------------------------------------------------------

    /// <summary>The direct submodules with their names (each module once).</summary>
    public IEnumerable<(string name, Module module)> named_children()
    {
        var memo = new HashSet<Module>(ReferenceEqualityComparer.Instance);
        foreach (var (name, module) in _modules)
            if (module is not null && memo.Add(module)) yield return (name, module);
    }

    public IEnumerable<Module> children() => named_children().Select(c => c.module);

    /// <summary>This module (named <paramref name="prefix"/>) and every submodule, depth first, with dotted names.</summary>
    public IEnumerable<(string name, Module module)> named_modules(string prefix = "", bool remove_duplicate = true) =>
        NamedModules(remove_duplicate ? new HashSet<Module>(ReferenceEqualityComparer.Instance) : null, prefix);

    private IEnumerable<(string name, Module module)> NamedModules(HashSet<Module>? memo, string prefix)
    {
        if (memo is not null && !memo.Add(this)) yield break;
        yield return (prefix, this);
        foreach (var (name, module) in _modules)
        {
            if (module is null) continue;
            foreach (var item in module.NamedModules(memo, Join(prefix, name))) yield return item;
        }
    }

    public IEnumerable<Module> modules() => named_modules().Select(m => m.module);

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    private IEnumerable<(string name, T value)> NamedMembers<T>(Func<Module, IEnumerable<KeyValuePair<string, T?>>> members, string prefix, bool recurse)
        where T : class
    {
        var memo = new HashSet<T>(ReferenceEqualityComparer.Instance);
        var scope = recurse ? named_modules(prefix) : new[] { (prefix, this) };
        foreach (var (modulePrefix, module) in scope)
            foreach (var (name, value) in members(module))
                if (value is not null && memo.Add(value)) yield return (Join(modulePrefix, name), value);
    }

    /// <summary>Every parameter (each once) with its dotted name, module by module in registration order.</summary>
    public IEnumerable<(string name, Parameter parameter)> named_parameters(string prefix = "", bool recurse = true) =>
        NamedMembers(m => m._parameters, prefix, recurse);

    public IEnumerable<Parameter> parameters(bool recurse = true) => named_parameters(recurse: recurse).Select(p => p.parameter);

    /// <summary>Every buffer (persistent or not, each once) with its dotted name.</summary>
    public IEnumerable<(string name, Tensor buffer)> named_buffers(string prefix = "", bool recurse = true) =>
        NamedMembers(m => m._buffers, prefix, recurse);

    public IEnumerable<Tensor> buffers(bool recurse = true) => named_buffers(recurse: recurse).Select(b => b.buffer);

    /// <summary>Calls <paramref name="fn"/> on every submodule, then on this one (for custom initialisation).</summary>
    public Module apply(Action<Module> fn)
    {
        foreach (var child in children()) child.apply(fn);
        fn(this);
        return this;
    }

    // ---- modes and gradients -------------------------------------------------------------------------------

    /// <summary>Sets training mode on this module and every submodule; returns this module.</summary>
    public virtual Module train(bool mode = true)
    {
        training = mode;
        foreach (var child in children()) child.train(mode);
        return this;
    }

    /// <summary>Evaluation mode (dropout off, batch norm on running statistics): <c>train(false)</c>.</summary>
    public Module eval() => train(false);

    /// <summary>Sets requires_grad on every parameter (false freezes the module).</summary>
    public Module requires_grad_(bool requires_grad = true)
    {
        foreach (var p in parameters()) p.requires_grad = requires_grad;
        return this;
    }

    /// <summary>Clears every parameter's gradient (or zeroes it in place with set_to_none false).</summary>
    public void zero_grad(bool set_to_none = true)
    {
        foreach (var p in parameters()) p.zero_grad(set_to_none);
    }

    // ---- state ---------------------------------------------------------------------------------------------

    /// <summary>
    /// Parameters and persistent buffers by dotted name, in PyTorch's order: a module's own parameters,
    /// then its buffers, then each submodule's entries. The values share storage with the module
    /// (detached new handles, or the module's own tensors with <paramref name="keep_vars"/>).
    /// </summary>
    public OrderedDictionary<string, Tensor> state_dict(string prefix = "", bool keep_vars = false)
    {
        var destination = new OrderedDictionary<string, Tensor>();
        SaveStateDict(destination, prefix, keep_vars);
        return destination;
    }

    private void SaveStateDict(OrderedDictionary<string, Tensor> destination, string prefix, bool keepVars)
    {
        _save_to_state_dict(destination, prefix, keepVars);
        foreach (var (name, module) in _modules)
            module?.SaveStateDict(destination, prefix + name + ".", keepVars);
    }

    /// <summary>Writes this module's own entries (not its submodules') under <paramref name="prefix"/>.</summary>
    protected virtual void _save_to_state_dict(OrderedDictionary<string, Tensor> destination, string prefix, bool keep_vars)
    {
        foreach (var (name, p) in _parameters)
            if (p is not null) destination[prefix + name] = keep_vars ? p : p.detach();
        foreach (var (name, b) in _buffers)
            if (b is not null && !_nonPersistentBuffers.Contains(name)) destination[prefix + name] = keep_vars ? b : b.detach();
    }

    /// <summary>
    /// Copies parameters and persistent buffers from <paramref name="state_dict"/> in place (converting
    /// dtype and device as <c>copy_</c> does). Shape mismatches are errors; with <paramref name="strict"/>,
    /// missing and unexpected keys are too. All problems are reported together in one
    /// <see cref="TorchException"/>, worded as PyTorch's. Returns the missing and unexpected keys.
    /// </summary>
    public IncompatibleKeys load_state_dict(IEnumerable<KeyValuePair<string, Tensor>> state_dict, bool strict = true)
    {
        var source = new OrderedDictionary<string, Tensor>();
        foreach (var (key, value) in state_dict) source[key] = value;
        var missing = new List<string>();
        var unexpected = new List<string>();
        var errors = new List<string>();
        using (torch.NewDisposeScope()) LoadStateDict(this, source, "", missing, unexpected, errors);
        if (strict)
        {
            if (unexpected.Count > 0)
                errors.Insert(0, $"Unexpected key(s) in state_dict: {string.Join(", ", unexpected.Select(k => $"\"{k}\""))}. ");
            if (missing.Count > 0)
                errors.Insert(0, $"Missing key(s) in state_dict: {string.Join(", ", missing.Select(k => $"\"{k}\""))}. ");
        }
        if (errors.Count > 0)
            throw new TorchException($"Error(s) in loading state_dict for {_get_name()}:\n\t{string.Join("\n\t", errors)}", ErrorCategory.Runtime);
        return new IncompatibleKeys(missing, unexpected);
    }

    private static void LoadStateDict(Module module, OrderedDictionary<string, Tensor> stateDict, string prefix,
        List<string> missing, List<string> unexpected, List<string> errors)
    {
        module._load_from_state_dict(stateDict, prefix, missing, unexpected, errors);
        foreach (var (name, child) in module._modules)
        {
            if (child is null) continue;
            var childPrefix = prefix + name + ".";
            var childState = new OrderedDictionary<string, Tensor>();
            foreach (var (key, value) in stateDict)
                if (key.StartsWith(childPrefix, StringComparison.Ordinal)) childState[key] = value;
            LoadStateDict(child, childState, childPrefix, missing, unexpected, errors);
        }
    }

    /// <summary>
    /// Loads this module's own entries: copies what matches, records missing keys, unexpected keys in
    /// this module's namespace, and size mismatches. Override to accept older layouts (call the base).
    /// </summary>
    protected virtual void _load_from_state_dict(OrderedDictionary<string, Tensor> state_dict, string prefix,
        List<string> missing_keys, List<string> unexpected_keys, List<string> error_msgs)
    {
        var local = new OrderedDictionary<string, Tensor>();
        foreach (var (name, p) in _parameters) if (p is not null) local[name] = p;
        foreach (var (name, b) in _buffers) if (b is not null && !_nonPersistentBuffers.Contains(name)) local[name] = b;

        foreach (var (name, param) in local)
        {
            var key = prefix + name;
            if (!state_dict.TryGetValue(key, out var input))
            {
                missing_keys.Add(key);
                continue;
            }
            var inputShape = input.shape;
            var paramShape = param.shape;
            if (!inputShape.AsSpan().SequenceEqual(paramShape))
            {
                error_msgs.Add($"size mismatch for {key}: copying a param with shape {SizeText(inputShape)} from checkpoint, " +
                               $"the shape in current model is {SizeText(paramShape)}.");
                continue;
            }
            try
            {
                using (torch.no_grad()) param.copy_(input);
            }
            catch (TorchException ex)
            {
                error_msgs.Add($"While copying the parameter named \"{key}\", whose dimensions in the model are {SizeText(paramShape)} " +
                               $"and whose dimensions in the checkpoint are {SizeText(inputShape)}, an exception occurred : ('{ex.Message}',).");
            }
        }

        foreach (var key in state_dict.Keys)
        {
            if (!key.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var rest = key[prefix.Length..];
            var dot = rest.IndexOf('.');
            var inputName = dot < 0 ? rest : rest[..dot];
            if (!_modules.ContainsKey(inputName) && !local.ContainsKey(inputName)) unexpected_keys.Add(key);
        }
    }

    /// <summary>PyTorch's printout of a shape: <c>torch.Size([64, 3, 7, 7])</c>.</summary>
    internal static string SizeText(long[] shape) => "torch.Size([" + string.Join(", ", shape) + "])";

    // ---- device and dtype --------------------------------------------------------------------------------------

    /// <summary>
    /// Replaces the data of every parameter (and its gradient) and buffer with <paramref name="fn"/>'s
    /// result, keeping the tensor objects, as PyTorch's <c>param.data = fn(param.data)</c>.
    /// </summary>
    protected internal virtual void _apply(Func<Tensor, Tensor> fn)
    {
        foreach (var child in children()) child._apply(fn);
        using var noGrad = torch.no_grad();
        foreach (var (_, p) in _parameters)
        {
            if (p is null) continue;
            Replace(p, fn);
            using var grad = p.grad;
            if (grad is not null) Replace(grad, fn);
        }
        foreach (var (_, b) in _buffers)
            if (b is not null) Replace(b, fn);
    }

    private static void Replace(Tensor t, Func<Tensor, Tensor> fn)
    {
        var applied = fn(t);
        try
        {
            t.set_data(applied);
        }
        finally
        {
            if (!ReferenceEquals(applied, t)) applied.Dispose();
        }
    }

    internal void MoveTo(Device? device, ScalarType? dtype, bool nonBlocking)
    {
        if (dtype is { } d && !d.IsFloatingPoint())
            throw new TorchException($"nn.Module.to only accepts floating point or complex dtypes, but got desired dtype=torch.{d.Name()}", ErrorCategory.Type);
        _apply(t => t.to(t.is_floating_point() ? dtype : null, device, nonBlocking));
    }

    // ---- printing ------------------------------------------------------------------------------------------------

    /// <summary>This module's own settings as PyTorch prints them inside the parentheses.</summary>
    public virtual string extra_repr() => "";

    /// <summary>PyTorch's module printout, children indented.</summary>
    public override string ToString()
    {
        var extra = extra_repr();
        var extraLines = extra.Length == 0 ? Array.Empty<string>() : extra.Split('\n');
        var childLines = _modules.Select(kv => "(" + kv.Key + "): " + Indent(kv.Value?.ToString() ?? "None", 2)).ToList();
        var lines = extraLines.Concat(childLines).ToList();
        var text = _get_name() + "(";
        if (lines.Count > 0)
        {
            if (extraLines.Length == 1 && childLines.Count == 0) text += extraLines[0];
            else text += "\n  " + string.Join("\n  ", lines) + "\n";
        }
        return text + ")";
    }

    private static string Indent(string text, int spaces)
    {
        var lines = text.Split('\n');
        if (lines.Length == 1) return text;
        var pad = new string(' ', spaces);
        return lines[0] + "\n" + string.Join("\n", lines.Skip(1).Select(l => pad + l));
    }

    // ---- lifetime ----------------------------------------------------------------------------------------------------

    /// <summary>Frees this module's parameters, buffers and submodules.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (_disposed || !disposing) return;
        _disposed = true;
        foreach (var (_, module) in _modules) module?.Dispose();
        foreach (var (_, p) in _parameters) p?.Dispose();
        foreach (var (_, b) in _buffers) b?.Dispose();
    }
}

/// <summary>The keys <see cref="Module.load_state_dict"/> did not match.</summary>
public sealed record IncompatibleKeys(IReadOnlyList<string> missing_keys, IReadOnlyList<string> unexpected_keys)
{
    public override string ToString() =>
        missing_keys.Count == 0 && unexpected_keys.Count == 0
            ? "<All keys matched successfully>"
            : $"_IncompatibleKeys(missing_keys=[{string.Join(", ", missing_keys.Select(k => $"'{k}'"))}], unexpected_keys=[{string.Join(", ", unexpected_keys.Select(k => $"'{k}'"))}])";
}

/// <summary>A module with one input (<c>forward(x)</c>); <see cref="call"/> runs the hooks around forward.</summary>
public abstract class Module<TIn, TOut> : Module
{
    private readonly List<(int id, Func<Module<TIn, TOut>, TIn, TIn> hook)> _preHooks = new();
    private readonly List<(int id, Func<Module<TIn, TOut>, TIn, TOut, TOut> hook)> _hooks = new();
    private int _nextHookId;

    /// <summary>The computation; call modules through <see cref="call"/> so that hooks run.</summary>
    public abstract TOut forward(TIn input);

    /// <summary>Runs the forward pre-hooks, <see cref="forward"/>, then the forward hooks (PyTorch's <c>module(x)</c>).</summary>
    public TOut call(TIn input)
    {
        if (_preHooks.Count > 0)
            foreach (var (_, hook) in _preHooks.ToArray()) input = hook(this, input);
        var output = forward(input);
        if (_hooks.Count > 0)
            foreach (var (_, hook) in _hooks.ToArray()) output = hook(this, input, output);
        return output;
    }

    /// <summary>Runs <paramref name="hook"/> before forward; it returns the (possibly replaced) input.</summary>
    public HookHandle register_forward_pre_hook(Func<Module<TIn, TOut>, TIn, TIn> hook)
    {
        var id = _nextHookId++;
        _preHooks.Add((id, hook));
        return new HookHandle(() => _preHooks.RemoveAll(h => h.id == id));
    }

    /// <summary>Runs <paramref name="hook"/> after forward; it returns the (possibly replaced) output.</summary>
    public HookHandle register_forward_hook(Func<Module<TIn, TOut>, TIn, TOut, TOut> hook)
    {
        var id = _nextHookId++;
        _hooks.Add((id, hook));
        return new HookHandle(() => _hooks.RemoveAll(h => h.id == id));
    }

    /// <summary>Observes forward's input and output (feature extraction) without changing them.</summary>
    public HookHandle register_forward_hook(Action<Module<TIn, TOut>, TIn, TOut> hook) =>
        register_forward_hook((m, i, o) =>
        {
            hook(m, i, o);
            return o;
        });
}

/// <summary>A module with two inputs (<c>forward(x, y)</c>), such as a loss.</summary>
public abstract class Module<TIn1, TIn2, TOut> : Module
{
    public abstract TOut forward(TIn1 input1, TIn2 input2);

    public TOut call(TIn1 input1, TIn2 input2) => forward(input1, input2);
}

/// <summary>Removes a hook when <see cref="remove"/>d or disposed.</summary>
public sealed class HookHandle : IDisposable
{
    private Action? _remove;

    internal HookHandle(Action remove) => _remove = remove;

    public void remove()
    {
        _remove?.Invoke();
        _remove = null;
    }

    public void Dispose() => remove();
}

/// <summary>Device and dtype moves that return the module with its own type (<c>var m = new Net().to(device)</c>).</summary>
public static class ModuleExtensions
{
    /// <summary>Moves every parameter and buffer to <paramref name="device"/>, keeping the tensor objects.</summary>
    public static T to<T>(this T module, Device device, bool non_blocking = false) where T : Module
    {
        module.MoveTo(device, null, non_blocking);
        return module;
    }

    /// <summary>Converts the floating-point parameters and buffers to <paramref name="dtype"/> (integral ones stay), keeping the tensor objects.</summary>
    public static T to<T>(this T module, ScalarType dtype, bool non_blocking = false) where T : Module
    {
        module.MoveTo(null, dtype, non_blocking);
        return module;
    }

    public static T to<T>(this T module, Device device, ScalarType dtype, bool non_blocking = false) where T : Module
    {
        module.MoveTo(device, dtype, non_blocking);
        return module;
    }

    /// <summary>Moves to the device and floating dtype of <paramref name="tensor"/>.</summary>
    public static T to<T>(this T module, Tensor tensor, bool non_blocking = false) where T : Module
    {
        module.MoveTo(tensor.device, tensor.dtype, non_blocking);
        return module;
    }

    /// <summary>
    /// Lays out every 4-D parameter and buffer (5-D for <see cref="MemoryFormat.ChannelsLast3d"/>) in
    /// <paramref name="memory_format"/>, keeping the tensor objects: PyTorch's <c>model.to(memory_format=...)</c>. Other
    /// tensors keep their layout. State dicts and checkpoints are still written in the default layout.
    /// </summary>
    public static T to<T>(this T module, MemoryFormat memory_format) where T : Module
    {
        if (memory_format == MemoryFormat.Preserve)
            throw new ArgumentException("a module is laid out in contiguous, channels_last or channels_last_3d; preserve_format is for copies", nameof(memory_format));
        var rank = memory_format switch
        {
            MemoryFormat.ChannelsLast => 4L,
            MemoryFormat.ChannelsLast3d => 5L,
            _ => -1L,
        };
        module._apply(t => rank < 0 || t.dim() == rank ? t.contiguous(memory_format) : t);
        return module;
    }

    public static T cpu<T>(this T module) where T : Module => module.to(Device.CPU);
    public static T cuda<T>(this T module, int? device = null) where T : Module => module.to(new Device(DeviceType.CUDA, device ?? -1));
    public static T half<T>(this T module) where T : Module => module.to(ScalarType.Float16);
    public static T bfloat16<T>(this T module) where T : Module => module.to(ScalarType.BFloat16);
    public static T @float<T>(this T module) where T : Module => module.to(ScalarType.Float32);
    public static T @double<T>(this T module) where T : Module => module.to(ScalarType.Float64);
}
