using Distill.Losses;
using Xunit;

namespace Distill.Detection.Tests;

public sealed class OimPersonSearchTests
{
    private static OimPersonSearch Model(int identities = 5, int queue = 6) => new(identities, embedding_dim: 16, queue_size: queue, backbone: "small", width: 8,
        anchor_sizes: [8, 16, 32, 64], min_size: 64, max_size: 96, rpn_pre_nms_top_n_train: 300, rpn_post_nms_top_n_train: 100,
        rpn_pre_nms_top_n_test: 200, rpn_post_nms_top_n_test: 50, rpn_batch_size_per_image: 64, box_batch_size_per_image: 32, box_score_thresh: 0.0);

    /// <summary>Tiny's images; image 0's two boxes are identities 3 and unlabelled, image 1's box identity 0.</summary>
    private static (Tensor images, Tensor[] boxes, Tensor[] ids) Batch()
    {
        var (images, boxes, _) = Tiny.Batch();
        return (images, boxes, [torch.tensor(new long[] { 3, -1 }), torch.tensor(new long[] { 0 })]);
    }

    private const OimPersonSearch.Taps Identity = OimPersonSearch.Taps.RoiPersonEmbedding | OimPersonSearch.Taps.RoiPersonId | OimPersonSearch.Taps.SampledRois |
        OimPersonSearch.Taps.RoiLabels | OimPersonSearch.Taps.RoiMatchedBoxes | OimPersonSearch.Taps.OimLut | OimPersonSearch.Taps.OimQueue | OimPersonSearch.Taps.LossOim;

    [Fact]
    public void Sampled_rois_carry_the_identity_of_the_box_they_match()
    {
        torch.manual_seed(3);
        using var scope = torch.NewDisposeScope();
        using var model = Model();
        var (images, boxes, ids) = Batch();
        using var o = model.forward_taps(images, Identity, boxes, ids);
        var rois = o.SampledRois!.ToArray<float>();
        var person = o.RoiPersonId!.ToArray<long>();
        var label = o.RoiLabels!.ToArray<long>();
        var matched = o.RoiMatchedBoxes!.ToArray<float>();
        Assert.Equal(person.Length, o.RoiPersonEmbedding!.shape[0]);
        Assert.Equal(16, o.RoiPersonEmbedding!.shape[1]);
        var seen = new HashSet<long>();
        for (var r = 0; r < person.Length; r++)
        {
            var image = (int)rois[5 * r];
            if (label[r] == 0)
            {
                Assert.Equal(PersonSearch.Background, person[r]);
                continue;
            }
            // The matched box (network-input pixels; the batch is resized 64→64, so the same pixels) names the identity.
            var gt = boxes[image].ToArray<float>();
            var k = Enumerable.Range(0, gt.Length / 4).Single(j => Enumerable.Range(0, 4).All(c => Math.Abs(gt[4 * j + c] - matched[4 * r + c]) < 1e-3));
            Assert.Equal(ids[image].ToArray<long>()[k], person[r]);
            seen.Add(person[r]);
        }
        Assert.Equal(new long[] { -1, 0, 3 }, seen.Order().ToArray()); // every ground-truth box joins the proposals, so each is sampled
    }

    [Fact]
    public void Loss_oim_reads_the_tables_before_the_pass_and_the_pass_updates_them_as_oim_does()
    {
        torch.manual_seed(5);
        using var scope = torch.NewDisposeScope();
        using var model = Model();
        var (images, boxes, ids) = Batch();
        // Two passes: the first fills the zero tables, the second reads non-trivial ones.
        using (model.forward_taps(images, Identity, boxes, ids)) { }
        var state = model.state_dict();
        var lutBefore = state["oim.lut"].clone();
        var queueBefore = state["oim.queue"].clone();
        var headBefore = state["oim.head"].ToArray<long>()[0];
        Assert.True(lutBefore.abs().sum().item<float>() > 0);

        using var o = model.forward_taps(images, Identity, boxes, ids);
        Assert.Equal(0f, (o.OimLut! - lutBefore).abs().max().item<float>());
        Assert.Equal(0f, (o.OimQueue! - queueBefore).abs().max().item<float>());
        var expected = PersonSearch.oim_loss(o.RoiPersonEmbedding!, o.RoiPersonId!, lutBefore, queueBefore, model.OimScale);
        Assert.Equal(expected.item<float>(), o.LossOim!.item<float>(), 5);

        var lut = lutBefore.clone();
        PersonSearch.oim_lut_update(lut, o.RoiPersonEmbedding!, o.RoiPersonId!, model.OimMomentum);
        var queue = queueBefore.clone();
        var head = PersonSearch.oim_queue_push(queue, o.RoiPersonEmbedding!, o.RoiPersonId!, headBefore);
        var after = model.state_dict();
        Assert.True((after["oim.lut"] - lut).abs().max().item<float>() < 1e-6);
        Assert.True((after["oim.queue"] - queue).abs().max().item<float>() < 1e-6);
        Assert.Equal(head, after["oim.head"].ToArray<long>()[0]);

        // The in-place update did not invalidate the loss's graph.
        (o.LossOim! + o.RoiPersonEmbedding!.sum() * 0).backward();
        Assert.Contains(model.named_parameters(), p => p.name.StartsWith("embedding_head.", StringComparison.Ordinal) && p.parameter.grad is { } g && g.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Evaluation_passes_leave_the_tables_alone()
    {
        torch.manual_seed(6);
        using var scope = torch.NewDisposeScope();
        using var model = Model();
        var (images, boxes, ids) = Batch();
        using (model.forward_taps(images, Identity, boxes, ids)) { }
        model.eval();
        var lut = model.state_dict()["oim.lut"].clone();
        using (model.forward_taps(images, Identity, boxes, ids)) { }
        Assert.Equal(0f, (model.state_dict()["oim.lut"] - lut).abs().max().item<float>());
    }

    [Fact]
    public void The_whole_network_trains_on_its_detector_and_oim_losses()
    {
        torch.manual_seed(7);
        using var model = Model();
        var (images, boxes, ids) = Batch();
        const OimPersonSearch.Taps losses = OimPersonSearch.Taps.LossObjectness | OimPersonSearch.Taps.LossRpnBoxReg | OimPersonSearch.Taps.LossClassifier |
            OimPersonSearch.Taps.LossBoxReg | OimPersonSearch.Taps.LossOim;
        var optimizer = torch.optim.SGD(model.parameters(), lr: 0.01, momentum: 0.9);
        var history = new List<float>();
        for (var step = 0; step < 12; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            using var o = model.forward_taps(images, losses, boxes, ids);
            var total = o.LossObjectness! + o.LossRpnBoxReg! + o.LossClassifier! + o.LossBoxReg! + o.LossOim!;
            total.backward();
            optimizer.step();
            history.Add(total.item<float>());
        }
        Assert.All(history, v => Assert.True(float.IsFinite(v)));
        Assert.True(history.Skip(9).Average() < history.Take(3).Average(), string.Join(", ", history));
    }

    [Fact]
    public void Search_gives_normalised_embeddings_of_each_detection_and_queries_embed_given_boxes()
    {
        torch.manual_seed(8);
        using var scope = torch.NewDisposeScope();
        using var model = Model();
        var (images, boxes, _) = Batch();
        model.eval();
        var found = model.search(images);
        Assert.Equal(2, found.Count);
        foreach (var d in found)
        {
            Assert.Equal(d.boxes.shape[0], d.embeddings.shape[0]);
            Assert.Equal(16, d.embeddings.shape[1]);
            if (d.boxes.shape[0] > 0) Assert.True((d.embeddings.norm(2, 1) - 1).abs().max().item<float>() < 1e-4);
        }
        var queries = model.embed_boxes(images, boxes);
        Assert.Equal(new long[] { 2, 16 }, queries[0].shape);
        Assert.Equal(new long[] { 1, 16 }, queries[1].shape);
        // A detection box's embedding from search equals embedding that box as a query.
        var first = found[0];
        if (first.boxes.shape[0] > 0)
        {
            var again = model.embed_boxes(images.narrow(0, 0, 1), [first.boxes.narrow(0, 0, 1)])[0];
            Assert.True((again - first.embeddings.narrow(0, 0, 1)).abs().max().item<float>() < 1e-4);
        }
    }

    [Fact]
    public void Bad_ground_truth_names_the_image_and_box()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Model(identities: 3);
        var (images, boxes, ids) = Batch();
        var e = Assert.Throws<ArgumentException>(() => model.forward_taps(images, Identity, boxes, ids));
        Assert.Contains("image 0, box 0: person_id 3 is outside -1..2", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.forward_taps(images, Identity, boxes, [torch.tensor(new long[] { 0 }), ids[1]]));
        Assert.Contains("image 0: person_id must be int64 [2]", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.embed_boxes(images, [torch.tensor(new float[] { 100, 70, 120, 90 }, new long[] { 1, 4 }), boxes[1]]));
        Assert.Contains("lies wholly outside the 80x64 image", e.Message);
        model.eval();
        e = Assert.Throws<ArgumentException>(() => model.forward_taps(images, OimPersonSearch.Taps.BoxEmbedding));
        Assert.Contains("need the ground truth", e.Message);
        e = Assert.Throws<ArgumentException>(() => model.forward_taps(images, OimPersonSearch.Taps.RoiLogits));
        Assert.Contains("need the ground truth", e.Message);
        // Taps that do not read identities (a teacher's box embeddings, its detector taps) take data with more identities
        // than this model's table.
        using var o = model.forward_taps(images, OimPersonSearch.Taps.BoxEmbedding | OimPersonSearch.Taps.RoiLogits, boxes, ids);
        Assert.Equal(3, o.BoxEmbedding!.shape[0]);
    }

    [Fact]
    public void The_state_dict_holds_the_oim_tables_and_the_c4_names()
    {
        using var model = Model();
        var keys = model.state_dict().Keys.ToList();
        Assert.Contains("oim.lut", keys);
        Assert.Contains("oim.queue", keys);
        Assert.Contains("oim.head", keys);
        Assert.Contains("embedding_head.projection.weight", keys);
        Assert.Contains("embedding_head.norm.running_mean", keys);
        Assert.Contains("roi_heads.box_predictor.cls_score.weight", keys);
        using var c4 = new FasterRcnnC4(1, "small", width: 8, anchor_sizes: [8, 16, 32, 64]);
        // The person-search network is the C4 detector plus its identity head and tables.
        Assert.Equal(c4.state_dict().Keys.Order(), keys.Where(k => !k.StartsWith("oim.", StringComparison.Ordinal) && !k.StartsWith("embedding_head.", StringComparison.Ordinal)).Order());
    }
}
