namespace Distill.Torch.Tests;

/// <summary>
/// torch.nn.utils.clip_grad_norm_ / clip_grad_value_ against PyTorch 1.13: three gradients ([3, 4], [5]
/// and a scalar) from "clip_init" plus a parameter without a gradient, which must be ignored.
/// </summary>
public class ClipGradTests
{
    private static readonly Fixture fx = Fixture.Load("optim");

    private static Tensor[] Parameters(out Tensor withoutGrad)
    {
        var ps = new List<Tensor>();
        foreach (var name in new[] { "g0", "g1", "g2" })
        {
            var g = fx.Input("clip_init", name);
            var p = torch.zeros(g.shape, requires_grad: true);
            p.grad = g;
            ps.Add(p);
        }
        withoutGrad = torch.zeros([2], requires_grad: true);
        ps.Add(withoutGrad);
        return ps.ToArray();
    }

    private static void AssertGrads(string name, Tensor[] ps)
    {
        for (var k = 0; k < 3; k++) fx.AssertClose(ps[k].grad!, name, $"g{k}");
        Assert.Null(ps[3].grad);
    }

    [Theory]
    [InlineData("clip_norm2", 1.0, 2.0)]
    [InlineData("clip_norm2_no_clip", 100.0, 2.0)]
    [InlineData("clip_norm_inf", 0.5, double.PositiveInfinity)]
    [InlineData("clip_norm1", 2.0, 1.0)]
    [InlineData("clip_norm3", 1.5, 3.0)]
    public void Clip_grad_norm_matches_PyTorch(string name, double maxNorm, double normType)
    {
        using var scope = torch.NewDisposeScope();
        var ps = Parameters(out _);
        var total = torch.nn.utils.clip_grad_norm_(ps, maxNorm, normType);
        fx.AssertClose(total, name, "total_norm");
        AssertGrads(name, ps);
    }

    [Fact]
    public void Clip_grad_value_matches_PyTorch()
    {
        using var scope = torch.NewDisposeScope();
        var ps = Parameters(out _);
        torch.nn.utils.clip_grad_value_(ps, 0.5);
        AssertGrads("clip_value", ps);
        var max = ps.Take(3).SelectMany(p => p.grad!.ToArray<float>()).Max(Math.Abs);
        Assert.Equal(0.5f, max);
    }

    [Fact]
    public void A_single_tensor_can_be_clipped()
    {
        using var scope = torch.NewDisposeScope();
        var p = torch.zeros([2], requires_grad: true);
        p.grad = torch.tensor(new[] { 3f, 4f });
        var total = torch.nn.utils.clip_grad_norm_(p, 1.0);
        Assert.Equal(5f, total.item<float>());
        var g = p.grad!.ToArray<float>();
        Assert.Equal(0.6f, g[0], 1e-6f);
        Assert.Equal(0.8f, g[1], 1e-6f);
        torch.nn.utils.clip_grad_value_(p, 0.7);
        Assert.Equal(0.7f, p.grad!.ToArray<float>()[1], 1e-7f);
    }

    [Fact]
    public void Without_gradients_the_norm_is_a_float32_zero()
    {
        using var scope = torch.NewDisposeScope();
        var total = torch.nn.utils.clip_grad_norm_([torch.zeros([3], requires_grad: true)], 1.0);
        Assert.Equal(ScalarType.Float32, total.dtype);
        Assert.Empty(total.shape);
        Assert.Equal(0f, total.item<float>());
    }

    [Fact]
    public void A_non_finite_norm_is_an_error_only_when_asked_for()
    {
        using var scope = torch.NewDisposeScope();
        var p = torch.zeros([2], requires_grad: true);
        p.grad = torch.tensor(new[] { float.NaN, 1f });
        var e = Assert.Throws<TorchException>(() => torch.nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite: true));
        Assert.Contains("The total norm of order 2.0 for gradients from `parameters` is non-finite", e.Message);
        Assert.Equal(1f, p.grad!.ToArray<float>()[1]);
        var total = torch.nn.utils.clip_grad_norm_(p, 1.0);
        Assert.True(float.IsNaN(total.item<float>()));
    }
}
