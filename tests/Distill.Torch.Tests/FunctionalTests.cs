using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Tests;

/// <summary>
/// torch.nn.functional against PyTorch (fixture: tests/fixtures/python/make_functional.py): the output of
/// every case and, for differentiable functions, the gradients of the inputs for a fixture upstream gradient.
/// </summary>
public class FunctionalTests
{
    private static readonly Fixture fx = Fixture.Load("functional");

    /// <summary>The inputs of one case, loaded on first use, with gradients on the named ones.</summary>
    private sealed class Inputs(string testCase, string grads)
    {
        private readonly Dictionary<string, Tensor> _loaded = new();

        public Tensor this[string name]
        {
            get
            {
                if (!_loaded.TryGetValue(name, out var t))
                    _loaded[name] = t = fx.Input(testCase, name, requiresGrad: Grads.Contains(name));
                return t;
            }
        }

        public IEnumerable<string> Grads => grads.Select(c => c.ToString());
    }

    private sealed record Case(string Grads, Func<Inputs, Tensor> Op, double Rtol = 1e-5, double Atol = 1e-6)
    {
        public Case(string grads, Func<Inputs, Tensor> op, (double rtol, double atol) tolerance) : this(grads, op, tolerance.rtol, tolerance.atol) { }
    }

    // Long sums (convolutions, normalization statistics) round differently with the thread count.
    private static readonly (double, double) Loose = (1e-4, 1e-5);

    // Each fixture case: the inputs that get gradients (one letter each) and our call with PyTorch's arguments.
    private static readonly Dictionary<string, Case> Cases = new()
    {
        ["linear"] = new("xwb", i => F.linear(i["x"], i["w"], i["b"])),
        ["linear_nobias_3d"] = new("xw", i => F.linear(i["x"], i["w"])),
        ["conv2d"] = new("xwb", i => F.conv2d(i["x"], i["w"], i["b"]), Loose),
        ["conv2d_stride2_pad1"] = new("xwb", i => F.conv2d(i["x"], i["w"], i["b"], stride: 2, padding: 1), Loose),
        ["conv2d_groups_dilation"] = new("xwb", i => F.conv2d(i["x"], i["w"], i["b"], padding: 2, dilation: 2, groups: 2), Loose),
        ["conv2d_tuple_args"] = new("xw", i => F.conv2d(i["x"], i["w"], null, stride: (2, 1), padding: (1, 0), dilation: new long[] { 1, 2 }), Loose),
        ["conv_transpose2d"] = new("xwb", i => F.conv_transpose2d(i["x"], i["w"], i["b"], stride: 2, padding: 1, output_padding: 1), Loose),
        ["conv_transpose2d_groups"] = new("xw", i => F.conv_transpose2d(i["x"], i["w"], null, stride: (1, 2), groups: 2, dilation: 2), Loose),

        ["batch_norm_train"] = new("xwb", i => F.batch_norm(i["x"], i["rm"], i["rv"], i["w"], i["b"], training: true, momentum: 0.3, eps: 1e-4), Loose),
        ["batch_norm_eval"] = new("xwb", i => F.batch_norm(i["x"], i["rm"], i["rv"], i["w"], i["b"], training: false, momentum: 0.3, eps: 1e-4), Loose),
        ["batch_norm_no_running_stats"] = new("xwb", i => F.batch_norm(i["x"], null, null, i["w"], i["b"], training: true), Loose),
        ["layer_norm"] = new("xwb", i => F.layer_norm(i["x"], [4, 5], i["w"], i["b"]), Loose),
        ["layer_norm_plain"] = new("x", i => F.layer_norm(i["x"], [6], eps: 1e-3), Loose),
        ["group_norm"] = new("xwb", i => F.group_norm(i["x"], 3, i["w"], i["b"], eps: 1e-4), Loose),
        ["group_norm_plain"] = new("x", i => F.group_norm(i["x"], 2), Loose),

        ["relu"] = new("x", i => F.relu(i["x"])),
        ["gelu"] = new("x", i => F.gelu(i["x"])),
        ["gelu_tanh"] = new("x", i => F.gelu(i["x"], approximate: "tanh")),
        ["silu"] = new("x", i => F.silu(i["x"])),
        ["sigmoid"] = new("x", i => F.sigmoid(i["x"])),
        ["tanh"] = new("x", i => F.tanh(i["x"])),
        ["leaky_relu"] = new("x", i => F.leaky_relu(i["x"], 0.2)),
        ["prelu"] = new("xw", i => F.prelu(i["x"], i["w"]), Loose),
        ["prelu_shared"] = new("xw", i => F.prelu(i["x"], i["w"]), Loose),
        ["softmax"] = new("x", i => F.softmax(i["x"], dim: 1)),
        ["softmax_last_float64"] = new("x", i => F.softmax(i["x"], dim: -1, dtype: torch.float64)),
        ["log_softmax"] = new("x", i => F.log_softmax(i["x"], dim: 1)),
        ["log_softmax_dim0"] = new("x", i => F.log_softmax(i["x"], dim: 0)),

        ["max_pool2d"] = new("x", i => F.max_pool2d(i["x"], 3, stride: 2, padding: 1)),
        ["max_pool2d_default_stride"] = new("x", i => F.max_pool2d(i["x"], 2)),
        ["max_pool2d_dilation_ceil"] = new("x", i => F.max_pool2d(i["x"], (3, 2), stride: (2, 1), dilation: 2, ceil_mode: true)),
        ["avg_pool2d"] = new("x", i => F.avg_pool2d(i["x"], 3, stride: 2, padding: 1)),
        ["avg_pool2d_exclude_pad_ceil"] = new("x", i => F.avg_pool2d(i["x"], 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false)),
        ["avg_pool2d_divisor"] = new("x", i => F.avg_pool2d(i["x"], (2, 3), divisor_override: 4)),
        ["adaptive_avg_pool2d"] = new("x", i => F.adaptive_avg_pool2d(i["x"], (3, 4))),
        ["adaptive_avg_pool2d_1"] = new("x", i => F.adaptive_avg_pool2d(i["x"], 1)),
        ["adaptive_max_pool2d"] = new("x", i => F.adaptive_max_pool2d(i["x"], (2, 3))),

        ["interpolate_nearest_size"] = new("x", i => F.interpolate(i["x"], size: (7, 10))),
        ["interpolate_nearest_scale"] = new("x", i => F.interpolate(i["x"], scale_factor: 2)),
        ["interpolate_nearest_exact"] = new("x", i => F.interpolate(i["x"], scale_factor: 1.7, mode: "nearest-exact")),
        ["interpolate_bilinear_scale"] = new("x", i => F.interpolate(i["x"], scale_factor: 1.5, mode: "bilinear")),
        ["interpolate_bilinear_align"] = new("x", i => F.interpolate(i["x"], size: (8, 4), mode: "bilinear", align_corners: true)),
        ["interpolate_bilinear_recompute"] = new("x", i => F.interpolate(i["x"], scale_factor: (1.3, 0.7), mode: "bilinear", recompute_scale_factor: true)),
        ["interpolate_bicubic"] = new("x", i => F.interpolate(i["x"], size: (9, 11), mode: "bicubic", align_corners: false)),
        ["interpolate_area"] = new("x", i => F.interpolate(i["x"], size: (3, 4), mode: "area")),
        ["interpolate_linear_1d"] = new("x", i => F.interpolate(i["x"], scale_factor: 2.5, mode: "linear", align_corners: true)),
        ["pad_constant"] = new("x", i => F.pad(i["x"], [1, 2, 0, 1], value: 1.5)),
        ["pad_reflect"] = new("x", i => F.pad(i["x"], [2, 1, 1, 2], mode: "reflect")),
        ["pad_replicate"] = new("x", i => F.pad(i["x"], [1, 1, 2, 0], mode: "replicate")),
        ["pad_circular"] = new("x", i => F.pad(i["x"], [1, 2, 2, 1], mode: "circular")),
        ["grid_sample_bilinear_zeros_0"] = new("xg", i => F.grid_sample(i["x"], i["g"], "bilinear", "zeros", align_corners: false)),
        ["grid_sample_bilinear_border_1"] = new("xg", i => F.grid_sample(i["x"], i["g"], "bilinear", "border", align_corners: true)),
        ["grid_sample_bilinear_reflection_0"] = new("xg", i => F.grid_sample(i["x"], i["g"], "bilinear", "reflection")),
        ["grid_sample_bilinear_reflection_1"] = new("xg", i => F.grid_sample(i["x"], i["g"], "bilinear", "reflection", align_corners: true)),
        ["grid_sample_nearest_zeros_1"] = new("x", i => F.grid_sample(i["x"], i["g"], "nearest", "zeros", align_corners: true)),
        ["grid_sample_nearest_border_0"] = new("x", i => F.grid_sample(i["x"], i["g"], mode: "nearest", padding_mode: "border")),
        ["grid_sample_bicubic_zeros_0"] = new("xg", i => F.grid_sample(i["x"], i["g"], mode: "bicubic")),

        ["normalize"] = new("x", i => F.normalize(i["x"])),
        ["normalize_p1_last"] = new("x", i => F.normalize(i["x"], p: 1, dim: -1, eps: 0.5)),
        ["cosine_similarity"] = new("ab", i => F.cosine_similarity(i["a"], i["b"])),
        ["cosine_similarity_broadcast"] = new("ab", i => F.cosine_similarity(i["a"], i["b"], dim: -1, eps: 1e-6)),
        ["pairwise_distance"] = new("ab", i => F.pairwise_distance(i["a"], i["b"], p: 3.0, keepdim: true)),
        ["one_hot"] = new("", i => F.one_hot(i["t"], 5)),
        ["one_hot_inferred"] = new("", i => F.one_hot(i["t"])),
        ["embedding"] = new("w", i => F.embedding(i["idx"], i["w"])),
        ["embedding_padding_idx"] = new("w", i => F.embedding(i["idx"], i["w"], padding_idx: -2)),
        ["embedding_max_norm"] = new("w", i => F.embedding(i["idx"], i["w"], max_norm: 1.0)),

        ["cross_entropy"] = new("x", i => F.cross_entropy(i["x"], i["t"])),
        ["cross_entropy_weight_ignore"] = new("x", i => F.cross_entropy(i["x"], i["t"], weight: i["cw"], ignore_index: 3)),
        ["cross_entropy_smoothing_weight"] = new("x", i => F.cross_entropy(i["x"], i["t"], weight: i["cw"], label_smoothing: 0.15)),
        ["cross_entropy_smoothing_ignore_sum"] = new("x", i => F.cross_entropy(i["x"], i["t"], ignore_index: 4, reduction: "sum", label_smoothing: 0.2)),
        ["cross_entropy_none"] = new("x", i => F.cross_entropy(i["x"], i["t"], reduction: "none")),
        ["cross_entropy_spatial"] = new("x", i => F.cross_entropy(i["x"], i["t"])),
        ["cross_entropy_probs"] = new("xp", i => F.cross_entropy(i["x"], i["p"])),
        ["cross_entropy_probs_smoothing_weight"] = new("xp", i => F.cross_entropy(i["x"], i["p"], weight: i["cw"], label_smoothing: 0.1)),
        ["nll_loss"] = new("x", i => F.nll_loss(i["x"], i["t"])),
        ["nll_loss_weight_ignore_sum"] = new("x", i => F.nll_loss(i["x"], i["t"], weight: i["cw"], ignore_index: 0, reduction: "sum")),
        ["kl_div_batchmean"] = new("xp", i => F.kl_div(i["x"], i["p"], reduction: "batchmean")),
        ["kl_div_mean"] = new("xp", i => F.kl_div(i["x"], i["p"])),
        ["kl_div_log_target_sum"] = new("xp", i => F.kl_div(i["x"], i["p"], reduction: "sum", log_target: true)),
        ["kl_div_none"] = new("xp", i => F.kl_div(i["x"], i["p"], reduction: "none")),
        ["mse_loss"] = new("xy", i => F.mse_loss(i["x"], i["y"])),
        ["mse_loss_sum"] = new("xy", i => F.mse_loss(i["x"], i["y"], reduction: "sum")),
        ["mse_loss_broadcast_none"] = new("xy", i => F.mse_loss(i["x"], i["y"], reduction: "none")),
        ["l1_loss"] = new("xy", i => F.l1_loss(i["x"], i["y"])),
        ["l1_loss_none"] = new("xy", i => F.l1_loss(i["x"], i["y"], reduction: "none")),
        ["smooth_l1_loss"] = new("xy", i => F.smooth_l1_loss(i["x"], i["y"])),
        ["smooth_l1_loss_beta"] = new("xy", i => F.smooth_l1_loss(i["x"], i["y"], reduction: "sum", beta: 0.5)),
        ["smooth_l1_loss_beta0"] = new("xy", i => F.smooth_l1_loss(i["x"], i["y"], beta: 0.0)),
        ["huber_loss"] = new("xy", i => F.huber_loss(i["x"], i["y"], delta: 0.7)),
        ["bce_with_logits"] = new("xt", i => F.binary_cross_entropy_with_logits(i["x"], i["t"])),
        ["bce_with_logits_weights"] = new("xt", i => F.binary_cross_entropy_with_logits(i["x"], i["t"], weight: i["w"], pos_weight: i["pw"])),
        ["bce_with_logits_sum"] = new("x", i => F.binary_cross_entropy_with_logits(i["x"], i["t"], reduction: "sum", pos_weight: i["pw"])),
        ["bce_with_logits_none"] = new("xt", i => F.binary_cross_entropy_with_logits(i["x"], i["t"], reduction: "none")),
        ["binary_cross_entropy"] = new("x", i => F.binary_cross_entropy(i["x"], i["t"], weight: i["w"])),
    };

    public static TheoryData<string> CaseNames => new(Cases.Keys.Order());

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Matches_pytorch_values_and_gradients(string name)
    {
        using var scope = torch.NewDisposeScope();
        var c = Cases[name];
        var inputs = new Inputs(name, c.Grads);
        var output = c.Op(inputs);
        fx.AssertClose(output, name, "out", c.Rtol, c.Atol);
        if (c.Grads.Length == 0) return;
        output.backward(fx[name, "gout"]);
        foreach (var g in inputs.Grads)
        {
            var grad = inputs[g].grad;
            Assert.True(grad is not null, $"{name}: no gradient for {g}");
            fx.AssertClose(grad, name, "grad_" + g, c.Rtol, c.Atol);
        }
    }

    [Fact]
    public void Every_fixture_case_is_tested()
    {
        var untested = fx.Cases.Where(c => !Cases.ContainsKey(c)).ToList();
        Assert.True(untested.Count == 0, "fixture cases without a test: " + string.Join(", ", untested));
        foreach (var (name, c) in Cases)
            foreach (var g in c.Grads) Assert.True(fx.Has(name, "grad_" + g), $"{name}: the fixture has no grad_{g}");
    }

    [Fact]
    public void Batch_norm_updates_running_statistics_in_training_only()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var name in new[] { "batch_norm_train", "batch_norm_eval" })
        {
            var rm = fx.Input(name, "rm");
            var rv = fx.Input(name, "rv");
            F.batch_norm(fx[name, "x"], rm, rv, fx[name, "w"], fx[name, "b"], training: name.EndsWith("train"), momentum: 0.3, eps: 1e-4);
            fx.AssertClose(rm, name, "rm_after");
            fx.AssertClose(rv, name, "rv_after");
        }
        var ex = Assert.Throws<TorchException>(() => F.batch_norm(torch.ones([1, 3]), null, null, training: true));
        Assert.Equal(ErrorCategory.Value, ex.Category);
        Assert.Contains("Expected more than 1 value per channel when training", ex.Message);
    }

    [Fact]
    public void Max_pool_returns_pytorchs_indices()
    {
        using var scope = torch.NewDisposeScope();
        var (output, indices) = F.max_pool2d_with_indices(fx["max_pool2d", "x"], 3, stride: 2, padding: 1);
        fx.AssertClose(output, "max_pool2d", "out");
        Assert.True(indices.equal(fx["max_pool2d", "indices"]));
    }

    [Fact]
    public void Embedding_max_norm_renormalizes_the_weight_in_place()
    {
        using var scope = torch.NewDisposeScope();
        var w = fx.Input("embedding_max_norm", "w");
        F.embedding(fx["embedding_max_norm", "idx"], w, max_norm: 1.0);
        fx.AssertClose(w, "embedding_max_norm", "w_after");
    }

    /// <summary>
    /// F.normalize with p = 2 and a gradient to compute runs a node with a closed-form backward (normalize.cpp):
    /// the composite's values exactly, its gradients to rounding (rows whose norm is below eps included: there the
    /// divisor is the constant eps), and a double backward.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    [InlineData(-1)]
    public void Normalize_l2_backward_matches_the_composite(int dim)
    {
        using var scope = torch.NewDisposeScope();
        const double eps = 1e-12;
        static Tensor Composite(Tensor x, long dim) => x / x.norm(2, dim, keepdim: true).clamp_min(eps).expand_as(x);
        var data = torch.randn([6, 5, 3]);
        data.select(0, 2).select(0, 1).zero_();        // zero rows along dim 1 and -1
        data.select(1, 3).select(1, 0).mul_(1e-14);     // rows below eps along dim 0
        var g = torch.randn([6, 5, 3]);

        var a = data.clone().requires_grad_();
        var b = data.clone().requires_grad_();
        var ya = F.normalize(a, dim: dim);
        var yb = Composite(b, dim);
        Assert.True(ya.equal(yb), "forward values");
        ya.backward(g);
        yb.backward(g);
        TensorAssert.Close(b.grad!, a.grad!, rtol: 1e-5, atol: 1e-5, what: "gradient");

        // second order, away from the clamp (whose second derivative is 0 on both sides but huge around it)
        var smooth = torch.randn([6, 5, 3]);
        var h = torch.randn([6, 5, 3]);
        var c = smooth.clone().requires_grad_();
        var d = smooth.clone().requires_grad_();
        F.normalize(c, dim: dim).backward(g, create_graph: true);
        Composite(d, dim).backward(g, create_graph: true);
        (c.grad! * h).sum().backward();
        (d.grad! * h).sum().backward();
        TensorAssert.Close(d.grad!, c.grad!, rtol: 1e-4, atol: 1e-5, what: "gradient after the double backward");

        // no gradient wanted: the composite runs (same values)
        using (torch.no_grad()) Assert.True(F.normalize(a, dim: dim).equal(yb.detach()));
    }

    [Fact]
    public void In_place_activations_overwrite_and_return_the_input()
    {
        using var scope = torch.NewDisposeScope();
        var x = fx.Input("relu", "x");
        Assert.Same(x, F.relu(x, inplace: true));
        fx.AssertClose(x, "relu", "out");
        x = fx.Input("silu", "x");
        Assert.Same(x, F.silu(x, inplace: true));
        fx.AssertClose(x, "silu", "out");
        x = fx.Input("leaky_relu", "x");
        Assert.Same(x, F.leaky_relu(x, 0.2, inplace: true));
        fx.AssertClose(x, "leaky_relu", "out");
    }

    [Fact]
    public void Dropout_is_the_identity_when_not_training_or_p_is_zero()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([4, 5]);
        Assert.True(F.dropout(x, 0.5, training: false).equal(x));
        Assert.True(F.dropout(x, 0.0).equal(x));
        Assert.True(F.dropout(x, 1.0).equal(torch.zeros_like(x)));
    }

    [Fact]
    public void Dropout_zeroes_a_fraction_p_and_scales_the_rest()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        var x = torch.ones([200_000]);
        var y = F.dropout(x, 0.3).ToArray<float>();
        var zeros = y.Count(v => v == 0f);
        Assert.InRange(zeros / (double)y.Length, 0.29, 0.31);
        Assert.All(y.Where(v => v != 0f), v => Assert.Equal(1f / 0.7f, v, 1e-6f));
        // In place: the same tensor comes back, changed.
        var z = torch.ones([1000]);
        Assert.Same(z, F.dropout(z, 0.5, inplace: true));
        Assert.Contains(0f, z.ToArray<float>());
        var ex = Assert.Throws<TorchException>(() => F.dropout(x, 1.5));
        Assert.Equal(ErrorCategory.Value, ex.Category);
        Assert.Contains("dropout probability has to be between 0 and 1, but got 1.5", ex.Message);
    }

    [Fact]
    public void Argument_errors_carry_pytorchs_messages()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([2, 3, 4, 4]);
        var e1 = Assert.Throws<TorchException>(() => F.mse_loss(x, x, reduction: "avg"));
        Assert.Equal("avg is not a valid value for reduction", e1.Message);
        var e2 = Assert.Throws<TorchException>(() => F.interpolate(x, size: 3, scale_factor: 2.0));
        Assert.Contains("only one of size or scale_factor should be defined", e2.Message);
        var e3 = Assert.Throws<TorchException>(() => F.interpolate(x, size: 3, align_corners: true));
        Assert.Contains("align_corners option can only be set with the interpolating modes", e3.Message);
        var e4 = Assert.Throws<TorchException>(() => F.grid_sample(x, torch.zeros([2, 3, 3, 2]), mode: "linear"));
        Assert.Contains("expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: 'linear'", e4.Message);
        var e5 = Assert.Throws<TorchException>(() => F.binary_cross_entropy_with_logits(torch.zeros([3]), torch.zeros([2])));
        Assert.Contains("Target size (torch.Size([2])) must be the same as input size (torch.Size([3]))", e5.Message);
        var e6 = Assert.Throws<TorchException>(() => F.conv2d(x, torch.randn([4, 5, 3, 3])));
        Assert.Contains("expected input[2, 3, 4, 4] to have 5 channels, but got 3 channels instead", e6.Message);
        var e7 = Assert.Throws<TorchException>(() => F.interpolate(torch.randn([1, 2, 5]), size: 4, mode: "bilinear"));
        Assert.Equal(ErrorCategory.NotImplemented, e7.Category);
        Assert.Contains("Got 3D input, but bilinear mode needs 4D input", e7.Message);
        var e8 = Assert.Throws<TorchException>(() => F.prelu(torch.randn([2, 3, 4]), torch.randn([5])));
        Assert.Contains("Mismatch of parameter numbers and input channel size. Found parameter numbers = 5 and channel size = 3.", e8.Message);
    }

    [Fact]
    public void One_hot_is_int64()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal(ScalarType.Int64, F.one_hot(torch.tensor(new long[] { 1, 0 }), 3).dtype);
    }
}
