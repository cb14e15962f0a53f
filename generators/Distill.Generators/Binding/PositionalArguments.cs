using System.Linq;
using Distill.Generators.Model;

namespace Distill.Generators.Binding;

/// <summary>
/// Names the positional arguments of code-first loss calls (<c>Loss.hinton_kd(Taps.Student.logits, ...)</c>)
/// from the loss's factory parameters, so that the binder sees the named arguments a YAML term has. The
/// factories are generated, hence absent from the compilation the reader sees: the catalog knows their
/// parameters. A position past the last parameter is a C# error already and is left out.
/// </summary>
internal static class PositionalArguments
{
    public static ExperimentSpec Resolve(ExperimentSpec spec, Catalog catalog)
    {
        if (!spec.Losses.Any(l => l.Arguments.Any(a => a.Position >= 0))) return spec;
        var losses = spec.Losses.Select(term =>
        {
            if (!term.Arguments.Any(a => a.Position >= 0)) return term;
            var parameters = catalog.Losses.FirstOrDefault(l => l.Name == term.Loss)?.FactoryParameters.ToList();
            // An unknown loss keeps its arguments as they are: the binder reports the loss, and still sees what the term reads.
            if (parameters is null) return term;
            var arguments = term.Arguments
                .Where(a => a.Position < parameters.Count)
                .Select(a => a.Position < 0 ? a : a with { Name = parameters[a.Position], Position = -1 });
            return term with { Arguments = arguments.ToEquatableArray() };
        });
        return spec with { Losses = losses.ToEquatableArray() };
    }
}
