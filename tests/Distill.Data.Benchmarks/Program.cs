using System.Diagnostics;

// dotnet run -c Release --project tests/Distill.Data.Benchmarks [-- images]
// dotnet run -c Release --project tests/Distill.Data.Benchmarks -- export <dir> [train images] [val images]
//   writes <dir>/train.safetensors and <dir>/val.safetensors (seed 1, default arguments) for frcnn_probe.py.
if (args.Length > 0 && args[0] == "export")
{
    Export(args[1], args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3000,
        args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 500);
    return;
}
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

// Every image (N, 3, 128, 128) uint8 and every object: boxes (M, 4), labels (M), hard kind (M; 0 = not hard), and the
// object count of each image (N), objects in image order.
static void Export(string dir, int train, int val)
{
    Directory.CreateDirectory(dir);
    foreach (var (split, n) in new[] { ("train", train), ("val", val) })
    {
        var d = new SyntheticDetection(samples: n, seed: 1, split: split);
        var plane = 3 * d.ImageSize * d.ImageSize;
        var pixels = new byte[(long)n * plane];
        var boxes = new List<float>();
        var labels = new List<long>();
        var hard = new List<long>();
        var counts = new long[n];
        for (var i = 0; i < n; i++)
        {
            d.Render(i, pixels.AsSpan(i * plane, plane));
            var objects = d.Objects(i);
            counts[i] = objects.Count;
            foreach (var o in objects)
            {
                boxes.AddRange([o.Box.X1, o.Box.Y1, o.Box.X2, o.Box.Y2]);
                labels.Add(o.Label);
                hard.Add((long)o.Hard);
            }
        }
        using var scope = torch.NewDisposeScope();
        Safetensors.Save(Path.Combine(dir, split + ".safetensors"), new Dictionary<string, Tensor>
        {
            ["image"] = torch.tensor(pixels, new long[] { n, 3, d.ImageSize, d.ImageSize }),
            ["boxes"] = torch.tensor(boxes.ToArray(), new long[] { boxes.Count / 4, 4 }),
            ["labels"] = torch.tensor(labels.ToArray()),
            ["hard"] = torch.tensor(hard.ToArray()),
            ["counts"] = torch.tensor(counts),
        });
        Console.WriteLine($"{split}: {n} images, {labels.Count} objects -> {Path.Combine(dir, split + ".safetensors")}");
    }
}
