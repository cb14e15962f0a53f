using System.Collections.Generic;
using System.Globalization;

namespace Distill.Generators.Model;

/// <summary>The type of a setting's value (the runtime's <c>Distill.Runtime.SettingKind</c> has the same members).</summary>
internal enum SettingType { Number, WholeNumber, Bool, Pair, WholeNumbers }

/// <summary>
/// A setting of the optimizer or the LR schedule: its name, type, range (NaN bounds: none) and the value it takes when the
/// experiment does not give one (YAML text; null: it must be given). The binder checks the file's values against it, and the
/// planner emits it into the experiment's table of overridable settings, so a run's <c>--set</c> is held to the same rule.
/// </summary>
internal sealed record SettingRule(string Name, SettingType Type, double Min = double.NaN, double Max = double.NaN, bool MinExclusive = false, bool MaxExclusive = false,
    string? Default = null)
{
    public bool Contains(double v) =>
        Numbers.IsFinite(v) && (double.IsNaN(Min) || (MinExclusive ? v > Min : v >= Min)) && (double.IsNaN(Max) || (MaxExclusive ? v < Max : v <= Max));

    public string Range()
    {
        var what = Type is SettingType.WholeNumber or SettingType.WholeNumbers ? "a whole number" : "a finite number";
        if (double.IsNaN(Min) && double.IsNaN(Max)) return what;
        if (double.IsNaN(Max)) return $"{what} {(MinExclusive ? ">" : ">=")} {Format(Min)}";
        return $"{what} in {(MinExclusive ? "(" : "[")}{Format(Min)}, {Format(Max)}{(MaxExclusive ? ")" : "]")}";
    }

    private static string Format(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>The settings each optimizer and LR schedule takes, with the defaults of Distill.Torch's classes (PyTorch's).</summary>
internal static class SettingRules
{
    private static SettingRule Lr(string defaultLr) => new("lr", SettingType.Number, 0, double.NaN, MinExclusive: true, Default: defaultLr);

    private static SettingRule WeightDecay(string defaultValue) => new("weight_decay", SettingType.Number, 0, Default: defaultValue);

    private static readonly SettingRule Betas = new("betas", SettingType.Pair, 0, 1, MaxExclusive: true, Default: "[0.9, 0.999]");
    private static readonly SettingRule Eps = new("eps", SettingType.Number, 0, Default: "1E-08");
    private static readonly SettingRule Amsgrad = new("amsgrad", SettingType.Bool, Default: "false");
    private static readonly SettingRule Gamma = new("gamma", SettingType.Number, 0, double.NaN, MinExclusive: true, Default: "0.1");

    /// <summary>What each optimizer takes (as Distill.Torch's SGD, Adam and AdamW, which check the same ranges at run time).</summary>
    public static readonly Dictionary<string, SettingRule[]> OptimizerSettings = new()
    {
        ["sgd"] = new[]
        {
            Lr("0.1"), new SettingRule("momentum", SettingType.Number, 0, Default: "0"), new SettingRule("dampening", SettingType.Number, 0, 1, Default: "0"), WeightDecay("0"),
            new SettingRule("nesterov", SettingType.Bool, Default: "false"),
        },
        ["adam"] = new[] { Lr("0.001"), Betas, Eps, WeightDecay("0"), Amsgrad },
        ["adamw"] = new[] { Lr("0.001"), Betas, Eps, WeightDecay("0.01"), Amsgrad },
    };

    /// <summary>What each LR schedule takes; milestones and step sizes are epochs, checked against the schedule's epochs too.</summary>
    public static readonly Dictionary<string, SettingRule[]> ScheduleSettings = new()
    {
        ["multistep"] = new[] { new SettingRule("milestones", SettingType.WholeNumbers, 1, int.MaxValue), Gamma },
        ["step"] = new[] { new SettingRule("step_size", SettingType.WholeNumber, 1, int.MaxValue, Default: "30"), Gamma },
        ["cosine"] = new[] { new SettingRule("eta_min", SettingType.Number, 0, Default: "0") },
        ["constant"] = System.Array.Empty<SettingRule>(),
    };

    /// <summary>The run-level settings: epochs, batch size, evaluation interval, warm-up epochs and gradient clipping.</summary>
    public static readonly SettingRule Epochs = new("epochs", SettingType.WholeNumber, 1, int.MaxValue);
    public static readonly SettingRule Batch = new("batch", SettingType.WholeNumber, 1, int.MaxValue);
    public static readonly SettingRule EvalEvery = new("every", SettingType.WholeNumber, 1, int.MaxValue);
    public static readonly SettingRule Warmup = new("warmup", SettingType.WholeNumber, 0, int.MaxValue);
    public static readonly SettingRule ClipGradNorm = new("clip_grad_norm", SettingType.Number, 0);
    public static readonly SettingRule TermWeight = new("weight", SettingType.Number, 0);
}
