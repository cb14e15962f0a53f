using F = Distill.Torch.torch.nn.functional;

namespace Distill.Models;

/// <summary>
/// The Wide ResNet of the CRD/DKD benchmarks (RepDistiller's <c>models/wrn.py</c>, WRN-depth-k): a 3×3
/// stem convolution to 16 channels, three groups of (depth − 4)/6 pre-activation blocks with 16k, 32k
/// and 64k channels (strides 1, 2, 2; a 1×1 convolution shortcut where the shape changes; dropout
/// between the two convolutions), then bn1, ReLU, global average pooling and fc. Module names are
/// CRD's (conv1, block1.layer.0.bn1, ..., convShortcut, bn1, fc), so its state_dicts load strictly.
/// <para>
/// Taps follow CRD/DKD's feature lists: stem = conv1's output; stageK = group K's output (the
/// residual sum; in a pre-activation network nothing follows it inside the group); pre_stageK = that
/// output after the batch norm that precedes the next ReLU (the next group's first bn1, or bn1 for
/// stage 3: DKD's <c>preact_feats</c>, CRD's features with <c>preact=True</c>). The forward pass
/// shares this batch norm with the next block instead of running it twice.
/// </para>
/// </summary>
[DistillModel(Task = "classification", Input = "N,3,H,W")]
[Tap("stem", TensorKind.FeatureMap, "N, 16, H, W")]
[Tap("stage1", TensorKind.FeatureMap, "N, 16*widen_factor, H, W")]
[Tap("stage2", TensorKind.FeatureMap, "N, 32*widen_factor, (H+1)/2, (W+1)/2")]
[Tap("stage3", TensorKind.FeatureMap, "N, 64*widen_factor, (H+3)/4, (W+3)/4")]
[Tap("pre_stage1", TensorKind.FeatureMap, "N, 16*widen_factor, H, W", Description = "stage 1 after the batch norm before its ReLU")]
[Tap("pre_stage2", TensorKind.FeatureMap, "N, 32*widen_factor, (H+1)/2, (W+1)/2", Description = "stage 2 after the batch norm before its ReLU")]
[Tap("pre_stage3", TensorKind.FeatureMap, "N, 64*widen_factor, (H+3)/4, (W+3)/4", Description = "stage 3 after the batch norm before its ReLU")]
[Tap("pooled", TensorKind.Embedding, "N, 64*widen_factor")]
[Tap("logits", TensorKind.Logits, "N, classes")]
public sealed partial class WideResNet : TappedModel<WideResNet.Taps, WideResNet.Outputs>
{
    private readonly Conv2d conv1;
    private readonly NetworkBlock block1;
    private readonly NetworkBlock block2;
    private readonly NetworkBlock block3;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly AdaptiveAvgPool2d avgpool;
    private readonly Linear fc;

    /// <param name="depth">6n + 4 layers (16, 28, 40, ...): n blocks per group.</param>
    /// <param name="widen_factor">The width multiplier k: groups have 16k, 32k and 64k channels.</param>
    /// <param name="classes">Number of classes.</param>
    /// <param name="dropout">Dropout probability between a block's two convolutions (CRD's dropRate).</param>
    public WideResNet(int depth, int widen_factor = 1, int classes = 100, double dropout = 0.0)
    {
        if (depth < 10 || (depth - 4) % 6 != 0)
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "a Wide ResNet has depth 6n + 4 with n >= 1 (10, 16, 28, 40)");
        CifarResNet.Positive(widen_factor, nameof(widen_factor));
        CifarResNet.Positive(classes, nameof(classes));
        if (!(dropout >= 0 && dropout < 1)) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "dropout must be in [0, 1)");
        Depth = depth;
        WidenFactor = widen_factor;
        Classes = classes;
        Dropout = dropout;

        var n = (depth - 4) / 6;
        var k = widen_factor;
        conv1 = new Conv2d(3, 16, 3, padding: 1, bias: false);
        block1 = new NetworkBlock(n, 16, 16 * k, 1, dropout);
        block2 = new NetworkBlock(n, 16 * k, 32 * k, 2, dropout);
        block3 = new NetworkBlock(n, 32 * k, 64 * k, 2, dropout);
        bn1 = new BatchNorm2d(64 * k);
        relu = new ReLU(inplace: true);
        avgpool = new AdaptiveAvgPool2d(1);
        fc = new Linear(64 * k, classes);
        RegisterComponents();
        // CRD's initialisation: N(0, 2/(k·k·out)) convolutions (He-normal, fan_out), unit batch-norm scale, zero Linear bias.
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
                    torch.nn.init.zeros_(linear.bias!);
                    break;
            }
        });
    }

    public int Depth { get; }
    public int WidenFactor { get; }
    public int Classes { get; }
    public double Dropout { get; }

    public static WideResNet wrn_16_1(int classes = 100) => new(16, 1, classes);
    public static WideResNet wrn_16_2(int classes = 100) => new(16, 2, classes);
    public static WideResNet wrn_40_1(int classes = 100) => new(40, 1, classes);
    public static WideResNet wrn_40_2(int classes = 100) => new(40, 2, classes);

    protected override void Forward(TapPass<Taps> pass)
    {
        pass.Step(conv1.call);
        pass.Tap(Taps.Stem);
        if (pass.Done) return;
        foreach (var block in block1.layer) pass.Step(block.call);
        pass.Tap(Taps.Stage1);
        if (pass.Done) return;
        if (RunGroup(pass, block2, Taps.PreStage1, Taps.Stage2)) return;
        if (RunGroup(pass, block3, Taps.PreStage2, Taps.Stage3)) return;
        pass.Step(bn1.call);
        pass.Tap(Taps.PreStage3);
        if (pass.Done) return;
        pass.Relu();
        pass.Step(x => avgpool.call(x).flatten(1));
        pass.Tap(Taps.Pooled);
        if (pass.Done) return;
        pass.Step(fc.call);
        pass.Tap(Taps.Logits);
    }

    /// <summary>
    /// Runs a group whose first block changes the width: that block's bn1 output is the previous
    /// stage's pre-activation tap, its ReLU is the previous stage's activation. True when the pass is done.
    /// </summary>
    private static bool RunGroup(TapPass<Taps> pass, NetworkBlock group, Taps previousPreActivation, Taps output)
    {
        var first = (BasicBlock)group.layer[0];
        pass.Step(first.bn1.call);
        pass.Tap(previousPreActivation);
        if (pass.Done) return true;
        pass.Relu();
        pass.Step(first.forward_activated);
        for (var b = 1; b < group.layer.Count; b++) pass.Step(group.layer[b].call);
        pass.Tap(output);
        return pass.Done;
    }

    /// <summary>CRD's NetworkBlock: a Sequential named <c>layer</c> of blocks.</summary>
    public sealed class NetworkBlock : Module<Tensor, Tensor>
    {
        public NetworkBlock(int blocks, int input, int output, int stride, double dropout)
        {
            layer = new Sequential();
            for (var i = 0; i < blocks; i++)
                layer.append(new BasicBlock(i == 0 ? input : output, output, i == 0 ? stride : 1, dropout));
            RegisterComponents();
        }

        public Sequential layer { get; }

        public override Tensor forward(Tensor x) => layer.call(x);
    }

    /// <summary>
    /// CRD's pre-activation block: a = relu1(bn1(x)); y = conv2(dropout(relu2(bn2(conv1(a))))); the
    /// output is x + y when the shape is kept, convShortcut(a) + y otherwise.
    /// </summary>
    public sealed class BasicBlock : Module<Tensor, Tensor>
    {
        // Declaration order is registration order (CRD's: bn1, relu1, conv1, bn2, relu2, conv2, convShortcut).
        /// <summary>The batch norm that opens the block (for a width-changing block, it also serves as the previous stage's pre-activation).</summary>
        public BatchNorm2d bn1 { get; }
        private readonly ReLU relu1;
        private readonly Conv2d conv1;
        private readonly BatchNorm2d bn2;
        private readonly ReLU relu2;
        private readonly Conv2d conv2;
        private readonly Conv2d? convShortcut;
        private readonly double _dropout;

        public BasicBlock(int input, int output, int stride, double dropout)
        {
            bn1 = new BatchNorm2d(input);
            relu1 = new ReLU(inplace: true);
            conv1 = new Conv2d(input, output, 3, stride: stride, padding: 1, bias: false);
            bn2 = new BatchNorm2d(output);
            relu2 = new ReLU(inplace: true);
            conv2 = new Conv2d(output, output, 3, padding: 1, bias: false);
            if (input != output) convShortcut = new Conv2d(input, output, 1, stride: stride, bias: false);
            _dropout = dropout;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var a = relu1.call(bn1.call(x));
            return convShortcut is null ? Body(a).add_(x) : forward_activated(a);
        }

        /// <summary>The rest of a width-changing block given a = relu1(bn1(x)).</summary>
        public Tensor forward_activated(Tensor a)
        {
            if (convShortcut is null) throw new InvalidOperationException("forward_activated is for blocks with a convolution shortcut");
            return Body(a).add_(convShortcut.call(a));
        }

        private Tensor Body(Tensor a)
        {
            var y = relu2.call(bn2.call(conv1.call(a)));
            if (_dropout > 0) y = F.dropout(y, _dropout, training);
            return conv2.call(y);
        }
    }
}
