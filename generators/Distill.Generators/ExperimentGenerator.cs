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
        public const string Catalog = "Distill.Catalog";
        public const string Bound = "Distill.Bound";
        public const string Emitted = "Distill.Emitted";
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

        // The models, losses and data sets the compilation offers; compared by value, so edits that do
        // not touch metadata leave every step after it cached.
        var catalog = context.CompilationProvider
            .Select(static (c, ct) => Binding.CatalogBuilder.Build(c, ct))
            .WithTrackingName(Steps.Catalog);

        var bound = parsed.Combine(catalog)
            .Select(static (pair, _) =>
            {
                var (parse, cat) = pair;
                if (parse.Spec is null) return parse;
                var all = parse.Diagnostics.Concat(Binding.Binder.Bind(parse.Spec, cat)).ToEquatableArray();
                return parse with { Diagnostics = all };
            })
            .WithTrackingName(Steps.Bound);

        var diagnostics = bound.Select(static (r, _) => r.Diagnostics).WithTrackingName(Steps.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var d in list) spc.ReportDiagnostic(d.ToDiagnostic());
        });

        // Across experiments: duplicate names and cycles of teachers trained by other experiments.
        var stages = parsed.Where(static r => r.Spec is not null)
            .Select(static (r, _) => new StageInfo(r.Spec!.Name, r.Spec.NameLocation,
                r.Spec.Models.Where(m => m.Checkpoint?.FromExperiment is not null).Select(m => m.Checkpoint!.FromExperiment!).ToEquatableArray()))
            .Collect();
        context.RegisterSourceOutput(stages, static (spc, all) =>
        {
            foreach (var d in Binding.StageChecker.Check(all)) spc.ReportDiagnostic(d.ToDiagnostic());
        });

        // Only experiments without errors generate code; the description drops locations so that an
        // edit that merely moves text leaves this step's output equal (and the source output cached).
        var descriptions = bound
            .Where(static r => r.Spec is not null && !r.Diagnostics.Any(d => Diagnostics.DiagnosticDescriptors.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error))
            .Select(static (r, _) => ExperimentDescription.From(r.Spec!))
            .WithTrackingName(Steps.Descriptions);

        // One source output per experiment, so an edit to one file regenerates only that file. Two
        // experiments mapping to the same class (reported as DSL032) emit only the first, by path.
        var duplicates = parsed.Where(static r => r.Spec is not null)
            .Select(static (r, _) => (r.Spec!.ClassName, r.Spec.SourcePath))
            .Collect()
            .Select(static (all, _) => all.GroupBy(x => x.ClassName, StringComparer.Ordinal)
                .SelectMany(g => g.OrderBy(x => x.SourcePath, StringComparer.Ordinal).Skip(1).Select(x => x.SourcePath + "|" + x.ClassName))
                .OrderBy(x => x, StringComparer.Ordinal)
                .ToEquatableArray());
        var emitted = descriptions.Combine(duplicates)
            .Where(static pair => !pair.Right.Contains(pair.Left.SourcePath + "|" + pair.Left.ClassName))
            .Select(static (pair, _) => pair.Left)
            .WithTrackingName(Steps.Emitted);
        context.RegisterSourceOutput(emitted, static (spc, d) => spc.AddSource(d.ClassName + ".g.cs", DescriptionEmitter.Emit(d)));
    }

    internal sealed record ParseResult(ExperimentSpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics);

    internal sealed record StageInfo(string Name, LocationInfo Location, EquatableArray<string> DependsOn);
}
