namespace Distill.Models;

/// <summary>
/// The CIFAR ResNet of the CRD/DKD benchmarks (RepDistiller's <c>models/resnet.py</c>): a 3×3 stem
/// convolution, three stages of (depth − 2)/6 BasicBlocks with <c>width</c>, 2·<c>width</c> and
/// 4·<c>width</c> channels (strides 1, 2, 2; a 1×1 convolution + batch norm shortcut where the shape
/// changes), global average pooling and a linear classifier. resnet8..110 use stem = width = 16;
/// resnet8x4 and resnet32x4 use stem 32, width 64 (filters [32, 64, 128, 256]). Module names are
/// CRD's, so its state_dicts load strictly. The pooling is global (CRD's AvgPool2d(8) is the same
/// thing at 32×32), so other input sizes work too.
/// <para>
/// Taps follow CRD's feature lists: stem = relu(bn1(conv1(x))); stageK = the output of stage K;
/// pre_stageK = the sum before the last ReLU of stage K (CRD's <c>preact</c> features); pooled =
/// the pooled features; logits.
/// </para>
/// </summary>
[DistillModel(Task = "classification", Input = "N,in_channels,H,W")]
[Tap("stem", TensorKind.FeatureMap, "N, stem, H, W")]
[Tap("stage1", TensorKind.FeatureMap, "N, width, H, W")]
[Tap("stage2", TensorKind.FeatureMap, "N, 2*width, (H+1)/2, (W+1)/2")]
[Tap("stage3", TensorKind.FeatureMap, "N, 4*width, (H+3)/4, (W+3)/4")]
[Tap("pre_stage1", TensorKind.FeatureMap, "N, width, H, W", Description = "stage 1 before its last ReLU")]
[Tap("pre_stage2", TensorKind.FeatureMap, "N, 2*width, (H+1)/2, (W+1)/2", Description = "stage 2 before its last ReLU")]
[Tap("pre_stage3", TensorKind.FeatureMap, "N, 4*width, (H+3)/4, (W+3)/4", Description = "stage 3 before its last ReLU")]
[Tap("pooled", TensorKind.Embedding, "N, 4*width")]
[Tap("logits", TensorKind.Logits, "N, classes")]
public sealed partial class CifarResNet : TappedModel<CifarResNet.Taps, CifarResNet.Outputs>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;

    /// <param name="depth">6n + 2 layers (8, 14, 20, 32, 44, 56, 110, ...): n BasicBlocks per stage.</param>
    /// <param name="classes">Number of classes.</param>
    /// <param name="width">Channels of stage 1 (stages 2 and 3 have 2× and 4×): 16, or 64 for the ×4 models.</param>
    /// <param name="stem">Channels of the stem convolution: 16, or 32 for the ×4 models.</param>
    /// <param name="in_channels">Channels of the input images: 3 (colour), or 1 for grey-scale data such as Fashion-MNIST.</param>
    public CifarResNet([HyperParameter(Min = 8)] int depth, [HyperParameter(Min = 1)] int classes = 100, [HyperParameter(Min = 1)] int width = 16,
        [HyperParameter(Min = 1)] int stem = 16, [HyperParameter(Min = 1)] int in_channels = 3)
    {
        if (depth < 8 || (depth - 2) % 6 != 0)
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "a CIFAR ResNet has depth 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110)");
        Positive(classes, nameof(classes));
        Positive(width, nameof(width));
        Positive(stem, nameof(stem));
        Positive(in_channels, nameof(in_channels));
        Depth = depth;
        Classes = classes;
        Width = width;
        StemChannels = stem;
        InChannels = in_channels;

        var n = (depth - 2) / 6;
        conv1 = new Conv2d(in_channels, stem, 3, padding: 1, bias: false);
        bn1 = new BatchNorm2d(stem);
        relu = new ReLU(inplace: true);
        layer1 = Stage(stem, width, n, 1);
        layer2 = Stage(width, 2 * width, n, 2);
        layer3 = Stage(2 * width, 4 * width, n, 2);
        avgpool = new AdaptiveAvgPool2d(1);
        fc = new Linear(4 * width, classes);
        RegisterComponents();
        // CRD's initialisation: He-normal (fan_out) convolutions, unit batch-norm scale; Linear keeps PyTorch's default.
        apply(m =>
        {
            if (m is Conv2d conv) torch.nn.init.kaiming_normal_(conv.weight, mode: "fan_out", nonlinearity: "relu");
            else if (m is BatchNorm2d bn)
            {
                torch.nn.init.ones_(bn.weight!);
                torch.nn.init.zeros_(bn.bias!);
            }
        });
    }

    public int Depth { get; }
    public int Classes { get; }
    public int Width { get; }
    public int StemChannels { get; }
    public int InChannels { get; }

    public static CifarResNet resnet8(int classes = 100) => new(8, classes);
    public static CifarResNet resnet14(int classes = 100) => new(14, classes);
    public static CifarResNet resnet20(int classes = 100) => new(20, classes);
    public static CifarResNet resnet32(int classes = 100) => new(32, classes);
    public static CifarResNet resnet44(int classes = 100) => new(44, classes);
    public static CifarResNet resnet56(int classes = 100) => new(56, classes);
    public static CifarResNet resnet110(int classes = 100) => new(110, classes);
    public static CifarResNet resnet8x4(int classes = 100) => new(8, classes, width: 64, stem: 32);
    public static CifarResNet resnet32x4(int classes = 100) => new(32, classes, width: 64, stem: 32);

    internal static void Positive(int value, string name)
    {
        if (value < 1) throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 1");
    }

    private static Sequential Stage(int input, int output, int blocks, int stride)
    {
        var stage = new Sequential();
        for (var b = 0; b < blocks; b++)
            stage.append(new BasicBlock(b == 0 ? input : output, output, b == 0 ? stride : 1));
        return stage;
    }

    protected override void Forward(TapPass<Taps> pass)
    {
        pass.Step(x => relu.call(bn1.call(conv1.call(x))));
        pass.Tap(Taps.Stem);
        if (pass.Done) return;
        if (RunStage(pass, layer1, Taps.Stage1, Taps.PreStage1)) return;
        if (RunStage(pass, layer2, Taps.Stage2, Taps.PreStage2)) return;
        if (RunStage(pass, layer3, Taps.Stage3, Taps.PreStage3)) return;
        pass.Step(x => avgpool.call(x).flatten(1));
        pass.Tap(Taps.Pooled);
        if (pass.Done) return;
        pass.Step(fc.call);
        pass.Tap(Taps.Logits);
    }

    /// <summary>Runs one stage block by block, splitting the last block at its final ReLU when the pre-activation tap is wanted; true when the pass is done.</summary>
    private static bool RunStage(TapPass<Taps> pass, Sequential stage, Taps output, Taps preActivation)
    {
        var last = stage.Count - 1;
        for (var b = 0; b < last; b++) pass.Step(stage[b].call);
        var block = (BasicBlock)stage[last];
        if (pass.Wants(preActivation))
        {
            pass.Step(block.residual);
            pass.Tap(preActivation);
            pass.Relu();
        }
        else
        {
            pass.Step(block.call);
        }
        pass.Tap(output);
        return pass.Done;
    }

    /// <summary>CRD's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).</summary>
    public sealed class BasicBlock : Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1;
        private readonly BatchNorm2d bn1;
        private readonly ReLU relu;
        private readonly Conv2d conv2;
        private readonly BatchNorm2d bn2;
        private readonly Sequential? downsample;

        public BasicBlock(int input, int output, int stride)
        {
            conv1 = new Conv2d(input, output, 3, stride: stride, padding: 1, bias: false);
            bn1 = new BatchNorm2d(output);
            relu = new ReLU(inplace: true);
            conv2 = new Conv2d(output, output, 3, padding: 1, bias: false);
            bn2 = new BatchNorm2d(output);
            if (stride != 1 || input != output)
                downsample = new Sequential(new Conv2d(input, output, 1, stride: stride, bias: false), new BatchNorm2d(output));
            RegisterComponents();
        }

        /// <summary>The block's output before its final ReLU (CRD's <c>preact</c>).</summary>
        public Tensor residual(Tensor x)
        {
            var y = bn2.call(conv2.call(relu.call(bn1.call(conv1.call(x)))));
            return y.add_(downsample is null ? x : downsample.call(x));
        }

        public override Tensor forward(Tensor x) => residual(x).relu_();
    }
}
