using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Distill.Torch;
using Distill.Torch.Benchmarks;

// The tensor-engine benchmark (issue 2): our binding against PyTorch eager on the same libtorch and the
// same thread count, side by side in one run. Prints the ratios (ours / PyTorch's; < 1 is faster).
//   dotnet run -c Release --project tests/Distill.Torch.Benchmarks -- [--op-iters N] [--steps N] [--warmup N] [--only op|step]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var options = BenchOptions.Parse(args);
var threads = torch.get_num_threads();
Console.WriteLine($"Distill tensor-engine benchmark — libtorch {torch.version}, {threads} intra-op threads, {Environment.ProcessorCount} cores");

var python = PythonSide.Run(options, threads);
if (python is null) Console.WriteLine("PyTorch side unavailable (install Debian's python3-torch: DISTILL_DEV_TOOLS=1 bash scripts/install-deps.sh); printing our numbers only.");

if (options.Only is "op" or "all")
{
    var disposed = OpOverhead.Disposed(options.OpIterations);
    var scoped = OpOverhead.Scoped(options.OpIterations);
    Console.WriteLine();
    Console.WriteLine("(a) per-op overhead, x + y on 4 floats (min / median of 50 rounds)");
    Console.WriteLine($"    Distill, explicit Dispose : {disposed.Min() * 1e6,7:F3} / {OpOverhead.Median(disposed) * 1e6,7:F3} µs/op");
    Console.WriteLine($"    Distill, dispose scope    : {scoped.Min() * 1e6,7:F3} / {OpOverhead.Median(scoped) * 1e6,7:F3} µs/op");
    if (python?.OpSeconds is { Count: > 0 } p)
    {
        Console.WriteLine($"    PyTorch eager (Python)    : {p.Min() * 1e6,7:F3} / {OpOverhead.Median(p) * 1e6,7:F3} µs/op");
        Console.WriteLine($"    ratio (Distill / PyTorch) : explicit {disposed.Min() / p.Min():F3} (min) {OpOverhead.Median(disposed) / OpOverhead.Median(p):F3} (median); " +
                          $"scope {scoped.Min() / p.Min():F3} (min) {OpOverhead.Median(scoped) / OpOverhead.Median(p):F3} (median)   target <= 0.8");
    }
}

if (options.Only is "step" or "all")
{
    // PyTorch's steps are measured before and after ours, so a change in machine load shows up as a
    // difference between its two runs rather than silently skewing the ratio.
    var ours = TrainStep.Run(options.Steps, options.Warmup, options.Batch);
    var pythonAfter = python is null ? null : PythonSide.Run(options with { Only = "step" }, threads);
    Console.WriteLine();
    Console.WriteLine($"(b) training step, CIFAR ResNet-20, batch {options.Batch}, 32x32, SGD(momentum 0.9, wd 5e-4), cross entropy");
    Console.WriteLine($"    Distill          : median {OpOverhead.Median(ours.Seconds) * 1e3,8:F1} ms/step (min {ours.Seconds.Min() * 1e3:F1}), final loss {ours.FinalLoss:F4}, live tensors {ours.LiveBefore} -> {ours.LiveAfter}");
    var pythonSteps = new List<double>();
    foreach (var (label, side) in new[] { ("PyTorch (before)", python), ("PyTorch (after) ", pythonAfter) })
    {
        if (side?.StepSeconds is not { Count: > 0 } ps) continue;
        pythonSteps.AddRange(ps);
        Console.WriteLine($"    {label} : median {OpOverhead.Median(ps) * 1e3,8:F1} ms/step (min {ps.Min() * 1e3:F1}), final loss {side.FinalLoss:F4}");
    }
    if (pythonSteps.Count > 0)
        Console.WriteLine($"    ratio (Distill / PyTorch, both PyTorch runs pooled) : {OpOverhead.Median(ours.Seconds) / OpOverhead.Median(pythonSteps):F3} (median), {ours.Seconds.Min() / pythonSteps.Min():F3} (min)   target <= 1.0");
}

internal sealed record BenchOptions(int OpIterations, int Steps, int Warmup, int Batch, string Only)
{
    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions(200_000, 30, 5, 64, "all");
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--op-iters" => o with { OpIterations = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--steps" => o with { Steps = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--warmup" => o with { Warmup = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--batch" => o with { Batch = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--only" => o with { Only = Next() },
                _ => throw new ArgumentException($"unknown option {args[i]} (expected --op-iters, --steps, --warmup, --batch, --only op|step|all)"),
            };
        }
        return o;
    }
}

/// <summary>Runs tests/benchmarks/torch_engine_bench.py with Debian's python3-torch and reads its JSON.</summary>
internal sealed record PythonSide(List<double>? OpSeconds, List<double>? StepSeconds, double FinalLoss)
{
    public static PythonSide? Run(BenchOptions o, int threads)
    {
        const string interpreter = "/usr/bin/python3";
        var script = Path.Combine(AppContext.BaseDirectory, "torch_engine_bench.py");
        if (!File.Exists(interpreter) || !File.Exists(script)) return null;
        var psi = new ProcessStartInfo(interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { script, "--threads", threads.ToString(), "--op-iters", o.OpIterations.ToString(), "--steps", o.Steps.ToString(), "--warmup", o.Warmup.ToString(), "--batch", o.Batch.ToString(), "--only", o.Only })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEnd();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            Console.WriteLine($"PyTorch side failed ({p.ExitCode}): {stderr.Trim()}");
            return null;
        }
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        List<double>? op = root.TryGetProperty("op_seconds", out var ope) ? ope.EnumerateArray().Select(e => e.GetDouble()).ToList() : null;
        List<double>? steps = root.TryGetProperty("step_seconds", out var se) ? se.EnumerateArray().Select(e => e.GetDouble()).ToList() : null;
        var loss = root.TryGetProperty("final_loss", out var le) ? le.GetDouble() : double.NaN;
        return new PythonSide(op, steps, loss);
    }
}
