using System.Globalization;
using F = Distill.Torch.torch.nn.functional;
using Module = Distill.Torch.Modules.Module;

namespace Distill.Models.Tests;

/// <summary>
/// IResNet and MobileFaceNet against the insightface-style reference models of
/// tests/fixtures/python/make_face_models.py: state_dict keys, shapes and parameter counts (full-size and
/// small configurations), every tap's value with the same weights, a strict load of PyTorch-drawn
/// weights, and the behaviour around the margin head (labels, input size, early stop).
/// </summary>
public class FaceModelTests
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> s_metadata = new(() =>
    {
        using var content = Safetensors.Read(Path.Combine(AppContext.BaseDirectory, "fixtures", "faces.safetensors"));
        return new Dictionary<string, string>(content.Metadata);
    });

    private static Fixture Fx => Fixture.Load("faces");

    /// <summary>The model a fixture name stands for and its constructor arguments (metadata "&lt;name&gt;.args").</summary>
    private static Module Create(string name)
    {
        var type = name.StartsWith("mbf", StringComparison.Ordinal) ? typeof(MobileFaceNet) : typeof(IResNet);
        var parameters = Zoo.Constructor(type).GetParameters().ToDictionary(p => p.Name!, p => p.ParameterType);
        var args = new Dictionary<string, object>();
        foreach (var pair in s_metadata.Value[name + ".args"].Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, text) = (pair[..pair.IndexOf('=')], pair[(pair.IndexOf('=') + 1)..]);
            args[key] = parameters[key] switch
            {
                var t when t == typeof(int) => int.Parse(text, CultureInfo.InvariantCulture),
                var t when t == typeof(double) => double.Parse(text, CultureInfo.InvariantCulture),
                var t when t == typeof(bool) => text == "True",
                _ => text,
            };
        }
        return Zoo.Create(type, args);
    }

    private static readonly string[] s_stateModels =
        ["iresnet18", "iresnet50", "iresnet100", "iresnet18_w16_s32_arcface", "iresnet34_w8_s40", "mbf", "mbf_large", "mbf_s1_s32_softmax"];

    public static TheoryData<string> StateModels() => new(s_stateModels);

    [Fact]
    public void The_fixture_covers_exactly_the_state_models()
    {
        var names = s_metadata.Value.Keys.Where(k => k.EndsWith(".params", StringComparison.Ordinal)).Select(k => k[..^".params".Length]);
        Assert.Equal(names.Order(StringComparer.Ordinal), s_stateModels.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(StateModels))]
    public void State_dict_keys_shapes_and_parameter_count_equal_insightfaces(string name)
    {
        using var scope = torch.NewDisposeScope();
        using var model = Create(name);
        var expected = s_metadata.Value[name + ".state"].Split('\n');
        var actual = model.state_dict().Select(kv => $"{kv.Key} {string.Join(",", kv.Value.shape)}").ToArray();
        Assert.Equal(expected, actual);
        var parameters = model.parameters().Sum(p => p.numel());
        Assert.Equal(long.Parse(s_metadata.Value[name + ".params"], CultureInfo.InvariantCulture), parameters);
    }

    public static TheoryData<string> TapCases() => new("iresnet18_w16_cosface", "iresnet18_w8_arcface", "mbf_s1_cosface", "mbf_s1_b2_arcface_easy");

    /// <summary>
    /// Evaluation mode, formula weights (<see cref="Zoo.FormulaWeights"/>, as the script sets them), rtol 1e-4
    /// and atol 1e-5 of each tap's RMS: IResNet's residual sums have no ReLU to bound them, so with these
    /// weights the embeddings reach an RMS of ~150.
    /// </summary>
    [Theory]
    [MemberData(nameof(TapCases))]
    public void Every_tap_matches_the_reference_with_the_same_weights(string name)
    {
        var fx = Fx;
        using var scope = torch.NewDisposeScope();
        using var model = Create(name);
        Zoo.FormulaWeights(model);
        model.eval();
        var taps = Zoo.Taps(model.GetType()).Select(t => t.Name).ToList();
        Assert.All(taps, t => Assert.True(fx.Has(name, t), $"fixture {name} has no tap {t}"));

        using var noGrad = torch.no_grad();
        using var outputs = Zoo.ForwardTaps(model, fx[name, "x"], taps, fx[name, "label"]);
        foreach (var tap in taps)
        {
            var expected = fx[name, tap];
            var atol = 1e-5 * Math.Max(1, expected.square().mean().sqrt().item<float>());
            fx.AssertClose(Zoo.Output(outputs, tap)!, name, tap, rtol: 1e-4, atol: atol);
        }
    }

    [Fact]
    public void PyTorch_weights_load_strictly_and_give_the_references_taps()
    {
        var fx = Fx;
        using var scope = torch.NewDisposeScope();
        using var model = (IResNet)Create("load_iresnet");
        var state = model.state_dict().Keys.ToDictionary(k => k, k => fx["load_iresnet", "state." + k]);
        var result = model.load_state_dict(state, strict: true);
        Assert.Empty(result.missing_keys);
        Assert.Empty(result.unexpected_keys);
        model.eval();

        using var noGrad = torch.no_grad();
        using var outputs = model.forward_taps(fx["load_iresnet", "x"], IResNet.Taps.All, fx["load_iresnet", "label"]);
        foreach (var tap in Zoo.Taps(typeof(IResNet)).Select(t => t.Name))
            fx.AssertClose(Zoo.Output(outputs, tap)!, "load_iresnet", tap, rtol: 1e-4, atol: 1e-4);
        var logits = model.call(fx["load_iresnet", "x"]);
        var maxDiff = (logits - fx["load_iresnet", "logits"]).abs().max().item<float>();
        Assert.True(maxDiff <= 1e-4, $"max |logits - PyTorch's| = {maxDiff:E3}");
    }

    [Fact]
    public void Margin_logits_need_the_labels_and_fail_before_any_work()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new IResNet(18, classes: 10, embedding: 16, width: 4, size: 16);
        var x = torch.randn([2, 3, 16, 16]);
        var calls = 0;
        using var hook = ((Module<Tensor, Tensor>)model.get_submodule("conv1")).register_forward_hook((_, _, _) => calls++);
        foreach (var training in new[] { false, true })
        {
            model.train(training);
            var e = Assert.Throws<InvalidOperationException>(() => model.forward_taps(x, IResNet.Taps.MarginLogits | IResNet.Taps.Stem));
            Assert.Equal("tap MarginLogits needs the batch's labels: call forward_taps(input, taps, label)", e.Message);
            var wrong = Assert.Throws<ArgumentException>(() => model.forward_taps(x, IResNet.Taps.MarginLogits, torch.zeros([3], ScalarType.Int64)));
            Assert.Contains("needs one class label per sample, shape [2]; got labels of shape [3]", wrong.Message);
        }
        Assert.Equal(0, calls);

        // Without the margin tap no labels are needed, and given labels are ignored.
        model.eval();
        using var outputs = model.forward_taps(x, IResNet.Taps.Logits | IResNet.Taps.Embedding);
        TensorAssert.Equal([2, 10], outputs.Logits!.shape);
        Assert.True(model.call(x).equal(outputs.Logits!));
    }

    [Fact]
    public void The_input_must_have_the_size_the_model_was_built_for()
    {
        using var scope = torch.NewDisposeScope();
        using var iresnet = new IResNet(18, classes: 10, embedding: 16, width: 4, size: 32);
        var e = Assert.Throws<ArgumentException>(() => iresnet.call(torch.randn([2, 3, 16, 16])));
        Assert.Equal("IResNet was built for 32×32 inputs (size: 32) and takes (N, 3, 32, 32) batches; got [2, 3, 16, 16]: resize the images or build the model with the size of the data", e.Message);
        Assert.Throws<ArgumentException>(() => iresnet.call(torch.randn([2, 3, 32, 30])));
        Assert.Throws<ArgumentException>(() => iresnet.call(torch.randn([3, 32, 32])));
        using var mbf = new MobileFaceNet(classes: 10, embedding: 16, scale: 1, size: 16);
        Assert.Contains("MobileFaceNet was built for 16×16 inputs", Assert.Throws<ArgumentException>(() => mbf.call(torch.randn([2, 3, 112, 112]))).Message);
    }

    [Fact]
    public void Sizes_that_are_not_multiples_of_16_round_up_like_the_strided_convolutions()
    {
        using var scope = torch.NewDisposeScope();
        using var iresnet = new IResNet(18, classes: 10, embedding: 16, width: 4, size: 40); // 40 → 20, 10, 5, 3
        Assert.Equal(8 * 4 * 3 * 3, iresnet.get_parameter("fc.weight").shape[1]);
        iresnet.eval();
        TensorAssert.Equal([2, 10], iresnet.call(torch.randn([2, 3, 40, 40])).shape);
        using var mbf = new MobileFaceNet(classes: 10, embedding: 16, scale: 1, size: 20, blocks2: 1, blocks3: 1, blocks4: 1); // GDC kernel 2
        TensorAssert.Equal([512, 1, 2, 2], mbf.get_parameter("features.layers.0.layers.0.weight").shape);
        mbf.eval();
        TensorAssert.Equal([2, 10], mbf.call(torch.randn([2, 3, 20, 20])).shape);
    }

    [Fact]
    public void Evaluation_stops_before_the_head_and_training_skips_an_unrequested_head()
    {
        using var scope = torch.NewDisposeScope();
        using var model = new MobileFaceNet(classes: 10, embedding: 16, scale: 1, size: 16, blocks2: 1, blocks3: 1, blocks4: 1);
        var x = torch.randn([2, 3, 16, 16]);
        // A head whose weight does not fit the embedding fails whenever it runs.
        var head = model.margin_head;
        head.weight = new Parameter(torch.zeros([10, 17]));

        model.eval();
        using (var outputs = model.forward_taps(x, MobileFaceNet.Taps.Embedding | MobileFaceNet.Taps.Stage2))
            TensorAssert.Equal([2, 16], outputs.Embedding!.shape);
        Assert.Throws<TorchException>(() => model.forward_taps(x, MobileFaceNet.Taps.Logits));
        var calls = 0;
        using (((Module<Tensor, Tensor>)model.get_submodule("conv_sep")).register_forward_hook((_, _, _) => calls++))
            model.forward_taps(x, MobileFaceNet.Taps.Stage4).Dispose();
        Assert.Equal(0, calls);

        // Training runs the whole backbone (batch norm statistics) but the head keeps none: it is skipped.
        model.train();
        using (var outputs = model.forward_taps(x, MobileFaceNet.Taps.Stem))
            Assert.Equal(1, model.get_buffer("features.layers.3.num_batches_tracked").item<long>());
        Assert.Throws<TorchException>(() => model.forward_taps(x, MobileFaceNet.Taps.MarginLogits, torch.zeros([2], ScalarType.Int64)));
    }

    [Fact]
    public void Margin_logits_differ_from_the_logits_only_at_each_samples_class()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var head in new[] { "cosface", "arcface", "softmax" })
        {
            using var model = new IResNet(18, classes: 6, embedding: 8, width: 4, size: 16, head: head);
            model.eval();
            var x = torch.randn([4, 3, 16, 16]);
            var label = torch.tensor(new long[] { 5, 0, 3, 3 });
            using var outputs = model.forward_taps(x, IResNet.Taps.Logits | IResNet.Taps.MarginLogits | IResNet.Taps.Embedding, label);
            var logits = outputs.Logits!;
            var margin = outputs.MarginLogits!;
            var target = F.one_hot(label, 6).to(ScalarType.Bool);
            Assert.True(margin.masked_fill(target, 0).equal(logits.masked_fill(target, 0)), $"{head}: non-target logits changed");
            var expected = model.margin_head.margin_logits(model.margin_head.cosine(outputs.Embedding!), label);
            TensorAssert.Close(expected, margin, 1e-5, 1e-4, $"{head}: margin_logits tap");
            if (head == "softmax") Assert.True(margin.equal(logits));
            else Assert.True((margin.masked_select(target) < logits.masked_select(target)).all().item<bool>(), $"{head}: the margin must lower each target logit");
            // The tap alone (computed in place on the logits) equals the tap beside the logits (on a copy).
            using var alone = model.forward_taps(x, IResNet.Taps.MarginLogits, label);
            Assert.True(alone.MarginLogits!.equal(margin));
        }
    }

    [Fact]
    public void Constructor_arguments_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new IResNet(depth: 20));
        Assert.Contains("18, 34, 50, 100, 200", Assert.Throws<ArgumentOutOfRangeException>(() => new IResNet(depth: 101)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new IResNet(18, classes: 0, width: 4, size: 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IResNet(18, width: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IResNet(18, width: 4, size: 16, dropout: 1.0));
        var e = Assert.Throws<ArgumentException>(() => new IResNet(18, width: 4, size: 16, head: "sphereface"));
        Assert.Equal("unknown margin head 'sphereface': valid kinds are 'cosface', 'arcface', 'softmax' (Parameter 'kind')", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new IResNet(18, width: 4, size: 16, head: "arcface", m: 2.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MobileFaceNet(scale: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MobileFaceNet(blocks1: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MobileFaceNet(blocks3: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MobileFaceNet(s: 0));
    }

    [Fact]
    public void Factories_and_insightfaces_initialisation()
    {
        using var scope = torch.NewDisposeScope();
        using var mbf = MobileFaceNet.mbf(classes: 10);
        Assert.Equal((10, 512, 2, 112, "cosface"), (mbf.Classes, mbf.EmbeddingSize, mbf.Scale, mbf.Size, mbf.Head));
        Assert.Equal(new[] { 1, 4, 6, 2 }, mbf.Blocks);
        Assert.IsType<CosFaceHead>(mbf.margin_head);
        using var large = MobileFaceNet.mbf_large(classes: 10, head: "arcface");
        Assert.Equal(new[] { 2, 8, 12, 4 }, large.Blocks);
        Assert.Equal(4, large.Scale);
        Assert.IsType<ArcFaceHead>(large.margin_head);

        using var r = new IResNet(34, classes: 10, embedding: 16, width: 8, size: 32, head: "softmax");
        Assert.Equal((34, 10, 16, 8, 32, "softmax"), (r.Depth, r.Classes, r.EmbeddingSize, r.Width, r.Size, r.Head));
        Assert.IsType<NormSoftmaxHead>(r.margin_head);
        // insightface: N(0, 0.1) convolutions, unit batch norm, the embedding batch norm's scale fixed at 1 and not trained.
        var std = r.get_parameter("layer3.2.conv1.weight").std().item<float>();
        Assert.InRange(std, 0.09, 0.11);
        Assert.True(r.get_parameter("layer1.0.bn2.weight").eq(1).all().item<bool>());
        Assert.True(r.get_parameter("prelu.weight").eq(0.25f).all().item<bool>());
        Assert.False(r.get_parameter("features.weight").requires_grad);
        Assert.True(r.get_parameter("features.weight").eq(1).all().item<bool>());
        Assert.True(r.get_parameter("head.weight").requires_grad);
        Assert.Equal(new[] { 3, 4, 6, 3 }, new[] { "layer1", "layer2", "layer3", "layer4" }.Select(l => ((Sequential)r.get_submodule(l)).Count));
    }
}
