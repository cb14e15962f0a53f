namespace Distill.Torch.Tests;

/// <summary>
/// Every elementwise op of Tensor.Elementwise.cs against PyTorch (values and gradients): unary ops on
/// inputs in their domain, binary ops with broadcasting, scalars on either side with PyTorch's type
/// promotion, the C# operators and the in-place forms.
/// </summary>
public class ElementwiseTests
{
    private static readonly Fixture Fx = Fixture.Load("elementwise");

    public static TheoryData<string> CaseNames => Table.TheoryData();

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Matches_pytorch(string name) => Table.Run(Fx, name);

    [Fact]
    public void Every_fixture_case_has_a_test_and_every_test_a_fixture_case()
    {
        Assert.Equal(Fx.Cases.Order(), Table.Names.Order());
    }

    // Each unary op with its in-place form (null where PyTorch has none).
    private static readonly (string Name, Func<Tensor, Tensor> Op, Func<Tensor, Tensor>? InPlace)[] Unary =
    [
        ("neg", x => x.neg(), x => x.neg_()),
        ("abs", x => x.abs(), x => x.abs_()),
        ("exp", x => x.exp(), x => x.exp_()),
        ("log", x => x.log(), x => x.log_()),
        ("sqrt", x => x.sqrt(), x => x.sqrt_()),
        ("rsqrt", x => x.rsqrt(), x => x.rsqrt_()),
        ("sin", x => x.sin(), x => x.sin_()),
        ("cos", x => x.cos(), x => x.cos_()),
        ("tanh", x => x.tanh(), x => x.tanh_()),
        ("sigmoid", x => x.sigmoid(), x => x.sigmoid_()),
        ("relu", x => x.relu(), x => x.relu_()),
        ("floor", x => x.floor(), x => x.floor_()),
        ("ceil", x => x.ceil(), x => x.ceil_()),
        ("round", x => x.round(), x => x.round_()),
        ("trunc", x => x.trunc(), x => x.trunc_()),
        ("sign", x => x.sign(), x => x.sign_()),
        ("reciprocal", x => x.reciprocal(), x => x.reciprocal_()),
        ("log1p", x => x.log1p(), x => x.log1p_()),
        ("expm1", x => x.expm1(), x => x.expm1_()),
        ("square", x => x.square(), x => x.square_()),
        ("erf", x => x.erf(), x => x.erf_()),
        ("log2", x => x.log2(), x => x.log2_()),
        ("exp2", x => x.exp2(), x => x.exp2_()),
        ("tan", x => x.tan(), x => x.tan_()),
        ("atan", x => x.atan(), x => x.atan_()),
        ("asin", x => x.asin(), x => x.asin_()),
        ("acos", x => x.acos(), x => x.acos_()),
        ("sinh", x => x.sinh(), x => x.sinh_()),
        ("cosh", x => x.cosh(), x => x.cosh_()),
        ("frac", x => x.frac(), x => x.frac_()),
        ("log10", x => x.log10(), x => x.log10_()),
        ("logical_not", x => x.logical_not(), null),
        ("logical_not_bool", x => x.logical_not(), x => x.logical_not_()),
        ("isnan", x => x.isnan(), null),
        ("isinf", x => x.isinf(), null),
        ("isfinite", x => x.isfinite(), null),
        ("bitwise_not", x => x.bitwise_not(), x => x.bitwise_not_()),
        ("bitwise_not_bool", x => x.bitwise_not(), x => x.bitwise_not_()),
        ("int_exp", x => x.exp(), null),
        ("int_sqrt", x => x.sqrt(), null),
        ("int_sigmoid", x => x.sigmoid(), null),
        ("int_abs", x => x.abs(), x => x.abs_()),
        ("int_neg", x => x.neg(), x => x.neg_()),
        ("int_sign", x => x.sign(), x => x.sign_()),
        ("float64_tanh", x => x.tanh(), x => x.tanh_()),
    ];

    // Binary ops with b broadcasting into a: method, in-place form, and the C# operator where there is one.
    private static readonly (string Name, Func<Tensor, Tensor, Tensor> Op, Func<Tensor, Tensor, Tensor> InPlace, Func<Tensor, Tensor, Tensor>? Operator)[] Binary =
    [
        ("add", (a, b) => a.add(b), (a, b) => a.add_(b), (a, b) => a + b),
        ("sub", (a, b) => a.sub(b), (a, b) => a.sub_(b), (a, b) => a - b),
        ("mul", (a, b) => a.mul(b), (a, b) => a.mul_(b), (a, b) => a * b),
        ("div", (a, b) => a.div(b), (a, b) => a.div_(b), (a, b) => a / b),
        ("pow", (a, b) => a.pow(b), (a, b) => a.pow_(b), null),
        ("remainder", (a, b) => a.remainder(b), (a, b) => a.remainder_(b), (a, b) => a % b),
        ("fmod", (a, b) => a.fmod(b), (a, b) => a.fmod_(b), null),
        ("maximum", (a, b) => a.maximum(b), (a, b) => a.maximum_(b), null),
        ("minimum", (a, b) => a.minimum(b), (a, b) => a.minimum_(b), null),
        ("atan2", (a, b) => a.atan2(b), (a, b) => a.atan2_(b), null),
        ("floor_divide", (a, b) => a.floor_divide(b), (a, b) => a.floor_divide_(b), null),
        ("div_trunc", (a, b) => a.div(b, "trunc"), (a, b) => a.div_(b, "trunc"), null),
        ("div_floor", (a, b) => a.div(b, "floor"), (a, b) => a.div_(b, "floor"), null),
        ("add_alpha", (a, b) => a.add(b, 2), (a, b) => a.add_(b, 2), null),
        ("sub_alpha", (a, b) => a.sub(b, 0.5), (a, b) => a.sub_(b, 0.5), null),
        ("logical_and", (a, b) => a.logical_and(b), (a, b) => a.logical_and_(b), null),
        ("logical_or", (a, b) => a.logical_or(b), (a, b) => a.logical_or_(b), null),
        ("logical_xor", (a, b) => a.logical_xor(b), (a, b) => a.logical_xor_(b), null),
        ("bitwise_and", (a, b) => a.bitwise_and(b), (a, b) => a.bitwise_and_(b), (a, b) => a & b),
        ("bitwise_or", (a, b) => a.bitwise_or(b), (a, b) => a.bitwise_or_(b), (a, b) => a | b),
        ("bitwise_xor", (a, b) => a.bitwise_xor(b), (a, b) => a.bitwise_xor_(b), (a, b) => a ^ b),
        ("bitwise_and_bool", (a, b) => a.bitwise_and(b), (a, b) => a.bitwise_and_(b), (a, b) => a & b),
        ("bitwise_or_bool", (a, b) => a.bitwise_or(b), (a, b) => a.bitwise_or_(b), (a, b) => a | b),
        ("bitwise_xor_bool", (a, b) => a.bitwise_xor(b), (a, b) => a.bitwise_xor_(b), (a, b) => a ^ b),
    ];

    // PyTorch's alternative names.
    private static readonly Dictionary<string, Func<Tensor, Tensor, Tensor>> Aliases = new()
    {
        ["sub"] = (a, b) => a.subtract(b),
        ["mul"] = (a, b) => a.multiply(b),
        ["div"] = (a, b) => a.divide(b),
        ["maximum"] = (a, b) => torch.max(a, b),
        ["minimum"] = (a, b) => a.min(b),
    };

    private static readonly OpTable Table = Build();

    private static OpTable Build()
    {
        var table = new OpTable();
        foreach (var (name, op, inPlace) in Unary)
        {
            var variants = new List<Func<OpInputs, object>> { x => op(x["a"]) };
            if (inPlace is not null) variants.Add(x => InPlace(x["a"], inPlace));
            table.Add("unary_" + name, variants.ToArray());
        }
        foreach (var (name, op, inPlace, @operator) in Binary)
        {
            var variants = new List<Func<OpInputs, object>> { x => op(x["a"], x["b"]), x => InPlace(x["a"], a => inPlace(a, x["b"])) };
            if (@operator is not null) variants.Add(x => @operator(x["a"], x["b"]));
            if (Aliases.TryGetValue(name, out var alias)) variants.Add(x => alias(x["a"], x["b"]));
            table.Add("binary_" + name, variants.ToArray());
        }

        // Mutual broadcasting: the result is larger than either operand, so no in-place form.
        table.Add("binary_add_mutual_broadcast", x => x["a"].add(x["b"]), x => x["a"] + x["b"]);
        table.Add("binary_mul_mutual_broadcast", x => x["a"].mul(x["b"]), x => x["a"] * x["b"]);
        table.Add("binary_div_mutual_broadcast", x => x["a"].div(x["b"]), x => x["a"] / x["b"]);
        table.Add("binary_pow_mutual_broadcast", x => x["a"].pow(x["b"]));
        table.Add("binary_maximum_mutual_broadcast", x => x["a"].maximum(x["b"]), x => x["a"].max(x["b"]));

        // Logical ops on floats give bool results; in place they would keep the float dtype.
        table.Add("binary_logical_and_float", x => x["a"].logical_and(x["b"]));
        table.Add("binary_logical_or_float", x => x["a"].logical_or(x["b"]));
        table.Add("binary_logical_xor_float", x => x["a"].logical_xor(x["b"]));

        // Comparisons return bool tensors.
        table.Add("compare_eq", x => x["a"].eq(x["b"]), x => x["a"].clone().eq_(x["b"]).to(ScalarType.Bool));
        table.Add("compare_ne", x => x["a"].ne(x["b"]));
        table.Add("compare_lt", x => x["a"].lt(x["b"]), x => x["a"] < x["b"], x => x["a"].less(x["b"]));
        table.Add("compare_le", x => x["a"].le(x["b"]), x => x["a"] <= x["b"]);
        table.Add("compare_gt", x => x["a"].gt(x["b"]), x => x["a"] > x["b"], x => x["a"].greater(x["b"]));
        table.Add("compare_ge", x => x["a"].ge(x["b"]), x => x["a"] >= x["b"]);
        table.Add("compare_eq_scalar", x => x["a"].eq(1), x => x["a"].clone().eq_(1).to(ScalarType.Bool));
        table.Add("compare_ne_scalar", x => x["a"].ne(1));
        table.Add("compare_lt_scalar", x => x["a"].lt(1), x => x["a"] < 1);
        table.Add("compare_le_scalar", x => x["a"].le(1), x => x["a"] <= 1);
        table.Add("compare_gt_scalar", x => x["a"].gt(1), x => x["a"] > 1);
        table.Add("compare_ge_scalar", x => x["a"].ge(1), x => x["a"] >= 1);

        // Scalars and type promotion.
        table.Add("promote_int_add_int", x => x["a"] + 2, x => x["a"].add(2), x => 2 + x["a"], x => x["a"].clone().add_(2));
        table.Add("promote_int_add_float", x => x["a"] + 2.5, x => x["a"].add(2.5), x => 2.5 + x["a"]);
        table.Add("promote_int32_add_int", x => x["a"] + 2, x => x["a"].clone().add_(2));
        table.Add("promote_int32_mul_float", x => x["a"] * 0.5, x => 0.5 * x["a"], x => x["a"].mul(0.5));
        table.Add("promote_int_div_int", x => x["a"] / 2, x => x["a"].div(2), x => x["a"].divide(torch.scalar_tensor(2)));
        table.Add("promote_int_div_int_tensor", x => x["a"] / x["b"], x => x["a"].div(x["b"]));
        table.Add("promote_int_sub_from_int", x => 2 - x["a"], x => Tensor.rsub(x["a"], 2));
        table.Add("promote_float_sub_from_int", x => 2 - x["a"], x => Tensor.rsub(x["a"], 2));
        table.Add("promote_int_div_from_float", x => 3.0 / x["a"]);
        table.Add("promote_float_div_from_int", x => 3 / x["a"]);
        table.Add("promote_int_mul_int_left", x => 3 * x["a"], x => x["a"].clone().mul_(3));
        table.Add("promote_float_add_int_left", x => 1 + x["a"], x => x["a"].clone().add_(1));
        table.Add("promote_pow_int_base", x => Tensor.pow(2, x["a"]));
        table.Add("promote_pow_float_base", x => Tensor.pow(2, x["a"]));
        table.Add("promote_float_pow_int", x => x["a"].pow(2), x => x["a"].clone().pow_(2));
        table.Add("promote_float_pow_float", x => x["a"].pow(0.5), x => x["a"].clone().pow_(0.5), x => x["a"].sqrt());
        table.Add("promote_int_pow_float", x => x["a"].pow(0.5));
        table.Add("promote_int32_add_int64", x => x["a"] + x["b"], x => x["b"] + x["a"]);
        table.Add("promote_float_add_double", x => x["a"] + x["b"], x => x["b"].add(x["a"]));
        table.Add("promote_float_add_double_0dim", x => x["a"] + x["b"], x => x["a"].clone().add_(x["b"]));
        table.Add("promote_int_add_double_0dim", x => x["a"] + x["b"]);
        table.Add("promote_bool_add_int", x => x["a"] + 1);
        table.Add("promote_uint8_add_int", x => x["a"] + 1, x => x["a"].clone().add_(1));
        table.Add("promote_int_lt_float", x => x["a"] < 2.5, x => x["a"].lt(2.5));
        table.Add("promote_float_eq_int", x => x["a"].eq(1));
        table.Add("promote_int_remainder_negative", x => x["a"] % -3, x => x["a"].remainder(-3), x => x["a"].clone().remainder_(-3));
        table.Add("promote_float_remainder", x => x["a"] % 1.5, x => x["a"].clone().remainder_(1.5));
        table.Add("promote_int_floor_divide", x => x["a"].floor_divide(3), x => x["a"].clone().floor_divide_(3));
        table.Add("promote_int_fmod", x => x["a"].fmod(3), x => x["a"].clone().fmod_(3));
        table.Add("promote_int_div_floor", x => x["a"].div(3, "floor"), x => x["a"].clone().div_(torch.scalar_tensor(3), "floor"));
        table.Add("promote_int_div_trunc", x => x["a"].div(3, "trunc"));

        // C# operators.
        table.Add("operator_neg", x => -x["a"], x => x["a"].neg(), x => x["a"].clone().neg_());
        table.Add("operator_invert_bool", x => ~x["a"], x => x["a"].logical_not());
        table.Add("operator_invert_int", x => ~x["a"], x => x["a"].bitwise_not());
        table.Add("operator_and_bool", x => x["a"] & x["b"]);
        table.Add("operator_or_bool", x => x["a"] | x["b"]);
        table.Add("operator_xor_bool", x => x["a"] ^ x["b"]);
        table.Add("operator_compare", x => new[] { x["a"] < x["b"], x["a"] > x["b"], x["a"] <= x["b"], x["a"] >= x["b"] });
        table.Add("operator_compare_scalar", x => new[] { x["a"] < 1, x["a"] > 1, x["a"] <= 1, x["a"] >= 1 });
        table.Add("operator_arithmetic", x => (x["a"] + x["b"]) * (x["a"] - x["b"]) / (x["b"] + 3) % 2,
            x => x["a"].add(x["b"]).mul(x["a"].sub(x["b"])).div(x["b"].add(3)).remainder(2));
        return table;
    }

    /// <summary>Runs an in-place op on a copy (so a leaf input can still receive its gradient) and checks it returns the copy.</summary>
    private static Tensor InPlace(Tensor input, Func<Tensor, Tensor> op)
    {
        var copy = input.clone();
        var result = op(copy);
        Assert.Same(copy, result);
        return copy;
    }

    [Fact]
    public void In_place_ops_keep_the_tensor_identity_and_storage()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.ones([2, 2]);
        var view = a.view(4);
        Assert.Same(a, a.mul_(3));
        Assert.Equal(new float[] { 3, 3, 3, 3 }, view.ToArray<float>());
    }

    [Fact]
    public void An_in_place_op_that_would_change_the_dtype_is_a_TorchException()
    {
        using var scope = torch.NewDisposeScope();
        var ints = torch.ones([3], ScalarType.Int64);
        var e = Assert.Throws<TorchException>(() => ints.div_(2));
        Assert.Contains("can't be cast to the desired output type Long", e.Message);
    }
}
