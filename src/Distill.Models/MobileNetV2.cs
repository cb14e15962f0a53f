namespace Distill.Models;

/// <summary>
/// MobileNetV2, the CIFAR variant of the CRD/DKD benchmarks (RepDistiller's <c>models/mobilenetv2.py</c>;
/// their "MobileNetV2" student is <see cref="mobile_half"/>, width 0.5). It differs from torchvision's:
/// the stem convolution has stride 2 for 32×32 inputs, activations are ReLU (not ReLU6), channel
/// counts are int(c·width) without rounding to multiples of 8, and the last convolution always has
/// 1280 channels. Layout: conv1 (3×3, stride 2) → blocks.0..6 (inverted residuals, settings
/// t/c/n/s = 1/16/1/1, T/24/2/1, T/32/3/2, T/64/4/2, T/96/3/1, T/160/3/2, T/320/1/1) → conv2 (1×1 to
/// 1280) → global average pooling → classifier.0. Module names are CRD's, so its state_dicts load
/// strictly. The width is given in percent (50 = CRD's width_mult 0.5) so that channel counts are
/// exact integers.
/// <para>
/// Taps follow CRD's feature list: stem = conv1's output; stage1..4 = the outputs of blocks 1, 2, 4
/// and 6 (strides 2, 4, 8, 16); pooled; logits. Block outputs are linear bottlenecks (no ReLU follows
/// them), so there are no separate pre-activation taps.
/// </para>
/// </summary>
[DistillModel(Task = "classification", Input = "N,3,H,W")]
[Tap("stem", TensorKind.FeatureMap, "N, 32*width_percent/100, (H+1)/2, (W+1)/2")]
[Tap("stage1", TensorKind.FeatureMap, "N, 24*width_percent/100, (H+1)/2, (W+1)/2")]
[Tap("stage2", TensorKind.FeatureMap, "N, 32*width_percent/100, (H+3)/4, (W+3)/4")]
[Tap("stage3", TensorKind.FeatureMap, "N, 96*width_percent/100, (H+7)/8, (W+7)/8")]
[Tap("stage4", TensorKind.FeatureMap, "N, 320*width_percent/100, (H+15)/16, (W+15)/16")]
[Tap("pooled", TensorKind.Embedding, "N, 1280")]
[Tap("logits", TensorKind.Logits, "N, classes")]
public sealed partial class MobileNetV2 : TappedModel<MobileNetV2.Taps, MobileNetV2.Outputs>
{
    /// <summary>The channels of the last 1×1 convolution (CRD and torchvision: 1280 for widths up to 1).</summary>
    public const int LastChannels = 1280;

    // (expansion, channels, blocks, stride) per group; null expansion = the model's expansion.
    private static readonly (int? t, int c, int n, int s)[] Setting =
        [(1, 16, 1, 1), (null, 24, 2, 1), (null, 32, 3, 2), (null, 64, 4, 2), (null, 96, 3, 1), (null, 160, 3, 2), (null, 320, 1, 1)];

    private readonly Sequential conv1;
    private readonly ModuleList<Sequential> blocks;
    private readonly Sequential conv2;
    private readonly Sequential classifier;
    private readonly AdaptiveAvgPool2d avgpool;

    /// <param name="classes">Number of classes.</param>
    /// <param name="expansion">The expansion ratio T of the inverted residuals (after the first group): 6.</param>
    /// <param name="width_percent">The width multiplier in percent, 1..100: channels are c·width_percent/100 (rounded down).</param>
    public MobileNetV2(int classes = 100, int expansion = 6, int width_percent = 100)
    {
        CifarResNet.Positive(classes, nameof(classes));
        CifarResNet.Positive(expansion, nameof(expansion));
        if (width_percent is < 1 or > 100)
            throw new ArgumentOutOfRangeException(nameof(width_percent), width_percent, "width_percent must be in 1..100 (the last convolution has 1280 channels only up to width 1)");
        if (16 * width_percent / 100 < 1)
            throw new ArgumentOutOfRangeException(nameof(width_percent), width_percent, "width_percent is too small: the 16-channel group would have no channels");
        Classes = classes;
        Expansion = expansion;
        WidthPercent = width_percent;

        var input = 32 * width_percent / 100;
        conv1 = ConvBnRelu(3, input, 3, 2);
        blocks = new ModuleList<Sequential>();
        foreach (var (t, c, n, s) in Setting)
        {
            var output = c * width_percent / 100;
            var group = new Sequential();
            for (var i = 0; i < n; i++)
            {
                group.append(new InvertedResidual(input, output, i == 0 ? s : 1, t ?? expansion));
                input = output;
            }
            blocks.append(group);
        }
        conv2 = ConvBnRelu(input, LastChannels, 1, 1);
        classifier = new Sequential(new Linear(LastChannels, classes));
        avgpool = new AdaptiveAvgPool2d(1);
        RegisterComponents();
        // CRD's initialisation: N(0, 2/(k·k·out)) convolutions (He-normal, fan_out), unit batch-norm scale, N(0, 0.01) Linear weights, zero biases.
        apply(m =>
        {
            switch (m)
            {
                case Conv2d conv:
                    torch.nn.init.kaiming_normal_(conv.weight, mode: "fan_out", nonlinearity: "relu");
                    break;
                case BatchNorm2d bn:
                    torch.nn.init.ones_(bn.weight!);
                    torch.nn.init.zeros_(bn.bias!);
                    break;
                case Linear linear:
                    torch.nn.init.normal_(linear.weight, 0, 0.01);
                    torch.nn.init.zeros_(linear.bias!);
                    break;
            }
        });
    }

    public int Classes { get; }
    public int Expansion { get; }
    public int WidthPercent { get; }

    /// <summary>CRD's <c>mobile_half</c>: T = 6, width 0.5 (the "MobileNetV2" of the CRD/DKD tables).</summary>
    public static MobileNetV2 mobile_half(int classes = 100) => new(classes, 6, 50);

    /// <summary>CRD's <c>mobilenetv2_T_w</c> at width 1.</summary>
    public static MobileNetV2 mobilenetv2(int classes = 100) => new(classes, 6, 100);

    private static Sequential ConvBnRelu(int input, int output, int kernel, int stride) =>
        new(new Conv2d(input, output, kernel, stride: stride, padding: kernel / 2, bias: false), new BatchNorm2d(output), new ReLU(inplace: true));

    protected override void Forward(TapPass<Taps> pass)
    {
        pass.Step(conv1.call);
        pass.Tap(Taps.Stem);
        if (pass.Done) return;
        // Stages end after blocks 1, 2, 4 and 6 (CRD's f1..f4).
        ReadOnlySpan<(int last, Taps tap)> stages = [(1, Taps.Stage1), (2, Taps.Stage2), (4, Taps.Stage3), (6, Taps.Stage4)];
        var next = 0;
        foreach (var (last, tap) in stages)
        {
            for (; next <= last; next++)
                foreach (var block in blocks[next]) pass.Step(block.call);
            pass.Tap(tap);
            if (pass.Done) return;
        }
        pass.Step(x => avgpool.call(conv2.call(x)).flatten(1));
        pass.Tap(Taps.Pooled);
        if (pass.Done) return;
        pass.Step(classifier.call);
        pass.Tap(Taps.Logits);
    }

    /// <summary>CRD's InvertedResidual: 1×1 expansion, 3×3 depthwise (strided), 1×1 linear projection; identity shortcut when the shape is kept.</summary>
    public sealed class InvertedResidual : Module<Tensor, Tensor>
    {
        private readonly Sequential conv;
        private readonly bool _residual;

        public InvertedResidual(int input, int output, int stride, int expansion)
        {
            var hidden = input * expansion;
            conv = new Sequential(
                new Conv2d(input, hidden, 1, bias: false), new BatchNorm2d(hidden), new ReLU(inplace: true),
                new Conv2d(hidden, hidden, 3, stride: stride, padding: 1, groups: hidden, bias: false), new BatchNorm2d(hidden), new ReLU(inplace: true),
                new Conv2d(hidden, output, 1, bias: false), new BatchNorm2d(output));
            _residual = stride == 1 && input == output;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => _residual ? conv.call(x).add_(x) : conv.call(x);
    }
}
