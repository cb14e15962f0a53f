using Distill.Torch.Modules;
using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Tests;

/// <summary>channels_last layouts (tensors, modules, checkpoints) and autocast scopes with the gradient scaler.</summary>
public class MixedPrecisionAndLayoutTests
{
    [Fact]
    public void Channels_last_keeps_the_values_and_changes_only_the_layout()
    {
        using var g = new Generator(1);
        using var x = torch.randn([2, 3, 4, 5], generator: g);
        using var y = x.contiguous(MemoryFormat.ChannelsLast);
        Assert.True(y.is_contiguous(MemoryFormat.ChannelsLast));
        Assert.False(y.is_contiguous());
        Assert.Equal(x.shape, y.shape);
        Assert.True(x.equal(y));
        using var back = y.contiguous(MemoryFormat.Contiguous);
        Assert.True(back.is_contiguous());
        var error = Assert.Throws<TorchException>(() => torch.randn([2, 3]).contiguous(MemoryFormat.ChannelsLast));
        Assert.Contains("rank 4", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_channels_last_module_computes_the_same_and_saves_in_the_default_layout()
    {
        var reference = new Sequential(new Conv2d(3, 6, 3, padding: 1), new BatchNorm2d(6), new ReLU(), new Conv2d(6, 4, 1));
        // The same weights by copying, not by re-seeding: tests in other classes draw from the global generator in parallel.
        var model = new Sequential(new Conv2d(3, 6, 3, padding: 1), new BatchNorm2d(6), new ReLU(), new Conv2d(6, 4, 1));
        model.load_state_dict(reference.state_dict());
        model.to(MemoryFormat.ChannelsLast);
        Assert.True(((Conv2d)model[0]).weight.is_contiguous(MemoryFormat.ChannelsLast));
        Assert.True(((Conv2d)model[0]).bias!.is_contiguous());   // only 4-D tensors change layout

        using var g = new Generator(3);
        using var x = torch.randn([2, 3, 8, 8], generator: g);
        using var expected = reference.forward(x);
        using var xl = x.contiguous(MemoryFormat.ChannelsLast);
        using var actual = model.forward(xl);
        Assert.True(actual.is_contiguous(MemoryFormat.ChannelsLast));
        Assert.True(expected.allclose(actual, rtol: 1e-4, atol: 1e-5));
        actual.sum().backward();
        Assert.NotNull(((Conv2d)model[0]).weight.grad);

        var file = Path.Combine(Path.GetTempPath(), $"distill-cl-{Guid.NewGuid():N}.safetensors");
        try
        {
            Safetensors.Save(file, model.state_dict());
            var loaded = Safetensors.Load(file);
            var weight = loaded["0.weight"];
            Assert.True(weight.is_contiguous());
            Assert.True(weight.equal(((Conv2d)model[0]).weight));
            var fresh = new Sequential(new Conv2d(3, 6, 3, padding: 1), new BatchNorm2d(6), new ReLU(), new Conv2d(6, 4, 1));
            fresh.load_state_dict(loaded);
            using var again = fresh.forward(x);
            Assert.True(expected.allclose(again, rtol: 1e-4, atol: 1e-5));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Autocast_on_the_cpu_runs_matmuls_in_bfloat16_and_restores_the_state_on_exit()
    {
        using var a = torch.ones([4, 4]);
        Assert.False(torch.is_autocast_enabled(DeviceType.CPU));
        using (torch.autocast(DeviceType.CPU))
        {
            Assert.True(torch.is_autocast_enabled(DeviceType.CPU));
            using var product = a.matmul(a);
            Assert.Equal(ScalarType.BFloat16, product.dtype);
            using (torch.autocast(DeviceType.CPU, enabled: false))
            {
                using var inner = a.matmul(a);
                Assert.Equal(ScalarType.Float32, inner.dtype);
            }
            Assert.True(torch.is_autocast_enabled(DeviceType.CPU));
            using var again = a.matmul(a);
            Assert.Equal(ScalarType.BFloat16, again.dtype);
        }
        Assert.False(torch.is_autocast_enabled(DeviceType.CPU));
        using var after = a.matmul(a);
        Assert.Equal(ScalarType.Float32, after.dtype);
        var error = Assert.Throws<TorchException>(() => torch.autocast(DeviceType.CPU, ScalarType.Float16));
        Assert.Contains("CPU autocast supports torch.bfloat16 only", error.Message);
    }

    [Fact]
    public void A_bfloat16_forward_gives_float32_gradients_close_to_float32s()
    {
        torch.manual_seed(4);
        var model = new Sequential(new Linear(16, 32), new ReLU(), new Linear(32, 5));
        using var g = new Generator(5);
        using var x = torch.randn([8, 16], generator: g);
        using var target = torch.randint(0, 5, [8], generator: g);
        F.cross_entropy(model.forward(x), target).backward();
        var expected = ((Linear)model[0]).weight.grad!.ToArray<float>();
        model.zero_grad();
        Tensor loss;
        using (torch.autocast(DeviceType.CPU)) loss = F.cross_entropy(model.forward(x), target);
        loss.backward();
        var grad = ((Linear)model[0]).weight.grad!;
        Assert.Equal(ScalarType.Float32, grad.dtype);
        var actual = grad.ToArray<float>();
        var scale = expected.Max(Math.Abs);
        Assert.All(expected.Zip(actual), p => Assert.True(Math.Abs(p.First - p.Second) <= 0.05 * scale, $"{p.First} vs {p.Second}"));
    }

    [Fact]
    public void The_grad_scaler_unscales_skips_an_overflowing_step_and_backs_off()
    {
        var p = torch.ones([3]).requires_grad_();
        var optimizer = torch.optim.SGD([p], lr: 1.0);
        var scaler = new GradScaler(init_scale: 8, growth_interval: 2);
        scaler.scale((p * 2).sum()).backward();
        Assert.Equal([16f, 16f, 16f], p.grad!.ToArray<float>());
        Assert.True(scaler.step(optimizer));                   // unscaled to 2, stepped: 1 - 2
        Assert.Equal([-1f, -1f, -1f], p.ToArray<float>());
        scaler.update();
        Assert.Equal(8, scaler.Scale);
        optimizer.zero_grad();
        scaler.scale((p * 2).sum()).backward();
        scaler.step(optimizer);
        scaler.update();                                      // two clean steps: the scale doubles
        Assert.Equal(16, scaler.Scale);

        optimizer.zero_grad();
        scaler.scale((p * float.PositiveInfinity).sum()).backward();
        var before = p.ToArray<float>();
        Assert.False(scaler.step(optimizer));                  // an infinite gradient: no step
        Assert.Equal(before, p.ToArray<float>());
        scaler.update();
        Assert.Equal(8, scaler.Scale);
        Assert.Equal(0, scaler.GrowthTracker);
    }
}
