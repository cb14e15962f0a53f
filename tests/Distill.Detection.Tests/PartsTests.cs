using Distill.Detection.Backbones;
using Distill.Detection.Boxes;
using Distill.Detection.RoiHeads;
using Distill.Detection.Rpn;

namespace Distill.Detection.Tests;

/// <summary>
/// Each part against torchvision 0.14 (tests/fixtures/python/make_detection_models.py). Seeded (the global generator
/// draws the weights and the samples), so they run alone: a parallel test drawing random numbers would shift the stream.
/// </summary>
[Collection(SequentialCollection.Name)]
public class PartsTests
{
    private static Fixture Fx => Helpers.Fx;

    [Fact]
    public void Training_transform_draws_one_size_per_image_as_torchvision()
    {
        // torchvision's GeneralizedRCNNTransform.resize draws torch.empty(1).uniform_() for every image in training (even
        // with one min_size), so a seeded step's later samples depend on the batch size: three images, three draws.
        using var scope = torch.NewDisposeScope();
        using var transform = new GeneralizedRcnnTransform(32, 32, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
        transform.train();
        torch.manual_seed(11);
        transform.forward(torch.zeros([3, 3, 32, 32]));
        var after = torch.rand([4]);
        torch.manual_seed(11);
        for (var i = 0; i < 3; i++) torch.rand([1]);
        TensorAssert.Close(torch.rand([4]), after, 0, 0);
        // Evaluation draws nothing.
        transform.eval();
        torch.manual_seed(11);
        transform.forward(torch.zeros([3, 3, 32, 32]));
        var evalAfter = torch.rand([4]);
        torch.manual_seed(11);
        TensorAssert.Close(torch.rand([4]), evalAfter, 0, 0);
    }

    [Theory]
    [InlineData("anchors_single")]
    [InlineData("anchors_multi")]
    public void Anchors_equal_torchvisions(string name)
    {
        using var scope = torch.NewDisposeScope();
        var gen = name == "anchors_single"
            ? new AnchorGenerator([[16], [32]], [[0.5, 1.0, 2.0], [0.5, 1.0, 2.0]])
            : new AnchorGenerator([[16, 24], [40, 64]], [[0.5, 1.0], [1.0, 2.0, 3.0]]);
        using var _ = gen;
        var anchors = gen.call([(16, 24), (8, 12)], (64, 96), ScalarType.Float32, Device.CPU);
        Fx.AssertClose(anchors, name, "anchors", rtol: 0, atol: 0);
    }

    [Fact]
    public void Box_coder_encodes_and_decodes_as_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        var coder = new BoxCoder((10, 10, 5, 5));
        Fx.AssertClose(coder.encode_single(Fx["box_coder", "reference"], Fx["box_coder", "proposals"]), "box_coder", "encoded", rtol: 1e-6, atol: 1e-6);
        Fx.AssertClose(coder.decode_single(Fx["box_coder", "codes"], Fx["box_coder", "proposals"]), "box_coder", "decoded", rtol: 1e-6, atol: 1e-4);
    }

    [Theory]
    [InlineData("matcher_rpn", 0.7, 0.3, true)]
    [InlineData("matcher_rpn_strict", 0.7, 0.3, false)]
    [InlineData("matcher_box", 0.5, 0.5, false)]
    [InlineData("matcher_box_low", 0.5, 0.5, true)]
    public void Matcher_equals_torchvisions(string name, double high, double low, bool lowQuality)
    {
        using var scope = torch.NewDisposeScope();
        var matches = new Matcher(high, low, lowQuality).call(Fx[name, "quality"]);
        Fx.AssertClose(matches, name, "matches", 0, 0);
    }

    [Fact]
    public void Matcher_on_random_qualities_and_its_errors()
    {
        using var scope = torch.NewDisposeScope();
        Fx.AssertClose(new Matcher(0.7, 0.3, true).call(Fx["matcher_random", "quality"]), "matcher_random", "matches", 0, 0);
        Assert.Throws<ArgumentException>(() => new Matcher(0.3, 0.7));
        var e = Assert.Throws<ArgumentException>(() => new Matcher(0.7, 0.3).call(torch.zeros([0, 5])));
        Assert.Contains("No ground-truth boxes", e.Message);
    }

    [Fact]
    public void Sampler_draws_torchvisions_samples_with_the_same_seed()
    {
        using var scope = torch.NewDisposeScope();
        var labels = Enumerable.Range(0, 3).Select(i => Fx[$"sampler_{i}", "labels"]).ToList();
        torch.manual_seed(42);
        var (pos, neg) = new BalancedPositiveNegativeSampler(64, 0.25).call(labels);
        for (var i = 0; i < 3; i++)
        {
            Fx.AssertClose(pos[i], $"sampler_{i}", "pos", 0, 0);
            Fx.AssertClose(neg[i], $"sampler_{i}", "neg", 0, 0);
            // Invariants: at most 16 positives, the batch filled with negatives where there are enough, never an ignored label.
            var p = pos[i].sum().item<long>();
            var n = neg[i].sum().item<long>();
            Assert.True(p <= 16);
            Assert.True(p + n <= 64);
            Assert.Equal(0, (pos[i].logical_or(neg[i])).logical_and(labels[i].lt(0)).sum().item<long>());
        }
    }

    [Fact]
    public void Fpn_equals_torchvisions_with_the_same_weights()
    {
        using var scope = torch.NewDisposeScope();
        using var fpn = new FeaturePyramidNetwork([8, 16, 24, 32], 16, new LastLevelMaxPool());
        Helpers.FormulaWeights(fpn);
        var outputs = fpn.forward(Enumerable.Range(0, 4).Select(i => Fx["fpn", $"x{i}"]).ToList());
        Assert.Equal(5, outputs.Length);
        for (var i = 0; i < 5; i++) Fx.AssertClose(outputs[i], "fpn", $"out{i}", rtol: 1e-4, atol: 1e-5);
    }

    [Theory]
    [InlineData("pooler", 7, 224, 4)]
    [InlineData("pooler_canonical", 5, 112, 3)]
    public void Multi_scale_roi_align_maps_levels_and_pools_as_torchvision(string name, int size, double canonicalScale, int canonicalLevel)
    {
        using var scope = torch.NewDisposeScope();
        var feats = Enumerable.Range(0, 4).Select(i => Fx["pooler", $"f{i}"]).ToList();
        var sizes = Helpers.Sizes(Fx["pooler", "image_sizes"]);
        using var pool = new MultiScaleRoIAlign(4, size, 2, canonicalScale, canonicalLevel);
        var rois = Fx["pooler", "rois"];
        Fx.AssertClose(pool.map_levels(rois.narrow(1, 1, 4), pool.infer_scales(feats, sizes)), name, "levels", 0, 0);
        Fx.AssertClose(pool.forward(feats, rois, sizes), name, "pooled", rtol: 1e-5, atol: 1e-6);
    }

    private static RegionProposalNetwork SmallRpn()
    {
        var anchors = new AnchorGenerator([[16], [32], [64], [128], [256]], Enumerable.Repeat(new[] { 0.5, 1.0, 2.0 }, 5).ToArray());
        var rpn = new RegionProposalNetwork(anchors, new RPNHead(8, 3), 0.7, 0.3, 64, 0.5, (300, 200), (100, 50), 0.7);
        rpn.load_state_dict(Helpers.State("rpn_state"), strict: true);
        return rpn;
    }

    [Fact]
    public void Rpn_proposals_and_losses_equal_torchvisions()
    {
        using var scope = torch.NewDisposeScope();
        using var rpn = SmallRpn();
        var levels = Enumerable.Range(0, 5).Select(i => Fx["rpn", $"p{i}"]).ToList();
        var sizes = Helpers.Sizes(Fx["rpn", "image_sizes"]);
        rpn.eval();
        using (torch.no_grad())
        {
            var r = rpn.forward(levels, (128, 160), sizes);
            Fx.AssertClose(r.boxes[0], "rpn", "boxes0", rtol: 1e-5, atol: 1e-4);
            Fx.AssertClose(r.boxes[1], "rpn", "boxes1", rtol: 1e-5, atol: 1e-4);
            Assert.Equal([2L, 3 * (32 * 40 + 16 * 20 + 8 * 10 + 4 * 5 + 2 * 2)], r.objectness.shape);
            Assert.Equal([2L, 3 * (32 * 40 + 16 * 20 + 8 * 10 + 4 * 5 + 2 * 2), 4], r.deltas.shape);
        }
        rpn.train();
        torch.manual_seed(7);
        var t = rpn.forward(levels, (128, 160), sizes, [Fx["rpn", "gt0"], Fx["rpn", "gt1"]]);
        Fx.AssertClose(t.loss_objectness!, "rpn", "loss_objectness", rtol: 1e-5, atol: 1e-6);
        Fx.AssertClose(t.loss_rpn_box_reg!, "rpn", "loss_rpn_box_reg", rtol: 1e-5, atol: 1e-6);
    }

    [Fact]
    public void Roi_heads_losses_and_postprocessing_equal_torchvisions()
    {
        using var scope = torch.NewDisposeScope();
        using var heads = new RoIHeads(new MultiScaleRoIAlign(4, 7, 2), new TwoMLPHead(8 * 49, 32), new FastRCNNPredictor(32, 4),
            0.5, 0.5, 32, 0.25, null, 0.05, 0.5, 20);
        heads.load_state_dict(Helpers.State("roi_heads_state"), strict: true);
        var levels = Enumerable.Range(0, 5).Select(i => Fx["rpn", $"p{i}"]).ToList();
        var sizes = Helpers.Sizes(Fx["rpn", "image_sizes"]);
        Tensor[] props = [Fx["roi_heads", "props0"], Fx["roi_heads", "props1"]];
        torch.manual_seed(9);
        var sampled = heads.select_training_samples(props, [Fx["rpn", "gt0"], Fx["rpn", "gt1"]], [Fx["roi_heads", "labels0"], torch.zeros([0], ScalarType.Int64)]);
        var head = heads.run_head(levels, sampled.rois, sizes);
        var (cls, box) = RoIHeads.fastrcnn_loss(head.logits, head.deltas, sampled.labels, sampled.targets);
        Fx.AssertClose(cls, "roi_heads", "loss_classifier", rtol: 1e-5, atol: 1e-6);
        Fx.AssertClose(box, "roi_heads", "loss_box_reg", rtol: 1e-5, atol: 1e-6);

        heads.eval();
        using var noGrad = torch.no_grad();
        var evalHead = heads.run_head(levels, RoIHeads.to_rois(props), sizes);
        var dets = heads.postprocess_detections(evalHead.logits, evalHead.deltas, props, sizes);
        for (var i = 0; i < 2; i++)
        {
            Fx.AssertClose(dets[i].boxes, "roi_heads", $"det{i}_boxes", rtol: 1e-5, atol: 1e-4);
            Fx.AssertClose(dets[i].scores, "roi_heads", $"det{i}_scores", rtol: 1e-5, atol: 1e-6);
            Fx.AssertClose(dets[i].labels, "roi_heads", $"det{i}_labels", 0, 0);
        }
    }
}

/// <summary>The transform against torchvision's GeneralizedRCNNTransform (no random numbers: runs in parallel).</summary>
public class TransformTests
{
    private static Fixture Fx => Helpers.Fx;

    [Fact]
    public void Normalises_resizes_pads_and_scales_boxes_as_torchvision()
    {
        using var scope = torch.NewDisposeScope();
        using var transform = new GeneralizedRcnnTransform(64, 100, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
        transform.eval();
        var boxes = Fx["transform", "boxes"];
        var (batch, scaled) = transform.forward(Fx["transform", "images"], [boxes, boxes.narrow(0, 0, 1)]);
        Fx.AssertClose(batch.tensors, "transform", "tensors", rtol: 1e-5, atol: 1e-5);
        Assert.Equal(Helpers.Sizes(Fx["transform", "image_sizes"]), batch.image_sizes);
        Fx.AssertClose(scaled![0], "transform", "boxes0", 0, 0);
        Fx.AssertClose(scaled[1], "transform", "boxes1", 0, 0);
        Assert.Equal((64L, 96L), batch.padded_size);
        // Back to the original size.
        TensorAssert.Close(boxes, GeneralizedRcnnTransform.postprocess(scaled[0], batch.image_sizes[0], batch.original_size), 1e-6, 1e-4);
        // uint8 input is divided by 255 first.
        var bytes = (Fx["transform", "images"] * 255).round().to(ScalarType.Byte);
        var (fromBytes, _) = transform.forward(bytes);
        var (fromFloats, _) = transform.forward(bytes.to(ScalarType.Float32) / 255.0);
        TensorAssert.Close(fromFloats.tensors, fromBytes.tensors, 0, 0);
        Assert.Throws<ArgumentException>(() => transform.forward(torch.zeros([2, 4, 8, 8])));
        Assert.Throws<ArgumentException>(() => transform.forward(torch.zeros([2, 3, 8, 8], ScalarType.Int32)));
    }
}
