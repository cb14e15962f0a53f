using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Distill.Face.Benchmarks;
using Distill.Torch;

// The face-recognition distillation benchmark (issue 6): the margin head over many identities and the full GKD
// training step, against PyTorch eager on the same libtorch (tests/benchmarks/face_bench.py under Debian's
// python3-torch) with the same thread count, side by side in one run: per case our timed blocks and PyTorch's
// alternate. Ratios are Distill / PyTorch (median ms per iteration; < 1 is faster; target <= 1.0).
//   dotnet run -c Release --project tests/Distill.Face.Benchmarks -- [--steps 20] [--warmup 3] [--threads N]
//       [--classes 10000,50000] [--batch 128] [--step-batch 64] [--dim 512] [--head-iters 40] [--out DIR]
//       [--no-python] [--default-malloc] [--omp-wait-policy passive|active|inherit] [--only head|step] [--device cpu|cuda|cuda:N]
// With --device cuda both sides run on the GPU and each timed iteration ends with a device synchronize (DISTILL_PYTHON
// names the PyTorch side's interpreter, DISTILL_TORCH_NATIVE a CUDA build of the shim).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var o = Options.Parse(args);
Machine.SetOmpWaitPolicy(o.OmpWaitPolicy); // before the first call into libtorch, which loads libgomp
torch.set_num_threads(o.Threads);
var device = Device.Parse(o.Device);
if (device.Type == DeviceType.CUDA && !torch.cuda.is_available())
{
    Console.Error.WriteLine($"--device {o.Device}: libtorch sees no GPU (the shim loaded is {torch.shim_path}; DISTILL_TORCH_NATIVE names a CUDA build)");
    return 2;
}
Timing.Device = device;
var threads = torch.get_num_threads();
var allocator = o.DefaultMalloc ? "glibc defaults" : Allocator.FixPolicy();
var loadBefore = Machine.LoadAverage();
Console.WriteLine($"Distill face benchmark on {device} — libtorch {torch.version}, {threads} intra-op threads, {Environment.ProcessorCount} cores, load average {loadBefore}");
Console.WriteLine($"OpenMP wait policy (both sides): {Machine.OmpWaitPolicy()}");
Console.WriteLine($"glibc malloc: {allocator}; head: B {o.Batch}, D {o.Dim}, {o.HeadIterations} iterations; step: batch {o.StepBatch}, {o.Steps} steps; {o.Warmup} warm-up iterations each; blocks alternate between the sides");
if (o.NoPython) Console.WriteLine("--no-python: our numbers only");

var rows = new List<Row>();
string? pythonVersion = null;
string? pythonAllocator = null;
string? pythonOmp = null;
var mismatches = new List<string>();

// The steps first: our process's peak RSS is then the step's (the head cases come after); each PyTorch part runs in
// a fresh worker, whose peak is that part's alone.
if (o.Only is null or "step")
{
    foreach (var classes in o.Classes)
    {
        if (!StepSubject.ByClasses.TryGetValue(classes, out var make))
        {
            Console.WriteLine($"step: no GKD experiment for K = {classes} in this project (have: {string.Join(", ", StepSubject.ByClasses.Keys)}); head only");
            continue;
        }
        var subject = make();
        using var step = new StepCase(subject, o.StepBatch, o.Batches, device);
        var ourCheck = step.Check();
        using var python = o.NoPython ? null : PythonWorker.Start(threads, o.DefaultMalloc, o.Device);
        pythonVersion ??= python?.Version;
        pythonAllocator ??= python?.Allocator;
        pythonOmp ??= python?.OmpWaitPolicy;
        Dictionary<string, double>? theirCheck = null;
        if (python is not null)
        {
            var t = subject.Teacher;
            var s = subject.Student;
            var reply = python.Ask("setup_step", ("classes", classes), ("batch", o.StepBatch), ("batches", o.Batches), ("n", subject.GroupSize),
                ("depth", t.Depth), ("width", t.Width), ("teacher_embedding", t.EmbeddingSize), ("scale", s.Scale), ("student_embedding", s.EmbeddingSize),
                ("size", s.Size));
            theirCheck = Checks(reply["check"]!);
        }
        var same = Same(ourCheck, theirCheck, 1e-3, $"step K={classes}", mismatches);
        var (ours, theirs) = Timing.Interleaved(step, python, "step", o.Warmup, o.Steps, Math.Max(1, o.Steps / 4));
        var ourRss = Machine.PeakRssKiB();
        var theirRss = python?.Quit();
        var title = $"GKD step: {subject.Experiment} (IResNet-{subject.Teacher.Depth} w{subject.Teacher.Width} -> MobileFaceNet x{subject.Student.Scale}, {subject.Student.Size}x{subject.Student.Size}, n {subject.GroupSize})";
        rows.Add(new Row("step", "step", title, classes, o.StepBatch, ours, theirs, same, ourCheck, theirCheck, ourRss, theirRss));
        Print(rows[^1]);
    }
}

if (o.Only is null or "head")
{
    using var python = o.NoPython ? null : PythonWorker.Start(threads, o.DefaultMalloc, o.Device);
    pythonVersion ??= python?.Version;
    pythonAllocator ??= python?.Allocator;
    pythonOmp ??= python?.OmpWaitPolicy;
    foreach (var classes in o.Classes)
    {
        using var head = new HeadCase(classes, o.Batch, o.Dim, device);
        var ourCheck = head.Check();
        var theirCheck = python is null ? null : Checks(python.Ask("setup_head", ("classes", classes), ("batch", o.Batch), ("dim", o.Dim))["check"]!);
        var same = Same(ourCheck, theirCheck, 1e-4, $"head K={classes}", mismatches);
        for (var c = 0; c < HeadCase.Names.Length; c++)
        {
            var name = HeadCase.Names[c];
            var (ours, theirs) = Timing.Interleaved(head.Case(name), python, name, o.Warmup, o.HeadIterations, Math.Max(1, o.HeadIterations / 4));
            rows.Add(new Row("head", name, $"head {HeadCase.Titles[c]}", classes, o.Batch, ours, theirs, same, c == 0 ? ourCheck : null, c == 0 ? theirCheck : null, null, null));
            Print(rows[^1]);
        }
    }
    python?.Quit();
}

var loadAfter = Machine.LoadAverage();
Console.WriteLine();
var table = Table(rows);
Console.Write(table);
foreach (var m in mismatches) Console.WriteLine($"values differ — {m}");
Console.WriteLine($"load average: before {loadBefore}; after {loadAfter}");
if (pythonVersion is not null)
    Console.WriteLine($"PyTorch {pythonVersion}: malloc {pythonAllocator}, OMP_WAIT_POLICY {pythonOmp}");

if (o.Out is { } outDir)
{
    Directory.CreateDirectory(outDir);
    var json = new JsonObject
    {
        ["benchmark"] = "face (issue 6)",
        ["date_utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        ["libtorch"] = torch.version,
        ["device"] = device.ToString(),
        ["pytorch"] = pythonVersion,
        ["threads"] = threads,
        ["cores"] = Environment.ProcessorCount,
        ["malloc"] = allocator,
        ["malloc_pytorch"] = pythonAllocator,
        ["omp_wait_policy"] = Machine.OmpWaitPolicy(),
        ["omp_wait_policy_pytorch"] = pythonOmp,
        ["load_before"] = loadBefore,
        ["load_after"] = loadAfter,
        ["options"] = JsonSerializer.SerializeToNode(o),
        ["rows"] = new JsonArray(rows.Select(r => r.ToJson()).ToArray<JsonNode?>()),
    };
    File.WriteAllText(Path.Combine(outDir, "face-bench.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    var md = new StringBuilder();
    md.AppendLine($"Distill face benchmark — libtorch {torch.version}, PyTorch {pythonVersion ?? "n/a"}, {threads} threads, {Environment.ProcessorCount} cores, "
        + $"malloc: {allocator}, OMP_WAIT_POLICY: {Machine.OmpWaitPolicy()}");
    md.AppendLine($"load average before {loadBefore}, after {loadAfter}");
    md.AppendLine();
    md.Append(Markdown(rows));
    File.WriteAllText(Path.Combine(outDir, "face-bench.md"), md.ToString());
    Console.WriteLine($"results: {Path.Combine(outDir, "face-bench.json")}, {Path.Combine(outDir, "face-bench.md")}");
}
return mismatches.Count == 0 ? 0 : 1;

static Dictionary<string, double> Checks(JsonNode node) =>
    node.AsObject().ToDictionary(kv => kv.Key, kv => (double)kv.Value!);

static string Same(Dictionary<string, double> ours, Dictionary<string, double>? theirs, double rtol, string what, List<string> mismatches)
{
    if (theirs is null) return "-";
    var bad = ours.Where(kv => !theirs.TryGetValue(kv.Key, out var t) || Math.Abs(kv.Value - t) > rtol * Math.Max(Math.Abs(t), 1e-6)).ToList();
    foreach (var (key, value) in bad)
        mismatches.Add($"{what} {key}: Distill {value:R}, PyTorch {(theirs.TryGetValue(key, out var t) ? t.ToString("R") : "missing")}");
    return bad.Count == 0 ? "yes" : "NO";
}

static void Print(Row r) =>
    Console.WriteLine($"  {r.Title} K={r.Classes}: Distill {r.OurMs:F2} ms, PyTorch {(r.TheirMs is { } t ? t.ToString("F2") + " ms" : "n/a")}"
        + (r.Ratio is { } x ? $", ratio {x:F2}" : "") + (r.CpuRatio is { } cpu ? $" (CPU time {cpu:F2})" : "") + $", same values: {r.Same}");

static string Table(List<Row> rows)
{
    var sb = new StringBuilder();
    sb.AppendLine($"{"case",-40} {"K",6} {"B",4} {"Distill ms",11} {"PyTorch ms",11} {"ratio",6} {"(min)",6} {"(CPU)",6} {"same",5} {"peak RSS MiB D/P",17}");
    foreach (var r in rows)
    {
        var caseName = r.Part == "step" ? "GKD training step" : HeadCase.Titles[Array.IndexOf(HeadCase.Names, r.Case)];
        sb.AppendLine($"{caseName,-40} {r.Classes,6} {r.Batch,4} {r.OurMs,11:F2} {Fmt(r.TheirMs),11} {Fmt(r.Ratio),6} {Fmt(r.MinRatio),6} {Fmt(r.CpuRatio),6} {r.Same,5} {Rss(r),17}");
    }
    return sb.ToString();
}

static string Markdown(List<Row> rows)
{
    var sb = new StringBuilder();
    sb.AppendLine("| case | K | B | Distill ms | PyTorch ms | ratio (median) | ratio (min) | ratio (CPU time) | same values | peak RSS MiB (Distill / PyTorch) |");
    sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|:---:|---:|");
    foreach (var r in rows)
    {
        var caseName = r.Part == "step" ? "GKD training step" : "head " + HeadCase.Titles[Array.IndexOf(HeadCase.Names, r.Case)];
        sb.AppendLine($"| {caseName} | {r.Classes} | {r.Batch} | {r.OurMs:F2} | {Fmt(r.TheirMs)} | {Fmt(r.Ratio)} | {Fmt(r.MinRatio)} | {Fmt(r.CpuRatio)} | {r.Same} | {Rss(r)} |");
    }
    return sb.ToString();
}

static string Fmt(double? v) => v is { } x && !double.IsNaN(x) ? x.ToString("F2", CultureInfo.InvariantCulture) : "n/a";

static string Rss(Row r) => r.OurRssKiB is null ? "" : $"{r.OurRssKiB / 1024} / {(r.TheirRssKiB is { } t ? (t / 1024).ToString(CultureInfo.InvariantCulture) : "n/a")}";

internal sealed record Row(string Part, string Case, string Title, int Classes, int Batch, Samples OurSamples, Samples TheirSamples, string Same,
    Dictionary<string, double>? OurCheck, Dictionary<string, double>? TheirCheck, long? OurRssKiB, long? TheirRssKiB)
{
    private List<double> Ours => OurSamples.Wall;
    private List<double> Theirs => TheirSamples.Wall;
    public double OurMs => Timing.Median(Ours) * 1e3;
    public double? TheirMs => Theirs.Count > 0 ? Timing.Median(Theirs) * 1e3 : null;
    public double? Ratio => TheirMs is { } t ? OurMs / t : null;
    public double? MinRatio => Theirs.Count > 0 ? Ours.Min() / Theirs.Min() : null;
    public double OurCpuMs => Timing.Median(OurSamples.Cpu) * 1e3;
    public double? TheirCpuMs => TheirSamples.Cpu.Count > 0 ? Timing.Median(TheirSamples.Cpu) * 1e3 : null;
    /// <summary>Median CPU time per iteration, ours / theirs: steadier than wall time when other work shares the cores.</summary>
    public double? CpuRatio => TheirCpuMs is { } t ? OurCpuMs / t : null;

    public JsonObject ToJson() => new()
    {
        ["part"] = Part,
        ["case"] = Case,
        ["title"] = Title,
        ["classes"] = Classes,
        ["batch"] = Batch,
        ["distill_ms_median"] = OurMs,
        ["distill_ms_min"] = Ours.Min() * 1e3,
        ["pytorch_ms_median"] = TheirMs,
        ["pytorch_ms_min"] = Theirs.Count > 0 ? Theirs.Min() * 1e3 : null,
        ["ratio_median"] = Ratio,
        ["ratio_min"] = MinRatio,
        ["distill_cpu_ms_median"] = OurCpuMs,
        ["pytorch_cpu_ms_median"] = TheirCpuMs,
        ["ratio_cpu_median"] = CpuRatio,
        ["same_values"] = Same,
        ["check_distill"] = OurCheck is null ? null : JsonSerializer.SerializeToNode(OurCheck),
        ["check_pytorch"] = TheirCheck is null ? null : JsonSerializer.SerializeToNode(TheirCheck),
        ["peak_rss_kib_distill"] = OurRssKiB,
        ["peak_rss_kib_pytorch"] = TheirRssKiB,
        ["distill_seconds"] = new JsonArray(Ours.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
        ["pytorch_seconds"] = new JsonArray(Theirs.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
        ["distill_cpu_seconds"] = new JsonArray(OurSamples.Cpu.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
        ["pytorch_cpu_seconds"] = new JsonArray(TheirSamples.Cpu.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
    };
}

internal sealed record Options(int Steps, int Warmup, int Threads, int[] Classes, int Batch, int StepBatch, int Dim, int HeadIterations, int Batches,
    string? Out, bool NoPython, bool DefaultMalloc, string OmpWaitPolicy, string? Only, string Device = "cpu")
{
    public static Options Parse(string[] args)
    {
        var o = new Options(20, 3, Environment.ProcessorCount, [10000, 50000], 128, 64, 512, 40, 4, null, false, false, "passive", null);
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            o = args[i] switch
            {
                "--steps" => o with { Steps = Int() },
                "--warmup" => o with { Warmup = Int() },
                "--threads" => o with { Threads = Int() },
                "--classes" => o with { Classes = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() },
                "--batch" => o with { Batch = Int() },
                "--step-batch" => o with { StepBatch = Int() },
                "--dim" => o with { Dim = Int() },
                "--head-iters" => o with { HeadIterations = Int() },
                "--batches" => o with { Batches = Int() },
                "--out" => o with { Out = Next() },
                "--no-python" => o with { NoPython = true },
                "--default-malloc" => o with { DefaultMalloc = true },
                "--omp-wait-policy" => o with { OmpWaitPolicy = Next() },
                "--only" => o with { Only = Next() },
                "--device" => o with { Device = Next() },
                _ => throw new ArgumentException($"unknown option {args[i]} (expected --steps, --warmup, --threads, --classes K1,K2, --batch, --step-batch, --dim, --head-iters, --batches, --out DIR, --no-python, --default-malloc, --omp-wait-policy passive|active|inherit, --only head|step, --device cpu|cuda|cuda:N)"),
            };
        }
        if (o.Steps < 1 || o.Warmup < 0 || o.Threads < 1 || o.Classes.Length == 0 || o.Classes.Any(k => k < 2) || o.Batch < 1 || o.StepBatch < 1
            || o.Dim < 1 || o.HeadIterations < 1 || o.Batches < 1)
            throw new ArgumentException("--steps, --threads, --batch, --step-batch, --dim, --head-iters, --batches >= 1, --warmup >= 0, every class count >= 2");
        if (o.Only is not (null or "head" or "step")) throw new ArgumentException("--only takes head or step");
        if (!(o.Device == "cpu" || o.Device == "cuda" || o.Device.StartsWith("cuda:", StringComparison.Ordinal))) throw new ArgumentException("--device takes cpu, cuda or cuda:N");
        if (o.OmpWaitPolicy is not ("passive" or "active" or "inherit")) throw new ArgumentException("--omp-wait-policy takes passive, active or inherit");
        return o;
    }
}

internal static partial class Machine
{
    private const string OmpWaitVariable = "OMP_WAIT_POLICY";

    /// <summary>
    /// Sets OMP_WAIT_POLICY for this process and the PyTorch worker (which inherits the environment). libtorch's
    /// intra-op threads are libgomp's, which by default spin at every barrier before sleeping; on a machine shared
    /// with other work the spinning threads keep the cores from the thread they wait for, and a GKD step measured
    /// 0.6-9 s at 2 threads against a steady 0.35 s at 1 (both sides alike). "passive" (the default here) makes
    /// waiting threads sleep; "inherit" keeps the environment's. libgomp reads the variable when it is loaded, so
    /// this runs before the first call into libtorch; the C library's environment is set too, since .NET keeps its
    /// own copy.
    /// </summary>
    public static void SetOmpWaitPolicy(string policy)
    {
        if (policy == "inherit") return;
        Environment.SetEnvironmentVariable(OmpWaitVariable, policy);
        if (OperatingSystem.IsLinux() && setenv(OmpWaitVariable, policy, 1) != 0)
            throw new InvalidOperationException($"setenv({OmpWaitVariable}, {policy}) failed");
    }

    public static string OmpWaitPolicy() =>
        Environment.GetEnvironmentVariable(OmpWaitVariable) is { Length: > 0 } v ? v : "libgomp default (spin, then sleep)";

    [System.Runtime.InteropServices.LibraryImport("libc", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    /// <summary>The 1, 5 and 15 minute load averages (/proc/loadavg), as uptime prints them.</summary>
    public static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{parts[0]}, {parts[1]}, {parts[2]}";
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary>This process's peak resident set (VmHWM in /proc/self/status), KiB.</summary>
    public static long? PeakRssKiB()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary>
/// Pins glibc's allocator policy as the loss benchmark does (and face_bench.py does too): every block from the heap
/// (M_MMAP_MAX 0) and the heap never trimmed, so a warmed-up iteration reuses mapped memory instead of page-faulting
/// fresh mmaps whose count depends on glibc's dynamic threshold and each side's history. --default-malloc leaves it.
/// </summary>
internal static partial class Allocator
{
    public static string FixPolicy()
    {
        if (!OperatingSystem.IsLinux()) return "not glibc (left as is)";
        try
        {
            return mallopt(-4, 0) == 1 && mallopt(-1, -1) == 1 ? "heap only (no mmap), never trimmed" : "mallopt refused (left as is)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return "no mallopt (left as is)";
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int mallopt(int param, int value);
}
