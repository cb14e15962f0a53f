using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Experiments.Runner;

/// <summary>One finished run of a suite entry, as the report reads it.</summary>
/// <param name="Value">The number the row reports for this seed (the final or the best epoch's metric, per the suite); null when the run logged no such metric.</param>
/// <param name="Curve">The metric per epoch (1-based), as logged; epochs a resumed run logged again keep their last value.</param>
/// <param name="Also">The suite's further metrics at the last epoch that logged each (absent when never logged).</param>
/// <param name="TeacherValues">The teachers' evaluation the run logged before training (phase "teacher": <c>teacher_top1</c>, ...).</param>
public sealed record SeedResult(
    long Seed,
    string RunPath,
    double? Value,
    double? Final,
    double? Best,
    int? BestEpoch,
    IReadOnlyDictionary<int, double> Curve,
    int? Epochs,
    double? ElapsedSeconds,
    string? Device,
    IReadOnlyDictionary<string, string>? Teachers = null,
    IReadOnlyDictionary<string, double>? Also = null,
    IReadOnlyDictionary<string, double>? TeacherValues = null);

/// <summary>A suite entry's row: its runs, the seeds that have none (and why), and the published anchor.</summary>
public sealed record EntryResult(SuiteEntry Entry, IReadOnlyList<long> Seeds, IReadOnlyList<SeedResult> Runs, IReadOnlyList<long> Missing, IReadOnlyDictionary<long, string> Failed, SuiteAnchor? Anchor)
{
    public IReadOnlyList<double> Values => Runs.Where(r => r.Value is not null).Select(r => r.Value!.Value).ToList();

    public double? Mean => Values.Count == 0 ? null : Values.Average();

    /// <summary>The sample standard deviation (n − 1); null for fewer than two values.</summary>
    public double? Std => Statistics.SampleStd(Values);

    /// <summary>A further metric's values over the runs that logged it.</summary>
    public IReadOnlyList<double> AlsoValues(string metric) =>
        Runs.Where(r => r.Also is not null && r.Also.ContainsKey(metric)).Select(r => r.Also![metric]).ToList();

    /// <summary>The metric per epoch averaged over the seeds that logged that epoch.</summary>
    public IReadOnlyList<(int Epoch, double Value)> MeanCurve =>
        Runs.SelectMany(r => r.Curve)
            .GroupBy(kv => kv.Key)
            .OrderBy(g => g.Key)
            .Select(g => (g.Key, g.Average(kv => kv.Value)))
            .ToList();
}

/// <summary>What a report is made of.</summary>
public sealed record ReportData(Suite Suite, bool Quick, string OutputRoot, IReadOnlyList<EntryResult> Entries, string Command, DateTimeOffset Generated)
{
    /// <summary>The row the distillation rows are compared with: the suite's <c>baseline</c>, else the first row of group "student".</summary>
    public EntryResult? Baseline =>
        Suite.Baseline is { } label ? Entries.FirstOrDefault(e => e.Entry.Label == label)
        : Entries.FirstOrDefault(e => string.Equals(e.Entry.Group, "student", StringComparison.OrdinalIgnoreCase));

    /// <summary>The rows compared with the baseline: every row but the baseline and the teachers.</summary>
    public IEnumerable<EntryResult> Compared =>
        Entries.Where(e => e != Baseline && !string.Equals(e.Entry.Group, "teacher", StringComparison.OrdinalIgnoreCase));
}

/// <summary>One row against the student alone: the difference of means and whether it clears the spread of seeds.</summary>
/// <param name="BeatsEverySeed">Every seed of the row is better than every seed of the baseline (its worst beats the baseline's best).</param>
public sealed record Gain(EntryResult Row, double Delta, double? PooledStd, bool BeatsEverySeed, bool LosesToEverySeed);

/// <summary>Something wrong with a teacher a row distilled from, found from its run: why its soft targets may mislead.</summary>
public sealed record TeacherFlag(string Row, string Teacher, string Problem);

public static class Statistics
{
    public static double? SampleStd(IReadOnlyList<double> values)
    {
        if (values.Count < 2) return null;
        var mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1));
    }
}

/// <summary>Finds a metric in <c>metrics.jsonl</c> and <c>summary.json</c>, whichever way the loop spelled it.</summary>
public static class MetricReader
{
    /// <summary>
    /// The metric's value in a record: the key itself; the other separator ("val_top1" ↔ "val/top1"); or,
    /// for "&lt;phase&gt;_&lt;key&gt;", the key in a record of that phase ("val" record, "top1").
    /// </summary>
    public static double? Find(IReadOnlyDictionary<string, double> values, string? phase, string metric)
    {
        if (values.TryGetValue(metric, out var v)) return v;
        var swapped = metric.Contains('/') ? metric.Replace('/', '_') : metric.Replace('_', '/');
        if (swapped != metric && values.TryGetValue(swapped, out v)) return v;
        var cut = metric.IndexOfAny(['_', '/']);
        if (cut > 0 && phase is not null && metric[..cut] == phase && values.TryGetValue(metric[(cut + 1)..], out v)) return v;
        return null;
    }

    /// <summary>The metric per epoch; after a "resume" marker, epochs beyond the resumed checkpoint are dropped (they are logged again).</summary>
    public static SortedDictionary<int, double> Curve(IEnumerable<MetricsRecord> records, string metric)
    {
        var curve = new SortedDictionary<int, double>();
        foreach (var r in records)
        {
            if (r.Phase == "resume")
            {
                if (r.Epoch is { } resumedAt)
                    foreach (var later in curve.Keys.Where(e => e > resumedAt).ToList()) curve.Remove(later);
                continue;
            }
            if (r.Epoch is { } epoch && Find(r.Values, r.Phase, metric) is { } value) curve[epoch] = value;
        }
        return curve;
    }

    /// <summary>Reads a finished run for a report row.</summary>
    public static SeedResult Read(string runPath, long seed, Suite suite)
    {
        var metricsFile = Path.Combine(runPath, RunDirectory.MetricsFile);
        var records = File.Exists(metricsFile) ? RunDirectory.ReadMetrics(metricsFile).ToList() : [];
        var curve = Curve(records, suite.Metric);
        var also = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var metric in suite.Also)
            if (Curve(records, metric) is { Count: > 0 } c) also[metric] = c.Last().Value;
        JsonObject? summary = null;
        try
        {
            summary = JsonNode.Parse(File.ReadAllText(Path.Combine(runPath, RunDirectory.SummaryFile)), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true }) as JsonObject;
        }
        catch (Exception e) when (e is JsonException or IOException)
        {
            // A damaged summary leaves the curve, which is enough for the row.
        }

        double? final = curve.Count > 0 ? curve.Last().Value : null;
        if (final is null && summary?["final"] is JsonObject finalNode)
        {
            var values = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (k, node) in finalNode)
                if (JsonNumbers.TryRead(node) is { } d) values[k] = d;
            final = Find(values, null, suite.Metric);
        }
        double? best = null;
        int? bestEpoch = null;
        foreach (var (epoch, value) in curve)
            if (!double.IsNaN(value) && (best is null || (suite.Mode == MetricMode.Max ? value > best : value < best)))
                (best, bestEpoch) = (value, epoch);
        if (best is null && final is not null) best = final;
        var record = RunRecord.Read(runPath);
        return new SeedResult(
            seed,
            runPath,
            suite.Select == Selection.Best ? best : final,
            final,
            best,
            bestEpoch,
            curve,
            summary?["epochs"] is { } ep && JsonNumbers.TryRead(ep) is { } epochs ? (int)epochs : curve.Count > 0 ? curve.Keys.Max() : null,
            summary?["elapsed_seconds"] is { } el ? JsonNumbers.TryRead(el) : null,
            record?.Device,
            record?.Teachers,
            also,
            records.FirstOrDefault(r => r.Phase == "teacher")?.Values);
    }
}

/// <summary>Writes a report: <c>report.md</c>, <c>curves.svg</c>, <c>results.json</c>.</summary>
public static class ReportWriter
{
    public static IReadOnlyList<string> Write(ReportData data, string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        void Save(string name, string content)
        {
            var path = Path.Combine(directory, name);
            var temp = Path.Combine(directory, $".{name}.{Environment.ProcessId}.tmp");
            File.WriteAllText(temp, content);
            File.Move(temp, path, overwrite: true);
            files.Add(path);
        }
        Save("report.md", data.Suite.Template is { } template ? ReportTemplate.Render(template, data) : Markdown(data));
        Save("curves.svg", Curves(data));
        Save("results.json", Json(data).ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        return files;
    }

    /// <summary>A value as the report shows it: scaled, with the suite's decimals.</summary>
    internal static string Shown(Suite suite, double value) => Format.Fixed(value * suite.Scale, suite.ShownDecimals);

    /// <summary>A difference of means as the report shows it: "+2.20", "−0.05".</summary>
    internal static string DeltaText(Suite suite, double delta) => (delta >= 0 ? "+" : "−") + Format.Fixed(Math.Abs(delta) * suite.Scale, suite.ShownDecimals);

    public static string MetricWords(Suite suite) =>
        $"{(suite.Select == Selection.Best ? "best-epoch" : "final-epoch")} `{suite.Metric}`{(suite.Scale != 1 ? $" × {Format.Metric(suite.Scale)}" : "")}, {(suite.Mode == MetricMode.Max ? "higher" : "lower")} is better";

    /// <summary>"72.10 ± 0.31 (n=3)", "72.10 (n=1)" or "—".</summary>
    public static string MeanCell(Suite suite, EntryResult e) =>
        e.Mean is not { } mean ? "—"
        : e.Std is { } std ? $"{Shown(suite, mean)} ± {Format.Fixed(std * suite.Scale, suite.ShownDecimals)} (n={e.Values.Count.ToString(CultureInfo.InvariantCulture)})"
        : $"{Shown(suite, mean)} (n={e.Values.Count.ToString(CultureInfo.InvariantCulture)})";

    public static string AlsoCell(Suite suite, IReadOnlyList<double> values) =>
        values.Count == 0 ? "—"
        : Statistics.SampleStd(values) is { } std ? $"{Shown(suite, values.Average())} ± {Format.Fixed(std * suite.Scale, suite.ShownDecimals)}"
        : Shown(suite, values.Average());

    public static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);

    /// <summary>The built-in report.md: the runner's own Scriban template over the report's data (<see cref="ReportTemplate.RenderDefault"/>).</summary>
    public static string Markdown(ReportData data) => ReportTemplate.RenderDefault(data);

    /// <summary>A row's per-seed values: "72.10 (s1), failed (s2), — (s3)".</summary>
    public static string PerSeedText(Suite suite, EntryResult e) =>
        string.Join(", ", e.Seeds.Select(s =>
            e.Runs.FirstOrDefault(r => r.Seed == s) is { Value: { } v } ? $"{Shown(suite, v)} (s{s.ToString(CultureInfo.InvariantCulture)})"
            : e.Failed.ContainsKey(s) ? $"failed (s{s.ToString(CultureInfo.InvariantCulture)})"
            : $"— (s{s.ToString(CultureInfo.InvariantCulture)})"));

    /// <summary>Each run's best epoch of its epochs ("12/20, 18/20"), or "—".</summary>
    public static string BestEpochsText(EntryResult e)
    {
        var text = string.Join(", ", e.Runs.Select(r => r.BestEpoch is { } b
            ? $"{b.ToString(CultureInfo.InvariantCulture)}/{(r.Epochs ?? b).ToString(CultureInfo.InvariantCulture)}"
            : "—"));
        return text.Length > 0 ? text : "—";
    }

    /// <summary>What the report lacks: seeds without a finished run, failed runs, runs that logged no metric.</summary>
    public static IEnumerable<string> Gaps(ReportData data)
    {
        var suite = data.Suite;
        foreach (var e in data.Entries.Where(e => e.Missing.Count > 0))
            yield return $"{Escape(e.Entry.Label)}: no finished run for seed{(e.Missing.Count == 1 ? "" : "s")} {string.Join(", ", e.Missing.Select(s => s.ToString(CultureInfo.InvariantCulture)))} (collected only; run the report without --collect to train them)";
        foreach (var e in data.Entries.Where(e => e.Failed.Count > 0))
            foreach (var (seed, error) in e.Failed)
                yield return $"{Escape(e.Entry.Label)}, seed {seed.ToString(CultureInfo.InvariantCulture)}: failed: {Escape(error)}";
        foreach (var (e, r) in data.Entries.SelectMany(e => e.Runs.Where(r => r.Value is null).Select(r => (e, r))))
            yield return $"{Escape(e.Entry.Label)}, seed {r.Seed.ToString(CultureInfo.InvariantCulture)}: the run logged no `{suite.Metric}` ({r.RunPath})";
    }

    public static string Relative(string root, string path)
    {
        var relative = Path.GetRelativePath(root, path);
        return relative.StartsWith("..", StringComparison.Ordinal) ? path : relative;
    }

    /// <summary>
    /// Each compared row against the baseline (the student alone): the difference of means, the pooled sample
    /// standard deviation, and whether every seed of one beats every seed of the other. Rows without values are left out.
    /// </summary>
    public static IReadOnlyList<Gain> Gains(ReportData data)
    {
        if (data.Baseline is not { Mean: { } baseMean } baseline) return [];
        var max = data.Suite.Mode == MetricMode.Max;
        var gains = new List<Gain>();
        foreach (var row in data.Compared)
        {
            if (row.Mean is not { } mean) continue;
            var delta = mean - baseMean;
            double? pooled = row.Std is { } a && baseline.Std is { } b ? Math.Sqrt((a * a + b * b) / 2) : null;
            var (rowWorst, rowBest) = max ? (row.Values.Min(), row.Values.Max()) : (row.Values.Max(), row.Values.Min());
            var (baseWorst, baseBest) = max ? (baseline.Values.Min(), baseline.Values.Max()) : (baseline.Values.Max(), baseline.Values.Min());
            var beats = max ? rowWorst > baseBest : rowWorst < baseBest;
            var loses = max ? rowBest < baseWorst : rowBest > baseWorst;
            gains.Add(new Gain(row, max ? delta : -delta, pooled, beats, loses));
        }
        return gains;
    }

    /// <summary>
    /// What the console says under the rows: each row against the student alone, failed teacher checks, and the
    /// ordering against the published numbers where one may be claimed (as in <c>report.md</c>).
    /// </summary>
    public static IEnumerable<string> ConsoleVerdicts(ReportData data)
    {
        var suite = data.Suite;
        foreach (var g in Gains(data))
        {
            var delta = DeltaText(suite, g.Delta);
            var verdict = g.BeatsEverySeed ? "every seed beats every seed of it" : g.LosesToEverySeed ? "every seed is worse than every seed of it" : "the seeds overlap";
            yield return $"  {g.Row.Entry.Label} vs {data.Baseline!.Entry.Label}: {delta} ({verdict})";
        }
        var flags = TeacherFlags(data);
        foreach (var f in flags) yield return $"  teacher check failed: {f.Row}: {f.Problem}";
        if (!data.Quick && flags.Count == 0 && Ordering(data) is { } ordering) yield return ordering.Replace("**", "", StringComparison.Ordinal);
    }

    /// <summary>
    /// BatchNorm's running statistics (momentum 0.1) keep 0.9^k of their initial values after k training steps; a
    /// teacher trained fewer steps than this is, in evaluation mode, not the model it trained (a 5-step teacher's
    /// logits reached norms near 30,000).
    /// </summary>
    public const int MinimumTeacherSteps = 44;

    /// <summary>
    /// Teachers the rows distilled from that cannot carry knowledge: runs of fewer than <see cref="MinimumTeacherSteps"/>
    /// optimizer steps, and teachers whose own evaluation (logged by the student's run) is no better than the
    /// student alone's mean. One flag per teacher run and problem.
    /// </summary>
    public static IReadOnlyList<TeacherFlag> TeacherFlags(ReportData data)
    {
        var flags = new List<TeacherFlag>();
        var suite = data.Suite;
        var teacherMetric = suite.Metric.StartsWith("val_", StringComparison.Ordinal) ? "teacher_" + suite.Metric["val_".Length..]
            : suite.Metric.StartsWith("val/", StringComparison.Ordinal) ? "teacher/" + suite.Metric["val/".Length..] : null;
        var baseMean = data.Baseline?.Mean;
        var max = suite.Mode == MetricMode.Max;
        foreach (var row in data.Entries)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var run in row.Runs)
            {
                if (run.Teachers is null) continue;
                foreach (var teacherRun in run.Teachers.Values)
                {
                    if (!seen.Add(teacherRun)) continue;
                    if (TeacherSteps(teacherRun) is { } steps && steps < MinimumTeacherSteps)
                        flags.Add(new TeacherFlag(row.Entry.Label, teacherRun,
                            $"trained {Format.Count(steps, "optimizer step")}, too few to carry knowledge (a BatchNorm network's running statistics still hold {Format.Fixed(100 * Math.Pow(0.9, steps), 0)}% of their initial values, so in evaluation mode it is not the network it trained)"));
                }
                if (teacherMetric is not null && baseMean is { } b && run.TeacherValues is { } tv && MetricReader.Find(tv, "teacher", teacherMetric) is { } teacherValue
                    && (max ? teacherValue <= b : teacherValue >= b) && seen.Add("accuracy:" + string.Join(",", run.Teachers.Values)))
                    flags.Add(new TeacherFlag(row.Entry.Label, run.Teachers.Values.First(),
                        $"its {teacherMetric} {Shown(suite, teacherValue)} (seed {run.Seed.ToString(CultureInfo.InvariantCulture)}'s evaluation) is no better than {data.Baseline!.Entry.Label}'s mean {Shown(suite, b)}"));
            }
        }
        return flags;
    }

    private static long? TeacherSteps(string runPath)
    {
        try
        {
            var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(runPath, RunDirectory.SummaryFile)));
            return summary?["steps"] is { } steps && JsonNumbers.TryRead(steps) is { } v ? (long)v : null;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Our ranking of the rows that have both a mean and a numeric anchor next to the published ranking;
    /// says plainly when they differ. Null with fewer than two such rows.
    /// </summary>
    public static string? Ordering(ReportData data)
    {
        var rows = data.Entries.Where(e => e.Mean is not null && e.Anchor?.Number is not null).ToList();
        if (rows.Count < 2) return null;
        var max = data.Suite.Mode == MetricMode.Max;
        var sign = max ? " > " : " < ";
        var ours = (max ? rows.OrderByDescending(e => e.Mean) : rows.OrderBy(e => e.Mean)).Select(e => e.Entry.Label).ToList();
        var published = (max ? rows.OrderByDescending(e => e.Anchor!.Number) : rows.OrderBy(e => e.Anchor!.Number)).Select(e => e.Entry.Label).ToList();
        var same = ours.SequenceEqual(published);
        return $"Ordering (rows with a published number): ours {string.Join(sign, ours)}; published {string.Join(sign, published)} — "
            + (same ? "the same order." : "**the order differs from the published one.**");
    }

    public static IEnumerable<string> MachineFacts()
    {
        yield return $"Machine: {Environment.ProcessorCount.ToString(CultureInfo.InvariantCulture)} logical cores{(CpuModel() is { } cpu ? $" ({cpu})" : "")}, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant()}";
        var memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (memory > 0) yield return $"Memory: {(memory / (1024.0 * 1024 * 1024)).ToString("0.0", CultureInfo.InvariantCulture)} GiB";
        yield return $"Runtime: {RuntimeInformation.FrameworkDescription}";
    }

    private static string? CpuModel()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return null;
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static string Curves(ReportData data)
    {
        var suite = data.Suite;
        var series = data.Entries
            .Select(e => new SvgPlot.Series(e.Entry.Label, e.MeanCurve.Select(p => ((double)p.Epoch, p.Value * suite.Scale)).ToList()))
            .ToList();
        var seeds = data.Entries.SelectMany(e => e.Runs.Select(r => r.Seed)).Distinct().Count();
        return SvgPlot.Render(
            $"{suite.Title}: {suite.Metric} per epoch{(data.Quick ? " (quick)" : "")}",
            $"mean over seeds ({seeds.ToString(CultureInfo.InvariantCulture)} seed{(seeds == 1 ? "" : "s")} in all)",
            "epoch",
            suite.Metric + (suite.Scale != 1 ? $" × {Format.Metric(suite.Scale)}" : ""),
            series);
    }

    public static JsonObject Json(ReportData data)
    {
        var suite = data.Suite;
        static JsonNode? Num(double? v) => v is { } d ? JsonNumbers.Node(d) : null;
        var entries = new JsonArray();
        foreach (var e in data.Entries)
        {
            var runs = new JsonArray();
            foreach (var r in e.Runs)
            {
                var curve = new JsonArray();
                foreach (var (epoch, value) in r.Curve) curve.Add(new JsonArray(epoch, JsonNumbers.Node(value)));
                runs.Add(new JsonObject
                {
                    ["seed"] = r.Seed,
                    ["run"] = r.RunPath,
                    ["value"] = Num(r.Value),
                    ["final"] = Num(r.Final),
                    ["best"] = Num(r.Best),
                    ["best_epoch"] = r.BestEpoch,
                    ["epochs"] = r.Epochs,
                    ["elapsed_seconds"] = Num(r.ElapsedSeconds),
                    ["device"] = r.Device,
                    ["teachers"] = r.Teachers is { Count: > 0 } t ? new JsonObject(t.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))) : null,
                    ["curve"] = curve,
                    ["also"] = r.Also is { Count: > 0 } also ? new JsonObject(also.Select(kv => KeyValuePair.Create(kv.Key, Num(kv.Value)))) : null,
                });
            }
            var failed = new JsonObject();
            foreach (var (seed, error) in e.Failed) failed[seed.ToString(CultureInfo.InvariantCulture)] = error;
            entries.Add(new JsonObject
            {
                ["label"] = e.Entry.Label,
                ["experiment"] = e.Entry.Experiment,
                ["group"] = e.Entry.Group,
                ["seeds"] = new JsonArray(e.Seeds.Select(s => (JsonNode?)s).ToArray()),
                ["n"] = e.Values.Count,
                ["mean"] = Num(e.Mean),
                ["std"] = Num(e.Std),
                ["also"] = suite.Also.Count == 0 ? null : new JsonObject(suite.Also.Select(m => KeyValuePair.Create(m, (JsonNode?)new JsonObject
                {
                    ["n"] = e.AlsoValues(m).Count,
                    ["mean"] = Num(e.AlsoValues(m) is { Count: > 0 } v ? v.Average() : null),
                    ["std"] = Num(Statistics.SampleStd(e.AlsoValues(m))),
                }))),
                ["runs"] = runs,
                ["missing_seeds"] = new JsonArray(e.Missing.Select(s => (JsonNode?)s).ToArray()),
                ["failed_seeds"] = failed,
                ["anchor"] = e.Anchor is { } a ? new JsonObject { ["value"] = a.Value, ["number"] = Num(a.Number), ["source"] = a.Source } : null,
            });
        }
        return new JsonObject
        {
            ["suite"] = suite.Name,
            ["title"] = suite.Title,
            ["metric"] = suite.Metric,
            ["mode"] = suite.Mode == MetricMode.Max ? "max" : "min",
            ["select"] = suite.Select == Selection.Best ? "best" : "final",
            ["scale"] = JsonNumbers.Node(suite.Scale),
            ["quick"] = data.Quick,
            ["generated"] = data.Generated.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["command"] = data.Command,
            ["output_root"] = data.OutputRoot,
            ["cores"] = Environment.ProcessorCount,
            ["baseline"] = data.Baseline?.Entry.Label,
            ["gains"] = new JsonArray(Gains(data).Select(g => (JsonNode?)new JsonObject
            {
                ["label"] = g.Row.Entry.Label,
                ["delta"] = JsonNumbers.Node(g.Delta),
                ["pooled_std"] = Num(g.PooledStd),
                ["beats_every_seed"] = g.BeatsEverySeed,
            }).ToArray()),
            ["teacher_flags"] = new JsonArray(TeacherFlags(data).Select(f => (JsonNode?)new JsonObject
            {
                ["row"] = f.Row,
                ["teacher_run"] = f.Teacher,
                ["problem"] = f.Problem,
            }).ToArray()),
            ["entries"] = entries,
        };
    }
}
