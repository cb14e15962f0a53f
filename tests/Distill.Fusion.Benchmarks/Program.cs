using System.Diagnostics;
using System.Globalization;
using Distill.Experiments.Generated;
using Distill.Losses;
using Distill.Models;
using Distill.Torch;

// Fused vs unfused (issue 4). Both sides run one forward per model (teachers without gradients) and the
// backward pass; they differ only in the loss: the generated ComputeLoss (shared log-softmax, intermediates
// released after their last use, weights folded into an in-place sum) against the library's losses called one
// by one and summed out of place, as a hand-written loop would. Also counted: the managed tensor handles alive
// when the loss is complete (before backward), the peak of what a step holds at once.
// Run: dotnet run -c Release --project tests/Distill.Fusion.Benchmarks [-- --steps 300 --threads 1]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var steps = Arg("--steps", 300);
var threads = Arg("--threads", 0);
if (threads > 0) torch.set_num_threads(threads);

torch.manual_seed(0);
var experiment = new FusionBenchExperiment();
experiment.Big.eval();
experiment.Wide.eval();
var x = torch.randn([64, 3, 8, 8]).DetachFromDisposeScope();
var y = torch.randint(0, 100, [64]).DetachFromDisposeScope();
var baseline = Tensor.LiveCount;

(double Total, long Live) Fused()
{
    using var scope = torch.NewDisposeScope();
    using var loss = experiment.ComputeLoss(x, y, epoch: 0);
    var live = Tensor.LiveCount - baseline;
    loss.Total.backward();
    return (loss.Total.item<float>(), live);
}

(double Total, long Live) Unfused()
{
    using var scope = torch.NewDisposeScope();
    CifarResNet.Outputs big, wide;
    using (torch.no_grad())
    {
        big = experiment.Big.forward_taps(x, CifarResNet.Taps.Stage3 | CifarResNet.Taps.Logits);
        wide = experiment.Wide.forward_taps(x, CifarResNet.Taps.Logits);
    }
    var s = experiment.Student.forward_taps(x, CifarResNet.Taps.Stage3 | CifarResNet.Taps.Logits);
    var hint = experiment.HintAdapter.call(s.Stage3!);
    var ce = Classic.cross_entropy(s.Logits!, y);
    var kdBig = Classic.hinton_kd(s.Logits!, big.Logits!, 4.0);
    var kdWide = Classic.hinton_kd(s.Logits!, wide.Logits!, 4.0);
    var fit = Classic.fitnet_mse(hint, big.Stage3!);
    var total = ce * 0.1 + kdBig * 0.45 + kdWide * 0.45 + fit * 2.0;
    var live = Tensor.LiveCount - baseline;
    total.backward();
    return (total.item<float>(), live);
}

void ZeroGrad()
{
    experiment.Student.zero_grad();
    experiment.HintAdapter.zero_grad();
}

// Same value first (eval-mode student, so batch statistics do not move between the two).
experiment.Student.eval();
var (fusedValue, fusedLive) = Fused();
ZeroGrad();
var (unfusedValue, unfusedLive) = Unfused();
ZeroGrad();
experiment.Student.train();
Console.WriteLine($"total: fused {fusedValue:R}, unfused {unfusedValue:R} (|diff| {Math.Abs(fusedValue - unfusedValue):E1})");

for (var i = 0; i < 20; i++) { Fused(); ZeroGrad(); Unfused(); ZeroGrad(); }

// Alternating blocks of steps, so drift in the machine's speed falls on both sides alike.
var fusedTimes = new List<double>();
var unfusedTimes = new List<double>();
var clock = new Stopwatch();
for (var block = 0; block < steps / 10; block++)
{
    foreach (var fused in block % 2 == 0 ? new[] { true, false } : new[] { false, true })
    {
        clock.Restart();
        for (var i = 0; i < 10; i++) { if (fused) Fused(); else Unfused(); ZeroGrad(); }
        (fused ? fusedTimes : unfusedTimes).Add(clock.Elapsed.TotalMilliseconds / 10);
    }
}
var f = Median(fusedTimes);
var u = Median(unfusedTimes);
Console.WriteLine($"threads {torch.get_num_threads()}, {steps} steps each, batch 64, 8x8 images, 3 models (CifarResNet-8), 4 terms");
Console.WriteLine($"step (forward + loss + backward): fused {f:F3} ms, unfused {u:F3} ms, ratio {f / u:F2} (target <= 0.70)");
Console.WriteLine($"tensor handles alive when the loss is complete: fused {fusedLive}, unfused {unfusedLive}");
return 0;

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}
