using Distill.Losses;

namespace Distill.Losses.Tests;

/// <summary>DeFeat against tests/fixtures/python/make_losses_detect.py (independent PyTorch code).</summary>
public class DeFeatTests
{
    private static readonly Fixture Fx = Fixture.Load("detect");

    internal static readonly int[] Strides = [8, 16, 32, 64];
    internal static readonly (long, long)[] Sizes = [(32, 40), (16, 20), (8, 10), (4, 5)];

    /// <summary>The list input <c>prefix0, prefix1, ...</c> of a case.</summary>
    internal static Tensor[] List(Fixture fx, string c, string prefix, bool requiresGrad = false)
    {
        var list = new List<Tensor>();
        for (var i = 0; fx.Has(c, prefix + i); i++) list.Add(fx.Input(c, prefix + i, requiresGrad));
        Assert.NotEmpty(list);
        return list.ToArray();
    }

    [Theory]
    [InlineData("levels", 4)]
    [InlineData("levels_L2", 2)]
    public void Box_levels_follow_the_mmdet_rule(string c, int levels)
    {
        using var scope = torch.NewDisposeScope();
        Fx.AssertClose(DeFeat.defeat_box_levels(Fx.Input(c, "boxes"), levels), c, "out", 0, 0);
    }

    [Fact]
    public void Gt_masks_match_PyTorch_with_borders_degenerate_boxes_and_an_empty_level()
    {
        using var scope = torch.NewDisposeScope();
        var masks = DeFeat.defeat_gt_masks(List(Fx, "gt_masks", "boxes"), Strides, Sizes);
        Assert.Equal(4, masks.Length);
        for (var l = 0; l < masks.Length; l++)
            Fx.AssertClose(masks[l], "gt_masks", $"m{l}", 0, 0);
        Assert.Equal(0.0, masks[3].sum().item<double>()); // no box is large enough for level 3
    }

    [Theory]
    [InlineData("feature_fpn4_voc", "feature_fpn4_voc", 3.0, 12.0)]
    [InlineData("feature_fpn4_coco", "feature_fpn4_voc", 4.0, 16.0)]
    [InlineData("feature_all_object", "feature_all_object", 3.0, 12.0)]
    [InlineData("feature_empty_level", "feature_empty_level", 2.5, 0.5)]
    public void Feature_loss_matches_PyTorch_value_and_gradient(string c, string inputs, double alphaObj, double alphaBg)
    {
        using var scope = torch.NewDisposeScope();
        var s = List(Fx, inputs, "s", requiresGrad: true);
        var loss = DeFeat.defeat_feature(s, List(Fx, inputs, "t"), List(Fx, inputs, "m"), alphaObj, alphaBg);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        for (var l = 0; l < s.Length; l++)
        {
            Fx.AssertClose(s[l].grad!, c, $"grad_s{l}", 1e-4, 1e-6);
            Assert.True(s[l].grad!.isfinite().all().item<bool>());
        }
    }

    [Fact]
    public void Feature_loss_defaults_are_the_VOC_config()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "feature_fpn4_voc";
        var loss = DeFeat.defeat_feature(List(Fx, c, "s"), List(Fx, c, "t"), List(Fx, c, "m"));
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
    }

    [Fact]
    public void Feature_loss_from_built_masks_equals_the_loss_from_PyTorch_masks()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "feature_fpn4_voc";
        var masks = DeFeat.defeat_gt_masks(List(Fx, "gt_masks", "boxes"), Strides, Sizes);
        Fx.AssertClose(DeFeat.defeat_feature(List(Fx, c, "s"), List(Fx, c, "t"), masks), c, "loss", 1e-4, 1e-6);
    }

    [Fact]
    public void Feature_loss_from_the_batch_boxes_equals_the_loss_from_PyTorch_masks()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "feature_fpn4_voc";
        var loss = DeFeat.defeat_feature_gt(List(Fx, c, "s"), List(Fx, c, "t"), List(Fx, "gt_masks", "boxes"), Strides.ToArray());
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        var e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature_gt(List(Fx, c, "s"), List(Fx, c, "t"), List(Fx, "gt_masks", "boxes"), [4, 8]));
        Assert.Contains("strides has 2 entries but student has", e.Message);
    }

    [Theory]
    [InlineData("cls_voc_T1", 1.0, 1.0, 2.0, 2.0)]
    [InlineData("cls_no_pos", 1.0, 1.0, 2.0, 2.0)]
    [InlineData("cls_all_pos_two_T", 2.0, 0.5, 1.5, 0.7)]
    [InlineData("cls_mixed_two_T", 3.0, 1.5, 1.0, 3.0)]
    public void Cls_loss_matches_PyTorch_value_and_gradient(string c, double tObj, double tBg, double bObj, double bBg)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var loss = DeFeat.defeat_cls(s, Fx.Input(c, "teacher"), Fx.Input(c, "pos"), tObj, tBg, bObj, bBg);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(s.grad!, c, "grad_student", 1e-4, 1e-6);
        Assert.True(s.grad!.isfinite().all().item<bool>());
    }

    [Fact]
    public void Cls_loss_defaults_are_the_released_code_and_a_bool_mask_works()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "cls_voc_T1";
        var loss = DeFeat.defeat_cls(Fx.Input(c, "student"), Fx.Input(c, "teacher"), Fx.Input(c, "pos").gt(0.5));
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
    }

    [Fact]
    public void Cls_loss_without_any_positive_or_negative_group_is_zero_with_a_zero_gradient()
    {
        using var scope = torch.NewDisposeScope();
        var s = torch.randn([4, 3], requires_grad: true);
        var loss = DeFeat.defeat_cls(s, torch.randn([4, 3]), torch.ones([4]), beta_obj: 0.0);
        Assert.Equal(0.0, loss.item<double>());
        loss.backward();
        Assert.Equal(0.0, s.grad!.abs().sum().item<double>());
    }

    [Fact]
    public void Feature_loss_rejects_bad_input_naming_loss_argument_and_shapes()
    {
        using var scope = torch.NewDisposeScope();
        Tensor S(params long[] shape) => torch.zeros(shape);
        var e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([S(2, 4, 8, 8), S(2, 4, 4, 4)], [S(2, 4, 8, 8)], [S(2, 8, 8), S(2, 4, 4)]));
        Assert.Equal("defeat_feature: student has 2 FPN levels but teacher has 1 (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([S(2, 4, 8, 8)], [S(2, 4, 8, 8)], [S(2, 8, 8), S(2, 4, 4)]));
        Assert.Equal("defeat_feature: student has 1 FPN levels but masks has 2 (Parameter 'masks')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([S(2, 4, 8, 8)], [S(2, 3, 8, 8)], [S(2, 8, 8)]));
        Assert.Equal("defeat_feature: student[0] [2, 4, 8, 8] and teacher[0] [2, 3, 8, 8] must have the same shape (Parameter 'teacher[0]')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([S(2, 4, 8, 8), S(2, 4, 4, 4)], [S(2, 4, 8, 8), S(2, 4, 4, 4)], [S(2, 8, 8), S(2, 4, 5)]));
        Assert.Equal("defeat_feature: masks[1] must have shape [N, H, W] = [2, 4, 4] of student[1] [2, 4, 4, 4], got [2, 4, 5] (Parameter 'masks')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([S(0, 4, 8, 8)], [S(0, 4, 8, 8)], [S(0, 8, 8)]));
        Assert.Equal("defeat_feature: student[0] is an empty batch [0, 4, 8, 8] (Parameter 'student[0]')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([], [], []));
        Assert.Equal("defeat_feature: student has no FPN level (an empty list) (Parameter 'student')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([S(2, 4, 8)], [S(2, 4, 8)], [S(2, 8)]));
        Assert.Equal("defeat_feature: student[0] must be 4-D (N, C, H, W), got [2, 4, 8] (Parameter 'student[0]')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([S(2, 4, 8, 8), S(3, 4, 4, 4)], [S(2, 4, 8, 8), S(3, 4, 4, 4)], [S(2, 8, 8), S(3, 4, 4)]));
        Assert.Equal("defeat_feature: student[1] [3, 4, 4, 4] and student[0] [2, 4, 8, 8] must have the same batch size (Parameter 'student')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_feature([S(2, 4, 8, 8)], [S(2, 4, 8, 8)], [S(2, 8, 8)], alpha_obj: -1));
        Assert.Equal("defeat_feature: alpha_obj must be >= 0, got -1 (Parameter 'alpha_obj')", e.Message);
    }

    [Fact]
    public void Cls_loss_rejects_bad_input_naming_loss_argument_and_shapes()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_cls(torch.zeros([8, 5]), torch.zeros([8, 6]), torch.zeros([8])));
        Assert.Equal("defeat_cls: student [8, 5] and teacher [8, 6] must have the same shape (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_cls(torch.zeros([8, 5]), torch.zeros([8, 5]), torch.zeros([8]), temperature_obj: 0));
        Assert.Equal("defeat_cls: temperature_obj must be > 0, got 0 (Parameter 'temperature_obj')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_cls(torch.zeros([8, 5]), torch.zeros([8, 5]), torch.zeros([8]), temperature_bg: -2));
        Assert.Equal("defeat_cls: temperature_bg must be > 0, got -2 (Parameter 'temperature_bg')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_cls(torch.zeros([8, 5]), torch.zeros([8, 5]), torch.zeros([7])));
        Assert.Equal("defeat_cls: positive must have shape [R] = [8] (one flag per row of student [8, 5]), got [7] (Parameter 'positive')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_cls(torch.zeros([0, 5]), torch.zeros([0, 5]), torch.zeros([0])));
        Assert.Equal("defeat_cls: student is an empty batch [0, 5] (Parameter 'student')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_cls(torch.zeros([8]), torch.zeros([8]), torch.zeros([8])));
        Assert.Equal("defeat_cls: student must be 2-D (R, K+1), got [8] (Parameter 'student')", e.Message);
    }

    [Fact]
    public void Mask_builder_rejects_bad_input()
    {
        using var scope = torch.NewDisposeScope();
        var e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_gt_masks([], Strides, Sizes));
        Assert.Equal("defeat_gt_masks: boxes is an empty batch (no image) (Parameter 'boxes')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_gt_masks([torch.zeros([3, 4])], Strides, Sizes[..3]));
        Assert.Equal("defeat_gt_masks: strides has 4 FPN levels but sizes has 3 (Parameter 'sizes')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_gt_masks([torch.zeros([3, 5])], Strides, Sizes));
        Assert.Equal("defeat_gt_masks: boxes[0] must be (n, 4) rows (x1, y1, x2, y2), got [3, 5] (Parameter 'boxes')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_gt_masks([torch.zeros([3, 4])], [8, 0, 32, 64], Sizes));
        Assert.Equal("defeat_gt_masks: strides[1] must be > 0, got 0 (Parameter 'strides')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => DeFeat.defeat_box_levels(torch.zeros([3, 4]), 0));
        Assert.Equal("defeat_box_levels: num_levels must be >= 1, got 0 (Parameter 'num_levels')", e.Message);
    }
}
