namespace Distill.Models;

/// <summary>
/// torchvision's ImageNet ResNet (<c>torchvision.models.resnet18/34/50/101/152</c>, ResNet v1.5: the
/// stride of a Bottleneck is on its 3×3 convolution) with torchvision's module names and printout, so
/// torchvision's state_dicts load strictly: conv1 (7×7, stride 2), bn1, relu, maxpool, layer1..4
/// (BasicBlocks for depth 18 and 34, Bottlenecks with expansion 4 from depth 50), avgpool, fc.
/// <para>
/// Taps: stem = the max-pool output (the input of layer1); stageK = the output of layerK;
/// pre_stageK = layerK's output before its last ReLU; pooled = the pooled features; logits.
/// Channel counts are 64·E·2^(K−1) with E = 1 for depth &lt; 50 and 4 otherwise, written
/// <c>1+3*((depth/50+2)/3)</c> in the tap shapes.
/// </para>
/// </summary>
[DistillModel(Task = "classification", Input = "N,3,H,W")]
[Tap("stem", TensorKind.FeatureMap, "N, 64, (H+3)/4, (W+3)/4")]
[Tap("stage1", TensorKind.FeatureMap, "N, 64*(1+3*((depth/50+2)/3)), (H+3)/4, (W+3)/4")]
[Tap("stage2", TensorKind.FeatureMap, "N, 128*(1+3*((depth/50+2)/3)), (H+7)/8, (W+7)/8")]
[Tap("stage3", TensorKind.FeatureMap, "N, 256*(1+3*((depth/50+2)/3)), (H+15)/16, (W+15)/16")]
[Tap("stage4", TensorKind.FeatureMap, "N, 512*(1+3*((depth/50+2)/3)), (H+31)/32, (W+31)/32")]
[Tap("pre_stage1", TensorKind.FeatureMap, "N, 64*(1+3*((depth/50+2)/3)), (H+3)/4, (W+3)/4", Description = "layer1 before its last ReLU")]
[Tap("pre_stage2", TensorKind.FeatureMap, "N, 128*(1+3*((depth/50+2)/3)), (H+7)/8, (W+7)/8", Description = "layer2 before its last ReLU")]
[Tap("pre_stage3", TensorKind.FeatureMap, "N, 256*(1+3*((depth/50+2)/3)), (H+15)/16, (W+15)/16", Description = "layer3 before its last ReLU")]
[Tap("pre_stage4", TensorKind.FeatureMap, "N, 512*(1+3*((depth/50+2)/3)), (H+31)/32, (W+31)/32", Description = "layer4 before its last ReLU")]
[Tap("pooled", TensorKind.Embedding, "N, 512*(1+3*((depth/50+2)/3))")]
[Tap("logits", TensorKind.Logits, "N, classes")]
public sealed partial class ResNet : TappedModel<ResNet.Taps, ResNet.Outputs>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential layer4;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;
    private int _inplanes = 64;

    /// <param name="depth">18 or 34 (BasicBlocks), 50, 101 or 152 (Bottlenecks).</param>
    /// <param name="classes">Number of classes (ImageNet: 1000).</param>
    public ResNet(int depth = 18, int classes = 1000)
    {
        int[] blocks = depth switch
        {
            18 => [2, 2, 2, 2],
            34 => [3, 4, 6, 3],
            50 => [3, 4, 6, 3],
            101 => [3, 4, 23, 3],
            152 => [3, 8, 36, 3],
            _ => throw new ArgumentOutOfRangeException(nameof(depth), depth, "torchvision's ResNet has depth 18, 34, 50, 101 or 152"),
        };
        CifarResNet.Positive(classes, nameof(classes));
        Depth = depth;
        Classes = classes;
        Expansion = depth < 50 ? 1 : 4;

        conv1 = new Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = new BatchNorm2d(64);
        relu = new ReLU(inplace: true);
        maxpool = new MaxPool2d(3, stride: 2, padding: 1);
        layer1 = Layer(64, blocks[0], 1);
        layer2 = Layer(128, blocks[1], 2);
        layer3 = Layer(256, blocks[2], 2);
        layer4 = Layer(512, blocks[3], 2);
        avgpool = new AdaptiveAvgPool2d((1, 1));
        fc = new Linear(512 * Expansion, classes);
        RegisterComponents();
        // torchvision's initialisation: He-normal (fan_out) convolutions, unit batch-norm scale; Linear keeps PyTorch's default.
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

    /// <summary>Output channels per planes: 1 (BasicBlock) or 4 (Bottleneck).</summary>
    public int Expansion { get; }

    public static ResNet resnet18(int classes = 1000) => new(18, classes);
    public static ResNet resnet34(int classes = 1000) => new(34, classes);
    public static ResNet resnet50(int classes = 1000) => new(50, classes);
    public static ResNet resnet101(int classes = 1000) => new(101, classes);
    public static ResNet resnet152(int classes = 1000) => new(152, classes);

    private Sequential Layer(int planes, int blocks, int stride)
    {
        var output = planes * Expansion;
        Sequential? downsample = null;
        if (stride != 1 || _inplanes != output)
            downsample = new Sequential(new Conv2d(_inplanes, output, 1, stride: stride, bias: false), new BatchNorm2d(output));
        var layer = new Sequential();
        for (var b = 0; b < blocks; b++)
        {
            layer.append(Expansion == 1
                ? new BasicBlock(_inplanes, planes, b == 0 ? stride : 1, b == 0 ? downsample : null)
                : new Bottleneck(_inplanes, planes, b == 0 ? stride : 1, b == 0 ? downsample : null));
            _inplanes = output;
        }
        return layer;
    }

    protected override void Forward(TapPass<Taps> pass)
    {
        pass.Step(x => maxpool.call(relu.call(bn1.call(conv1.call(x)))));
        pass.Tap(Taps.Stem);
        if (pass.Done) return;
        if (RunStage(pass, layer1, Taps.Stage1, Taps.PreStage1)) return;
        if (RunStage(pass, layer2, Taps.Stage2, Taps.PreStage2)) return;
        if (RunStage(pass, layer3, Taps.Stage3, Taps.PreStage3)) return;
        if (RunStage(pass, layer4, Taps.Stage4, Taps.PreStage4)) return;
        pass.Step(x => avgpool.call(x).flatten(1));
        pass.Tap(Taps.Pooled);
        if (pass.Done) return;
        pass.Step(fc.call);
        pass.Tap(Taps.Logits);
    }

    private static bool RunStage(TapPass<Taps> pass, Sequential stage, Taps output, Taps preActivation)
    {
        var last = stage.Count - 1;
        for (var b = 0; b < last; b++) pass.Step(stage[b].call);
        var block = (IResidualBlock)stage[last];
        if (pass.Wants(preActivation))
        {
            pass.Step(block.residual);
            pass.Tap(preActivation);
            pass.Relu();
        }
        else
        {
            pass.Step(stage[last].call);
        }
        pass.Tap(output);
        return pass.Done;
    }

    private interface IResidualBlock
    {
        Tensor residual(Tensor x);
    }

    /// <summary>torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + identity).</summary>
    public sealed class BasicBlock : Module<Tensor, Tensor>, IResidualBlock
    {
        public const int expansion = 1;

        private readonly Conv2d conv1;
        private readonly Module<Tensor, Tensor> bn1;
        private readonly ReLU relu;
        private readonly Conv2d conv2;
        private readonly Module<Tensor, Tensor> bn2;
        private readonly Sequential? downsample;

        /// <param name="norm_layer">torchvision's <c>norm_layer</c>: makes each normalisation layer from its channel count
        /// (default <see cref="BatchNorm2d"/>; detection backbones pass a frozen batch norm).</param>
        public BasicBlock(int inplanes, int planes, int stride = 1, Sequential? downsample = null, Func<long, Module<Tensor, Tensor>>? norm_layer = null)
        {
            norm_layer ??= c => new BatchNorm2d(c);
            conv1 = new Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false);
            bn1 = norm_layer(planes);
            relu = new ReLU(inplace: true);
            conv2 = new Conv2d(planes, planes, 3, padding: 1, bias: false);
            bn2 = norm_layer(planes);
            this.downsample = downsample;
            RegisterComponents();
        }

        /// <summary>The block's output before its final ReLU.</summary>
        public Tensor residual(Tensor x)
        {
            var y = bn2.call(conv2.call(relu.call(bn1.call(conv1.call(x)))));
            return y.add_(downsample is null ? x : downsample.call(x));
        }

        public override Tensor forward(Tensor x) => residual(x).relu_();
    }

    /// <summary>torchvision's Bottleneck (v1.5): 1×1 → 3×3 (strided) → 1×1 ×4 channels, plus identity.</summary>
    public sealed class Bottleneck : Module<Tensor, Tensor>, IResidualBlock
    {
        public const int expansion = 4;

        private readonly Conv2d conv1;
        private readonly Module<Tensor, Tensor> bn1;
        private readonly Conv2d conv2;
        private readonly Module<Tensor, Tensor> bn2;
        private readonly Conv2d conv3;
        private readonly Module<Tensor, Tensor> bn3;
        private readonly ReLU relu;
        private readonly Sequential? downsample;

        /// <param name="norm_layer">torchvision's <c>norm_layer</c>: makes each normalisation layer from its channel count
        /// (default <see cref="BatchNorm2d"/>; detection backbones pass a frozen batch norm).</param>
        public Bottleneck(int inplanes, int planes, int stride = 1, Sequential? downsample = null, Func<long, Module<Tensor, Tensor>>? norm_layer = null)
        {
            norm_layer ??= c => new BatchNorm2d(c);
            conv1 = new Conv2d(inplanes, planes, 1, bias: false);
            bn1 = norm_layer(planes);
            conv2 = new Conv2d(planes, planes, 3, stride: stride, padding: 1, bias: false);
            bn2 = norm_layer(planes);
            conv3 = new Conv2d(planes, planes * expansion, 1, bias: false);
            bn3 = norm_layer(planes * expansion);
            relu = new ReLU(inplace: true);
            this.downsample = downsample;
            RegisterComponents();
        }

        /// <summary>The block's output before its final ReLU.</summary>
        public Tensor residual(Tensor x)
        {
            var y = relu.call(bn1.call(conv1.call(x)));
            y = relu.call(bn2.call(conv2.call(y)));
            y = bn3.call(conv3.call(y));
            return y.add_(downsample is null ? x : downsample.call(x));
        }

        public override Tensor forward(Tensor x) => residual(x).relu_();
    }
}
