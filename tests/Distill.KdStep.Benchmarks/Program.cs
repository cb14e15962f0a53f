using Distill.Benchmarks.Shared;
using System.Globalization;
using Distill.KdStep.Benchmarks;
using Distill.Torch;

// The KD training-step benchmark (issue 5): one step of Hinton KD, ResNet56 -> ResNet20 (batch 64, 32x32,
// CE + KD, SGD), generated code against PyTorch eager on the same libtorch and thread count, measured side by side
// in one run. Three kinds of block take turns (their order rotates every round, so load drift falls on all
// alike): Distill's generated step on a pre-made batch, the same step fed by the data loader, and PyTorch's step
// on a pre-made batch in a child process. Then a long run of loader-fed steps samples the live native tensors.
//   dotnet run -c Release --project tests/Distill.KdStep.Benchmarks -- [--steps 100] [--warmup 5] [--block 5]
//       [--threads N] [--leak-steps 5000] [--leak-every 100] [--out result.json|result.md] [--no-python]
//       [--parts 10] [--omp-wait-policy passive|active|inherit] [--device cpu|cuda|cuda:N]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
KdOptions options;
try
{
    options = KdOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(KdOptions.Usage);
    return 2;
}
// Before the first libtorch call: libgomp reads its wait policy when it is loaded (see WaitPolicy).
WaitPolicy.Apply(options.OmpWaitPolicy);
torch.set_num_threads(options.Threads);
var result = new KdResult
{
    Command = "dotnet run -c Release --project tests/Distill.KdStep.Benchmarks -- " + string.Join(' ', args),
    Libtorch = torch.version,
    Threads = torch.get_num_threads(),
    OmpWaitPolicy = WaitPolicy.Describe(),
    Cores = Environment.ProcessorCount,
    LoadAtStart = Machine.LoadAverage(),
    Steps = options.Steps,
    Warmup = options.Warmup,
    Block = options.Block,
};
Console.WriteLine($"Distill KD training-step benchmark on {options.Device} — libtorch {result.Libtorch}, {result.Threads} intra-op threads, {result.Cores} cores, OpenMP wait policy {result.OmpWaitPolicy}, load average {result.LoadAtStart}");

var device = Device.Parse(options.Device);
result.Device = device.ToString();
if (device.Type == DeviceType.CUDA && !torch.cuda.is_available())
{
    Console.Error.WriteLine($"--device {options.Device}: libtorch sees no GPU (the shim loaded is {torch.shim_path}; DISTILL_TORCH_NATIVE names a CUDA build)");
    return 2;
}
using var distill = new DistillSide(device: device);
using var distillChannelsLast = options.ChannelsLast ? new DistillSide(MemoryFormat.ChannelsLast, device) : null;
result.Batch = distill.BatchSize;
result.ImageSize = distill.ImageSize;
result.Classes = distill.Classes;

PythonSide? python = null;
if (options.NoPython) result.PythonNote = "skipped (--no-python)";
else
{
    Console.WriteLine($"starting the PyTorch side ({PythonServer.Interpreter}) and its warm-up...");
    python = PythonSide.TryStart(options.Threads, distill.BatchSize, distill.Classes, distill.ImageSize, options.Warmup, options.Device, out var whyNot);
    if (python is null) Console.WriteLine($"PyTorch side unavailable: {whyNot}; printing Distill's numbers only.");
    else
    {
        result.PythonTorch = python.TorchVersion;
        result.PythonThreads = python.Threads;
        if (python.Threads != result.Threads)
            Console.WriteLine($"warning: the PyTorch side runs {python.Threads} threads, Distill {result.Threads}");
    }
    result.PythonNote = whyNot;
}

try
{
    Console.WriteLine($"warm-up: {options.Warmup} steps on a pre-made batch and {options.Warmup} fed by the loader...");
    distill.PreMade(options.Warmup);
    distill.WithLoader(options.Warmup);
    distillChannelsLast?.PreMade(options.Warmup);
    // The loader's own work per batch, measured alone (nothing else running): render, collate, crop + flip + normalise.
    result.PrepareAloneSeconds = distill.PrepareAlone(10);
    result.LoaderPrefetch = distill.LoaderPrefetch;

    var rounds = (options.Steps + options.Block - 1) / options.Block;
    Console.WriteLine($"measuring: {rounds} rounds of {options.Block}-step blocks, {options.Steps} steps per kind...");
    var kinds = new List<string> { "premade", "loader" };
    if (python is not null) kinds.Add("pytorch");
    if (distillChannelsLast is not null) kinds.Add("premade-cl");
    if (distillChannelsLast is not null && python is not null) kinds.Add("pytorch-cl");
    for (var round = 0; round < rounds; round++)
    {
        var n = Math.Min(options.Block, options.Steps - round * options.Block);
        for (var k = 0; k < kinds.Count; k++)
        {
            switch (kinds[(round + k) % kinds.Count])
            {
                case "premade":
                    var cpu = Machine.CpuSeconds();
                    result.DistillPreMade.AddRange(distill.PreMade(n));
                    result.DistillPreMadeCpuSeconds += Machine.CpuSeconds() - cpu;
                    break;
                case "loader":
                    var cpuLoader = Machine.CpuSeconds();
                    var block = distill.WithLoader(n);
                    result.DistillLoaderCpuSeconds += Machine.CpuSeconds() - cpuLoader;
                    result.DistillLoader.AddRange(block.Seconds);
                    result.LoaderWaitSeconds += block.WaitSeconds;
                    result.LoaderPrepareSeconds += block.PrepareSeconds;
                    break;
                case "pytorch":
                    var (seconds, cpuPython) = python!.Steps(n);
                    result.PyTorchPreMade.AddRange(seconds);
                    result.PyTorchCpuSeconds += cpuPython;
                    break;
                case "premade-cl":
                    var cpuCl = Machine.CpuSeconds();
                    result.DistillChannelsLast.AddRange(distillChannelsLast!.PreMade(n));
                    result.DistillChannelsLastCpuSeconds += Machine.CpuSeconds() - cpuCl;
                    break;
                case "pytorch-cl":
                    var (secondsCl, cpuPythonCl) = python!.Steps(n, channelsLast: true);
                    result.PyTorchChannelsLast.AddRange(secondsCl);
                    result.PyTorchChannelsLastCpuSeconds += cpuPythonCl;
                    break;
            }
        }
        Console.Write($"\r  round {round + 1}/{rounds}: Distill {Stats.Median(result.DistillPreMade) * 1e3:F1} ms, with loader {Stats.Median(result.DistillLoader) * 1e3:F1} ms" +
                      (python is null ? "" : $", PyTorch {Stats.Median(result.PyTorchPreMade) * 1e3:F1} ms") +
                      (distillChannelsLast is null ? "" : $", channels_last {Stats.Median(result.DistillChannelsLast) * 1e3:F1} ms") + " (medians so far)   ");
    }
    Console.WriteLine();

    // Where the time goes: the same step timed phase by phase on both sides, again in alternating blocks.
    if (options.Parts > 0)
    {
        Console.WriteLine($"phases: {options.Parts} steps per side timed phase by phase...");
        foreach (var name in DistillSide.PartNames) result.PartsDistill[name] = [];
        for (var done = 0; done < options.Parts; done += options.Block)
        {
            var n = Math.Min(options.Block, options.Parts - done);
            for (var side = 0; side < 2; side++)
            {
                if ((side + done / options.Block) % 2 == 0)
                {
                    for (var i = 0; i < n; i++)
                    {
                        var t = distill.Parts();
                        for (var p = 0; p < t.Length; p++) result.PartsDistill[DistillSide.PartNames[p]].Add(t[p]);
                    }
                }
                else if (python is not null)
                {
                    foreach (var (name, values) in python.Parts(n))
                    {
                        if (!result.PartsPyTorch.TryGetValue(name, out var list)) result.PartsPyTorch[name] = list = [];
                        list.AddRange(values);
                    }
                }
            }
        }
    }
    result.LoadAfterTiming = Machine.LoadAverage();
    result.DistillLoss = distill.LastLoss;
    result.PyTorchLoss = python?.LastLoss;
    // Peak resident memory of each process after the same measured steps (VmHWM); ours includes the loader.
    result.DistillPeakKibTimed = Machine.Memory().PeakKib;
    if (python is not null) result.PyTorchPeakKib = python.Memory().PeakKib;
}
finally
{
    python?.Dispose();
}

// Live native tensors over a long loader-fed run. Samples are taken between loader blocks, when the loader's
// background thread has stopped and freed what it prepared ahead, so a flat run reads the same count every time.
if (options.LeakSteps > 0)
{
    Console.WriteLine($"leak run: {options.LeakSteps} loader-fed steps, live tensors sampled every {options.LeakEvery} steps...");
    var done = 0;
    result.LeakSamples.Add(new LeakSample(0, Tensor.LiveCount, Machine.Memory().CurrentKib, GC.GetTotalMemory(false) / 1024));
    var clock = System.Diagnostics.Stopwatch.StartNew();
    while (done < options.LeakSteps)
    {
        var n = Math.Min(options.LeakEvery, options.LeakSteps - done);
        distill.WithLoader(n);
        done += n;
        var sample = new LeakSample(done, Tensor.LiveCount, Machine.Memory().CurrentKib, GC.GetTotalMemory(false) / 1024);
        result.LeakSamples.Add(sample);
        Console.Write($"\r  step {done}/{options.LeakSteps}: live tensors {sample.Live}, RSS {sample.RssKib / 1024.0:F0} MiB, {clock.Elapsed.TotalSeconds / done * 1e3:F0} ms/step   ");
    }
    Console.WriteLine();
    result.LeakSeconds = clock.Elapsed.TotalSeconds;
}
result.DistillPeakKibEnd = Machine.Memory().PeakKib;
result.LoadAtEnd = Machine.LoadAverage();

Console.WriteLine();
Console.Write(Report.Text(result));
foreach (var path in options.Out)
{
    var directory = Path.GetDirectoryName(Path.GetFullPath(path));
    if (directory is not null) Directory.CreateDirectory(directory);
    File.WriteAllText(path, path.EndsWith(".md", StringComparison.OrdinalIgnoreCase) ? Report.Markdown(result) : Report.Json(result));
    Console.WriteLine($"written: {path}");
}
return 0;
