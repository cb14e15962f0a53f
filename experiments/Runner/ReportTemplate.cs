using System.Globalization;
using Scriban;
using Scriban.Runtime;
using Scriban.Syntax;

namespace Distill.Experiments.Runner;

/// <summary>
/// A suite's own layout of report.md (<c>template:</c> in suite.yaml): a Scriban template rendered over the report's
/// data, so a researcher lays out a paper-style table without touching C#. The model (docs/runner.md) holds each row's
/// numbers both raw (scaled as the suite shows them) and formatted as the built-in report formats them, the gains
/// against the baseline, the runs, how the report was made, and <c>default</c>: the built-in report, to embed or extend.
/// Variables are strict: a misspelt name is an error, not an empty cell.
/// </summary>
public static class ReportTemplate
{
    /// <summary>Why the template cannot be used ("line 3, column 5: ..."), or null when it parses.</summary>
    public static string? Check(string path)
    {
        var template = Template.Parse(File.ReadAllText(path), path);
        return template.HasErrors ? $"the report template '{path}' does not parse: " + string.Join("; ", template.Messages.Select(Describe)) : null;
    }

    /// <summary>report.md from the template at <paramref name="path"/>; a template that fails at run time names the file, line and column.</summary>
    public static string Render(string path, ReportData data)
    {
        var template = Template.Parse(File.ReadAllText(path), path);
        if (template.HasErrors)
            throw new DistillRuntimeException($"the report template '{path}' does not parse: " + string.Join("; ", template.Messages.Select(Describe)));
        var context = new TemplateContext { StrictVariables = true, LoopLimit = 100_000 };
        context.PushCulture(CultureInfo.InvariantCulture);
        context.PushGlobal(Model(data));
        try
        {
            return template.Render(context);
        }
        catch (ScriptRuntimeException e)
        {
            throw new DistillRuntimeException($"the report template '{path}' failed at line {e.Span.Start.Line + 1}, column {e.Span.Start.Column + 1}: {e.OriginalMessage}", e);
        }
    }

    private static string Describe(Scriban.Parsing.LogMessage m) =>
        $"line {m.Span.Start.Line + 1}, column {m.Span.Start.Column + 1}: {m.Message}";

    /// <summary>The variables a template sees (snake_case, as Scriban's own).</summary>
    public static ScriptObject Model(ReportData data)
    {
        var suite = data.Suite;
        double? Scaled(double? v) => v * suite.Scale;
        string Shown(double? v) => v is { } x ? ReportWriter.Shown(suite, x) : "—";
        var gains = ReportWriter.Gains(data).ToDictionary(g => g.Row);

        var rows = new ScriptArray();
        foreach (var e in data.Entries)
        {
            var row = new ScriptObject
            {
                ["label"] = e.Entry.Label,
                ["group"] = e.Entry.Group ?? "",
                ["experiment"] = e.Entry.Experiment,
                ["mean"] = Scaled(e.Mean),
                ["std"] = Scaled(e.Std),
                ["n"] = e.Values.Count,
                ["mean_text"] = Shown(e.Mean),
                ["std_text"] = Shown(e.Std),
                ["cell"] = ReportWriter.MeanCell(suite, e),
                ["per_seed"] = new ScriptArray(e.Runs.Select(r => new ScriptObject { ["seed"] = r.Seed, ["value"] = Scaled(r.Value), ["text"] = Shown(r.Value) })),
                ["published"] = e.Anchor?.Value ?? "",
                ["published_source"] = e.Anchor?.Source ?? "",
                ["is_baseline"] = e == data.Baseline,
            };
            if (gains.TryGetValue(e, out var g))
            {
                row["delta"] = g.Delta * suite.Scale;
                row["delta_text"] = ReportWriter.DeltaText(suite, g.Delta);
                row["beats_every_seed"] = g.BeatsEverySeed;
            }
            else
            {
                row["delta"] = null;
                row["delta_text"] = "";
                row["beats_every_seed"] = false;
            }
            rows.Add(row);
        }

        var runs = new ScriptArray(data.Entries.SelectMany(e => e.Runs.Select(r => new ScriptObject
        {
            ["label"] = e.Entry.Label,
            ["seed"] = r.Seed,
            ["run"] = r.RunPath,
            ["epochs"] = r.Epochs,
            ["final"] = Shown(r.Final),
            ["best"] = Shown(r.Best),
            ["seconds"] = r.ElapsedSeconds,
            ["device"] = r.Device ?? "",
        })));
        var flags = ReportWriter.TeacherFlags(data);
        return new ScriptObject
        {
            ["title"] = suite.Title,
            ["description"] = suite.Description?.Trim() ?? "",
            ["quick"] = data.Quick,
            ["metric"] = suite.Metric,
            ["baseline"] = data.Baseline?.Entry.Label,
            ["rows"] = rows,
            ["runs"] = runs,
            ["teacher_flags"] = new ScriptArray(flags.Select(f => new ScriptObject { ["row"] = f.Row, ["teacher"] = f.Teacher, ["problem"] = f.Problem })),
            // An ordering against the papers only where the built-in report states one (not for quick runs or failed teacher checks).
            ["ordering"] = data.Quick || flags.Count > 0 ? null : ReportWriter.Ordering(data),
            ["command"] = data.Command,
            ["generated"] = data.Generated.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC",
            ["machine"] = new ScriptArray(ReportWriter.MachineFacts()),
            ["default"] = ReportWriter.Markdown(data),
        };
    }
}
