using static Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Tests;

[Collection(SequentialCollection.Name)]
public class LeakTests
{
    /// <summary>
    /// 10,000 forward/backward/optimizer steps of a small MLP, each inside a dispose scope, leave the
    /// number of live native tensors exactly where it was after the first step (which creates the
    /// gradients and the momentum buffers that persist across steps).
    /// </summary>
    [Fact]
    public void Ten_thousand_training_steps_in_dispose_scopes_leak_no_tensor()
    {
        var baseline = SequentialCollection.SettledLiveCount();
        torch.manual_seed(1);
        var model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4));
        var optimizer = torch.optim.SGD(model.parameters(), lr: 0.01, momentum: 0.9, weight_decay: 1e-4);
        var x = torch.randn([8, 16]).DetachFromDisposeScope();
        var y = torch.randint(0, 4, [8]).DetachFromDisposeScope();

        void Step()
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad(set_to_none: false);
            var loss = cross_entropy(model.call(x), y);
            loss.backward();
            optimizer.step();
        }

        Step();
        var afterFirst = Tensor.LiveCount;
        double firstLoss, lastLoss;
        using (torch.NewDisposeScope()) firstLoss = cross_entropy(model.call(x), y).item<float>();
        for (var i = 0; i < 10_000; i++) Step();
        using (torch.NewDisposeScope()) lastLoss = cross_entropy(model.call(x), y).item<float>();

        Assert.Equal(afterFirst, Tensor.LiveCount);
        Assert.True(lastLoss < firstLoss, $"training did not progress: {firstLoss} -> {lastLoss}");

        optimizer.Dispose();
        model.Dispose();
        x.Dispose();
        y.Dispose();
        Assert.Equal(baseline, Tensor.LiveCount);
    }
}
