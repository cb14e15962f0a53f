namespace Distill.Runtime.Tests;

public class DivergenceGuardTests
{
    private static void Observe(DivergenceGuard guard, double total, double[] terms, int epoch, long step)
    {
        using var scope = torch.NewDisposeScope();
        guard.Observe(torch.tensor((float)total), terms.Select(t => torch.tensor((float)t)).ToArray(), epoch, step);
    }

    [Fact]
    public void The_message_names_the_term_the_epoch_the_step_the_value_and_the_last_finite_value()
    {
        using var guard = new DivergenceGuard(["ce", "kd"]);
        Observe(guard, 3.0, [1.0, 2.0], 3, 1205);
        Observe(guard, 3.31, [1.0, 2.31], 3, 1206);
        var e = Assert.Throws<TrainingDivergedException>(() => Observe(guard, double.NaN, [1.0, double.NaN], 3, 1207));
        Assert.StartsWith("loss term 'kd' became NaN at epoch 3, step 1207 (total loss NaN); last finite value 2.31.", e.Message);
        Assert.Equal("kd", e.Term);
        Assert.Equal((3, 1207L), (e.Epoch, e.Step));
        Assert.True(double.IsNaN(e.Value));
        Assert.Equal(2.31, e.LastFiniteValue!.Value, 5);
        Assert.Equal(1.0, e.Terms["ce"]);
    }

    [Fact]
    public void Checking_every_few_steps_still_reports_the_exact_first_step()
    {
        using var guard = new DivergenceGuard(["ce", "kd"], checkEvery: 4);
        Observe(guard, 1.5, [1.0, 0.5], 1, 10);
        Observe(guard, float.PositiveInfinity, [float.PositiveInfinity, 0.5], 1, 11); // not checked yet
        Observe(guard, double.NaN, [double.NaN, double.NaN], 1, 12);
        var e = Assert.Throws<TrainingDivergedException>(() => Observe(guard, 1.0, [0.5, 0.5], 1, 13));
        Assert.StartsWith("loss term 'ce' became Inf at epoch 1, step 11 (total loss Inf); last finite value 1.", e.Message);
        Assert.Equal(11, e.Step);
    }

    [Fact]
    public void Flush_checks_a_partial_window()
    {
        using var guard = new DivergenceGuard(["ce"], checkEvery: 100);
        Observe(guard, 1.0, [1.0], 2, 7);
        Observe(guard, double.NegativeInfinity, [double.NegativeInfinity], 2, 8);
        var e = Assert.Throws<TrainingDivergedException>(guard.Flush);
        Assert.StartsWith("loss term 'ce' became -Inf at epoch 2, step 8", e.Message);
    }

    [Fact]
    public void Every_non_finite_term_of_the_step_is_listed_and_the_first_in_term_order_is_blamed()
    {
        using var guard = new DivergenceGuard(["ce", "fitnet", "kd"]);
        var e = Assert.Throws<TrainingDivergedException>(() => Observe(guard, double.NaN, [0.5, double.PositiveInfinity, double.NaN], 1, 1));
        Assert.StartsWith("loss term 'fitnet' became Inf at epoch 1, step 1 (total loss NaN; also non-finite: 'kd' NaN); it was never finite before.", e.Message);
    }

    [Fact]
    public void A_total_that_overflows_while_every_term_is_finite_is_reported_as_such()
    {
        using var guard = new DivergenceGuard(["a", "b"]);
        Observe(guard, 2.0, [1.0, 1.0], 5, 99);
        var e = Assert.Throws<TrainingDivergedException>(() => Observe(guard, float.PositiveInfinity, [3e38, 3e38], 5, 100));
        Assert.Null(e.Term);
        Assert.StartsWith("the total loss became Inf at epoch 5, step 100 although every term is finite (a 3E+38, b 3E+38): the weighted sum overflowed; last finite value 2.", e.Message);
    }

    [Fact]
    public void Finite_losses_pass_and_update_the_last_finite_values()
    {
        using var guard = new DivergenceGuard(["ce", "kd"], checkEvery: 2);
        Observe(guard, 1.5, [1.0, 0.5], 1, 1);
        Observe(guard, 1.25, [1.0, 0.25], 1, 2);
        Assert.Equal(0.25, guard.LastFinite("kd"));
        Assert.Equal(1.25, guard.LastFinite("total"));
    }

    [Fact]
    public void Values_already_on_the_host_are_checked_the_same_way()
    {
        var guard = new DivergenceGuard(["ce", "kd"]);
        guard.Check(3.0, [1.0, 2.0], 1, 1);
        var e = Assert.Throws<TrainingDivergedException>(() => guard.Check(double.NaN, [double.NaN, 2.0], 1, 2));
        Assert.StartsWith("loss term 'ce' became NaN at epoch 1, step 2 (total loss NaN); last finite value 1.", e.Message);
    }

    [Fact]
    public void A_wrong_number_of_terms_is_an_argument_error()
    {
        using var guard = new DivergenceGuard(["ce", "kd"]);
        using var t = torch.tensor(1.0f);
        var e = Assert.Throws<ArgumentException>(() => guard.Observe(t, [t], 1, 1));
        Assert.Contains("expected 2 loss terms (ce, kd), got 1", e.Message);
        Assert.Throws<ArgumentException>(() => new DivergenceGuard(["ce", "ce"]));
    }
}
