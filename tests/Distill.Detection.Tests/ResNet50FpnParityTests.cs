using Xunit.Abstractions;

namespace Distill.Detection.Tests;

/// <summary>
/// The acceptance test of issue 12: torchvision's fasterrcnn_resnet50_fpn layout (5 classes with the background,
/// frozen batch norm, trainable_layers 3, min_size 192 / max_size 320 so a 160×200 image is resized) with a generated
/// state_dict (the same calls on the same libtorch on both sides) gives torchvision's detections.
/// </summary>
[Collection(SequentialCollection.Name)]
public sealed class ResNet50FpnParityTests : IClassFixture<ResNet50FpnParityTests.Model>
{
    private readonly ITestOutputHelper _output;
    private readonly FasterRcnn _model;

    public ResNet50FpnParityTests(ITestOutputHelper output, Model model)
    {
        _output = output;
        _model = model.Value;
    }

    /// <summary>The model with the generated weights, built once (seeded: in the sequential collection).</summary>
    public sealed class Model : IDisposable
    {
        public FasterRcnn Value { get; } = new(classes: 4, backbone: "resnet50", min_size: 192, max_size: 320, box_score_thresh: 0.05);

        public Model() => Helpers.FormulaWeights(Value);

        public void Dispose() => Value.Dispose();
    }

    private static Fixture Fx => Helpers.Fx;

    [Fact]
    public void State_dict_keys_and_shapes_equal_torchvisions_and_the_generated_weights_are_bit_identical()
    {
        using var scope = torch.NewDisposeScope();
        var expected = Helpers.Metadata("r50.keys").Split('\n');
        var state = _model.state_dict();
        Assert.Equal(expected, state.Select(kv => $"{kv.Key} {string.Join(",", kv.Value.shape)}").ToArray());
        var sums = state.Select(kv => kv.Value.to(ScalarType.Float64).sum().item<double>()).ToArray();
        // Sums in float64 differ only by reduction order (1e-15): any different weight would move its sum far more.
        Fx.AssertClose(torch.tensor(sums), "r50", "sums", rtol: 1e-12, atol: 1e-12);
        // Strict both ways: our state_dict loads strictly into a fresh model, and torchvision's key set is ours (above).
        using var other = FasterRcnn.fasterrcnn_resnet50_fpn(classes: 4);
        var result = other.load_state_dict(state, strict: true);
        Assert.Empty(result.missing_keys);
        Assert.Empty(result.unexpected_keys);
    }

    [Fact]
    public void Detections_equal_torchvisions_within_1e4()
    {
        using var scope = torch.NewDisposeScope();
        _model.eval();
        var image = Fx["r50", "image"].unsqueeze(0);
        var dets = _model.detect(image);
        Assert.Single(dets);
        var d = dets[0];
        var boxDiff = Helpers.MaxAbsDiff(d.boxes, Fx["r50", "boxes"]);
        var scoreDiff = Helpers.MaxAbsDiff(d.scores, Fx["r50", "scores"]);
        _output.WriteLine($"{d.boxes.shape[0]} detections; max |diff| boxes {boxDiff:E3}, scores {scoreDiff:E3}");
        Fx.AssertClose(d.labels, "r50", "labels", 0, 0);
        Assert.True(boxDiff <= 1e-4, $"boxes differ by {boxDiff:E3}");
        Assert.True(scoreDiff <= 1e-4, $"scores differ by {scoreDiff:E3}");

        using var noGrad = torch.no_grad();
        using var outputs = _model.forward_taps(image, FasterRcnn.Taps.Proposals);
        var proposals = outputs.Proposals!;
        // Proposals: the same boxes; rows whose objectness ties (saturated sigmoid) may come in another order, as NMS's sort
        // of equal scores is not specified. Every row must have a partner within 1e-4 and the order must agree elsewhere.
        var ours = proposals.narrow(1, 1, 4);
        var expected = Fx["r50", "proposals"];
        Assert.Equal(expected.shape, ours.shape);
        var nearest = (ours.unsqueeze(1) - expected.unsqueeze(0)).abs().amax(-1).amin(1).max().item<float>();
        var samePlace = (ours - expected).abs().amax(-1).le(1e-4).sum().item<long>();
        _output.WriteLine($"{proposals.shape[0]} proposals; max |diff| to the nearest torchvision proposal {nearest:E3}; {samePlace} in the same position");
        Assert.True(nearest <= 1e-4, $"a proposal is {nearest:E3} from every torchvision proposal");
        Assert.Equal(0, proposals.select(1, 0).abs().sum().item<float>());
    }

    [Fact]
    public void A_seeded_training_step_gives_torchvisions_losses()
    {
        using var scope = torch.NewDisposeScope();
        _model.train();
        var image = Fx["r50", "image"].unsqueeze(0);
        torch.manual_seed(11);
        const FasterRcnn.Taps losses = FasterRcnn.Taps.LossObjectness | FasterRcnn.Taps.LossRpnBoxReg | FasterRcnn.Taps.LossClassifier | FasterRcnn.Taps.LossBoxReg;
        using var outputs = _model.forward_taps(image, losses, [Fx["r50_train", "gt"]], [Fx["r50_train", "labels"]]);
        foreach (var (tap, name) in new[] { (outputs.LossObjectness, "loss_objectness"), (outputs.LossRpnBoxReg, "loss_rpn_box_reg"),
                     (outputs.LossClassifier, "loss_classifier"), (outputs.LossBoxReg, "loss_box_reg") })
        {
            _output.WriteLine($"{name}: {tap!.item<float>():R} (torchvision {Fx["r50_train", name].item<float>():R})");
            Fx.AssertClose(tap, "r50_train", name, rtol: 1e-4, atol: 1e-5);
        }
    }
}
