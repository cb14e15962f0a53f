using System.Diagnostics;
using System.Text.RegularExpressions;
using Distill.Experiments.Generated;
using Distill.Losses;
using Distill.Models;
using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.Face.Benchmarks;

/// <summary>A timed computation on our side: one iteration per call.</summary>
internal interface ITimed
{
    void Iterate();
}

/// <summary>
/// The margin head over K identities (CosFaceHead, s 64, m 0.4), weight and embeddings from the formula:
/// (a) head.logits(emb) = normalize(emb)·normalize(W)ᵀ·s under no_grad; (b) head.forward(emb, label), the logits
/// with the CosFace margin on each row's target (in place, target column only) under no_grad; (c) the same with
/// gradients, cross-entropy and backward (grads of W and emb, both cleared first).
/// </summary>
internal sealed class HeadCase : IDisposable
{
    private readonly CosFaceHead _head;
    private readonly Tensor _embedding;
    private readonly Tensor _label;

    public HeadCase(int classes, int batch, int dim, Device device)
    {
        _head = new CosFaceHead(dim, classes, 64, 0.4);
        using (torch.no_grad())
        using (var w = Formula.Values((long)classes * dim, 0.61, 0.5))
        using (var w32 = w.to(ScalarType.Float32))
        using (var shaped = w32.reshape(classes, dim))
            _head.weight.copy_(shaped);
        _head.to(device);
        using (var e = Formula.Values((long)batch * dim, 0.37, 1.7))
        using (var e32 = e.to(ScalarType.Float32))
        using (var shaped = e32.reshape(batch, dim))
            _embedding = shaped.to(device).requires_grad_();
        using (var label = Formula.Labels(batch, classes, 0))
            _label = label.to(device);
    }

    public static readonly string[] Names = ["head_logits", "head_margin", "head_train"];

    public static readonly string[] Titles =
    [
        "(a) logits forward",
        "(b) CosFace margin_logits forward",
        "(c) margin_logits + CE + backward",
    ];

    public ITimed Case(string name) => name switch
    {
        "head_logits" => new Timed(Logits),
        "head_margin" => new Timed(Margin),
        "head_train" => new Timed(Train),
        _ => throw new ArgumentException(name),
    };

    /// <summary>The values both sides report before timing: abs-sums of (a) and (b), the CE of (c) and its gradients' abs-sums.</summary>
    public Dictionary<string, double> Check()
    {
        using var scope = torch.NewDisposeScope();
        var values = new Dictionary<string, double>();
        using (torch.no_grad())
        {
            values["logits_abs"] = _head.logits(_embedding).to(ScalarType.Float64).abs().sum().item<double>();
            values["margin_abs"] = _head.forward(_embedding, _label).to(ScalarType.Float64).abs().sum().item<double>();
        }
        ClearGrads();
        var loss = Classic.cross_entropy(_head.forward(_embedding, _label), _label);
        loss.backward();
        values["ce"] = loss.item<float>();
        values["grad_weight_abs"] = _head.weight.grad!.to(ScalarType.Float64).abs().sum().item<double>();
        values["grad_embedding_abs"] = _embedding.grad!.to(ScalarType.Float64).abs().sum().item<double>();
        return values;
    }

    private void Logits()
    {
        using var noGrad = torch.no_grad();
        using var logits = _head.logits(_embedding);
    }

    private void Margin()
    {
        using var noGrad = torch.no_grad();
        using var logits = _head.forward(_embedding, _label);
    }

    private void Train()
    {
        ClearGrads();
        using var scope = torch.NewDisposeScope();
        var loss = Classic.cross_entropy(_head.forward(_embedding, _label), _label);
        loss.backward();
    }

    private void ClearGrads()
    {
        _head.zero_grad();
        _embedding.zero_grad();
    }

    public void Dispose()
    {
        _head.Dispose();
        _embedding.Dispose();
        _label.Dispose();
    }

    private sealed class Timed(Action action) : ITimed
    {
        public void Iterate() => action();
    }
}

/// <summary>One of the generated GKD experiments of this project: its models and its ComputeLoss.</summary>
internal sealed record StepSubject(
    string Experiment,
    IResNet Teacher,
    MobileFaceNet Student,
    long GroupSize,
    Func<Tensor, Tensor, (Tensor Total, Tensor Ce, Tensor Gkd, IDisposable Breakdown)> ComputeLoss,
    Action DisposeModules)
{
    /// <summary>The experiments compiled into this benchmark, by class count.</summary>
    public static readonly IReadOnlyDictionary<int, Func<StepSubject>> ByClasses = new Dictionary<int, Func<StepSubject>>
    {
        [10000] = () =>
        {
            var e = new FaceGkdK10000Experiment();
            return new StepSubject(FaceGkdK10000Experiment.ExperimentName, e.Teacher, e.Student, GroupSizeOf(FaceGkdK10000Experiment.LossTerms),
                (x, y) => { var l = e.ComputeLoss(x, y, epoch: 0); return (l.Total, l.Ce, l.Gkd, l); }, e.DisposeModules);
        },
        [50000] = () =>
        {
            var e = new FaceGkdK50000Experiment();
            return new StepSubject(FaceGkdK50000Experiment.ExperimentName, e.Teacher, e.Student, GroupSizeOf(FaceGkdK50000Experiment.LossTerms),
                (x, y) => { var l = e.ComputeLoss(x, y, epoch: 0); return (l.Total, l.Ce, l.Gkd, l); }, e.DisposeModules);
        },
    };

    /// <summary>The gkd term's n, read from the generated description of the loss terms (the YAML is its one source).</summary>
    private static long GroupSizeOf((string Name, string Loss, double Weight, string Arguments, string? Schedule)[] terms)
    {
        var gkd = terms.Single(t => t.Loss == "gkd_loss");
        var match = Regex.Match(gkd.Arguments, @"\bn: (\d+)");
        return match.Success ? long.Parse(match.Groups[1].Value) : throw new InvalidOperationException($"no n in gkd's arguments '{gkd.Arguments}'");
    }
}

/// <summary>
/// One GKD training step with the generated ComputeLoss, as the generated Train loop runs it without its bookkeeping
/// (divergence guard, running averages, progress): optimizer.zero_grad(), ComputeLoss(image, label) (teacher in eval
/// mode under no_grad, student in train mode), Total.backward(), optimizer.step(). SGD(lr 0.1, momentum 0.9,
/// weight decay 5e-4) over the student's parameters, as the YAML declares. The batches are made before timing
/// (from the formula, cycled).
/// </summary>
internal sealed class StepCase : ITimed, IDisposable
{
    private readonly StepSubject _subject;
    private readonly Optimizer _optimizer;
    private readonly List<(Tensor Image, Tensor Label)> _batches = [];
    private int _next;

    public StepCase(StepSubject subject, int batch, int batches, Device device)
    {
        _subject = subject;
        Formula.Weights(subject.Teacher);
        Formula.Weights(subject.Student);
        subject.Teacher.to(device);
        subject.Student.to(device);
        subject.Teacher.eval();
        foreach (var p in subject.Teacher.parameters()) p.requires_grad = false;
        subject.Student.train();
        _optimizer = torch.optim.SGD(subject.Student.parameters(), 0.1, momentum: 0.9, weight_decay: 5e-4);
        for (var i = 0; i < batches; i++)
        {
            using var image = Formula.Images(batch, subject.Student.Size, i);
            using var label = Formula.Labels(batch, subject.Student.Classes, i);
            _batches.Add((image.to(device), label.to(device)));
        }
    }

    /// <summary>The first batch's two terms with the student in eval mode (no batch statistics), before any step.</summary>
    public Dictionary<string, double> Check()
    {
        _subject.Student.eval();
        try
        {
            using var noGrad = torch.no_grad();
            var (_, ce, gkd, breakdown) = _subject.ComputeLoss(_batches[0].Image, _batches[0].Label);
            using (breakdown) return new() { ["ce"] = ce.item<float>(), ["gkd"] = gkd.item<float>() };
        }
        finally
        {
            _subject.Student.train();
        }
    }

    public void Iterate()
    {
        var (image, label) = _batches[_next++ % _batches.Count];
        _optimizer.zero_grad();
        using var scope = torch.NewDisposeScope();
        var (total, _, _, breakdown) = _subject.ComputeLoss(image, label);
        using (breakdown)
        {
            total.backward();
            _optimizer.step();
        }
    }

    public void Dispose()
    {
        foreach (var (image, label) in _batches)
        {
            image.Dispose();
            label.Dispose();
        }
        _optimizer.Dispose();
        _subject.DisposeModules();
    }
}

/// <summary>Per-iteration wall-clock seconds and process CPU seconds (all threads) of one side.</summary>
internal sealed record Samples(List<double> Wall, List<double> Cpu)
{
    public Samples() : this([], []) { }

    public int Count => Wall.Count;

    public void Add(Samples more)
    {
        Wall.AddRange(more.Wall);
        Cpu.AddRange(more.Cpu);
    }
}

internal static partial class Timing
{
    /// <summary>Where our side runs: on a GPU each iteration ends with a synchronize, so its time is its kernels'.</summary>
    public static Device Device { get; set; } = Device.CPU;

    private static void Iterate(ITimed ours)
    {
        ours.Iterate();
        if (Device.Type == DeviceType.CUDA) torch.cuda.synchronize(Device.Index);
    }

    /// <summary>
    /// Warm-up, then <paramref name="iterations"/> timed iterations on each side in alternating blocks of
    /// <paramref name="block"/> (ours first in even blocks, theirs first in odd ones), so that a change in the
    /// machine's load falls on both sides alike. Per-iteration wall and CPU seconds of each side.
    /// </summary>
    public static (Samples Ours, Samples Theirs) Interleaved(ITimed ours, PythonWorker? python, string @case, int warmup, int iterations, int block)
    {
        for (var i = 0; i < warmup; i++) Iterate(ours);
        if (python is not null && warmup > 0) python.Run(@case, warmup);
        var mine = new Samples();
        var theirs = new Samples();
        var clock = new Stopwatch();
        for (var b = 0; mine.Count < iterations; b++)
        {
            var n = Math.Min(block, iterations - mine.Count);
            for (var side = 0; side < 2; side++)
            {
                if ((side == 0) == (b % 2 == 0))
                {
                    for (var i = 0; i < n; i++)
                    {
                        var cpu = ProcessCpuSeconds();
                        clock.Restart();
                        Iterate(ours);
                        mine.Wall.Add(clock.Elapsed.TotalSeconds);
                        mine.Cpu.Add(ProcessCpuSeconds() - cpu);
                    }
                }
                else if (python is not null)
                {
                    theirs.Add(python.Run(@case, n));
                }
            }
        }
        return (mine, theirs);
    }

    /// <summary>This process's CPU time, all threads (clock_gettime(CLOCK_PROCESS_CPUTIME_ID), as Python's time.process_time()).</summary>
    public static double ProcessCpuSeconds()
    {
        if (!OperatingSystem.IsLinux()) return double.NaN;
        return clock_gettime(2, out var t) == 0 ? t.Seconds + t.Nanoseconds * 1e-9 : double.NaN;
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.LibraryImport("libc")]
    private static partial int clock_gettime(int clock, out TimeSpec time);

    public static double Median(IReadOnlyCollection<double> values)
    {
        var s = values.Order().ToArray();
        return s.Length == 0 ? double.NaN : s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
