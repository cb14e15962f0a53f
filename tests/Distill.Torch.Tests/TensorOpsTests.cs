using System.Collections;

namespace Distill.Torch.Tests;

/// <summary>
/// The inputs of one fixture case, loaded on first use. An input gets requires_grad exactly when the
/// fixture holds a gradient for it (<c>grad_&lt;name&gt;</c>).
/// </summary>
internal sealed class OpInputs(Fixture fixture, string testCase)
{
    public Dictionary<string, Tensor> Loaded { get; } = new();

    public Tensor this[string name]
    {
        get
        {
            if (!Loaded.TryGetValue(name, out var t))
                Loaded[name] = t = fixture.Input(testCase, name, requiresGrad: fixture.Has(testCase, "grad_" + name));
            return t;
        }
    }
}

/// <summary>
/// Cases of a fixture file by name, each with one or more ways of computing it in C# (method, static
/// form, operator, in-place form) that must all give PyTorch's result.
/// </summary>
internal sealed class OpTable : IEnumerable<string>
{
    private readonly Dictionary<string, (Func<OpInputs, object>[] Variants, double Rtol, double Atol)> _cases = new();

    public void Add(string name, params Func<OpInputs, object>[] variants) => _cases.Add(name, (variants, 1e-5, 1e-6));
    public void Add(string name, double rtol, double atol, params Func<OpInputs, object>[] variants) => _cases.Add(name, (variants, rtol, atol));

    public IEnumerable<string> Names => _cases.Keys;

    public TheoryData<string> TheoryData()
    {
        var data = new TheoryData<string>();
        foreach (var name in _cases.Keys) data.Add(name);
        return data;
    }

    /// <summary>Runs every variant of <paramref name="name"/> against the fixture.</summary>
    public void Run(Fixture fixture, string name)
    {
        var (variants, rtol, atol) = _cases[name];
        Assert.NotEmpty(variants);
        foreach (var variant in variants) OpHarness.Run(fixture, name, variant, rtol, atol);
    }

    public IEnumerator<string> GetEnumerator() => _cases.Keys.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

internal static class OpHarness
{
    /// <summary>
    /// Runs <paramref name="op"/> on the case's inputs and compares every output with the fixture; when
    /// the fixture has upstream gradients, back-propagates them and compares every input gradient.
    /// </summary>
    public static void Run(Fixture fx, string name, Func<OpInputs, object> op, double rtol = 1e-5, double atol = 1e-6)
    {
        using var scope = torch.NewDisposeScope();
        var inputs = new OpInputs(fx, name);
        var result = op(inputs);
        Tensor[] outs = result switch
        {
            Tensor t => [t],
            Tensor[] ts => ts,
            ValueTuple<Tensor, Tensor> pair => [pair.Item1, pair.Item2],
            _ => throw new InvalidOperationException($"{name}: an op returned {result.GetType().Name}"),
        };
        string[] keys = result is Tensor ? ["out"] : outs.Select((_, k) => $"out{k}").ToArray();
        Assert.True(result is Tensor || !fx.Has(name, "out"), $"{name}: the fixture has one output, the op returned {outs.Length}");
        Assert.False(fx.Has(name, $"out{outs.Length}"), $"{name}: the fixture has more than {outs.Length} outputs");
        for (var k = 0; k < outs.Length; k++) fx.AssertClose(outs[k], name, keys[k], rtol, atol);

        Tensor? loss = null;
        for (var k = 0; k < outs.Length; k++)
        {
            if (!fx.Has(name, "g" + keys[k])) continue;
            var term = (outs[k] * fx[name, "g" + keys[k]]).sum();
            loss = loss is null ? term : loss + term;
        }
        if (loss is null)
        {
            Assert.DoesNotContain(inputs.Loaded.Keys, input => fx.Has(name, "grad_" + input));
            return;
        }
        loss.backward();
        var compared = 0;
        foreach (var (input, tensor) in inputs.Loaded)
        {
            if (!fx.Has(name, "grad_" + input)) continue;
            var grad = tensor.grad;
            Assert.True(grad is not null, $"{name}: input '{input}' received no gradient");
            fx.AssertClose(grad, name, "grad_" + input, rtol, atol);
            compared++;
        }
        Assert.True(compared > 0, $"{name}: the fixture has upstream gradients but no input gradient was compared");
    }
}

public class TensorOpsTests
{
    private static readonly Fixture Fx = Fixture.Load("tensor_ops");

    public static TheoryData<string> CaseNames => Table.TheoryData();

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Matches_pytorch(string name) => Table.Run(Fx, name);

    [Fact]
    public void Every_fixture_case_has_a_test_and_every_test_a_fixture_case()
    {
        Assert.Equal(Fx.Cases.Order(), Table.Names.Order());
    }

    private static readonly OpTable Table = new()
    {
        // ---- views ----
        { "permute", x => x["a"].permute(2, 0, 1), x => torch.permute(x["a"], 2, 0, 1) },
        { "permute_negative", x => x["a"].permute(-1, -3, -2) },
        { "transpose", x => x["a"].transpose(0, 2), x => torch.transpose(x["a"], 2, 0), x => x["a"].swapaxes(0, 2) },
        { "transpose_negative", x => x["a"].transpose(-1, -2) },
        { "t", x => x["a"].t(), x => torch.t(x["a"]) },
        { "t_1d", x => x["a"].t() },
        { "mT", x => x["a"].mT },
        { "unflatten", x => x["a"].unflatten(1, 3, 4), x => torch.unflatten(x["a"], 1, 3, 4) },
        { "unflatten_inferred", x => x["a"].unflatten(-1, 2, -1) },
        { "unsqueeze", x => x["a"].unsqueeze(1), x => torch.unsqueeze(x["a"], 1) },
        { "unsqueeze_negative", x => x["a"].unsqueeze(-1) },
        { "squeeze", x => x["a"].squeeze(), x => torch.squeeze(x["a"]) },
        { "squeeze_dim", x => x["a"].squeeze(2), x => torch.squeeze(x["a"], 2) },
        { "squeeze_dim_negative", x => x["a"].squeeze(-4) },
        { "squeeze_dim_not_one", x => x["a"].squeeze(1) },
        { "squeeze_dims", x => x["a"].squeeze([0, -2]), x => x["a"].squeeze([2, 0, 1]) },
        { "expand", x => x["a"].expand(2, 3, 4) },
        { "expand_inferred", x => x["a"].expand(-1, 5) },
        { "expand_as", x => x["a"].expand_as(x["b"]) },
        { "broadcast_to", x => x["a"].broadcast_to(2, 3, 4), x => torch.broadcast_to(x["a"], 2, 3, 4) },
        { "view", x => x["a"].view(4, -1) },
        { "view_as", x => x["a"].view_as(x["b"]), x => x["a"].reshape_as(x["b"]) },
        { "reshape_noncontiguous", x => x["a"].t().reshape(-1), x => torch.reshape(x["a"].t(), -1) },
        { "flatten", x => x["a"].flatten(1), x => torch.flatten(x["a"], 1) },
        { "contiguous", x => ContiguousTranspose(x["a"]) },
        { "narrow", x => x["a"].narrow(1, 1, 3), x => torch.narrow(x["a"], 1, 1, 3) },
        { "narrow_negative", x => x["a"].narrow(-2, 2, 2) },
        { "select", x => x["a"].select(1, 2), x => torch.select(x["a"], 1, 2) },
        { "select_negative", x => x["a"].select(-1, -1) },
        { "diagonal", x => x["a"].diagonal(1, -2, -1), x => torch.diagonal(x["a"], 1, -2, -1) },
        { "chunk", x => x["a"].chunk(3), x => torch.chunk(x["a"], 3, 0) },
        { "chunk_negative_dim", x => x["a"].chunk(2, -1) },
        { "split_size", x => x["a"].split(3), x => torch.split(x["a"], 3, 0) },
        { "split_sizes", x => x["a"].split([1, 3], 1), x => torch.split(x["a"], [1, 3], 1) },
        { "unbind", x => x["a"].unbind(1), x => torch.unbind(x["a"], 1) },
        { "unbind_default", x => x["a"].unbind() },
        { "repeat", x => x["a"].repeat(2, 1, 2) },
        { "flip", x => x["a"].flip(0, 2), x => torch.flip(x["a"], 0, 2) },
        { "flip_negative", x => x["a"].flip(-1) },
        { "roll_flat", x => x["a"].roll(1), x => torch.roll(x["a"], 1) },
        { "roll_dims", x => x["a"].roll([1, -2], [0, 1]), x => torch.roll(x["a"], [1, -2], [0, 1]) },
        { "roll_dim", x => x["a"].roll(2, -1) },
        { "movedim", x => x["a"].movedim(0, -1), x => torch.movedim(x["a"], 0, -1), x => x["a"].moveaxis(0, 2) },
        { "movedim_many", x => x["a"].movedim([0, 1], [2, 0]), x => torch.movedim(x["a"], [0, 1], [2, 0]) },

        // ---- indexing ----
        { "index_select", x => x["a"].index_select(0, x["idx"]), x => torch.index_select(x["a"], 0, x["idx"]) },
        { "index_select_negative_dim", x => x["a"].index_select(-1, x["idx"]) },
        { "gather", x => x["a"].gather(1, x["idx"]), x => torch.gather(x["a"], 1, x["idx"]) },
        { "gather_dim0", x => x["a"].gather(0, x["idx"]) },
        { "gather_negative_dim", x => x["a"].gather(-1, x["idx"]) },
        { "scatter", x => x["a"].scatter(1, x["idx"], x["src"]), x => torch.scatter(x["a"], 1, x["idx"], x["src"]) },
        { "scatter_dim0", x => x["a"].scatter(0, x["idx"], x["src"]) },
        { "scatter_value", x => x["a"].scatter(1, x["idx"], 2.5), x => torch.scatter(x["a"], 1, x["idx"], 2.5) },
        { "scatter_inplace", x => x["a"].clone().scatter_(1, x["idx"], x["src"]) },
        { "scatter_value_inplace", x => x["a"].clone().scatter_(-1, x["idx"], -1.5) },
        { "scatter_reduce_add", x => x["a"].scatter(1, x["idx"], x["src"], reduce: "add"), x => x["a"].clone().scatter_(1, x["idx"], x["src"], "add") },
        { "scatter_add", x => x["a"].scatter_add(1, x["idx"], x["src"]), x => torch.scatter_add(x["a"], 1, x["idx"], x["src"]) },
        { "scatter_add_inplace", x => x["a"].clone().scatter_add_(0, x["idx"], x["src"]) },
        { "scatter_reduce_sum", x => x["a"].scatter_reduce(1, x["idx"], x["src"], "sum", include_self: false) },
        { "scatter_reduce_amax", x => x["a"].scatter_reduce(0, x["idx"], x["src"], "amax"), x => torch.scatter_reduce(x["a"], 0, x["idx"], x["src"], "amax") },
        { "scatter_reduce_mean_inplace", x => x["a"].clone().scatter_reduce_(1, x["idx"], x["src"], "mean") },
        { "index_add", x => x["a"].index_add(0, x["idx"], x["src"], alpha: 2), x => torch.index_add(x["a"], 0, x["idx"], x["src"], 2) },
        { "index_add_inplace", x => x["a"].clone().index_add_(1, x["idx"], x["src"]) },
        { "index_put", x => x["a"].index_put([x["i0"], x["i1"]], x["v"]), x => torch.index_put(x["a"], [x["i0"], x["i1"]], x["v"]) },
        { "index_put_accumulate_inplace", x => x["a"].clone().index_put_([x["i0"], x["i1"]], x["v"], accumulate: true) },
        { "index_put_slice", x => x["a"].clone().index_put_([null, x["idx"]], x["v"]), x => x["a"].index_put([null, x["idx"]], x["v"]) },
        { "index_put_mask", x => x["a"].index_put([x["m"]], x["v"]) },
        { "index_fill", x => x["a"].index_fill(1, x["idx"], -1.0), x => torch.index_fill(x["a"], 1, x["idx"], -1.0) },
        { "index_fill_inplace", x => x["a"].clone().index_fill_(0, x["idx"], 7) },
        { "index", x => x["a"].index(x["idx"]) },
        { "index_2d_indices", x => x["a"].index(x["idx"]) },
        { "index_mask", x => x["a"].index(x["m"]) },
        { "index_mask_2d", x => x["a"].index(x["m"]) },
        { "index_two", x => x["a"].index([x["i0"], x["i1"]]) },
        { "index_slice_then_tensor", x => x["a"].index([null, x["idx"]]) },
        { "masked_fill", x => x["a"].masked_fill(x["m"], 0.5), x => torch.masked_fill(x["a"], x["m"], 0.5) },
        { "masked_fill_broadcast_mask", x => x["a"].masked_fill(x["m"], -2.0) },
        { "masked_fill_tensor", x => x["a"].masked_fill(x["m"], x["v"]), x => torch.masked_fill(x["a"], x["m"], x["v"]) },
        { "masked_fill_inplace", x => x["a"].clone().masked_fill_(x["m"], 3.0) },
        { "masked_fill_tensor_inplace", x => x["a"].clone().masked_fill_(x["m"], x["v"]) },
        { "masked_fill_int", x => x["a"].masked_fill(x["m"], 9) },
        { "masked_select", x => x["a"].masked_select(x["m"]), x => torch.masked_select(x["a"], x["m"]) },
        { "masked_select_broadcast", x => x["a"].masked_select(x["m"]) },
        { "masked_scatter", x => x["a"].masked_scatter(x["m"], x["s"]), x => torch.masked_scatter(x["a"], x["m"], x["s"]) },
        { "masked_scatter_inplace", x => x["a"].clone().masked_scatter_(x["m"], x["s"]) },
        { "where", x => torch.where(x["cond"], x["a"], x["b"]) },
        { "where_broadcast_condition", x => torch.where(x["cond"], x["a"], x["b"]) },
        { "where_tensor_scalar", x => torch.where(x["cond"], x["a"], 0.0), x => x["a"].where(x["cond"], 0.0) },
        { "where_scalar_tensor", x => torch.where(x["cond"], 1.5, x["b"]) },
        { "where_scalars", x => torch.where(x["cond"], 1.0, 0.0) },
        { "where_int_scalars", x => torch.where(x["cond"], 1, -1) },
        { "where_int_float_promotion", x => torch.where(x["cond"], x["a"], 2.5) },
        { "where_method", x => x["a"].where(x["cond"], x["b"]) },
        { "where_condition_only", x => torch.where(x["cond"]) },
        { "nonzero", x => x["a"].nonzero(), x => torch.nonzero(x["a"]) },
        { "nonzero_bool", x => x["a"].nonzero() },
        { "argmax", x => x["a"].argmax(), x => torch.argmax(x["a"]) },
        { "argmax_dim", x => x["a"].argmax(1), x => torch.argmax(x["a"], 1) },
        { "argmax_dim_keepdim", x => x["a"].argmax(-2, keepdim: true) },
        { "argmin", x => x["a"].argmin(), x => torch.argmin(x["a"]) },
        { "argmin_dim", x => x["a"].argmin(0) },
        { "argmin_dim_keepdim", x => x["a"].argmin(-1, keepdim: true) },
        { "topk", x => x["a"].topk(2), x => torch.topk(x["a"], 2) },
        { "topk_smallest_dim0", x => x["a"].topk(2, dim: 0, largest: false) },
        { "sort", x => x["a"].sort(), x => torch.sort(x["a"]) },
        { "sort_descending_dim0", x => x["a"].sort(dim: 0, descending: true) },
        { "sort_stable_ties", x => x["a"].sort(stable: true) },
        { "sort_stable_descending_ties", x => torch.sort(x["a"], -1, descending: true, stable: true) },
        { "argsort", x => x["a"].argsort(), x => torch.argsort(x["a"]) },
        { "argsort_descending_dim0", x => x["a"].argsort(dim: 0, descending: true) },
        { "argsort_stable_ties", x => x["a"].argsort(stable: true) },
        { "cumsum", x => x["a"].cumsum(1), x => torch.cumsum(x["a"], 1) },
        { "cumsum_negative_dim", x => x["a"].cumsum(-2) },
        { "cumsum_int", x => x["a"].cumsum(0) },
        { "cumsum_dtype", x => x["a"].cumsum(1, ScalarType.Float64) },
        { "cumprod", x => x["a"].cumprod(1), x => torch.cumprod(x["a"], 1) },
        { "cumprod_negative_dim", x => x["a"].cumprod(-2) },
        { "tril", x => x["a"].tril(), x => torch.tril(x["a"]) },
        { "tril_above", x => x["a"].tril(1) },
        { "tril_below_batched", x => x["a"].tril(-1) },
        { "triu", x => x["a"].triu(), x => torch.triu(x["a"]) },
        { "triu_above", x => x["a"].triu(2) },
        { "triu_below", x => x["a"].triu(-1) },
        { "tril_inplace", x => x["a"].clone().tril_() },
        { "triu_inplace", x => x["a"].clone().triu_(1) },

        // ---- joining ----
        { "cat", x => torch.cat([x["t0"], x["t1"], x["t2"]]), x => torch.concat(new List<Tensor> { x["t0"], x["t1"], x["t2"] }, 0) },
        { "cat_negative_dim", x => torch.cat([x["t0"], x["t1"]], -1) },
        { "cat_3d_dim1", x => torch.cat([x["t0"], x["t1"]], 1) },
        { "stack", x => torch.stack([x["t0"], x["t1"], x["t2"]]) },
        { "stack_dim1", x => torch.stack([x["t0"], x["t1"]], 1) },
        { "stack_negative_dim", x => torch.stack([x["t0"], x["t1"]], -1) },
        { "broadcast_tensors", x => torch.broadcast_tensors(x["a"], x["b"]) },

        // ---- reductions ----
        { "sum", x => x["a"].sum(), x => torch.sum(x["a"]) },
        { "sum_dims_keepdim", x => x["a"].sum([0, 2], keepdim: true), x => torch.sum(x["a"], [0, -1], true) },
        { "sum_int", x => x["a"].sum() },
        { "sum_dtype", x => x["a"].sum(ScalarType.Float64) },
        { "mean", x => x["a"].mean(), x => torch.mean(x["a"]) },
        { "mean_dim_keepdim", x => x["a"].mean(-1, keepdim: true), x => torch.mean(x["a"], 1, true) },
        { "nansum", x => x["a"].nansum(), x => torch.nansum(x["a"]) },
        { "nansum_dim", x => x["a"].nansum(1) },
        { "max", x => x["a"].max(), x => torch.max(x["a"]) },
        { "max_dim", x => x["a"].max(1), x => torch.max(x["a"], 1) },
        { "max_dim_keepdim", x => x["a"].max(-2, keepdim: true) },
        { "max_other", x => x["a"].max(x["b"]), x => torch.max(x["a"], x["b"]) },
        { "min", x => x["a"].min(), x => torch.min(x["a"]) },
        { "min_dim", x => x["a"].min(0), x => torch.min(x["a"], 0) },
        { "min_dim_keepdim", x => x["a"].min(-1, keepdim: true) },
        { "min_other", x => torch.min(x["a"], x["b"]) },
        { "amax", x => x["a"].amax([0, 2]), x => torch.amax(x["a"], [0, 2]) },
        { "amax_dim_keepdim", x => x["a"].amax(-1, keepdim: true) },
        { "amax_all", x => x["a"].amax(), x => x["a"].amax([]) },
        { "amin", x => x["a"].amin([0, 1]), x => torch.amin(x["a"], [0, 1]) },
        { "amin_dim_keepdim", x => x["a"].amin(1, keepdim: true) },
        { "amin_all", x => x["a"].amin() },
        { "norm", x => x["a"].norm(), x => torch.norm(x["a"]) },
        { "norm_p1_dim", x => x["a"].norm(1, 1), x => torch.norm(x["a"], 1, [1]) },
        { "norm_inf_keepdim", x => x["a"].norm(double.PositiveInfinity, -1, keepdim: true) },
        { "norm_neg_inf", x => x["a"].norm(double.NegativeInfinity, 0) },
        { "norm_p3_dims", x => x["a"].norm(3, [0, 1]) },
        { "norm_p0", x => x["a"].norm(0, 1) },
        { "vector_norm", x => torch.linalg.vector_norm(x["a"]) },
        { "vector_norm_inf_keepdim", x => torch.linalg.vector_norm(x["a"], double.PositiveInfinity, [1], keepdim: true) },
        { "vector_norm_ord1_dims", x => torch.linalg.vector_norm(x["a"], 1, [0, 2]) },
        { "logsumexp", x => x["a"].logsumexp(1), x => torch.logsumexp(x["a"], 1) },
        { "logsumexp_dims_keepdim", x => x["a"].logsumexp([0, 2], keepdim: true), x => torch.logsumexp(x["a"], [0, -1], true) },
        { "logsumexp_large", x => x["a"].logsumexp(-1) },
        { "prod", x => x["a"].prod(), x => torch.prod(x["a"]) },
        { "prod_dim_keepdim", x => x["a"].prod(1, keepdim: true), x => torch.prod(x["a"], 1, true) },
        { "prod_int", x => x["a"].prod() },
        { "var", x => x["a"].var(), x => torch.var(x["a"]) },
        { "var_dim_biased_keepdim", x => x["a"].var(1, unbiased: false, keepdim: true), x => x["a"].var([1], keepdim: true, correction: 0) },
        { "var_correction_dims", x => x["a"].var([0, 2], correction: 0), x => torch.var(x["a"], [0, 2], unbiased: false) },
        { "var_correction2", x => x["a"].var(1, correction: 2) },
        { "std", x => x["a"].std(), x => torch.std(x["a"]) },
        { "std_dim_biased_keepdim", x => x["a"].std(0, unbiased: false, keepdim: true) },
        { "std_correction_dims", x => x["a"].std([1, 2], correction: 0) },
        { "var_mean", x => x["a"].var_mean([1]), x => torch.var_mean(x["a"], [1]) },
        { "std_mean", x => x["a"].std_mean([0], unbiased: false, keepdim: true), x => torch.std_mean(x["a"], [0], keepdim: true, correction: 0) },
        { "all", x => x["a"].all(), x => torch.all(x["a"]) },
        { "all_true", x => x["a"].all() },
        { "all_dim", x => x["a"].all(1), x => torch.all(x["a"], 1) },
        { "all_float", x => x["a"].all(0) },
        { "any", x => x["a"].any(), x => torch.any(x["a"]) },
        { "any_false", x => x["a"].any() },
        { "any_dim_keepdim", x => x["a"].any(0, keepdim: true), x => torch.any(x["a"], 0, true) },
        { "count_nonzero", x => x["a"].count_nonzero(), x => torch.count_nonzero(x["a"]) },
        { "count_nonzero_dim", x => x["a"].count_nonzero(0) },
        { "count_nonzero_dims", x => x["a"].count_nonzero([0, 2]) },

        // ---- linear algebra ----
        { "matmul_1d_1d", x => x["a"].matmul(x["b"]) },
        { "matmul_2d_1d", x => x["a"].matmul(x["b"]) },
        { "matmul_1d_2d", x => x["a"].matmul(x["b"]) },
        { "matmul_2d_2d", x => torch.matmul(x["a"], x["b"]) },
        { "matmul_batched_broadcast", x => x["a"].matmul(x["b"]) },
        { "mm", x => x["a"].mm(x["b"]), x => torch.mm(x["a"], x["b"]) },
        { "bmm", x => x["a"].bmm(x["b"]), x => torch.bmm(x["a"], x["b"]) },
        { "mv", x => x["a"].mv(x["b"]), x => torch.mv(x["a"], x["b"]) },
        { "dot", x => x["a"].dot(x["b"]), x => torch.dot(x["a"], x["b"]) },
        { "outer", x => x["a"].outer(x["b"]), x => torch.outer(x["a"], x["b"]) },
        { "addmm", x => torch.addmm(x["s"], x["m1"], x["m2"]), x => x["s"].addmm(x["m1"], x["m2"]) },
        { "addmm_scaled", x => torch.addmm(x["s"], x["m1"], x["m2"], beta: 0.5, alpha: 2.0) },
        { "baddbmm", x => x["s"].baddbmm(x["b1"], x["b2"], beta: 2.0, alpha: -1.0) },
        { "einsum_matmul", x => torch.einsum("ij,jk->ik", x["a"], x["b"]) },
        { "einsum_batched", x => torch.einsum("bij,bjk->bik", x["a"], x["b"]) },
        { "einsum_diagonal", x => torch.einsum("ii->i", x["a"]) },
        { "einsum_trace", x => torch.einsum("ii", x["a"]) },
        { "einsum_outer", x => torch.einsum("i,j->ij", x["a"], x["b"]) },
        { "einsum_three", x => torch.einsum("bn,anm,bm->ba", x["t0"], x["t1"], x["t2"]) },
        { "einsum_ellipsis", x => torch.einsum("...ij->...ji", x["a"]) },
        { "einsum_implicit", x => torch.einsum("ij,jk", x["a"], x["b"]) },
        { "einsum_sum", x => torch.einsum("ijk->j", x["a"]) },

        // ---- clamp family and friends ----
        { "clamp", x => x["a"].clamp(-0.5, 0.5), x => torch.clamp(x["a"], -0.5, 0.5), x => x["a"].clip(-0.5, 0.5) },
        { "clamp_min_only", x => x["a"].clamp(min: 0.1) },
        { "clamp_max_only", x => x["a"].clamp(max: -0.2) },
        { "clamp_tensor", x => x["a"].clamp(x["lo"], x["hi"]), x => torch.clamp(x["a"], x["lo"], x["hi"]) },
        { "clamp_tensor_min_only", x => x["a"].clamp(min: x["lo"]) },
        { "clamp_int", x => x["a"].clamp(-2, 3) },
        { "clamp_inplace", x => x["a"].clone().clamp_(-0.3, 0.3) },
        { "clamp_tensor_inplace", x => x["a"].clone().clamp_(x["lo"], x["hi"]) },
        { "clamp_min", x => x["a"].clamp_min(0.2), x => torch.clamp_min(x["a"], 0.2) },
        { "clamp_max", x => x["a"].clamp_max(0.2), x => torch.clamp_max(x["a"], 0.2) },
        { "clamp_min_tensor", x => x["a"].clamp_min(x["b"]) },
        { "clamp_max_tensor", x => x["a"].clamp_max(x["b"]) },
        { "clamp_min_inplace", x => x["a"].clone().clamp_min_(0.0) },
        { "clamp_max_inplace", x => x["a"].clone().clamp_max_(0.5) },
        { "lerp", x => x["a"].lerp(x["b"], 0.3), x => torch.lerp(x["a"], x["b"], 0.3) },
        { "lerp_tensor_weight", x => x["a"].lerp(x["b"], x["w"]), x => torch.lerp(x["a"], x["b"], x["w"]) },
        { "lerp_inplace", x => x["a"].clone().lerp_(x["b"], 0.75) },
        { "lerp_tensor_inplace", x => x["a"].clone().lerp_(x["b"], x["w"]) },
        { "addcmul", x => x["a"].addcmul(x["t1"], x["t2"], value: 0.5), x => torch.addcmul(x["a"], x["t1"], x["t2"], 0.5) },
        { "addcmul_inplace", x => x["a"].clone().addcmul_(x["t1"], x["t2"]) },
        { "addcdiv", x => x["a"].addcdiv(x["t1"], x["t2"], value: 2), x => torch.addcdiv(x["a"], x["t1"], x["t2"], 2) },
        { "addcdiv_inplace", x => x["a"].clone().addcdiv_(x["t1"], x["t2"], value: -0.5) },
        { "isclose", x => x["a"].isclose(x["b"]), x => torch.isclose(x["a"], x["b"]) },
        { "isclose_tolerances", x => torch.isclose(x["a"], x["b"], rtol: 1e-2, atol: 1e-3, equal_nan: true) },
    };

    private static Tensor ContiguousTranspose(Tensor a)
    {
        var t = a.transpose(0, 1);
        Assert.False(t.is_contiguous());
        var c = t.contiguous();
        Assert.True(c.is_contiguous());
        return c;
    }

    // ---- behaviour the fixtures cannot show ----

    [Fact]
    public void Views_share_storage_with_their_base()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.zeros([3, 4]);
        a.transpose(0, 1).select(0, 2).fill_(1);
        a.narrow(1, 0, 1).fill_(2);
        Assert.Equal(new float[] { 2, 0, 1, 0, 2, 0, 1, 0, 2, 0, 1, 0 }, a.ToArray<float>());
        var parts = a.chunk(2, 1);
        parts[1].zero_();
        Assert.Equal(0f, a.narrow(1, 2, 1).sum().item<float>());
    }

    [Fact]
    public void Index_put_with_accumulate_adds_repeated_positions()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.zeros([3]);
        a.index_put_([torch.tensor(new long[] { 0, 0, 2 })], torch.ones([3]), accumulate: true);
        Assert.Equal(new float[] { 2, 0, 1 }, a.ToArray<float>());
    }

    [Fact]
    public void Tuple_results_deconstruct_with_pytorch_names()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new float[] { 3, 1, 2 });
        var (values, indices) = a.sort(descending: true);
        Assert.Equal(new float[] { 3, 2, 1 }, values.ToArray<float>());
        Assert.Equal(new long[] { 0, 2, 1 }, indices.ToArray<long>());
        var top = a.topk(1);
        Assert.Equal(3f, top.values.item<float>());
        Assert.Equal(0L, top.indices.item<long>());
        var max = a.max(0);
        Assert.Equal(0L, max.indices.item<long>());
    }

    // ---- errors carry libtorch's messages ----

    [Fact]
    public void Out_of_range_index_in_index_select_is_an_index_error()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => torch.ones([3, 4]).index_select(0, torch.tensor(new long[] { 5 })));
        Assert.Equal(ErrorCategory.Index, e.Category);
        Assert.Contains("index out of range in self", e.Message);
    }

    [Fact]
    public void Out_of_range_index_in_gather_is_a_runtime_error()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => torch.ones([3, 4]).gather(1, torch.tensor(new long[] { 5 }, new long[] { 1, 1 })));
        Assert.Contains(e.Category, new[] { ErrorCategory.Index, ErrorCategory.Runtime });
        Assert.Contains("index 5 is out of bounds for dimension 1 with size 4", e.Message);
    }

    [Fact]
    public void Cat_of_mismatched_shapes_is_a_TorchException()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => torch.cat([torch.ones([2, 3]), torch.ones([2, 4])]));
        Assert.Equal(ErrorCategory.Runtime, e.Category);
        Assert.Contains("Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for tensor number 1 in the list", e.Message);
    }

    [Fact]
    public void Einsum_with_a_bad_equation_is_a_TorchException()
    {
        using var scope = torch.NewDisposeScope();
        var bad = Assert.Throws<TorchException>(() => torch.einsum("i9", torch.ones([2, 3])));
        Assert.Contains("einsum(): invalid subscript given at index 1 in the equation string, subscripts must be in [a-zA-Z]", bad.Message);
        var mismatch = Assert.Throws<TorchException>(() => torch.einsum("ij,jk->", torch.ones([2, 3]), torch.ones([4, 5])));
        Assert.Contains("einsum(): subscript j has size 4 for operand 1 which does not broadcast with previously seen size 3", mismatch.Message);
    }

    [Fact]
    public void Squeeze_with_a_repeated_dim_is_a_TorchException()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<TorchException>(() => torch.ones([1, 2, 1]).squeeze([0, -3]));
        Assert.Contains("appears multiple times", e.Message);
    }
}

/// <summary>Pair and list results own exactly their handles; a failing op creates none.</summary>
[Collection(SequentialCollection.Name)]
public class TensorOpsLeakTests
{
    [Fact]
    public void A_failed_op_leaks_no_native_handle()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.ones([3, 4]);
        var index = torch.tensor(new long[] { 7 });
        var before = SequentialCollection.SettledLiveCount();
        Assert.Throws<TorchException>(() => a.topk(9));
        Assert.Throws<TorchException>(() => a.sort(5));
        Assert.Throws<TorchException>(() => a.index_select(0, index));
        Assert.Throws<TorchException>(() => a.split([1, 1], 1));
        Assert.Equal(before, Tensor.LiveCount);

        var (values, indices) = a.max(1);
        var parts = a.chunk(2, 1);
        Assert.Equal(before + 4, Tensor.LiveCount);
        values.Dispose();
        indices.Dispose();
        foreach (var part in parts) part.Dispose();
        Assert.Equal(before, Tensor.LiveCount);
    }
}
