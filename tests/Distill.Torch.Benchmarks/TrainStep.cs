using System.Diagnostics;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Benchmarks;

/// <summary>(b) One SGD training step of CIFAR ResNet-20 (batch 64, 32×32, cross entropy), timed per step.</summary>
internal static class TrainStep
{
    public sealed record Result(List<double> Seconds, double FinalLoss, long LiveBefore, long LiveAfter);

    public static Result Run(int steps, int warmup, int batch)
    {
        torch.manual_seed(0);
        using var model = new CifarResNet20(100);
        model.train();
        using var optimizer = torch.optim.SGD(model.parameters(), lr: 0.05, momentum: 0.9, weight_decay: 5e-4);
        using var x = torch.randn([batch, 3, 32, 32]);
        using var y = torch.randint(0, 100, [batch]);
        var times = new List<double>();
        var loss = double.NaN;
        var liveBefore = 0L;
        for (var i = 0; i < warmup + steps; i++)
        {
            if (i == warmup) liveBefore = Tensor.LiveCount;
            var sw = Stopwatch.StartNew();
            using (var scope = torch.NewDisposeScope())
            {
                optimizer.zero_grad();
                var l = cross_entropy(model.call(x), y);
                l.backward();
                optimizer.step();
                if (i == warmup + steps - 1) loss = l.item<float>();
            }
            var dt = sw.Elapsed.TotalSeconds;
            if (i >= warmup) times.Add(dt);
        }
        return new Result(times, loss, liveBefore, Tensor.LiveCount);
    }
}
