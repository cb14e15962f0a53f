using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

using Distill.Benchmarks.Shared;

namespace Distill.KdStep.Benchmarks;

/// <summary>One sample of the leak run: live native tensors, resident memory, and the managed heap (GC.GetTotalMemory).</summary>
internal sealed record LeakSample(long Step, long Live, long RssKib, long ManagedKib);

/// <summary>Everything one run measured (filled in by Program, rendered by <see cref="Report"/>).</summary>
internal sealed class KdResult
{
    public string Command { get; set; } = "";
    public string Libtorch { get; set; } = "";
    public string Device { get; set; } = "cpu";
    public string PythonInterpreter { get; set; } = PythonServer.Interpreter == "/usr/bin/python3" ? "Debian's python3-torch, same libtorch" : PythonServer.Interpreter;
    public string? PythonTorch { get; set; }
    public int? PythonThreads { get; set; }
    public string? PythonNote { get; set; }
    public int Threads { get; set; }
    public string OmpWaitPolicy { get; set; } = "";
    public int Cores { get; set; }
    public string LoadAtStart { get; set; } = "";
    public string LoadAfterTiming { get; set; } = "";
    public string LoadAtEnd { get; set; } = "";
    public int Steps { get; set; }
    public int Warmup { get; set; }
    public int Block { get; set; }
    public int Batch { get; set; }
    public int ImageSize { get; set; }
    public int Classes { get; set; }

    public List<double> DistillPreMade { get; } = [];
    public List<double> DistillLoader { get; } = [];
    public List<double> PyTorchPreMade { get; } = [];
    public List<double> DistillChannelsLast { get; } = [];
    public List<double> PyTorchChannelsLast { get; } = [];
    public double DistillChannelsLastCpuSeconds { get; set; }
    public double PyTorchChannelsLastCpuSeconds { get; set; }
    // Process CPU time (all threads) over the blocks of each kind: unlike wall time, barely moved by other load.
    public double DistillPreMadeCpuSeconds { get; set; }
    public double DistillLoaderCpuSeconds { get; set; }
    public double PyTorchCpuSeconds { get; set; }
    public double DistillLoss { get; set; } = double.NaN;
    public double? PyTorchLoss { get; set; }

    public List<double> PrepareAloneSeconds { get; set; } = [];
    public int LoaderPrefetch { get; set; }
    public double LoaderWaitSeconds { get; set; }
    public double LoaderPrepareSeconds { get; set; }

    public long DistillPeakKibTimed { get; set; }
    public long DistillPeakKibEnd { get; set; }
    public long? PyTorchPeakKib { get; set; }

    public Dictionary<string, List<double>> PartsDistill { get; } = [];
    public Dictionary<string, List<double>> PartsPyTorch { get; } = [];

    public List<LeakSample> LeakSamples { get; } = [];
    public double LeakSeconds { get; set; }

    public bool HasPyTorch => PyTorchPreMade.Count > 0;
    public double? RatioMedian => HasPyTorch ? Stats.Median(DistillPreMade) / Stats.Median(PyTorchPreMade) : null;
    public double? RatioMean => HasPyTorch ? DistillPreMade.Average() / PyTorchPreMade.Average() : null;
    public double? CpuRatio => HasPyTorch ? DistillPreMadeCpuSeconds / DistillPreMade.Count / (PyTorchCpuSeconds / PyTorchPreMade.Count) : null;
    public double? LoaderRatioMedian => HasPyTorch ? Stats.Median(DistillLoader) / Stats.Median(PyTorchPreMade) : null;

    public bool HasChannelsLast => DistillChannelsLast.Count > 0;

    /// <summary>Distill's channels_last step against PyTorch's NCHW step (target ≤ 0.85) and against PyTorch's channels_last step (target ≤ 1.0): median, and CPU.</summary>
    public (double Median, double Cpu)? ChannelsLastVsNchw => HasChannelsLast && HasPyTorch
        ? (Stats.Median(DistillChannelsLast) / Stats.Median(PyTorchPreMade), DistillChannelsLastCpuSeconds / DistillChannelsLast.Count / (PyTorchCpuSeconds / PyTorchPreMade.Count))
        : null;

    public (double Median, double Cpu)? ChannelsLastVsChannelsLast => HasChannelsLast && PyTorchChannelsLast.Count > 0
        ? (Stats.Median(DistillChannelsLast) / Stats.Median(PyTorchChannelsLast), DistillChannelsLastCpuSeconds / DistillChannelsLast.Count / (PyTorchChannelsLastCpuSeconds / PyTorchChannelsLast.Count))
        : null;

    /// <summary>The share of a loader-fed step spent waiting for its batch (the loader's cost on the critical path).</summary>
    public double LoaderWaitShare => LoaderWaitSeconds / DistillLoader.Sum();

    /// <summary>How much longer a loader-fed step is than a pre-made one (medians), as a share of the loader-fed step.</summary>
    public double LoaderStepShare => 1 - Stats.Median(DistillPreMade) / Stats.Median(DistillLoader);

    public long? LeakGrowth => LeakSamples.Count < 2 ? null : LeakSamples[^1].Live - LeakSamples[0].Live;

    /// <summary>Flat: every sample of the long run holds exactly the same number of live tensors.</summary>
    public bool? LeakFlat => LeakSamples.Count < 2 ? null : LeakSamples.All(s => s.Live == LeakSamples[0].Live);
}

internal static class Stats
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var m = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
    }
}

/// <summary>The result as a console table, Markdown or JSON.</summary>
internal static class Report
{
    private const double Target = 0.9;

    private static string Ms(double seconds) => (seconds * 1e3).ToString("F1", CultureInfo.InvariantCulture);
    private static string Mib(long kib) => kib < 0 ? "unknown" : (kib / 1024.0).ToString("F0", CultureInfo.InvariantCulture);
    private static string F(double? v, string format = "F3") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "n/a";

    private static IEnumerable<(string Name, List<double> Seconds, double CpuSeconds)> Rows(KdResult r)
    {
        yield return ("Distill generated step, pre-made batch", r.DistillPreMade, r.DistillPreMadeCpuSeconds);
        yield return ("Distill generated step, data loader", r.DistillLoader, r.DistillLoaderCpuSeconds);
        if (r.HasPyTorch) yield return ("PyTorch eager step, pre-made batch", r.PyTorchPreMade, r.PyTorchCpuSeconds);
        if (r.HasChannelsLast) yield return ("Distill step, channels_last", r.DistillChannelsLast, r.DistillChannelsLastCpuSeconds);
        if (r.PyTorchChannelsLast.Count > 0) yield return ("PyTorch eager step, channels_last", r.PyTorchChannelsLast, r.PyTorchChannelsLastCpuSeconds);
    }

    private static IEnumerable<(string Name, double Median, double Cpu, string Target)> ChannelsLastRatios(KdResult r)
    {
        if (r.ChannelsLastVsNchw is { } a) yield return ("ratio Distill channels_last / PyTorch NCHW", a.Median, a.Cpu, "target <= 0.85");
        if (r.ChannelsLastVsChannelsLast is { } b) yield return ("ratio Distill / PyTorch, both channels_last", b.Median, b.Cpu, "target <= 1.00");
    }

    private static string Setup(KdResult r) =>
        $"ResNet56 teacher (eval, no_grad) -> ResNet20 student (train), batch {r.Batch}, 3x{r.ImageSize}x{r.ImageSize}, {r.Classes} classes, " +
        "0.1 CE + 0.9 Hinton KD (T=4, T²·KL batchmean), SGD(lr 0.05, momentum 0.9, wd 5e-4)";

    private static string Sides(KdResult r) =>
        $"Distill: the generated ComputeLoss + generated SGD, the generated loop's step (zero_grad, loss, backward, step, divergence guard, loss averages); " +
        $"PyTorch {r.PythonTorch ?? "(not run)"} eager in a child process ({r.PythonInterpreter}), pre-made randn batch. " +
        $"Data loader (Distill only): SyntheticImages rendered on demand, random crop (pad 4) + flip + normalise, background thread, prefetch {r.LoaderPrefetch}.";

    private static IEnumerable<string> LoaderLines(KdResult r)
    {
        var steps = Math.Max(1, r.DistillLoader.Count);
        yield return $"preparing one batch alone (render + collate + crop/flip/normalise, nothing else running): median {Ms(Stats.Median(r.PrepareAloneSeconds))} ms";
        yield return $"loader-fed blocks: each step waited {Ms(r.LoaderWaitSeconds / steps)} ms for its batch ({r.LoaderWaitShare * 100:F1}% of the step); " +
                     $"the loader thread worked {Ms(r.LoaderPrepareSeconds / steps)} ms per step alongside (counting batches prepared ahead and dropped at block ends)";
        yield return $"loader-fed vs pre-made step (medians): {(Stats.Median(r.DistillLoader) - Stats.Median(r.DistillPreMade)) * 1e3:+0.0;-0.0} ms, {r.LoaderStepShare * 100:F1}% of the loader-fed step";
    }

    /// <summary>(phase, Distill median s, PyTorch median s or NaN) for each timed phase.</summary>
    private static IEnumerable<(string Name, double Distill, double PyTorch)> PartRows(KdResult r) =>
        r.PartsDistill.Select(kv => (kv.Key, Stats.Median(kv.Value),
            r.PartsPyTorch.TryGetValue(kv.Key, out var p) ? Stats.Median(p) : double.NaN));

    private static string MemoryLine(KdResult r) =>
        $"peak resident memory (VmHWM): Distill {Mib(r.DistillPeakKibTimed)} MiB after the timed blocks ({Mib(r.DistillPeakKibEnd)} MiB at the end, after the leak run), " +
        $"PyTorch {(r.PyTorchPeakKib is { } p ? Mib(p) : "n/a")} MiB" +
        (r.PyTorchPeakKib is { } q && q > 0 && r.DistillPeakKibTimed > 0 ? $"; ratio {(double)r.DistillPeakKibTimed / q:F2} (target <= 1.0)" : "");

    private static string LeakLine(KdResult r)
    {
        if (r.LeakSamples.Count < 2) return "live native tensors: leak run skipped (--leak-steps 0)";
        var s = r.LeakSamples;
        var steps = s[^1].Step;
        var perThousand = (double)r.LeakGrowth!.Value / steps * 1000;
        return $"live native tensors over {steps} loader-fed steps ({s.Count} samples, {r.LeakSeconds / steps * 1e3:F0} ms/step): " +
               $"first {s[0].Live}, last {s[^1].Live}, min {s.Min(x => x.Live)}, max {s.Max(x => x.Live)} -> " +
               (r.LeakFlat == true ? "flat" : $"NOT flat ({perThousand:+0.0;-0.0} per 1000 steps)") +
               $"; RSS first {Mib(s[0].RssKib)}, last {Mib(s[^1].RssKib)}, max {Mib(s.Max(x => x.RssKib))} MiB" +
               $"; managed heap first {s[0].ManagedKib / 1024.0:F1}, last {s[^1].ManagedKib / 1024.0:F1}, max {s.Max(x => x.ManagedKib) / 1024.0:F1} MiB";
    }

    public static string Text(KdResult r)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"KD training step on {r.Device}: " + Setup(r));
        sb.AppendLine($"threads {r.Threads} (both sides{(r.PythonThreads is { } pt && pt != r.Threads ? $"; PyTorch reported {pt}" : "")}), OpenMP wait policy {r.OmpWaitPolicy} (both sides), {r.Cores} cores, libtorch {r.Libtorch}; " +
                      $"{r.Steps} measured steps per row in {r.Block}-step blocks taking turns, after {r.Warmup} warm-up steps");
        sb.AppendLine($"load average: {r.LoadAtStart} at start, {r.LoadAfterTiming} after the timed blocks, {r.LoadAtEnd} at the end");
        sb.AppendLine();
        sb.AppendLine($"{"",-42}{"median ms",10}{"mean ms",10}{"min ms",10}{"CPU ms",10}{"steps",7}");
        foreach (var (name, seconds, cpu) in Rows(r))
            sb.AppendLine($"{name,-42}{Ms(Stats.Median(seconds)),10}{Ms(seconds.Average()),10}{Ms(seconds.Min()),10}{Ms(cpu / seconds.Count),10}{seconds.Count,7}");
        if (r.HasPyTorch)
        {
            sb.AppendLine($"{"ratio Distill / PyTorch, pre-made",-42}{F(r.RatioMedian),10}{F(r.RatioMean),10}{F(r.DistillPreMade.Min() / r.PyTorchPreMade.Min()),10}{F(r.CpuRatio),10}   target <= {Target:F2}");
            sb.AppendLine($"{"ratio Distill with loader / PyTorch",-42}{F(r.LoaderRatioMedian),10}{F(r.DistillLoader.Average() / r.PyTorchPreMade.Average()),10}{F(r.DistillLoader.Min() / r.PyTorchPreMade.Min()),10}{F(r.DistillLoaderCpuSeconds / r.DistillLoader.Count / (r.PyTorchCpuSeconds / r.PyTorchPreMade.Count)),10}");
        }
        else sb.AppendLine($"PyTorch side not measured: {r.PythonNote}");
        foreach (var (name, median, cpu, target) in ChannelsLastRatios(r))
            sb.AppendLine($"{name,-42}{F(median),10}{"",10}{"",10}{F(cpu),10}   {target}");
        sb.AppendLine("(CPU ms: the process's CPU time per step, all threads; less disturbed by other load than wall time)");
        if (r.PartsDistill.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine($"{"phases of a pre-made step (medians)",-42}{"Distill ms",11}{"PyTorch ms",11}{"ratio",8}");
            foreach (var (name, d, p) in PartRows(r))
                sb.AppendLine($"{"  " + name,-42}{d * 1e3,11:F2}{(double.IsNaN(p) ? "n/a" : (p * 1e3).ToString("F2", CultureInfo.InvariantCulture)),11}{(double.IsNaN(p) || p <= 0 ? "" : (d / p).ToString("F2", CultureInfo.InvariantCulture)),8}");
        }
        sb.AppendLine();
        foreach (var line in LoaderLines(r)) sb.AppendLine("data loader: " + line);
        sb.AppendLine(MemoryLine(r));
        sb.AppendLine(LeakLine(r));
        sb.AppendLine($"loss at the last timed step: Distill {r.DistillLoss:F4}" + (r.PyTorchLoss is { } l ? $", PyTorch {l:F4} (different random weights and batches: same magnitude expected, not the same value)" : ""));
        sb.AppendLine(Sides(r));
        return sb.ToString();
    }

    public static string Markdown(KdResult r)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# KD training-step benchmark");
        sb.AppendLine();
        sb.AppendLine($"`{r.Command}`");
        sb.AppendLine();
        sb.AppendLine($"On {r.Device}: " + Setup(r) + ".");
        sb.AppendLine($"Threads {r.Threads} and OpenMP wait policy {r.OmpWaitPolicy} on both sides, {r.Cores} cores, libtorch {r.Libtorch}; {r.Steps} measured steps per row in {r.Block}-step blocks taking turns after {r.Warmup} warm-up steps.");
        sb.AppendLine($"Load average: {r.LoadAtStart} at start, {r.LoadAfterTiming} after the timed blocks, {r.LoadAtEnd} at the end.");
        sb.AppendLine();
        sb.AppendLine("| | median ms | mean ms | min ms | CPU ms | steps |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (name, seconds, cpu) in Rows(r))
            sb.AppendLine($"| {name} | {Ms(Stats.Median(seconds))} | {Ms(seconds.Average())} | {Ms(seconds.Min())} | {Ms(cpu / seconds.Count)} | {seconds.Count} |");
        if (r.HasPyTorch)
        {
            sb.AppendLine($"| **ratio Distill / PyTorch, pre-made** (target ≤ {Target:F2}) | **{F(r.RatioMedian)}** | {F(r.RatioMean)} | {F(r.DistillPreMade.Min() / r.PyTorchPreMade.Min())} | {F(r.CpuRatio)} | |");
            sb.AppendLine($"| ratio Distill with loader / PyTorch | {F(r.LoaderRatioMedian)} | {F(r.DistillLoader.Average() / r.PyTorchPreMade.Average())} | {F(r.DistillLoader.Min() / r.PyTorchPreMade.Min())} | {F(r.DistillLoaderCpuSeconds / r.DistillLoader.Count / (r.PyTorchCpuSeconds / r.PyTorchPreMade.Count))} | |");
        }
        else sb.AppendLine($"\nPyTorch side not measured: {r.PythonNote}");
        foreach (var (name, median, cpu, target) in ChannelsLastRatios(r))
            sb.AppendLine($"| **{name}** ({target.Replace("<=", "≤", StringComparison.Ordinal)}) | **{F(median)}** | | | {F(cpu)} | |");
        sb.AppendLine();
        sb.AppendLine("CPU ms: the process's CPU time per step (all threads), less disturbed by other load than wall time.");
        if (r.PartsDistill.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("| phase of a pre-made step (medians) | Distill ms | PyTorch ms | ratio |");
            sb.AppendLine("| --- | ---: | ---: | ---: |");
            foreach (var (name, d, p) in PartRows(r))
                sb.AppendLine($"| {name} | {d * 1e3:F2} | {(double.IsNaN(p) ? "n/a" : (p * 1e3).ToString("F2", CultureInfo.InvariantCulture))} | {(double.IsNaN(p) || p <= 0 ? "" : (d / p).ToString("F2", CultureInfo.InvariantCulture))} |");
        }
        sb.AppendLine();
        foreach (var line in LoaderLines(r)) sb.AppendLine($"* Data loader: {line}.");
        sb.AppendLine($"* {MemoryLine(r)}.");
        sb.AppendLine($"* {LeakLine(r)}.");
        sb.AppendLine($"* Loss at the last timed step: Distill {r.DistillLoss:F4}" + (r.PyTorchLoss is { } l ? $", PyTorch {l:F4}." : "."));
        sb.AppendLine();
        sb.AppendLine(Sides(r));
        return sb.ToString();
    }

    public static string Json(KdResult r)
    {
        static JsonObject Row(List<double> s, double cpu) => new()
        {
            ["cpu_ms_per_step"] = s.Count == 0 ? null : Math.Round(cpu / s.Count * 1e3, 3),
            ["median_ms"] = s.Count == 0 ? null : Math.Round(Stats.Median(s) * 1e3, 3),
            ["mean_ms"] = s.Count == 0 ? null : Math.Round(s.Average() * 1e3, 3),
            ["min_ms"] = s.Count == 0 ? null : Math.Round(s.Min() * 1e3, 3),
            ["steps"] = s.Count,
            ["step_ms"] = new JsonArray(s.Select(x => (JsonNode?)JsonValue.Create(Math.Round(x * 1e3, 3))).ToArray()),
        };
        var root = new JsonObject
        {
            ["benchmark"] = "kd-step (issue 5)",
            ["command"] = r.Command,
            ["setup"] = Setup(r),
            ["sides"] = Sides(r),
            ["libtorch"] = r.Libtorch,
            ["device"] = r.Device,
            ["pytorch"] = r.PythonTorch,
            ["pytorch_note"] = r.PythonNote,
            ["threads"] = r.Threads,
            ["omp_wait_policy"] = r.OmpWaitPolicy,
            ["cores"] = r.Cores,
            ["load_average"] = new JsonObject { ["start"] = r.LoadAtStart, ["after_timing"] = r.LoadAfterTiming, ["end"] = r.LoadAtEnd },
            ["steps_per_row"] = r.Steps,
            ["warmup"] = r.Warmup,
            ["block"] = r.Block,
            ["distill_premade"] = Row(r.DistillPreMade, r.DistillPreMadeCpuSeconds),
            ["distill_loader"] = Row(r.DistillLoader, r.DistillLoaderCpuSeconds),
            ["pytorch_premade"] = r.HasPyTorch ? Row(r.PyTorchPreMade, r.PyTorchCpuSeconds) : null,
            ["distill_channels_last"] = r.HasChannelsLast ? Row(r.DistillChannelsLast, r.DistillChannelsLastCpuSeconds) : null,
            ["pytorch_channels_last"] = r.PyTorchChannelsLast.Count > 0 ? Row(r.PyTorchChannelsLast, r.PyTorchChannelsLastCpuSeconds) : null,
            ["ratio_channels_last"] = new JsonObject
            {
                ["vs_pytorch_nchw_median"] = r.ChannelsLastVsNchw?.Median,
                ["vs_pytorch_nchw_cpu"] = r.ChannelsLastVsNchw?.Cpu,
                ["vs_pytorch_channels_last_median"] = r.ChannelsLastVsChannelsLast?.Median,
                ["vs_pytorch_channels_last_cpu"] = r.ChannelsLastVsChannelsLast?.Cpu,
            },
            ["ratio"] = new JsonObject
            {
                ["premade_median"] = r.RatioMedian,
                ["premade_mean"] = r.RatioMean,
                ["premade_cpu"] = r.CpuRatio,
                ["loader_vs_pytorch_median"] = r.LoaderRatioMedian,
                ["target"] = Target,
            },
            ["loader"] = new JsonObject
            {
                ["prefetch"] = r.LoaderPrefetch,
                ["prepare_alone_median_ms"] = Stats.Median(r.PrepareAloneSeconds) * 1e3,
                ["wait_ms_per_step"] = r.LoaderWaitSeconds / Math.Max(1, r.DistillLoader.Count) * 1e3,
                ["wait_share"] = r.LoaderWaitShare,
                ["prepare_ms_per_step"] = r.LoaderPrepareSeconds / Math.Max(1, r.DistillLoader.Count) * 1e3,
                ["step_share_vs_premade"] = r.LoaderStepShare,
            },
            ["phases_median_ms"] = new JsonObject(PartRows(r).Select(x => KeyValuePair.Create(x.Name, (JsonNode?)new JsonObject
            {
                ["distill"] = x.Distill * 1e3,
                ["pytorch"] = double.IsNaN(x.PyTorch) ? null : x.PyTorch * 1e3,
            }))),
            ["memory"] = new JsonObject
            {
                ["distill_peak_kib_after_timing"] = r.DistillPeakKibTimed,
                ["distill_peak_kib_end"] = r.DistillPeakKibEnd,
                ["pytorch_peak_kib"] = r.PyTorchPeakKib,
            },
            ["live_tensors"] = new JsonObject
            {
                ["steps"] = r.LeakSamples.Count == 0 ? 0 : r.LeakSamples[^1].Step,
                ["seconds"] = r.LeakSeconds,
                ["flat"] = r.LeakFlat,
                ["growth"] = r.LeakGrowth,
                ["samples"] = new JsonArray(r.LeakSamples.Select(s => (JsonNode?)new JsonObject { ["step"] = s.Step, ["live"] = s.Live, ["rss_kib"] = s.RssKib, ["managed_kib"] = s.ManagedKib }).ToArray()),
            },
            ["loss"] = new JsonObject { ["distill"] = double.IsFinite(r.DistillLoss) ? r.DistillLoss : null, ["pytorch"] = r.PyTorchLoss },
        };
        // Relaxed escaping keeps '->', '+', '²' and quotes readable; the file is data for people and scripts, not HTML.
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n";
    }
}
