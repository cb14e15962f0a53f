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
    public static string Render(string path, ReportData data) => Render(File.ReadAllText(path), path, Model(data, withDefault: true));

    /// <summary>
    /// The built-in report.md: the runner's own template (Runner/Templates/report.md.scriban, embedded), rendered over the
    /// same model a suite's template sees — the layout a suite's <c>template:</c> starts from.
    /// </summary>
    public static string RenderDefault(ReportData data) => Render(DefaultTemplate.Value, DefaultTemplateName, Model(data, withDefault: false));

    /// <summary>The built-in template's text, as a suite's template may copy it.</summary>
    public static readonly Lazy<string> DefaultTemplate = new(() =>
    {
        using var stream = typeof(ReportTemplate).Assembly.GetManifestResourceStream(DefaultTemplateName)
            ?? throw new InvalidOperationException($"the runner's built-in report template '{DefaultTemplateName}' is not embedded");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    });

    private const string DefaultTemplateName = "report.md.scriban";

    private static string Render(string text, string path, ScriptObject model)
    {
        var template = Template.Parse(text, path);
        if (template.HasErrors)
            throw new DistillRuntimeException($"the report template '{path}' does not parse: " + string.Join("; ", template.Messages.Select(Describe)));
        var context = new TemplateContext { StrictVariables = true, LoopLimit = 100_000 };
        context.PushCulture(CultureInfo.InvariantCulture);
        context.PushGlobal(model);
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
    public static ScriptObject Model(ReportData data) => Model(data, withDefault: true);

    private static ScriptObject Model(ReportData data, bool withDefault)
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
                ["per_seed_text"] = ReportWriter.PerSeedText(suite, e),
                ["best_epochs_text"] = ReportWriter.BestEpochsText(e),
                ["also"] = new ScriptArray(suite.Also.Select(m => ReportWriter.AlsoCell(suite, e.AlsoValues(m)))),
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
            ["run_relative"] = ReportWriter.Relative(data.OutputRoot, r.RunPath),
            ["epochs_text"] = r.Epochs?.ToString(CultureInfo.InvariantCulture) ?? "—",
            ["time_text"] = r.ElapsedSeconds is { } s ? Format.Duration(TimeSpan.FromSeconds(s)) : "—",
            ["device_text"] = r.Device ?? "—",
            ["teachers_text"] = r.Teachers is { Count: > 0 } t ? string.Join(", ", t.Values.Select(v => $"`{ReportWriter.Escape(ReportWriter.Relative(data.OutputRoot, v))}`")) : "",
        })));
        var flags = ReportWriter.TeacherFlags(data);
        var model = new ScriptObject
        {
            ["title"] = suite.Title,
            ["description"] = suite.Description?.Trim() ?? "",
            ["quick"] = data.Quick,
            ["quick_epochs"] = suite.QuickEpochs,
            ["quick_batches"] = suite.QuickBatches,
            ["metric"] = suite.Metric,
            ["metric_words"] = ReportWriter.MetricWords(suite),
            ["scale_text"] = suite.Scale != 1 ? $" × {Format.Metric(suite.Scale)}" : "",
            ["baseline"] = data.Baseline?.Entry.Label,
            ["baseline_cell"] = data.Baseline is { } b ? ReportWriter.MeanCell(suite, b) : "",
            ["rows"] = rows,
            ["gains"] = new ScriptArray(ReportWriter.Gains(data).Select(g => new ScriptObject
            {
                ["label"] = g.Row.Entry.Label,
                ["delta_text"] = ReportWriter.DeltaText(suite, g.Delta),
                ["ratio_text"] = g.PooledStd is { } p && p > 0 ? Format.Fixed(g.Delta / p, 1) : "—",
                ["verdict"] = g.BeatsEverySeed ? "**yes**" : g.LosesToEverySeed ? "no: every seed is worse" : "no: the seeds overlap",
            })),
            ["runs"] = runs,
            ["teacher_flags"] = new ScriptArray(flags.Select(f => new ScriptObject
            {
                ["row"] = f.Row, ["teacher"] = f.Teacher, ["teacher_relative"] = ReportWriter.Relative(data.OutputRoot, f.Teacher), ["problem"] = f.Problem,
            })),
            // An ordering against the papers only where the built-in report states one (not for quick runs or failed teacher checks).
            ["ordering"] = data.Quick || flags.Count > 0 ? null : ReportWriter.Ordering(data),
            ["also_metrics"] = new ScriptArray(suite.Also),
            ["anchors"] = new ScriptArray(data.Entries.Where(e => e.Anchor?.Source is not null)
                .Select(e => new ScriptObject { ["label"] = e.Entry.Label, ["value"] = e.Anchor!.Value, ["source"] = e.Anchor.Source })),
            ["gaps"] = new ScriptArray(ReportWriter.Gaps(data)),
            ["total_time"] = Format.Duration(TimeSpan.FromSeconds(data.Entries.SelectMany(e => e.Runs).Sum(r => r.ElapsedSeconds ?? 0))),
            ["command"] = data.Command,
            ["command_from_root"] = $"dotnet run -c Release --project experiments --{data.Command[CommandLine.Program.Length..]}",
            ["generated"] = data.Generated.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC",
            ["output_root"] = data.OutputRoot,
            ["suite_path"] = suite.Path,
            ["machine"] = new ScriptArray(ReportWriter.MachineFacts()),
        };
        if (withDefault) model["default"] = RenderDefault(data);
        // md: a value as one Markdown table cell (pipes escaped, on one line).
        model.Import("md", new Func<object?, string>(v => ReportWriter.Escape(v?.ToString() ?? "")));
        return model;
    }
}
