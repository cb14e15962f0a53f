using System.Globalization;
using System.Text;
using Spectre.Console;

namespace Distill.Runtime;

/// <summary>
/// Training progress on the console: epochs and batches, throughput (samples/s) and the time left for
/// the whole run. Epoch numbers are 1-based. Create one with <see cref="ProgressReporter.Create"/>.
/// </summary>
public interface IProgressReporter : IDisposable
{
    /// <param name="epoch">The 1-based epoch number.</param>
    /// <param name="epochs">The run's number of epochs.</param>
    /// <param name="batchesPerEpoch">The batches this epoch will run, or null when unknown.</param>
    void StartEpoch(int epoch, int epochs, long? batchesPerEpoch);

    /// <summary>Reports finished batches (call after each optimizer step; cheap).</summary>
    /// <param name="values">Running values to show ("loss" ...), when already on the host; never sync for this.</param>
    void Advance(long batches, long samples, IReadOnlyDictionary<string, double>? values = null);

    /// <summary>Ends the epoch with its summary (averages, validation metrics): one line.</summary>
    void EndEpoch(IReadOnlyDictionary<string, double>? summary = null);

    /// <summary>A line of text (a checkpoint saved, an evaluation result).</summary>
    void Message(string text);
}

/// <summary>Picks the console progress for the environment.</summary>
public static class ProgressReporter
{
    /// <summary>
    /// <see cref="ProgressMode.Auto"/>: a live Spectre.Console display on an interactive terminal, plain
    /// lines (at most one per <paramref name="interval"/>, plus one per epoch) when output is redirected
    /// or a CI variable is set. Never throws for lack of a terminal.
    /// </summary>
    public static IProgressReporter Create(ProgressMode mode = ProgressMode.Auto, TimeSpan? interval = null, TextWriter? plainOutput = null)
    {
        var every = interval ?? TimeSpan.FromSeconds(30);
        return mode switch
        {
            ProgressMode.None => new NullProgressReporter(),
            ProgressMode.Plain => new PlainProgressReporter(plainOutput ?? Console.Out, every),
            ProgressMode.Rich when CanShowLive(requireTerminal: false) => new SpectreProgressReporter(AnsiConsole.Console),
            ProgressMode.Auto when IsInteractiveConsole() => new SpectreProgressReporter(AnsiConsole.Console),
            _ => new PlainProgressReporter(plainOutput ?? Console.Out, every),
        };
    }

    /// <summary>An interactive terminal that can redraw in place, not redirected, not CI.</summary>
    public static bool IsInteractiveConsole()
    {
        if (Console.IsOutputRedirected) return false;
        foreach (var v in new[] { "CI", "TF_BUILD", "GITHUB_ACTIONS", "JENKINS_URL", "TEAMCITY_VERSION", "BUILDKITE" })
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v))) return false;
        return CanShowLive(requireTerminal: true);
    }

    private static bool CanShowLive(bool requireTerminal)
    {
        try
        {
            var caps = AnsiConsole.Profile.Capabilities;
            return caps.Interactive && caps.Ansi && (!requireTerminal || !Console.IsOutputRedirected);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or PlatformNotSupportedException)
        {
            return false;
        }
    }
}

/// <summary>Reports nothing.</summary>
public sealed class NullProgressReporter : IProgressReporter
{
    public void StartEpoch(int epoch, int epochs, long? batchesPerEpoch) { }
    public void Advance(long batches, long samples, IReadOnlyDictionary<string, double>? values = null) { }
    public void EndEpoch(IReadOnlyDictionary<string, double>? summary = null) { }
    public void Message(string text) { }
    public void Dispose() { }
}

/// <summary>The counting and the arithmetic both reporters share: throughput, ETA, the text of a line.</summary>
internal sealed class ProgressTracker
{
    private readonly TimeProvider _clock;
    private long _epochStart;
    private long _lastDuration; // ticks of the previous epoch, for an ETA when the batch count is unknown

    public ProgressTracker(TimeProvider clock) => _clock = clock;

    public int Epoch { get; private set; }
    public int Epochs { get; private set; }
    public long? BatchesPerEpoch { get; private set; }
    public long Batches { get; private set; }
    public long Samples { get; private set; }
    public IReadOnlyDictionary<string, double>? Values { get; private set; }

    public TimeSpan Elapsed => _clock.GetElapsedTime(_epochStart);

    public void Start(int epoch, int epochs, long? batchesPerEpoch)
    {
        Epoch = epoch;
        Epochs = epochs;
        BatchesPerEpoch = batchesPerEpoch is > 0 ? batchesPerEpoch : null;
        Batches = 0;
        Samples = 0;
        Values = null;
        _epochStart = _clock.GetTimestamp();
    }

    public void Advance(long batches, long samples, IReadOnlyDictionary<string, double>? values)
    {
        Batches += batches;
        Samples += samples;
        if (values is not null) Values = values;
    }

    public void End() => _lastDuration = Elapsed.Ticks;

    public double SamplesPerSecond => Elapsed.TotalSeconds > 0 ? Samples / Elapsed.TotalSeconds : double.NaN;

    /// <summary>The time left for the whole run at this epoch's pace, or null while it cannot be told.</summary>
    public TimeSpan? Eta
    {
        get
        {
            var remainingEpochs = Math.Max(0, Epochs - Epoch);
            var seconds = Elapsed.TotalSeconds;
            if (BatchesPerEpoch is { } total && Batches > 0 && seconds > 0)
            {
                var perBatch = seconds / Batches;
                var remaining = Math.Max(0, total - Batches) + remainingEpochs * total;
                return TimeSpan.FromSeconds(perBatch * remaining);
            }
            if (_lastDuration > 0)
                return TimeSpan.FromTicks(Math.Max(0, _lastDuration - Elapsed.Ticks) + remainingEpochs * _lastDuration);
            return null;
        }
    }

    public string ProgressLine()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"epoch {Epoch}/{Epochs}  batch {Batches}");
        if (BatchesPerEpoch is { } total)
            sb.Append(CultureInfo.InvariantCulture, $"/{total} ({100.0 * Batches / total:F0}%)");
        AppendRates(sb);
        AppendValues(sb, Values);
        return sb.ToString();
    }

    public string EpochLine(IReadOnlyDictionary<string, double>? summary)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"epoch {Epoch}/{Epochs} done: {Batches} batches, {Samples} samples in {Duration(Elapsed)}");
        AppendRates(sb);
        AppendValues(sb, summary ?? Values);
        return sb.ToString();
    }

    private void AppendRates(StringBuilder sb)
    {
        var rate = SamplesPerSecond;
        if (double.IsFinite(rate)) sb.Append(CultureInfo.InvariantCulture, $"  {rate:F1} samples/s");
        if (Eta is { } eta) sb.Append("  ETA ").Append(Duration(eta));
    }

    private static void AppendValues(StringBuilder sb, IReadOnlyDictionary<string, double>? values)
    {
        if (values is null) return;
        foreach (var (name, value) in values)
            sb.Append("  ").Append(name).Append(' ').Append(double.IsFinite(value) ? value.ToString("G4", CultureInfo.InvariantCulture) : JsonNumbers.Format(value));
    }

    /// <summary>h:mm:ss (hours beyond 24 keep counting).</summary>
    public static string Duration(TimeSpan t) =>
        string.Create(CultureInfo.InvariantCulture, $"{(long)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}");
}

/// <summary>
/// Progress as plain lines, for logs and CI: a line when at least the interval has passed since the
/// last one, and one line per finished epoch. No control characters, nothing redrawn.
/// </summary>
public sealed class PlainProgressReporter : IProgressReporter
{
    private readonly TextWriter _writer;
    private readonly TimeProvider _clock;
    private readonly ProgressTracker _tracker;
    private long _lastLine;

    public PlainProgressReporter(TextWriter writer, TimeSpan? interval = null, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(writer);
        _writer = writer;
        _clock = clock ?? TimeProvider.System;
        _tracker = new ProgressTracker(_clock);
        Interval = interval ?? TimeSpan.FromSeconds(30);
        if (Interval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(interval), interval, "the interval must not be negative");
        _lastLine = _clock.GetTimestamp();
    }

    public TimeSpan Interval { get; }

    public void StartEpoch(int epoch, int epochs, long? batchesPerEpoch)
    {
        _tracker.Start(epoch, epochs, batchesPerEpoch);
        _lastLine = _clock.GetTimestamp();
    }

    public void Advance(long batches, long samples, IReadOnlyDictionary<string, double>? values = null)
    {
        _tracker.Advance(batches, samples, values);
        if (_clock.GetElapsedTime(_lastLine) < Interval) return;
        WriteLine(_tracker.ProgressLine());
    }

    public void EndEpoch(IReadOnlyDictionary<string, double>? summary = null)
    {
        var line = _tracker.EpochLine(summary);
        _tracker.End();
        WriteLine(line);
    }

    public void Message(string text) => WriteLine(text);

    private void WriteLine(string line)
    {
        _writer.WriteLine(line);
        _writer.Flush();
        _lastLine = _clock.GetTimestamp();
    }

    public void Dispose() => _writer.Flush();
}

/// <summary>
/// A live Spectre.Console display: one bar per epoch with throughput, ETA and the running values;
/// a summary line per finished epoch stays above it. The display runs on its own thread, so the
/// training loop only sets numbers; dispose to stop it.
/// </summary>
public sealed class SpectreProgressReporter : IProgressReporter
{
    private readonly IAnsiConsole _console;
    private readonly ProgressTracker _tracker;
    private readonly TimeProvider _clock;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _ready = new();
    private readonly ManualResetEventSlim _stop = new();
    private ProgressContext? _context;
    private ProgressTask? _task;
    private Exception? _failure;
    private long _lastDescription;
    private bool _disposed;

    public SpectreProgressReporter(IAnsiConsole console, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(console);
        _console = console;
        _clock = clock ?? TimeProvider.System;
        _tracker = new ProgressTracker(_clock);
        _thread = new Thread(Run) { IsBackground = true, Name = "Distill progress" };
        _thread.Start();
        _ready.Wait();
    }

    private void Run()
    {
        try
        {
            _console.Progress()
                .AutoClear(true)
                .HideCompleted(true)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    _context = ctx;
                    _ready.Set();
                    _stop.Wait();
                    ctx.Refresh();
                });
        }
        catch (Exception e)
        {
            // No live display after all: the reporter degrades to plain lines rather than failing the run.
            _failure = e;
        }
        finally
        {
            _ready.Set();
        }
    }

    /// <summary>Whether the live display failed and lines are written plainly instead.</summary>
    public bool Degraded => _failure is not null || _context is null;

    public void StartEpoch(int epoch, int epochs, long? batchesPerEpoch)
    {
        _tracker.Start(epoch, epochs, batchesPerEpoch);
        if (Degraded) return;
        _task?.StopTask();
        _task = _context!.AddTask(Markup.Escape(_tracker.ProgressLine()), autoStart: true, maxValue: _tracker.BatchesPerEpoch ?? 1);
        _task.IsIndeterminate = _tracker.BatchesPerEpoch is null;
        _lastDescription = _clock.GetTimestamp();
    }

    public void Advance(long batches, long samples, IReadOnlyDictionary<string, double>? values = null)
    {
        _tracker.Advance(batches, samples, values);
        if (Degraded || _task is null) return;
        _task.Value = Math.Min(_tracker.Batches, _task.MaxValue);
        // Rebuild the text a few times a second, not per batch.
        if (_clock.GetElapsedTime(_lastDescription) >= TimeSpan.FromMilliseconds(250))
        {
            _task.Description = Markup.Escape(_tracker.ProgressLine());
            _lastDescription = _clock.GetTimestamp();
        }
    }

    public void EndEpoch(IReadOnlyDictionary<string, double>? summary = null)
    {
        var line = _tracker.EpochLine(summary);
        _tracker.End();
        if (_task is not null)
        {
            _task.Value = _task.MaxValue;
            _task.StopTask();
            _task = null;
        }
        Message(line);
    }

    public void Message(string text) => _console.MarkupLine(Markup.Escape(text));

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _task?.StopTask();
        _stop.Set();
        _thread.Join();
        _ready.Dispose();
        _stop.Dispose();
    }
}
