using System.Globalization;
using F = Distill.Torch.torch.nn.functional;

namespace Distill.Models.Tests;

/// <summary>
/// The margin heads: against a hand computation of the formulas, against the one-hot PyTorch reference
/// of make_face_models.py (values and gradients), their argument checks, and native tensor lifetimes.
/// </summary>
public class MarginHeadTests
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> s_metadata = new(() =>
    {
        using var content = Safetensors.Read(Path.Combine(AppContext.BaseDirectory, "fixtures", "faces.safetensors"));
        return new Dictionary<string, string>(content.Metadata);
    });

    /// <summary>A head of the fixture's spec ("kind=arcface;s=64.0;m=0.5;easy_margin=True") holding the fixture's weight.</summary>
    private static MarginHead FixtureHead(string name)
    {
        var fx = Fixture.Load("faces");
        var spec = s_metadata.Value[$"head_{name}.spec"].Split(';').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]);
        double Number(string key, double fallback) => spec.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;
        var weight = fx[$"head_{name}", "weight"];
        var head = MarginHead.Create(spec["kind"], (int)weight.shape[1], (int)weight.shape[0], Number("s", 64), Number("m", 0.4),
            spec.TryGetValue("easy_margin", out var easy) && easy == "True");
        using (torch.no_grad()) head.weight.copy_(weight);
        return head;
    }

    public static TheoryData<string> HeadCases() => new("cosface", "cosface_s30_m035", "arcface", "arcface_easy", "arcface_m12", "softmax");

    [Theory]
    [MemberData(nameof(HeadCases))]
    public void Heads_match_the_one_hot_reference_in_values_and_gradients(string name)
    {
        var fx = Fixture.Load("faces");
        var c = $"head_{name}";
        using var scope = torch.NewDisposeScope();
        using var head = FixtureHead(name);
        var label = fx[c, "label"];

        var cosine = head.cosine(fx[c, "embedding"]);
        fx.AssertClose(cosine, c, "cosine", 1e-5, 1e-6);
        fx.AssertClose(head.logits(fx[c, "embedding"]), c, "logits", 1e-5, 1e-4);
        fx.AssertClose(head.margin_logits(cosine, label), c, "margin_logits", 1e-5, 1e-4);
        fx.AssertClose(head.apply_margin_(head.logits(fx[c, "embedding"]), label), c, "margin_logits", 1e-5, 1e-4);

        var embedding = fx.Input(c, "embedding", requiresGrad: true);
        var output = head.call(embedding, label);
        fx.AssertClose(output, c, "margin_logits", 1e-5, 1e-4);
        output.backward(fx[c, "gout"]);
        fx.AssertClose(embedding.grad!, c, "grad_embedding", 1e-4, 1e-4);
        fx.AssertClose(head.weight.grad!, c, "grad_weight", 1e-4, 1e-4);

        // The out-of-place form from cosines gives the same gradients.
        head.zero_grad();
        var embedding2 = fx.Input(c, "embedding", requiresGrad: true);
        head.margin_logits(head.cosine(embedding2), label).backward(fx[c, "gout"]);
        fx.AssertClose(embedding2.grad!, c, "grad_embedding", 1e-4, 1e-4);
        fx.AssertClose(head.weight.grad!, c, "grad_weight", 1e-4, 1e-4);
    }

    /// <summary>
    /// Unit class centres at known angles in the plane and embeddings at known angles to them: the
    /// formulas by hand, in double precision.
    /// </summary>
    [Fact]
    public void Heads_match_a_hand_computation_of_their_formulas()
    {
        using var scope = torch.NewDisposeScope();
        double[] centres = [0.0, 1.0, 2.5]; // class centre angles (radians)
        double[] angles = [0.3, 2.9, -1.2, 1.7, 0.0]; // embedding angles
        long[] labels = [0, 0, 2, 1, 2];
        const double s = 10;
        var weight = torch.tensor(centres.SelectMany(a => new[] { Math.Cos(a), Math.Sin(a) }).ToArray(), new long[] { 3, 2 }).to(ScalarType.Float32);
        // Embeddings of different lengths: the heads normalise them.
        var embedding = torch.tensor(angles.SelectMany((a, i) => new[] { (i + 1) * Math.Cos(a), (i + 1) * Math.Sin(a) }).ToArray(), new long[] { 5, 2 }).to(ScalarType.Float32);
        var label = torch.tensor(labels);

        double Theta(int i, int k) => Math.Acos(Math.Cos(angles[i] - centres[k]));
        double[] Expected(Func<double, double> target) =>
            Enumerable.Range(0, 5).SelectMany(i => Enumerable.Range(0, 3).Select(k => k == labels[i] ? target(Theta(i, k)) : s * Math.Cos(Theta(i, k)))).ToArray();

        const double cm = 0.35;
        const double am = 0.5;
        var cases = new (MarginHead head, double[] expected)[]
        {
            (new CosFaceHead(2, 3, s, cm), Expected(t => s * (Math.Cos(t) - cm))),
            // θ + m past π (θ > π − m): the fallback cos θ − m·sin(π − m).
            (new ArcFaceHead(2, 3, s, am), Expected(t => t + am < Math.PI ? s * Math.Cos(t + am) : s * (Math.Cos(t) - am * Math.Sin(Math.PI - am)))),
            (new ArcFaceHead(2, 3, s, am, easy_margin: true), Expected(t => Math.Cos(t) > 0 ? s * Math.Cos(t + am) : s * Math.Cos(t))),
            (new NormSoftmaxHead(2, 3, s), Expected(t => s * Math.Cos(t))),
        };
        // The cases reach both ArcFace branches: θ = 2.9 > π − 0.5 and θ = 0.3 < π − 0.5.
        Assert.True(Theta(1, 0) > Math.PI - am && Theta(0, 0) < Math.PI - am);
        foreach (var (head, expected) in cases)
        {
            using (torch.no_grad()) head.weight.copy_(weight);
            var actual = head.call(embedding, label);
            TensorAssert.Close(torch.tensor(expected, new long[] { 5, 3 }).to(ScalarType.Float32), actual, 1e-5, 1e-5, head._get_name());
            TensorAssert.Close(torch.tensor(Expected(t => s * Math.Cos(t)), new long[] { 5, 3 }).to(ScalarType.Float32), head.logits(embedding), 1e-5, 1e-5, head._get_name() + ".logits");
            head.Dispose();
        }
    }

    [Fact]
    public void Arcface_gradients_stay_finite_where_the_target_cosine_is_exactly_one()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var easy in new[] { false, true })
        {
            using var head = new ArcFaceHead(4, 3, easy_margin: easy);
            // Embeddings exactly on (and exactly opposite) their class centre: cos θ = ±1, where √(1 − cos²θ)
            // has an infinite slope (PyTorch's plain formula gives NaN or infinite gradients there).
            var embedding = torch.stack([head.weight.detach().select(0, 1) * 3, -head.weight.detach().select(0, 2)]).requires_grad_();
            var output = head.call(embedding, torch.tensor(new long[] { 1, 2 }));
            output.sum().backward();
            Assert.True(embedding.grad!.isfinite().all().item<bool>(), "gradient of the embedding");
            Assert.True(head.weight.grad!.isfinite().all().item<bool>(), "gradient of the weight");
            Assert.True(output.isfinite().all().item<bool>());
        }
    }

    /// <summary>
    /// Gradient-free passes reuse normalize(weight) while the weight is unchanged; every way of changing it (an
    /// in-place update as an optimizer step makes, a load_state_dict copy, set_data, a new Parameter) is seen, and a
    /// pass with gradients still reaches the weight.
    /// </summary>
    [Fact]
    public void Gradient_free_logits_follow_every_change_of_the_weight()
    {
        using var scope = torch.NewDisposeScope();
        using var head = new CosFaceHead(8, 20);
        var x = torch.randn([5, 8]);
        var label = torch.tensor(new long[] { 0, 3, 19, 7, 7 });
        Tensor Expected() => F.normalize(x).mm(F.normalize(head.weight.detach()).t()).mul_(head.s);
        void Same()
        {
            using (torch.no_grad()) TensorAssert.Close(Expected(), head.logits(x), what: "no_grad logits");
        }

        Same();
        Same(); // the kept normalised weight
        using (torch.no_grad()) head.weight.mul_(-0.5).add_(0.25);
        Same();
        var optimizer = torch.optim.SGD(head.parameters(), lr: 0.5);
        head.call(x, label).sum().backward();
        optimizer.step();
        Same();
        head.load_state_dict(new Dictionary<string, Tensor> { ["weight"] = torch.randn([20, 8]) });
        Same();
        head.weight.set_data(torch.randn([20, 8]));
        Same();
        head.weight = new Parameter(torch.randn([20, 8]));
        Same();
        // a frozen weight under autograd uses the kept copy too, and the embedding still gets its gradient
        head.weight.requires_grad = false;
        var e = x.detach().requires_grad_();
        head.call(e, label).sum().backward();
        Assert.NotNull(e.grad);
        Assert.Null(head.weight.grad);
        Same();
        // trained again: the gradient reaches the weight
        head.weight.requires_grad = true;
        head.call(x, label).sum().backward();
        Assert.NotNull(head.weight.grad);
    }

    [Fact]
    public void Create_takes_the_three_kinds_and_names_them_on_error()
    {
        using var scope = torch.NewDisposeScope();
        using var cos = MarginHead.Create("cosface", 8, 5, s: 30, m: 0.35);
        Assert.Equal((8, 5, 30.0, 0.35), (cos.embedding, cos.classes, cos.s, ((CosFaceHead)cos).m));
        using var arc = MarginHead.Create("ArcFace", 8, 5, m: 0.5, easy_margin: true);
        Assert.True(((ArcFaceHead)arc).easy_margin);
        using var soft = MarginHead.Create("softmax", 8, 5);
        Assert.IsType<NormSoftmaxHead>(soft);
        Assert.Equal(["weight"], soft.state_dict().Keys);
        TensorAssert.Equal([5, 8], soft.weight.shape);
        Assert.Equal("CosFaceHead(embedding=8, classes=5, s=30, m=0.35)", cos.ToString());

        var e = Assert.Throws<ArgumentException>(() => MarginHead.Create("adaface", 8, 5));
        Assert.Equal("unknown margin head 'adaface': valid kinds are 'cosface', 'arcface', 'softmax' (Parameter 'kind')", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosFaceHead(8, 5, s: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CosFaceHead(8, 5, m: -0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ArcFaceHead(8, 5, m: Math.PI / 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new NormSoftmaxHead(0, 5));
    }

    [Fact]
    public void Bad_labels_and_embeddings_are_reported()
    {
        using var scope = torch.NewDisposeScope();
        foreach (var kind in MarginHead.Kinds)
        {
            using var head = MarginHead.Create(kind, 4, 3);
            var x = torch.randn([2, 4]);
            Assert.Contains("shape [2]; got [3]", Assert.Throws<ArgumentException>(() => head.call(x, torch.zeros([3], ScalarType.Int64))).Message);
            Assert.Contains("shape [2]; got [2, 1]", Assert.Throws<ArgumentException>(() => head.call(x, torch.zeros([2, 1], ScalarType.Int64))).Message);
            Assert.Contains("integer class indices; got float32", Assert.Throws<ArgumentException>(() => head.call(x, torch.zeros([2]))).Message);
            Assert.Contains("takes (batch, 4) embeddings; got [2, 5]", Assert.Throws<ArgumentException>(() => head.call(torch.randn([2, 5]), torch.zeros([2], ScalarType.Int64))).Message);
            // int32 labels are accepted.
            TensorAssert.Equal([2, 3], head.call(x, torch.tensor(new[] { 2, 0 })).shape);
            if (kind != "softmax") Assert.Throws<TorchException>(() => head.call(x, torch.tensor(new long[] { 0, 3 })));
        }
    }
}

/// <summary>The heads free every temporary: only their results stay alive (live native handles, process-wide).</summary>
[Collection(SequentialCollection.Name)]
public class MarginHeadLifetimeTests
{
    [Fact]
    public void Heads_leave_only_their_results_alive()
    {
        foreach (var kind in MarginHead.Kinds)
        {
            using var head = MarginHead.Create(kind, 8, 50);
            using var x = torch.randn([6, 8]);
            using var label = torch.tensor(new[] { 1, 7, 49, 0, 3, 3 }); // int32: converted inside
            for (var pass = 0; pass < 3; pass++)
            {
                var before = SequentialCollection.SettledLiveCount();
                using (torch.no_grad())
                {
                    using (var cos = head.cosine(x))
                    using (head.margin_logits(cos, label)) { }
                    using (head.logits(x)) { }
                }
                // the head keeps normalize(weight) for gradient-free passes (one handle); a pass that trains the
                // weight drops it again
                Assert.Equal(before + 1, SequentialCollection.SettledLiveCount());

                using (var e = x.detach().requires_grad_())
                {
                    using (var output = head.call(e, label))
                    using (var loss = output.sum())
                        loss.backward();
                    e.grad!.Dispose();
                }
                head.weight.grad!.Dispose();
                head.zero_grad();
                Assert.Equal(before, SequentialCollection.SettledLiveCount());
            }
        }
    }

    [Fact]
    public void Face_models_leave_no_tensor_behind_over_several_passes()
    {
        using var model = new IResNet(18, classes: 10, embedding: 16, width: 4, size: 16, head: "arcface");
        using var x = torch.randn([2, 3, 16, 16]);
        using var label = torch.tensor(new long[] { 3, 9 });
        using var optimizerless = torch.enable_grad();
        var before = SequentialCollection.SettledLiveCount();
        for (var pass = 0; pass < 3; pass++)
        {
            using (var outputs = model.forward_taps(x, IResNet.Taps.MarginLogits | IResNet.Taps.Logits | IResNet.Taps.Embedding, label))
            using (var loss = torch.nn.functional.cross_entropy(outputs.MarginLogits!, label))
                loss.backward();
            model.zero_grad();
        }
        Assert.Equal(before, SequentialCollection.SettledLiveCount());
    }
}
