using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Runtime;

/// <summary>One line of <c>metrics.jsonl</c>, as <see cref="RunDirectory.ReadMetrics"/> returns it.</summary>
/// <param name="Phase">"train", "val", "test", ... or "resume" for the marker a resumed run writes.</param>
/// <param name="Epoch">The 1-based epoch number, when the record belongs to one.</param>
/// <param name="Step">The global optimizer step, when the record belongs to one.</param>
/// <param name="Checkpoint">The checkpoint a "resume" record resumed from.</param>
public sealed record MetricsRecord(DateTimeOffset Time, string Phase, int? Epoch, long? Step, IReadOnlyDictionary<string, double> Values, string? Checkpoint = null);

/// <summary>
/// A run's directory, <c>&lt;root&gt;/&lt;experiment&gt;/&lt;run&gt;/</c>: the resolved configuration
/// (<c>config.&lt;ext&gt;</c>), <c>metrics.jsonl</c> (one JSON object per logged event, appended and flushed
/// as it happens), <c>summary.json</c> (written atomically at the end) and <c>checkpoints/</c>.
/// The run is named by the caller or by the UTC start time (<c>yyyyMMdd-HHmmss</c>). Open an existing
/// run to resume it: new metric lines are appended after the old ones, behind a "resume" marker.
/// </summary>
public sealed class RunDirectory : IDisposable
{
    public const string DefaultRoot = "runs";
    public const string CheckpointsFolder = "checkpoints";
    public const string MetricsFile = "metrics.jsonl";
    public const string SummaryFile = "summary.json";
    public const string ConfigName = "config";

    private readonly TimeProvider _clock;
    private readonly object _lock = new();
    private FileStream? _metrics;

    private RunDirectory(string path, string experiment, string name, bool resumed, TimeProvider clock, bool follower = false)
    {
        Path = path;
        Experiment = experiment;
        Name = name;
        Resumed = resumed;
        _clock = clock;
        IsFollower = follower;
        if (follower) return;
        Directory.CreateDirectory(CheckpointsPath);
        AtomicFile.RemoveLeftovers(path);
    }

    /// <summary>
    /// The run directory another data-parallel rank (rank 0) created, seen by the other ranks: they read its
    /// checkpoints (a resume) and write nothing — configs, metrics and summaries are no-ops, so one rank writes the run.
    /// </summary>
    public static RunDirectory Follow(string path, string? resumeCheckpoint, TimeProvider? clock = null)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(full)) throw new RunDirectoryException(full, $"the run directory '{full}' that rank 0 created is not visible here (data-parallel ranks need a shared output root)");
        return new RunDirectory(full, System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(full)!) ?? "", System.IO.Path.GetFileName(full),
            resumeCheckpoint is not null, clock ?? TimeProvider.System, follower: true) { ResumeCheckpoint = resumeCheckpoint };
    }

    /// <summary>A data-parallel rank other than 0: it writes nothing here (see <see cref="Follow"/>).</summary>
    public bool IsFollower { get; }

    /// <summary>The run directory's full path.</summary>
    public string Path { get; }

    /// <summary>The experiment's name as used on disk (sanitised).</summary>
    public string Experiment { get; }

    /// <summary>The run's name: the caller's, or the UTC start time.</summary>
    public string Name { get; }

    /// <summary>Whether this run directory existed before (it was opened to resume).</summary>
    public bool Resumed { get; }

    /// <summary>The checkpoint a resumed run should restore (a pointer or state file), or null for a fresh start.</summary>
    public string? ResumeCheckpoint { get; private set; }

    public string CheckpointsPath => System.IO.Path.Combine(Path, CheckpointsFolder);
    public string MetricsPath => System.IO.Path.Combine(Path, MetricsFile);
    public string SummaryPath => System.IO.Path.Combine(Path, SummaryFile);

    // ---- creating and opening ---------------------------------------------------------------------------

    /// <summary>
    /// Creates <c>&lt;root&gt;/&lt;experiment&gt;/&lt;runName&gt;/</c>. Without a run name the UTC start time names
    /// the run (<c>-2</c>, <c>-3</c>, ... appended when two runs start in the same second). An explicit name
    /// that already exists is an error: resume it (<see cref="Open"/>) or choose another name.
    /// </summary>
    public static RunDirectory Create(string experiment, string? runName = null, string? root = null, TimeProvider? clock = null)
    {
        clock ??= TimeProvider.System;
        var safeExperiment = SanitizeName(experiment);
        var parent = System.IO.Path.Combine(System.IO.Path.GetFullPath(root ?? DefaultRoot), safeExperiment);
        Directory.CreateDirectory(parent);
        string name;
        if (runName is not null)
        {
            name = SanitizeName(runName);
            var path = System.IO.Path.Combine(parent, name);
            if (Directory.Exists(path))
                throw new RunDirectoryException(path, $"the run directory '{path}' already exists: resume it, or choose another run name");
        }
        else
        {
            var stamp = clock.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
            name = stamp;
            for (var k = 2; Directory.Exists(System.IO.Path.Combine(parent, name)); k++) name = $"{stamp}-{k}";
        }
        return new RunDirectory(System.IO.Path.Combine(parent, name), safeExperiment, name, resumed: false, clock);
    }

    /// <summary>Opens an existing run directory (to resume it, or to add to it). Its <c>latest</c> checkpoint, if any, becomes <see cref="ResumeCheckpoint"/>.</summary>
    public static RunDirectory Open(string path, TimeProvider? clock = null)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!Directory.Exists(full)) throw new RunDirectoryException(full, $"the run directory '{full}' does not exist");
        var run = new RunDirectory(full, System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(full)!) ?? "", System.IO.Path.GetFileName(full), resumed: true, clock ?? TimeProvider.System);
        var latest = System.IO.Path.Combine(run.CheckpointsPath, Checkpointer.LatestPointer);
        run.ResumeCheckpoint = File.Exists(latest) ? latest : null;
        return run;
    }

    /// <summary>
    /// The run directory <paramref name="options"/> ask for: a new one, or for <see cref="ResumeKind.Latest"/>
    /// the run named <see cref="TrainOptions.RunName"/> (or, without a name, the experiment's most recently
    /// checkpointed run) when it exists; for <see cref="ResumeKind.Path"/> the run holding that checkpoint
    /// (a run directory, its checkpoints folder, a pointer or a checkpoint file). A resume with nothing to
    /// resume from starts a new run; <see cref="ResumeCheckpoint"/> tells which happened.
    /// </summary>
    public static RunDirectory ForOptions(string experiment, TrainOptions options, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var root = options.OutputRoot;
        switch (options.Resume.Kind)
        {
            case ResumeKind.None:
                return Recorded(Create(experiment, options.RunName, root, clock), options);
            case ResumeKind.Latest:
            {
                var parent = System.IO.Path.Combine(System.IO.Path.GetFullPath(root), SanitizeName(experiment));
                string? existing = null;
                if (options.RunName is not null)
                {
                    var named = System.IO.Path.Combine(parent, SanitizeName(options.RunName));
                    if (Directory.Exists(named)) existing = named;
                }
                else if (Directory.Exists(parent))
                {
                    existing = Directory.EnumerateDirectories(parent)
                        .Select(d => (dir: d, pointer: new FileInfo(System.IO.Path.Combine(d, CheckpointsFolder, Checkpointer.LatestPointer))))
                        .Where(x => x.pointer.Exists)
                        .OrderByDescending(x => x.pointer.LastWriteTimeUtc)
                        .ThenByDescending(x => x.dir, StringComparer.Ordinal)
                        .Select(x => x.dir)
                        .FirstOrDefault();
                }
                return existing is null ? Recorded(Create(experiment, options.RunName, root, clock), options) : Open(existing, clock);
            }
            case ResumeKind.Path:
            {
                var statePath = Checkpoint.ResolveStatePath(options.Resume.Path!);
                var checkpoints = System.IO.Path.GetDirectoryName(statePath)!;
                var runPath = System.IO.Path.GetFileName(checkpoints) == CheckpointsFolder ? System.IO.Path.GetDirectoryName(checkpoints)! : checkpoints;
                var run = Open(runPath, clock);
                // Resume from exactly what was named (a best.json, an older pair), not necessarily latest.
                var full = System.IO.Path.GetFullPath(options.Resume.Path!);
                run.ResumeCheckpoint = File.Exists(full) ? full : statePath;
                return run;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Resume.Kind, "unknown resume kind");
        }
    }

    private static RunDirectory Recorded(RunDirectory run, TrainOptions options)
    {
        RunRequest.From(options).Write(run.Path);
        return run;
    }

    /// <summary>
    /// A name safe as one path segment on every common file system: characters other than letters,
    /// digits, '.', '_' and '-' become '-', runs of '-' collapse, leading/trailing dots and dashes go,
    /// at most 100 characters; an empty result is "unnamed".
    /// </summary>
    public static string SanitizeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var sb = new StringBuilder(name.Length);
        foreach (var c in name.Normalize(NormalizationForm.FormC))
        {
            var ok = char.IsLetterOrDigit(c) || c is '.' or '_' or '-';
            var ch = ok ? c : '-';
            if (ch == '-' && sb.Length > 0 && sb[^1] == '-') continue;
            sb.Append(ch);
        }
        var result = sb.ToString().Trim('.', '-');
        if (result.Length > 100) result = result[..100].TrimEnd('.', '-');
        return result.Length == 0 ? "unnamed" : result;
    }

    /// <summary>A checkpointer over this run's <c>checkpoints/</c>.</summary>
    public Checkpointer CreateCheckpointer(int? keepLast = null, MetricMode mode = MetricMode.Max) =>
        new(CheckpointsPath, keepLast, mode, _clock);

    // ---- config -----------------------------------------------------------------------------------------

    /// <summary>
    /// Writes the resolved configuration to <c>config.&lt;extension&gt;</c> (atomically). On a resumed run the
    /// original stays: an identical config writes nothing, a different one is written next to it as
    /// <c>config.resumed-&lt;utc time&gt;.&lt;extension&gt;</c>. Returns the path written (or kept).
    /// </summary>
    public string WriteConfig(string content, string extension = "yaml")
    {
        ArgumentNullException.ThrowIfNull(content);
        extension = extension.TrimStart('.');
        if (extension.Length == 0 || SanitizeName(extension) != extension)
            throw new ArgumentException($"'{extension}' is not a plain file extension", nameof(extension));
        var path = System.IO.Path.Combine(Path, $"{ConfigName}.{extension}");
        if (IsFollower) return path;
        if (File.Exists(path))
        {
            if (File.ReadAllText(path) == content) return path;
            var stamp = _clock.GetUtcNow().UtcDateTime.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
            path = System.IO.Path.Combine(Path, $"{ConfigName}.resumed-{stamp}.{extension}");
        }
        AtomicFile.WriteAllText(path, content);
        return path;
    }

    // ---- metrics.jsonl -------------------------------------------------------------------------------------

    /// <summary>
    /// Appends one record to <c>metrics.jsonl</c> and flushes it: <c>{"time", "phase", "epoch", "step", "values"}</c>.
    /// Numbers use the invariant culture and round-trip; NaN and infinities are written as strings.
    /// </summary>
    public void Log(string phase, IReadOnlyDictionary<string, double> values, int? epoch = null, long? step = null)
    {
        ArgumentNullException.ThrowIfNull(phase);
        ArgumentNullException.ThrowIfNull(values);
        WriteRecord(phase, values, epoch, step, checkpoint: null);
    }

    /// <summary>Records that the run resumed from a checkpoint (so readers can drop the lines logged after it the first time).</summary>
    public void LogResume(CheckpointInfo checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        WriteRecord("resume", new Dictionary<string, double>(), checkpoint.Epoch, checkpoint.GlobalStep, checkpoint.Name);
    }

    private void WriteRecord(string phase, IReadOnlyDictionary<string, double> values, int? epoch, long? step, string? checkpoint)
    {
        if (IsFollower) return;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("time", _clock.GetUtcNow().UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            w.WriteString("phase", phase);
            if (epoch is { } e) w.WriteNumber("epoch", e);
            if (step is { } s) w.WriteNumber("step", s);
            if (checkpoint is not null) w.WriteString("checkpoint", checkpoint);
            w.WriteStartObject("values");
            foreach (var (name, value) in values) JsonNumbers.Write(w, name, value);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        lock (_lock)
        {
            var stream = MetricsStream();
            stream.Write(buffer.WrittenSpan);
            stream.WriteByte((byte)'\n');
            stream.Flush();
        }
    }

    private FileStream MetricsStream()
    {
        if (_metrics is not null) return _metrics;
        ObjectDisposedException.ThrowIf(_disposed, this);
        var stream = new FileStream(MetricsPath, FileMode.Append, FileAccess.Write, FileShare.Read);
        // A crash may have cut the last line short: start on a fresh line so that line alone is lost.
        if (stream.Length > 0)
        {
            using var read = new FileStream(MetricsPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            read.Seek(-1, SeekOrigin.End);
            if (read.ReadByte() != '\n') stream.WriteByte((byte)'\n');
        }
        return _metrics = stream;
    }

    /// <summary>
    /// Reads a <c>metrics.jsonl</c> (a file, or a run directory). Lines that are not complete JSON
    /// objects (a line a crash cut short) are skipped.
    /// </summary>
    public static List<MetricsRecord> ReadMetrics(string path)
    {
        var file = Directory.Exists(path) ? System.IO.Path.Combine(path, MetricsFile) : path;
        var records = new List<MetricsRecord>();
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (reader.ReadLine() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                var values = new Dictionary<string, double>(StringComparer.Ordinal);
                if (root.TryGetProperty("values", out var v))
                    foreach (var p in v.EnumerateObject()) values[p.Name] = JsonNumbers.Read(p.Value) ?? double.NaN;
                records.Add(new MetricsRecord(
                    DateTimeOffset.Parse(root.GetProperty("time").GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
                    root.GetProperty("phase").GetString()!,
                    root.TryGetProperty("epoch", out var e) ? e.GetInt32() : null,
                    root.TryGetProperty("step", out var s) ? s.GetInt64() : null,
                    values,
                    root.TryGetProperty("checkpoint", out var c) ? c.GetString() : null));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                // A torn line: skip it, keep the rest.
            }
        }
        return records;
    }

    // ---- summary.json ---------------------------------------------------------------------------------------

    /// <summary>Writes <c>summary.json</c> atomically (replacing an earlier one): the run's final numbers, as the caller shapes them.</summary>
    /// <summary>
    /// Whether the run at <paramref name="runPath"/> ran to its end: it has a summary.json that does not say
    /// <c>"completed": false</c> (a run stopped early with <see cref="TrainOptions.StopAfterSteps"/> writes one too).
    /// </summary>
    public static bool IsCompleted(string runPath)
    {
        var summary = System.IO.Path.Combine(runPath, SummaryFile);
        if (!File.Exists(summary)) return false;
        try
        {
            return JsonNode.Parse(File.ReadAllText(summary))?["completed"]?.GetValue<bool>() ?? true;
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    public void WriteSummary(JsonObject summary)
    {
        ArgumentNullException.ThrowIfNull(summary);
        if (IsFollower) return;
        var json = summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
        AtomicFile.WriteAllText(SummaryPath, json + "\n");
        lock (_lock) _metrics?.Flush(flushToDisk: true);
    }

    private bool _disposed;

    /// <summary>Flushes <c>metrics.jsonl</c> to disk and closes it.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            if (_metrics is not null)
            {
                _metrics.Flush(flushToDisk: true);
                _metrics.Dispose();
                _metrics = null;
            }
        }
    }
}

/// <summary>
/// What a run was asked to change from its experiment's declaration, as <c>options.json</c> in its directory
/// (written when the run starts, kept when it resumes): the seed, quick-ness and every override that changes
/// what is trained. A teacher is taken only from a run that trained its experiment as declared
/// (<see cref="TeacherWeights.FindRun(string, string, bool)"/>), so a short trial run never feeds a student.
/// </summary>
public sealed record RunRequest(long Seed, bool Quick, int? Epochs, int? BatchSize, double? LearningRate, long? MaxBatchesPerEpoch,
    IReadOnlyDictionary<string, string>? Settings = null)
{
    public const string FileName = "options.json";

    public static RunRequest From(TrainOptions options) =>
        new(options.Seed, options.Quick, options.Epochs, options.BatchSize, options.LearningRate, options.MaxBatchesPerEpoch,
            options.Settings.Count == 0 ? null : new SortedDictionary<string, string>(options.Settings.ToDictionary(kv => kv.Key, kv => kv.Value), StringComparer.Ordinal));

    /// <summary>
    /// How the run departs from its experiment's declaration besides quick-ness ("--epochs 2 of the declared 40", ...),
    /// or null when it trains as declared. <paramref name="declaredEpochs"/>: the experiment's epochs, where known
    /// (an epoch override equal to them is no change).
    /// </summary>
    public string? Deviation(int? declaredEpochs)
    {
        var changes = new List<string>();
        if (Epochs is { } e && e != declaredEpochs)
            changes.Add(declaredEpochs is { } d ? $"--epochs {Num(e)} instead of the declared {Num(d)}" : $"--epochs {Num(e)}");
        if (BatchSize is { } b) changes.Add($"--batch-size {Num(b)}");
        if (LearningRate is { } lr) changes.Add($"--lr {lr.ToString("R", CultureInfo.InvariantCulture)}");
        if (MaxBatchesPerEpoch is { } m) changes.Add($"--max-batches {Num(m)}");
        foreach (var (key, value) in Settings ?? new Dictionary<string, string>()) changes.Add($"--set {key}={value}");
        return changes.Count == 0 ? null : string.Join(", ", changes);
    }

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);

    public void Write(string runPath)
    {
        var json = new JsonObject
        {
            ["seed"] = Seed,
            ["quick"] = Quick,
            ["epochs"] = Epochs,
            ["batch_size"] = BatchSize,
            ["lr"] = LearningRate,
            ["max_batches"] = MaxBatchesPerEpoch,
        };
        if (Settings is { Count: > 0 })
        {
            var set = new JsonObject();
            foreach (var (key, value) in Settings) set[key] = value;
            json["set"] = set;
        }
        AtomicFile.WriteAllText(System.IO.Path.Combine(runPath, FileName), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>The request a run recorded, or null when it has none (a run made before it was recorded, or by other code).</summary>
    public static RunRequest? Read(string runPath)
    {
        var path = System.IO.Path.Combine(runPath, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            var settings = o["set"]?.AsObject().ToDictionary(kv => kv.Key, kv => (string)kv.Value!, StringComparer.Ordinal);
            return new RunRequest((long)o["seed"]!, (bool)o["quick"]!, (int?)o["epochs"], (int?)o["batch_size"], (double?)o["lr"], (long?)o["max_batches"], settings);
        }
        catch (Exception e) when (e is IOException or JsonException or InvalidOperationException or FormatException or NullReferenceException)
        {
            return null;
        }
    }
}
