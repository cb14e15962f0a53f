using System.Diagnostics;

// dotnet run -c Release --project tests/Distill.Data.Benchmarks [-- images]
var images = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 2000;
var data = new SyntheticDetection(samples: images, seed: 1);
var pixels = new byte[3 * data.ImageSize * data.ImageSize];
for (var i = 0; i < Math.Min(50, images); i++) data.Render(i, pixels); // warm-up (JIT)

// Images per second of wall time, and per second of this process's CPU time (steadier on a shared machine).
(double Wall, double Cpu) Rate(Action run, int count)
{
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    run();
    var wall = clock.Elapsed.TotalSeconds;
    var used = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
    Console.WriteLine($"    {count} in {wall:F2} s wall, {used:F2} s CPU");
    return (count / wall, count / used);
}

Console.WriteLine($"SyntheticDetection(size: {data.ImageSize}, classes: {data.Classes}, max_objects: {data.MaxObjects}, distractors: {data.Distractors}); {Environment.ProcessorCount} cores");
Console.WriteLine("render, one thread:");
var render = Rate(() => { for (var i = 0; i < images; i++) data.Render(i, pixels); }, images);
Console.WriteLine($"  {render.Wall:F0} images/s ({1000 / render.Wall:F2} ms an image); {render.Cpu:F0} images per CPU second");
Console.WriteLine("ground truth without pixels (Target):");
var targets = Rate(() => { for (var i = 0; i < images; i++) data.Target(i); }, images);
Console.WriteLine($"  {targets.Wall:F0} images/s; {targets.Cpu:F0} images per CPU second");
Console.WriteLine($"Collate, batches of 32 on {SyntheticDetection.Parallelism} thread(s):");
var collate = Rate(() =>
{
    for (var start = 0; start + 32 <= images; start += 32)
        using (data.Collate(Enumerable.Range(start, 32).ToArray())) { }
}, images / 32 * 32);
Console.WriteLine($"  {collate.Wall:F0} images/s; {collate.Cpu:F0} images per CPU second");
Console.WriteLine("Collate + DetectionTransform.Train(shortSides: [128, 160], maxSide: 200) (flip, resize, float):");
var transform = DetectionTransform.Train(shortSides: [128, 160], maxSide: 200);
var augmented = Rate(() =>
{
    for (var start = 0; start + 32 <= images; start += 32)
    {
        using var g = new Generator((ulong)start);
        using (transform.Apply(data.Collate(Enumerable.Range(start, 32).ToArray()), g)) { }
    }
}, images / 32 * 32);
Console.WriteLine($"  {augmented.Wall:F0} images/s; {augmented.Cpu:F0} images per CPU second");
