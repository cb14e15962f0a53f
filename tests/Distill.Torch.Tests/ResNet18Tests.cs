using Distill.Torch.Tests.Models;

namespace Distill.Torch.Tests;

/// <summary>
/// A torchvision ResNet-18 state_dict (fixture: tests/fixtures/python/make_resnet18.py, float16 values)
/// loads strictly into our module tree and gives PyTorch's eval-mode logits.
/// </summary>
public class ResNet18Tests
{
    private static string FixturePath => Path.Combine(AppContext.BaseDirectory, "fixtures", "resnet18.safetensors");

    [Fact]
    public void Torchvision_weights_load_strictly_and_give_pytorchs_logits()
    {
        using var scope = torch.NewDisposeScope();
        using var content = Safetensors.Read(FixturePath);
        using var model = ResNet.resnet18();

        Assert.Equal(content.Metadata["keys"].Split('\n'), model.state_dict().Keys);
        Assert.Equal(content.Metadata["repr"], model.ToString());

        var weights = content.Tensors
            .Where(kv => kv.Key.StartsWith("model/", StringComparison.Ordinal))
            .Select(kv => KeyValuePair.Create(kv.Key["model/".Length..], kv.Value));
        var result = model.load_state_dict(weights, strict: true);
        Assert.Empty(result.missing_keys);
        Assert.Empty(result.unexpected_keys);
        // float16 values were copied into the float32 parameters.
        Assert.Equal(ScalarType.Float32, model.get_parameter("layer3.1.conv2.weight").dtype);
        Assert.Equal(content["model/layer4.0.bn1.num_batches_tracked"].item<long>(),
            model.get_buffer("layer4.0.bn1.num_batches_tracked").item<long>());

        model.eval();
        Tensor logits;
        using (torch.no_grad()) logits = model.call(content["input/x"]);
        var expected = content["output/logits"];
        TensorAssert.Equal([2, 1000], logits.shape);
        var maxDiff = (logits - expected).abs().to(ScalarType.Float64).ToArray<double>().Max();
        Assert.True(maxDiff <= 1e-4, $"max |logits - PyTorch's| = {maxDiff:E3}");
    }

    [Fact]
    public void A_mis_shaped_checkpoint_is_rejected_by_name()
    {
        using var scope = torch.NewDisposeScope();
        using var content = Safetensors.Read(FixturePath);
        using var model = ResNet.resnet18(num_classes: 10);
        var weights = content.Tensors
            .Where(kv => kv.Key.StartsWith("model/", StringComparison.Ordinal))
            .Select(kv => KeyValuePair.Create(kv.Key["model/".Length..], kv.Value));
        var ex = Assert.Throws<TorchException>(() => model.load_state_dict(weights));
        Assert.Equal(
            "Error(s) in loading state_dict for ResNet:\n" +
            "\tsize mismatch for fc.weight: copying a param with shape torch.Size([1000, 512]) from checkpoint, the shape in current model is torch.Size([10, 512]).\n" +
            "\tsize mismatch for fc.bias: copying a param with shape torch.Size([1000]) from checkpoint, the shape in current model is torch.Size([10]).",
            ex.Message);
    }
}
