using Distill.Torch.Modules;
using init = Distill.Torch.torch.nn.init;

namespace Distill.Torch.Tests;

/// <summary>
/// torch.nn.init and the modules' default initialisation: seeded draws equal PyTorch's (fixture:
/// tests/fixtures/python/make_modules.py), distributions have the documented bounds and spread, fans
/// and gains are exact. Seeding the global generator makes these tests run one at a time.
/// </summary>
[Collection(SequentialCollection.Name)]
public class InitTests
{
    private static readonly Fixture fx = Fixture.Load("modules");

    [Fact]
    public void Seeded_default_initialisation_equals_pytorchs()
    {
        using var scope = torch.NewDisposeScope();
        var modules = new (string name, ulong seed, Func<Module> make)[]
        {
            ("linear", 11, () => new Linear(7, 5)),
            ("conv2d", 12, () => new Conv2d(6, 4, (3, 2), groups: 2)),
            ("conv_transpose2d", 13, () => new ConvTranspose2d(4, 6, 3, groups: 2)),
            ("embedding", 14, () => new Embedding(6, 3, padding_idx: 2)),
        };
        foreach (var (name, seed, make) in modules)
        {
            torch.manual_seed(seed);
            using var module = make();
            foreach (var (key, value) in module.state_dict())
                fx.AssertClose(value, "init_" + name, key, rtol: 0, atol: 0);
        }
    }

    [Fact]
    public void Seeded_initialisers_draw_what_pytorch_draws()
    {
        using var scope = torch.NewDisposeScope();
        var cases = new (string name, ulong seed, long[] shape, Action<Tensor> fn)[]
        {
            ("uniform", 21, [3, 4], t => init.uniform_(t, -0.5, 2.0)),
            ("normal", 22, [3, 4], t => init.normal_(t, 1.0, 0.3)),
            ("trunc_normal", 23, [50, 40], t => init.trunc_normal_(t, mean: 0.1, std: 0.5, a: -0.4, b: 0.8)),
            ("xavier_uniform", 24, [6, 5, 3], t => init.xavier_uniform_(t, gain: init.calculate_gain("tanh"))),
            ("xavier_normal", 25, [6, 5], t => init.xavier_normal_(t, gain: 2.0)),
            ("kaiming_uniform", 26, [8, 4, 3, 3], t => init.kaiming_uniform_(t, a: 0.2)),
            ("kaiming_normal_fan_out", 27, [8, 4, 3, 3], t => init.kaiming_normal_(t, mode: "fan_out", nonlinearity: "relu")),
        };
        foreach (var (name, seed, shape, fn) in cases)
        {
            torch.manual_seed(seed);
            var t = torch.empty(shape);
            fn(t);
            // trunc_normal_'s erfinv may differ in the last bit between builds.
            fx.AssertClose(t, "init_" + name, "out", rtol: name == "trunc_normal" ? 1e-6 : 0, atol: 0);
        }
    }

    [Fact]
    public void Gains_are_pytorchs()
    {
        using var scope = torch.NewDisposeScope();
        double[] gains =
        [
            init.calculate_gain("linear"), init.calculate_gain("conv2d"), init.calculate_gain("sigmoid"), init.calculate_gain("tanh"),
            init.calculate_gain("relu"), init.calculate_gain("leaky_relu"), init.calculate_gain("selu"), init.calculate_gain("leaky_relu", 0.2),
        ];
        Assert.Equal(fx["init_gains", "out"].ToArray<double>(), gains);
        var ex = Assert.Throws<TorchException>(() => init.calculate_gain("swish"));
        Assert.Equal("Unsupported nonlinearity swish", ex.Message);
    }

    [Fact]
    public void Fans_count_the_receptive_field()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal((5L, 3L), init.calculate_fan_in_and_fan_out(torch.empty([3, 5])));
        Assert.Equal((4L * 3 * 2, 8L * 3 * 2), init.calculate_fan_in_and_fan_out(torch.empty([8, 4, 3, 2])));
        Assert.Equal((2L * 7, 6L * 7), init.calculate_fan_in_and_fan_out(torch.empty([6, 2, 7])));
        Assert.Equal((1L, 1L), init.calculate_fan_in_and_fan_out(torch.empty([1, 1, 1, 1, 1])));
        var ex = Assert.Throws<TorchException>(() => init.calculate_fan_in_and_fan_out(torch.empty([4])));
        Assert.Equal("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions", ex.Message);
        var mode = Assert.Throws<TorchException>(() => init.kaiming_normal_(torch.empty([2, 2]), mode: "fan_avg"));
        Assert.Equal("Mode fan_avg not supported, please use one of ['fan_in', 'fan_out']", mode.Message);
    }

    // A bound rounded to float32 may lie an ulp outside the double bound.
    private const double Float32Slack = 1 + 1e-6;

    private static (double min, double max, double mean, double std) Stats(Tensor t)
    {
        var v = t.to(ScalarType.Float64).ToArray<double>();
        var mean = v.Average();
        var std = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
        return (v.Min(), v.Max(), mean, std);
    }

    [Fact]
    public void Uniform_initialisers_respect_their_bounds_and_spread()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(5);
        // kaiming_uniform_ (relu, fan_in 256·9): bound √2·√(3/2304).
        var w = init.kaiming_uniform_(torch.empty([128, 256, 3, 3]), nonlinearity: "relu", generator: g);
        var bound = Math.Sqrt(2) * Math.Sqrt(3.0 / (256 * 9));
        var (min, max, mean, std) = Stats(w);
        Assert.InRange(min, -bound * Float32Slack, -bound * 0.999);
        Assert.InRange(max, bound * 0.999, bound * Float32Slack);
        Assert.InRange(mean, -bound * 0.01, bound * 0.01);
        Assert.InRange(std, bound / Math.Sqrt(3) * 0.99, bound / Math.Sqrt(3) * 1.01);
        // xavier_uniform_: a = gain·√(6/(fan_in+fan_out)).
        var x = init.xavier_uniform_(torch.empty([300, 500]), gain: 0.5, generator: g);
        var a = 0.5 * Math.Sqrt(6.0 / 800);
        (min, max, _, std) = Stats(x);
        Assert.InRange(min, -a * Float32Slack, -a * 0.999);
        Assert.InRange(max, a * 0.999, a * Float32Slack);
        Assert.InRange(std, a / Math.Sqrt(3) * 0.99, a / Math.Sqrt(3) * 1.01);
        // The default Linear initialisation: weight within 1/√fan_in (kaiming_uniform_ a=√5), bias too.
        torch.manual_seed(8);
        using var lin = new Linear(400, 300);
        var limit = 1 / Math.Sqrt(400);
        (min, max, _, std) = Stats(lin.weight);
        Assert.InRange(min, -limit * Float32Slack, -limit * 0.99);
        Assert.InRange(max, limit * 0.99, limit * Float32Slack);
        Assert.InRange(std, limit / Math.Sqrt(3) * 0.98, limit / Math.Sqrt(3) * 1.02);
        (min, max, _, _) = Stats(lin.bias!);
        Assert.InRange(min, -limit * Float32Slack, 0);
        Assert.InRange(max, 0, limit * Float32Slack);
    }

    [Fact]
    public void Normal_initialisers_have_the_documented_spread()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(6);
        // kaiming_normal_ fan_out relu on a conv weight: std √2/√(64·9).
        var (_, _, mean, std) = Stats(init.kaiming_normal_(torch.empty([64, 32, 3, 3]), mode: "fan_out", nonlinearity: "relu", generator: g));
        var expected = Math.Sqrt(2) / Math.Sqrt(64 * 9);
        Assert.InRange(std, expected * 0.98, expected * 1.02);
        Assert.InRange(mean, -expected * 0.02, expected * 0.02);
        (_, _, _, std) = Stats(init.xavier_normal_(torch.empty([200, 300]), generator: g));
        Assert.InRange(std, Math.Sqrt(2.0 / 500) * 0.98, Math.Sqrt(2.0 / 500) * 1.02);
        (_, _, mean, std) = Stats(init.normal_(torch.empty([100_000]), 3, 0.5, g));
        Assert.InRange(mean, 2.99, 3.01);
        Assert.InRange(std, 0.495, 0.505);
        // trunc_normal_: every value within [a, b]; the standard truncation at ±2σ has std ≈ 0.8796σ.
        var (min, max, tmean, tstd) = Stats(init.trunc_normal_(torch.empty([100_000]), std: 0.02, a: -0.04, b: 0.04, generator: g));
        Assert.InRange(min, -0.04, -0.039);
        Assert.InRange(max, 0.039, 0.04);
        Assert.InRange(tmean, -0.0003, 0.0003);
        Assert.InRange(tstd, 0.02 * 0.8796 * 0.99, 0.02 * 0.8796 * 1.01);
    }

    [Fact]
    public void Constant_initialisers_and_normalization_defaults()
    {
        using var scope = torch.NewDisposeScope();
        var t = torch.empty([3, 2], requires_grad: true);
        init.constant_(t, 0.25);
        Assert.All(t.ToArray<float>(), v => Assert.Equal(0.25f, v));
        Assert.True(t.is_leaf); // filled outside autograd
        init.ones_(t);
        Assert.All(t.ToArray<float>(), v => Assert.Equal(1f, v));
        init.zeros_(t);
        Assert.All(t.ToArray<float>(), v => Assert.Equal(0f, v));
        using var bn = new BatchNorm2d(4);
        Assert.All(bn.weight!.ToArray<float>(), v => Assert.Equal(1f, v));
        Assert.All(bn.bias!.ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.All(bn.running_mean!.ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.All(bn.running_var!.ToArray<float>(), v => Assert.Equal(1f, v));
        Assert.Equal(0L, bn.num_batches_tracked!.item<long>());
        using var ln = new LayerNorm(5);
        Assert.All(ln.weight!.ToArray<float>(), v => Assert.Equal(1f, v));
        using var gn = new GroupNorm(2, 4);
        Assert.All(gn.bias!.ToArray<float>(), v => Assert.Equal(0f, v));
        using var emb = new Embedding(4, 3, padding_idx: -1);
        Assert.Equal(3L, emb.padding_idx);
        Assert.Equal([0f, 0f, 0f], emb.weight.ToArray<float>()[9..]);
        // Zero-element tensors are left alone, as in PyTorch.
        Assert.Equal(0, init.kaiming_uniform_(torch.empty([0, 3])).numel());
    }
}
