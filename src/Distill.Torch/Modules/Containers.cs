using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Distill.Torch.Modules;

/// <summary>Runs its children in order, each on the previous one's output; children are named "0", "1", ... unless named explicitly.</summary>
public sealed class Sequential : Module<Tensor, Tensor>, IEnumerable<Module<Tensor, Tensor>>
{
    /// <summary>An empty sequence (the identity until modules are appended).</summary>
    public Sequential() { }

    public Sequential(params Module<Tensor, Tensor>[] modules)
    {
        for (var k = 0; k < modules.Length; k++) register_module(k.ToString(System.Globalization.CultureInfo.InvariantCulture), modules[k]);
    }

    /// <summary>Children with chosen names (PyTorch's <c>Sequential(OrderedDict(...))</c>).</summary>
    public Sequential(params (string name, Module<Tensor, Tensor> module)[] modules)
    {
        foreach (var (name, module) in modules) register_module(name, module);
    }

    public int Count => ChildTable.Count;

    /// <summary>The child at a position (negative counts from the end).</summary>
    public Module<Tensor, Tensor> this[int index]
    {
        get
        {
            var i = index < 0 ? index + Count : index;
            if (i < 0 || i >= Count) throw new TorchException($"index {index} is out of range", ErrorCategory.Index);
            return AsTensorModule(ChildTable.GetAt(i).Value, ChildTable.GetAt(i).Key);
        }
    }

    /// <summary>Adds a module at the end, named by its position.</summary>
    public Sequential append(Module<Tensor, Tensor> module)
    {
        register_module(Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        return this;
    }

    private static Module<Tensor, Tensor> AsTensorModule(Module? module, string name) =>
        module as Module<Tensor, Tensor>
        ?? throw new TorchException($"Sequential child '{name}' is {(module is null ? "None" : module._get_name())}, not a module from Tensor to Tensor", ErrorCategory.Type);

    public override Tensor forward(Tensor input)
    {
        foreach (var (name, module) in ChildTable)
            if (module is not null) input = AsTensorModule(module, name).call(input);
        return input;
    }

    public IEnumerator<Module<Tensor, Tensor>> GetEnumerator()
    {
        foreach (var (name, module) in ChildTable)
            if (module is not null) yield return AsTensorModule(module, name);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A list of submodules named "0", "1", ... (renumbered on insert and removal, as in PyTorch). It has no forward.</summary>
public sealed class ModuleList<T> : Module, IList<T> where T : Module
{
    public ModuleList(params T[] modules) => extend(modules);

    public ModuleList(IEnumerable<T> modules) => extend(modules);

    public int Count => ChildTable.Count;

    public bool IsReadOnly => false;

    public T this[int index]
    {
        get => (T)ChildTable.GetAt(Position(index)).Value!;
        set => register_module(Position(index).ToString(System.Globalization.CultureInfo.InvariantCulture), value);
    }

    private int Position(int index)
    {
        var i = index < 0 ? index + Count : index;
        if (i < 0 || i >= Count) throw new TorchException($"index {index} is out of range", ErrorCategory.Index);
        return i;
    }

    public ModuleList<T> append(T module)
    {
        register_module(Count.ToString(System.Globalization.CultureInfo.InvariantCulture), module);
        return this;
    }

    public ModuleList<T> extend(IEnumerable<T> modules)
    {
        foreach (var m in modules) append(m);
        return this;
    }

    // A copy of the children (not ToList(): that calls CopyTo, which is defined by this).
    private List<T> Items()
    {
        var items = new List<T>(Count);
        foreach (var (_, module) in ChildTable) items.Add((T)module!);
        return items;
    }

    public void insert(int index, T module)
    {
        var items = Items();
        var i = Math.Clamp(index < 0 ? index + items.Count : index, 0, items.Count);
        items.Insert(i, module);
        Renumber(items);
    }

    private void Renumber(List<T> items)
    {
        ChildTable.Clear();
        for (var k = 0; k < items.Count; k++) register_module(k.ToString(System.Globalization.CultureInfo.InvariantCulture), items[k]);
    }

    public void Add(T item) => append(item);
    public void Insert(int index, T item) => insert(index, item);

    public void RemoveAt(int index)
    {
        var items = Items();
        items.RemoveAt(Position(index));
        Renumber(items);
    }

    public bool Remove(T item)
    {
        var i = IndexOf(item);
        if (i < 0) return false;
        RemoveAt(i);
        return true;
    }

    public void Clear() => ChildTable.Clear();
    public int IndexOf(T item) => Items().FindIndex(m => ReferenceEquals(m, item));
    public bool Contains(T item) => IndexOf(item) >= 0;
    public void CopyTo(T[] array, int arrayIndex) => Items().CopyTo(array, arrayIndex);

    public IEnumerator<T> GetEnumerator()
    {
        foreach (var (_, module) in ChildTable) yield return (T)module!;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Submodules by name, in insertion order. It has no forward.</summary>
public sealed class ModuleDict<T> : Module, IReadOnlyDictionary<string, T> where T : Module
{
    public ModuleDict() { }

    public ModuleDict(IEnumerable<KeyValuePair<string, T>> modules) => update(modules);

    public ModuleDict(params (string name, T module)[] modules)
    {
        foreach (var (name, module) in modules) register_module(name, module);
    }

    public int Count => ChildTable.Count;

    public T this[string key]
    {
        get => ChildTable.TryGetValue(key, out var m) && m is not null ? (T)m : throw new KeyNotFoundException(key);
        set => register_module(key, value);
    }

    public void Add(string key, T module) => register_module(key, module);

    public void update(IEnumerable<KeyValuePair<string, T>> modules)
    {
        foreach (var (key, module) in modules) register_module(key, module);
    }

    /// <summary>Removes and returns the module under <paramref name="key"/>.</summary>
    public T pop(string key)
    {
        var m = this[key];
        ChildTable.Remove(key);
        return m;
    }

    public void Clear() => ChildTable.Clear();

    public IEnumerable<string> Keys => ChildTable.Keys;
    public IEnumerable<T> Values => ChildTable.Values.Select(m => (T)m!);

    public bool ContainsKey(string key) => ChildTable.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out T value)
    {
        if (ChildTable.TryGetValue(key, out var m) && m is T t)
        {
            value = t;
            return true;
        }
        value = default;
        return false;
    }

    public IEnumerator<KeyValuePair<string, T>> GetEnumerator()
    {
        foreach (var (key, module) in ChildTable) yield return new KeyValuePair<string, T>(key, (T)module!);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
