namespace Distill.Models.Tests;

/// <summary>
/// Issue 5, acceptance 3: torchvision's ResNet-18 weights, written as safetensors by
/// tests/fixtures/python/make_resnet18.py (float16 values, reference logits of the float32 model holding
/// exactly those values), load strictly into <see cref="ResNet"/> and give PyTorch's logits within 1e-4.
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

        model.eval();
        using var noGrad = torch.no_grad();
        var logits = model.call(content["input/x"]);
        TensorAssert.Equal([2, 1000], logits.shape);
        var maxDiff = (logits - content["output/logits"]).abs().max().item<float>();
        Assert.True(maxDiff <= 1e-4, $"max |logits - PyTorch's| = {maxDiff:E3}");

        // The tapped pass gives the same logits, and its pooled features feed fc.
        using var outputs = model.forward_taps(content["input/x"], ResNet.Taps.Pooled | ResNet.Taps.Logits);
        Assert.True(outputs.Logits!.equal(logits));
        TensorAssert.Equal([2, 512], outputs.Pooled!.shape);
    }
}
