namespace Distill.Torch.Tests;

/// <summary>
/// Learning-rate schedules against PyTorch 1.13: "&lt;case&gt;/lrs" holds get_last_lr() after construction
/// and after each of 30 steps, for SGD over two groups with lr 0.1 and 0.05.
/// </summary>
public class LrSchedulerTests
{
    private const int Epochs = 30;
    private static readonly Fixture fx = Fixture.Load("optim");

    public static TheoryData<string> Cases => new()
    {
        "step", "multistep", "exponential", "constant", "linear", "linear_decay", "polynomial", "cosine", "cosine_full",
        "lambda", "lambda_groups", "warmup_cosine", "sequential3",
    };

    private static Optimizer Sgd() =>
        torch.optim.SGD([new ParamGroup([torch.zeros([1], requires_grad: true)]),
                         new ParamGroup([torch.zeros([1], requires_grad: true)]) { lr = 0.05 }], lr: 0.1);

    private static LRScheduler Make(string name, Optimizer o) => name switch
    {
        "step" => torch.optim.lr_scheduler.StepLR(o, step_size: 7, gamma: 0.5),
        "multistep" => torch.optim.lr_scheduler.MultiStepLR(o, milestones: [5, 12, 12, 20], gamma: 0.3),
        "exponential" => torch.optim.lr_scheduler.ExponentialLR(o, gamma: 0.9),
        "constant" => torch.optim.lr_scheduler.ConstantLR(o, factor: 0.5, total_iters: 4),
        "linear" => torch.optim.lr_scheduler.LinearLR(o, start_factor: 0.1, end_factor: 1.0, total_iters: 8),
        "linear_decay" => torch.optim.lr_scheduler.LinearLR(o, start_factor: 1.0, end_factor: 0.2, total_iters: 10),
        "polynomial" => torch.optim.lr_scheduler.PolynomialLR(o, total_iters: 20, power: 2.0),
        "cosine" => torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max: 10, eta_min: 0.001),
        "cosine_full" => torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max: 30),
        "lambda" => torch.optim.lr_scheduler.LambdaLR(o, e => Math.Pow(0.95, e)),
        "lambda_groups" => torch.optim.lr_scheduler.LambdaLR(o, [e => 1.0 / (e + 1), e => e >= 10 ? 0.5 : 1.0]),
        "warmup_cosine" => torch.optim.lr_scheduler.SequentialLR(o,
            [torch.optim.lr_scheduler.LinearLR(o, start_factor: 0.1, total_iters: 5), torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max: 25, eta_min: 1e-4)],
            milestones: [5]),
        "sequential3" => torch.optim.lr_scheduler.SequentialLR(o,
            [torch.optim.lr_scheduler.ConstantLR(o, factor: 0.25, total_iters: 3), torch.optim.lr_scheduler.ExponentialLR(o, gamma: 0.8),
             torch.optim.lr_scheduler.StepLR(o, step_size: 4, gamma: 0.5)],
            milestones: [3, 10]),
        _ => throw new ArgumentException(name),
    };

    /// <summary>Row <paramref name="epoch"/> of the fixture's [31, 2] learning rates.</summary>
    private static double[] Expected(string name, int epoch) => fx[name, "lrs"].ToArray<double>().Skip(2 * epoch).Take(2).ToArray();

    // Double arithmetic in the same order as PyTorch's Python: equal up to libm's last bit.
    private static void AssertLrs(double[] expected, IReadOnlyList<double> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Count);
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-12 * Math.Abs(expected[i]) + 1e-15,
                $"{what}, group {i}: lr {actual[i]:R}, expected {expected[i]:R}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Learning_rates_match_PyTorch(string name)
    {
        using var scope = torch.NewDisposeScope();
        using var opt = Sgd();
        var scheduler = Make(name, opt);
        AssertLrs(Expected(name, 0), scheduler.get_last_lr(), $"{name} after construction");
        for (var epoch = 1; epoch <= Epochs; epoch++)
        {
            opt.step();
            scheduler.step();
            AssertLrs(Expected(name, epoch), scheduler.get_last_lr(), $"{name} epoch {epoch}");
            AssertLrs(Expected(name, epoch), opt.param_groups.Select(g => g.lr).ToArray(), $"{name} epoch {epoch} (param_groups)");
        }
        Assert.Equal(Epochs, scheduler.last_epoch);
    }

    public static TheoryData<string> ResumeCases => new() { "step", "multistep", "cosine", "linear", "warmup_cosine", "sequential3", "lambda" };

    [Theory]
    [MemberData(nameof(ResumeCases))]
    public void Resuming_from_state_dicts_continues_the_sequence(string name)
    {
        using var scope = torch.NewDisposeScope();
        string optimizerJson, schedulerJson;
        OptimizerState optimizerState;
        using (var opt = Sgd())
        {
            var scheduler = Make(name, opt);
            for (var epoch = 1; epoch <= 12; epoch++)
            {
                opt.step();
                scheduler.step();
            }
            optimizerState = opt.state_dict();
            optimizerJson = optimizerState.Json;
            schedulerJson = scheduler.state_dict();
        }

        // The documented order: build both as before, then load the optimizer's state and the scheduler's.
        using var fresh = Sgd();
        var resumed = Make(name, fresh);
        fresh.load_state_dict(new OptimizerState(optimizerState.Tensors, optimizerJson));
        resumed.load_state_dict(schedulerJson);
        Assert.Equal(12, resumed.last_epoch);
        AssertLrs(Expected(name, 12), resumed.get_last_lr(), $"{name} resumed");
        for (var epoch = 13; epoch <= Epochs; epoch++)
        {
            fresh.step();
            resumed.step();
            AssertLrs(Expected(name, epoch), resumed.get_last_lr(), $"{name} resumed, epoch {epoch}");
        }
    }

    [Fact]
    public void State_dict_uses_PyTorchs_field_names()
    {
        using var scope = torch.NewDisposeScope();
        using var opt = Sgd();
        var scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size: 3, gamma: 0.5);
        scheduler.step();
        using var doc = System.Text.Json.JsonDocument.Parse(scheduler.state_dict());
        var root = doc.RootElement;
        Assert.Equal(1, root.GetProperty("last_epoch").GetInt32());
        Assert.Equal(2, root.GetProperty("_step_count").GetInt32());
        Assert.Equal([0.1, 0.05], root.GetProperty("base_lrs").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal(3, root.GetProperty("step_size").GetInt32());
        Assert.Equal(0.5, root.GetProperty("gamma").GetDouble());
        Assert.Equal(0.1, opt.param_groups[0].initial_lr);
        Assert.Equal(0.05, opt.param_groups[1].initial_lr);
    }

    [Fact]
    public void Stepping_to_an_epoch_uses_the_closed_form()
    {
        using var scope = torch.NewDisposeScope();
        using var opt = Sgd();
        var step = torch.optim.lr_scheduler.StepLR(opt, step_size: 4, gamma: 0.5);
        step.step(9);
        AssertLrs([0.1 * 0.25, 0.05 * 0.25], step.get_last_lr(), "StepLR at epoch 9");
        var cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max: 10);
        cosine.step(5);
        AssertLrs([0.05, 0.025], cosine.get_last_lr(), "CosineAnnealingLR at epoch 5");
    }

    [Fact]
    public void A_learning_rate_changed_outside_composes_with_the_recursive_form()
    {
        using var scope = torch.NewDisposeScope();
        using var opt = Sgd();
        var scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma: 0.5);
        opt.param_groups[0].lr = 1.0;
        scheduler.step();
        Assert.Equal(0.5, opt.param_groups[0].lr);
        Assert.Equal(0.025, opt.param_groups[1].lr);
    }

    [Fact]
    public void Invalid_schedules_are_rejected()
    {
        using var scope = torch.NewDisposeScope();
        using var opt = Sgd();
        using var other = Sgd();
        Assert.Contains("param 'initial_lr' is not specified in param_groups[0]",
            Assert.Throws<TorchException>(() => torch.optim.lr_scheduler.StepLR(opt, 3, last_epoch: 5)).Message);
        Assert.Contains("Expected 2 lr_lambdas, but got 1",
            Assert.Throws<TorchException>(() => torch.optim.lr_scheduler.LambdaLR(opt, [e => 1.0])).Message);
        Assert.Contains("Constant multiplicative factor expected to be between 0 and 1",
            Assert.Throws<TorchException>(() => torch.optim.lr_scheduler.ConstantLR(opt, factor: 2)).Message);
        Assert.Contains("Starting multiplicative factor expected to be between 0 and 1",
            Assert.Throws<TorchException>(() => torch.optim.lr_scheduler.LinearLR(opt, start_factor: -0.1)).Message);
        Assert.Contains("step_size must be at least 1", Assert.Throws<TorchException>(() => torch.optim.lr_scheduler.StepLR(opt, 0)).Message);
        var a = torch.optim.lr_scheduler.LinearLR(opt);
        var b = torch.optim.lr_scheduler.ExponentialLR(other, 0.9);
        Assert.Contains("to be different than the optimizer passed in",
            Assert.Throws<TorchException>(() => torch.optim.lr_scheduler.SequentialLR(opt, [a, b], [3])).Message);
        Assert.Contains("number of milestones to be equal to 2",
            Assert.Throws<TorchException>(() => torch.optim.lr_scheduler.SequentialLR(opt, [a], [3, 4])).Message);
        var sequential = torch.optim.lr_scheduler.SequentialLR(opt, [a, torch.optim.lr_scheduler.ExponentialLR(opt, 0.9)], [3]);
        Assert.Throws<TorchException>(() => sequential.step(4));
        Assert.Contains("not valid JSON", Assert.Throws<TorchException>(() => a.load_state_dict("{")).Message);
        Assert.Contains("'last_epoch' is \"x\", expected an integer",
            Assert.Throws<TorchException>(() => a.load_state_dict("{\"last_epoch\":\"x\"}")).Message);
        Assert.Contains("'_schedulers' must be a list of 2 scheduler states",
            Assert.Throws<TorchException>(() => sequential.load_state_dict("{\"_schedulers\":[]}")).Message);
    }
}
