using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.Runtime;

/// <summary>Submodules of an experiment's models by PyTorch module path (<c>layer1.0.conv1</c>), with errors that name the experiment.</summary>
public static class ModulePaths
{
    /// <summary>
    /// Turns off the gradients of every parameter under each path of <paramref name="model"/> (the experiment's
    /// <c>freeze:</c>), so the optimizer and the clipping leave them out. A path the model does not have is an error that
    /// lists the submodules where the path went wrong.
    /// </summary>
    public static void Freeze(Module model, string modelName, string experiment, IReadOnlyList<string> paths)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(paths);
        foreach (var path in paths)
            foreach (var p in Find(model, modelName, experiment, path).parameters())
                p.requires_grad = false;
    }

    /// <summary>The submodule of <paramref name="model"/> at <paramref name="path"/>, or an error naming the experiment, the path and what exists there.</summary>
    public static Module Find(Module model, string modelName, string experiment, string path)
    {
        var module = model;
        var walked = new List<string>();
        foreach (var part in path.Split('.'))
        {
            var children = module.named_children().ToList();
            var next = children.FirstOrDefault(c => c.name == part).module;
            if (next is null)
            {
                var where = walked.Count == 0 ? $"{modelName} ({model.GetType().Name})" : $"{modelName}.{string.Join(".", walked)}";
                var names = children.Count == 0 ? "it has no submodules" : "its submodules: " + string.Join(", ", children.Select(c => c.name));
                throw new DistillRuntimeException($"'{experiment}': {modelName} has no submodule '{path}' ({where} has no '{part}'; {names})");
            }
            module = next;
            walked.Add(part);
        }
        return module;
    }

    /// <summary>
    /// Loads the submodule at <paramref name="path"/> of <paramref name="model"/> from a <c>.safetensors</c> state dict with
    /// PyTorch's names relative to that submodule (the experiment's <c>init:</c>; an ImageNet ResNet's
    /// <c>conv1.weight</c> ... into a detector's <c>backbone.body</c>). Every parameter and buffer of the submodule must be in
    /// the file with its shape; tensors of the file the submodule does not have (the classifier <c>fc.*</c>, a plain batch
    /// norm's <c>num_batches_tracked</c> beside a frozen one) are left out and named in the returned text.
    /// </summary>
    /// <returns>What was loaded, for the run's log: "backbone.body ← file (N tensors; not used: ...)".</returns>
    public static string Initialize(Module model, string modelName, string experiment, string path, string file)
    {
        ArgumentNullException.ThrowIfNull(model);
        var target = Find(model, modelName, experiment, path);
        var full = TeacherWeights.ResolveFile(file)
            ?? throw new DistillRuntimeException($"'{experiment}': init of {modelName}.{path}: '{file}' does not exist" +
                (Path.IsPathFullyQualified(file) ? "" : $" in '{Environment.CurrentDirectory}' nor in any directory above it"));
        using var content = ReadStateDict(full, modelName, path, experiment);
        var saved = content.ToDictionary();
        var missing = new List<string>();
        var mismatched = new List<string>();
        var wanted = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using (torch.NewDisposeScope())
        {
            foreach (var (key, live) in target.state_dict())
            {
                if (!saved.TryGetValue(key, out var t)) missing.Add(key);
                else if (!t.shape.AsSpan().SequenceEqual(live.shape))
                    mismatched.Add($"'{key}' is [{string.Join(", ", t.shape)}] in the file but [{string.Join(", ", live.shape)}] in {modelName}.{path}");
                else wanted[key] = t;
            }
        }
        if (missing.Count > 0 || mismatched.Count > 0)
        {
            var problems = new List<string>();
            if (missing.Count > 0) problems.Add($"missing from the file: {Few(missing)}");
            problems.AddRange(mismatched.Take(8));
            throw new DistillRuntimeException($"'{experiment}': init of {modelName}.{path} from '{full}': the file does not fit the submodule " +
                $"({Tensors(wanted.Count + mismatched.Count + missing.Count)} in it):\n  - {string.Join("\n  - ", problems)}");
        }
        target.load_state_dict(wanted, strict: true);
        var unused = saved.Keys.Where(k => !wanted.ContainsKey(k)).ToList();
        return $"{modelName}.{path} ← '{file}' ({Tensors(wanted.Count)}" + (unused.Count == 0 ? ")" : $"; not used: {Grouped(unused)})");
    }

    private static Safetensors.Content ReadStateDict(string full, string modelName, string path, string experiment)
    {
        try
        {
            return Safetensors.Read(full);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or FormatException or ArgumentException or TorchException)
        {
            throw new DistillRuntimeException($"'{experiment}': init of {modelName}.{path}: '{full}' is not a readable .safetensors file: {e.Message}", e);
        }
    }

    private static string Tensors(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture) + (n == 1 ? " tensor" : " tensors");

    /// <summary>Names, those sharing a last part with two or more others as one "N × *.part" (every batch norm's <c>num_batches_tracked</c>).</summary>
    private static string Grouped(IReadOnlyList<string> names)
    {
        static string Last(string name) => name[(name.LastIndexOf('.') + 1)..];
        var repeated = names.GroupBy(Last).Where(g => g.Count() > 2).ToDictionary(g => g.Key, g => g.Count());
        var single = names.Where(n => !repeated.ContainsKey(Last(n))).ToList();
        var parts = new List<string>();
        if (single.Count > 0) parts.Add(Few(single));
        parts.AddRange(repeated.Select(kv => $"{kv.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)} × *.{kv.Key}"));
        return string.Join(", ", parts);
    }

    /// <summary>Up to six names, then how many more.</summary>
    private static string Few(IReadOnlyList<string> names) =>
        string.Join(", ", names.Take(6)) + (names.Count > 6 ? $" and {(names.Count - 6).ToString(System.Globalization.CultureInfo.InvariantCulture)} more" : "");
}
