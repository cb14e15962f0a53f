using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Distill.Generators.Emitting;
using Distill.Generators.Model;
using Distill.Generators.Parsing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Distill.Generators;

/// <summary>
/// The Distill DSL generator. Pipeline (each step's output is an equatable value, so unchanged inputs
/// stay cached):
/// <code>
/// *.distill.yaml ─ parse ──────────┐
///                                  ├─ bind (catalog) ─┬─ diagnostics (with locations) ──► reported
/// [Experiment] class ─ read ───────┘                  └─ description (no locations) ─ emit ─► &lt;Class&gt;.g.cs
///                       └─ helpers (no locations) + catalog ─ emit ─► Taps/Batch of the class; Loss factories once
/// </code>
/// Both front ends produce the same <see cref="ExperimentSpec"/>; everything after them is shared.
/// The binder also returns what an error-free experiment resolved to (<see cref="Binding.BoundExperiment"/>: types, channels,
/// losses, data sets), which the planner lays out as structured data (<see cref="Planning.LossPlan"/>) for the emitters. A check across all experiments
/// (duplicate names, cycles of teachers, colliding file names) yields the keys of experiments that emit nothing;
/// every emission step filters on them, so one bad experiment never takes another's code down.
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
        public const string Planned = "Distill.Planned";
        public const string AttributesPlanned = "Distill.AttributesPlanned";
        public const string AttributesRead = "Distill.AttributesRead";
        public const string AttributesParsed = "Distill.AttributesParsed";
        public const string AttributesBound = "Distill.AttributesBound";
        public const string AttributeDiagnostics = "Distill.AttributeDiagnostics";
        public const string AttributeDescriptions = "Distill.AttributeDescriptions";
        public const string AttributeHelpers = "Distill.AttributeHelpers";
        public const string AttributeHelperSources = "Distill.AttributeHelperSources";
        public const string LossFactories = "Distill.LossFactories";
    }

    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // The models, losses and data sets the compilation offers; compared by value, so edits that do
        // not touch metadata leave every step after it cached.
        var catalog = context.CompilationProvider
            .Select(static (c, ct) => Binding.CatalogBuilder.Build(c, ct))
            .WithTrackingName(Steps.Catalog);

        // ---- the YAML front end ----
        // Base files (extends:) by normalised path, compared by value: an edit to a base re-reads the experiments, nothing else does.
        var bases = context.AdditionalTextsProvider
            .Where(static text => text.Path.EndsWith(YamlExperimentReader.BaseFileSuffix, StringComparison.OrdinalIgnoreCase))
            .Select(static (text, ct) => new BaseFile(YamlExperimentReader.FullPath(text.Path), text.Path, text.GetText(ct)?.ToString() ?? ""))
            .Collect()
            .Select(static (all, _) => all.OrderBy(b => b.Key, StringComparer.Ordinal).ToEquatableArray());
        var yamlParsed = context.AdditionalTextsProvider
            .Where(static text => text.Path.EndsWith(".distill.yaml", StringComparison.OrdinalIgnoreCase))
            .Combine(bases)
            .Select(static (pair, ct) =>
            {
                var (text, baseFiles) = pair;
                var diagnostics = new List<DiagnosticInfo>();
                var source = text.GetText(ct);
                if (source is null)
                {
                    diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, new LocationInfo(text.Path, 0, 0, 0, 0, 0, 0), "the file cannot be read"));
                    return new ParseResult(null, diagnostics.ToEquatableArray());
                }
                var byPath = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
                foreach (var b in baseFiles) byPath[b.Key] = (b.Path, b.Text);
                var spec = YamlExperimentReader.Read(text.Path, source.ToString(), diagnostics, byPath);
                return new ParseResult(spec, diagnostics.ToEquatableArray());
            })
            .WithTrackingName(Steps.YamlParsed);

        // ---- the code-first front end ----
        var attributesRead = context.SyntaxProvider
            .ForAttributeWithMetadataName(AttributeExperimentReader.ExperimentAttribute,
                static (node, _) => node is TypeDeclarationSyntax,
                static (c, ct) => AttributeExperimentReader.Read(c, ct))
            .Where(static r => r is not null)
            .Select(static (r, _) => r!)
            .WithTrackingName(Steps.AttributesRead);
        var attributesParsed = attributesRead.Select(static (r, _) => r.Parse).WithTrackingName(Steps.AttributesParsed);
        // Location-free: an edit that only moves text in the class leaves the helpers cached.
        var helpers = attributesRead.Where(static r => r.Helpers is not null).Select(static (r, _) => r.Helpers!).WithTrackingName(Steps.AttributeHelpers);

        var yamlBound = Bind(yamlParsed, catalog, Steps.Bound);
        var attributesBound = Bind(attributesParsed, catalog, Steps.AttributesBound);

        ReportDiagnostics(context, yamlBound, Steps.Diagnostics);
        ReportDiagnostics(context, attributesBound, Steps.AttributeDiagnostics);

        // Across experiments of both front ends: duplicate names, cycles of teachers trained by other experiments, and
        // generated classes whose file names collide. Each experiment reported there emits nothing (the others keep their
        // code): the blocked keys are location-free, so edits that move text leave the emission steps cached.
        var stages = Stages(yamlParsed).Combine(Stages(attributesParsed))
            .Select(static (pair, _) => Binding.StageChecker.Check(pair.Left.AddRange(pair.Right)));
        context.RegisterSourceOutput(stages.Select(static (r, _) => r.Diagnostics), static (spc, diagnostics) =>
        {
            foreach (var d in diagnostics) spc.ReportDiagnostic(d.ToDiagnostic());
        });
        var blocked = stages.Select(static (r, _) => r.Blocked);

        // One source output per experiment, so an edit to one file regenerates only that file.
        var yamlEmitted = Descriptions(yamlBound, Steps.Descriptions).Combine(blocked)
            .Where(static pair => !pair.Right.Contains(StageInfo.KeyOf(pair.Left.SourcePath, pair.Left.Namespace, pair.Left.ClassName)))
            .Select(static (pair, _) => pair.Left)
            .WithTrackingName(Steps.Emitted);
        context.RegisterSourceOutput(yamlEmitted, static (spc, d) => AddSource(spc, DescriptionEmitter.HintName(d), DescriptionEmitter.Emit(d)));

        // The fused loss and training loop of every error-free experiment whose models follow the run-time tap convention.
        var planned = Plan(yamlBound)
            .Combine(blocked)
            .Where(static pair => !pair.Right.Contains(StageInfo.KeyOf(pair.Left.SourcePath, pair.Left.Plan.Namespace, pair.Left.Plan.ClassName)))
            .Select(static (pair, _) => pair.Left.Plan)
            .WithTrackingName(Steps.Planned);
        context.RegisterSourceOutput(planned, static (spc, plan) => EmitPlan(spc, plan));
        var attributesPlanned = Plan(attributesBound)
            .Combine(blocked)
            .Where(static pair => !pair.Right.Contains(StageInfo.KeyOf(pair.Left.SourcePath, pair.Left.Plan.Namespace, pair.Left.Plan.ClassName)))
            .Select(static (pair, _) => pair.Left.Plan)
            .WithTrackingName(Steps.AttributesPlanned);
        context.RegisterSourceOutput(attributesPlanned, static (spc, plan) => EmitPlan(spc, plan));
        // A code-first class is read once (from its first [Experiment] declaration), so each is emitted on its own:
        // an edit to one experiment re-emits only that one.
        var attributeDescriptions = Descriptions(attributesBound, Steps.AttributeDescriptions).Combine(blocked)
            .Where(static pair => !pair.Right.Contains(StageInfo.KeyOf(pair.Left.SourcePath, pair.Left.Namespace, pair.Left.ClassName)))
            .Select(static (pair, _) => pair.Left);
        context.RegisterSourceOutput(attributeDescriptions, static (spc, d) => AddSource(spc, DescriptionEmitter.HintName(d), DescriptionEmitter.Emit(d)));

        // The typed helpers are emitted whatever the experiment's own diagnostics say (without them every use would be a C#
        // error too), unless its generated file names collide with another experiment's (DSL043).
        var helperSources = helpers.Combine(catalog)
            .Select(static (pair, _) => new GeneratedSource(DslHelpersEmitter.HelpersHintName(pair.Left), DslHelpersEmitter.EmitExperimentHelpers(pair.Left, pair.Right),
                StageInfo.KeyOf(null, pair.Left.Namespace, pair.Left.ClassName)))
            .WithTrackingName(Steps.AttributeHelperSources)
            .Combine(blocked)
            .Where(static pair => !pair.Right.Contains(pair.Left.Key))
            .Select(static (pair, _) => pair.Left);
        context.RegisterSourceOutput(helperSources, static (spc, s) => AddSource(spc, s.HintName, s.Text));

        // The Loss factories, once per compilation, as soon as it has a code-first experiment.
        var lossFactories = catalog.Combine(attributesRead.Collect().Select(static (all, _) => all.Length > 0))
            .Select(static (pair, _) => pair.Right ? DslHelpersEmitter.EmitLossFactories(pair.Left) : null)
            .WithTrackingName(Steps.LossFactories);
        context.RegisterSourceOutput(lossFactories, static (spc, text) =>
        {
            if (text is not null) AddSource(spc, DslHelpersEmitter.LossHintName, text);
        });
    }

    /// <summary>
    /// Adds a generated file. The cross-experiment check (DSL043) keeps file names unique; should two outputs still share one,
    /// the second is dropped with a diagnostic rather than failing the whole generator (which would take every experiment's
    /// code down with it).
    /// </summary>
    private static void AddSource(SourceProductionContext spc, string hintName, string text)
    {
        try
        {
            spc.AddSource(hintName, text);
        }
        catch (ArgumentException)
        {
            spc.ReportDiagnostic(Diagnostic.Create(Diagnostics.DiagnosticDescriptors.ExperimentClassCollision, Location.None,
                hintName, hintName, "another experiment", hintName, "generated earlier"));
        }
    }

    private static IncrementalValuesProvider<ParseResult> Bind(IncrementalValuesProvider<ParseResult> parsed, IncrementalValueProvider<Catalog> catalog, string step) =>
        parsed.Combine(catalog)
            .Select(static (pair, _) =>
            {
                var (parse, cat) = pair;
                if (parse.Spec is null) return parse;
                var spec = parse.Spec.FrontEnd == FrontEnd.Attributes ? Binding.PositionalArguments.Resolve(parse.Spec, cat) : parse.Spec;
                var (diagnostics, boundExperiment) = Binding.Binder.Bind(spec, cat);
                return new ParseResult(spec, parse.Diagnostics.Concat(diagnostics).ToEquatableArray(), boundExperiment);
            })
            .WithTrackingName(step);

    /// <summary>The plan of each experiment the binder resolved without errors (the planner looks nothing up again).</summary>
    private static IncrementalValuesProvider<(string SourcePath, Planning.LossPlan Plan)> Plan(IncrementalValuesProvider<ParseResult> bound) =>
        bound
            .Where(static r => r.Bound is not null && !r.Diagnostics.Any(d => Diagnostics.DiagnosticDescriptors.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error))
            .Select(static (r, _) => (r.Bound!.Spec.SourcePath, Plan: Planning.Planner.Plan(r.Bound!)))
            .Where(static x => x.Plan is not null)
            .Select(static (x, _) => (x.SourcePath, x.Plan!));

    private static void EmitPlan(SourceProductionContext spc, Planning.LossPlan plan)
    {
        if (plan.DeclareMembers) AddSource(spc, LossEmitter.MembersHintName(plan), LossEmitter.EmitYamlMembers(plan));
        AddSource(spc, LossEmitter.HintName(plan), LossEmitter.Emit(plan));
        if (plan.Training is { } training) AddSource(spc, TrainEmitter.HintName(plan), TrainEmitter.Emit(plan, training));
    }

    private static void ReportDiagnostics(IncrementalGeneratorInitializationContext context, IncrementalValuesProvider<ParseResult> bound, string step)
    {
        var diagnostics = bound.Select(static (r, _) => r.Diagnostics).WithTrackingName(step);
        context.RegisterSourceOutput(diagnostics, static (spc, list) =>
        {
            foreach (var d in list) spc.ReportDiagnostic(d.ToDiagnostic());
        });
    }

    private static IncrementalValueProvider<ImmutableArray<StageInfo>> Stages(IncrementalValuesProvider<ParseResult> parsed) =>
        parsed.Where(static r => r.Spec is not null)
            .Select(static (r, _) => new StageInfo(r.Spec!.Name, r.Spec.NameLocation,
                r.Spec.Models.Where(m => m.Checkpoint?.FromExperiment is not null).Select(m => m.Checkpoint!.FromExperiment!).ToEquatableArray(),
                StageInfo.KeyOf(r.Spec.SourcePath, r.Spec.Namespace, r.Spec.ClassName),
                r.Spec.Namespace is null ? r.Spec.ClassName : DslHelpersEmitter.QualifiedHint(r.Spec.Namespace, r.Spec.ClassName),
                r.Spec.Namespace is null || r.Spec.Namespace.Length == 0 ? r.Spec.ClassName : r.Spec.Namespace + "." + r.Spec.ClassName))
            .Collect();

    /// <summary>
    /// Only experiments without errors generate code; the description drops locations so that an edit that
    /// merely moves text leaves this step's output equal (and the source output cached).
    /// </summary>
    private static IncrementalValuesProvider<ExperimentDescription> Descriptions(IncrementalValuesProvider<ParseResult> bound, string step) =>
        bound
            .Where(static r => r.Spec is not null && !r.Diagnostics.Any(d => Diagnostics.DiagnosticDescriptors.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error))
            .Select(static (r, _) => ExperimentDescription.From(r.Spec!))
            .WithTrackingName(step);

    /// <summary>A front end's experiment, its diagnostics so far, and after binding what it resolved to (null with an error).</summary>
    internal sealed record ParseResult(ExperimentSpec? Spec, EquatableArray<DiagnosticInfo> Diagnostics, Binding.BoundExperiment? Bound = null);

    /// <summary>A base file that experiments may extend: its normalised path (the key <c>extends:</c> resolves to), its path and its text.</summary>
    internal sealed record BaseFile(string Key, string Path, string Text);

    /// <summary>
    /// What the cross-experiment check needs of one experiment: its name and where, the experiments it takes teachers from,
    /// its identity (<see cref="KeyOf"/>), the stem of its generated files' names, and its class for messages.
    /// </summary>
    internal sealed record StageInfo(string Name, LocationInfo Location, EquatableArray<string> DependsOn, string Key, string HintStem, string ClassName)
    {
        /// <summary>A YAML experiment is its file; a code-first one its class (read once, whatever its partial declarations).</summary>
        public static string KeyOf(string? sourcePath, string? ns, string className) =>
            ns is null ? "yaml|" + sourcePath : "class|" + ns + "|" + className;
    }

    internal sealed record GeneratedSource(string HintName, string Text, string Key);
}
