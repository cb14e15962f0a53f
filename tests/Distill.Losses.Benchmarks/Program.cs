using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Distill.Losses.Benchmarks;

// The loss benchmark (issue 3): each loss's forward+backward time against a plain-PyTorch
// implementation (tests/benchmarks/losses_bench.py) on the same libtorch and the same thread count,
// in one run. Per case, our rounds and PyTorch's alternate, so both see the same machine load; prints
// the medians and the ratio (ours / PyTorch's; target <= 1.0).
//   dotnet run -c Release --project tests/Distill.Losses.Benchmarks -- [--rounds N] [--warmup N] [--round-ms MS] [--threads N] [--only a,b] [--default-malloc]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var options = BenchOptions.Parse(args);
if (options.Threads is int n) torch.set_num_threads(n);
var threads = torch.get_num_threads();
// The same fixed glibc malloc policy on both sides (losses_bench.py sets it too): otherwise glibc's dynamic
// mmap/trim thresholds make a (B, K) temporary cost fresh pages or not depending on which cases ran
// before and on how each side's frees happen to be ordered, and the ratios measure that history.
var allocator = options.DefaultMalloc ? "glibc defaults" : Allocator.FixPolicy();
var cases = LossCases.All.Where(c => options.Only is null || options.Only.Contains(c.Name)).ToList();
if (cases.Count == 0) throw new ArgumentException($"no case matches --only (cases: {string.Join(", ", LossCases.All.Select(c => c.Name))})");

using var python = PythonSide.Start(threads, options.DefaultMalloc);
Console.WriteLine($"Distill loss benchmark — libtorch {torch.version}, {threads} intra-op threads, {Environment.ProcessorCount} cores"
    + (python is null ? "" : $"; PyTorch {python.Version}, {python.Threads} threads"));
Console.WriteLine($"glibc malloc: {allocator}" + (python is null ? "" : $" (PyTorch side: {python.Allocator})"));
Console.WriteLine($"per case: {options.Warmup} warm-up steps, then {options.Rounds} rounds of ~{options.RoundMs} ms on each side, alternating; a step is forward + backward");
if (python is null) Console.WriteLine("PyTorch side unavailable (needs Debian's python3-torch at /usr/bin/python3); printing our numbers only.");

Console.WriteLine();
Console.WriteLine($"{"case",-25} {"inputs",-52} {"Distill ms",11} {"PyTorch ms",11} {"ratio",7} {"(min)",7} {"same",5}");
var ratios = new List<double>();
var mismatches = new List<string>();
foreach (var c in cases)
{
    using var ours = new Runner(c, options.Warmup);
    var same = "-";
    var theirs = python?.Setup(c.Name, options.Warmup);
    if (theirs is { Error: null })
    {
        same = Runner.Same(ours.Value, theirs.Value);
        if (same == "NO") mismatches.Add($"{c.Name}: Distill {ours.Value:R}, PyTorch {theirs.Value:R}");
    }
    var ourIterations = Runner.Iterations(ours.StepSeconds, options.RoundMs);
    var theirIterations = theirs is { Error: null } ? Runner.Iterations(theirs.StepSeconds, options.RoundMs) : 0;
    var ourRounds = new List<double>();
    var theirRounds = new List<double>();
    for (var r = 0; r < options.Rounds; r++)
    {
        ourRounds.Add(ours.Round(ourIterations));
        if (theirIterations > 0) theirRounds.Add(python!.Round(theirIterations));
    }
    var line = $"{c.Name,-25} {c.Inputs,-52} {Runner.Median(ourRounds) * 1e3,11:F3}";
    if (theirRounds.Count > 0)
    {
        var ratio = Runner.Median(ourRounds) / Runner.Median(theirRounds);
        ratios.Add(ratio);
        line += $" {Runner.Median(theirRounds) * 1e3,11:F3} {ratio,6:F2}x {ourRounds.Min() / theirRounds.Min(),6:F2}x {same,5}{(ratio <= 1.0 ? "" : "  > target")}";
    }
    else if (theirs is not null)
    {
        line += $" {"n/a",11}  {theirs.Error}";
    }
    Console.WriteLine(line);
}
foreach (var m in mismatches) Console.WriteLine($"loss values differ — {m}");
if (ratios.Count > 0)
{
    Console.WriteLine();
    Console.WriteLine($"{ratios.Count(r => r <= 1.0)} of {ratios.Count} cases at or below the target 1.0x (median ratio); "
        + $"geometric mean {Math.Exp(ratios.Average(Math.Log)):F2}x, worst {ratios.Max():F2}x");
}

internal sealed record BenchOptions(int Rounds, int Warmup, double RoundMs, int? Threads, HashSet<string>? Only, bool DefaultMalloc)
{
    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions(9, 3, 200, null, null, false);
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--rounds" => o with { Rounds = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--warmup" => o with { Warmup = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--round-ms" => o with { RoundMs = double.Parse(Next(), CultureInfo.InvariantCulture) },
                "--threads" => o with { Threads = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--only" => o with { Only = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet() },
                "--default-malloc" => o with { DefaultMalloc = true },
                _ => throw new ArgumentException($"unknown option {args[i]} (expected --rounds, --warmup, --round-ms, --threads, --only a,b, --default-malloc)"),
            };
        }
        if (o.Rounds < 1 || o.Warmup < 0 || o.RoundMs <= 0) throw new ArgumentException("--rounds >= 1, --warmup >= 0 and --round-ms > 0");
        return o;
    }
}

/// <summary>
/// One case on our side: inputs built once (seeded), warm-up steps, one timed calibration step, then
/// timed rounds. losses_bench.py's Runner does the same.
/// </summary>
internal sealed class Runner : IDisposable
{
    private readonly CaseState _state;

    public Runner(LossCase c, int warmup)
    {
        torch.manual_seed(0);
        using (torch.NewDisposeScope()) // frees the setup's intermediates; the inputs are detached from it
            _state = c.Setup();
        Value = _state.Value();
        for (var i = 0; i < warmup; i++) _state.Step();
        var sw = Stopwatch.StartNew();
        _state.Step();
        StepSeconds = sw.Elapsed.TotalSeconds;
    }

    public double StepSeconds { get; }

    /// <summary>The loss on the fresh inputs (computed before the warm-up), or null.</summary>
    public double? Value { get; }

    /// <summary>"yes" when both losses agree to 1e-4 relative, "NO" when not, "-" when there is nothing to compare.</summary>
    public static string Same(double? ours, double? theirs) =>
        ours is double a && theirs is double b ? (Math.Abs(a - b) <= 1e-4 * Math.Max(1, Math.Abs(b)) ? "yes" : "NO") : "-";

    /// <summary>Seconds per step over one round of <paramref name="iterations"/> steps.</summary>
    public double Round(int iterations)
    {
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++) _state.Step();
        return sw.Elapsed.TotalSeconds / iterations;
    }

    /// <summary>Steps per round so that a round takes about <paramref name="roundMs"/>.</summary>
    public static int Iterations(double stepSeconds, double roundMs) => (int)Math.Clamp(roundMs / 1e3 / stepSeconds, 1, 10_000);

    public static double Median(List<double> values)
    {
        var s = values.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    public void Dispose() => _state.Dispose();
}

/// <summary>tests/benchmarks/losses_bench.py --serve under Debian's python3-torch, driven line by line.</summary>
internal sealed class PythonSide : IDisposable
{
    private readonly Process _process;

    private PythonSide(Process process, string version, int threads, string allocator)
    {
        _process = process;
        Version = version;
        Threads = threads;
        Allocator = allocator;
    }

    public string Version { get; }
    public int Threads { get; }
    public string Allocator { get; }

    public sealed record SetupReply(double StepSeconds, double? Value, string? Error);

    public static PythonSide? Start(int threads, bool defaultMalloc)
    {
        const string interpreter = "/usr/bin/python3";
        var script = Path.Combine(AppContext.BaseDirectory, "losses_bench.py");
        if (!File.Exists(interpreter) || !File.Exists(script)) return null;
        var psi = new ProcessStartInfo(interpreter) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false };
        foreach (var a in new[] { script, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--serve" }) psi.ArgumentList.Add(a);
        if (defaultMalloc) psi.ArgumentList.Add("--default-malloc");
        var p = Process.Start(psi)!;
        var hello = p.StandardOutput.ReadLine();
        if (hello is null)
        {
            p.WaitForExit();
            Console.WriteLine($"PyTorch side failed to start ({p.ExitCode})");
            p.Dispose();
            return null;
        }
        using var doc = JsonDocument.Parse(hello);
        var root = doc.RootElement;
        return new PythonSide(p, root.GetProperty("torch").GetString() ?? "?", root.GetProperty("threads").GetInt32(),
            root.TryGetProperty("allocator", out var policy) ? policy.GetString() ?? "?" : "?");
    }

    public SetupReply Setup(string name, int warmup)
    {
        using var reply = Ask($"setup {name} {warmup}");
        return reply.RootElement.TryGetProperty("error", out var e)
            ? new SetupReply(0, null, e.GetString())
            : new SetupReply(reply.RootElement.GetProperty("step_seconds").GetDouble(),
                reply.RootElement.GetProperty("value").ValueKind == JsonValueKind.Number ? reply.RootElement.GetProperty("value").GetDouble() : null, null);
    }

    public double Round(int iterations)
    {
        using var reply = Ask($"round {iterations}");
        return reply.RootElement.GetProperty("seconds_per_step").GetDouble();
    }

    private JsonDocument Ask(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        var line = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException($"PyTorch side exited during '{command}' ({(_process.HasExited ? _process.ExitCode : -1)})");
        return JsonDocument.Parse(line);
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.WriteLine("quit");
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
            // already gone
        }
        _process.WaitForExit();
        _process.Dispose();
    }
}

/// <summary>
/// Pins glibc's allocator policy: every block comes from the heap (no mmap, M_MMAP_MAX = 0) and the heap
/// is never trimmed, so after a case's warm-up steps its tensors reuse memory that is already mapped.
/// Left alone, glibc mmaps (and page-faults) every block above its dynamic threshold (128 KiB in a fresh
/// process, at most 32 MiB later) unless the heap happens to have room from an earlier case, and trims
/// the heap whenever a peak leaves enough free: the timings then depend on the cases run before and on
/// each side's order of frees, not on the losses. --default-malloc leaves both sides as they are.
/// </summary>
internal static partial class Allocator
{
    public static string FixPolicy()
    {
        if (!OperatingSystem.IsLinux()) return "not glibc (left as is)";
        try
        {
            // M_MMAP_MAX = -4 set to 0, M_TRIM_THRESHOLD = -1 set to -1 (never); mallopt returns 1 on success
            return mallopt(-4, 0) == 1 && mallopt(-1, -1) == 1
                ? "heap only (no mmap), never trimmed"
                : "mallopt refused (left as is)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "no mallopt (left as is)";
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
