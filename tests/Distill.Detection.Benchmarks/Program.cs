using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

// The detection-evaluation benchmark (issue 12): COCO AP of N images (~10 boxes and ~90 detections each, 10 classes,
// 640-pixel images) with CocoEvaluator, against the independent numpy reference on the same images. The reference
// makes the images (seeded), evaluates them once, and writes them with its numbers and times; this program then
// evaluates them several times and prints wall and CPU time of both, the ratio, and whether the 12 numbers agree.
//   dotnet run -c Release --project tests/Distill.Detection.Benchmarks -- [--images N] [--rounds N] [--data file.json] [--pycocotools DIR]
// --data reuses a file an earlier run (or `detection_eval_reference.py --bench N file.json`) wrote, skipping Python.
// --pycocotools DIR (a cocoapi checkout) also times pycocotools' own COCOeval on the same images
// (tests/fixtures/python/check_against_pycocotools.py: its Python code, a numpy stand-in for its C box IoU).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
int images = 1000, rounds = 7;
string? data = null, pycocotools = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--images": images = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--rounds": rounds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--data": data = args[++i]; break;
        case "--pycocotools": pycocotools = args[++i]; break;
        default: throw new ArgumentException($"unknown argument '{args[i]}' (--images N, --rounds N, --data file.json, --pycocotools DIR)");
    }
}

if (data is null)
{
    var script = FindScript("detection_eval_reference.py");
    data = Path.Combine(Path.GetTempPath(), $"distill-detection-bench-{images}.json");
    Console.WriteLine($"running the numpy reference: /usr/bin/python3 {script} --bench {images} {data}");
    var start = new ProcessStartInfo("/usr/bin/python3", [script, "--bench", images.ToString(CultureInfo.InvariantCulture), data]) { RedirectStandardOutput = true };
    start.Environment["OMP_WAIT_POLICY"] = "passive";
    using var python = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
    Console.Write(python.StandardOutput.ReadToEnd());
    python.WaitForExit();
    if (python.ExitCode != 0) throw new InvalidOperationException($"the reference exited with {python.ExitCode}");
}

if (pycocotools is not null)
{
    var script = FindScript("check_against_pycocotools.py");
    Console.WriteLine($"running pycocotools: /usr/bin/python3 {script} {pycocotools} --time {data}");
    using var python = Process.Start(new ProcessStartInfo("/usr/bin/python3", [script, pycocotools, "--time", data])) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
    python.WaitForExit();
    if (python.ExitCode != 0) throw new InvalidOperationException($"the pycocotools timing exited with {python.ExitCode}");
}

using var doc = JsonDocument.Parse(File.ReadAllText(data));
var root = doc.RootElement;
var set = root.GetProperty("images").EnumerateArray().Select(Image.Read).ToArray();
var expected = root.GetProperty("stats").EnumerateArray().Select(e => e.GetDouble()).ToArray();
double pyWall = root.GetProperty("wall_s").GetDouble(), pyCpu = root.GetProperty("cpu_s").GetDouble();
Console.WriteLine($"{set.Length} images, {set.Sum(i => i.GtLabels.Length)} boxes, {set.Sum(i => i.Scores.Length)} detections, 10 classes; "
    + $"{Environment.ProcessorCount} cores; .NET {Environment.Version}");

// Rounds alternate between one thread and every core (classes spread over threads), so both see the same load.
CocoResult? result = null;
var threadCounts = Environment.ProcessorCount > 1 ? new[] { 1, Environment.ProcessorCount } : [1];
var addWall = threadCounts.Select(_ => new List<double>()).ToArray();
var computeWall = threadCounts.Select(_ => new List<double>()).ToArray();
var totalWall = threadCounts.Select(_ => new List<double>()).ToArray();
var totalCpu = threadCounts.Select(_ => new List<double>()).ToArray();
for (var r = -1; r < rounds; r++) // round -1 warms up (JIT)
{
    for (var c = 0; c < threadCounts.Length; c++)
    {
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var coco = new CocoEvaluator(10) { MaxThreads = threadCounts[c] };
        foreach (var i in set) coco.Add(i.Boxes, i.Scores, i.Labels, i.GtBoxes, i.GtLabels, i.GtCrowd);
        var added = clock.Elapsed.TotalSeconds;
        result = coco.Compute();
        var wall = clock.Elapsed.TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        if (r < 0) continue;
        addWall[c].Add(added);
        computeWall[c].Add(wall - added);
        totalWall[c].Add(wall);
        totalCpu[c].Add(cpu);
    }
}

// The same images from tensors (float32 boxes, as a detector's output; copied to the host per image).
var tensorWall = new List<double>();
{
    var tensors = set.Select(i => i.ToTensors()).ToArray();
    for (var r = -1; r < Math.Min(rounds, 3); r++)
    {
        var clock = Stopwatch.StartNew();
        var coco = new CocoEvaluator(10);
        foreach (var t in tensors) coco.Add(t[0], t[1], t[2], t[3], t[4], t[5]);
        coco.Compute();
        if (r >= 0) tensorWall.Add(clock.Elapsed.TotalSeconds);
    }
    foreach (var t in tensors) foreach (var x in t) x.Dispose();
}

var worst = expected.Zip(result!.Stats, (e, a) => Math.Abs(e - a)).Max();
Console.WriteLine();
Console.WriteLine($"{"",-34} {"wall s",9} {"CPU s",9}");
Console.WriteLine($"{"numpy reference (once)",-34} {pyWall,9:F3} {pyCpu,9:F3}");
for (var c = 0; c < threadCounts.Length; c++)
    Console.WriteLine($"{$"CocoEvaluator, {threadCounts[c]} thread(s), median of {rounds}",-34} {Median(totalWall[c]),9:F4} {Median(totalCpu[c]),9:F4}   "
        + $"(add {Median(addWall[c]):F4}, compute {Median(computeWall[c]):F4}; min {totalWall[c].Min():F4})");
Console.WriteLine($"{"CocoEvaluator from tensors, median",-34} {Median(tensorWall),9:F4}");
Console.WriteLine($"ratio (reference / Distill, 1 thread): wall {pyWall / Median(totalWall[0]):F0}x, CPU {pyCpu / Median(totalCpu[0]):F0}x");
Console.WriteLine($"stats: AP {result.AP:F4} AP50 {result.AP50:F4} AP75 {result.AP75:F4} APs {result.APs:F4} APm {result.APm:F4} APl {result.APl:F4} "
    + $"AR1 {result.AR[0]:F4} AR10 {result.AR[1]:F4} AR100 {result.AR[2]:F4}; largest difference from the reference {worst:E1}");
return worst <= 1e-12 ? 0 : 1;

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

static string FindScript(string name)
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        var path = Path.Combine(dir.FullName, "tests", "fixtures", "python", name);
        if (File.Exists(path)) return path;
    }
    throw new FileNotFoundException($"tests/fixtures/python/{name} not found above {AppContext.BaseDirectory}");
}

internal sealed record Image(double[] Boxes, double[] Scores, long[] Labels, double[] GtBoxes, long[] GtLabels, bool[] GtCrowd)
{
    public static Image Read(JsonElement e) => new(
        Doubles(e.GetProperty("boxes")), Doubles(e.GetProperty("scores")), Longs(e.GetProperty("labels")),
        Doubles(e.GetProperty("gt_boxes")), Longs(e.GetProperty("gt_labels")),
        e.GetProperty("gt_crowd").EnumerateArray().Select(x => x.GetInt32() != 0).ToArray());

    public Tensor[] ToTensors() =>
    [
        torch.tensor(Boxes.Select(v => (float)v).ToArray(), new long[] { Scores.Length, 4 }),
        torch.tensor(Scores.Select(v => (float)v).ToArray()),
        torch.tensor(Labels),
        torch.tensor(GtBoxes.Select(v => (float)v).ToArray(), new long[] { GtLabels.Length, 4 }),
        torch.tensor(GtLabels),
        torch.tensor(GtCrowd),
    ];

    private static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    private static long[] Longs(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();
}
