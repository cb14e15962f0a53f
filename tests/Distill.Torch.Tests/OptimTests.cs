namespace Distill.Torch.Tests;

/// <summary>
/// Optimizers against PyTorch 1.13 (tests/fixtures/python/make_optim.py): three parameters (p2 never
/// gets a gradient) stepped six times with the fixture's gradients, compared after every step.
/// </summary>
public class OptimTests
{
    private const int Steps = 6;
    private static readonly Fixture fx = Fixture.Load("optim");

    /// <summary>Row <paramref name="s"/> of a stacked fixture tensor, in its dtype.</summary>
    internal static Tensor Row(Tensor stacked, int s)
    {
        var shape = stacked.shape;
        var values = stacked.to(ScalarType.Float64).ToArray<double>();
        var chunk = values.Length / (int)shape[0];
        return torch.tensor(values.AsSpan(s * chunk, chunk), shape.AsSpan(1)).to(stacked.dtype);
    }

    private sealed record Params(Tensor P0, Tensor P1, Tensor P2)
    {
        public Tensor[] All => [P0, P1, P2];
    }

    private static Params Fresh(ScalarType dtype = ScalarType.Float32) =>
        new(fx.Input("init", "p0").to(dtype).requires_grad_(), fx.Input("init", "p1").to(dtype).requires_grad_(),
            fx.Input("init", "p2").to(dtype).requires_grad_());

    /// <summary>Gives the parameters the fixture's gradients of step <paramref name="s"/> (p1 only where the case says so).</summary>
    private static void SetGrads(Params p, int s, bool[]? p1HasGrad = null)
    {
        p.P0.grad = Row(fx["grads", "p0"], s).to(p.P0.dtype);
        if (p1HasGrad is null || p1HasGrad[s]) p.P1.grad = Row(fx["grads", "p1"], s).to(p.P1.dtype);
    }

    public static TheoryData<string> Cases => new()
    {
        "sgd_plain", "sgd_momentum", "sgd_nesterov", "sgd_dampening", "sgd_weight_decay", "sgd_weight_decay_plain",
        "sgd_maximize", "sgd_skip", "sgd_lr_change", "sgd_groups", "adam", "adam_amsgrad", "adam_weight_decay",
        "adam_all", "adam_maximize", "adam_skip", "adam_f64", "adam_groups", "adamw", "adamw_amsgrad", "adamw_maximize",
    };

    private static Optimizer Make(string name, Params p) => name switch
    {
        "sgd_plain" => torch.optim.SGD(p.All, lr: 0.1),
        "sgd_momentum" or "sgd_skip" or "sgd_lr_change" => torch.optim.SGD(p.All, lr: 0.1, momentum: 0.9),
        "sgd_nesterov" => torch.optim.SGD(p.All, lr: 0.1, momentum: 0.9, nesterov: true),
        "sgd_dampening" => torch.optim.SGD(p.All, lr: 0.1, momentum: 0.9, dampening: 0.5),
        "sgd_weight_decay" => torch.optim.SGD(p.All, lr: 0.1, momentum: 0.9, weight_decay: 0.01),
        "sgd_weight_decay_plain" => torch.optim.SGD(p.All, lr: 0.05, weight_decay: 0.1),
        "sgd_maximize" => torch.optim.SGD(p.All, lr: 0.1, momentum: 0.5, maximize: true),
        "sgd_groups" => torch.optim.SGD([new ParamGroup([p.P0, p.P2]), new ParamGroup([p.P1]) { lr = 0.01, momentum = 0.5 }], lr: 0.1, momentum: 0.9),
        "adam" or "adam_skip" => torch.optim.Adam(p.All, lr: 0.01),
        "adam_amsgrad" or "adam_f64" => torch.optim.Adam(p.All, lr: 0.01, amsgrad: true),
        "adam_weight_decay" => torch.optim.Adam(p.All, lr: 0.01, weight_decay: 0.1),
        "adam_all" => torch.optim.Adam(p.All, lr: 0.02, betas: (0.8, 0.99), eps: 1e-6, weight_decay: 0.05, amsgrad: true),
        "adam_maximize" => torch.optim.Adam(p.All, lr: 0.01, maximize: true),
        "adam_groups" => torch.optim.Adam([new ParamGroup([p.P0]), new ParamGroup([p.P1, p.P2]) { lr = 0.001, betas = (0.5, 0.9) }], lr: 0.01),
        "adamw" => torch.optim.AdamW(p.All, lr: 0.01),
        "adamw_amsgrad" => torch.optim.AdamW(p.All, lr: 0.01, weight_decay: 0.1, amsgrad: true),
        "adamw_maximize" => torch.optim.AdamW(p.All, lr: 0.01, weight_decay: 0.05, maximize: true),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Steps_match_PyTorch(string name)
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh(name == "adam_f64" ? ScalarType.Float64 : ScalarType.Float32);
        using var opt = Make(name, p);
        var mask = fx[name, "p1_has_grad"].ToArray<bool>();
        for (var s = 0; s < Steps; s++)
        {
            if (name == "sgd_lr_change" && s == 3)
                foreach (var g in opt.param_groups) g.lr = 0.02;
            opt.zero_grad();
            SetGrads(p, s, mask);
            opt.step();
            TensorAssert.Close(Row(fx[name, "p0"], s), p.P0, what: $"{name} p0 after step {s + 1}");
            TensorAssert.Close(Row(fx[name, "p1"], s), p.P1, what: $"{name} p1 after step {s + 1}");
            TensorAssert.Close(Row(fx[name, "p2"], s), p.P2, what: $"{name} p2 after step {s + 1}");
        }
    }

    [Fact]
    public void Adam_counts_steps_per_parameter_and_skips_parameters_without_gradients()
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh();
        using var opt = torch.optim.Adam(p.All, lr: 0.01);
        var mask = fx["adam_skip", "p1_has_grad"].ToArray<bool>();
        for (var s = 0; s < Steps; s++)
        {
            opt.zero_grad();
            SetGrads(p, s, mask);
            opt.step();
        }
        var s0 = opt.state[p.P0];
        Assert.Equal(["step", "exp_avg", "exp_avg_sq"], s0.Keys);
        Assert.Equal(ScalarType.Float32, s0["step"].dtype);
        Assert.Empty(s0["step"].shape);
        Assert.Equal(6f, s0["step"].item<float>());
        Assert.Equal(mask.Count(m => m), (int)opt.state[p.P1]["step"].item<float>());
        Assert.Empty(opt.state[p.P2]);
        Assert.Equal(2, opt.state.Count);
    }

    [Fact]
    public void State_is_found_through_another_handle_to_the_same_parameter()
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh();
        using var opt = torch.optim.SGD(p.All, lr: 0.1, momentum: 0.9);
        SetGrads(p, 0);
        opt.step();
        var buffer = opt.state[p.P0.alias()]["momentum_buffer"];
        TensorAssert.Close(Row(fx["grads", "p0"], 0), buffer);
        Assert.Throws<TorchException>(() => opt.state[torch.zeros([1], requires_grad: true)]);
    }

    [Fact]
    public void State_created_inside_a_dispose_scope_outlives_it()
    {
        var p = Fresh();
        var expected = Fresh();
        using var opt = torch.optim.Adam(p.All, lr: 0.01, amsgrad: true);
        using var reference = torch.optim.Adam(expected.All, lr: 0.01, amsgrad: true);
        for (var s = 0; s < 3; s++)
        {
            using var scope = torch.NewDisposeScope();
            SetGrads(p, s);
            SetGrads(expected, s);
            opt.step();
            reference.step();
        }
        Assert.True(expected.P0.equal(p.P0));
        Assert.False(opt.state[p.P0]["exp_avg"].IsDisposed);
        foreach (var t in p.All.Concat(expected.All)) t.Dispose();
    }

    [Fact]
    public void Zero_grad_drops_or_zeroes_gradients()
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh();
        using var opt = torch.optim.SGD(p.All, lr: 0.1);
        SetGrads(p, 0);
        opt.zero_grad(set_to_none: false);
        Assert.Equal(new float[12], p.P0.grad!.ToArray<float>());
        opt.zero_grad();
        Assert.Null(p.P0.grad);
        Assert.Null(p.P1.grad);
    }

    [Fact]
    public void Step_with_a_closure_evaluates_it_and_returns_the_loss()
    {
        using var scope = torch.NewDisposeScope();
        var w = torch.tensor(new[] { 1f, -2f }, requires_grad: true);
        using var opt = torch.optim.SGD([w], lr: 0.25);
        var loss = opt.step(() =>
        {
            opt.zero_grad();
            var l = (w * w).sum();
            l.backward();
            return l;
        });
        Assert.Equal(5f, loss!.item<float>());
        // w - 0.25 * 2w = w / 2
        Assert.Equal(new[] { 0.5f, -1f }, w.ToArray<float>());
    }

    [Fact]
    public void Added_param_group_takes_the_defaults_and_its_own_overrides()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.ones([2], requires_grad: true);
        var b = torch.ones([2], requires_grad: true);
        using var opt = torch.optim.SGD([a], lr: 0.1, momentum: 0.9);
        var extra = new ParamGroup([b]) { lr = 0.5 };
        opt.add_param_group(extra);
        Assert.Same(extra, opt.param_groups[1]);
        Assert.Same(opt, extra.optimizer);
        Assert.Equal(0.5, extra.lr);
        Assert.Equal(0.9, extra.momentum);
        Assert.False(extra.nesterov);
        a.grad = torch.ones([2]);
        b.grad = torch.ones([2]);
        opt.step();
        Assert.Equal(new[] { 0.9f, 0.9f }, a.ToArray<float>());
        Assert.Equal(new[] { 0.5f, 0.5f }, b.ToArray<float>());
    }

    [Fact]
    public void Param_group_hyper_parameters_can_be_given_by_name()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.ones([2], requires_grad: true);
        var group = new ParamGroup([a], new Dictionary<string, object> { ["lr"] = 1, ["betas"] = (0.5, 0.75), ["tag"] = "head" });
        using var opt = torch.optim.AdamW([group]);
        Assert.Equal(1.0, group["lr"]);
        Assert.Equal((0.5, 0.75), group.betas);
        Assert.Equal("head", group["tag"]);
        Assert.Equal(1e-2, group.weight_decay);
        Assert.Equal(1e-8, group.eps);
        Assert.Contains("Parameter Group 0", opt.ToString());
    }

    // ---- state_dict and resuming -------------------------------------------------------------------

    public static TheoryData<string> ResumeCases => new() { "sgd_momentum", "sgd_nesterov", "sgd_groups", "adam_all", "adam_skip", "adamw_amsgrad", "adam_groups" };

    [Theory]
    [MemberData(nameof(ResumeCases))]
    public void Resuming_from_a_saved_state_is_bit_exact(string name)
    {
        using var scope = torch.NewDisposeScope();
        var mask = fx[name, "p1_has_grad"].ToArray<bool>();
        const int n = 3;

        var straight = Fresh();
        using (var opt = Make(name, straight))
        {
            for (var s = 0; s < Steps; s++)
            {
                opt.zero_grad();
                SetGrads(straight, s, mask);
                opt.step();
            }
        }

        var first = Fresh();
        var path = Path.Combine(Path.GetTempPath(), $"distill-optim-{name}-{Guid.NewGuid():N}.safetensors");
        try
        {
            using (var opt = Make(name, first))
            {
                for (var s = 0; s < n; s++)
                {
                    opt.zero_grad();
                    SetGrads(first, s, mask);
                    opt.step();
                }
                using var saved = opt.state_dict();
                saved.Save(path);
            }

            // A fresh process: parameters restored from a checkpoint, a new optimizer with other settings.
            var resumed = new Params(first.P0.detach().clone().requires_grad_(), first.P1.detach().clone().requires_grad_(),
                                     first.P2.detach().clone().requires_grad_());
            using var fresh = Make(name, resumed);
            foreach (var g in fresh.param_groups) g.lr = 123.0;
            using (var loaded = OptimizerState.Load(path)) fresh.load_state_dict(loaded);
            for (var s = n; s < Steps; s++)
            {
                fresh.zero_grad();
                SetGrads(resumed, s, mask);
                fresh.step();
            }
            Assert.True(straight.P0.equal(resumed.P0), $"{name}: p0 differs after resuming");
            Assert.True(straight.P1.equal(resumed.P1), $"{name}: p1 differs after resuming");
            Assert.True(straight.P2.equal(resumed.P2), $"{name}: p2 differs after resuming");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void State_dict_names_tensors_and_groups_as_PyTorch_numbers_them()
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh();
        using var opt = Make("sgd_groups", p);
        SetGrads(p, 0);
        opt.step();
        using var state = opt.state_dict();
        // Group 0 holds p0 and p2 (indices 0, 1), group 1 holds p1 (index 2); p2 has no gradient, so no state.
        Assert.Equal(["state.0.momentum_buffer", "state.2.momentum_buffer"], state.Tensors.Keys.Order());
        using var doc = System.Text.Json.JsonDocument.Parse(state.Json);
        var groups = doc.RootElement.GetProperty("param_groups");
        Assert.Equal("SGD", doc.RootElement.GetProperty("optimizer").GetString());
        Assert.Equal(2, groups.GetArrayLength());
        Assert.Equal([0, 1], groups[0].GetProperty("params").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([2], groups[1].GetProperty("params").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(0.01, groups[1].GetProperty("lr").GetDouble());
        Assert.Equal(0.5, groups[1].GetProperty("momentum").GetDouble());
        Assert.False(groups[1].GetProperty("nesterov").GetBoolean());
        // The tensors are new handles: disposing the state_dict leaves the optimizer's state alive.
        state.Dispose();
        Assert.False(opt.state[p.P0]["momentum_buffer"].IsDisposed);
    }

    [Fact]
    public void Loading_restores_hyper_parameters_and_casts_state_to_the_parameters_dtype()
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh();
        using var opt = torch.optim.Adam(p.All, lr: 0.01, amsgrad: true);
        SetGrads(p, 0);
        opt.step();
        opt.param_groups[0]["initial_lr"] = 0.01;
        opt.param_groups[0].lr = 0.005;
        using var state = opt.state_dict();

        var q = Fresh(ScalarType.Float64);
        using var other = torch.optim.Adam(q.All, lr: 1.0);
        other.load_state_dict(state);
        Assert.Equal(0.005, other.param_groups[0].lr);
        Assert.Equal(0.01, other.param_groups[0].initial_lr);
        Assert.True(other.param_groups[0].amsgrad);
        var s = other.state[q.P0];
        Assert.Equal(ScalarType.Float64, s["exp_avg"].dtype);
        Assert.Equal(ScalarType.Float32, s["step"].dtype);
        TensorAssert.Close(opt.state[p.P0]["max_exp_avg_sq"].to(ScalarType.Float64), s["max_exp_avg_sq"]);
        // Copies: stepping one optimizer leaves the other's state alone.
        SetGrads(p, 1);
        opt.step();
        Assert.Equal(1f, s["step"].item<float>());
    }

    [Fact]
    public void Load_state_dict_mismatches_are_clear_errors_that_change_nothing()
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh();
        using var opt = torch.optim.SGD(p.All, lr: 0.1, momentum: 0.9);
        SetGrads(p, 0);
        opt.step();
        using var good = opt.state_dict();

        var q = Fresh();
        using var target = torch.optim.SGD(q.All, lr: 0.3, momentum: 0.9);
        SetGrads(q, 1);
        target.step();
        var before = target.state[q.P0]["momentum_buffer"].clone();

        void Fails(OptimizerState state, string message)
        {
            var e = Assert.Throws<TorchException>(() => target.load_state_dict(state));
            Assert.Contains(message, e.Message);
            Assert.Equal(0.3, target.param_groups[0].lr);
            Assert.True(before.equal(target.state[q.P0]["momentum_buffer"]));
        }

        using (var twoGroups = Make("sgd_groups", Fresh()))
            Fails(twoGroups.state_dict(), "different number of parameter groups (saved 2, the optimizer has 1)");
        using (var fewer = torch.optim.SGD([Fresh().P0], lr: 0.1))
            Fails(fewer.state_dict(), "doesn't match the size of optimizer's group (group 0: saved 1 parameters, the optimizer has 3)");
        using (var adam = torch.optim.Adam(Fresh().All))
            Fails(adam.state_dict(), "the state was saved by Adam, not by SGD");

        var wrongShape = new Dictionary<string, Tensor>(good.Tensors) { ["state.0.momentum_buffer"] = torch.zeros([4, 3]) };
        Fails(new OptimizerState(wrongShape, good.Json), "tensor 'state.0.momentum_buffer' has shape [4, 3] but parameter 0 (group 0, position 0) has shape [3, 4]");
        var unknown = new Dictionary<string, Tensor>(good.Tensors) { ["state.1.exp_avg"] = torch.zeros([5]) };
        Fails(new OptimizerState(unknown, good.Json), "SGD keeps no state named 'exp_avg'");
        var stray = new Dictionary<string, Tensor>(good.Tensors) { ["state.7.momentum_buffer"] = torch.zeros([5]) };
        Fails(new OptimizerState(stray, good.Json), "belongs to parameter 7, which no saved parameter group lists");
        var badName = new Dictionary<string, Tensor>(good.Tensors) { ["momentum"] = torch.zeros([5]) };
        Fails(new OptimizerState(badName, good.Json), "is not named state.<parameter index>.<state name>");
        Fails(new OptimizerState(good.Tensors, good.Json.Replace("\"momentum\":0.9", "\"momentum\":-1")), "Invalid momentum value: -1.0");
        Fails(new OptimizerState(good.Tensors, good.Json.Replace("\"nesterov\":false", "\"nesterov\":1")), "hyper-parameter 'nesterov' of saved parameter group 0 is the number 1.0");
        Fails(new OptimizerState(good.Tensors, "{nope"), "not valid JSON");

        target.load_state_dict(good);
        Assert.Equal(0.1, target.param_groups[0].lr);
        Assert.True(good.Tensors["state.0.momentum_buffer"].equal(target.state[q.P0]["momentum_buffer"]));
    }

    [Fact]
    public void Loading_a_file_without_optimizer_state_is_an_error()
    {
        using var scope = torch.NewDisposeScope();
        var path = Path.Combine(Path.GetTempPath(), $"distill-optim-weights-{Guid.NewGuid():N}.safetensors");
        try
        {
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = torch.zeros([2]) });
            var e = Assert.Throws<TorchException>(() => OptimizerState.Load(path));
            Assert.Contains("holds no optimizer state", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- argument errors -----------------------------------------------------------------------------

    [Fact]
    public void Invalid_hyper_parameters_are_rejected()
    {
        using var scope = torch.NewDisposeScope();
        var w = new[] { torch.zeros([2], requires_grad: true) };
        Assert.Contains("Invalid learning rate: -0.1", Assert.Throws<TorchException>(() => torch.optim.SGD(w, lr: -0.1)).Message);
        Assert.Contains("Invalid learning rate: -1.0", Assert.Throws<TorchException>(() => torch.optim.Adam(w, lr: -1)).Message);
        Assert.Contains("Invalid momentum value: -0.5", Assert.Throws<TorchException>(() => torch.optim.SGD(w, lr: 0.1, momentum: -0.5)).Message);
        Assert.Contains("Invalid weight_decay value", Assert.Throws<TorchException>(() => torch.optim.SGD(w, lr: 0.1, weight_decay: -1)).Message);
        Assert.Contains("Nesterov momentum requires a momentum and zero dampening",
            Assert.Throws<TorchException>(() => torch.optim.SGD(w, lr: 0.1, nesterov: true)).Message);
        Assert.Contains("Invalid beta parameter at index 0: 1.0", Assert.Throws<TorchException>(() => torch.optim.Adam(w, betas: (1.0, 0.999))).Message);
        Assert.Contains("Invalid beta parameter at index 1: -0.1", Assert.Throws<TorchException>(() => torch.optim.AdamW(w, betas: (0.9, -0.1))).Message);
        Assert.Contains("Invalid epsilon value", Assert.Throws<TorchException>(() => torch.optim.Adam(w, eps: -1e-8)).Message);
        Assert.Contains("Invalid learning rate: -0.5",
            Assert.Throws<TorchException>(() => torch.optim.SGD([new ParamGroup(w) { lr = -0.5 }], lr: 0.1)).Message);
        Assert.Contains("SGD has no hyper-parameter 'betas'",
            Assert.Throws<TorchException>(() => torch.optim.SGD([new ParamGroup(w) { betas = (0.9, 0.99) }], lr: 0.1)).Message);
        var typed = new ParamGroup(w);
        typed["lr"] = true;
        Assert.Contains("hyper-parameter 'lr' of parameter group 0 is the boolean True",
            Assert.Throws<TorchException>(() => torch.optim.SGD([typed], lr: 0.1)).Message);
        Assert.Contains("unsupported type", Assert.Throws<TorchException>(() => typed["lr"] = new object()).Message);
        Assert.Contains("no hyper-parameter 'momentum'", Assert.Throws<TorchException>(() => new ParamGroup(w).momentum).Message);
    }

    [Fact]
    public void Invalid_parameters_are_rejected()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.zeros([2], requires_grad: true);
        var b = torch.zeros([2], requires_grad: true);
        Assert.Contains("empty parameter list", Assert.Throws<TorchException>(() => torch.optim.SGD(Array.Empty<Tensor>(), lr: 0.1)).Message);
        Assert.Contains("empty parameter list", Assert.Throws<TorchException>(() => torch.optim.Adam(Array.Empty<ParamGroup>())).Message);
        Assert.Contains("parameter 1 of the group does not",
            Assert.Throws<TorchException>(() => torch.optim.SGD([a, torch.zeros([2])], lr: 0.1)).Message);
        Assert.Contains("can't optimize a non-leaf Tensor",
            Assert.Throws<TorchException>(() => torch.optim.SGD([a * 2], lr: 0.1)).Message);
        Assert.Contains("parameter 2 of the group is the same tensor as parameter 0",
            Assert.Throws<TorchException>(() => torch.optim.SGD([a, b, a.alias()], lr: 0.1)).Message);
        using var opt = torch.optim.SGD([a], lr: 0.1);
        Assert.Contains("some parameters appear in more than one parameter group (parameter 1 of the new group is parameter 0 of group 0)",
            Assert.Throws<TorchException>(() => opt.add_param_group(new ParamGroup([b, a]))).Message);
        Assert.Contains("already belongs to an optimizer",
            Assert.Throws<TorchException>(() => opt.add_param_group(opt.param_groups[0])).Message);
        Assert.Single(opt.param_groups);
    }

    [Fact]
    public void A_gradient_of_the_wrong_shape_is_an_error_before_any_parameter_changes()
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh();
        using var opt = torch.optim.Adam(p.All, lr: 0.1);
        SetGrads(p, 0);
        p.P1.grad = torch.ones([4]);
        var before = p.P0.detach().clone();
        var e = Assert.Throws<TorchException>(() => opt.step());
        Assert.Contains("Adam: parameter 1 has shape [5] but its gradient has shape [4]", e.Message);
        Assert.True(before.equal(p.P0));
        Assert.Equal(0, opt.state.Count);
        p.P1.grad = torch.ones([5], ScalarType.Float64);
        e = Assert.Throws<TorchException>(() => opt.step());
        Assert.Contains("Adam: parameter 1 is Float on cpu but its gradient is Double on cpu", e.Message);
        Assert.True(before.equal(p.P0));
    }

    [Fact]
    public void A_disposed_optimizer_cannot_step()
    {
        using var scope = torch.NewDisposeScope();
        var p = Fresh();
        var opt = torch.optim.SGD(p.All, lr: 0.1, momentum: 0.9);
        SetGrads(p, 0);
        opt.step();
        var buffer = opt.state[p.P0]["momentum_buffer"];
        opt.Dispose();
        Assert.True(buffer.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => opt.step());
        opt.Dispose();
    }
}

[Collection(SequentialCollection.Name)]
public class OptimLeakTests
{
    [Fact]
    public void Stepping_saving_and_loading_free_every_native_tensor()
    {
        var before = SequentialCollection.SettledLiveCount();
        using (var scope = torch.NewDisposeScope())
        {
            var w = torch.ones([3, 2], requires_grad: true);
            var v = torch.ones([2], requires_grad: true);
            using var opt = torch.optim.Adam([w, v], amsgrad: true);
            using var other = torch.optim.Adam([w.detach().clone().requires_grad_(), v.detach().clone().requires_grad_()]);
            for (var s = 0; s < 3; s++)
            {
                using var inner = torch.NewDisposeScope();
                w.grad = torch.ones([3, 2]);
                v.grad = torch.ones([2]);
                opt.step();
                using var state = opt.state_dict();
                other.load_state_dict(state);
                _ = torch.nn.utils.clip_grad_norm_([w, v], 1.0);
            }
            w.grad = null;
            v.grad = null;
        }
        Assert.Equal(before, Tensor.LiveCount);
    }
}
