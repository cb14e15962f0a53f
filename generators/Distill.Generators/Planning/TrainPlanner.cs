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
/// code (no training data, or a data set that does not collate batches). Every value was bound and checked by
/// the binder; it reaches the plan as a <see cref="CSharpLiteral"/> (a value that has none, which the binder
/// reports, makes the plan null rather than code).
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
        PlannedData? validation = null;
        if (spec.Data.Validation is { } v && (validation = Data(v, catalog)) is null && catalog.Datasets.FirstOrDefault(d => d.Name == v.Type)?.BatchType is not null) return null;

        // Every teacher (one without a weight source is told so when the run starts), and a student that declares where it starts.
        var weights = models.Where(m => m.Spec.Role == ModelRole.Teacher || m.Spec.Checkpoint is not null)
            .Select(m => new PlannedWeights(m.Spec.Name, m.Spec.Member, m.Spec.Checkpoint?.FromExperiment, m.Spec.Checkpoint?.Path, m.Spec.Role == ModelRole.Student))
            .ToEquatableArray();
        var student = models.FirstOrDefault(m => m.Spec.Role == ModelRole.Student);
        if (student.Spec is null) return null;

        var schedule = spec.Schedule;
        var eval = spec.Eval;
        var topK = eval is null || eval.Metrics.Count == 0
            ? new[] { 1, 5 }
            : eval.Metrics.Select(m => m.Name.StartsWith("top", StringComparison.Ordinal) && int.TryParse(m.Name.Substring(3), NumberStyles.None, CultureInfo.InvariantCulture, out var k) ? k : 0)
                .Where(k => k > 0).Distinct().OrderBy(k => k).ToArray();
        if (topK.Length == 0) topK = new[] { 1, 5 };
        var optimizer = Optimizer(spec, adapters);
        var lrSchedule = Schedule(schedule);
        if (optimizer is null || lrSchedule is null) return null;

        return new TrainPlan(
            spec.Name,
            spec.SourcePath,
            spec.Constructible,
            schedule?.Epochs is > 0 ? schedule.Epochs : DefaultEpochs,
            spec.Data.BatchSize,
            train,
            validation,
            weights,
            optimizer,
            lrSchedule,
            schedule?.ClipGradNorm ?? 0,
            topK.ToEquatableArray(),
            eval?.Every is > 0 ? eval.Every : 1,
            Classifier(student.Spec, student.Info),
            models.Where(m => m.Spec.Role == ModelRole.Teacher).Select(m => Classifier(m.Spec, m.Info)).Where(c => c is not null).Select(c => c!).ToEquatableArray(),
            eval?.Flip ?? false,
            student.Spec.Freeze.Select(f => f.Name).ToEquatableArray());
    }

    private static PlannedData? Data(DatasetSpec spec, Catalog catalog)
    {
        var info = catalog.Datasets.FirstOrDefault(d => d.Name == spec.Type);
        if (info?.BatchType is null) return null;
        var args = new List<string>();
        foreach (var a in spec.Arguments)
        {
            if (info.Constructor.FirstOrDefault(p => p.Name == a.Name) is not { } parameter || CSharpLiteral.Of(parameter.Type, a.Value) is not { } literal) return null;
            args.Add($"{a.Name}: {literal}");
        }
        return new PlannedData(spec.Member, info.TypeName, string.Join(", ", args), info.BatchType, info.IsImageDataset, info.Fields.Select(f => f.Name).ToEquatableArray(), info.HasPairs,
            spec.Transforms is { } t ? t with { Location = default } : null);
    }

    private static PlannedClassifier? Classifier(ModelSpec spec, ModelInfo info) =>
        info.Taps.FirstOrDefault(t => t.Kind == "Logits" && t.Needs is null) is { } logits
            ? new PlannedClassifier(spec.Name, spec.Member, info.TypeName, Planner.Pascal(logits.Name), EmbeddingTap(info) is { } e ? Planner.Pascal(e.Name) : null)
            : null;

    /// <summary>The tap a verification evaluation reads: the one named <c>embedding</c>, else the first of kind Embedding.</summary>
    internal static TapInfo? EmbeddingTap(ModelInfo info) =>
        info.Taps.FirstOrDefault(t => t.Name == "embedding" && t.Kind == "Embedding") ?? info.Taps.FirstOrDefault(t => t.Kind == "Embedding");

    private static PlannedOptimizer? Optimizer(ExperimentSpec spec, IReadOnlyList<PlannedAdapter> adapters)
    {
        var o = spec.Optimizer;
        var kind = o?.Kind ?? "sgd";
        var args = o?.Arguments ?? EquatableArray<ArgumentSpec>.Empty;
        if (args.FirstOrDefault(a => a.Name == "lr") is { } lrArgument && !Numbers.TryParseDouble(lrArgument.Value.Text, out _)) return null;
        var lr = Number(args, "lr") ?? (kind == "sgd" ? 0.1 : 1e-3);
        var className = kind switch { "adam" => "Adam", "adamw" => "AdamW", _ => "SGD" };
        var named = new List<string>();
        foreach (var a in args.Where(a => a.Name != "lr"))
        {
            if (OptimizerArgument(a) is not { } text) return null;
            named.Add(text);
        }

        // Every trained module's parameters: the student and each adapter, unless a group claims them.
        var studentMember = spec.Models.First(m => m.Role == ModelRole.Student).Member;
        var modules = new List<(string Name, string Expression)> { ("student", studentMember) };
        var paths = new List<string>();
        modules.AddRange(adapters.Select(a => (a.Name, a.Property)));
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        var groups = new List<PlannedGroup>();
        foreach (var g in o?.Groups ?? EquatableArray<ParamGroupSpec>.Empty)
        {
            var members = new List<string>();
            foreach (var name in g.Modules.Select(n => n.Name))
            {
                if (name.StartsWith("student.", StringComparison.Ordinal))
                {
                    var path = name.Substring("student.".Length);
                    var expression = $"global::Distill.Runtime.ModulePaths.Find({studentMember}, \"student\", ExperimentName, {SourceWriter.Literal(path)})";
                    if (claimed.Add(name)) { members.Add(expression); paths.Add(expression); }
                    continue;
                }
                var selected = name == "adapters" ? modules.Where(m => adapters.Any(a => a.Name == m.Name)) : modules.Where(m => m.Name == name);
                foreach (var m in selected)
                    if (claimed.Add(m.Name)) members.Add(m.Expression);
            }
            if (members.Count == 0) continue;
            var options = g.Arguments.Select(a => a.Name == "lr" ? (Float(a.Value) is { } groupLr ? $"[\"lr\"] = {groupLr} * lrScale" : null) : GroupOption(a)).ToList();
            if (options.Any(x => x is null)) return null;
            groups.Add(new PlannedGroup(members.ToEquatableArray(), options.Select(x => x!).ToEquatableArray(), string.Join(", ", g.Modules.Select(n => n.Name))));
        }
        var rest = modules.Where(m => !claimed.Contains(m.Name)).Select(m => m.Expression).ToEquatableArray();
        if (rest.Count > 0) groups.Insert(0, new PlannedGroup(rest, EquatableArray<string>.Empty, "the rest"));
        return new PlannedOptimizer(className, lr, string.Join(", ", named), groups.ToEquatableArray(), paths.ToEquatableArray(), studentMember);
    }

    /// <summary>A named argument of the optimizer's constructor, or null when the setting or its value cannot be one.</summary>
    private static string? OptimizerArgument(ArgumentSpec a) => a.Name switch
    {
        "momentum" or "dampening" or "weight_decay" or "eps" => Float(a.Value) is { } v ? $"{a.Name}: {v}" : null,
        "nesterov" or "amsgrad" => Bool(a.Value) is { } b ? $"{a.Name}: {b}" : null,
        "betas" => Pair(a.Value) is { } pair ? $"betas: {pair}" : null,
        _ => null,
    };

    /// <summary>A parameter group's option (a C# dictionary entry), or null when the setting or its value cannot be one.</summary>
    private static string? GroupOption(ArgumentSpec a) => a.Name switch
    {
        "momentum" or "dampening" or "weight_decay" or "eps" => Float(a.Value) is { } v ? $"[\"{a.Name}\"] = {v}" : null,
        "nesterov" or "amsgrad" => Bool(a.Value) is { } b ? $"[\"{a.Name}\"] = {b}" : null,
        "betas" => Pair(a.Value) is { } pair ? $"[\"betas\"] = {pair}" : null,
        _ => null,
    };

    private static PlannedSchedule? Schedule(ScheduleSpec? s)
    {
        if (s?.Kind is null) return new PlannedSchedule("constant", EquatableArray<long>.Empty, 1, 0, 0, s?.WarmupEpochs ?? 0);
        var args = s.Arguments;
        var milestones = new List<long>();
        if (args.FirstOrDefault(a => a.Name == "milestones")?.Value is { } m)
            foreach (var x in m.Kind == ValueKind.List ? m.Items.ToArray() : new[] { m })
            {
                if (!Numbers.TryParseLong(x.Text, out var epoch) || epoch < 1 || epoch > int.MaxValue) return null;
                milestones.Add(epoch);
            }
        if (s.Kind == "multistep" && milestones.Count == 0) return null;
        var stepSize = Number(args, "step_size") ?? 30;
        if (stepSize < 1 || stepSize > int.MaxValue) return null;
        return new PlannedSchedule(s.Kind, milestones.ToEquatableArray(), Number(args, "gamma") ?? 0.1, (long)stepSize, Number(args, "eta_min") ?? 0, s.WarmupEpochs);
    }

    /// <summary>A finite number setting's value (null when absent or not a finite number).</summary>
    private static double? Number(EquatableArray<ArgumentSpec> args, string name) =>
        args.FirstOrDefault(a => a.Name == name) is { } a && Numbers.TryParseDouble(a.Value.Text, out var v) && Numbers.IsFinite(v) ? v : null;

    private static string? Float(ValueSpec v) => CSharpLiteral.Of("double", v);

    private static string? Bool(ValueSpec v) => CSharpLiteral.Of("bool", v);

    private static string? Pair(ValueSpec v) =>
        v.Kind == ValueKind.List && v.Items.Count == 2 && Float(v.Items[0]) is { } a && Float(v.Items[1]) is { } b ? $"({a}, {b})" : null;
}
