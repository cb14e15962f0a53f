using System.Text;
using Distill.Losses;

namespace Distill.Losses.Tests;

public class ClassicTests
{
    private static readonly Fixture Fx = Fixture.Load("classic");

    /// <summary>The fixture's cases whose name starts with <paramref name="prefix"/> (theory data).</summary>
    public static TheoryData<string> Cases(string prefix)
    {
        var data = new TheoryData<string>();
        foreach (var c in Fixture.Load("classic").Cases.Where(c => c.StartsWith(prefix, StringComparison.Ordinal))) data.Add(c);
        return data;
    }

    internal static double Num(Fixture fx, string c, string name) => fx[c, name].to(ScalarType.Float64).item<double>();

    internal static string Str(Fixture fx, string c, string name) => Encoding.UTF8.GetString(fx[c, name].ToArray<byte>());

    private static void AssertValueAndGradient(string c, Tensor loss, Tensor input, string inputName)
    {
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(input.grad!, c, "grad_" + inputName, 1e-4, 1e-6);
    }

    [Theory]
    [InlineData("hinton_kd_b4_k10_T4.0", 4.0)]
    [InlineData("hinton_kd_b1_k3_T1.0", 1.0)]
    [InlineData("hinton_kd_b16_k100_T2.5", 2.5)]
    [InlineData("hinton_kd_b8_k5_T0.5", 0.5)]
    public void Hinton_kd_matches_PyTorch_value_and_gradient(string c, double temperature)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var t = Fx.Input(c, "teacher");
        var loss = Classic.hinton_kd(s, t, temperature);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(s.grad!, c, "grad_student", 1e-4, 1e-6);
    }

    [Fact]
    public void Hinton_kd_rejects_bad_input_naming_loss_argument_and_shapes()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.hinton_kd(torch.zeros([4, 10]), torch.zeros([4, 12])));
        Assert.Equal("hinton_kd: student [4, 10] and teacher [4, 12] must have the same shape (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Classic.hinton_kd(torch.zeros([4, 10]), torch.zeros([4, 10]), 0));
        Assert.Contains("temperature must be > 0, got 0", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Classic.hinton_kd(torch.zeros([0, 10]), torch.zeros([0, 10])));
        Assert.Contains("student is an empty batch [0, 10]", e.Message);
    }

    // ---- FitNets ------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Cases), "fitnet_mse_")]
    public void Fitnet_mse_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var loss = Classic.fitnet_mse(s, Fx.Input(c, "teacher"), Str(Fx, c, "reduction"));
        AssertValueAndGradient(c, loss, s, "student");
    }

    [Fact]
    public void Fitnet_mse_paper_is_half_the_squared_norm_per_sample_and_mean_is_mse()
    {
        using var scope = torch.NewDisposeScope();
        var s = torch.tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
        var t = torch.zeros([2, 2]);
        // paper: (1/2)(1/2)(1+4) + (1/2)(1/2)(9+16) = 7.5; mean: 30/4 = 7.5 — differ once numel/B != 2
        Assert.Equal(7.5, Classic.fitnet_mse(s, t, "paper").item<float>(), 5);
        var s3 = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 });
        Assert.Equal(91.0 / 6, Classic.fitnet_mse(s3, torch.zeros([2, 3]), "mean").item<float>(), 5);
        Assert.Equal(91.0 / 4, Classic.fitnet_mse(s3, torch.zeros([2, 3]), "paper").item<float>(), 5);
    }

    [Fact]
    public void Fitnet_mse_rejects_mismatched_shapes()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.fitnet_mse(torch.zeros([2, 64, 8, 8]), torch.zeros([2, 256, 8, 8])));
        Assert.Equal("fitnet_mse: student [2, 64, 8, 8] and teacher [2, 256, 8, 8] must have the same shape (Parameter 'teacher')", e.Message);
    }

    [Fact]
    public void Fitnet_mse_rejects_an_unknown_reduction()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.fitnet_mse(torch.zeros([2, 3]), torch.zeros([2, 3]), "sum"));
        Assert.Equal("fitnet_mse: reduction must be one of 'mean', 'paper', got 'sum' (Parameter 'reduction')", e.Message);
    }

    [Fact]
    public void Fitnet_mse_rejects_an_empty_batch()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.fitnet_mse(torch.zeros([0, 3]), torch.zeros([0, 3])));
        Assert.Equal("fitnet_mse: student is an empty batch [0, 3] (Parameter 'student')", e.Message);
    }

    // ---- cross entropy ------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Cases), "cross_entropy_")]
    public void Cross_entropy_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var z = Fx.Input(c, "input", requiresGrad: true);
        var loss = Classic.cross_entropy(z, Fx.Input(c, "target"), Num(Fx, c, "label_smoothing"), (long)Num(Fx, c, "ignore_index"));
        AssertValueAndGradient(c, loss, z, "input");
    }

    [Fact]
    public void Cross_entropy_with_every_row_ignored_is_zero_with_a_zero_gradient()
    {
        using var scope = torch.NewDisposeScope();
        var z = torch.randn([3, 4], requires_grad: true);
        var loss = Classic.cross_entropy(z, torch.full([3], -100L, ScalarType.Int64), 0.1);
        Assert.Equal(0f, loss.item<float>());
        loss.backward();
        Assert.All(z.grad!.ToArray<float>(), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void Cross_entropy_accepts_int32_labels()
    {
        using var scope = torch.NewDisposeScope();
        var z = torch.randn([3, 4]);
        var y = torch.tensor(new[] { 0L, 3L, 1L });
        TensorAssert.Close(Classic.cross_entropy(z, y), Classic.cross_entropy(z, y.@int()));
    }

    [Fact]
    public void Cross_entropy_rejects_labels_out_of_range()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.cross_entropy(torch.zeros([3, 4]), torch.tensor(new[] { 0L, 4L, 1L })));
        Assert.Equal("cross_entropy: target has class index 4 outside [0, 4) for input [3, 4] (Parameter 'target')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Classic.cross_entropy(torch.zeros([3, 4]), torch.tensor(new[] { 0L, -1L, 1L })));
        Assert.Equal("cross_entropy: target has class index -1 outside [0, 4) for input [3, 4] (Parameter 'target')", e.Message);
    }

    [Fact]
    public void Cross_entropy_rejects_labels_of_the_wrong_batch_size()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.cross_entropy(torch.zeros([3, 4]), torch.tensor(new[] { 0L, 1L })));
        Assert.Equal("cross_entropy: target [2] must hold one class index per row of input [3, 4] (Parameter 'target')", e.Message);
    }

    [Fact]
    public void Cross_entropy_rejects_float_labels()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.cross_entropy(torch.zeros([3, 4]), torch.zeros([3])));
        Assert.Equal("cross_entropy: target must hold integer class indices, got float32 (Parameter 'target')", e.Message);
    }

    [Fact]
    public void Cross_entropy_rejects_label_smoothing_outside_the_unit_interval()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.cross_entropy(torch.zeros([3, 4]), torch.zeros([3], ScalarType.Int64), 1.5));
        Assert.Equal("cross_entropy: label_smoothing must be in [0, 1], got 1.5 (Parameter 'label_smoothing')", e.Message);
    }

    [Fact]
    public void Cross_entropy_rejects_an_empty_batch()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.cross_entropy(torch.zeros([0, 4]), torch.zeros([0], ScalarType.Int64)));
        Assert.Equal("cross_entropy: input is an empty batch [0, 4] (Parameter 'input')", e.Message);
    }

    // ---- attention transfer -------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Cases), "attention_transfer_")]
    public void Attention_transfer_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var loss = Classic.attention_transfer(s, Fx.Input(c, "teacher"), Str(Fx, c, "reduction"), Num(Fx, c, "p"));
        AssertValueAndGradient(c, loss, s, "student");
    }

    [Fact]
    public void Attention_transfer_rejects_different_spatial_sizes()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.attention_transfer(torch.zeros([2, 8, 8, 8]), torch.zeros([2, 16, 4, 4])));
        Assert.Equal("attention_transfer: student [2, 8, 8, 8] and teacher [2, 16, 4, 4] must have the same batch and spatial size (Parameter 'teacher')", e.Message);
    }

    [Fact]
    public void Attention_transfer_rejects_a_non_feature_map()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.attention_transfer(torch.zeros([2, 8]), torch.zeros([2, 8])));
        Assert.Equal("attention_transfer: student must be 4-D (B, C, H, W), got [2, 8] (Parameter 'student')", e.Message);
    }

    [Fact]
    public void Attention_transfer_rejects_a_non_positive_power()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.attention_transfer(torch.zeros([2, 8, 4, 4]), torch.zeros([2, 8, 4, 4]), p: 0));
        Assert.Equal("attention_transfer: p must be > 0, got 0 (Parameter 'p')", e.Message);
    }

    // ---- embeddings ---------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Cases), "embedding_distill_")]
    public void Embedding_distill_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        AssertValueAndGradient(c, Classic.embedding_distill(s, Fx.Input(c, "teacher")), s, "student");
    }

    [Theory]
    [MemberData(nameof(Cases), "cosine_embedding_distill_")]
    public void Cosine_embedding_distill_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        AssertValueAndGradient(c, Classic.cosine_embedding_distill(s, Fx.Input(c, "teacher")), s, "student");
    }

    [Fact]
    public void Embedding_losses_reject_mismatched_dimensions()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.embedding_distill(torch.zeros([4, 128]), torch.zeros([4, 512])));
        Assert.Equal("embedding_distill: student [4, 128] and teacher [4, 512] must have the same shape (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Classic.cosine_embedding_distill(torch.zeros([4, 128]), torch.zeros([4, 512])));
        Assert.Equal("cosine_embedding_distill: student [4, 128] and teacher [4, 512] must have the same shape (Parameter 'teacher')", e.Message);
    }

    [Fact]
    public void Embedding_losses_reject_an_empty_batch()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.embedding_distill(torch.zeros([0, 8]), torch.zeros([0, 8])));
        Assert.Equal("embedding_distill: student is an empty batch [0, 8] (Parameter 'student')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Classic.cosine_embedding_distill(torch.zeros([0, 8]), torch.zeros([0, 8])));
        Assert.Equal("cosine_embedding_distill: student is an empty batch [0, 8] (Parameter 'student')", e.Message);
    }

    // ---- DKD ----------------------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Cases), "dkd_")]
    public void Dkd_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var loss = Classic.dkd(s, Fx.Input(c, "teacher"), Fx.Input(c, "target"), Num(Fx, c, "alpha"), Num(Fx, c, "beta"), Num(Fx, c, "T"));
        AssertValueAndGradient(c, loss, s, "student");
    }

    [Fact]
    public void Dkd_is_gkd_with_the_target_as_the_only_primary_class()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        var s = torch.randn([6, 9]) * 2;
        var t = torch.randn([6, 9]) * 2;
        var y = torch.randint(0, 9, [6]);
        // n = 1 puts only the target in P, so PKD = 0 and GKD's SKD is DKD's NCKD
        TensorAssert.Close(Classic.dkd(s, t, y, 1.5, 3.0, 2.0), Gkd.gkd_loss(s, t, y, 2.0, 1.5, 0.0, 3.0, n: 1), 1e-5, 1e-6);
    }

    [Fact]
    public void Dkd_with_a_single_class_is_zero_and_finite()
    {
        using var scope = torch.NewDisposeScope();
        var s = torch.randn([3, 1], requires_grad: true);
        var loss = Classic.dkd(s, torch.randn([3, 1]), torch.zeros([3], ScalarType.Int64));
        Assert.Equal(0f, loss.item<float>());
        loss.backward();
        Assert.All(s.grad!.ToArray<float>(), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void Dkd_rejects_a_class_count_mismatch()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.dkd(torch.zeros([4, 10]), torch.zeros([4, 100]), torch.zeros([4], ScalarType.Int64)));
        Assert.Equal("dkd: student [4, 10] and teacher [4, 100] must have the same shape (Parameter 'teacher')", e.Message);
    }

    [Fact]
    public void Dkd_rejects_a_non_positive_temperature()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.dkd(torch.zeros([4, 10]), torch.zeros([4, 10]), torch.zeros([4], ScalarType.Int64), temperature: -1));
        Assert.Equal("dkd: temperature must be > 0, got -1 (Parameter 'temperature')", e.Message);
    }

    [Fact]
    public void Dkd_rejects_labels_out_of_range_and_of_the_wrong_batch_size()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.dkd(torch.zeros([2, 10]), torch.zeros([2, 10]), torch.tensor(new[] { 3L, 10L })));
        Assert.Equal("dkd: target has class index 10 outside [0, 10) for student [2, 10] (Parameter 'target')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => Classic.dkd(torch.zeros([2, 10]), torch.zeros([2, 10]), torch.zeros([3], ScalarType.Int64)));
        Assert.Equal("dkd: target [3] must hold one class index per row of student [2, 10] (Parameter 'target')", e.Message);
    }

    [Fact]
    public void Dkd_rejects_an_empty_batch()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.dkd(torch.zeros([0, 10]), torch.zeros([0, 10]), torch.zeros([0], ScalarType.Int64)));
        Assert.Equal("dkd: student is an empty batch [0, 10] (Parameter 'student')", e.Message);
    }

    [Fact]
    public void Dkd_rejects_negative_weights()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => Classic.dkd(torch.zeros([2, 10]), torch.zeros([2, 10]), torch.zeros([2], ScalarType.Int64), beta: -8));
        Assert.Equal("dkd: beta must be >= 0, got -8 (Parameter 'beta')", e.Message);
    }
}
