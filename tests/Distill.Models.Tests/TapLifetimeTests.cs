namespace Distill.Models.Tests;

/// <summary>
/// forward_taps keeps exactly the requested tensors alive: every intermediate is freed by the time it
/// returns, and disposing the Outputs frees the rest (live native handles, counted process-wide).
/// </summary>
[Collection(SequentialCollection.Name)]
public class TapLifetimeTests
{
    public static IEnumerable<object[]> Cases() =>
        from config in Zoo.Configs
        from grad in new[] { false, true }
        select new object[] { config.Name, grad };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Only_the_requested_taps_stay_alive(string configName, bool grad)
    {
        var config = Zoo.Config(configName);
        using var model = config.Create();
        model.train(config.Training);
        using var x = torch.randn([config.N, 3, config.H, config.W]);
        using var label = config.Labels(config.N);
        using var gradMode = grad ? torch.enable_grad() : torch.no_grad();
        var taps = Zoo.Taps(config.Model).Select(t => t.Name).ToList();
        // forward_taps(x, Taps.All) once first, so that lazily created state (none expected) is not counted.
        using (Zoo.ForwardTaps(model, x, taps, label)) { }

        string[][] requests = [[], ["logits"], ["stage2"], ["stem", "logits"], [taps[^3], "stage1"], [.. taps]];
        foreach (var request in requests)
        {
            var before = SequentialCollection.SettledLiveCount();
            var outputs = Zoo.ForwardTaps(model, x, request, label);
            Assert.Equal(request.Length, SequentialCollection.SettledLiveCount() - before);
            Assert.All(request, t => Assert.NotNull(Zoo.Output(outputs, t)));
            outputs.Dispose();
            Assert.Equal(before, SequentialCollection.SettledLiveCount());
        }

        var start = SequentialCollection.SettledLiveCount();
        var logits = ((Module<Tensor, Tensor>)model).call(x);
        Assert.Equal(start + 1, SequentialCollection.SettledLiveCount());
        logits.Dispose();
        Assert.Equal(start, SequentialCollection.SettledLiveCount());
    }

    [Fact]
    public void Kept_taps_also_belong_to_the_callers_dispose_scope()
    {
        using var model = CifarResNet.resnet8(classes: 10);
        model.eval();
        using var x = torch.randn([2, 3, 8, 8]);
        var before = SequentialCollection.SettledLiveCount();
        CifarResNet.Outputs outputs;
        Tensor logits;
        using (torch.NewDisposeScope())
        {
            outputs = model.forward_taps(x, CifarResNet.Taps.Stage1 | CifarResNet.Taps.Logits);
            logits = outputs.Take(CifarResNet.Taps.Logits);
            Assert.Null(outputs.Logits);
            Assert.Equal(before + 2, SequentialCollection.SettledLiveCount());
        }
        Assert.True(outputs.Stage1!.IsDisposed);
        Assert.True(logits.IsDisposed);
        Assert.Equal(before, SequentialCollection.SettledLiveCount());
        outputs.Dispose(); // after the scope: harmless
    }

    [Fact]
    public void A_failing_pass_frees_everything()
    {
        using var model = CifarResNet.resnet8(classes: 10);
        using var x = torch.randn([2, 5, 8, 8]); // 5 channels: conv1 rejects it
        using var y = torch.randn([2, 3, 8, 8]);
        var before = SequentialCollection.SettledLiveCount();
        Assert.Throws<TorchException>(() => model.forward_taps(x, CifarResNet.Taps.All));
        Assert.Equal(before, SequentialCollection.SettledLiveCount());
        // A failure in stage 2, after stem and stage1 were kept.
        var conv = (Module<Tensor, Tensor>)model.get_submodule("layer2.0.conv1");
        using (conv.register_forward_pre_hook((_, input) => throw new InvalidOperationException("boom")))
        {
            var e = Assert.Throws<InvalidOperationException>(() => model.forward_taps(y, CifarResNet.Taps.All));
            Assert.Equal("boom", e.Message);
        }
        Assert.Equal(before, SequentialCollection.SettledLiveCount());
        using (model.forward_taps(y, CifarResNet.Taps.All)) { }
        Assert.Equal(before, SequentialCollection.SettledLiveCount());
    }
}
