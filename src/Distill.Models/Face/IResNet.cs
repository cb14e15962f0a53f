namespace Distill.Models;

/// <summary>
/// The face-recognition ResNet of ArcFace/insightface (<c>iresnet18/34/50/100/200</c>), with a margin
/// head. Layout and module names are insightface's, so its checkpoints' state_dict keys load:
/// conv1 (3×3, stride 1) → bn1 → prelu; layer1..4 of <see cref="IBasicBlock"/>s with width, 2·width,
/// 4·width, 8·width channels, each stage starting with stride 2; bn2 → flatten → dropout → fc (to the
/// embedding) → features (BatchNorm1d, the embedding). The margin head's class centres are
/// <c>head.weight</c>. insightface fixes width 64 and 112×112 inputs; here <c>width</c> and <c>size</c>
/// (the input side, which sets fc's input: 8·width·⌈size/16⌉²) make CPU-scale models possible.
/// <para>
/// Taps: stem = prelu(bn1(conv1 x)); stageK = the output of layerK (stride 2^K); embedding = the
/// BatchNorm1d output (before L2 normalisation); logits = s·cos θ to every class centre (label-free:
/// evaluation, and what a teacher hands to a logit-distillation loss); margin_logits = the head's
/// margin-applied logits, which need the batch's labels (<c>forward_taps(x, taps, label)</c>).
/// </para>
/// </summary>
[DistillModel(Task = "face", Input = "N,3,H,W")]
[Tap("stem", TensorKind.FeatureMap, "N, width, H, W")]
[Tap("stage1", TensorKind.FeatureMap, "N, width, (H+1)/2, (W+1)/2")]
[Tap("stage2", TensorKind.FeatureMap, "N, 2*width, (H+3)/4, (W+3)/4")]
[Tap("stage3", TensorKind.FeatureMap, "N, 4*width, (H+7)/8, (W+7)/8")]
[Tap("stage4", TensorKind.FeatureMap, "N, 8*width, (H+15)/16, (W+15)/16")]
[Tap("embedding", TensorKind.Embedding, "N, embedding", Description = "the BatchNorm1d output, before L2 normalisation")]
[Tap("logits", TensorKind.Logits, "N, classes", Description = "s·cos θ to every class centre, without margin")]
[Tap("margin_logits", TensorKind.Logits, "N, classes", Description = "the margin head's logits (margin on each sample's class)", Needs = "label")]
public sealed partial class IResNet : TappedModel<IResNet.Taps, IResNet.Outputs>
{
    /// <summary>The depths insightface defines and their blocks per stage.</summary>
    public static readonly IReadOnlyDictionary<int, int[]> Layers = new Dictionary<int, int[]>
    {
        [18] = [2, 2, 2, 2],
        [34] = [3, 4, 6, 3],
        [50] = [3, 4, 14, 3],
        [100] = [3, 13, 30, 3],
        [200] = [6, 26, 60, 6],
    };

    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly PReLU prelu;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly BatchNorm2d bn2;
    private readonly Dropout dropout;
    private readonly Linear fc;
    private readonly BatchNorm1d features;
    private readonly MarginHead head;
    private int _inplanes;

    /// <param name="depth">18, 34, 50, 100 or 200 (insightface's iresnet depths).</param>
    /// <param name="classes">Number of identities (class centres of the margin head).</param>
    /// <param name="embedding">Size of the face embedding (512 in insightface).</param>
    /// <param name="width">Channels of stage 1 (stages 2..4 have 2×, 4×, 8×): 64 in insightface.</param>
    /// <param name="size">The side of the square input images: 112 for aligned faces; fc takes 8·width·⌈size/16⌉² features.</param>
    /// <param name="head">The margin head: "cosface", "arcface" or "softmax".</param>
    /// <param name="s">The head's scale.</param>
    /// <param name="m">The head's margin (CosFace: cosine margin; ArcFace: angle in radians; unused by "softmax").</param>
    /// <param name="easy_margin">ArcFace only: apply the margin only where cos θ &gt; 0.</param>
    /// <param name="dropout">Dropout probability before fc (insightface: 0).</param>
    public IResNet(int depth = 50, int classes = 1000, int embedding = 512, int width = 64, int size = 112,
        string head = "cosface", double s = 64, double m = 0.4, bool easy_margin = false, double dropout = 0)
    {
        if (!Layers.TryGetValue(depth, out var blocks))
            throw new ArgumentOutOfRangeException(nameof(depth), depth, $"an IResNet has depth {string.Join(", ", Layers.Keys)}");
        CifarResNet.Positive(classes, nameof(classes));
        CifarResNet.Positive(embedding, nameof(embedding));
        CifarResNet.Positive(width, nameof(width));
        CifarResNet.Positive(size, nameof(size));
        if (dropout is < 0 or >= 1 || double.IsNaN(dropout))
            throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        Depth = depth;
        Classes = classes;
        EmbeddingSize = embedding;
        Width = width;
        Size = size;
        Head = head;
        var side = (size + 15) / 16;

        _inplanes = width;
        conv1 = new Conv2d(3, width, 3, stride: 1, padding: 1, bias: false);
        bn1 = new BatchNorm2d(width);
        prelu = new PReLU(width);
        layer1 = Layer(width, blocks[0]);
        layer2 = Layer(2 * width, blocks[1]);
        layer3 = Layer(4 * width, blocks[2]);
        layer4 = Layer(8 * width, blocks[3]);
        bn2 = new BatchNorm2d(8 * width);
        this.dropout = new Dropout(dropout, inplace: true);
        fc = new Linear(8 * width * side * side, embedding);
        features = new BatchNorm1d(embedding);
        this.head = MarginHead.Create(head, embedding, classes, s, m, easy_margin);
        RegisterComponents();
        // insightface's initialisation: N(0, 0.1) convolutions, unit batch-norm scale, PyTorch's default
        // Linear; the embedding batch norm's scale is fixed at 1 (not trained).
        apply(module =>
        {
            if (module is Conv2d conv) torch.nn.init.normal_(conv.weight, 0, 0.1);
            else if (module is BatchNorm2d bn)
            {
                torch.nn.init.ones_(bn.weight!);
                torch.nn.init.zeros_(bn.bias!);
            }
        });
        torch.nn.init.ones_(features.weight!);
        features.weight!.requires_grad = false;
    }

    public int Depth { get; }
    public int Classes { get; }
    public int EmbeddingSize { get; }
    public int Width { get; }
    public int Size { get; }
    public string Head { get; }

    /// <summary>The margin head (class centres <c>head.weight</c>).</summary>
    public MarginHead margin_head => head;

    public static IResNet iresnet18(int classes = 1000, string head = "cosface") => new(18, classes, head: head);
    public static IResNet iresnet34(int classes = 1000, string head = "cosface") => new(34, classes, head: head);
    public static IResNet iresnet50(int classes = 1000, string head = "cosface") => new(50, classes, head: head);
    public static IResNet iresnet100(int classes = 1000, string head = "cosface") => new(100, classes, head: head);

    private Sequential Layer(int planes, int blocks)
    {
        // Every stage starts with stride 2, so every first block has a projection shortcut.
        var downsample = new Sequential(new Conv2d(_inplanes, planes, 1, stride: 2, bias: false), new BatchNorm2d(planes));
        var layer = new Sequential();
        for (var b = 0; b < blocks; b++)
        {
            layer.append(new IBasicBlock(_inplanes, planes, b == 0 ? 2 : 1, b == 0 ? downsample : null));
            _inplanes = planes;
        }
        return layer;
    }

    protected override void Forward(TapPass<Taps> pass)
    {
        var label = FaceModels.CheckInput(pass, Taps.MarginLogits, Size, _get_name());
        pass.Step(x => prelu.call(bn1.call(conv1.call(x))));
        pass.Tap(Taps.Stem);
        if (pass.Done) return;
        ReadOnlySpan<Taps> stages = [Taps.Stage1, Taps.Stage2, Taps.Stage3, Taps.Stage4];
        Sequential[] layers = [layer1, layer2, layer3, layer4];
        for (var k = 0; k < 4; k++)
        {
            foreach (var block in layers[k]) pass.Step(block.call);
            pass.Tap(stages[k]);
            if (pass.Done) return;
        }
        pass.Step(x => features.call(fc.call(dropout.call(bn2.call(x).flatten(1)))));
        pass.Tap(Taps.Embedding);
        if (pass.Done) return;
        FaceModels.RunHead(pass, head, label, Taps.Logits, Taps.MarginLogits);
    }

    /// <summary>
    /// insightface's IBasicBlock (pre-activation style, no ReLU after the sum): bn1 → conv1 (3×3) → bn2 →
    /// prelu → conv2 (3×3, strided) → bn3, plus the identity or the downsample projection.
    /// </summary>
    public sealed class IBasicBlock : Module<Tensor, Tensor>
    {
        private readonly BatchNorm2d bn1;
        private readonly Conv2d conv1;
        private readonly BatchNorm2d bn2;
        private readonly PReLU prelu;
        private readonly Conv2d conv2;
        private readonly BatchNorm2d bn3;
        private readonly Sequential? downsample;

        public IBasicBlock(int inplanes, int planes, int stride = 1, Sequential? downsample = null)
        {
            bn1 = new BatchNorm2d(inplanes);
            conv1 = new Conv2d(inplanes, planes, 3, padding: 1, bias: false);
            bn2 = new BatchNorm2d(planes);
            prelu = new PReLU(planes);
            conv2 = new Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
            bn3 = new BatchNorm2d(planes);
            this.downsample = downsample;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var y = bn3.call(conv2.call(prelu.call(bn2.call(conv1.call(bn1.call(x))))));
            return y.add_(downsample is null ? x : downsample.call(x));
        }
    }
}
