using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Distill.Generators.Binding;
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

    public static TrainPlan? Plan(BoundExperiment bound, IReadOnlyList<PlannedAdapter> adapters, IEnumerable<PlannedSetting> lossSettings)
    {
        var spec = bound.Spec;
        // Teachers first, then the student (the order the loss plan forwards them in).
        var models = bound.Models.OrderBy(m => m.Spec.Role == ModelRole.Student ? 1 : 0).ToList();
        if (spec.Data?.Train is not { } trainSpec || bound.TrainData is not { } trainInfo) return null;
        var train = Data(trainSpec, trainInfo);
        if (train is null) return null;
        PlannedData? validation = null;
        if (spec.Data.Validation is { } v && bound.ValidationData is { } validationInfo && (validation = Data(v, validationInfo)) is null && validationInfo.BatchType is not null) return null;

        // Every teacher (one without a weight source is told so when the run starts), and a student that declares where it starts.
        var weights = models.Where(m => m.Spec.Role == ModelRole.Teacher || m.Spec.Checkpoint is not null || m.Spec.Init.Count > 0)
            .Select(m => new PlannedWeights(m.Spec.Name, m.Spec.Member, m.Spec.Checkpoint?.FromExperiment, m.Spec.Checkpoint?.Path, m.Spec.Role == ModelRole.Student,
                m.Spec.Init.Select(i => new PlannedInit(i.ModulePath, i.File)).ToEquatableArray()))
            .ToEquatableArray();
        var student = models.FirstOrDefault(m => m.Spec.Role == ModelRole.Student);
        if (student is null) return null;

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
        var epochs = schedule?.Epochs is > 0 ? schedule.Epochs : DefaultEpochs;
        var evalEvery = eval?.Every is > 0 ? eval.Every : 1;

        return new TrainPlan(
            spec.Name,
            spec.SourcePath,
            spec.Constructible,
            epochs,
            spec.Data.BatchSize,
            train,
            validation,
            weights,
            optimizer,
            lrSchedule,
            schedule?.ClipGradNorm ?? 0,
            topK.ToEquatableArray(),
            evalEvery,
            Classifier(student.Spec, student.Info),
            models.Where(m => m.Spec.Role == ModelRole.Teacher).Select(m => Classifier(m.Spec, m.Info)).Where(c => c is not null).Select(c => c!).ToEquatableArray(),
            eval?.Flip ?? false,
            student.Spec.Freeze.Select(f => f.Name).ToEquatableArray(),
            Settings(spec, epochs, evalEvery, validation is not null, optimizer, lrSchedule, lossSettings).ToEquatableArray(),
            spec.MemoryFormat is { } format ? ExecutionNames.MemoryFormat(format.Name) ?? "Contiguous" : "Contiguous",
            spec.Precision is { } precision ? ExecutionNames.Precision(precision.Name) ?? "Float32" : "Float32");
    }

    /// <summary>
    /// The table of what a run may override (<c>--set</c>), each with the binder's rule for it: the batch size, the schedule
    /// (epochs, warm-up, clipping and the kind's settings), every setting of the optimizer, the evaluation interval, and the
    /// loss's weights and scalar hyper-parameters.
    /// </summary>
    private static IEnumerable<PlannedSetting> Settings(ExperimentSpec spec, long epochs, long evalEvery, bool evaluates, PlannedOptimizer optimizer, PlannedSchedule schedule,
        IEnumerable<PlannedSetting> lossSettings)
    {
        PlannedSetting Entry(string key, SettingRule rule, string declared, string meaning) =>
            new(key, rule.Type, declared, meaning, rule.Min, rule.Max, rule.MinExclusive, rule.MaxExclusive);
        string N(long v) => v.ToString(CultureInfo.InvariantCulture);
        string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);

        yield return Entry("data.batch", SettingRules.Batch, N(spec.Data!.BatchSize), "the batch size");
        yield return Entry("schedule.epochs", SettingRules.Epochs, N(epochs), "the epochs to train");
        yield return Entry("schedule.warmup", SettingRules.Warmup, N(schedule.WarmupEpochs), "the epochs of linear learning-rate warm-up");
        yield return Entry("schedule.clip_grad_norm", SettingRules.ClipGradNorm, D(spec.Schedule?.ClipGradNorm ?? 0), "the largest total gradient norm (0: no clipping)");
        if (SettingRules.ScheduleSettings.TryGetValue(schedule.Kind, out var scheduleRules))
            foreach (var rule in scheduleRules)
            {
                var declared = rule.Name switch
                {
                    "milestones" => "[" + string.Join(", ", schedule.Milestones.Select(N)) + "]",
                    "gamma" => D(schedule.Gamma),
                    "step_size" => N(schedule.StepSize),
                    _ => D(schedule.EtaMin),
                };
                yield return Entry($"schedule.{schedule.Kind}.{rule.Name}", rule, declared, $"'{rule.Name}' of the {schedule.Kind} learning-rate schedule");
            }
        yield return Entry($"optimizer.{optimizer.Kind}.lr", SettingRules.OptimizerSettings[optimizer.Kind][0], D(optimizer.Lr), "the base learning rate (every group's rate scales with it)");
        foreach (var a in optimizer.Arguments)
            yield return Entry($"optimizer.{optimizer.Kind}.{a.Name}", SettingRules.OptimizerSettings[optimizer.Kind].First(r => r.Name == a.Name),
                YamlValue(a.Literal), $"'{a.Name}' of the {optimizer.Kind} optimizer");
        if (evaluates) yield return Entry("eval.every", SettingRules.EvalEvery, N(evalEvery), "evaluate every this many epochs");
        foreach (var s in lossSettings) yield return s;
    }

    /// <summary>A literal as the experiment file writes it: (0.9, 0.999) → [0.9, 0.999].</summary>
    private static string YamlValue(string literal) => literal.StartsWith("(", StringComparison.Ordinal) ? "[" + literal.Substring(1, literal.Length - 2) + "]" : literal;

    private static PlannedData? Data(DatasetSpec spec, DatasetInfo info)
    {
        if (info.BatchType is null) return null;
        var args = new List<string>();
        foreach (var a in spec.Arguments)
        {
            if (info.Constructor.FirstOrDefault(p => p.Name == a.Name) is not { } parameter || CSharpLiteral.Of(parameter.Type, a.Value) is not { } literal) return null;
            args.Add($"{a.Name}: {literal}");
        }
        return new PlannedData(spec.Member, info.TypeName, string.Join(", ", args), info.BatchType, info.IsImageDataset, info.Fields.Select(f => f.Name).ToEquatableArray(), info.HasPairs,
            spec.Transforms is { } t ? t with { Location = default } : null, info.IsDetection, info.IsPersonSearch);
    }

    private static PlannedClassifier? Classifier(ModelSpec spec, ModelInfo info) =>
        info.Task == "detection" && info.RunsTaps
            ? new PlannedClassifier(spec.Name, spec.Member, info.TypeName, "", IsDetector: true, SearchesPersons: info.SearchesPersons)
            : info.Taps.FirstOrDefault(t => t.Kind == "Logits" && t.Needs is null) is { } logits
                ? new PlannedClassifier(spec.Name, spec.Member, info.TypeName, CSharpNames.Pascal(logits.Name), info.EmbeddingTap() is { } e ? CSharpNames.Pascal(e.Name) : null)
                : null;

    private static PlannedOptimizer? Optimizer(ExperimentSpec spec, IReadOnlyList<PlannedAdapter> adapters)
    {
        var o = spec.Optimizer;
        var kind = o?.Kind ?? "sgd";
        if (!SettingRules.OptimizerSettings.TryGetValue(kind, out var rules)) return null;
        var args = o?.Arguments ?? EquatableArray<ArgumentSpec>.Empty;
        if (args.FirstOrDefault(a => a.Name == "lr") is { } lrArgument && !Numbers.TryParseDouble(lrArgument.Value.Text, out _)) return null;
        var lr = Number(args, "lr") ?? (kind == "sgd" ? 0.1 : 1e-3);
        var className = kind switch { "adam" => "Adam", "adamw" => "AdamW", _ => "SGD" };
        // Every setting the optimizer takes, declared or default, so that a run may override each.
        var arguments = new List<PlannedOptimizerArgument>();
        foreach (var rule in rules.Where(r => r.Name != "lr"))
        {
            var given = args.FirstOrDefault(a => a.Name == rule.Name);
            var literal = given is not null ? Literal(rule.Type, given.Value) : DefaultLiteral(rule);
            if (literal is null) return null;
            arguments.Add(new PlannedOptimizerArgument(rule.Name, rule.Type, literal));
        }

        // Every trained module's parameters: the student and each adapter, unless a group claims them.
        var studentMember = spec.Models.First(m => m.Role == ModelRole.Student).Member;
        var modules = new List<(string Name, PlannedModuleRef Module)> { ("student", new PlannedModuleRef(studentMember)) };
        var paths = new List<PlannedModuleRef>();
        modules.AddRange(adapters.Select(a => (a.Name, new PlannedModuleRef(a.Property))));
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        var groups = new List<PlannedGroup>();
        foreach (var g in o?.Groups ?? EquatableArray<ParamGroupSpec>.Empty)
        {
            var members = new List<PlannedModuleRef>();
            foreach (var name in g.Modules.Select(n => n.Name))
            {
                if (name.StartsWith("student.", StringComparison.Ordinal))
                {
                    var module = new PlannedModuleRef(studentMember, name.Substring("student.".Length));
                    if (claimed.Add(name)) { members.Add(module); paths.Add(module); }
                    continue;
                }
                var selected = name == "adapters" ? modules.Where(m => adapters.Any(a => a.Name == m.Name)) : modules.Where(m => m.Name == name);
                foreach (var m in selected)
                    if (claimed.Add(m.Name)) members.Add(m.Module);
            }
            if (members.Count == 0) continue;
            var options = new List<PlannedGroupOption>();
            foreach (var a in g.Arguments.Where(a => a.Name != "params"))
            {
                if (rules.FirstOrDefault(r => r.Name == a.Name) is not { } rule || Literal(rule.Type, a.Value) is not { } literal) return null;
                options.Add(new PlannedGroupOption(a.Name, literal));
            }
            groups.Add(new PlannedGroup(members.ToEquatableArray(), options.ToEquatableArray(), string.Join(", ", g.Modules.Select(n => n.Name))));
        }
        var rest = modules.Where(m => !claimed.Contains(m.Name)).Select(m => m.Module).ToEquatableArray();
        if (rest.Count > 0) groups.Insert(0, new PlannedGroup(rest, EquatableArray<PlannedGroupOption>.Empty, "the rest"));
        return new PlannedOptimizer(kind, className, lr, arguments.ToEquatableArray(), groups.ToEquatableArray(), paths.ToEquatableArray(), studentMember);
    }

    /// <summary>A setting's value as a C# literal of its type (a pair as a tuple), or null when the value cannot be one.</summary>
    private static string? Literal(SettingType type, ValueSpec v) => type switch
    {
        SettingType.Bool => CSharpLiteral.Of("bool", v),
        SettingType.Pair => v.Kind == ValueKind.List && v.Items.Count == 2 && Float(v.Items[0]) is { } a && Float(v.Items[1]) is { } b ? $"({a}, {b})" : null,
        SettingType.WholeNumber => CSharpLiteral.Of("int", v),
        _ => Float(v),
    };

    /// <summary>A rule's default as a C# literal.</summary>
    private static string? DefaultLiteral(SettingRule rule) => rule.Default is not { } text ? null : rule.Type switch
    {
        SettingType.Bool => text,
        SettingType.Pair => "(" + string.Join(", ", text.Trim('[', ']').Split(',').Select(x => CSharpLiteral.Literal(double.Parse(x, CultureInfo.InvariantCulture)))) + ")",
        SettingType.WholeNumber => text,
        _ => CSharpLiteral.Literal(double.Parse(text, CultureInfo.InvariantCulture)),
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
}
