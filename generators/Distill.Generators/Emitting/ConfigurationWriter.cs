using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Distill.Generators.Model;

namespace Distill.Generators.Emitting;

/// <summary>
/// Writes an experiment as the YAML a researcher would write for it, whichever front end declared it: what
/// <c>describe</c> prints and what every run stores as its config. Flow mappings, one line per declaration,
/// keys in the YAML front end's order, values as written (invariant culture).
/// </summary>
internal static class ConfigurationWriter
{
    public static string Write(ExperimentSpec spec)
    {
        var s = new StringBuilder();
        s.Append("name: ").Append(Scalar(spec.Name)).Append('\n');
        if (spec.Paper is { Length: > 0 } paper) s.Append("paper: ").Append(Scalar(paper)).Append('\n');
        if (spec.Seeds.Count > 0) s.Append("seeds: [").Append(string.Join(", ", spec.Seeds.Select(x => x.ToString(CultureInfo.InvariantCulture)))).Append("]\n");
        if (spec.Data is { } data)
        {
            s.Append("data:\n");
            if (data.Train is { } train) s.Append("  train: ").Append(Dataset(train)).Append('\n');
            if (data.Validation is { } val) s.Append("  val: ").Append(Dataset(val)).Append('\n');
            s.Append("  batch: ").Append(data.BatchSize.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        var teachers = spec.Models.Where(m => m.Role == ModelRole.Teacher).ToList();
        if (teachers.Count > 0)
        {
            s.Append("teachers:\n");
            foreach (var t in teachers) s.Append("  ").Append(t.Name).Append(": ").Append(Model(t)).Append('\n');
        }
        foreach (var m in spec.Models.Where(m => m.Role == ModelRole.Student)) s.Append("student: ").Append(Model(m)).Append('\n');
        if (spec.Adapters.Count > 0)
        {
            s.Append("adapters:\n");
            foreach (var a in spec.Adapters)
                s.Append("  ").Append(a.Name).Append(": { kind: ").Append(a.Kind.ToString().ToLowerInvariant())
                    .Append(", from: ").Append(a.From).Append(", to: ").Append(a.To)
                    .Append(a.Norm == AdapterNorm.BatchNorm ? ", norm: bn" : "").Append(a.Act == AdapterActivation.ReLU ? ", act: relu" : "").Append(" }\n");
        }
        s.Append("losses:\n");
        foreach (var l in spec.Losses)
        {
            s.Append("  ").Append(l.Name).Append(": { loss: ").Append(l.Loss);
            foreach (var a in l.Arguments) s.Append(", ").Append(a.Name).Append(": ").Append(Value(a.Value));
            s.Append(", weight: ").Append(Number(l.Weight));
            if (Schedule(l.Schedule) is { } schedule) s.Append(", schedule: ").Append(schedule);
            s.Append(" }\n");
        }
        if (spec.Optimizer is { } o)
        {
            s.Append("optimizer:\n  ").Append(o.Kind).Append(": ").Append(Mapping(o.Arguments)).Append('\n');
            if (o.Groups.Count > 0)
            {
                s.Append("  groups:\n");
                foreach (var g in o.Groups)
                {
                    s.Append("    - { params: [").Append(string.Join(", ", g.Modules.Select(m => m.Name))).Append(']');
                    foreach (var a in g.Arguments) s.Append(", ").Append(a.Name).Append(": ").Append(Value(a.Value));
                    s.Append(" }\n");
                }
            }
        }
        if (spec.Schedule is { } sc)
        {
            s.Append("schedule: { epochs: ").Append(sc.Epochs.ToString(CultureInfo.InvariantCulture));
            if (sc.Kind is { } kind) s.Append(", ").Append(kind).Append(": ").Append(Mapping(sc.Arguments));
            if (sc.WarmupEpochs > 0) s.Append(", warmup: ").Append(sc.WarmupEpochs.ToString(CultureInfo.InvariantCulture));
            if (sc.ClipGradNorm > 0) s.Append(", clip_grad_norm: ").Append(Number(sc.ClipGradNorm));
            s.Append(" }\n");
        }
        if (spec.Eval is { } e)
            s.Append("eval: { metrics: [").Append(string.Join(", ", e.Metrics.Select(m => m.Name))).Append("], every: ")
                .Append(e.Every.ToString(CultureInfo.InvariantCulture)).Append(e.Flip ? ", flip: true" : "").Append(" }\n");
        if (spec.MemoryFormat is { } format) s.Append("memory_format: ").Append(Scalar(format.Name)).Append('\n');
        if (spec.Precision is { } precision) s.Append("precision: ").Append(Scalar(precision.Name)).Append('\n');
        return s.ToString();
    }

    /// <summary>Constructor or loss arguments as written: <c>depth: 56, classes: 100</c>.</summary>
    public static string Arguments(EquatableArray<ArgumentSpec> args) =>
        string.Join(", ", args.Select(a => (a.Name.Length > 0 ? a.Name : "#" + a.Position.ToString(CultureInfo.InvariantCulture)) + ": " + Value(a.Value)));

    /// <summary><c>from: experiment</c> or <c>checkpoint: path</c>, or null.</summary>
    public static string? Weights(CheckpointSpec? c) =>
        c?.FromExperiment is { } from ? "from: " + from : c?.Path is { } path ? "checkpoint: " + path : null;

    /// <summary>A term's weight schedule as YAML (<c>{ warmup: 10 }</c>), or null for a constant weight.</summary>
    public static string? Schedule(WeightScheduleSpec? s) => s?.Kind switch
    {
        WeightScheduleKind.LinearWarmup => $"{{ warmup: {Number(s.WarmupEpochs)} }}",
        WeightScheduleKind.LinearDecay => "{ decay: linear }",
        WeightScheduleKind.WarmupThenDecay => $"{{ warmup: {Number(s.WarmupEpochs)}, decay: linear }}",
        _ => null,
    };

    private static string Dataset(DatasetSpec d) =>
        $"{{ dataset: {d.Type}" + (d.Arguments.Count > 0 ? $", args: {Mapping(d.Arguments)}" : "") + (d.Transforms is { } t ? ", transforms: " + Transforms(t) : "") + " }";

    private static string Transforms(TransformSpec t)
    {
        var parts = new List<string>();
        if (t.Crop is { } crop) parts.Add("crop: " + crop.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (t.Flip is { } flip) parts.Add("flip: " + (flip ? "true" : "false"));
        if (t.Normalize is { } normalize) parts.Add("normalize: " + (normalize ? "true" : "false"));
        return "{ " + string.Join(", ", parts) + " }";
    }

    private static string Model(ModelSpec m) =>
        $"{{ model: {m.Type}" + (m.Arguments.Count > 0 ? $", args: {Mapping(m.Arguments)}" : "") + (Weights(m.Checkpoint) is { } w ? ", " + w : "")
        + (m.Freeze.Count > 0 ? ", freeze: [" + string.Join(", ", m.Freeze.Select(f => f.Name)) + "]" : "")
        + (m.Init.Count > 0 ? ", init: { " + string.Join(", ", m.Init.Select(i => i.ModulePath + ": " + Scalar(i.File))) + " }" : "") + " }";

    private static string Mapping(EquatableArray<ArgumentSpec> args) => "{ " + Arguments(args) + " }";

    private static string Value(ValueSpec v) => v.Kind switch
    {
        ValueKind.List => "[" + string.Join(", ", v.Items.Select(Value)) + "]",
        ValueKind.String => Scalar(v.Text),
        ValueKind.Null => "null",
        _ => v.Text,
    };

    private static string Number(double d) => d.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>
    /// A plain scalar when YAML reads it back as the same text, else a double-quoted one with YAML's escapes (quotes,
    /// backslashes, and as <c>\uXXXX</c> every character <see cref="UserText.NeedsEscape"/> names: line ends, controls, ...).
    /// </summary>
    private static string Scalar(string text)
    {
        var plain = text.Length > 0 && text.All(c => (char.IsLetterOrDigit(c) && !UserText.NeedsEscape(c)) || c is '-' or '_' or '.' or '/' or ' ')
                    && !char.IsWhiteSpace(text[0]) && !char.IsWhiteSpace(text[text.Length - 1]) && !Numbers.IsInteger(text) && !Numbers.IsFloat(text)
                    && !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                    && text is not ("true" or "false" or "null" or "yes" or "no" or "~");
        if (plain) return text;
        var quoted = new StringBuilder("\"");
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) quoted.Append(c).Append(text[++i]);
            else if (c is '"' or '\\') quoted.Append('\\').Append(c);
            else if (c == '\n') quoted.Append("\\n");
            else if (c == '\t') quoted.Append("\\t");
            else if (UserText.NeedsEscape(c)) quoted.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            else quoted.Append(c);
        }
        return quoted.Append('"').ToString();
    }
}
