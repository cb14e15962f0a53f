using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.Runtime;

/// <summary>The parameters an optimizer group of a generated experiment takes.</summary>
public static class TrainableParameters
{
    /// <summary>
    /// The parameters of <paramref name="modules"/> that take gradients, in module order, leaving out those of
    /// <paramref name="excluding"/> (submodules that parameter groups name by path, so each parameter is in one group only)
    /// and frozen ones (<c>requires_grad</c> false: <c>freeze:</c>, or a scale a model keeps fixed).
    /// </summary>
    public static List<Tensor> Of(IEnumerable<Module> modules, IEnumerable<Module>? excluding = null)
    {
        ArgumentNullException.ThrowIfNull(modules);
        var excluded = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var m in excluding ?? [])
            foreach (var p in m.parameters()) excluded.Add(p);
        var result = new List<Tensor>();
        foreach (var m in modules)
            foreach (var p in m.parameters())
                if (p.requires_grad && !excluded.Contains(p)) result.Add(p);
        return result;
    }
}
