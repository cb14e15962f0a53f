using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Distill.Generators.Emitting;
using Distill.Generators.Model;

namespace Distill.Generators.Planning;

/// <summary>
/// Lays out the training loop of a bound, error-free experiment: its data, teacher weights, optimizer with
/// parameter groups, LR schedule and evaluation. Returns null when the experiment cannot train as generated
/// code (no training data, or a data set that does not collate batches).
/// </summary>
internal static class TrainPlanner
{
    /// <summary>Epochs when the experiment declares no schedule.</summary>
    public const long DefaultEpochs = 1;

    public static TrainPlan? Plan(ExperimentSpec spec, Catalog catalog, IReadOnlyList<(ModelSpec Spec, ModelInfo Info)> models, IReadOnlyList<PlannedAdapter> adapters)
    {
        if (spec.Data?.Train is not { } trainSpec) return null;
        var train = Data(trainSpec, catalog);
        if (train is null) return null;
        var validation = spec.Data.Validation is { } v ? Data(v, catalog) : null;

        var teachers = models.Where(m => m.Spec.Role == ModelRole.Teacher)
            .Select(m => new PlannedWeights(m.Spec.Name, m.Spec.Member, m.Spec.Checkpoint?.FromExperiment, m.Spec.Checkpoint?.Path))
            .ToEquatableArray();
        var student = models.FirstOrDefault(m => m.Spec.Role == ModelRole.Student);
        if (student.Spec is null) return null;

        var schedule = spec.Schedule;
        var eval = spec.Eval;
        var topK = eval is null || eval.Metrics.Count == 0
            ? new[] { 1, 5 }
            : eval.Metrics.Select(m => m.Name.StartsWith("top", StringComparison.Ordinal) && int.TryParse(m.Name.Substring(3), NumberStyles.None, CultureInfo.InvariantCulture, out var k) ? k : 0)
                .Where(k => k > 0).Distinct().OrderBy(k => k).ToArray();

        return new TrainPlan(
            spec.Name,
            spec.Constructible,
            schedule?.Epochs is > 0 ? schedule.Epochs : DefaultEpochs,
            spec.Data.BatchSize,
            train,
            validation,
            teachers,
            Optimizer(spec, adapters),
            Schedule(schedule),
            schedule?.ClipGradNorm ?? 0,
            topK.ToEquatableArray(),
            eval?.Every is > 0 ? eval.Every : 1,
            Classifier(student.Spec, student.Info),
            models.Where(m => m.Spec.Role == ModelRole.Teacher).Select(m => Classifier(m.Spec, m.Info)).Where(c => c is not null).Select(c => c!).ToEquatableArray(),
            eval?.Flip ?? false);
    }

    private static PlannedData? Data(DatasetSpec spec, Catalog catalog)
    {
        var info = catalog.Datasets.FirstOrDefault(d => d.Name == spec.Type);
        if (info?.BatchType is null) return null;
        var args = string.Join(", ", spec.Arguments.Select(a =>
            $"{a.Name}: {Planner.Literal(info.Constructor.FirstOrDefault(p => p.Name == a.Name)?.Type ?? "", a.Value)}"));
        return new PlannedData(spec.Member, info.TypeName, args, info.BatchType, info.IsImageDataset, info.Fields.Select(f => f.Name).ToEquatableArray(), info.HasPairs);
    }

    private static PlannedClassifier? Classifier(ModelSpec spec, ModelInfo info) =>
        info.Taps.FirstOrDefault(t => t.Kind == "Logits" && t.Needs is null) is { } logits
            ? new PlannedClassifier(spec.Name, spec.Member, info.TypeName, Planner.Pascal(logits.Name), EmbeddingTap(info) is { } e ? Planner.Pascal(e.Name) : null)
            : null;

    /// <summary>The tap a verification evaluation reads: the one named <c>embedding</c>, else the first of kind Embedding.</summary>
    internal static TapInfo? EmbeddingTap(ModelInfo info) =>
        info.Taps.FirstOrDefault(t => t.Name == "embedding" && t.Kind == "Embedding") ?? info.Taps.FirstOrDefault(t => t.Kind == "Embedding");

    private static PlannedOptimizer Optimizer(ExperimentSpec spec, IReadOnlyList<PlannedAdapter> adapters)
    {
        var o = spec.Optimizer;
        var kind = o?.Kind ?? "sgd";
        var args = o?.Arguments ?? EquatableArray<ArgumentSpec>.Empty;
        var lr = Number(args, "lr") ?? (kind == "sgd" ? 0.1 : 1e-3);
        var className = kind switch { "adam" => "Adam", "adamw" => "AdamW", _ => "SGD" };
        var named = new List<string>();
        foreach (var a in args.Where(a => a.Name != "lr"))
            if (OptimizerArgument(a) is { } text) named.Add(text);

        // Every trained module's parameters: the student and each adapter, unless a group claims them.
        var modules = new List<(string Name, string Expression)> { ("student", spec.Models.First(m => m.Role == ModelRole.Student).Member) };
        modules.AddRange(adapters.Select(a => (a.Name, a.Property)));
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        var groups = new List<PlannedGroup>();
        foreach (var g in o?.Groups ?? EquatableArray<ParamGroupSpec>.Empty)
        {
            var members = new List<string>();
            foreach (var name in g.Modules.Select(n => n.Name))
            {
                var selected = name == "adapters" ? modules.Where(m => adapters.Any(a => a.Name == m.Name)) : modules.Where(m => m.Name == name);
                foreach (var m in selected)
                    if (claimed.Add(m.Name)) members.Add(m.Expression);
            }
            if (members.Count == 0) continue;
            var options = g.Arguments.Select(a => a.Name == "lr"
                    ? $"[\"lr\"] = {Float(a.Value)} * lrScale"
                    : GroupOption(a))
                .Where(x => x is not null).Select(x => x!).ToEquatableArray();
            groups.Add(new PlannedGroup(members.ToEquatableArray(), options, string.Join(", ", g.Modules.Select(n => n.Name))));
        }
        var rest = modules.Where(m => !claimed.Contains(m.Name)).Select(m => m.Expression).ToEquatableArray();
        if (rest.Count > 0) groups.Insert(0, new PlannedGroup(rest, EquatableArray<string>.Empty, "the rest"));
        return new PlannedOptimizer(className, lr, string.Join(", ", named), groups.ToEquatableArray());
    }

    private static string? OptimizerArgument(ArgumentSpec a) => a.Name switch
    {
        "momentum" or "dampening" or "weight_decay" or "eps" => $"{a.Name}: {Float(a.Value)}",
        "nesterov" or "amsgrad" => $"{a.Name}: {a.Value.Text}",
        "betas" when a.Value.Kind == ValueKind.List && a.Value.Items.Count == 2 => $"betas: ({Float(a.Value.Items[0])}, {Float(a.Value.Items[1])})",
        _ => null,
    };

    private static string? GroupOption(ArgumentSpec a) => a.Name switch
    {
        "momentum" or "dampening" or "weight_decay" or "eps" => $"[\"{a.Name}\"] = {Float(a.Value)}",
        "nesterov" => $"[\"nesterov\"] = {a.Value.Text}",
        "betas" when a.Value.Kind == ValueKind.List && a.Value.Items.Count == 2 => $"[\"betas\"] = ({Float(a.Value.Items[0])}, {Float(a.Value.Items[1])})",
        _ => null,
    };

    private static PlannedSchedule Schedule(ScheduleSpec? s)
    {
        if (s?.Kind is null) return new PlannedSchedule("constant", EquatableArray<long>.Empty, 1, 0, 0, s?.WarmupEpochs ?? 0);
        var args = s.Arguments;
        var milestones = args.FirstOrDefault(a => a.Name == "milestones")?.Value is { } m
            ? (m.Kind == ValueKind.List ? m.Items.ToArray() : new[] { m })
                .Select(x => long.TryParse(x.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var e) ? e : 0).ToEquatableArray()
            : EquatableArray<long>.Empty;
        return new PlannedSchedule(s.Kind, milestones, Number(args, "gamma") ?? 0.1, (long)(Number(args, "step_size") ?? 30), Number(args, "eta_min") ?? 0, s.WarmupEpochs);
    }

    private static double? Number(EquatableArray<ArgumentSpec> args, string name) =>
        args.FirstOrDefault(a => a.Name == name) is { } a && double.TryParse(a.Value.Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static string Float(ValueSpec v) => Planner.Literal("double", v);
}
