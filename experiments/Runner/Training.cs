using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Experiments.Runner;

/// <summary>
/// What decides a run's numbers, as the runner records it: two runs with equal settings are the same
/// measurement (the device and the progress display are not part of it).
/// </summary>
/// <param name="Epochs">The epochs the run trains (overrides and --quick applied).</param>
/// <param name="BatchLimit">The cap on batches per epoch (--quick or --max-batches), or null.</param>
/// <param name="Overrides">The run's <c>--set</c> overrides as <c>key=value</c> in key order, joined by "; " (empty: as declared).</param>
public sealed record RunSettings(string Experiment, long Seed, bool Quick, int Epochs, long? BatchLimit, int? BatchSize, double? LearningRate, string Overrides = "")
{
    public static RunSettings From(ExperimentInfo info, TrainOptions options) =>
        new(info.Name, options.Seed, options.Quick, options.EffectiveEpochs(info.Epochs), options.EffectiveBatchLimit, options.BatchSize, options.LearningRate,
            Canonical(options.Settings));

    /// <summary>One string per set of overrides, whatever order they were given in (a record compares it by value).</summary>
    public static string Canonical(IReadOnlyDictionary<string, string>? overrides) =>
        overrides is null ? "" : string.Join("; ", overrides.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));

    /// <summary>The overrides as key and value (for runner.json).</summary>
    public IEnumerable<KeyValuePair<string, string>> OverrideList() =>
        Overrides.Length == 0 ? [] : Overrides.Split("; ").Select(a => KeyValuePair.Create(a[..a.IndexOf('=')], a[(a.IndexOf('=') + 1)..]));
}

/// <summary>
/// <c>runner.json</c>, the runner's note in a run directory: the settings, the command, whether the run
/// finished, and its result. <c>report</c> matches runs by it; a named run is noted before it starts, so
/// an interrupted one is recognised and resumed.
/// </summary>
/// <param name="Teachers">For each experiment a teacher came from, the run directory whose checkpoint the run loaded.</param>
public sealed record RunRecord(RunSettings Settings, string Device, string Command, string Status, DateTimeOffset Started, DateTimeOffset? Finished, JsonObject? Result, IReadOnlyDictionary<string, string>? Teachers = null)
{
    public const string FileName = "runner.json";
    public const string Running = "running";
    public const string Done = "finished";

    public static void Write(string runPath, RunRecord record)
    {
        var s = record.Settings;
        var json = new JsonObject
        {
            ["experiment"] = s.Experiment,
            ["seed"] = s.Seed,
            ["quick"] = s.Quick,
            ["epochs"] = s.Epochs,
            ["max_batches"] = s.BatchLimit,
            ["batch_size"] = s.BatchSize,
            ["lr"] = s.LearningRate,
            ["set"] = s.Overrides.Length == 0 ? null : new JsonObject(s.OverrideList().Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["device"] = record.Device,
            ["command"] = record.Command,
            ["status"] = record.Status,
            ["started"] = record.Started.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["finished"] = record.Finished?.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["teachers"] = record.Teachers is { Count: > 0 } teachers ? new JsonObject(teachers.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))) : null,
            ["result"] = record.Result?.DeepClone(),
        };
        Directory.CreateDirectory(runPath);
        var path = Path.Combine(runPath, FileName);
        // Temp file and rename: a reader never sees half a record.
        var temp = Path.Combine(runPath, $".{FileName}.{Environment.ProcessId}.tmp");
        File.WriteAllText(temp, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The record in <paramref name="runPath"/>, or null when there is none or it cannot be read.</summary>
    public static RunRecord? Read(string runPath)
    {
        var path = Path.Combine(runPath, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            var settings = new RunSettings(
                (string)o["experiment"]!,
                (long)o["seed"]!,
                (bool)o["quick"]!,
                (int)o["epochs"]!,
                (long?)o["max_batches"],
                (int?)o["batch_size"],
                (double?)o["lr"],
                // A note written before overrides were recorded here: the loop's own options.json has them.
                RunSettings.Canonical(o["set"] is JsonObject set
                    ? set.ToDictionary(kv => kv.Key, kv => (string)kv.Value!, StringComparer.Ordinal)
                    : RunRequest.Read(runPath)?.Settings));
            return new RunRecord(settings, (string?)o["device"] ?? "", (string?)o["command"] ?? "", (string?)o["status"] ?? "",
                DateTimeOffset.Parse((string)o["started"]!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
                o["finished"] is { } f ? DateTimeOffset.Parse((string)f!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) : null,
                o["result"] as JsonObject,
                o["teachers"] is JsonObject t ? t.Where(kv => kv.Value is JsonValue).ToDictionary(kv => kv.Key, kv => (string)kv.Value!) : null);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException or IOException)
        {
            return null; // a foreign or damaged file: treat the run as not the runner's
        }
    }
}

/// <summary>The runs under an output root, as the runner finds them.</summary>
public static class RunStore
{
    /// <summary>The run name <c>report</c> gives a seed's run: <c>s&lt;seed&gt;</c>, or <c>quick-s&lt;seed&gt;</c>.</summary>
    public static string Tag(long seed, bool quick) => (quick ? "quick-" : "") + "s" + seed.ToString(CultureInfo.InvariantCulture);

    public static bool IsFinished(string runPath) => RunDirectory.IsCompleted(runPath);

    private static IEnumerable<string> Runs(string root, string experiment)
    {
        var parent = Path.Combine(Path.GetFullPath(root), RunDirectory.SanitizeName(experiment));
        return Directory.Exists(parent) ? Directory.EnumerateDirectories(parent) : [];
    }

    /// <summary>
    /// The newest finished run of <paramref name="wanted"/>'s experiment whose runner.json has exactly these
    /// settings; a run without runner.json counts when its name is the seed's tag (<see cref="Tag"/>).
    /// </summary>
    public static string? FindFinished(string root, RunSettings wanted) =>
        Runs(root, wanted.Experiment)
            .Where(IsFinished)
            .Where(dir => RunRecord.Read(dir) is { } r ? r.Settings == wanted : Path.GetFileName(dir) == Tag(wanted.Seed, wanted.Quick))
            .OrderByDescending(dir => File.GetLastWriteTimeUtc(Path.Combine(dir, RunDirectory.SummaryFile)))
            .ThenByDescending(dir => dir, StringComparer.Ordinal)
            .FirstOrDefault();

    /// <summary>
    /// The run name for a new run of <paramref name="wanted"/>: the seed's tag, or the first of
    /// <c>tag-2</c>, <c>tag-3</c>, ... that is free. An unfinished run with the same settings is taken
    /// (to be resumed); <paramref name="resumes"/> says so.
    /// </summary>
    public static string ChooseName(string root, RunSettings wanted, out bool resumes)
    {
        var parent = Path.Combine(Path.GetFullPath(root), RunDirectory.SanitizeName(wanted.Experiment));
        var tag = Tag(wanted.Seed, wanted.Quick);
        for (var k = 1; ; k++)
        {
            var name = k == 1 ? tag : $"{tag}-{k.ToString(CultureInfo.InvariantCulture)}";
            var dir = Path.Combine(parent, name);
            if (!Directory.Exists(dir))
            {
                resumes = false;
                return name;
            }
            if (!IsFinished(dir) && RunRecord.Read(dir) is { } r && r.Settings == wanted)
            {
                resumes = true;
                return name;
            }
        }
    }
}

/// <summary>
/// Trains experiments: first the teachers they take from other experiments (when those have no finished
/// run under the output root), then the experiment; notes every run in its <c>runner.json</c>.
/// </summary>
public sealed class Trainer(ExperimentCatalog catalog, TextWriter output, string command)
{
    /// <summary>Trains <paramref name="info"/> with <paramref name="options"/>, its missing teachers first.</summary>
    public TrainResult Train(ExperimentInfo info, TrainOptions options)
    {
        if (options.Distributed is { WorldSize: > 1 })
        {
            // Ranks never train teachers (they would all train them at once): the launcher did, or the job's author must.
            var missing = info.DependsOn.Distinct(StringComparer.Ordinal).Where(d => TeacherWeights.FindRun(d, options) is null).ToList();
            if (missing.Count > 0)
                throw new DistillRuntimeException($"'{info.Name}' takes its teacher from {string.Join(", ", missing.Select(m => $"'{m}'"))}, which has no finished run under {Path.GetFullPath(options.OutputRoot)}; "
                    + "a rank of a data-parallel job does not train teachers: train them first (distill-experiments run <teacher>), or start the job with --nproc, which does");
        }
        else EnsureDependencies(info, options, [info.Name]);
        return TrainOne(info, options);
    }

    /// <summary>
    /// Trains, depth first, every experiment <paramref name="info"/> takes a teacher from that has no
    /// finished run under <see cref="TrainOptions.OutputRoot"/>; reuses the others.
    /// </summary>
    public void EnsureDependencies(ExperimentInfo info, TrainOptions options, IReadOnlyList<string> chain)
    {
        foreach (var dependency in info.DependsOn.Distinct(StringComparer.Ordinal))
        {
            if (chain.Contains(dependency, StringComparer.Ordinal))
                throw new DistillRuntimeException($"the experiments depend on each other in a cycle: {string.Join(" → ", chain.Append(dependency))}");
            var teacher = catalog.Find(dependency)
                ?? throw new DistillRuntimeException($"experiment '{info.Name}' takes a teacher from experiment '{dependency}', which is not registered.{Suggestions.DidYouMean(dependency, catalog.All.Select(e => e.Name))}");
            var root = Path.GetFullPath(options.OutputRoot);
            if (TeacherWeights.FindRun(dependency, options) is { } existing)
            {
                output.WriteLine($"{info.Name}: teacher from '{dependency}': reusing {existing}");
                continue;
            }
            EnsureDependencies(teacher, options, [.. chain, dependency]);
            var teacherOptions = DependencyOptions(options);
            // Runs of the teacher with other settings (a short trial, another batch size) are never taken for it.
            var rejected = TeacherWeights.RejectedRuns(dependency, options);
            var why = rejected.Count == 0 ? $"no finished run under {root}" : $"no run under {root} trained it as declared ({string.Join("; ", rejected)})";
            output.WriteLine($"{info.Name}: teacher from '{dependency}': {why}; training '{dependency}' first (seed {teacherOptions.Seed.ToString(CultureInfo.InvariantCulture)}{(teacherOptions.Quick ? ", quick" : "")})");
            TrainOne(teacher, teacherOptions);
            if (TeacherWeights.FindRun(dependency, options) is null)
                throw new DistillRuntimeException($"experiment '{dependency}' finished but left no finished run (summary.json and a checkpoint) under {root}; '{info.Name}' cannot load its teacher");
        }
    }

    /// <summary>A teacher's run: the student's seed, quick-ness, device, output root and display; its own epochs and hyper-parameters.</summary>
    public static TrainOptions DependencyOptions(TrainOptions options) => new()
    {
        Seed = options.Seed,
        Device = options.Device,
        OutputRoot = options.OutputRoot,
        Quick = options.Quick,
        QuickEpochs = options.QuickEpochs,
        QuickBatches = options.QuickBatches,
        Threads = options.Threads,
        Progress = options.Progress,
        ProgressInterval = options.ProgressInterval,
    };

    private TrainResult TrainOne(ExperimentInfo info, TrainOptions options)
    {
        var settings = RunSettings.From(info, options);
        var started = DateTimeOffset.UtcNow;
        var device = DeviceName(options);
        // The teacher runs the loop will load: TeacherWeights.FindRun is what it calls.
        var teachers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var dependency in info.DependsOn)
            if (TeacherWeights.FindRun(dependency, options) is { } checkpoint)
                teachers[dependency] = RunOf(checkpoint);
        var records = options.Distributed is not { Rank: > 0 };   // rank 0 (or the one process) keeps the run's record
        if (records && options.RunName is { } name && options.Resume.Kind == ResumeKind.Latest)
        {
            // Noted before it starts, so a run interrupted now is recognised (and resumed) next time.
            var planned = Path.Combine(Path.GetFullPath(options.OutputRoot), RunDirectory.SanitizeName(info.Name), name);
            if (!Directory.Exists(planned) || RunRecord.Read(planned) is null)
                RunRecord.Write(planned, new RunRecord(settings, device, command, RunRecord.Running, started, null, null, teachers));
        }
        var what = $"seed {settings.Seed.ToString(CultureInfo.InvariantCulture)}, {Format.Count(settings.Epochs, "epoch")}"
            + (settings.BatchLimit is { } b ? $" of at most {b.ToString(CultureInfo.InvariantCulture)} batches" : "")
            + (settings.Quick ? ", quick" : "") + $", device {device}";
        if (!records) return info.Run(options);
        output.WriteLine($"==> training {info.Name} ({what}{(options.Distributed is { } world ? $", {world.WorldSize.ToString(CultureInfo.InvariantCulture)} data-parallel ranks" : "")})");
        output.Flush();
        var clock = Stopwatch.StartNew();
        var result = info.Run(options);
        clock.Stop();
        RunRecord.Write(result.RunPath, new RunRecord(settings, device, command, RunRecord.Done, started, DateTimeOffset.UtcNow, result.ToJson(), teachers));
        return result;
    }

    /// <summary>The device a run uses: "auto" resolved (it asks libtorch whether it sees a GPU), for the record.</summary>
    public static string DeviceName(TrainOptions options)
    {
        if (!options.Device.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)) return options.Device.Trim();
        try
        {
            return options.ResolveDevice().ToString();
        }
        catch (Exception e) when (e is TorchException or DllNotFoundException or EntryPointNotFoundException or TypeInitializationException)
        {
            return "auto"; // the loop will report the problem itself
        }
    }

    /// <summary>The run directory of a checkpoint (its pointer or state file lies in the run's checkpoints folder).</summary>
    public static string RunOf(string checkpoint)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(checkpoint))!;
        return Path.GetFileName(folder) == RunDirectory.CheckpointsFolder ? Path.GetDirectoryName(folder)! : folder;
    }

    /// <summary>The result as <c>run</c> prints it.</summary>
    public static void Print(TextWriter output, TrainResult result)
    {
        output.WriteLine($"run:     {result.RunPath}");
        output.WriteLine($"trained: {Format.Count(result.Epochs, "epoch")}, {Format.Count(result.Steps, "step")} in {Format.Duration(result.Elapsed)}");
        if (result.Final.Count > 0)
        {
            output.WriteLine("final:");
            var width = result.Final.Keys.Max(k => k.Length) + 2;
            foreach (var (k, v) in result.Final.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                output.WriteLine($"  {k.PadRight(width)}{Format.Metric(v)}");
        }
        output.WriteLine($"best:    {(result.Best is { } best ? Format.Metric(best) : "-")}");
    }
}

/// <summary>Number and time formatting, invariant culture throughout.</summary>
public static class Format
{
    public static string Metric(double v) =>
        double.IsNaN(v) ? "NaN" : double.IsInfinity(v) ? (v > 0 ? "inf" : "-inf") : v.ToString("0.######", CultureInfo.InvariantCulture);

    public static string Fixed(double v, int decimals) =>
        double.IsFinite(v) ? v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : Metric(v);

    /// <summary>"1 epoch", "3 epochs".</summary>
    public static string Count(long n, string noun) => $"{n.ToString(CultureInfo.InvariantCulture)} {noun}{(n == 1 ? "" : "s")}";

    public static string Duration(TimeSpan t) =>
        t.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours}h {t.Minutes:D2}m")
        : t.TotalMinutes >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalMinutes}m {t.Seconds:D2}s")
        : string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.0} s");
}
