using Distill.Losses;

namespace Distill.Losses.Tests;

/// <summary>
/// The shared forms the generated code calls when terms share a log-softmax give the library losses' values and
/// gradients: exactly for KD and plain cross-entropy (the same operations), to rounding with label smoothing and
/// ignored rows.
/// </summary>
public class SharedFormTests
{
    [Theory]
    [InlineData(4.0)]
    [InlineData(1.0)]
    [InlineData(0.5)]
    public void Kd_from_shared_log_probs_is_the_library_kd(double temperature)
    {
        using var scope = torch.NewDisposeScope();
        var g = new Generator().manual_seed(1);
        var s1 = torch.randn([6, 10], generator: g).requires_grad_();
        var s2 = s1.detach().clone().requires_grad_();
        var t = torch.randn([6, 10], generator: g);
        var expected = Classic.hinton_kd(s1, t, temperature);
        var shared = Classic.hinton_kd_shared(Classic.log_softmax_t(s2, temperature), Classic.log_softmax_t(t, temperature), temperature);
        Assert.True(expected.equal(shared), $"{expected.item<float>()} vs {shared.item<float>()}");
        expected.backward();
        shared.backward();
        Assert.True(s1.grad!.equal(s2.grad!));
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(0.1, false)]
    [InlineData(0.0, true)]
    [InlineData(0.2, true)]
    public void Cross_entropy_from_shared_log_probs_is_the_library_cross_entropy(double smoothing, bool ignoreSome)
    {
        using var scope = torch.NewDisposeScope();
        var g = new Generator().manual_seed(2);
        var x1 = torch.randn([8, 5], generator: g).requires_grad_();
        var x2 = x1.detach().clone().requires_grad_();
        var labels = torch.tensor(ignoreSome ? new long[] { 0, -100, 2, 3, -100, 1, 4, 0 } : new long[] { 0, 1, 2, 3, 4, 1, 4, 0 });
        var expected = Classic.cross_entropy(x1, labels, smoothing);
        var shared = Classic.cross_entropy_shared(Classic.log_softmax_t(x2), labels, smoothing);
        TensorAssert.Close(expected.detach(), shared.detach(), 1e-6, 1e-7, "value");
        expected.backward();
        shared.backward();
        TensorAssert.Close(x1.grad!, x2.grad!, 1e-6, 1e-7, "gradient");
        if (smoothing == 0 && !ignoreSome) Assert.True(expected.equal(shared));
    }

    [Fact]
    public void Every_row_ignored_gives_zero_as_the_library_does()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([3, 4]);
        var labels = torch.tensor(new long[] { -100, -100, -100 });
        Assert.Equal(0.0, Classic.cross_entropy_shared(Classic.log_softmax_t(x), labels, 0.1).item<float>());
        Assert.Equal(0.0, Classic.cross_entropy(x, labels, 0.1).item<float>());
    }
}
