using Distill.Losses;

namespace Distill.Losses.Tests;

/// <summary>Global Knowledge against tests/fixtures/python/make_losses_detect.py (independent PyTorch code).</summary>
public class GlobalKnowledgeTests
{
    private static readonly Fixture Fx = Fixture.Load("detect");

    [Theory]
    [InlineData("pgm_n40", 10, 10.0)]
    [InlineData("pgm_n25_alpha1", 6, 1.0)]
    [InlineData("pgm_n60_k10", 10, 10.0)]
    [InlineData("pgm_single", 3, 10.0)]
    public void Pgm_picks_the_same_prototypes_as_the_spec_algorithm(string c, int k, double alpha)
    {
        using var scope = torch.NewDisposeScope();
        var (indices, ps, pt) = GlobalKnowledge.pgm_select_prototypes(Fx.Input(c, "xs"), Fx.Input(c, "xt"), k, alpha);
        Fx.AssertClose(indices, c, "indices", 0, 0);
        Fx.AssertClose(ps, c, "ps", 0, 0);
        Fx.AssertClose(pt, c, "pt", 0, 0);
    }

    [Theory]
    [InlineData("pgm_n40", 10, 10.0)]
    [InlineData("pgm_n60_k10", 10, 10.0)]
    public void Pgm_in_float32_agrees_on_inputs_without_near_ties(string c, int k, double alpha)
    {
        using var scope = torch.NewDisposeScope();
        var (indices, _, _) = GlobalKnowledge.pgm_select_prototypes(Fx.Input(c, "xs"), Fx.Input(c, "xt"), k, alpha, dtype: ScalarType.Float32);
        Fx.AssertClose(indices, c, "indices", 0, 0);
    }

    [Theory]
    [InlineData("roi_pool_s8", 8)]
    [InlineData("roi_pool_s4", 4)]
    public void Roi_avg_pool_matches_PyTorch_value_and_gradient(string c, int stride)
    {
        using var scope = torch.NewDisposeScope();
        var f = Fx.Input(c, "feature", requiresGrad: true);
        var pooled = GlobalKnowledge.gk_roi_avg_pool(f, Fx.Input(c, "rois"), stride);
        Fx.AssertClose(pooled, c, "out", 1e-5, 1e-6);
        (pooled * Fx.Input(c, "g")).sum().backward();
        Fx.AssertClose(f.grad!, c, "grad_feature", 1e-5, 1e-6);
    }

    [Fact]
    public void Robust_weights_use_same_class_prototypes_including_a_single_one_and_none()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "robust_weights";
        var fs = Fx.Input(c, "fs", requiresGrad: true);
        var w = GlobalKnowledge.gk_robust_weights(fs, Fx.Input(c, "ft"), Fx.Input(c, "labels"), Fx.Input(c, "ps"), Fx.Input(c, "pt"), Fx.Input(c, "starts"));
        Fx.AssertClose(w, c, "out", 1e-5, 1e-6);
        Assert.False(w.requires_grad);
    }

    [Theory]
    [InlineData("global_r8_p9", 5.0, 1.0)]
    [InlineData("global_r5_p3_att", 5.0, 0.625)]
    public void Global_knowledge_loss_matches_PyTorch_value_and_gradient(string c, double factor, double att)
    {
        using var scope = torch.NewDisposeScope();
        var fs = Fx.Input(c, "fs", requiresGrad: true);
        var loss = GlobalKnowledge.global_knowledge_loss(fs, Fx.Input(c, "ft"), Fx.Input(c, "ps"), Fx.Input(c, "pt"), Fx.Input(c, "w"), factor, att);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(fs.grad!, c, "grad_fs", 1e-4, 1e-6);
    }

    [Fact]
    public void Global_knowledge_loss_defaults_are_the_released_config()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "global_r8_p9";
        var loss = GlobalKnowledge.global_knowledge_loss(Fx.Input(c, "fs"), Fx.Input(c, "ft"), Fx.Input(c, "ps"), Fx.Input(c, "pt"), Fx.Input(c, "w"));
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
    }

    [Fact]
    public void Losses_over_no_instance_are_zero_with_a_finite_gradient()
    {
        using var scope = torch.NewDisposeScope();
        var fs = torch.zeros([0, 6], requires_grad: true);
        var g = GlobalKnowledge.global_knowledge_loss(fs, torch.zeros([0, 5]), torch.randn([4, 6]), torch.randn([4, 5]), torch.zeros([0]));
        Assert.Equal(0.0, g.item<double>());
        g.backward();
        Assert.Equal([0L, 6L], fs.grad!.shape);

        var s = torch.zeros([0, 5], requires_grad: true);
        var soft = GlobalKnowledge.gk_soft_kd(s, torch.zeros([0, 5]), torch.zeros([0]));
        Assert.Equal(0.0, soft.item<double>());
        soft.backward();
        Assert.Equal([0L, 5L], s.grad!.shape);

        var w = GlobalKnowledge.gk_robust_weights(torch.zeros([0, 6]), torch.zeros([0, 5]), torch.zeros([0], ScalarType.Int64),
            torch.randn([4, 6]), torch.randn([4, 5]), torch.tensor(new long[] { 0, 4 }));
        Assert.Equal([0L], w.shape);
        var pooled = GlobalKnowledge.gk_roi_avg_pool(torch.randn([1, 3, 4, 4]), torch.zeros([0, 5]), 8);
        Assert.Equal([0L, 3L], pooled.shape);
    }

    [Fact]
    public void Weight_masks_set_box_weights_later_boxes_overwriting_earlier_ones()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "weight_masks";
        var masks = GlobalKnowledge.gk_weight_masks(DeFeatTests.List(Fx, c, "boxes"), DeFeatTests.List(Fx, c, "w"), DeFeatTests.Strides, DeFeatTests.Sizes);
        Assert.Equal(4, masks.Length);
        for (var l = 0; l < masks.Length; l++)
            Fx.AssertClose(masks[l], c, $"m{l}", 0, 0);
    }

    [Theory]
    [InlineData("point_fpn4", 1.0, 4.0, 1.0)]
    [InlineData("point_empty_level", 2.0, 3.0, 0.5)]
    public void Point_kd_matches_PyTorch_value_and_gradient(string c, double lambdaFg, double lambdaBg, double att)
    {
        using var scope = torch.NewDisposeScope();
        var s = DeFeatTests.List(Fx, c, "s", requiresGrad: true);
        var loss = GlobalKnowledge.gk_point_kd(s, DeFeatTests.List(Fx, c, "t"), DeFeatTests.List(Fx, c, "m"), lambdaFg, lambdaBg, att);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        for (var l = 0; l < s.Length; l++)
        {
            Fx.AssertClose(s[l].grad!, c, $"grad_s{l}", 1e-4, 1e-6);
            Assert.True(s[l].grad!.isfinite().all().item<bool>());
        }
    }

    [Fact]
    public void Point_kd_defaults_are_the_released_config()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "point_fpn4";
        var loss = GlobalKnowledge.gk_point_kd(DeFeatTests.List(Fx, c, "s"), DeFeatTests.List(Fx, c, "t"), DeFeatTests.List(Fx, c, "m"));
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
    }

    [Theory]
    [InlineData("soft_r8_k6_T2", 2.0)]
    [InlineData("soft_r3_k81_T1", 1.0)]
    [InlineData("soft_r1_k2_T4", 4.0)]
    public void Soft_kd_matches_PyTorch_value_and_gradient(string c, double temperature)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var loss = GlobalKnowledge.gk_soft_kd(s, Fx.Input(c, "teacher"), Fx.Input(c, "w"), temperature);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(s.grad!, c, "grad_student", 1e-4, 1e-6);
    }

    [Fact]
    public void Soft_kd_default_temperature_is_2()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "soft_r8_k6_T2";
        Fx.AssertClose(GlobalKnowledge.gk_soft_kd(Fx.Input(c, "student"), Fx.Input(c, "teacher"), Fx.Input(c, "w")), c, "loss", 1e-4, 1e-6);
    }

    [Fact]
    public void Pgm_rejects_bad_input()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.pgm_select_prototypes(torch.zeros([10, 4]), torch.zeros([9, 3])));
        Assert.Equal("pgm_select_prototypes: student [10, 4] and teacher [9, 3] must have the same number of instances (rows) (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.pgm_select_prototypes(torch.zeros([0, 4]), torch.zeros([0, 3])));
        Assert.Equal("pgm_select_prototypes: student is an empty batch [0, 4] (Parameter 'student')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.pgm_select_prototypes(torch.zeros([10, 4]), torch.zeros([10, 3]), quantile: 1));
        Assert.Equal("pgm_select_prototypes: quantile must be in [0, 1), got 1 (Parameter 'quantile')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.pgm_select_prototypes(torch.zeros([10, 4]), torch.zeros([10, 3]), sigma: 0));
        Assert.Equal("pgm_select_prototypes: sigma must be > 0, got 0 (Parameter 'sigma')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.pgm_select_prototypes(torch.zeros([10, 4]), torch.zeros([10, 3]), num_prototypes: 0));
        Assert.Equal("pgm_select_prototypes: num_prototypes must be >= 1, got 0 (Parameter 'num_prototypes')", e.Message);
    }

    [Fact]
    public void Instance_losses_reject_bad_input_naming_loss_argument_and_shapes()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.global_knowledge_loss(torch.zeros([4, 6]), torch.zeros([4, 5]), torch.zeros([3, 7]), torch.zeros([3, 5]), torch.ones([4])));
        Assert.Equal("global_knowledge_loss: student [4, 6] and student_prototypes [3, 7] must have the same feature size (Parameter 'student_prototypes')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.global_knowledge_loss(torch.zeros([4, 6]), torch.zeros([3, 5]), torch.zeros([3, 6]), torch.zeros([3, 5]), torch.ones([4])));
        Assert.Equal("global_knowledge_loss: student [4, 6] and teacher [3, 5] must have the same number of instances (rows) (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.global_knowledge_loss(torch.zeros([4, 6]), torch.zeros([4, 5]), torch.zeros([3, 6]), torch.zeros([2, 5]), torch.ones([4])));
        Assert.Equal("global_knowledge_loss: student_prototypes [3, 6] and teacher_prototypes [2, 5] must have the same number of prototypes (Parameter 'teacher_prototypes')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.global_knowledge_loss(torch.zeros([4, 6]), torch.zeros([4, 5]), torch.zeros([3, 6]), torch.zeros([3, 5]), torch.ones([5])));
        Assert.Equal("global_knowledge_loss: weights must have shape [R] = [4] (one per row of student [4, 6]), got [5] (Parameter 'weights')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.global_knowledge_loss(torch.zeros([4, 6]), torch.zeros([4, 5]), torch.zeros([0, 6]), torch.zeros([0, 5]), torch.ones([4])));
        Assert.Equal("global_knowledge_loss: student_prototypes has no prototype [0, 6] (Parameter 'student_prototypes')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.global_knowledge_loss(torch.zeros([4, 6]), torch.zeros([4, 5]), torch.zeros([3, 6]), torch.zeros([3, 5]), torch.ones([4]), attenuation: 1.5));
        Assert.Equal("global_knowledge_loss: attenuation must be in [0, 1], got 1.5 (Parameter 'attenuation')", e.Message);

        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_soft_kd(torch.zeros([4, 6]), torch.zeros([4, 6]), torch.ones([4]), 0));
        Assert.Equal("gk_soft_kd: temperature must be > 0, got 0 (Parameter 'temperature')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_soft_kd(torch.zeros([4, 6]), torch.zeros([4, 7]), torch.ones([4])));
        Assert.Equal("gk_soft_kd: student [4, 6] and teacher [4, 7] must have the same shape (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_soft_kd(torch.zeros([4, 6]), torch.zeros([4, 6]), torch.ones([4, 1])));
        Assert.Equal("gk_soft_kd: weights must have shape [R] = [4] (one per row of student [4, 6]), got [4, 1] (Parameter 'weights')", e.Message);

        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_robust_weights(torch.zeros([4, 6]), torch.zeros([4, 5]), torch.zeros([4], ScalarType.Int64),
            torch.zeros([3, 6]), torch.zeros([3, 5]), torch.tensor(new long[] { 0, 2, 4 })));
        Assert.Equal("gk_robust_weights: class_starts must be a non-decreasing (C + 1) vector from >= 0 to P = 3, got [3] [0, 2, 4] (Parameter 'class_starts')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_robust_weights(torch.zeros([4, 6]), torch.zeros([4, 5]), torch.zeros([3], ScalarType.Int64),
            torch.zeros([3, 6]), torch.zeros([3, 5]), torch.tensor(new long[] { 0, 3 })));
        Assert.Equal("gk_robust_weights: labels must have shape [R] = [4] (one per row of student [4, 6]), got [3] (Parameter 'labels')", e.Message);

        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_roi_avg_pool(torch.zeros([2, 3, 4, 4]), torch.zeros([5, 4]), 8));
        Assert.Equal("gk_roi_avg_pool: rois must be (R, 5) rows (image index, x1, y1, x2, y2), got [5, 4] (Parameter 'rois')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_roi_avg_pool(torch.zeros([2, 3, 4, 4]), torch.tensor(new float[] { 2, 0, 0, 8, 8 }, new long[] { 1, 5 }), 8));
        Assert.Equal("gk_roi_avg_pool: rois[0] names image 2, but feature [2, 3, 4, 4] has 2 (Parameter 'rois')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_roi_avg_pool(torch.zeros([0, 3, 4, 4]), torch.zeros([1, 5]), 8));
        Assert.Equal("gk_roi_avg_pool: feature is an empty batch [0, 3, 4, 4] (Parameter 'feature')", e.Message);
    }

    [Fact]
    public void Point_kd_and_weight_masks_reject_bad_input()
    {
        using var scope = torch.NewDisposeScope();
        Tensor S(params long[] shape) => torch.zeros(shape);
        var e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_point_kd([S(2, 4, 8, 8)], [S(2, 4, 8, 8), S(2, 4, 4, 4)], [S(2, 8, 8)]));
        Assert.Equal("gk_point_kd: student has 1 FPN levels but teacher has 2 (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_point_kd([S(2, 4, 8, 8)], [S(2, 5, 8, 8)], [S(2, 8, 8)]));
        Assert.Equal("gk_point_kd: student[0] [2, 4, 8, 8] and teacher[0] [2, 5, 8, 8] must have the same shape (Parameter 'teacher[0]')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_point_kd([S(2, 4, 8, 8)], [S(2, 4, 8, 8)], [S(2, 1, 8, 8)]));
        Assert.Equal("gk_point_kd: weight_masks[0] must have shape [N, H, W] = [2, 8, 8] of student[0] [2, 4, 8, 8], got [2, 1, 8, 8] (Parameter 'weight_masks')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_point_kd([S(0, 4, 8, 8)], [S(0, 4, 8, 8)], [S(0, 8, 8)]));
        Assert.Equal("gk_point_kd: student[0] is an empty batch [0, 4, 8, 8] (Parameter 'student[0]')", e.Message);

        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_weight_masks([S(3, 4), S(1, 4)], [S(3)], DeFeatTests.Strides, DeFeatTests.Sizes));
        Assert.Equal("gk_weight_masks: boxes has 2 images but weights has 1 (Parameter 'weights')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_weight_masks([S(3, 4)], [S(2)], DeFeatTests.Strides, DeFeatTests.Sizes));
        Assert.Equal("gk_weight_masks: weights[0] must have shape [3] (one weight per box of boxes[0] [3, 4]), got [2] (Parameter 'weights')", e.Message);
    }
}
