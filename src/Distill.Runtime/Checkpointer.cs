using System.Globalization;
using System.Text.RegularExpressions;

namespace Distill.Runtime;

/// <summary>Whether a smaller or a larger metric value is better (a loss, or an accuracy).</summary>
public enum MetricMode
{
    Min,
    Max,
}

/// <summary>
/// The checkpoints of one run, in one directory: numbered pairs <c>ckpt-&lt;seq&gt;-e&lt;epoch&gt;-s&lt;step&gt;.{safetensors,json}</c>
/// and two small pointer files, <c>latest.json</c> and <c>best.json</c>, that name a pair.
/// <para>
/// A save writes the new pair under fresh names (each file flushed to disk and renamed into place),
/// then replaces the pointers atomically (temporary file, flush, rename, directory flush). A crash at
/// any moment therefore leaves <c>latest.json</c> naming a complete earlier pair: resuming never sees
/// a half-written checkpoint. Older pairs beyond <see cref="KeepLast"/> are deleted only after the
/// pointers moved, and never the pair <c>best.json</c> names. One process writes a directory at a time.
/// </para>
/// </summary>
public sealed partial class Checkpointer
{
    public const string LatestPointer = "latest.json";
    public const string BestPointer = "best.json";

    private readonly TimeProvider _clock;
    private int _nextSequence;

    /// <param name="directory">Where the checkpoints live (a run's <c>checkpoints/</c>); created if needed.</param>
    /// <param name="keepLast">Keep this many most recent pairs (plus the best); null keeps all.</param>
    /// <param name="mode">Whether a smaller (<see cref="MetricMode.Min"/>) or larger metric is better for <c>best</c>.</param>
    public Checkpointer(string directory, int? keepLast = null, MetricMode mode = MetricMode.Max, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (keepLast is < 1) throw new ArgumentOutOfRangeException(nameof(keepLast), keepLast, "keepLast must be at least 1 (null keeps every checkpoint)");
        Directory = Path.GetFullPath(directory);
        KeepLast = keepLast;
        Mode = mode;
        _clock = clock ?? TimeProvider.System;
        System.IO.Directory.CreateDirectory(Directory);
        AtomicFile.RemoveLeftovers(Directory);
        _nextSequence = Pairs().Select(p => p.sequence).DefaultIfEmpty(0).Max() + 1;
    }

    public string Directory { get; }

    public int? KeepLast { get; }

    public MetricMode Mode { get; }

    public string LatestPointerPath => Path.Combine(Directory, LatestPointer);

    public string BestPointerPath => Path.Combine(Directory, BestPointer);

    /// <summary>Test hook: runs after the pair is complete and before any pointer moves (throw to simulate a crash there).</summary>
    internal Action<CheckpointInfo>? AfterPairWritten { get; set; }

    /// <summary>Test hook: runs after the tensor file is written and before the JSON file (throw to simulate a crash there).</summary>
    internal Action<string>? AfterTensorsWritten { get; set; }

    /// <summary>The checkpoint <c>latest.json</c> names, or null when there is none yet.</summary>
    public CheckpointInfo? Latest => File.Exists(LatestPointerPath) ? Checkpoint.ReadInfo(LatestPointerPath) : null;

    /// <summary>The checkpoint <c>best.json</c> names, or null when no metric was saved yet.</summary>
    public CheckpointInfo? Best => File.Exists(BestPointerPath) ? Checkpoint.ReadInfo(BestPointerPath) : null;

    /// <summary>Whether <paramref name="value"/> beats <paramref name="best"/> under <see cref="Mode"/> (NaN never does).</summary>
    public bool IsBetter(double value, double? best) =>
        !double.IsNaN(value) && (best is not { } b || double.IsNaN(b) || (Mode == MetricMode.Max ? value > b : value < b));

    /// <summary>
    /// Saves the state as a new checkpoint and moves <c>latest</c> to it. With a <paramref name="metric"/>
    /// that beats <see cref="TrainingState.BestMetric"/>, the state's best becomes that value (saved with
    /// it) and <c>best</c> moves too. Returns the new checkpoint.
    /// </summary>
    public CheckpointInfo Save(TrainingState state, double? metric = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var previousBest = state.BestMetric;
        var isBest = metric is { } m && IsBetter(m, previousBest);
        if (isBest) state.BestMetric = metric;
        CheckpointInfo info;
        try
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"ckpt-{_nextSequence:D6}-e{state.Epoch}-s{state.GlobalStep}");
            _nextSequence++;
            info = Checkpoint.Write(Directory, name, state, metric, _clock.GetUtcNow(), AfterTensorsWritten);
            AfterPairWritten?.Invoke(info);
        }
        catch
        {
            state.BestMetric = previousBest;
            throw;
        }
        // best before latest: a crash between the two leaves latest on the previous pair, and restoring
        // it reconciles its best metric with best.json's (see Restore).
        if (isBest) Checkpoint.WritePointer(BestPointerPath, info);
        Checkpoint.WritePointer(LatestPointerPath, info);
        Prune();
        return info;
    }

    /// <summary>Restores the <c>latest</c> checkpoint; a <see cref="CheckpointException"/> when there is none.</summary>
    public CheckpointInfo RestoreLatest(TrainingState state, bool strict = true) =>
        Restore(File.Exists(LatestPointerPath)
            ? LatestPointerPath
            : throw new CheckpointException(LatestPointerPath, $"no checkpoint to resume from: '{LatestPointerPath}' does not exist"), state, strict);

    /// <summary>Restores the <c>latest</c> checkpoint when there is one; null (and no change) when there is none.</summary>
    public CheckpointInfo? TryRestoreLatest(TrainingState state, bool strict = true) =>
        File.Exists(LatestPointerPath) ? Restore(LatestPointerPath, state, strict) : null;

    /// <summary>Restores the <c>best</c> checkpoint; a <see cref="CheckpointException"/> when there is none.</summary>
    public CheckpointInfo RestoreBest(TrainingState state, bool strict = true) =>
        Restore(File.Exists(BestPointerPath)
            ? BestPointerPath
            : throw new CheckpointException(BestPointerPath, $"no best checkpoint: '{BestPointerPath}' does not exist (no metric was saved)"), state, strict);

    /// <summary>
    /// Restores any checkpoint (a pointer, a state file, or a directory: see <see cref="Checkpoint.ResolveStatePath"/>)
    /// and reconciles the best metric with this directory's <c>best.json</c>.
    /// </summary>
    public CheckpointInfo Restore(string path, TrainingState state, bool strict = true)
    {
        var info = Checkpoint.Restore(path, state, strict);
        if (File.Exists(BestPointerPath) && Checkpoint.ReadInfo(BestPointerPath).Metric is { } best && IsBetter(best, state.BestMetric))
            state.BestMetric = best;
        return info;
    }

    // ---- retention --------------------------------------------------------------------------------

    [GeneratedRegex(@"^ckpt-(\d+)-.*\.(json|safetensors)$", RegexOptions.CultureInvariant)]
    private static partial Regex PairName();

    private IEnumerable<(int sequence, string name)> Pairs() =>
        System.IO.Directory.EnumerateFiles(Directory)
            .Select(Path.GetFileName)
            .Select(f => (file: f!, match: PairName().Match(f!)))
            .Where(x => x.match.Success && int.TryParse(x.match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            .Select(x => (int.Parse(x.match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture), Path.GetFileNameWithoutExtension(x.file)))
            .Distinct();

    private void Prune()
    {
        if (KeepLast is not { } keep) return;
        var protectedNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pointer in new[] { LatestPointerPath, BestPointerPath })
            if (File.Exists(pointer)) protectedNames.Add(Checkpoint.ReadInfo(pointer).Name);
        var ordered = Pairs().OrderByDescending(p => p.sequence).Select(p => p.name).Distinct().ToList();
        foreach (var name in ordered.Skip(keep))
        {
            if (protectedNames.Contains(name)) continue;
            // The JSON first: a pair without its JSON is never mistaken for a checkpoint.
            AtomicFile.TryDelete(Path.Combine(Directory, name + ".json"));
            AtomicFile.TryDelete(Path.Combine(Directory, name + ".safetensors"));
        }
    }
}
