using Distill.Losses;
using static Distill.Losses.Tests.ClassicTests;

namespace Distill.Losses.Tests;

public class GkdTests
{
    private static readonly Fixture Fx = Fixture.Load("gkd");

    public static TheoryData<string> GkdCases(string prefix)
    {
        var data = new TheoryData<string>();
        foreach (var c in Fixture.Load("gkd").Cases.Where(c => c.StartsWith(prefix, StringComparison.Ordinal))) data.Add(c);
        return data;
    }

    private static void AssertSameMask(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(ScalarType.Bool, actual.dtype);
        TensorAssert.Equal(expected.shape, actual.shape, what + " shape");
        var e = expected.ToArray<bool>();
        var a = actual.ToArray<bool>();
        for (var k = 0; k < e.Length; k++)
            Assert.True(e[k] == a[k], $"{what}: element {k} (row {k / expected.size(1)}, class {k % expected.size(1)}) is {a[k]}, expected {e[k]}");
    }

    /// <summary>Random logits and a random primary mask with one all-primary and one all-secondary row.</summary>
    private static (Tensor Student, Tensor Teacher, Tensor Primary) RandomCase(long b, long k, double scale)
    {
        var s = torch.randn([b, k]) * scale;
        var t = torch.randn([b, k]) * scale;
        var primary = torch.rand([b, k]).lt(0.5);
        primary.select(0, 0).fill_(true);
        primary.select(0, 1).fill_(false);
        return (s, t, primary);
    }

    // ---- the decomposition ----------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(GkdCases), "components_")]
    public void Components_match_PyTorch_values_and_gradients(string c)
    {
        using var scope = torch.NewDisposeScope();
        var t = Fx.Input(c, "teacher");
        var primary = Fx.Input(c, "primary");
        var temperature = Num(Fx, c, "T");
        foreach (var (name, pick) in new (string, Func<GkdComponents, Tensor>)[] { ("bkd", x => x.Binary), ("pkd", x => x.Primary), ("skd", x => x.Secondary) })
        {
            var s = Fx.Input(c, "student", requiresGrad: true);
            var parts = Gkd.gkd_components(s, t, primary, temperature);
            Fx.AssertClose(pick(parts), c, name, 1e-4, 1e-6);
            Fx.AssertClose(parts.TeacherPrimaryMass, c, "mass_p", 1e-4, 1e-6);
            Fx.AssertClose(parts.TeacherSecondaryMass, c, "mass_s", 1e-4, 1e-6);
            pick(parts).sum().backward();
            Fx.AssertClose(s.grad!, c, "grad_" + name, 1e-4, 1e-6);
        }
    }

    [Theory]
    [InlineData(8, 10, 4.0, 3.0)]
    [InlineData(5, 100, 1.0, 5.0)]
    [InlineData(16, 37, 0.5, 2.0)]
    [InlineData(3, 2, 2.0, 10.0)]
    public void Kl_equals_bkd_plus_mass_weighted_pkd_and_skd_per_sample(long b, long k, double temperature, double scale)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(b * 1000 + k);
        var (s, t, primary) = RandomCase(b, k, scale);
        using var parts = Gkd.gkd_components(s, t, primary, temperature);
        var ls = torch.nn.functional.log_softmax(s / temperature, 1);
        var lt = torch.nn.functional.log_softmax(t / temperature, 1);
        var kl = (lt.exp() * (lt - ls)).sum(1);
        var rebuilt = parts.Binary + parts.TeacherPrimaryMass * parts.Primary + parts.TeacherSecondaryMass * parts.Secondary;
        TensorAssert.Close(kl, rebuilt, 1e-4, 1e-6, "KL vs BKD + b_P PKD + b_S SKD");
        TensorAssert.Close(torch.ones([b]), parts.TeacherPrimaryMass + parts.TeacherSecondaryMass, 1e-5, 1e-6, "b_P + b_S");
        // the all-primary row has no secondary part, the all-secondary row no primary part
        Assert.Equal(0f, parts.Secondary.select(0, 0).item<float>());
        Assert.Equal(0f, parts.TeacherSecondaryMass.select(0, 0).item<float>());
        Assert.Equal(0f, parts.Primary.select(0, 1).item<float>());
        Assert.Equal(0f, parts.TeacherPrimaryMass.select(0, 1).item<float>());
    }

    [Theory]
    [InlineData(8, 10, 4.0)]
    [InlineData(4, 50, 1.0)]
    [InlineData(1, 6, 2.5)]
    public void Hinton_kd_equals_t2_times_the_mean_of_the_mass_weighted_components(long b, long k, double temperature)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(7 * b + k);
        var s = torch.randn([b, k]) * 3;
        var t = torch.randn([b, k]) * 3;
        var primary = torch.rand([b, k]).lt(0.3);

        var s1 = s.clone().requires_grad_();
        var hinton = Classic.hinton_kd(s1, t, temperature);
        hinton.backward();

        var s2 = s.clone().requires_grad_();
        using var parts = Gkd.gkd_components(s2, t, primary, temperature);
        var grouped = (parts.Binary + parts.TeacherPrimaryMass * parts.Primary + parts.TeacherSecondaryMass * parts.Secondary).mean() * (temperature * temperature);
        grouped.backward();

        TensorAssert.Close(hinton, grouped, 1e-5, 1e-6, "hinton_kd vs grouped");
        TensorAssert.Close(s1.grad!, s2.grad!, 1e-4, 1e-6, "gradients");
    }

    [Fact]
    public void Empty_groups_give_zero_and_finite_gradients()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(11);
        var t = torch.randn([4, 6]) * 3;
        foreach (var allPrimary in new[] { true, false })
        {
            var s = (torch.randn([4, 6]) * 3).requires_grad_();
            var primary = torch.full([4, 6], allPrimary, ScalarType.Bool);
            using var parts = Gkd.gkd_components(s, t, primary, 4.0);
            // one group holds everything: no binary split, and the other group's KD is the full KL
            Assert.All(parts.Binary.ToArray<float>(), v => Assert.True(Math.Abs(v) < 1e-6, $"BKD {v}"));
            Assert.All((allPrimary ? parts.Secondary : parts.Primary).ToArray<float>(), v => Assert.Equal(0f, v));
            (parts.Binary + parts.Primary + parts.Secondary).sum().backward();
            Assert.All(s.grad!.ToArray<float>(), g => Assert.True(float.IsFinite(g), $"gradient {g}"));
            var lossAll = Gkd.gkd_loss(s, t, torch.zeros([4], ScalarType.Int64), n: 6, lambda: 1.0);
            Assert.True(float.IsFinite(lossAll.item<float>()));
        }
    }

    // ---- primary-group selection --------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(GkdCases), "topk_")]
    public void Topk_group_matches_PyTorch_for_student_and_teacher_logits(string c)
    {
        using var scope = torch.NewDisposeScope();
        var y = Fx.Input(c, "target");
        var n = (long)Num(Fx, c, "n");
        AssertSameMask(Fx[c, "mask_student"], Gkd.gkd_topk_group(Fx.Input(c, "student"), y, n), c + " student");
        AssertSameMask(Fx[c, "mask_teacher"], Gkd.gkd_topk_group(Fx.Input(c, "teacher"), y, n), c + " teacher");
    }

    [Fact]
    public void Topk_group_forces_the_target_in_even_at_the_lowest_logit()
    {
        using var scope = torch.NewDisposeScope();
        var logits = torch.tensor(new float[] { 5, 4, 3, 2, 1, -1e30f }, new long[] { 1, 6 });
        var mask = Gkd.gkd_topk_group(logits, torch.tensor(new[] { 5L }), 2).ToArray<bool>();
        Assert.Equal(new[] { true, false, false, false, false, true }, mask);
    }

    [Theory]
    [MemberData(nameof(GkdCases), "adaptive_")]
    public void Adaptive_group_matches_PyTorch(string c)
    {
        using var scope = torch.NewDisposeScope();
        var logits = Fx.Input(c, "logits");
        var rate = Num(Fx, c, "rate");
        var frequency = (long)Num(Fx, c, "frequency");
        Assert.Equal((long)Num(Fx, c, "n"), Gkd.gkd_adaptive_n(logits, rate, frequency));
        AssertSameMask(Fx[c, "mask"], Gkd.gkd_adaptive_group(logits, Fx.Input(c, "target"), rate, frequency), c);
    }

    [Theory]
    [MemberData(nameof(GkdCases), "cumprob_")]
    public void Cumprob_group_matches_PyTorch(string c)
    {
        using var scope = torch.NewDisposeScope();
        var mask = Gkd.gkd_cumprob_group(Fx.Input(c, "logits"), Num(Fx, c, "threshold"), Num(Fx, c, "T"));
        AssertSameMask(Fx[c, "mask"], mask, c);
    }

    // ---- the loss -----------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(GkdCases), "loss_")]
    public void Gkd_loss_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var t = Fx.Input(c, "teacher");
        var y = Fx.Input(c, "target");
        var rule = Str(Fx, c, "rule");
        var rankBy = Str(Fx, c, "rank_by");
        var temperature = Num(Fx, c, "T");
        var n = (long)Num(Fx, c, "n");
        var rate = Num(Fx, c, "rate");
        var frequency = (long)Num(Fx, c, "frequency");
        var threshold = Num(Fx, c, "threshold");

        // the public selection helpers pick the same primary group as the reference
        var ranking = rankBy == "student" ? s : t;
        var primary = rule switch
        {
            "topk" => Gkd.gkd_topk_group(ranking, y, n),
            "adaptive" => Gkd.gkd_adaptive_group(ranking, y, rate, frequency),
            _ => Gkd.gkd_cumprob_group(t, threshold, temperature),
        };
        AssertSameMask(Fx[c, "primary"], primary, c + " primary group");

        var loss = Gkd.gkd_loss(s, t, y, temperature, Num(Fx, c, "alpha"), Num(Fx, c, "beta"), Num(Fx, c, "lamda"),
            rule, rankBy, n, rate, frequency, threshold);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(s.grad!, c, "grad_student", 1e-4, 1e-6);
    }

    [Fact]
    public void Gkd_loss_leaves_no_tensors_in_the_callers_scope()
    {
        using var outer = torch.NewDisposeScope();
        var s = torch.randn([4, 12]);
        var t = torch.randn([4, 12]);
        var y = torch.randint(0, 12, [4]);
        var before = outer.Count;
        var loss = Gkd.gkd_loss(s, t, y, n: 3, lambda: 1);
        Assert.Equal(before + 1, outer.Count);
        using var parts = Gkd.gkd_components(s, t, Gkd.gkd_topk_group(s, y, 3));
        Assert.Equal(before + 1 + 1 + 5, outer.Count);
        GC.KeepAlive(loss);
    }

    // ---- bad input ----------------------------------------------------------------------------------------

    private static Tensor Labels(params long[] values) => torch.tensor(values);

    [Fact]
    public void Gkd_loss_rejects_a_class_count_mismatch()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 12]), Labels(0, 1)));
        Assert.Equal("gkd_loss: student [2, 10] and teacher [2, 12] must have the same shape (Parameter 'teacher')", e.Message);
    }

    [Fact]
    public void Gkd_loss_rejects_a_non_positive_temperature()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 1), temperature: 0));
        Assert.Equal("gkd_loss: temperature must be > 0, got 0 (Parameter 'temperature')", e.Message);
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(1.5, "1.5")]
    [InlineData(-0.1, "-0.1")]
    public void Gkd_loss_rejects_a_threshold_outside_the_unit_interval(double threshold, string shown)
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 1), group: "cumprob", threshold: threshold));
        Assert.Equal($"gkd_loss: threshold must be in (0, 1], got {shown} (Parameter 'threshold')", e.Message);
    }

    [Fact]
    public void Gkd_loss_rejects_a_rate_outside_the_unit_interval()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 1), group: "adaptive", rate: 1.2));
        Assert.Equal("gkd_loss: rate must be in (0, 1], got 1.2 (Parameter 'rate')", e.Message);
    }

    [Fact]
    public void Gkd_loss_rejects_labels_out_of_range()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 12)));
        Assert.Equal("gkd_loss: target has class index 12 outside [0, 10) for student [2, 10] (Parameter 'target')", e.Message);
    }

    [Fact]
    public void Gkd_loss_rejects_labels_of_the_wrong_batch_size()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 1, 2)));
        Assert.Equal("gkd_loss: target [3] must hold one class index per row of student [2, 10] (Parameter 'target')", e.Message);
    }

    [Fact]
    public void Gkd_loss_rejects_an_empty_batch()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([0, 10]), torch.zeros([0, 10]), Labels()));
        Assert.Equal("gkd_loss: student is an empty batch [0, 10] (Parameter 'student')", e.Message);
    }

    [Fact]
    public void Gkd_loss_rejects_an_unknown_group_rule_and_ranking()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 1), group: "top-k"));
        Assert.Equal("gkd_loss: group must be one of 'topk', 'adaptive', 'cumprob', got 'top-k' (Parameter 'group')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 1), rank_by: "both"));
        Assert.Equal("gkd_loss: rank_by must be one of 'student', 'teacher', got 'both' (Parameter 'rank_by')", e.Message);
    }

    [Fact]
    public void Gkd_loss_rejects_a_group_size_below_one()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 1), n: 0));
        Assert.Equal("gkd_loss: n must be >= 1, got 0 (Parameter 'n')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_adaptive_group(torch.zeros([2, 10]), Labels(0, 1), frequency: 0));
        Assert.Equal("gkd_adaptive_group: frequency must be >= 1, got 0 (Parameter 'frequency')", e.Message);
    }

    [Fact]
    public void Gkd_loss_rejects_negative_weights()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_loss(torch.zeros([2, 10]), torch.zeros([2, 10]), Labels(0, 1), lambda: -1));
        Assert.Equal("gkd_loss: lambda must be >= 0, got -1 (Parameter 'lambda')", e.Message);
    }

    [Fact]
    public void Gkd_components_rejects_a_mask_of_the_wrong_size_or_type()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_components(torch.zeros([2, 10]), torch.zeros([2, 10]), torch.zeros([2, 9], ScalarType.Bool)));
        Assert.Equal("gkd_components: primary [2, 9] must have the shape of student [2, 10] (Parameter 'primary')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_components(torch.zeros([2, 10]), torch.zeros([2, 10]), torch.zeros([2, 10])));
        Assert.Equal("gkd_components: primary must be a bool mask, got float32 (Parameter 'primary')", e.Message);
    }

    [Fact]
    public void Gkd_components_rejects_a_class_count_mismatch_and_bad_temperature()
    {
        using var scope = torch.NewDisposeScope();
        var mask = torch.zeros([2, 10], ScalarType.Bool);
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_components(torch.zeros([2, 10]), torch.zeros([2, 11]), mask));
        Assert.Equal("gkd_components: student [2, 10] and teacher [2, 11] must have the same shape (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_components(torch.zeros([2, 10]), torch.zeros([2, 10]), mask, -2));
        Assert.Equal("gkd_components: temperature must be > 0, got -2 (Parameter 'temperature')", e.Message);
    }

    [Fact]
    public void Selection_helpers_reject_bad_thresholds_labels_and_empty_batches()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_cumprob_group(torch.zeros([2, 10]), 0));
        Assert.Equal("gkd_cumprob_group: threshold must be in (0, 1], got 0 (Parameter 'threshold')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_cumprob_group(torch.zeros([2, 10]), 0.5, 0));
        Assert.Equal("gkd_cumprob_group: temperature must be > 0, got 0 (Parameter 'temperature')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_topk_group(torch.zeros([2, 10]), Labels(-1, 0), 3));
        Assert.Equal("gkd_topk_group: target has class index -1 outside [0, 10) for logits [2, 10] (Parameter 'target')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_adaptive_n(torch.zeros([0, 10])));
        Assert.Equal("gkd_adaptive_n: logits is an empty batch [0, 10] (Parameter 'logits')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Gkd.gkd_adaptive_n(torch.zeros([2, 10]), 0));
        Assert.Equal("gkd_adaptive_n: rate must be in (0, 1], got 0 (Parameter 'rate')", e.Message);
    }
}
