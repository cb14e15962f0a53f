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
}
