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

    // ---- the terms over a batch, and the prototype bank they read ----------------------------------------------------

    internal static readonly int[] GkStrides = [8, 16, 32];
    private const string Batch = "gk_batch";

    internal static Tensor[] L(string c, string prefix, bool requiresGrad = false) => DeFeatTests.List(Fx, c, prefix, requiresGrad);

    /// <summary>The tables the Python reference built, restored into a bank (the loss cases were made with these).</summary>
    internal static PrototypeBank ReferenceBank(string c = "gk_bank")
    {
        var state = new Dictionary<string, Tensor>();
        for (var l = 0; Fx.Has(c, $"l{l}.student"); l++)
            foreach (var part in new[] { "student", "teacher", "class_starts" })
                state[$"l{l}.{part}"] = Fx[c, $"l{l}.{part}"];
        var bank = new PrototypeBank(instances_per_class: 4, count: 3);
        bank.LoadStateTensors(state);
        return bank;
    }

    /// <summary>
    /// A bank collected from the reference's three batches as a training loop does: each Collect and the Build inside a
    /// dispose scope of their own that ends right after (the bank must own what it keeps).
    /// </summary>
    internal static (PrototypeBank Bank, bool[] Wants, long[] Collected) CollectBank(int cap = 4, double minBoxSide = 0)
    {
        var bank = new PrototypeBank(instances_per_class: cap, count: 3, min_box_side: minBoxSide);
        bank.BeginCollect();
        var wants = new List<bool>();
        for (var k = 0; Fx.Has("gk_bank", $"b{k}_s0"); k++)
        {
            using var scope = torch.NewDisposeScope();
            wants.Add(bank.Collect(L("gk_bank", $"b{k}_s"), L("gk_bank", $"b{k}_t"), L("gk_bank", $"b{k}_boxes"), L("gk_bank", $"b{k}_labels"), GkStrides));
        }
        var collected = bank.Collected.Select(n => (long)n).ToArray();
        using (torch.NewDisposeScope()) bank.Build();
        return (bank, wants.ToArray(), collected);
    }

    [Theory]
    [InlineData("gk_bank", 0.0)]
    [InlineData("gk_bank_min40", 40.0)]
    public void Prototype_bank_collects_in_batch_order_up_to_the_cap_and_picks_the_reference_prototypes(string c, double minBoxSide)
    {
        using var scope = torch.NewDisposeScope();
        var (bank, wants, collected) = CollectBank(minBoxSide: minBoxSide);
        using var _ = bank;
        Assert.Equal(Fx[c, "collected"].ToArray<long>(), collected);
        Assert.All(collected, n => Assert.True(n <= 4));
        // torchvision's labels: class 0 is never seen, and does not keep the collection going
        Assert.Equal(Fx[c, "wants"].ToArray<long>().Select(x => x != 0), wants);
        Assert.Equal(3, bank.Levels);
        Assert.Equal(1, bank.Builds);
        Assert.False(bank.IsEmpty);
        for (var l = 0; l < bank.Levels; l++)
        {
            var level = bank.Level(l);
            Fx.AssertClose(level.Student, c, $"l{l}.student", 1e-5, 1e-6);
            Fx.AssertClose(level.Teacher, c, $"l{l}.teacher", 1e-5, 1e-6);
            Fx.AssertClose(level.ClassStarts, c, $"l{l}.class_starts", 0, 0);
        }
    }

    [Fact]
    public void A_second_collection_over_the_same_boxes_may_reuse_the_teachers_pooled_features()
    {
        using var scope = torch.NewDisposeScope();
        var (bank, _, _) = CollectBank();
        using var _ = bank;
        Assert.True(bank.HasTeacherCache);
        var first = Enumerable.Range(0, bank.Levels).Select(l => (bank.Level(l).Student.clone(), bank.Level(l).Teacher.clone())).ToList();

        // The same batches without teacher maps: the same tables (the student's maps are the same here too).
        bank.BeginCollect();
        for (var k = 0; Fx.Has("gk_bank", $"b{k}_s0"); k++)
        {
            using var batch = torch.NewDisposeScope();
            bank.Collect(L("gk_bank", $"b{k}_s"), null, L("gk_bank", $"b{k}_boxes"), L("gk_bank", $"b{k}_labels"), GkStrides);
        }
        using (torch.NewDisposeScope()) bank.Build();
        Assert.Equal(2, bank.Builds);
        for (var l = 0; l < bank.Levels; l++)
        {
            Assert.True(bank.Level(l).Student.equal(first[l].Item1), $"level {l} student");
            Assert.True(bank.Level(l).Teacher.equal(first[l].Item2), $"level {l} teacher");
        }
        Assert.True(bank.HasTeacherCache); // still the first collection's, for the next one

        // Other boxes than the cached ones (the batches in another order): an error naming the mismatch.
        bank.BeginCollect();
        var e = Assert.Throws<InvalidOperationException>(() =>
        {
            for (var k = 2; k >= 0; k--) bank.Collect(L("gk_bank", $"b{k}_s"), null, L("gk_bank", $"b{k}_boxes"), L("gk_bank", $"b{k}_labels"), GkStrides);
        });
        Assert.Contains("the cached teacher features do not match this collection", e.Message);
        // A collection that stops before using every cached chunk (a smaller cap, fewer batches): refused at Build.
        bank.BeginCollect();
        bank.Collect(L("gk_bank", "b0_s"), null, L("gk_bank", "b0_boxes"), L("gk_bank", "b0_labels"), GkStrides);
        Assert.Contains("it stopped after", Assert.Throws<InvalidOperationException>(() => bank.Build()).Message);
        // Mixing within one collection is refused; after ClearTeacherCache the teacher's maps are needed.
        bank.BeginCollect();
        bank.Collect(L("gk_bank", "b0_s"), L("gk_bank", "b0_t"), L("gk_bank", "b0_boxes"), L("gk_bank", "b0_labels"), GkStrides);
        Assert.Throws<InvalidOperationException>(() => bank.Collect(L("gk_bank", "b1_s"), null, L("gk_bank", "b1_boxes"), L("gk_bank", "b1_labels"), GkStrides));
        bank.ClearTeacherCache();
        bank.BeginCollect();
        Assert.Throws<InvalidOperationException>(() => bank.Collect(L("gk_bank", "b0_s"), null, L("gk_bank", "b0_boxes"), L("gk_bank", "b0_labels"), GkStrides));
    }

    [Fact]
    public void Prototype_bank_with_a_cap_of_one_keeps_each_class_first_box_and_stops_when_every_class_seen_is_full()
    {
        using var scope = torch.NewDisposeScope();
        var (bank, wants, collected) = CollectBank(cap: 1);
        using var _ = bank;
        Assert.Equal(new long[] { 0, 1, 1, 1 }, collected);
        Assert.False(wants[^1]);
        // one instance per class: PGM picks it K = 3 times; it is the class's first box in batch order, pooled
        var boxes = L("gk_bank", "b0_boxes").Concat(L("gk_bank", "b1_boxes")).Concat(L("gk_bank", "b2_boxes")).ToArray();
        var labels = L("gk_bank", "b0_labels").Concat(L("gk_bank", "b1_labels")).Concat(L("gk_bank", "b2_labels")).ToArray();
        for (var cls = 1; cls <= 3; cls++)
        {
            var (k, n, j) = FirstBox(labels, cls);
            var b = boxes[2 * k + n].select(0, j);
            var roi = torch.cat([torch.tensor(new float[] { n }), b], 0).unsqueeze(0);
            for (var l = 0; l < 3; l++)
            {
                var expected = GlobalKnowledge.gk_roi_avg_pool(L("gk_bank", $"b{k}_s")[l], roi, GkStrides[l]).broadcast_to(3, 3);
                TensorAssert.Close(expected, bank.Level(l).Student.narrow(0, 3 * (cls - 1), 3), 1e-5, 1e-6, $"class {cls}, level {l}");
            }
        }
        Assert.Equal(new long[] { 0, 0, 3, 6, 9 }, bank.Level(0).ClassStarts.ToArray<long>());

        static (int Batch, int Image, int Box) FirstBox(Tensor[] labels, int cls)
        {
            for (var i = 0; i < labels.Length; i++)
            {
                var row = labels[i].ToArray<long>();
                var j = Array.IndexOf(row, (long)cls);
                if (j >= 0) return (i / 2, i % 2, j);
            }
            throw new InvalidOperationException($"no box of class {cls}");
        }
    }

    [Fact]
    public void Prototype_bank_state_tensors_round_trip_and_an_empty_state_empties_it()
    {
        using var scope = torch.NewDisposeScope();
        using var bank = CollectBank().Bank;
        var state = bank.StateTensors().ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(9, state.Count);
        Assert.Contains("l2.class_starts", state.Keys);
        using var restored = new PrototypeBank(instances_per_class: 4, count: 3);
        Assert.True(restored.IsEmpty);
        using (torch.NewDisposeScope()) restored.LoadStateTensors(state);
        Assert.Equal(3, restored.Levels);
        Assert.Equal(1, restored.Builds);
        for (var l = 0; l < 3; l++)
        {
            TensorAssert.Close(bank.Level(l).Student, restored.Level(l).Student, 0, 0);
            TensorAssert.Close(bank.Level(l).Teacher, restored.Level(l).Teacher, 0, 0);
            TensorAssert.Close(bank.Level(l).ClassStarts, restored.Level(l).ClassStarts, 0, 0);
            Assert.NotSame(bank.Level(l).Student, restored.Level(l).Student);
        }
        var e = Assert.Throws<ArgumentException>(() => restored.LoadStateTensors(new Dictionary<string, Tensor>(state) { ["l3.teacher"] = torch.zeros([1]) }));
        Assert.StartsWith("the saved prototype bank has entries this bank does not know: l3.teacher", e.Message);
        Assert.Equal(3, restored.Levels);   // a failed load leaves the tables as they were
        restored.LoadStateTensors(new Dictionary<string, Tensor>());
        Assert.True(restored.IsEmpty);
        Assert.Throws<ArgumentOutOfRangeException>(() => restored.Level(0));
    }

    [Theory]
    [InlineData(true, "gk_feature_gt")]
    [InlineData(false, "gk_feature_gt_plain")]
    public void Feature_gt_matches_PyTorch_value_and_gradient(bool robust, string c)
    {
        using var scope = torch.NewDisposeScope();
        using var bank = ReferenceBank();
        var s = L(Batch, "s", requiresGrad: true);
        var sf = L(Batch, "sf", requiresGrad: true);
        var loss = GlobalKnowledge.gk_feature_gt(s, L(Batch, "t"), sf, L(Batch, "boxes"), L(Batch, "labels"), bank, GkStrides, 1.0, 4.0, robust, 0.8);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        for (var l = 0; l < s.Length; l++)
        {
            Fx.AssertClose(s[l].grad!, c, $"grad_s{l}", 1e-4, 1e-6);
            Assert.Null(sf[l].grad);   // the weights are detached
        }
    }

    [Theory]
    [InlineData(true, "gk_global_gt")]
    [InlineData(false, "gk_global_gt_plain")]
    public void Global_gt_matches_PyTorch_value_and_gradient(bool robust, string c)
    {
        using var scope = torch.NewDisposeScope();
        using var bank = ReferenceBank();
        var sf = L(Batch, "sf", requiresGrad: true);
        var loss = GlobalKnowledge.gk_global_gt(sf, L(Batch, "t"), L(Batch, "boxes"), L(Batch, "labels"), bank, GkStrides, 5.0, robust, 0.8);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        for (var l = 0; l < sf.Length; l++) Fx.AssertClose(sf[l].grad!, c, $"grad_sf{l}", 1e-4, 1e-6);
    }

    [Theory]
    [InlineData(true, "gk_soft_rois")]
    [InlineData(false, "gk_soft_rois_plain")]
    public void Soft_kd_rois_matches_PyTorch_value_and_gradient(bool robust, string c)
    {
        using var scope = torch.NewDisposeScope();
        using var bank = ReferenceBank();
        var student = Fx.Input(Batch, "roi_student", requiresGrad: true);
        var loss = GlobalKnowledge.gk_soft_kd_rois(student, Fx.Input(Batch, "roi_teacher"), Fx.Input(Batch, "positive"), Fx.Input(Batch, "rois"),
            Fx.Input(Batch, "roi_labels"), L(Batch, "sf"), L(Batch, "t"), bank, GkStrides, 2.0, robust);
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(student.grad!, c, "grad_student", 1e-4, 1e-6);
    }

    [Fact]
    public void Batch_terms_default_to_strides_4_2_to_the_l_and_the_released_hyper_parameters()
    {
        using var scope = torch.NewDisposeScope();
        using var bank = ReferenceBank();
        var (s, t, sf, boxes, labels) = (L(Batch, "s"), L(Batch, "t"), L(Batch, "sf"), L(Batch, "boxes"), L(Batch, "labels"));
        TensorAssert.Close(GlobalKnowledge.gk_feature_gt(s, t, sf, boxes, labels, bank, [4, 8, 16], 1.0, 4.0, true, 1.0),
            GlobalKnowledge.gk_feature_gt(s, t, sf, boxes, labels, bank), 0, 0);
        TensorAssert.Close(GlobalKnowledge.gk_global_gt(sf, t, boxes, labels, bank, [4, 8, 16], 5.0, true, 1.0),
            GlobalKnowledge.gk_global_gt(sf, t, boxes, labels, bank), 0, 0);
        var (rs, rt, pos, rois, rl) = (Fx.Input(Batch, "roi_student"), Fx.Input(Batch, "roi_teacher"), Fx.Input(Batch, "positive"), Fx.Input(Batch, "rois"), Fx.Input(Batch, "roi_labels"));
        TensorAssert.Close(GlobalKnowledge.gk_soft_kd_rois(rs, rt, pos, rois, rl, sf, t, bank, [4, 8, 16], 2.0, true),
            GlobalKnowledge.gk_soft_kd_rois(rs, rt, pos, rois, rl, sf, t, bank), 0, 0);
    }

    [Fact]
    public void An_empty_bank_gives_the_unweighted_local_terms_and_no_global_term()
    {
        using var scope = torch.NewDisposeScope();
        using var empty = new PrototypeBank();
        Assert.True(empty.IsEmpty);
        var (t, boxes, labels) = (L(Batch, "t"), L(Batch, "boxes"), L(Batch, "labels"));
        var s = L(Batch, "s", requiresGrad: true);
        var feature = GlobalKnowledge.gk_feature_gt(s, t, L(Batch, "sf"), boxes, labels, empty, GkStrides, 1.0, 4.0, true, 0.8);
        Fx.AssertClose(feature, "gk_feature_gt_plain", "loss", 1e-4, 1e-6);
        feature.backward();
        Fx.AssertClose(s[0].grad!, "gk_feature_gt_plain", "grad_s0", 1e-4, 1e-6);

        var student = Fx.Input(Batch, "roi_student", requiresGrad: true);
        var soft = GlobalKnowledge.gk_soft_kd_rois(student, Fx.Input(Batch, "roi_teacher"), Fx.Input(Batch, "positive"), Fx.Input(Batch, "rois"),
            Fx.Input(Batch, "roi_labels"), L(Batch, "sf"), t, empty, GkStrides);
        Fx.AssertClose(soft, "gk_soft_rois_plain", "loss", 1e-4, 1e-6);

        var sf = L(Batch, "sf", requiresGrad: true);
        var global = GlobalKnowledge.gk_global_gt(sf, t, boxes, labels, empty, GkStrides);
        Assert.Equal(0.0, global.item<double>());
        global.backward();
        Assert.True(sf[0].grad!.isfinite().all().item<bool>());
        Assert.Equal(0.0, sf[0].grad!.abs().sum().item<double>());
    }

    [Fact]
    public void Batch_terms_without_an_instance_are_zero_with_a_finite_gradient()
    {
        using var scope = torch.NewDisposeScope();
        using var bank = ReferenceBank();
        var student = Fx.Input(Batch, "roi_student", requiresGrad: true);
        var soft = GlobalKnowledge.gk_soft_kd_rois(student, Fx.Input(Batch, "roi_teacher"), torch.zeros([10], ScalarType.Bool), Fx.Input(Batch, "rois"),
            Fx.Input(Batch, "roi_labels"), L(Batch, "sf"), L(Batch, "t"), bank, GkStrides);
        Assert.Equal(0.0, soft.item<double>());
        soft.backward();
        Assert.Equal(0.0, student.grad!.abs().sum().item<double>());

        Tensor[] noBoxes = [torch.zeros([0, 4]), torch.zeros([0, 4])];
        Tensor[] noLabels = [torch.zeros([0], ScalarType.Int64), torch.zeros([0], ScalarType.Int64)];
        var sf = L(Batch, "sf", requiresGrad: true);
        var global = GlobalKnowledge.gk_global_gt(sf, L(Batch, "t"), noBoxes, noLabels, bank, GkStrides);
        Assert.Equal(0.0, global.item<double>());
        global.backward();
        Assert.True(sf[0].grad!.isfinite().all().item<bool>());

        // without boxes the feature term is its background part alone, whatever the weights
        var s = L(Batch, "s");
        TensorAssert.Close(GlobalKnowledge.gk_point_kd(s, L(Batch, "t"), GlobalKnowledge.gk_weight_masks(noBoxes, [torch.zeros([0]), torch.zeros([0])], GkStrides,
                s.Select(x => (x.size(2), x.size(3))).ToArray())),
            GlobalKnowledge.gk_feature_gt(s, L(Batch, "t"), L(Batch, "sf"), noBoxes, noLabels, bank, GkStrides), 1e-6, 1e-7);
    }

    [Fact]
    public void Batch_terms_reject_a_bank_of_other_levels_and_bad_input_naming_the_argument()
    {
        using var scope = torch.NewDisposeScope();
        using var bank = ReferenceBank();
        var (s, t, sf, boxes, labels) = (L(Batch, "s")[..2], L(Batch, "t")[..2], L(Batch, "sf")[..2], L(Batch, "boxes"), L(Batch, "labels"));
        int[] strides = [8, 16];
        var e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_feature_gt(s, t, sf, boxes, labels, bank, strides));
        Assert.Equal("gk_feature_gt: the prototype bank has 3 levels but student_features has 2 FPN levels (a bank is built from the same taps as student_features and teacher) (Parameter 'prototypes')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_global_gt(sf, t, boxes, labels, bank, strides));
        Assert.Equal("gk_global_gt: the prototype bank has 3 levels but student_features has 2 FPN levels (a bank is built from the same taps as student_features and teacher) (Parameter 'prototypes')", e.Message);
        var (rs, rt, pos, rois, rl) = (Fx.Input(Batch, "roi_student"), Fx.Input(Batch, "roi_teacher"), Fx.Input(Batch, "positive"), Fx.Input(Batch, "rois"), Fx.Input(Batch, "roi_labels"));
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_soft_kd_rois(rs, rt, pos, rois, rl, sf, t, bank, strides));
        Assert.Equal("gk_soft_kd_rois: the prototype bank has 3 levels but student_features has 2 FPN levels (a bank is built from the same taps as student_features and teacher_features) (Parameter 'prototypes')", e.Message);

        // the prototypes of another feature space: the teacher's channels where the student's own are expected
        var (s3, t3, sf3) = (L(Batch, "s"), L(Batch, "t"), L(Batch, "sf"));
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_global_gt(t3, t3, boxes, labels, bank, GkStrides));
        Assert.Equal("gk_global_gt: the prototype bank's level 0 has 3 student and 4 teacher channels, but student_features[0] is [2, 4, 32, 40] and teacher[0] is [2, 4, 32, 40] (Parameter 'prototypes')", e.Message);

        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_feature_gt(s3, t3, sf, boxes, labels, bank, GkStrides));
        Assert.Equal("gk_feature_gt: student has 3 FPN levels but student_features has 2 (Parameter 'student_features')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_feature_gt(s3, t3, sf3, boxes[..1], labels[..1], bank, GkStrides));
        Assert.Equal("gk_feature_gt: boxes has 1 images but the features have a batch of 2 (Parameter 'boxes')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_global_gt(sf3, t3, boxes, [labels[0].narrow(0, 0, 5), labels[1]], bank, GkStrides));
        Assert.Equal("gk_global_gt: labels[0] must have shape [6] (one label per box of boxes[0] [6, 4]), got [5] (Parameter 'labels')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_global_gt(sf3, t3, boxes, [labels[0].to(ScalarType.Float32), labels[1]], bank, GkStrides));
        Assert.Equal("gk_global_gt: labels[0] must hold integer class labels, got float32 (Parameter 'labels')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_global_gt(sf3, t3, boxes, labels, bank, [8, 16]));
        Assert.Equal("gk_global_gt: strides has 2 entries but student_features has 3 FPN levels (Parameter 'strides')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_global_gt(sf3, t3, boxes, labels, bank, GkStrides, attenuation: 2));
        Assert.Equal("gk_global_gt: attenuation must be in [0, 1], got 2 (Parameter 'attenuation')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_global_gt(sf3, [t3[0], t3[1], t3[1]], boxes, labels, bank, GkStrides));
        Assert.Equal("gk_global_gt: student_features[2] [2, 3, 8, 10] and teacher[2] [2, 4, 16, 20] must have the batch size of student_features[0] [2, 3, 32, 40] and the same H, W (Parameter 'teacher')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_soft_kd_rois(rs, rt, pos, rois.narrow(1, 0, 4), rl, sf3, t3, bank, GkStrides));
        Assert.Equal("gk_soft_kd_rois: rois must have shape [R, 5] = [10, 5] (image index, x1, y1, x2, y2 for each row of student [10, 5]), got [10, 4] (Parameter 'rois')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_soft_kd_rois(rs, rt, pos, rois, rl.narrow(0, 0, 9), sf3, t3, bank, GkStrides));
        Assert.Equal("gk_soft_kd_rois: roi_labels must have shape [R] = [10] (one class per row of student [10, 5]), got [9] (Parameter 'roi_labels')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => GlobalKnowledge.gk_soft_kd_rois(rs, rt, pos, rois, rl, sf3, t3, bank, GkStrides, temperature: 0));
        Assert.Equal("gk_soft_kd_rois: temperature must be > 0, got 0 (Parameter 'temperature')", e.Message);
    }
}

/// <summary>The Global Knowledge terms and the prototype bank leave no native tensor behind.</summary>
[Collection(SequentialCollection.Name)]
public class GlobalKnowledgeLeakTests
{
    private static readonly Fixture Fx = Fixture.Load("detect");

    [Fact]
    public void Batch_terms_and_the_prototype_bank_free_every_tensor_they_create()
    {
        const string b = "gk_batch";
        var L = GlobalKnowledgeTests.L;
        var strides = GlobalKnowledgeTests.GkStrides;
        var (s, t, sf, boxes, labels) = (L(b, "s", false), L(b, "t", false), L(b, "sf", false), L(b, "boxes", false), L(b, "labels", false));
        var (rs, rt, pos, rois, rl) = (Fx.Input(b, "roi_student"), Fx.Input(b, "roi_teacher"), Fx.Input(b, "positive"), Fx.Input(b, "rois"), Fx.Input(b, "roi_labels"));
        var batches = Enumerable.Range(0, 3)
            .Select(k => (S: L("gk_bank", $"b{k}_s", false), T: L("gk_bank", $"b{k}_t", false), Boxes: L("gk_bank", $"b{k}_boxes", false), Labels: L("gk_bank", $"b{k}_labels", false)))
            .ToArray();
        void Run()
        {
            // no dispose scope around: whatever a call does not free itself stays alive
            using var bank = new PrototypeBank(instances_per_class: 4, count: 3);
            bank.BeginCollect();
            foreach (var x in batches) bank.Collect(x.S, x.T, x.Boxes, x.Labels, strides);
            bank.Build();
            using var restored = new PrototypeBank();
            restored.LoadStateTensors(bank.StateTensors().ToDictionary(kv => kv.Key, kv => kv.Value));
            // a second collection from the cached teacher features, then one abandoned halfway: all freed with the bank
            bank.BeginCollect();
            foreach (var x in batches) bank.Collect(x.S, null, x.Boxes, x.Labels, strides);
            bank.Build();
            bank.BeginCollect();
            bank.Collect(batches[0].S, null, batches[0].Boxes, batches[0].Labels, strides);
            restored.BeginCollect();   // a collection abandoned halfway: its instances go with the bank
            restored.Collect(batches[0].S, batches[0].T, batches[0].Boxes, batches[0].Labels, strides);
            foreach (var robust in new[] { true, false })
            {
                GlobalKnowledge.gk_feature_gt(s, t, sf, boxes, labels, restored, strides, robust: robust).Dispose();
                GlobalKnowledge.gk_global_gt(sf, t, boxes, labels, restored, strides, robust: robust).Dispose();
                GlobalKnowledge.gk_soft_kd_rois(rs, rt, pos, rois, rl, sf, t, restored, strides, robust: robust).Dispose();
            }
        }

        Run(); // warm-up: lazily created state
        var before = SequentialCollection.SettledLiveCount();
        Run();
        Assert.Equal(before, Tensor.LiveCount);
    }
}
