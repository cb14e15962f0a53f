using Distill.Benchmarks.Shared;
using System.Globalization;
using System.Text;
using Distill.DetectionStep.Benchmarks;
using Distill.KdStep.Benchmarks;
using Distill.Torch;

// The detection training-step benchmark (issue 12): a frozen small Faster R-CNN FPN teacher (width 32) + a trained
// student (width 8) + DeFeat's feature term over P2..P6, batch 8 of 3x128x128 SyntheticDetection images, against the
// same step in PyTorch 1.13 + torchvision 0.14 eager (a child process) on the same libtorch, thread count, weights and
// data, measured side by side in one run: blocks of steps alternate between the sides, their order rotating every
// round. Then both sides time steps phase by phase, each reports its peak RSS, and Distill samples its live tensors.
//   dotnet run -c Release --project tests/Distill.DetectionStep.Benchmarks -- [--steps 40] [--warmup 3] [--block 4]
//       [--parts 12] [--leak-steps 40] [--leak-every 10] [--threads N] [--seed 7] [--out result.md] [--no-python]
//       [--omp-wait-policy passive|active|inherit]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

int steps = 40, warmup = 3, block = 4, parts = 12, leakSteps = 40, leakEvery = 10, threads = Environment.ProcessorCount;
long seed = 7;
var outs = new List<string>();
var noPython = false;
var policy = "passive";
for (var i = 0; i < args.Length; i++)
{
    var name = args[i];
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
    int Count(int min) => int.TryParse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= min
        ? v : throw new ArgumentException($"{name} expects a whole number >= {min}");
    switch (name)
    {
        case "--steps": steps = Count(1); break;
        case "--warmup": warmup = Count(0); break;
        case "--block": block = Count(1); break;
        case "--parts": parts = Count(0); break;
        case "--leak-steps": leakSteps = Count(0); break;
        case "--leak-every": leakEvery = Count(1); break;
        case "--threads": threads = Count(1); break;
        case "--seed": seed = Count(0); break;
        case "--out": outs.Add(Next()); break;
        case "--no-python": noPython = true; break;
        case "--omp-wait-policy":
            policy = Next();
            if (policy is not ("passive" or "active" or "inherit")) throw new ArgumentException("--omp-wait-policy expects passive, active or inherit");
            break;
        default:
            Console.Error.WriteLine($"unknown option '{name}'");
            Console.Error.WriteLine("options: --steps N --warmup N --block N --parts N --leak-steps N --leak-every N --threads N --seed N --out FILE.md --no-python --omp-wait-policy passive|active|inherit");
            return 2;
    }
}

// Before the first libtorch call: libgomp reads its wait policy when it is loaded.
WaitPolicy.Apply(policy);
torch.set_num_threads(threads);
var command = "dotnet run -c Release --project tests/Distill.DetectionStep.Benchmarks -- " + string.Join(' ', args);
var loadStart = Machine.LoadAverage();
Console.WriteLine($"Distill detection training-step benchmark — libtorch {torch.version}, {torch.get_num_threads()} intra-op threads, "
    + $"{Environment.ProcessorCount} cores, OpenMP wait policy {WaitPolicy.Describe()}, load average {loadStart}");

using var distill = new DistillSide();
var state = Path.Combine(Path.GetTempPath(), $"distill-detection-step-{Environment.ProcessId}.safetensors");
distill.Export(state);
Console.WriteLine($"batch: {DistillSide.BatchSize} images 3x{DistillSide.ImageSize}x{DistillSide.ImageSize}, {distill.Objects} objects; weights and batch exported to {state}");

PythonSide? python = null;
string? pythonNote = null;
if (noPython) pythonNote = "skipped (--no-python)";
else
{
    Console.WriteLine("starting the PyTorch side (Debian's python3-torch + python3-torchvision)...");
    python = PythonSide.TryStart(threads, state, out pythonNote);
    if (python is null) Console.WriteLine($"PyTorch side unavailable: {pythonNote}; printing Distill's numbers only.");
    else if (python.Threads != torch.get_num_threads())
        Console.WriteLine($"warning: the PyTorch side runs {python.Threads} threads, Distill {torch.get_num_threads()}");
}

var distillSteps = new List<double>();
var pytorchSteps = new List<double>();
double distillCpu = 0, pytorchCpu = 0;
var distillParts = new List<double[]>();
var pytorchParts = new List<double[]>();
var distillNms = new List<double>();
var pytorchNms = new List<double>();
double[] firstDistill, firstPyTorch = [], checkDistill, checkPyTorch = [];
long peakDistill, peakPyTorch = -1;
string loadAfter;
var leak = new List<(int Step, long Live, long RssKib)>();
try
{
    // The first step from the shared weights, the sampler's generator seeded alike: the two sides' losses must agree.
    firstDistill = distill.FirstStep(seed);
    if (python is not null) firstPyTorch = python.FirstStep(seed);

    Console.WriteLine($"warm-up: {warmup} steps per side...");
    distill.Steps(warmup);
    python?.Steps(warmup);

    var rounds = (steps + block - 1) / block;
    Console.WriteLine($"measuring: {rounds} rounds of {block}-step blocks, {steps} steps per side...");
    var kinds = python is null ? 1 : 2;
    for (var round = 0; round < rounds; round++)
    {
        var n = Math.Min(block, steps - round * block);
        for (var k = 0; k < kinds; k++)
        {
            if ((round + k) % kinds == 0)
            {
                var cpu = Machine.CpuSeconds();
                distillSteps.AddRange(distill.Steps(n));
                distillCpu += Machine.CpuSeconds() - cpu;
            }
            else
            {
                var (seconds, cpu) = python!.Steps(n);
                pytorchSteps.AddRange(seconds);
                pytorchCpu += cpu;
            }
        }
        Console.Write($"\r  round {round + 1}/{rounds}: Distill {Median(distillSteps) * 1e3:F1} ms"
            + (python is null ? "" : $", PyTorch {Median(pytorchSteps) * 1e3:F1} ms") + " (medians so far)   ");
    }
    Console.WriteLine();

    if (parts > 0)
    {
        Console.WriteLine($"phases: {parts} steps per side timed phase by phase...");
        for (var done = 0; done < parts; done += block)
        {
            var n = Math.Min(block, parts - done);
            for (var side = 0; side < 2; side++)
            {
                if ((side + done / block) % 2 == 0)
                {
                    distill.Reset();
                    for (var i = 0; i < n; i++) distillParts.Add(distill.Parts());
                }
                else if (python is not null)
                    pytorchParts.AddRange(python.Parts(n));
            }
        }
    }
    // NMS alone: the RPN's batched_nms over the same inputs on both sides (the initial student's pre-NMS proposals).
    if (parts > 0)
    {
        for (var r = 0; r < 6; r++)
        {
            if (r % 2 == 0) distillNms.AddRange(distill.Nms(5));
            else if (python is not null) pytorchNms.AddRange(python.Nms(5));
        }
    }
    // The losses of the last step of a block (the block-th step from the initial weights): finite on both sides means the
    // blocks timed sane steps.
    checkDistill = distill.Check(block);
    if (python is not null) checkPyTorch = python.Check(block);
    loadAfter = Machine.LoadAverage();
    // Peak resident memory of each process after the same steps (VmHWM).
    peakDistill = Machine.Memory().PeakKib;
    if (python is not null) peakPyTorch = python.Memory().PeakKib;
}
finally
{
    python?.Dispose();
    File.Delete(state);
}

// Live native tensors before and after more steps: flat means every sample holds the same count.
if (leakSteps > 0)
{
    Console.WriteLine($"live tensors: {leakSteps} more steps, sampled every {leakEvery}...");
    leak.Add((0, Tensor.LiveCount, Machine.Memory().CurrentKib));
    for (var done = 0; done < leakSteps;)
    {
        // Blocks of at most --block steps from the initial weights (as measured), sampled every --leak-every steps.
        var n = Math.Min(Math.Min(block, leakEvery - done % leakEvery), leakSteps - done);
        distill.Steps(n);
        done += n;
        if (done % leakEvery == 0 || done == leakSteps) leak.Add((done, Tensor.LiveCount, Machine.Memory().CurrentKib));
    }
}
var loadEnd = Machine.LoadAverage();

var md = new StringBuilder();
md.AppendLine($"Command: `{command}`  ");
md.AppendLine($"libtorch {torch.version}; PyTorch side: {(python is null ? pythonNote : $"torch {python.TorchVersion}, torchvision {python.TorchvisionVersion}, {python.Threads} threads")}; "
    + $"Distill {torch.get_num_threads()} threads; {Environment.ProcessorCount} cores; OpenMP wait policy {WaitPolicy.Describe()}  ");
md.AppendLine($"Load average (1, 5, 15 min): {loadStart} at the start, {loadAfter} after the timed blocks, {loadEnd} at the end  ");
md.AppendLine($"Batch {DistillSide.BatchSize} × 3×{DistillSide.ImageSize}×{DistillSide.ImageSize}, {distill.Objects} objects; {steps} measured steps per side in {block}-step blocks "
    + $"(each from the initial weights), {warmup} warm-up steps");
md.AppendLine();
md.AppendLine("| | median ms | mean ms | min ms | CPU ms | steps |");
md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
md.AppendLine(Row("Distill step", distillSteps, distillCpu));
if (pytorchSteps.Count > 0)
{
    md.AppendLine(Row("PyTorch 1.13 + torchvision 0.14 eager step", pytorchSteps, pytorchCpu));
    md.AppendLine($"| **ratio Distill / PyTorch** (target ≤ 1.0) | **{Median(distillSteps) / Median(pytorchSteps):F3}** | {distillSteps.Average() / pytorchSteps.Average():F3} "
        + $"| {distillSteps.Min() / pytorchSteps.Min():F3} | {distillCpu / distillSteps.Count / (pytorchCpu / pytorchSteps.Count):F3} | |");
}
md.AppendLine();
if (distillParts.Count > 0)
{
    md.AppendLine($"| phase (median of {distillParts.Count} steps timed phase by phase) | Distill ms | PyTorch ms | ratio |");
    md.AppendLine("| --- | ---: | ---: | ---: |");
    for (var p = 0; p < DistillSide.PartNames.Length; p++)
    {
        var d = Median(distillParts.Select(r => r[p]).ToList()) * 1e3;
        var t = pytorchParts.Count > 0 ? Median(pytorchParts.Select(r => r[p]).ToList()) * 1e3 : double.NaN;
        md.AppendLine($"| {DistillSide.PartNames[p]} | {d:F2} | {(double.IsNaN(t) ? "–" : t.ToString("F2"))} | {(double.IsNaN(t) ? "–" : (d / t).ToString("F2"))} |");
    }
    var dSum = distillParts.Select(r => r.Sum()).ToList();
    var tSum = pytorchParts.Select(r => r.Sum()).ToList();
    if (distillNms.Count > 0)
        md.AppendLine($"| *NMS alone: batched_nms (IoU 0.7) over the 8 images' RPN inputs, {distill.NmsBoxesPerImage:F0} boxes each, same inputs (median of {distillNms.Count})* | *{Median(distillNms) * 1e3:F2}* | "
            + (pytorchNms.Count > 0 ? $"*{Median(pytorchNms) * 1e3:F2}* | *{Median(distillNms) / Median(pytorchNms):F2}* |" : "– | – |"));
    md.AppendLine($"| whole phase-timed step (median) | {Median(dSum) * 1e3:F2} | {(tSum.Count > 0 ? (Median(tSum) * 1e3).ToString("F2") : "–")} | {(tSum.Count > 0 ? (Median(dSum) / Median(tSum)).ToString("F2") : "–")} |");
    md.AppendLine();
}
string[] lossNames = ["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "defeat_feature"];
md.AppendLine($"First step from the shared weights (torch.manual_seed({seed}) before it on both sides):");
md.AppendLine();
md.AppendLine("| loss | Distill | PyTorch | rel. difference |");
md.AppendLine("| --- | ---: | ---: | ---: |");
var worst = 0.0;
for (var i = 0; i < lossNames.Length; i++)
{
    var hasPy = firstPyTorch.Length == lossNames.Length;
    var rel = hasPy ? Math.Abs(firstDistill[i] - firstPyTorch[i]) / Math.Max(Math.Abs(firstPyTorch[i]), 1e-12) : double.NaN;
    if (hasPy) worst = Math.Max(worst, rel);
    md.AppendLine($"| {lossNames[i]} | {firstDistill[i]:G7} | {(hasPy ? firstPyTorch[i].ToString("G7") : "–")} | {(hasPy ? rel.ToString("E1") : "–")} |");
}
md.AppendLine();
md.AppendLine($"Every block restarts from the initial weights with zeroed momentum (not timed), so each measured step is one of the first {block} steps; "
    + $"the losses of step {block}: Distill {string.Join(", ", checkDistill.Select(v => v.ToString("G4")))}"
    + (checkPyTorch.Length > 0 ? $"; PyTorch {string.Join(", ", checkPyTorch.Select(v => v.ToString("G4")))}" : "")
    + $" ({(checkDistill.Concat(checkPyTorch).All(double.IsFinite) ? "all finite" : "NOT all finite")}).  ");
md.AppendLine();
md.AppendLine($"Peak resident memory (VmHWM after the timed and phase-timed steps): Distill {peakDistill / 1024.0:F0} MiB"
    + (peakPyTorch > 0 ? $", PyTorch {peakPyTorch / 1024.0:F0} MiB ({(double)peakDistill / peakPyTorch:F2}×)" : "") + "  ");
if (leak.Count > 0)
{
    var flat = leak.All(s => s.Live == leak[0].Live);
    md.AppendLine($"Live native tensors over {leakSteps} further steps: {string.Join(", ", leak.Select(s => $"{s.Live} (step {s.Step})"))} — {(flat ? "flat" : "NOT flat")}; "
        + $"RSS {leak.Min(s => s.RssKib) / 1024.0:F0}–{leak.Max(s => s.RssKib) / 1024.0:F0} MiB");
}
var text = md.ToString();
Console.WriteLine();
Console.Write(text);
foreach (var path in outs)
{
    var directory = Path.GetDirectoryName(Path.GetFullPath(path));
    if (directory is not null) Directory.CreateDirectory(directory);
    File.WriteAllText(path, text);
    Console.WriteLine($"written: {path}");
}
return firstPyTorch.Length == lossNames.Length && worst > 1e-3 ? 1 : 0;

static double Median(IReadOnlyList<double> values)
{
    if (values.Count == 0) return double.NaN;
    var sorted = values.Order().ToArray();
    var m = sorted.Length / 2;
    return sorted.Length % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

static string Row(string name, List<double> s, double cpu) =>
    $"| {name} | {Median(s) * 1e3:F1} | {s.Average() * 1e3:F1} | {s.Min() * 1e3:F1} | {cpu / s.Count * 1e3:F1} | {s.Count} |";
