using Xunit.Abstractions;

namespace Distill.Detection.Tests;

/// <summary>
/// RetinaNet against torchvision's retinanet_resnet50_fpn layout (frozen batch norm, P3–P7, 5 classes with the
/// background, generated weights as for the Faster R-CNN test), plus a tiny model that trains.
/// </summary>
[Collection(SequentialCollection.Name)]
public sealed class RetinaNetTests
{
    private readonly ITestOutputHelper _output;

    public RetinaNetTests(ITestOutputHelper output) => _output = output;

    private static Fixture Fx => Helpers.Fx;

    [Fact]
    public void Retinanet_resnet50_fpn_gives_torchvisions_state_dict_detections_and_losses()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new RetinaNet(classes: 4, backbone: "resnet50", min_size: 192, max_size: 320, score_thresh: 0.3, detections_per_img: 1000);
        Assert.Equal(Helpers.Metadata("retina.keys").Split('\n'), model.state_dict().Select(kv => $"{kv.Key} {string.Join(",", kv.Value.shape)}").ToArray());
        Helpers.FormulaWeights(model);
        model.eval();
        var image = Fx["r50", "image"].unsqueeze(0);
        var d = model.detect(image)[0];
        var boxDiff = Helpers.MaxAbsDiff(d.boxes, Fx["retina", "boxes"]);
        var scoreDiff = Helpers.MaxAbsDiff(d.scores, Fx["retina", "scores"]);
        _output.WriteLine($"{d.boxes.shape[0]} detections (torchvision {Fx["retina", "boxes"].shape[0]}); max |diff| boxes {boxDiff:E3}, scores {scoreDiff:E3}");
        Fx.AssertClose(d.labels, "retina", "labels", 0, 0);
        Assert.True(boxDiff <= 1e-4, $"boxes differ by {boxDiff:E3}");
        Assert.True(scoreDiff <= 1e-4, $"scores differ by {scoreDiff:E3}");

        model.train();
        using var o = model.forward_taps(image, RetinaNet.Taps.LossClassification | RetinaNet.Taps.LossBboxRegression, [Fx["r50_train", "gt"]], [Fx["r50_train", "labels"]]);
        Fx.AssertClose(o.LossClassification!, "retina_train", "classification", rtol: 1e-4, atol: 1e-5);
        Fx.AssertClose(o.LossBboxRegression!, "retina_train", "bbox_regression", rtol: 1e-4, atol: 1e-5);
    }

    [Fact]
    public void A_tiny_retinanet_trains_has_its_tap_shapes_and_handles_images_without_boxes()
    {
        torch.manual_seed(3);
        using var model = new RetinaNet(Tiny.Classes, "small", width: 8, fpn_channels: 16, anchor_sizes: [8, 16, 32, 64, 128], min_size: 64, max_size: 96);
        var (images, boxes, labels) = Tiny.Batch();
        const RetinaNet.Taps losses = RetinaNet.Taps.LossClassification | RetinaNet.Taps.LossBboxRegression;
        var optimizer = torch.optim.SGD(model.parameters(), lr: 0.02, momentum: 0.9);
        var history = new List<float>();
        for (var step = 0; step < 10; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            using var o = model.forward_taps(images, losses, boxes, labels);
            var total = o.LossClassification! + o.LossBboxRegression!;
            total.backward();
            optimizer.step();
            history.Add(total.item<float>());
        }
        Assert.True(history.TakeLast(3).Average() < 0.9 * history.Take(3).Average(), $"losses {string.Join(", ", history)}");

        using (var scope = torch.NewDisposeScope())
        {
            using var all = model.forward_taps(images, RetinaNet.Taps.All, boxes, labels);
            Assert.Equal(new long[] { 2, 16, 8, 12 }, all.P3!.shape);
            Assert.Equal(new long[] { 2, 16, 1, 1 }, all.P7!.shape);
            var anchors = 9 * (8 * 12 + 4 * 6 + 2 * 3 + 1 * 2 + 1 * 1);
            Assert.Equal(new long[] { 2, anchors, Tiny.Classes + 1 }, all.ClsLogits!.shape);
            Assert.Equal(new long[] { 2, anchors, 4 }, all.BboxRegression!.shape);
            Assert.Empty(all.LossClassification!.shape);
            using var none = model.forward_taps(images, losses, [torch.zeros([0, 4]), boxes[1]], [torch.zeros([0], ScalarType.Int64), labels[1]]);
            Assert.True(float.IsFinite((none.LossClassification! + none.LossBboxRegression!).item<float>()));
            Assert.Throws<NotSupportedException>(() => model.roi_head_on(all, torch.zeros([1, 5])));
        }
        model.eval();
        var dets = model.detect(images);
        Assert.Equal(2, dets.Count);
        Assert.All(dets, d => Assert.True(d.labels.numel() == 0 || d.labels.min().item<long>() >= 1));
    }
}
