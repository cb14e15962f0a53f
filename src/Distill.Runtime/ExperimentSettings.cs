using System.Globalization;

namespace Distill.Runtime;

/// <summary>The type of a setting's value, as the experiment file writes it.</summary>
public enum SettingKind
{
    /// <summary>A finite number (<c>0.9</c>, <c>5e-4</c>).</summary>
    Number,

    /// <summary>A whole number (<c>64</c>).</summary>
    WholeNumber,

    /// <summary><c>true</c> or <c>false</c>.</summary>
    Bool,

    /// <summary>Two numbers (<c>[0.9, 0.999]</c>).</summary>
    NumberPair,

    /// <summary>One or more whole numbers (<c>[150, 180, 210]</c>).</summary>
    WholeNumbers,
}

/// <summary>
/// A declared value of an experiment that a run may override (<c>--set key=value</c>): its key as the experiment file
/// spells it (<c>optimizer.sgd.momentum</c>, <c>losses.kd.weight</c>, <c>losses.kd.args.temperature</c>), its type, the
/// declared value (as YAML), and the range the generator checked the file's value against (NaN bounds: none). The
/// generator emits this table with the experiment, so an override is held to the same rule as the file.
/// <see cref="TiedTo"/> lists the keys whose values feed one quantity the fused loss computes once with this one: they
/// can only be overridden together, to one value.
/// </summary>
public sealed record ExperimentSetting(string Key, SettingKind Kind, string Declared, string Meaning,
    double Min = double.NaN, double Max = double.NaN, bool MinExclusive = false, bool MaxExclusive = false, IReadOnlyList<string>? TiedTo = null)
{
    /// <summary>Whether <paramref name="value"/> is finite and within the range.</summary>
    public bool Contains(double value) =>
        double.IsFinite(value)
        && (double.IsNaN(Min) || (MinExclusive ? value > Min : value >= Min))
        && (double.IsNaN(Max) || (MaxExclusive ? value < Max : value <= Max));

    /// <summary>What a valid value is, for messages: "a finite number &gt; 0", "a whole number in [1, 2147483647]", "true or false".</summary>
    public string Expected()
    {
        var what = Kind switch
        {
            SettingKind.Bool => "true or false",
            SettingKind.NumberPair => "a pair of numbers such as [0.9, 0.999], each",
            SettingKind.WholeNumbers => "a list of whole numbers such as [150, 180], each",
            SettingKind.WholeNumber => "a whole number",
            _ => "a finite number",
        };
        if (Kind == SettingKind.Bool || (double.IsNaN(Min) && double.IsNaN(Max))) return what;
        if (double.IsNaN(Max)) return $"{what} {(MinExclusive ? ">" : ">=")} {Show(Min)}";
        if (double.IsNaN(Min)) return $"{what} {(MaxExclusive ? "<" : "<=")} {Show(Max)}";
        return $"{what} in {(MinExclusive ? "(" : "[")}{Show(Min)}, {Show(Max)}{(MaxExclusive ? ")" : "]")}";
    }

    /// <summary>
    /// The value <paramref name="text"/> in canonical form (numbers invariant and round-trip, lists as <c>[a, b]</c>), or null
    /// with <paramref name="problem"/> saying why it is not a valid value of this setting.
    /// </summary>
    public string? Canonical(string text, out string? problem)
    {
        problem = null;
        var t = text.Trim();
        switch (Kind)
        {
            case SettingKind.Bool:
                if (t is "true" or "false") return t;
                break;
            case SettingKind.NumberPair:
            case SettingKind.WholeNumbers:
                var items = ListItems(t);
                if (items is null || items.Count == 0 || (Kind == SettingKind.NumberPair && items.Count != 2)) break;
                var canonical = new List<string>();
                foreach (var item in items)
                {
                    if (Scalar(item, Kind == SettingKind.WholeNumbers) is not { } c) break;
                    canonical.Add(c);
                }
                if (canonical.Count == items.Count) return "[" + string.Join(", ", canonical) + "]";
                break;
            default:
                if (Scalar(t, Kind == SettingKind.WholeNumber) is { } scalar) return scalar;
                break;
        }
        problem = $"must be {Expected()}, not '{text}'";
        return null;
    }

    private string? Scalar(string text, bool whole)
    {
        if (whole)
            return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) && Contains(l)
                ? l.ToString(CultureInfo.InvariantCulture) : null;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && Contains(d)
            ? d.ToString("R", CultureInfo.InvariantCulture) : null;
    }

    /// <summary>"[a, b]" or "a,b" (or one "a") → its items; null when brackets do not match.</summary>
    internal static List<string>? ListItems(string text)
    {
        var t = text.Trim();
        if (t.StartsWith('[') != t.EndsWith(']')) return null;
        if (t.StartsWith('[')) t = t[1..^1];
        if (t.Trim().Length == 0) return [];
        return t.Split(',').Select(s => s.Trim()).ToList();
    }

    private static string Show(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// Run-time overrides of an experiment's declared values (<c>--set key=value</c> on the runner): each key must be one of
/// the experiment's <see cref="ExperimentInfo.Settings"/> and each value valid for it by the rule the generator checked the
/// file with. Four keys are the run options the runner has always had (<c>schedule.epochs</c> is <c>--epochs</c>,
/// <c>data.batch</c> <c>--batch-size</c>, <c>optimizer.&lt;kind&gt;.lr</c> <c>--lr</c>, <c>eval.every</c> the evaluation
/// interval); the rest reach the generated code through <see cref="TrainOptions.Settings"/>.
/// </summary>
public static class SettingOverrides
{
    /// <summary>
    /// <paramref name="options"/> with <paramref name="assignments"/> (<c>key=value</c> each) applied for <paramref name="experiment"/>.
    /// Throws a <see cref="SettingException"/> listing every problem (unknown keys with the closest known ones, bad values
    /// with what was expected, a key given twice or together with the option it duplicates, tied keys overridden apart).
    /// </summary>
    public static TrainOptions Apply(ExperimentInfo experiment, TrainOptions options, IEnumerable<string> assignments)
    {
        ArgumentNullException.ThrowIfNull(experiment);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(assignments);
        var byKey = experiment.Settings.ToDictionary(s => s.Key, StringComparer.Ordinal);
        var problems = new List<string>();
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var assignment in assignments)
        {
            var eq = assignment.IndexOf('=');
            if (eq <= 0)
            {
                problems.Add($"'{assignment}' is not key=value (for example losses.kd.weight=0.5)");
                continue;
            }
            var key = assignment[..eq].Trim();
            var text = assignment[(eq + 1)..];
            if (!byKey.TryGetValue(key, out var setting))
            {
                problems.Add($"'{key}' is not a setting of this experiment{DidYouMean(key, byKey.Keys)}");
                continue;
            }
            if (values.ContainsKey(key))
            {
                problems.Add($"'{key}' is set twice");
                continue;
            }
            if (setting.Canonical(text, out var problem) is { } canonical) values[key] = canonical;
            else problems.Add($"{key} {problem}");
        }

        // Tied keys feed one shared quantity of the fused loss: overridden together, to one value, or not at all.
        foreach (var (key, value) in values)
            foreach (var tied in byKey[key].TiedTo ?? [])
                if (!values.TryGetValue(tied, out var other) || other != value)
                {
                    var pair = string.CompareOrdinal(key, tied) < 0 ? (key, tied) : (tied, key);
                    var message = $"{pair.Item1} and {pair.Item2} feed one quantity the fused loss computes once: set both, to one value";
                    if (!problems.Contains(message)) problems.Add(message);
                }

        var result = options;
        var rest = new Dictionary<string, string>(options.Settings, StringComparer.Ordinal);
        foreach (var (key, value) in values)
        {
            var runOption = RunOption(key);
            if (runOption is not null && RunOptionGiven(options, runOption))
            {
                problems.Add($"'{key}' and {runOption} set the same thing: give one");
                continue;
            }
            result = runOption switch
            {
                "--epochs" => result with { Epochs = int.Parse(value, CultureInfo.InvariantCulture) },
                "--batch-size" => result with { BatchSize = int.Parse(value, CultureInfo.InvariantCulture) },
                "--lr" => result with { LearningRate = double.Parse(value, CultureInfo.InvariantCulture) },
                "eval interval" => result with { EvalInterval = int.Parse(value, CultureInfo.InvariantCulture) },
                _ => result,
            };
            if (runOption is null) rest[key] = value;
        }
        CheckAgainstEpochs(byKey, values, result, problems);
        if (problems.Count > 0)
            throw new SettingException(experiment.Name, experiment.SourcePath, problems);
        return result with { Settings = rest };
    }

    /// <summary>The run option a key duplicates, or null when it reaches the generated code through <see cref="TrainOptions.Settings"/>.</summary>
    private static string? RunOption(string key) => key switch
    {
        "schedule.epochs" => "--epochs",
        "data.batch" => "--batch-size",
        "eval.every" => "eval interval",
        _ when key.StartsWith("optimizer.", StringComparison.Ordinal) && key.EndsWith(".lr", StringComparison.Ordinal) => "--lr",
        _ => null,
    };

    private static bool RunOptionGiven(TrainOptions o, string option) => option switch
    {
        "--epochs" => o.Epochs is not null,
        "--batch-size" => o.BatchSize is not null,
        "--lr" => o.LearningRate is not null,
        _ => o.EvalInterval is not null,
    };

    /// <summary>Milestones, step sizes and the warm-up fall within the run's epochs (the generator's rule for the file's values).</summary>
    private static void CheckAgainstEpochs(Dictionary<string, ExperimentSetting> byKey, Dictionary<string, string> values, TrainOptions options, List<string> problems)
    {
        if (!byKey.TryGetValue("schedule.epochs", out var epochsSetting)) return;
        var epochs = options.Epochs ?? long.Parse(epochsSetting.Declared, CultureInfo.InvariantCulture);
        foreach (var (key, value) in values)
        {
            if (!(key.EndsWith(".milestones", StringComparison.Ordinal) || key.EndsWith(".step_size", StringComparison.Ordinal) || key == "schedule.warmup")) continue;
            foreach (var item in ExperimentSetting.ListItems(value) ?? [])
                if (long.Parse(item, CultureInfo.InvariantCulture) >= epochs && !(key == "schedule.warmup" && item == "0"))
                    problems.Add($"{key}: {item} is not before the end of training ({epochs.ToString(CultureInfo.InvariantCulture)} epochs)");
        }
    }

    private static string DidYouMean(string key, IEnumerable<string> keys)
    {
        var close = Suggestions.Closest(key, keys);
        return close.Count == 0 ? " (describe lists its settings)" : $"; did you mean {string.Join(" or ", close.Select(k => $"'{k}'"))}?";
    }
}

/// <summary>Overrides (<c>--set</c>) that an experiment does not accept: <see cref="Problems"/> says what is wrong with each.</summary>
public sealed class SettingException(string experiment, string? sourcePath, IReadOnlyList<string> problems)
    : DistillRuntimeException($"experiment '{experiment}'{(sourcePath is null ? "" : $" ({sourcePath})")}: " +
        (problems.Count == 1 ? problems[0] : "\n  - " + string.Join("\n  - ", problems)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
