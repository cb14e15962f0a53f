using Xunit.Abstractions;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Data.Tests;

/// <summary>
/// SyntheticImages is learnable but not trivial: a linear classifier (softmax regression on the
/// normalised pixels) trained for 300 steps gets well above chance, and far from perfect — its
/// group-level cues are linear, the fine class structure is not.
/// </summary>
public class LearnabilityTests(ITestOutputHelper output)
{
    [Fact]
    public void A_linear_model_learns_well_above_chance_but_far_from_perfect()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(0);
        const int Classes = 10;
        using var train = new SyntheticImages(classes: Classes, samples: 19200, seed: 7);
        using var test = new SyntheticImages(classes: Classes, samples: 1000, seed: 7, split: "test");
        var (mean, std) = train.ChannelStatistics(1000);
        var loader = new DataLoader<ImageBatch>(train, new DataLoaderOptions { BatchSize = 64, Seed = 1, Prefetch = 2 }, ImageTransform.Train(mean, std));
        var weight = torch.zeros([Classes, 3 * 32 * 32], requires_grad: true);
        var bias = torch.zeros([Classes], requires_grad: true);
        var optimizer = torch.optim.SGD([weight, bias], lr: 0.01, momentum: 0.9);
        var steps = 0;
        foreach (var batch in loader.Epoch(0))
        {
            using var step = torch.NewDisposeScope();
            var loss = cross_entropy(linear(batch.image.flatten(1), weight, bias), batch.label);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            steps++;
        }
        Assert.Equal(300, steps);

        double correct = 0;
        var eval = new DataLoader<ImageBatch>(test, new DataLoaderOptions { BatchSize = 250, Shuffle = false }, ImageTransform.Eval(mean, std));
        using (torch.no_grad())
            foreach (var batch in eval.Epoch(0))
            {
                using var step = torch.NewDisposeScope();
                correct += linear(batch.image.flatten(1), weight, bias).argmax(1).eq(batch.label).sum().item<long>();
            }
        var accuracy = correct / test.Count;
        output.WriteLine($"linear model, 300 steps: test accuracy {accuracy:P1} (chance 10%)");
        Assert.InRange(accuracy, 0.3, 0.7);
    }
}
