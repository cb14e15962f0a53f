using Distill.Torch.Modules;
using Distill.Torch.Tests.Models;

namespace Distill.Torch.Tests;

/// <summary>
/// nn modules against PyTorch (fixture: tests/fixtures/python/make_modules.py): state_dict names and
/// order, printouts, forward and gradients in train and eval mode, running statistics, loading errors.
/// </summary>
public class ModuleTests
{
    private static readonly Fixture fx = Fixture.Load("modules");
    private static readonly Lazy<IReadOnlyDictionary<string, string>> s_meta = new(() =>
    {
        using var content = Safetensors.Read(Path.Combine(AppContext.BaseDirectory, "fixtures", "modules.safetensors"));
        return content.Metadata;
    });

    /// <summary>A newline-separated list from the fixture's metadata (PyTorch's names in PyTorch's order).</summary>
    internal static string[] MetaList(string key) =>
        s_meta.Value[key] is var text && text.Length > 0 ? text.Split('\n') : [];

    internal static string Meta(string key) => s_meta.Value[key];

    private sealed record ModuleCase(Func<Module> Make, Func<Module, Tensor, Tensor?, Tensor> Run);

    private static ModuleCase Layer(Func<Module<Tensor, Tensor>> make) => new(make, (m, x, _) => ((Module<Tensor, Tensor>)m).call(x));

    private static ModuleCase Criterion(Func<Loss> make) => new(make, (m, x, t) => ((Loss)m).call(x, t!));

    // Each fixture case "mod_<name>": our module built with the arguments PyTorch's was built with.
    private static readonly Dictionary<string, ModuleCase> ModuleCases = new()
    {
        ["linear"] = Layer(() => new Linear(5, 3)),
        ["linear_nobias"] = Layer(() => torch.nn.Linear(5, 3, bias: false)),
        ["conv2d"] = Layer(() => new Conv2d(4, 6, 3, stride: 2, padding: 1, groups: 2)),
        ["conv2d_reflect"] = Layer(() => new Conv2d(3, 2, (3, 2), padding: (1, 2), dilation: (1, 2), bias: false, padding_mode: "reflect")),
        ["conv2d_circular"] = Layer(() => new Conv2d(2, 3, 3, padding: 1, padding_mode: "circular")),
        ["conv_transpose2d"] = Layer(() => torch.nn.ConvTranspose2d(4, 2, 3, stride: 2, padding: 1, output_padding: 1)),
        ["batchnorm2d"] = Layer(() => new BatchNorm2d(3, momentum: 0.2)),
        ["batchnorm2d_no_affine"] = Layer(() => new BatchNorm2d(3, affine: false, eps: 1e-3)),
        ["batchnorm2d_no_running"] = Layer(() => new BatchNorm2d(3, track_running_stats: false)),
        ["batchnorm1d"] = Layer(() => torch.nn.BatchNorm1d(5)),
        ["batchnorm1d_3d"] = Layer(() => new BatchNorm1d(4)),
        ["batchnorm2d_cumulative"] = Layer(() => new BatchNorm2d(2, momentum: null)),
        ["layernorm"] = Layer(() => new LayerNorm(new long[] { 4, 5 })),
        ["layernorm_no_affine"] = Layer(() => torch.nn.LayerNorm(6, eps: 1e-3, elementwise_affine: false)),
        ["groupnorm"] = Layer(() => new GroupNorm(2, 6)),
        ["relu"] = Layer(() => torch.nn.ReLU()),
        ["leaky_relu"] = Layer(() => torch.nn.LeakyReLU(0.1)),
        ["prelu"] = Layer(() => torch.nn.PReLU()),
        ["prelu_channels"] = Layer(() => new PReLU(4, init: 0.1)),
        ["gelu"] = Layer(() => torch.nn.GELU(approximate: "tanh")),
        ["silu"] = Layer(() => torch.nn.SiLU()),
        ["sigmoid"] = Layer(() => torch.nn.Sigmoid()),
        ["tanh"] = Layer(() => torch.nn.Tanh()),
        ["softmax"] = Layer(() => torch.nn.Softmax(dim: 1)),
        ["log_softmax"] = Layer(() => torch.nn.LogSoftmax(dim: -1)),
        ["dropout_eval"] = Layer(() => torch.nn.Dropout(0.3)),
        ["maxpool2d"] = Layer(() => torch.nn.MaxPool2d(3, stride: 2, padding: 1)),
        ["maxpool2d_ceil"] = Layer(() => new MaxPool2d((2, 3), dilation: (2, 1), ceil_mode: true)),
        ["avgpool2d"] = Layer(() => torch.nn.AvgPool2d(2)),
        ["adaptive_avgpool2d"] = Layer(() => torch.nn.AdaptiveAvgPool2d((1, 1))),
        ["adaptive_maxpool2d"] = Layer(() => torch.nn.AdaptiveMaxPool2d(2)),
        ["identity"] = Layer(() => torch.nn.Identity()),
        ["flatten"] = Layer(() => torch.nn.Flatten()),
        ["embedding"] = Layer(() => torch.nn.Embedding(10, 4, padding_idx: 1)),
        ["cross_entropy_loss"] = Criterion(() => torch.nn.CrossEntropyLoss(weight: fx["mod_cross_entropy_loss", "sd.weight"], label_smoothing: 0.1)),
        ["kl_div_loss"] = Criterion(() => torch.nn.KLDivLoss(reduction: "batchmean")),
        ["mse_loss"] = Criterion(() => torch.nn.MSELoss(reduction: "sum")),
        ["bce_with_logits_loss"] = Criterion(() => torch.nn.BCEWithLogitsLoss(pos_weight: fx["mod_bce_with_logits_loss", "sd.pos_weight"])),
    };

    public static TheoryData<string> ModuleCaseNames => new(ModuleCases.Keys.Order());

    /// <summary>The fixture's state of a case (entries "prefix.key" for our module's keys).</summary>
    private static Dictionary<string, Tensor> FixtureState(string testCase, IEnumerable<string> keys, string prefix) =>
        keys.ToDictionary(k => k, k => fx[testCase, prefix + k]);

    [Theory]
    [MemberData(nameof(ModuleCaseNames))]
    public void Module_matches_pytorch_in_train_and_eval(string name)
    {
        using var scope = torch.NewDisposeScope();
        var c = ModuleCases[name];
        var testCase = "mod_" + name;
        using var module = c.Make();
        var keys = module.state_dict().Keys.ToArray();
        Assert.Equal(MetaList(testCase + "/keys"), keys);
        Assert.Equal(Meta(testCase + "/repr"), module.ToString());
        module.load_state_dict(FixtureState(testCase, keys, "sd."));
        var target = fx.Has(testCase, "target") ? fx[testCase, "target"] : null;

        if (fx.Has(testCase, "out_train"))
        {
            Assert.Same(module, module.train());
            Assert.True(module.training);
            var x = fx.Input(testCase, "x", requiresGrad: fx.Has(testCase, "grad_x"));
            var output = c.Run(module, x, target);
            fx.AssertClose(output, testCase, "out_train", 1e-5, 1e-5);
            if (fx.Has(testCase, "gout"))
            {
                output.backward(fx[testCase, "gout"]);
                if (fx.Has(testCase, "grad_x")) fx.AssertClose(x.grad!, testCase, "grad_x", 1e-4, 1e-5);
                foreach (var (pname, p) in module.named_parameters())
                    fx.AssertClose(p.grad!, testCase, "grad." + pname, 1e-4, 1e-5);
            }
            foreach (var (key, value) in module.state_dict())
                fx.AssertClose(value, testCase, "after." + key, 1e-5, 1e-6);
        }

        module.eval();
        Assert.False(module.training);
        using (torch.no_grad())
            fx.AssertClose(c.Run(module, fx[testCase, "x"], target), testCase, "out_eval", 1e-5, 1e-5);
    }

    [Fact]
    public void Every_module_fixture_case_is_tested()
    {
        var cases = fx.Cases.Where(c => c.StartsWith("mod_", StringComparison.Ordinal)).Select(c => c[4..]).ToList();
        Assert.Equal(cases.Order(), ModuleCases.Keys.Order());
    }

    [Fact]
    public void Nested_model_names_and_orders_match_pytorch()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new Net();
        Assert.Equal(MetaList("net/keys"), net.state_dict().Keys);
        Assert.Equal(MetaList("net/parameters"), net.named_parameters().Select(p => p.name));
        Assert.Equal(MetaList("net/buffers"), net.named_buffers().Select(b => b.name));
        Assert.Equal(MetaList("net/modules"), net.named_modules().Select(m => m.name));
        Assert.Equal(Meta("net/repr"), net.ToString());
        Assert.Equal(ScalarType.Int64, net.state_dict()["stem.1.num_batches_tracked"].dtype);
        Assert.Equal(0, net.state_dict()["stem.1.num_batches_tracked"].dim());
    }

    [Fact]
    public void Nested_model_trains_and_evaluates_like_pytorch()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new Net();
        var keys = net.state_dict().Keys.ToArray();
        Assert.Empty(net.load_state_dict(FixtureState("net", keys, "sd.")).missing_keys);
        net.train();
        net.drop.eval(); // as the fixture: a deterministic training step
        Assert.True(net.training);
        Assert.False(net.drop.training);
        var output = net.call(fx["net", "x"]);
        fx.AssertClose(output, "net", "out_train", 1e-4, 1e-5);
        output.backward(fx["net", "gout"]);
        foreach (var (name, p) in net.named_parameters())
            fx.AssertClose(p.grad!, "net", "grad." + name, 1e-3, 1e-5);
        foreach (var (key, value) in net.state_dict())
            fx.AssertClose(value, "net", "after." + key, 1e-4, 1e-5);
        Assert.Equal(1L, net.get_buffer("blocks.1.bn2.num_batches_tracked").item<long>());
        net.eval();
        Assert.All(net.modules(), m => Assert.False(m.training));
        using (torch.no_grad()) fx.AssertClose(net.call(fx["net", "x"]), "net", "out_eval", 1e-4, 1e-5);
    }

    [Fact]
    public void Strict_loading_reports_missing_unexpected_and_misshaped_keys_like_pytorch()
    {
        using var scope = torch.NewDisposeScope();
        using var source = new Net();
        var bad = new OrderedDictionary<string, Tensor>();
        foreach (var (key, value) in source.state_dict())
            if (key is not "heads.cls.bias" and not "stem.1.num_batches_tracked") bad[key] = value;
        bad["extra.weight"] = torch.zeros([3]);
        bad["blocks.0.bn1.foo"] = torch.zeros([1]);
        bad["norm.weight"] = torch.zeros([4]);
        using var net = new Net();
        var ex = Assert.Throws<TorchException>(() => net.load_state_dict(bad));
        Assert.Equal(Meta("net/load_error"), ex.Message);

        bad.Remove("norm.weight");
        var result = net.load_state_dict(bad, strict: false);
        Assert.Equal(MetaList("net/nonstrict_missing"), result.missing_keys);
        Assert.Equal(MetaList("net/nonstrict_unexpected"), result.unexpected_keys);
        Assert.Equal("<All keys matched successfully>", net.load_state_dict(source.state_dict()).ToString());
    }

    [Fact]
    public void Loading_copies_in_place_and_converts_dtype()
    {
        using var scope = torch.NewDisposeScope();
        using var lin = new Linear(3, 2);
        var weight = lin.weight;
        var half = torch.ones([2, 3]).to(ScalarType.Float16) * 0.5;
        lin.load_state_dict(new Dictionary<string, Tensor> { ["weight"] = half, ["bias"] = torch.tensor(new[] { 1.0, 2.0 }) });
        Assert.Same(weight, lin.weight);
        Assert.Equal(ScalarType.Float32, lin.weight.dtype);
        Assert.True(lin.weight.requires_grad);
        Assert.All(lin.weight.ToArray<float>(), v => Assert.Equal(0.5f, v));
        Assert.Equal([1f, 2f], lin.bias!.ToArray<float>());
    }

    [Fact]
    public void State_dict_values_share_storage_and_keep_vars_returns_the_parameters()
    {
        using var scope = torch.NewDisposeScope();
        using var lin = new Linear(3, 2);
        var state = lin.state_dict();
        Assert.False(state["weight"].requires_grad);
        state["weight"].zero_();
        Assert.All(lin.weight.ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.Same(lin.weight, lin.state_dict(keep_vars: true)["weight"]);
        Assert.Equal(["prefix.weight", "prefix.bias"], lin.state_dict(prefix: "prefix.").Keys);
    }

    [Fact]
    public void To_dtype_keeps_parameter_identity_and_converts_only_floating_tensors()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new Net();
        net.load_state_dict(FixtureState("net", net.state_dict().Keys.ToArray(), "sd."));
        var before = net.named_parameters().ToList();
        var runningMean = net.get_buffer("stem.1.running_mean");
        var x = fx["net", "x"];
        net.eval();
        var expected = net.call(x);
        // A gradient converts with its parameter.
        (net.call(x).sum()).backward();
        Assert.Same(net, net.to(torch.float64));
        Assert.Equal(before.Select(p => p.parameter), net.parameters());
        Assert.All(net.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        Assert.All(net.parameters(), p => Assert.Equal(ScalarType.Float64, p.grad!.dtype));
        Assert.All(net.parameters(), p => Assert.True(p.requires_grad));
        Assert.Same(runningMean, net.get_buffer("stem.1.running_mean"));
        Assert.Equal(ScalarType.Float64, runningMean.dtype);
        Assert.Equal(ScalarType.Int64, net.get_buffer("stem.1.num_batches_tracked").dtype);
        Assert.Equal(ScalarType.Float64, net.get_buffer("step").dtype); // non-persistent buffers move too
        TensorAssert.Close(expected.to(ScalarType.Float64), net.call(x.to(ScalarType.Float64)), 1e-5, 1e-5);
        net.half();
        Assert.All(net.parameters(), p => Assert.Equal(ScalarType.Float16, p.dtype));
        net.to(torch.zeros([1], ScalarType.Float32));
        Assert.All(net.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        var ex = Assert.Throws<TorchException>(() => net.to(ScalarType.Int64));
        Assert.Contains("nn.Module.to only accepts floating point or complex dtypes, but got desired dtype=torch.int64", ex.Message);
        Assert.Same(net, net.to(Device.CPU));
    }

    [Fact]
    public void Zero_grad_and_requires_grad_apply_to_every_parameter()
    {
        using var scope = torch.NewDisposeScope();
        using var seq = new Sequential(new Linear(3, 4), new ReLU(), new Linear(4, 1));
        seq.call(torch.randn([5, 3])).sum().backward();
        Assert.All(seq.parameters(), p => Assert.NotNull(p.grad));
        seq.zero_grad(set_to_none: false);
        Assert.All(seq.parameters(), p => Assert.All(p.grad!.ToArray<float>(), v => Assert.Equal(0f, v)));
        seq.zero_grad();
        Assert.All(seq.parameters(), p => Assert.Null(p.grad));
        seq.requires_grad_(false);
        Assert.All(seq.parameters(), p => Assert.False(p.requires_grad));
        Assert.False(seq.call(torch.randn([2, 3])).requires_grad);
    }

    [Fact]
    public void Registration_checks_names_like_pytorch()
    {
        using var scope = torch.NewDisposeScope();
        using var lin = new Linear(2, 2);
        Assert.Equal("parameter name can't contain \".\"", Assert.Throws<TorchException>(() => lin.register_parameter("a.b", null)).Message);
        Assert.Equal("buffer name can't be empty string \"\"", Assert.Throws<TorchException>(() => lin.register_buffer("", null)).Message);
        Assert.Equal("module name can't contain \".\", got: x.y", Assert.Throws<TorchException>(() => lin.register_module("x.y", null)).Message);
        Assert.Equal("attribute 'weight' already exists", Assert.Throws<TorchException>(() => lin.register_buffer("weight", torch.zeros([1]))).Message);
        // None entries are registered but absent from the state_dict; re-registering keeps the position.
        lin.register_buffer("extra", null);
        lin.register_parameter("weight", new Parameter(torch.zeros([2, 2])));
        Assert.Equal(["weight", "bias"], lin.state_dict().Keys);
        Assert.Equal("attribute 'extra' already exists", Assert.Throws<TorchException>(() => lin.register_module("extra", null)).Message);
    }

    private sealed class WithProperties : Module<Tensor, Tensor>
    {
        public WithProperties()
        {
            RegisterComponents();
        }

        public Linear body { get; } = new(2, 3);
        public Parameter gain { get; } = new(torch.ones([3]));
        public Tensor offset { get; } = torch.zeros([3]);
        public Module<Tensor, Tensor>? unused { get; }
        public int width { get; } = 3;

        public override Tensor forward(Tensor x) => body.call(x) * gain + offset;
    }

    [Fact]
    public void Auto_properties_register_under_the_property_name()
    {
        using var scope = torch.NewDisposeScope();
        using var m = new WithProperties();
        Assert.Equal(["gain", "offset", "body.weight", "body.bias"], m.state_dict().Keys);
        Assert.Equal(["gain", "body.weight", "body.bias"], m.named_parameters().Select(p => p.name));
        Assert.Equal(["body"], m.named_children().Select(c => c.name));
        Assert.Equal([4L, 3], m.call(torch.ones([4, 2])).shape);
    }

    [Fact]
    public void Shared_modules_and_parameters_are_listed_once()
    {
        using var scope = torch.NewDisposeScope();
        var shared = new Linear(3, 3);
        using var seq = new Sequential(shared, new ReLU(), shared);
        Assert.Equal(["", "0", "1"], seq.named_modules().Select(m => m.name));
        Assert.Equal(["", "0", "1", "2"], seq.named_modules(remove_duplicate: false).Select(m => m.name));
        Assert.Equal(["0.weight", "0.bias"], seq.named_parameters().Select(p => p.name));
        Assert.Equal(["0.weight", "0.bias", "2.weight", "2.bias"], seq.state_dict().Keys);
        Assert.Equal(["0", "1"], seq.named_children().Select(c => c.name));
    }

    [Fact]
    public void Containers_name_and_renumber_their_children()
    {
        using var scope = torch.NewDisposeScope();
        using var seq = torch.nn.Sequential(("features", new Linear(2, 3)), ("act", new ReLU()));
        seq.append(new Linear(3, 1));
        Assert.Equal(["features", "act", "2"], seq.named_children().Select(c => c.name));
        Assert.IsType<ReLU>(seq[1]);
        Assert.IsType<Linear>(seq[-1]);
        Assert.Equal(3, seq.Count);
        Assert.Equal([1L, 1], seq.call(torch.ones([1, 2])).shape);

        using var list = torch.nn.ModuleList<Linear>(new Linear(1, 1), new Linear(2, 2), new Linear(3, 3));
        list.insert(1, new Linear(4, 4));
        Assert.Equal(["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias", "3.weight", "3.bias"], list.state_dict().Keys);
        Assert.Equal([1L, 4, 2, 3], list.Select(l => l.in_features));
        list.RemoveAt(0);
        Assert.Equal([4L, 2, 3], list.Select(l => l.in_features));
        Assert.Equal(["0", "1", "2"], list.named_children().Select(c => c.name));
        Assert.Equal(3, list[-1].in_features);

        using var empty = torch.nn.Sequential();
        Assert.Same(empty.call(list[0].weight), list[0].weight);
        empty.append(new ReLU()).append(new Flatten(0));
        Assert.Equal(["0", "1"], empty.named_children().Select(c => c.name));

        using var dict = torch.nn.ModuleDict(("b", new Linear(1, 2)), ("a", new ReLU()));
        dict["c"] = new Identity();
        Assert.Equal(["b", "a", "c"], dict.Keys);
        Assert.IsType<ReLU>(dict.pop("a"));
        Assert.Equal(["b.weight", "b.bias"], dict.state_dict().Keys);
        Assert.True(dict.ContainsKey("c"));
    }

    [Fact]
    public void Lookup_by_dotted_path()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new Net();
        Assert.IsType<BatchNorm2d>(net.get_submodule("blocks.1.bn2"));
        Assert.Same(net.get_submodule("heads.cls"), net.get_submodule("heads").get_submodule("cls"));
        Assert.Equal([5L, 8], net.get_parameter("heads.cls.weight").shape);
        Assert.Equal(ScalarType.Int64, net.get_buffer("stem.1.num_batches_tracked").dtype);
        Assert.Equal("Block has no attribute `conv3`", Assert.Throws<TorchException>(() => net.get_submodule("blocks.0.conv3")).Message);
    }

    [Fact]
    public void Forward_hooks_observe_and_replace_and_can_be_removed()
    {
        using var scope = torch.NewDisposeScope();
        using var relu = new ReLU();
        var seen = new List<Tensor>();
        var observe = relu.register_forward_hook((m, input, output) => seen.Add(output));
        var x = torch.tensor(new[] { -1f, 2f });
        relu.call(x);
        Assert.Single(seen);
        using (var replace = relu.register_forward_hook((m, input, output) => output * 10))
            Assert.Equal([0f, 20f], relu.call(x).ToArray<float>());
        Assert.Equal([0f, 2f], relu.call(x).ToArray<float>());
        using (relu.register_forward_pre_hook((m, input) => -input))
            Assert.Equal([1f, 0f], relu.call(x).ToArray<float>());
        observe.remove();
        relu.call(x);
        Assert.Equal(4, seen.Count); // the four calls before remove()
        // forward itself runs no hooks.
        using (relu.register_forward_hook((m, input, output) => output * 10)) Assert.Equal([0f, 2f], relu.forward(x).ToArray<float>());
    }

    [Fact]
    public void Apply_visits_children_before_parents()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new Sequential(new Linear(2, 2), new Sequential(new Linear(2, 2)));
        var order = new List<string>();
        net.apply(m => order.Add(m._get_name()));
        Assert.Equal(["Linear", "Linear", "Sequential", "Sequential"], order);
        net.apply(m => { if (m is Linear l) torch.nn.init.zeros_(l.weight); });
        Assert.All(net.parameters().Where(p => p.dim() == 2), p => Assert.All(p.ToArray<float>(), v => Assert.Equal(0f, v)));
    }

    [Fact]
    public void Batch_norm_checks_its_input_rank()
    {
        using var scope = torch.NewDisposeScope();
        using var bn = new BatchNorm2d(3);
        var ex = Assert.Throws<TorchException>(() => bn.call(torch.ones([2, 3])));
        Assert.Equal("expected 4D input (got 2D input)", ex.Message);
        Assert.Equal("in_channels must be divisible by groups", Assert.Throws<TorchException>(() => new Conv2d(3, 4, 3, groups: 2)).Message);
        Assert.Equal("num_channels must be divisible by num_groups", Assert.Throws<TorchException>(() => new GroupNorm(3, 4)).Message);
    }

    [Fact]
    public void Parameters_belong_to_no_dispose_scope()
    {
        Linear lin;
        using (torch.NewDisposeScope()) lin = new Linear(2, 3);
        using (lin)
        {
            Assert.False(lin.weight.IsDisposed);
            Assert.False(lin.bias!.IsDisposed);
            Assert.True(lin.weight.is_leaf);
            Assert.True(lin.weight.requires_grad);
        }
        Assert.True(lin.weight.IsDisposed);
    }
}

[Collection(SequentialCollection.Name)]
public class ModuleLifetimeTests
{
    [Fact]
    public void Dispose_frees_parameters_buffers_and_submodules()
    {
        var before = SequentialCollection.SettledLiveCount();
        var net = new Net();
        Assert.True(Tensor.LiveCount > before);
        using (torch.NewDisposeScope())
        {
            net.eval();
            net.call(torch.randn([2, 3, 8, 8]));
            _ = net.state_dict();
        }
        net.Dispose();
        Assert.Equal(before, Tensor.LiveCount);
    }
}
