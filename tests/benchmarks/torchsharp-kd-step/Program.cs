// The KD training step of ../kd_step_bench.py (ResNet56 teacher -> ResNet20 student, Hinton KD), written with
// TorchSharp, so Distill's generated step can be compared with the .NET binding most users would reach for.
//
//   dotnet bin/Release/net10.0/TorchSharpKdStep.dll --threads 2 --warmup 5 --steps 30
//       -> one JSON line: per-step wall ms (median, mean), process CPU ms per step, peak RSS (VmHWM), versions
//       add --block-scopes to give every residual block its own DisposeScope (temporaries freed per block)
//   dotnet bin/Release/net10.0/TorchSharpKdStep.dll --matmul-error
//       -> torch.matmul([2,3], [4,5]) inside try/catch; prints whether a .NET exception was caught
//   dotnet bin/Release/net10.0/TorchSharpKdStep.dll --add-error
//       -> the same with a + b (a broadcast error), for contrast
//   dotnet bin/Release/net10.0/TorchSharpKdStep.dll --api [pattern ...]
//       -> public and non-public members of the TorchSharp assembly whose "Type::member" text contains a pattern
//          (defaults: autocast, memory_format, MemoryFormat, channels_last, ChannelsLast)
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

internal static class Program
{
    private static int Main(string[] args)
    {
        int threads = 2, warmup = 5, steps = 30;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--warmup": warmup = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--block-scopes": Block.BlockScopes = true; break;
                case "--matmul-error": return ShapeError("matmul", (a, b) => torch.matmul(a, b));
                case "--add-error": return ShapeError("add", (a, b) => a + b);
                case "--api": return Api(args.Skip(i + 1).ToArray());
                default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
            }
        }
        return Bench(threads, warmup, steps);
    }

    private static int Bench(int threads, int warmup, int steps)
    {
        torch.set_num_threads(threads);
        var kd = new KdStep(batch: 64, classes: 100, size: 32);
        for (var i = 0; i < warmup; i++) kd.Step();

        var proc = Process.GetCurrentProcess();
        proc.Refresh();
        var cpu0 = proc.TotalProcessorTime;
        var user0 = proc.UserProcessorTime;
        var (minflt0, majflt0) = Faults();
        var gc0 = GC.CollectionCount(0);
        var ms = new double[steps];
        var loss = double.NaN;
        for (var i = 0; i < steps; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            loss = kd.Step();
            ms[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        proc.Refresh();
        var cpuMs = (proc.TotalProcessorTime - cpu0).TotalMilliseconds / steps;
        var userMs = (proc.UserProcessorTime - user0).TotalMilliseconds / steps;
        var (minflt1, majflt1) = Faults();
        var gcs = GC.CollectionCount(0) - gc0;

        var sorted = ms.OrderBy(x => x).ToArray();
        var median = sorted.Length % 2 == 1
            ? sorted[sorted.Length / 2]
            : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        var (hwm, rss, anon, file) = Memory();
        var result = new Dictionary<string, object>
        {
            ["side"] = "TorchSharp eager, pre-made batch",
            ["threads"] = threads,
            ["block_scopes"] = Block.BlockScopes,
            ["torch_get_num_threads"] = torch.get_num_threads(),
            ["warmup"] = warmup,
            ["steps"] = steps,
            ["median_ms"] = Math.Round(median, 3),
            ["mean_ms"] = Math.Round(ms.Average(), 3),
            ["cpu_ms_per_step"] = Math.Round(cpuMs, 3),
            ["user_ms_per_step"] = Math.Round(userMs, 3),
            ["sys_ms_per_step"] = Math.Round(cpuMs - userMs, 3),
            ["minor_faults_per_step"] = (minflt1 - minflt0) / steps,
            ["major_faults"] = majflt1 - majflt0,
            ["gen0_gcs"] = gcs,
            ["vmhwm_kib"] = hwm,
            ["vmrss_kib"] = rss,
            ["rss_anon_kib"] = anon,
            ["rss_file_kib"] = file,
            ["loss"] = Math.Round(loss, 5),
            ["torch_version"] = torch.__version__,
            ["torchsharp_assembly"] = typeof(torch).Assembly.GetName().Version?.ToString() ?? "?",
            ["omp_wait_policy"] = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "",
            ["step_ms"] = ms.Select(x => Math.Round(x, 3)).ToArray(),
        };
        Console.WriteLine(JsonSerializer.Serialize(result));
        return 0;
    }

    /// <summary>Minor and major page faults of this process so far (/proc/self/stat fields 10 and 12).</summary>
    private static (long Minor, long Major) Faults()
    {
        var stat = System.IO.File.ReadAllText("/proc/self/stat");
        var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(f[7], CultureInfo.InvariantCulture), long.Parse(f[9], CultureInfo.InvariantCulture));
    }

    /// <summary>VmHWM (peak), VmRSS, RssAnon and RssFile (now) of this process, KiB, from /proc/self/status.</summary>
    private static (long Hwm, long Rss, long Anon, long File) Memory()
    {
        long hwm = -1, rss = -1, anon = -1, file = -1;
        foreach (var line in System.IO.File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kib(line);
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kib(line);
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Kib(line);
            else if (line.StartsWith("RssFile:", StringComparison.Ordinal)) file = Kib(line);
        }
        return (hwm, rss, anon, file);

        static long Kib(string line) =>
            long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    /// <summary>An op on shapes [2,3] and [4,5] inside try/catch: is the libtorch error a catchable .NET exception?</summary>
    private static int ShapeError(string op, Func<Tensor, Tensor, Tensor> f)
    {
        Console.Out.Flush();
        try
        {
            using var a = torch.randn(2, 3);
            using var b = torch.randn(4, 5);
            Console.WriteLine($"{{\"op\": \"{op}\", \"shapes\": \"[2,3] x [4,5]\"}}");
            Console.Out.Flush();
            using var c = f(a, b);
            Console.WriteLine($"{{\"caught\": false, \"note\": \"no error, result shape [{string.Join(",", c.shape)}]\"}}");
        }
        catch (Exception e)
        {
            var first = e.Message.Split('\n')[0];
            Console.WriteLine(JsonSerializer.Serialize(new { caught = true, type = e.GetType().FullName, message = first }));
        }
        Console.WriteLine("{\"after_catch\": \"process still running\"}");
        return 0;
    }

    private static int Api(string[] patterns)
    {
        if (patterns.Length == 0) patterns = ["autocast", "memory_format", "MemoryFormat", "channels_last", "ChannelsLast"];
        var asm = typeof(torch).Assembly;
        Console.WriteLine($"# {asm.FullName} ({asm.Location})");
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static |
                                 BindingFlags.Instance | BindingFlags.DeclaredOnly;
        foreach (var t in asm.GetTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            var typeName = t.FullName ?? t.Name;
            if (patterns.Any(p => typeName.Contains(p, StringComparison.OrdinalIgnoreCase)))
                Console.WriteLine($"TYPE {(t.IsPublic || t.IsNestedPublic ? "public" : "internal")} {typeName}");
            foreach (var m in t.GetMembers(all))
            {
                var s = $"{typeName}::{m}";
                if (!patterns.Any(p => s.Contains(p, StringComparison.OrdinalIgnoreCase))) continue;
                Console.WriteLine($"{m.MemberType} {Access(m)}{(t.IsPublic || t.IsNestedPublic ? "" : " (in a non-public type)")} {s}");
            }
        }
        return 0;

        static string Access(MemberInfo m) => m switch
        {
            MethodBase mb => mb.IsPublic ? "public" : mb.IsAssembly ? "internal" : mb.IsPrivate ? "private" : mb.IsFamily ? "protected" : "non-public",
            FieldInfo f => f.IsPublic ? "public" : f.IsAssembly ? "internal" : f.IsPrivate ? "private" : "non-public",
            PropertyInfo p => p.GetMethod is { } g ? Access(g) : p.SetMethod is { } st ? Access(st) : "non-public",
            Type t => t.IsNestedPublic ? "public" : t.IsNestedAssembly ? "internal" : t.IsNestedPrivate ? "private" : "non-public",
            EventInfo e => e.AddMethod is { } a ? Access(a) : "non-public",
            _ => "?",
        };
    }
}

/// <summary>The benchmarked step and everything it needs, built once (kd_step_bench.py's KdStep, NCHW).</summary>
internal sealed class KdStep
{
    private readonly CifarResNet _teacher;
    private readonly CifarResNet _student;
    private readonly Tensor _x;
    private readonly Tensor _y;
    private readonly SGD _opt;
    private readonly double _t;
    private readonly double _ceWeight;
    private readonly double _kdWeight;

    public KdStep(int batch, int classes, int size, double temperature = 4.0, double ceWeight = 0.1, double kdWeight = 0.9)
    {
        torch.manual_seed(0);
        _teacher = new CifarResNet("teacher", 56, classes);
        _teacher.eval();
        _student = new CifarResNet("student", 20, classes);
        _student.train();
        _x = torch.randn(batch, 3, size, size);
        _opt = torch.optim.SGD(_student.parameters(), learningRate: 0.05, momentum: 0.9, weight_decay: 5e-4);
        _y = torch.randint(0, classes, [batch], dtype: ScalarType.Int64);
        _t = temperature;
        _ceWeight = ceWeight;
        _kdWeight = kdWeight;
    }

    public double Step()
    {
        // Every temporary of the step (activations, logits, loss terms) is freed at the end of the scope, the
        // idiomatic TorchSharp way (otherwise they wait for the GC's finalizers).
        using var scope = torch.NewDisposeScope();
        // set_to_none: frees the gradients, as PyTorch's opt.zero_grad(set_to_none=True) (the optimizer owns exactly
        // the student's parameters; TorchSharp's Optimizer.zero_grad() has no set_to_none argument).
        _student.zero_grad(set_to_none: true);
        Tensor tLogits;
        using (torch.no_grad())
            tLogits = _teacher.call(_x);
        var sLogits = _student.call(_x);
        var ce = F.cross_entropy(sLogits, _y);
        // TorchSharp's Reduction has no BatchMean: batchmean = sum / batch size, as PyTorch defines it.
        var kd = F.kl_div(F.log_softmax(sLogits / _t, 1), F.softmax(tLogits / _t, 1), log_target: false,
                     reduction: nn.Reduction.Sum) / sLogits.shape[0] * (_t * _t);
        var loss = _ceWeight * ce + _kdWeight * kd;
        loss.backward();
        _opt.step();
        return loss.item<float>();
    }
}

/// <summary>CRD's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); 1x1 conv + BN shortcut on a shape change.</summary>
internal sealed class Block : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;

    public Block(long cin, long cout, long stride) : base("Block")
    {
        conv1 = nn.Conv2d(cin, cout, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(cout);
        conv2 = nn.Conv2d(cout, cout, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(cout);
        if (stride != 1 || cin != cout)
            downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride: stride, bias: false), nn.BatchNorm2d(cout));
        register_module("conv1", conv1);
        register_module("bn1", bn1);
        register_module("conv2", conv2);
        register_module("bn2", bn2);
        if (downsample is not null) register_module("downsample", downsample);
    }

    /// <summary>--block-scopes: each block's temporaries are released when the block returns (autograd keeps what it
    /// saved through libtorch's own references), instead of living until the end of the step's scope.</summary>
    public static bool BlockScopes;

    public override Tensor forward(Tensor x)
    {
        using var scope = BlockScopes ? torch.NewDisposeScope() : null;
        var outp = bn2.call(conv2.call(F.relu(bn1.call(conv1.call(x)), inplace: true)));
        outp.add_(downsample is null ? x : downsample.call(x));
        var y = F.relu(outp);
        return BlockScopes ? y.MoveToOuterDisposeScope() : y;
    }
}

/// <summary>CIFAR ResNet of depth 6n+2 (16-32-64 channels), as kd_step_bench.py's ResNet.</summary>
internal sealed class CifarResNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Linear fc;

    public CifarResNet(string name, int depth, int classes) : base(name)
    {
        var n = (depth - 2) / 6;
        conv1 = nn.Conv2d(3, 16, 3, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(16);
        var stages = new List<Sequential>();
        long cin = 16;
        var widths = new long[] { 16, 32, 64 };
        for (var k = 0; k < widths.Length; k++)
        {
            var blocks = new List<nn.Module<Tensor, Tensor>>();
            for (var b = 0; b < n; b++)
            {
                blocks.Add(new Block(cin, widths[k], k > 0 && b == 0 ? 2 : 1));
                cin = widths[k];
            }
            stages.Add(nn.Sequential(blocks.ToArray()));
        }
        (layer1, layer2, layer3) = (stages[0], stages[1], stages[2]);
        fc = nn.Linear(64, classes);
        RegisterComponents();
        // Same initialisation as the Python side (He-normal, fan_out, relu) for the convolutions.
        using (torch.no_grad())
        {
            foreach (var m in modules())
                if (m is Conv2d c)
                    nn.init.kaiming_normal_(c.weight, mode: nn.init.FanInOut.FanOut, nonlinearity: nn.init.NonlinearityType.ReLU);
        }
    }

    public override Tensor forward(Tensor x)
    {
        x = F.relu(bn1.call(conv1.call(x)), inplace: true);
        x = layer3.call(layer2.call(layer1.call(x)));
        return fc.call(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1));
    }
}
