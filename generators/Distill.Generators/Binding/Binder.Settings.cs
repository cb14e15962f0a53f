using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Distill.Generators.Model;
using Distill.Generators.Parsing;
using static Distill.Generators.Diagnostics.DiagnosticDescriptors;
using static Distill.Generators.Model.SettingRules;

namespace Distill.Generators.Binding;

// The optimisation settings (optimizer and parameter groups, LR schedule, evaluation, teacher weights), bound for
// both front ends before anything reaches the planner: every setting name is one the optimizer or schedule has
// (DSL002 with "did you mean" otherwise), every value has its type (DSL004) and range (DSL044), and a schedule
// has what it needs. The planner then writes only literals of values checked here.
internal sealed partial class Binder
{
    // ---- optimizer -------------------------------------------------------------------------------

    private void BindOptimizer()
    {
        if (_spec.Optimizer is not { } o || !OptimizerSettings.TryGetValue(o.Kind, out var settings)) return;
        var where = $"the {o.Kind} optimizer";
        BindSettings(o.Arguments, settings, where);
        CheckNesterov(o.Arguments, where, o.KindLocation);

        var modules = new List<string> { "student", "adapters" };
        modules.AddRange(_spec.Adapters.Select(a => a.Name));
        var claimed = new Dictionary<string, LocationInfo>(System.StringComparer.Ordinal);
        foreach (var g in o.Groups)
        {
            foreach (var m in g.Modules)
            {
                // student.<module path> (student.layer3, student.layer3.0.conv1): that submodule's parameters, checked when a run starts.
                var isPath = m.Name.StartsWith("student.", System.StringComparison.Ordinal) && Parsing.YamlExperimentReader.IsModulePath(m.Name.Substring("student.".Length));
                if (!modules.Contains(m.Name) && !isPath)
                    Report(UnknownReference, m.Location, UserText.Shorten(m.Name), "student, a submodule path such as student.layer3, adapters" + (_spec.Adapters.Count > 0 ? ", " + List(_spec.Adapters.Select(a => a.Name)) : ""),
                        NameSuggestions.DidYouMean(m.Name, modules));
                else if (claimed.ContainsKey(m.Name) || (isPath && claimed.Keys.Any(c => c.StartsWith(m.Name + ".", System.StringComparison.Ordinal) || m.Name.StartsWith(c + ".", System.StringComparison.Ordinal) && c != "student")))
                    Report(DuplicateName, m.Location, "parameter-group module (a parameter may be in one group only)", m.Name);
                else claimed[m.Name] = m.Location;
            }
            BindSettings(g.Arguments.Where(a => a.Name != "params"), settings, $"a parameter group of {where}");
            CheckNesterov(g.Arguments, $"a parameter group of {where}", g.Location);
        }
    }

    /// <summary>Nesterov momentum needs a momentum and no dampening (PyTorch refuses it otherwise, at run time).</summary>
    private void CheckNesterov(EquatableArray<ArgumentSpec> args, string where, LocationInfo fallback)
    {
        var nesterov = args.FirstOrDefault(a => a.Name == "nesterov");
        if (nesterov is not { Value: { Kind: ValueKind.Bool, Text: "true" } }) return;
        var momentum = args.FirstOrDefault(a => a.Name == "momentum");
        var dampening = args.FirstOrDefault(a => a.Name == "dampening");
        var hasMomentum = momentum is not null && Numbers.TryParseDouble(momentum.Value.Text, out var m) && m > 0;
        var noDampening = dampening is null || (Numbers.TryParseDouble(dampening.Value.Text, out var d) && d == 0);
        if (!hasMomentum || !noDampening)
            Report(ValueOutOfRange, nesterov.Value.Location, $"Nesterov momentum in {where}", "used with a momentum > 0 and a dampening of 0",
                $"momentum {(momentum is null ? "not set" : Show(momentum.Value))}, dampening {(dampening is null ? "not set" : Show(dampening.Value))}");
    }

    /// <summary>Each argument must be one of the settings, with a value of its type and range.</summary>
    private void BindSettings(IEnumerable<ArgumentSpec> args, SettingRule[] settings, string where)
    {
        foreach (var arg in args)
        {
            var setting = settings.FirstOrDefault(s => s.Name == arg.Name);
            if (setting is null)
            {
                var names = settings.Select(s => s.Name).ToList();
                Report(UnknownKey, arg.NameLocation, UserText.Shorten(arg.Name), where, NameSuggestions.DidYouMean(arg.Name, names), names.Count == 0 ? "(none)" : string.Join(", ", names));
                continue;
            }
            CheckSetting(setting, arg.Value, arg.Name, where);
        }
    }

    /// <summary>Whether the value of the setting <paramref name="key"/> of <paramref name="where"/> has its type and range; reports why not.</summary>
    private bool CheckSetting(SettingRule s, ValueSpec value, string key, string where)
    {
        var what = $"'{key}' of {where}";
        switch (s.Type)
        {
            case SettingType.Bool:
                if (value.Kind == ValueKind.Bool) return true;
                Report(WrongValueType, value.Location, key, "true or false", Describe(value));
                return false;
            case SettingType.Pair:
                if (value.Kind != ValueKind.List || value.Items.Count != 2 || value.Items.Any(i => i.Kind is not (ValueKind.Integer or ValueKind.Float)))
                {
                    Report(WrongValueType, value.Location, key, "a pair of numbers such as [0.9, 0.999]", Describe(value));
                    return false;
                }
                var ok = true;
                foreach (var item in value.Items) ok &= CheckNumber(s, item, what);
                return ok;
            case SettingType.WholeNumbers:
                var items = value.Kind == ValueKind.List ? value.Items.ToArray() : new[] { value };
                if (value.Kind == ValueKind.List && items.Length == 0)
                {
                    Report(WrongValueType, value.Location, key, "a list of epochs such as [150, 180, 210]", "an empty list");
                    return false;
                }
                var all = true;
                foreach (var item in items)
                {
                    if (item.Kind != ValueKind.Integer)
                    {
                        Report(WrongValueType, item.Location, key, "whole numbers of epochs", Describe(item));
                        all = false;
                    }
                    else all &= CheckNumber(s, item, what);
                }
                return all;
            case SettingType.WholeNumber:
                if (value.Kind != ValueKind.Integer)
                {
                    Report(WrongValueType, value.Location, key, "a whole number", Describe(value));
                    return false;
                }
                return CheckNumber(s, value, what);
            default:
                if (value.Kind is not (ValueKind.Integer or ValueKind.Float))
                {
                    Report(WrongValueType, value.Location, key, "a number", Describe(value));
                    return false;
                }
                return CheckNumber(s, value, what);
        }
    }

    private bool CheckNumber(SettingRule s, ValueSpec value, string what)
    {
        if (Numbers.TryParseDouble(value.Text, out var v) && s.Contains(v)) return true;
        Report(ValueOutOfRange, value.Location, what, s.Range(), Show(value));
        return false;
    }

    // ---- schedule --------------------------------------------------------------------------------

    private void BindSchedule()
    {
        var s = _spec.Schedule;
        if (s is null) return;
        if (s.Epochs > int.MaxValue)
            Report(ValueOutOfRange, s.EpochsLocation, "The number of epochs", "a whole number from 1 to 2147483647", N(s.Epochs));
        if (s.WarmupEpochs > int.MaxValue)
            Report(ValueOutOfRange, s.WarmupLocation ?? s.Location, "The warm-up", "a whole number of epochs from 0 to 2147483647", N(s.WarmupEpochs));
        if (!(Numbers.IsFinite(s.ClipGradNorm) && s.ClipGradNorm >= 0))
            Report(ValueOutOfRange, s.ClipGradNormLocation ?? s.Location, "'clip_grad_norm'", "a finite number > 0 (the largest gradient norm)", Numbers.Format(s.ClipGradNorm));

        if (s.Kind is { } kind && ScheduleSettings.TryGetValue(kind, out var settings))
        {
            var where = $"the {kind} schedule";
            var valid = new HashSet<string>(System.StringComparer.Ordinal);
            foreach (var arg in s.Arguments)
            {
                var setting = settings.FirstOrDefault(x => x.Name == arg.Name);
                if (setting is null)
                {
                    var names = settings.Select(x => x.Name).ToList();
                    Report(UnknownKey, arg.NameLocation, UserText.Shorten(arg.Name), where, NameSuggestions.DidYouMean(arg.Name, names), names.Count == 0 ? "(none)" : string.Join(", ", names));
                }
                else if (CheckSetting(setting, arg.Value, arg.Name, where)) valid.Add(arg.Name);
            }
            if (kind == "multistep" && !s.Arguments.Any(a => a.Name == "milestones"))
                Report(MissingKey, s.KindLocation ?? s.Location, "The multistep schedule", "milestones", "the epochs at which the rate is multiplied by gamma, e.g. [150, 180, 210]");

            // Milestones and step sizes fall within the training.
            if (s.Epochs > 0)
                foreach (var arg in s.Arguments.Where(a => a.Name is "milestones" or "step_size" && valid.Contains(a.Name)))
                    foreach (var v in arg.Value.Kind == ValueKind.List ? arg.Value.Items.ToArray() : new[] { arg.Value })
                        if (Numbers.TryParseLong(v.Text, out var epoch) && epoch >= s.Epochs)
                            Report(MilestoneBeyondEpochs, v.Location, v.Text, N(s.Epochs));
        }
        if (s.Epochs > 0 && s.WarmupEpochs >= s.Epochs && s.WarmupEpochs > 0)
            Report(MilestoneBeyondEpochs, s.WarmupLocation ?? s.Location, $"warm-up of {s.WarmupEpochs} epochs", N(s.Epochs));
    }

    // ---- evaluation and teacher weights ----------------------------------------------------------

    private void BindEval()
    {
        if (_spec.Eval is { } e)
        {
            if (e.Every < 1 || e.Every > int.MaxValue)
                Report(ValueOutOfRange, e.Location, "'every' of eval", "a whole number of epochs from 1 to 2147483647", N(e.Every));
            foreach (var m in e.Metrics)
                if (!(m.Name.StartsWith("top", System.StringComparison.Ordinal) && int.TryParse(m.Name.Substring(3), NumberStyles.None, CultureInfo.InvariantCulture, out var k) && k >= 1))
                    Report(WrongValueType, m.Location, "metrics", "top-k accuracies such as top1, top5", $"'{UserText.Shorten(m.Name)}'");
        }
        foreach (var m in _spec.Models)
            if (m.Checkpoint?.FromExperiment is { } from && !YamlExperimentReader.IsValidName(from))
                Report(InvalidName, m.Checkpoint.Location, UserText.Shorten(from), "experiment", YamlExperimentReader.NameRule(from));
    }
}
