using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Distill.Generators.Emitting;
using Distill.Generators.Model;
using Distill.Generators.Parsing;
using Microsoft.CodeAnalysis;

namespace Distill.Generators;

/// <summary>
/// The Distill DSL generator. Pipeline (each step's output is an equatable value, so unchanged inputs
/// stay cached):
/// <code>
/// *.distill.yaml ─ parse ─┬─ diagnostics (with locations) ──────────────► reported
///                          └─ description (no locations) ─ emit ─────────► &lt;Class&gt;.g.cs
/// </code>
/// The binder, planner and loop emitter join this pipeline between parse and emit.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ExperimentGenerator : IIncrementalGenerator
{
    /// <summary>Step names, for incremental-caching tests.</summary>
    public static class Steps
    {
        public const string YamlParsed = "Distill.YamlParsed";
        public const string Descriptions = "Distill.Descriptions";
        public const string Diagnostics = "Distill.Diagnostics";
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.AdditionalTextsProvider
            .Where(static text => text.Path.EndsWith(".distill.yaml", StringComparison.OrdinalIgnoreCase))
            .Select(static (text, ct) =>
            {
                var diagnostics = new List<DiagnosticInfo>();
                var source = text.GetText(ct);
                if (source is null)
                {
                    diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, null, $"cannot read {text.Path}"));
                    return new ParseResult(null, diagnostics.ToEquatableArray());
                }
                var spec = YamlExperimentReader.Read(text.Path, source.ToString(), diagnostics);
                return new ParseResult(spec, diagnostics.ToEquatableArray());
            })
            .WithTrackingName(Steps.YamlParsed);

        var diagnostics = parsed.Select(static (r, _) => r.Diagnostics).WithTrackingName(Steps.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var d in list) spc.ReportDiagnostic(d.ToDiagnostic());
        });

        // Only experiments without errors generate code; the description drops locations so that an
        // edit that merely moves text leaves this step's output equal (and the source output cached).
        var descriptions = parsed
            .Where(static r => r.Spec is not null && !r.Diagnostics.Any(d => Diagnostics.DiagnosticDescriptors.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error))
            .Select(static (r, _) => ExperimentDescription.From(r.Spec!))
            .WithTrackingName(Steps.Descriptions);

        context.RegisterSourceOutput(descriptions.Collect(), static (spc, all) =>
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var d in all.OrderBy(d => d.ClassName, StringComparer.Ordinal))
            {
                if (!seen.Add(d.ClassName)) continue; // a duplicate experiment name is reported by the binder
                spc.AddSource(d.ClassName + ".g.cs", DescriptionEmitter.Emit(d));
            }
        });
    }

    internal sealed record ParseResult(ExperimentSpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics);
}
