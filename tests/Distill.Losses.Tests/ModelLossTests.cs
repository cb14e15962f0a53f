namespace Distill.Losses.Tests;

public class ModelLossTests
{
    [Fact]
    public void The_models_own_loss_passes_through_with_its_gradient_and_outlives_the_tap()
    {
        using var w = torch.tensor(new[] { 2f }).requires_grad_(true);
        var tap = (w * w).sum();
        using var term = ModelLoss.model_loss(tap);
        tap.Dispose();
        Assert.Equal(0, term.dim());
        Assert.Equal(4f, term.item<float>());
        term.backward();
        Assert.Equal(4f, w.grad!.item<float>());
    }

    [Fact]
    public void A_one_element_loss_becomes_a_scalar()
    {
        using var v = torch.tensor(new[] { 1.5f });
        using var term = ModelLoss.model_loss(v);
        Assert.Equal(0, term.dim());
        Assert.Equal(1.5f, term.item<float>());
    }

    [Fact]
    public void Anything_but_a_floating_point_scalar_is_an_error_naming_the_argument()
    {
        using var many = torch.zeros([3]);
        var e = Assert.Throws<LossArgumentException>(() => ModelLoss.model_loss(many));
        Assert.Contains("value must be a scalar loss, got [3]", e.Message);
        using var integer = torch.tensor(new[] { 1L });
        Assert.Contains("floating point", Assert.Throws<LossArgumentException>(() => ModelLoss.model_loss(integer)).Message);
    }
}
