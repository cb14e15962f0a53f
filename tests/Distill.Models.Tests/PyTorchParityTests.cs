namespace Distill.Models.Tests;

/// <summary>
/// Our models against the reference architectures of tests/fixtures/python/make_models.py (CRD's
/// CIFAR models written from its definitions, torchvision's ResNets): state_dict keys and shapes,
/// parameter counts, and every tap's value with the same (formula) weights.
/// </summary>
public class PyTorchParityTests
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> s_metadata = new(() =>
    {
        using var content = Safetensors.Read(Path.Combine(AppContext.BaseDirectory, "fixtures", "models.safetensors"));
        return new Dictionary<string, string>(content.Metadata);
    });

    public static IEnumerable<object[]> Names() => Zoo.Named.Keys.Select(k => new object[] { k });

    [Fact]
    public void The_fixture_covers_exactly_the_named_models()
    {
        var names = s_metadata.Value.Keys.Where(k => k.EndsWith(".params", StringComparison.Ordinal)).Select(k => k[..^".params".Length]);
        Assert.Equal(names.Order(StringComparer.Ordinal), Zoo.Named.Keys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void State_dict_keys_shapes_and_parameter_count_equal_pytorchs(string name)
    {
        using var scope = torch.NewDisposeScope();
        using var model = Zoo.Named[name]();
        var expected = s_metadata.Value[name + ".state"].Split('\n');
        var actual = model.state_dict().Select(kv => $"{kv.Key} {string.Join(",", kv.Value.shape)}").ToArray();
        Assert.Equal(expected, actual);
        var parameters = model.parameters().Sum(p => p.numel());
        Assert.Equal(long.Parse(s_metadata.Value[name + ".params"], System.Globalization.CultureInfo.InvariantCulture), parameters);
    }

    /// <summary>
    /// Evaluation mode, rtol 1e-4 and atol 1e-5. ResNet-50's taps grow to an RMS of ~15 over its 16
    /// blocks, so there atol is 1e-5 of each tap's RMS (float32 against float64 already differs by
    /// about 1e-5 in absolute terms there).
    /// </summary>
    [Theory]
    [InlineData("resnet20", false)]
    [InlineData("resnet8x4", false)]
    [InlineData("wrn_16_2", false)]
    [InlineData("mobile_half", false)]
    [InlineData("resnet50", true)]
    public void Every_tap_matches_pytorch_with_the_same_weights(string name, bool atolPerRms)
    {
        var fx = Fixture.Load("models");
        using var scope = torch.NewDisposeScope();
        using var model = Zoo.Named[name]();
        Zoo.FormulaWeights(model);
        model.eval();
        var taps = Zoo.Taps(model.GetType()).Select(t => t.Name).ToList();
        Assert.All(taps, t => Assert.True(fx.Has(name, t), $"fixture {name} has no tap {t}"));

        using var noGrad = torch.no_grad();
        using var outputs = Zoo.ForwardTaps(model, fx[name, "x"], taps);
        foreach (var tap in taps)
        {
            var expected = fx[name, tap];
            var atol = atolPerRms ? 1e-5 * Math.Max(1, expected.square().mean().sqrt().item<float>()) : 1e-5;
            fx.AssertClose(Zoo.Output(outputs, tap)!, name, tap, rtol: 1e-4, atol: atol);
        }
    }
}
