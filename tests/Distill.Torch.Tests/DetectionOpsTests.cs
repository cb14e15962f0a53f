using static Distill.Torch.torch;

namespace Distill.Torch.Tests;

/// <summary>
/// torch.ops (the detection ops) against torchvision 0.14 (fixture: tests/fixtures/python/make_detection_ops.py).
/// nms, batched_nms, roi_align and roi_pool run both of their implementations on the CPU: the shim's CPU kernel
/// and the ATen composition that other devices run; both must give torchvision's values and gradients.
/// </summary>
public class DetectionOpsTests
{
    private static readonly Fixture fx = Fixture.Load("detection_ops");

    private static ops.OpPath PathOf(bool composite) => composite ? ops.OpPath.Composite : ops.OpPath.Kernel;

    private static TheoryData<string, bool> BothPaths(IEnumerable<string> cases)
    {
        var data = new TheoryData<string, bool>();
        foreach (var name in cases.Order())
        {
            data.Add(name, false);
            data.Add(name, true);
        }
        return data;
    }

    private static void AssertIndices(Tensor actual, string testCase, string name)
    {
        Assert.Equal(ScalarType.Int64, actual.dtype);
        Assert.Equal(fx[testCase, name].ToArray<long>(), actual.ToArray<long>());
    }

    // ---- nms ------------------------------------------------------------------------------------------

    private static readonly string[] NmsCases =
        ["nms_ties_0.5", "nms_ties_0.49", "nms_ties_0", "nms_random_0.3", "nms_random_0.5", "nms_random_0.7", "nms_float64", "nms_empty"];

    public static TheoryData<string, bool> NmsData => BothPaths(NmsCases);

    [Theory]
    [MemberData(nameof(NmsData))]
    public void Nms_keeps_torchvisions_boxes_in_its_order(string name, bool composite)
    {
        using var scope = NewDisposeScope();
        var keep = ops.nms(fx[name, "boxes"], fx[name, "scores"], fx[name, "threshold"].item<double>(), PathOf(composite));
        AssertIndices(keep, name, "keep");
    }

    private static readonly string[] BatchedNmsCases = ["batched_nms_small", "batched_nms_per_category", "batched_nms_empty"];

    public static TheoryData<string, bool> BatchedNmsData => BothPaths(BatchedNmsCases);

    [Theory]
    [MemberData(nameof(BatchedNmsData))]
    public void Batched_nms_keeps_torchvisions_boxes_in_its_order(string name, bool composite)
    {
        using var scope = NewDisposeScope();
        var keep = ops.batched_nms(fx[name, "boxes"], fx[name, "scores"], fx[name, "idxs"], fx[name, "threshold"].item<double>(), PathOf(composite));
        AssertIndices(keep, name, "keep");
    }

    [Fact]
    public void Nms_by_device_runs_on_cpu_tensors_and_suppresses_only_within_a_category()
    {
        using var scope = NewDisposeScope();
        var boxes = tensor(new float[] { 0, 0, 10, 10, 1, 1, 11, 11, 0, 0, 10, 10 }).view(3, 4);
        var scores = tensor(new float[] { 0.9f, 0.8f, 0.7f });
        Assert.Equal([0L], ops.nms(boxes, scores, 0.5).ToArray<long>());
        Assert.Equal([0L, 2L], ops.batched_nms(boxes, scores, tensor(new long[] { 0, 0, 1 }), 0.5).ToArray<long>());
        // half precision boxes run in float32
        Assert.Equal([0L], ops.nms(boxes.half(), scores, 0.5).ToArray<long>());
    }

    // ---- roi_align / roi_pool ----------------------------------------------------------------------------

    private sealed record RoiCase(Func<Tensor, Tensor, ops.OpPath, Tensor> Op, bool Float64 = false, string Input = "roi_data");

    private static readonly Dictionary<string, RoiCase> RoiCases = new()
    {
        ["roi_align_adaptive"] = new((x, r, p) => ops.roi_align(x, r, (3, 4), 0.5, -1, false, p)),
        ["roi_align_adaptive_aligned"] = new((x, r, p) => ops.roi_align(x, r, (3, 4), 0.5, -1, true, p)),
        ["roi_align_ratio0_aligned"] = new((x, r, p) => ops.roi_align(x, r, 2, 0.5, 0, true, p)),
        ["roi_align_ratio1"] = new((x, r, p) => ops.roi_align(x, r, (2, 2), 0.5, 1, false, p)),
        ["roi_align_ratio2_aligned"] = new((x, r, p) => ops.roi_align(x, r, (3, 4), 0.5, 2, true, p)),
        ["roi_align_ratio3_scale1"] = new((x, r, p) => ops.roi_align(x, r, (5, 3), 1.0, 3, false, p)),
        ["roi_align_adaptive_aligned_scale1"] = new((x, r, p) => ops.roi_align(x, r, (4, 4), 1.0, -1, true, p)),
        ["roi_align_float64"] = new((x, r, p) => ops.roi_align(x, r, (3, 3), 0.5, 2, true, p), Float64: true),
        ["roi_pool"] = new((x, r, p) => ops.roi_pool(x, r, (3, 3), 0.5, p)),
        ["roi_pool_scale1"] = new((x, r, p) => ops.roi_pool(x, r, (2, 4), 1.0, p)),
        ["roi_pool_ties"] = new((x, r, p) => ops.roi_pool(x, r, (3, 3), 0.5, p), Input: "roi_pool_ties"),
    };

    public static TheoryData<string, bool> RoiData => BothPaths(RoiCases.Keys);

    [Theory]
    [MemberData(nameof(RoiData))]
    public void Roi_ops_match_torchvisions_values_and_feature_gradients(string name, bool composite)
    {
        using var scope = NewDisposeScope();
        var c = RoiCases[name];
        var x = fx.Input(c.Input, "x");
        var rois = Rois;
        if (c.Float64)
        {
            x = x.to(float64);
            rois = rois.to(float64);
        }
        x.requires_grad = true;
        var output = c.Op(x, rois, PathOf(composite));
        fx.AssertClose(output, name, "out", rtol: 1e-5, atol: 1e-5);
        output.backward(fx[name, "gout"]);
        Assert.True(x.grad is not null, $"{name}: no gradient reached the features");
        fx.AssertClose(x.grad, name, "grad_x", rtol: 1e-4, atol: 1e-5);
    }

    private static Tensor X => fx["roi_data", "x"];
    private static Tensor Rois => fx["roi_data", "rois"];

    /// <summary>roi_pool (output 3 x 4) or roi_align (3 x 4, adaptive sampling, aligned) of the shared RoIs.</summary>
    private static Tensor RoiOp(bool pool, Tensor x, Tensor rois, ops.OpPath path = ops.OpPath.ByDevice) =>
        pool ? ops.roi_pool(x, rois, (3, 4), 0.5, path) : ops.roi_align(x, rois, (3, 4), 0.5, -1, true, path);

    /// <summary>The RoIs as two [L, 4] tensors, image 0's then image 1's, and as the Tensor[K, 5] of that order.</summary>
    private static (Tensor[] PerImage, Tensor Rows) RoisPerImage()
    {
        var sorted = Rois.index_select(0, Rois.select(1, 0).argsort(stable: true));
        var first = sorted.select(1, 0).eq(0).sum().item<long>();
        return ([sorted.narrow(0, 0, first).narrow(1, 1, 4), sorted.narrow(0, first, sorted.size(0) - first).narrow(1, 1, 4)], sorted);
    }

    public static TheoryData<bool> PoolOrAlign => new() { false, true };

    [Theory]
    [MemberData(nameof(PoolOrAlign))]
    public void Roi_ops_take_one_box_tensor_per_image(bool pool)
    {
        using var scope = NewDisposeScope();
        var (perImage, rows) = RoisPerImage();
        var fromList = pool ? ops.roi_pool(X, perImage, (3, 4), 0.5) : ops.roi_align(X, perImage, (3, 4), 0.5, -1, true);
        Assert.True(fromList.equal(RoiOp(pool, X, rows)));
    }

    [Theory]
    [MemberData(nameof(PoolOrAlign))]
    public void Roi_ops_do_not_differentiate_the_boxes(bool pool)
    {
        using var scope = NewDisposeScope();
        foreach (var path in new[] { ops.OpPath.Kernel, ops.OpPath.Composite })
        {
            var x = fx.Input("roi_data", "x", requiresGrad: true);
            var rois = fx.Input("roi_data", "rois", requiresGrad: true);
            RoiOp(pool, x, rois, path).sum().backward();
            Assert.NotNull(x.grad);
            Assert.Null(rois.grad);
        }
    }

    /// <summary>
    /// Both backward passes are differentiable (roi_align's kernel backward is an autograd node whose adjoint is
    /// roi_align again; roi_pool's runs as a scatter_add under create_graph), so a double backward through the
    /// kernels gives what it gives through the compositions, and is not zero.
    /// </summary>
    [Theory]
    [MemberData(nameof(PoolOrAlign))]
    public void Double_backward_through_the_kernels_matches_the_compositions(bool pool)
    {
        using var scope = NewDisposeScope();
        var h = randn([2, 3, 10, 12]);
        Tensor SecondOrder(ops.OpPath path)
        {
            var x = fx.Input("roi_data", "x", requiresGrad: true);
            var y = RoiOp(pool, x, Rois, path);
            (y * y).sum().backward(create_graph: true);
            var g = x.grad!;
            x.grad = null;
            (g * h).sum().backward();
            return x.grad!;
        }
        var kernel = SecondOrder(ops.OpPath.Kernel);
        TensorAssert.Close(SecondOrder(ops.OpPath.Composite), kernel, rtol: 1e-4, atol: 1e-5, what: "second-order gradient");
        Assert.True(kernel.abs().sum().item<float>() > 0, "the second-order gradient is zero");
    }

    [Theory]
    [MemberData(nameof(PoolOrAlign))]
    public void Half_precision_features_run_in_float32_and_come_back_in_half(bool pool)
    {
        using var scope = NewDisposeScope();
        var xh = X.half().requires_grad_();
        var yh = RoiOp(pool, xh, Rois.half());
        Assert.Equal(ScalarType.Float16, yh.dtype);
        Assert.True(yh.equal(RoiOp(pool, X.half().to(float32), Rois.half().to(float32)).half()));
        yh.sum().backward();
        Assert.Equal(ScalarType.Float16, xh.grad!.dtype);
    }

    [Fact]
    public void No_rois_give_an_empty_output()
    {
        using var scope = NewDisposeScope();
        foreach (var composite in new[] { false, true })
        {
            var none = zeros([0, 5]);
            TensorAssert.Equal([0, 3, 2, 3], ops.roi_align(X, none, (2, 3), 1.0, -1, false, PathOf(composite)).shape, "roi_align");
            TensorAssert.Equal([0, 3, 2, 3], ops.roi_pool(X, none, (2, 3), 1.0, PathOf(composite)).shape, "roi_pool");
        }
    }

    // ---- boxes --------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("box_float32")]
    [InlineData("box_int64")]
    [InlineData("box_float16")]
    public void Box_area_and_iou_match_torchvision_with_its_upcasting(string name)
    {
        using var scope = NewDisposeScope();
        fx.AssertClose(ops.box_area(fx[name, "boxes1"]), name, "area");
        fx.AssertClose(ops.box_iou(fx[name, "boxes1"], fx[name, "boxes2"]), name, "iou");
    }

    [Fact]
    public void Clip_boxes_to_image_clamps_x_to_the_width_and_y_to_the_height()
    {
        using var scope = NewDisposeScope();
        fx.AssertClose(ops.clip_boxes_to_image(fx["clip", "boxes"], (15, 25)), "clip", "out");
    }

    [Theory]
    [InlineData("remove_small", 2.0)]
    [InlineData("remove_small_empty", 1.0)]
    public void Remove_small_boxes_keeps_boxes_at_least_min_size_on_both_sides(string name, double minSize)
    {
        using var scope = NewDisposeScope();
        AssertIndices(ops.remove_small_boxes(fx[name, "boxes"], minSize), name, "keep");
    }

    // ---- sigmoid_focal_loss ---------------------------------------------------------------------------------

    [Theory]
    [InlineData("focal_none", "none")]
    [InlineData("focal_mean", "mean")]
    [InlineData("focal_sum", "sum")]
    [InlineData("focal_no_alpha_gamma_half_mean", "mean")]
    [InlineData("focal_soft_targets_sum", "sum")]
    public void Sigmoid_focal_loss_matches_torchvisions_values_and_gradients(string name, string reduction)
    {
        using var scope = NewDisposeScope();
        var x = fx.Input(name, "x", requiresGrad: true);
        var t = fx.Input(name, "t", requiresGrad: true);
        var loss = ops.sigmoid_focal_loss(x, t, fx[name, "alpha"].item<double>(), fx[name, "gamma"].item<double>(), reduction);
        fx.AssertClose(loss, name, "out");
        loss.backward(fx[name, "gout"]);
        fx.AssertClose(x.grad!, name, "grad_x");
        fx.AssertClose(t.grad!, name, "grad_t");
    }

    // ---- bad input -------------------------------------------------------------------------------------------

    private static TorchException Fails(Func<Tensor> op, string message, ErrorCategory category = ErrorCategory.Value)
    {
        var e = Assert.Throws<TorchException>(() => op());
        Assert.Contains(message, e.Message);
        Assert.Equal(category, e.Category);
        return e;
    }

    [Fact]
    public void Malformed_boxes_are_TorchExceptions_that_say_what_was_expected()
    {
        using var scope = NewDisposeScope();
        var boxes = rand([5, 4]);
        var scores = rand([5]);
        Fails(() => ops.nms(rand([5, 3]), scores, 0.5), "nms: boxes must be a Tensor[N, 4] of (x1, y1, x2, y2), got shape [5, 3]");
        Fails(() => ops.nms(rand([4]), scores, 0.5), "nms: boxes must be a Tensor[N, 4] of (x1, y1, x2, y2), got shape [4]");
        Fails(() => ops.nms(boxes, rand([4]), 0.5), "nms: scores must be a Tensor[N] with one score per box (N = 5), got shape [4]");
        Fails(() => ops.nms(boxes.to(int64), scores, 0.5), "nms: boxes must be floating point, got Long", ErrorCategory.Type);
        Fails(() => ops.batched_nms(boxes, scores, zeros([4], int64), 0.5), "batched_nms: idxs must be a Tensor[N] with one category per box (N = 5), got shape [4]");
        Fails(() => ops.batched_nms(boxes, scores, zeros([5]), 0.5), "batched_nms: idxs must hold integers, got Float", ErrorCategory.Type);
        Fails(() => ops.box_iou(boxes, rand([3, 5])), "box_iou: boxes2 must be a Tensor[N, 4] of (x1, y1, x2, y2), got shape [3, 5]");
        Fails(() => ops.box_area(rand([2, 2, 4])), "box_area: boxes must be a Tensor[N, 4] of (x1, y1, x2, y2), got shape [2, 2, 4]");
        Fails(() => ops.remove_small_boxes(rand([3]), 1), "remove_small_boxes: boxes must be a Tensor[N, 4]");
        Fails(() => ops.clip_boxes_to_image(rand([2, 3]), (4, 4)), "clip_boxes_to_image: boxes must be a Tensor[..., 4] of (x1, y1, x2, y2), got shape [2, 3]");
        Fails(() => ops.sigmoid_focal_loss(rand([3]), rand([3]), reduction: "batchmean"), "sigmoid_focal_loss: invalid reduction 'batchmean'; supported: 'none', 'mean', 'sum'");
    }

    [Fact]
    public void Malformed_rois_are_TorchExceptions_that_say_what_was_expected()
    {
        using var scope = NewDisposeScope();
        var x = X;
        var rois = Rois;
        foreach (var composite in new[] { false, true })
        {
            var path = PathOf(composite);
            foreach (var (op, run) in new (string, Func<Tensor, Tensor, Tensor>)[]
                     {
                         ("roi_align", (f, r) => ops.roi_align(f, r, 2, 0.5, -1, false, path)),
                         ("roi_pool", (f, r) => ops.roi_pool(f, r, 2, 0.5, path)),
                     })
            {
                Fails(() => run(x, rois.narrow(1, 1, 4)), $"{op}: rois must be a Tensor[K, 5] of (batch index, x1, y1, x2, y2), got shape [10, 4]");
                Fails(() => run(x.select(0, 0), rois), $"{op}: input must be a Tensor[N, C, H, W], got shape [3, 10, 12]");
                Fails(() => run(x, rois.to(float64)), $"{op}: rois must have the input's dtype (Float), got Double", ErrorCategory.Type);
                var badIndex = rois.clone();
                badIndex.select(0, 3).select(0, 0).fill_(2);
                Fails(() => run(x, badIndex), $"{op}: rois[:, 0] must be batch indices in [0, 2) for the input's N = 2, got values in [0, 2]", ErrorCategory.Index);
                var nan = rois.clone();
                nan.select(0, 1).select(0, 2).fill_(double.NaN);
                Fails(() => run(x, nan), $"{op}: rois hold a NaN or infinite value");
            }
            Fails(() => ops.roi_align(x, rois, (0, 2), 1.0, -1, false, path), "roi_align: output_size must be positive, got (0, 2)");
        }
        Fails(() => ops.roi_align(x, [rand([2, 4]), rand([3, 5])], 2), "roi_align: boxes[1] must be a Tensor[L, 4] of (x1, y1, x2, y2), got shape [3, 5]");
        Fails(() => ops.roi_pool(x, Array.Empty<Tensor>(), 2), "roi_pool: the list of boxes is empty; pass one Tensor[L, 4] per image");
        Fails(() => ops.roi_align(x, rois, new long[] { 1, 2, 3 }), "roi_align: output_size must be one value or (height, width), got (1, 2, 3)");
    }

    [Fact]
    public void Every_fixture_case_is_tested()
    {
        var tested = NmsCases.Concat(BatchedNmsCases).Concat(RoiCases.Keys).Concat(
        [
            "roi_data", "box_float32", "box_int64", "box_float16", "clip", "remove_small", "remove_small_empty",
            "focal_none", "focal_mean", "focal_sum", "focal_no_alpha_gamma_half_mean", "focal_soft_targets_sum",
        ]).ToHashSet();
        var untested = fx.Cases.Where(c => !tested.Contains(c)).ToList();
        Assert.True(untested.Count == 0, "fixture cases without a test: " + string.Join(", ", untested));
    }
}

/// <summary>The managed compositions free their intermediates: a call leaves exactly its result alive.</summary>
[Collection(SequentialCollection.Name)]
public class DetectionOpsLeakTests
{
    [Fact]
    public void Box_functions_and_the_focal_loss_leave_only_their_result()
    {
        var boxes = (rand([6, 2]) * 10).DetachFromDisposeScope();
        var corners = cat([boxes, boxes + 3], 1).DetachFromDisposeScope();
        var features = randn([1, 2, 8, 8]).DetachFromDisposeScope();
        var targets = rand([6, 2]).round().DetachFromDisposeScope();
        var baseline = SequentialCollection.SettledLiveCount();
        foreach (var op in new Func<Tensor>[]
                 {
                     () => ops.box_area(corners),
                     () => ops.box_iou(corners, corners),
                     () => ops.clip_boxes_to_image(corners, (5, 5)),
                     () => ops.remove_small_boxes(corners, 1),
                     () => ops.sigmoid_focal_loss(boxes, targets, reduction: "mean"),
                     () => ops.roi_align(features, [corners], 2),
                 })
        {
            var result = op();
            Assert.Equal(baseline + 1, Tensor.LiveCount);
            result.Dispose();
            Assert.Equal(baseline, Tensor.LiveCount);
        }
        boxes.Dispose();
        corners.Dispose();
        features.Dispose();
        targets.Dispose();
    }
}
