using Xunit.Abstractions;

namespace Distill.Detection.Tests;

/// <summary>
/// The C4 model against the same model assembled from torchvision 0.14's parts (FasterRCNN over ResNet-50 conv1..layer3,
/// one-level anchors, 14×14 RoIAlign, layer4 + average pooling as the box head), generated weights; and a tiny one.
/// </summary>
[Collection(SequentialCollection.Name)]
public sealed class FasterRcnnC4Tests
{
    private readonly ITestOutputHelper _output;

    public FasterRcnnC4Tests(ITestOutputHelper output) => _output = output;

    private static Fixture Fx => Helpers.Fx;

    [Fact]
    public void Resnet50_c4_gives_the_torchvision_assembled_models_state_dict_detections_and_losses()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new FasterRcnnC4(4, "resnet50", min_size: 192, max_size: 320, rpn_post_nms_top_n_train: 100, rpn_post_nms_top_n_test: 50,
            box_batch_size_per_image: 32);
        Assert.Equal(Helpers.Metadata("c4.keys").Split('\n'), model.state_dict().Select(kv => $"{kv.Key} {string.Join(",", kv.Value.shape)}").ToArray());
        Helpers.FormulaWeights(model);
        model.eval();
        var image = Fx["r50", "image"].unsqueeze(0);
        var d = model.detect(image)[0];
        var boxDiff = Helpers.MaxAbsDiff(d.boxes, Fx["c4", "boxes"]);
        var scoreDiff = Helpers.MaxAbsDiff(d.scores, Fx["c4", "scores"]);
        _output.WriteLine($"{d.boxes.shape[0]} detections; max |diff| boxes {boxDiff:E3}, scores {scoreDiff:E3}");
        Fx.AssertClose(d.labels, "c4", "labels", 0, 0);
        Assert.True(boxDiff <= 1e-4, $"boxes differ by {boxDiff:E3}");
        Assert.True(scoreDiff <= 1e-4, $"scores differ by {scoreDiff:E3}");

        model.train();
        torch.manual_seed(13);
        const FasterRcnnC4.Taps losses = FasterRcnnC4.Taps.LossObjectness | FasterRcnnC4.Taps.LossRpnBoxReg | FasterRcnnC4.Taps.LossClassifier | FasterRcnnC4.Taps.LossBoxReg;
        using var o = model.forward_taps(image, losses | FasterRcnnC4.Taps.RoiEmbedding, [Fx["r50_train", "gt"]], [Fx["r50_train", "labels"]]);
        Fx.AssertClose(o.LossObjectness!, "c4_train", "loss_objectness", rtol: 1e-4, atol: 1e-5);
        Fx.AssertClose(o.LossRpnBoxReg!, "c4_train", "loss_rpn_box_reg", rtol: 1e-4, atol: 1e-5);
        Fx.AssertClose(o.LossClassifier!, "c4_train", "loss_classifier", rtol: 1e-4, atol: 1e-5);
        Fx.AssertClose(o.LossBoxReg!, "c4_train", "loss_box_reg", rtol: 1e-4, atol: 1e-5);
        Assert.Equal(2048, o.RoiEmbedding!.shape[1]);
    }

    [Fact]
    public void A_tiny_c4_model_trains_and_runs_its_head_on_given_rois()
    {
        torch.manual_seed(4);
        using var model = new FasterRcnnC4(Tiny.Classes, "small", width: 8, anchor_sizes: [8, 16, 32, 64], min_size: 64, max_size: 96,
            rpn_pre_nms_top_n_train: 300, rpn_post_nms_top_n_train: 100, rpn_batch_size_per_image: 64, box_batch_size_per_image: 32);
        var (images, boxes, labels) = Tiny.Batch();
        const FasterRcnnC4.Taps losses = FasterRcnnC4.Taps.LossObjectness | FasterRcnnC4.Taps.LossRpnBoxReg | FasterRcnnC4.Taps.LossClassifier | FasterRcnnC4.Taps.LossBoxReg;
        var optimizer = torch.optim.SGD(model.parameters(), lr: 0.01, momentum: 0.9);
        var history = new List<float>();
        for (var step = 0; step < 10; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            using var o = model.forward_taps(images, losses, boxes, labels);
            var total = o.LossObjectness! + o.LossRpnBoxReg! + o.LossClassifier! + o.LossBoxReg!;
            total.backward();
            optimizer.step();
            history.Add(total.item<float>());
        }
        Assert.True(history.TakeLast(3).Average() < 0.9 * history.Take(3).Average(), $"losses {string.Join(", ", history)}");
        using (var scope = torch.NewDisposeScope())
        {
            using var o = model.forward_taps(images, FasterRcnnC4.Taps.Stage3 | FasterRcnnC4.Taps.SampledRois | FasterRcnnC4.Taps.RoiLogits | FasterRcnnC4.Taps.RoiFeatures, boxes, labels);
            Assert.Equal(new long[] { o.SampledRois!.shape[0], 32, 14, 14 }, o.RoiFeatures!.shape);
            using var head = model.roi_head_on(o, o.SampledRois);
            TensorAssert.Close(o.RoiLogits!, head.logits, 1e-6, 1e-6);
            Assert.Equal(new long[] { o.SampledRois.shape[0], 64 }, head.embedding.shape);
        }
        model.eval();
        Assert.Equal(2, model.detect(images).Count);
    }
}
