using Distill.Losses;

namespace Distill.Losses.Tests;

public class ClassicTests
{
    private static readonly Fixture Fx = Fixture.Load("classic");

    [Theory]
    [InlineData("hinton_kd_b4_k10_T4.0", 4.0)]
    [InlineData("hinton_kd_b1_k3_T1.0", 1.0)]
    [InlineData("hinton_kd_b16_k100_T2.5", 2.5)]
    [InlineData("hinton_kd_b8_k5_T0.5", 0.5)]
    public void Hinton_kd_matches_PyTorch_value_and_gradient(string c, double temperature)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var t = Fx.Input(c, "teacher");
        var loss = Classic.hinton_kd(s, t, temperature);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(s.grad!, c, "grad_student", 1e-4, 1e-6);
    }

    [Fact]
    public void Hinton_kd_rejects_bad_input_naming_loss_argument_and_shapes()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.hinton_kd(torch.zeros([4, 10]), torch.zeros([4, 12])));
        Assert.Equal("hinton_kd: student [4, 10] and teacher [4, 12] must have the same shape (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Classic.hinton_kd(torch.zeros([4, 10]), torch.zeros([4, 10]), 0));
        Assert.Contains("temperature must be > 0, got 0", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Classic.hinton_kd(torch.zeros([0, 10]), torch.zeros([0, 10])));
        Assert.Contains("student is an empty batch [0, 10]", e.Message);
    }
}
