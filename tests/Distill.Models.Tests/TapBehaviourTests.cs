namespace Distill.Models.Tests;

/// <summary>What forward_taps does beyond shapes: same values whatever is requested, training vs evaluation, gradients, errors.</summary>
public class TapBehaviourTests
{
    [Theory]
    [MemberData(nameof(Zoo.ConfigNames), MemberType = typeof(Zoo))]
    public void A_tap_has_the_same_value_whatever_else_is_requested(string configName)
    {
        var config = Zoo.Config(configName);
        using var scope = torch.NewDisposeScope();
        using var model = config.Create();
        model.eval();
        var x = torch.randn([config.N, 3, config.H, config.W]);
        var label = config.Labels(config.N);
        var taps = Zoo.Taps(config.Model).Select(t => t.Name).ToList();
        using var all = Zoo.ForwardTaps(model, x, taps, label);
        foreach (var tap in taps)
        {
            using var one = Zoo.ForwardTaps(model, x, [tap], label);
            Assert.True(Zoo.Output(all, tap)!.equal(Zoo.Output(one, tap)!), $"{configName}.{tap} alone differs from {tap} among all taps");
        }
    }

    private static int CountCalls(Module model, string submodule, Action run)
    {
        var calls = 0;
        using var hook = ((Module<Tensor, Tensor>)model.get_submodule(submodule)).register_forward_hook((_, _, _) => calls++);
        run();
        return calls;
    }

    [Fact]
    public void Evaluation_stops_after_the_last_requested_tap_training_runs_to_the_end()
    {
        using var scope = torch.NewDisposeScope();
        using var model = CifarResNet.resnet8(classes: 10);
        var x = torch.randn([2, 3, 8, 8]);

        model.eval();
        Assert.Equal(0, CountCalls(model, "fc", () => model.forward_taps(x, CifarResNet.Taps.Stage1).Dispose()));
        Assert.Equal(0, CountCalls(model, "layer3.0", () => model.forward_taps(x, CifarResNet.Taps.Stage1).Dispose()));
        Assert.Equal(1, CountCalls(model, "layer3.0", () => model.forward_taps(x, CifarResNet.Taps.Stage3).Dispose()));
        Assert.Equal(1, CountCalls(model, "fc", () => model.forward_taps(x, CifarResNet.Taps.Stage1 | CifarResNet.Taps.Logits).Dispose()));
        Assert.Equal(0, CountCalls(model, "conv1", () => model.forward_taps(x, CifarResNet.Taps.None).Dispose()));

        // Training: batch norm updates its running statistics everywhere, whatever is requested.
        model.train();
        Assert.Equal(1, CountCalls(model, "fc", () => model.forward_taps(x, CifarResNet.Taps.Stem).Dispose()));
        foreach (var (name, buffer) in model.named_buffers().Where(b => b.name.EndsWith("num_batches_tracked", StringComparison.Ordinal)))
            Assert.True(buffer.item<long>() == 1, $"{name} = {buffer.item<long>()} after one training pass");
    }

    [Fact]
    public void Wide_resnet_runs_the_shared_batch_norm_once()
    {
        using var scope = torch.NewDisposeScope();
        using var model = WideResNet.wrn_16_1(classes: 10);
        model.train();
        var x = torch.randn([2, 3, 8, 8]);
        using (model.forward_taps(x, WideResNet.Taps.All)) { }
        // pre_stage1 is block2's first bn1 and pre_stage3 is bn1: tapping them must not run them twice.
        Assert.Equal(1, model.get_buffer("block2.layer.0.bn1.num_batches_tracked").item<long>());
        Assert.Equal(1, model.get_buffer("bn1.num_batches_tracked").item<long>());
    }

    [Fact]
    public void Outputs_reject_what_was_not_a_single_requested_tap()
    {
        using var scope = torch.NewDisposeScope();
        using var model = CifarResNet.resnet8(classes: 10);
        model.eval();
        var x = torch.randn([1, 3, 8, 8]);
        using var outputs = model.forward_taps(x, CifarResNet.Taps.Stem);
        Assert.Equal(CifarResNet.Taps.Stem, outputs.Requested);
        Assert.Throws<ArgumentException>(() => outputs.Get(CifarResNet.Taps.Stem | CifarResNet.Taps.Logits));
        Assert.Throws<ArgumentException>(() => outputs.Get(CifarResNet.Taps.None));
        Assert.Throws<InvalidOperationException>(() => outputs.Take(CifarResNet.Taps.Logits));
        var stem = outputs.Take(CifarResNet.Taps.Stem);
        Assert.Null(outputs.Stem);
        Assert.Throws<InvalidOperationException>(() => outputs.Take(CifarResNet.Taps.Stem));
        outputs.Dispose();
        Assert.False(stem.IsDisposed);
        Assert.Throws<ArgumentException>(() => model.forward_taps(x, (CifarResNet.Taps)(1L << 20)));
    }

    [Fact]
    public void Constructor_arguments_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CifarResNet(21));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CifarResNet(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CifarResNet(20, classes: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ResNet(20));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WideResNet(18));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WideResNet(16, dropout: 1.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MobileNetV2(width_percent: 101));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MobileNetV2(width_percent: 6));
    }

    [Fact]
    public void Factories_are_the_named_configurations()
    {
        using var scope = torch.NewDisposeScope();
        using var r = CifarResNet.resnet32x4(classes: 10);
        Assert.Equal((32, 10, 64, 32), (r.Depth, r.Classes, r.Width, r.StemChannels));
        using var w = WideResNet.wrn_40_2();
        Assert.Equal((40, 2, 100, 0.0), (w.Depth, w.WidenFactor, w.Classes, w.Dropout));
        using var m = MobileNetV2.mobile_half(classes: 10);
        Assert.Equal((10, 6, 50), (m.Classes, m.Expansion, m.WidthPercent));
        using var t = ResNet.resnet34(classes: 10);
        Assert.Equal((34, 10, 1), (t.Depth, t.Classes, t.Expansion));
    }
}

/// <summary>
/// Gradients through the taps. Alone in the sequential collection: dropout draws from the global
/// generator, which tests running beside it would advance between the seeding and the draw.
/// </summary>
[Collection(SequentialCollection.Name)]
public class TapGradientTests
{
    [Theory]
    [MemberData(nameof(Zoo.ConfigNames), MemberType = typeof(Zoo))]
    public void Gradients_flow_through_every_tap_and_match_forward(string configName)
    {
        var config = Zoo.Config(configName);
        using var scope = torch.NewDisposeScope();
        using var model = config.Create();
        model.train(); // batch statistics; dropout is drawn from the seeded generator below
        var x = torch.randn([config.N, 3, config.H, config.W]);
        var label = config.Labels(config.N);
        var taps = Zoo.Taps(config.Model).Select(t => t.Name).ToList();
        var weight = model.parameters().First();

        // A loss on every tap (pre-activation taps included, which keeps their ReLU out of place).
        torch.manual_seed(7);
        using (var outputs = Zoo.ForwardTaps(model, x, taps, label))
        {
            var loss = taps.Select(t => Zoo.Output(outputs, t)!.square().mean()).Aggregate((a, b) => a + b);
            loss.backward();
        }
        Assert.NotNull(weight.grad);
        Assert.True(weight.grad!.abs().sum().item<float>() > 0);

        // A loss on the logits only: forward_taps(x, Logits) and forward(x) give the same gradient.
        model.zero_grad();
        torch.manual_seed(7);
        using (var outputs = Zoo.ForwardTaps(model, x, ["logits"])) Zoo.Output(outputs, "logits")!.sum().backward();
        var viaTaps = weight.grad!.clone();
        model.zero_grad();
        torch.manual_seed(7);
        ((Module<Tensor, Tensor>)model).call(x).sum().backward();
        Assert.True(viaTaps.allclose(weight.grad!, rtol: 1e-5, atol: 1e-8), $"{configName}: gradients via forward_taps and forward differ");
    }
}
