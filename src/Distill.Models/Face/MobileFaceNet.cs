namespace Distill.Models;

/// <summary>
/// MobileFaceNet as insightface builds it (<c>get_mbf</c>: blocks (1, 4, 6, 2), scale 2, 512-d
/// embedding; GKD's student), with a margin head. Module names are insightface's, so its checkpoints'
/// state_dict keys load. Layout (every convolution without bias, followed by batch norm and, except in
/// the linear blocks, a per-channel PReLU):
/// <list type="bullet">
/// <item><c>layers.0</c>: 3×3 stride-2 convolution to 64·scale channels;</item>
/// <item><c>layers.1</c>: a grouped 3×3 convolution (groups 64) when blocks1 = 1, else blocks1 residual
/// depthwise-separable blocks (expansion width 128);</item>
/// <item><c>layers.2..7</c>: stride-2 <see cref="DepthWise"/> bottlenecks to 64·scale, 128·scale and
/// 128·scale channels (expansion widths 128, 256, 512), each followed by a <see cref="Residual"/> stage
/// of blocks2, blocks3, blocks4 bottlenecks (widths 128, 256, 256);</item>
/// <item><c>conv_sep</c>: 1×1 to 512; <c>features</c> (<see cref="GDC"/>): a linear depthwise
/// convolution over the whole remaining map (kernel ⌈size/16⌉: 7 at 112×112), flatten, a bias-free
/// Linear to the embedding and BatchNorm1d.</item>
/// </list>
/// The expansion widths and conv_sep's 512 channels do not change with scale (as in insightface).
/// <para>
/// Taps: stem = <c>layers.0</c>; stage1 = <c>layers.1</c> (stride 2); stage2..4 = the residual stages
/// <c>layers.3</c>, <c>layers.5</c>, <c>layers.7</c> (strides 4, 8, 16); embedding = the BatchNorm1d
/// output; logits = s·cos θ (label-free); margin_logits = the margin head's logits (need the labels).
/// </para>
/// </summary>
[DistillModel(Task = "face", Input = "N,3,H,W")]
[Tap("stem", TensorKind.FeatureMap, "N, 64*scale, (H+1)/2, (W+1)/2")]
[Tap("stage1", TensorKind.FeatureMap, "N, 64*scale, (H+1)/2, (W+1)/2")]
[Tap("stage2", TensorKind.FeatureMap, "N, 64*scale, (H+3)/4, (W+3)/4")]
[Tap("stage3", TensorKind.FeatureMap, "N, 128*scale, (H+7)/8, (W+7)/8")]
[Tap("stage4", TensorKind.FeatureMap, "N, 128*scale, (H+15)/16, (W+15)/16")]
[Tap("embedding", TensorKind.Embedding, "N, embedding", Description = "the BatchNorm1d output, before L2 normalisation")]
[Tap("logits", TensorKind.Logits, "N, classes", Description = "s·cos θ to every class centre, without margin")]
[Tap("margin_logits", TensorKind.Logits, "N, classes", Description = "the margin head's logits (margin on each sample's class)", Needs = "label")]
public sealed partial class MobileFaceNet : TappedModel<MobileFaceNet.Taps, MobileFaceNet.Outputs>
{
    /// <summary>The channels of conv_sep and the GDC (fixed in insightface).</summary>
    public const int SepChannels = 512;

    private readonly ModuleList<Module<Tensor, Tensor>> layers;
    private readonly ConvBlock conv_sep;
    private readonly GDC features;
    private readonly MarginHead head;

    /// <param name="classes">Number of identities (class centres of the margin head).</param>
    /// <param name="embedding">Size of the face embedding (512 in insightface and GKD).</param>
    /// <param name="scale">Channel multiplier: stages have 64·scale and 128·scale channels (get_mbf: 2; get_mbf_large: 4).</param>
    /// <param name="size">The side of the square input images: 112 for aligned faces; the GDC kernel is ⌈size/16⌉.</param>
    /// <param name="head">The margin head: "cosface", "arcface" or "softmax".</param>
    /// <param name="s">The head's scale.</param>
    /// <param name="m">The head's margin (CosFace: cosine margin; ArcFace: angle in radians; unused by "softmax").</param>
    /// <param name="easy_margin">ArcFace only: apply the margin only where cos θ &gt; 0.</param>
    /// <param name="blocks1">Stage 1: 1 = one grouped convolution (insightface), more = that many residual bottlenecks.</param>
    /// <param name="blocks2">Residual bottlenecks after the stride-4 downsampling (get_mbf: 4).</param>
    /// <param name="blocks3">Residual bottlenecks after the stride-8 downsampling (get_mbf: 6).</param>
    /// <param name="blocks4">Residual bottlenecks after the stride-16 downsampling (get_mbf: 2).</param>
    public MobileFaceNet(int classes = 1000, int embedding = 512, int scale = 2, int size = 112,
        string head = "cosface", double s = 64, double m = 0.4, bool easy_margin = false,
        int blocks1 = 1, int blocks2 = 4, int blocks3 = 6, int blocks4 = 2)
    {
        CifarResNet.Positive(classes, nameof(classes));
        CifarResNet.Positive(embedding, nameof(embedding));
        CifarResNet.Positive(scale, nameof(scale));
        CifarResNet.Positive(size, nameof(size));
        CifarResNet.Positive(blocks1, nameof(blocks1));
        NonNegative(blocks2, nameof(blocks2));
        NonNegative(blocks3, nameof(blocks3));
        NonNegative(blocks4, nameof(blocks4));
        Classes = classes;
        EmbeddingSize = embedding;
        Scale = scale;
        Size = size;
        Head = head;
        Blocks = [blocks1, blocks2, blocks3, blocks4];

        var c1 = 64 * scale;
        var c2 = 128 * scale;
        layers = new ModuleList<Module<Tensor, Tensor>>(
            new ConvBlock(3, c1, 3, 2, 1),
            blocks1 == 1 ? new ConvBlock(c1, c1, 3, 1, 1, groups: 64) : new Residual(c1, blocks1, 128),
            new DepthWise(c1, c1, false, 2, 128),
            new Residual(c1, blocks2, 128),
            new DepthWise(c1, c2, false, 2, 256),
            new Residual(c2, blocks3, 256),
            new DepthWise(c2, c2, false, 2, 512),
            new Residual(c2, blocks4, 256));
        conv_sep = new ConvBlock(c2, SepChannels, 1, 1, 0);
        features = new GDC(SepChannels, embedding, (size + 15) / 16);
        this.head = MarginHead.Create(head, embedding, classes, s, m, easy_margin);
        RegisterComponents();
        // insightface's initialisation: He-normal (fan_out) convolutions and Linear, unit batch-norm scale.
        apply(module =>
        {
            switch (module)
            {
                case Conv2d conv:
                    torch.nn.init.kaiming_normal_(conv.weight, mode: "fan_out", nonlinearity: "relu");
                    break;
                case BatchNorm2d bn:
                    torch.nn.init.ones_(bn.weight!);
                    torch.nn.init.zeros_(bn.bias!);
                    break;
                case Linear linear:
                    torch.nn.init.kaiming_normal_(linear.weight, mode: "fan_out", nonlinearity: "relu");
                    break;
            }
        });
    }

    public int Classes { get; }
    public int EmbeddingSize { get; }
    public int Scale { get; }
    public int Size { get; }
    public string Head { get; }

    /// <summary>The blocks of the four stages (blocks1..blocks4).</summary>
    public IReadOnlyList<int> Blocks { get; }

    /// <summary>The margin head (class centres <c>head.weight</c>).</summary>
    public MarginHead margin_head => head;

    /// <summary>insightface's <c>get_mbf</c>: blocks (1, 4, 6, 2), scale 2 (GKD's student).</summary>
    public static MobileFaceNet mbf(int classes = 1000, string head = "cosface") => new(classes, head: head);

    /// <summary>insightface's <c>get_mbf_large</c>: blocks (2, 8, 12, 4), scale 4.</summary>
    public static MobileFaceNet mbf_large(int classes = 1000, string head = "cosface") =>
        new(classes, scale: 4, head: head, blocks1: 2, blocks2: 8, blocks3: 12, blocks4: 4);

    private static void NonNegative(int value, string name)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 0");
    }

    protected override void Forward(TapPass<Taps> pass)
    {
        var label = FaceModels.CheckInput(pass, Taps.MarginLogits, Size, _get_name());
        pass.Step(layers[0].call);
        pass.Tap(Taps.Stem);
        if (pass.Done) return;
        // Stages end after layers 1, 3, 5 and 7.
        ReadOnlySpan<(int last, Taps tap)> stages = [(1, Taps.Stage1), (3, Taps.Stage2), (5, Taps.Stage3), (7, Taps.Stage4)];
        var next = 1;
        foreach (var (last, tap) in stages)
        {
            for (; next <= last; next++)
            {
                if (layers[next] is Residual residual)
                    foreach (var block in residual.layers) pass.Step(block.call); // one step per block: temporaries die early
                else
                    pass.Step(layers[next].call);
            }
            pass.Tap(tap);
            if (pass.Done) return;
        }
        pass.Step(x => features.call(conv_sep.call(x)));
        pass.Tap(Taps.Embedding);
        if (pass.Done) return;
        FaceModels.RunHead(pass, head, label, Taps.Logits, Taps.MarginLogits);
    }

    /// <summary>Convolution (no bias) → batch norm → per-channel PReLU, as <c>layers</c> (a Sequential).</summary>
    public sealed class ConvBlock : Module<Tensor, Tensor>
    {
        public ConvBlock(int input, int output, int kernel, int stride, int padding, int groups = 1)
        {
            layers = new Sequential(
                new Conv2d(input, output, kernel, stride: stride, padding: padding, groups: groups, bias: false),
                new BatchNorm2d(output),
                new PReLU(output));
            RegisterComponents();
        }

        public Sequential layers { get; }

        public override Tensor forward(Tensor x) => layers.call(x);
    }

    /// <summary>Convolution (no bias) → batch norm, no activation, as <c>layers</c>.</summary>
    public sealed class LinearBlock : Module<Tensor, Tensor>
    {
        public LinearBlock(int input, int output, int kernel, int stride, int padding, int groups = 1)
        {
            layers = new Sequential(
                new Conv2d(input, output, kernel, stride: stride, padding: padding, groups: groups, bias: false),
                new BatchNorm2d(output));
            RegisterComponents();
        }

        public Sequential layers { get; }

        public override Tensor forward(Tensor x) => layers.call(x);
    }

    /// <summary>
    /// The depthwise-separable bottleneck: 1×1 ConvBlock to <c>hidden</c> channels, 3×3 depthwise ConvBlock
    /// (strided), 1×1 LinearBlock to <c>output</c>; with <c>residual</c>, plus the input.
    /// </summary>
    public sealed class DepthWise : Module<Tensor, Tensor>
    {
        private readonly bool _residual;

        public DepthWise(int input, int output, bool residual, int stride, int hidden)
        {
            if (residual && (input != output || stride != 1))
                throw new ArgumentException("a residual DepthWise block keeps its shape (input = output channels, stride 1)");
            _residual = residual;
            layers = new Sequential(
                new ConvBlock(input, hidden, 1, 1, 0),
                new ConvBlock(hidden, hidden, 3, stride, 1, groups: hidden),
                new LinearBlock(hidden, output, 1, 1, 0));
            RegisterComponents();
        }

        public Sequential layers { get; }

        public override Tensor forward(Tensor x) => _residual ? layers.call(x).add_(x) : layers.call(x);
    }

    /// <summary><c>blocks</c> residual DepthWise bottlenecks of <c>channels</c> channels, as <c>layers</c>.</summary>
    public sealed class Residual : Module<Tensor, Tensor>
    {
        public Residual(int channels, int blocks, int hidden)
        {
            layers = new Sequential();
            for (var b = 0; b < blocks; b++) layers.append(new DepthWise(channels, channels, true, 1, hidden));
            RegisterComponents();
        }

        public Sequential layers { get; }

        public override Tensor forward(Tensor x) => layers.call(x);
    }

    /// <summary>
    /// Global depthwise convolution: a linear depthwise convolution whose kernel covers the whole map
    /// (a learned weighted pooling), flatten, a bias-free Linear to the embedding, BatchNorm1d; as <c>layers</c>.
    /// </summary>
    public sealed class GDC : Module<Tensor, Tensor>
    {
        public GDC(int channels, int embedding, int kernel)
        {
            layers = new Sequential(
                new LinearBlock(channels, channels, kernel, 1, 0, groups: channels),
                new Flatten(),
                new Linear(channels, embedding, bias: false),
                new BatchNorm1d(embedding));
            RegisterComponents();
        }

        public Sequential layers { get; }

        public override Tensor forward(Tensor x) => layers.call(x);
    }
}
