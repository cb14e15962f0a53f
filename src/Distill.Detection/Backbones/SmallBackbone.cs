namespace Distill.Detection.Backbones;

/// <summary>
/// A CPU-scale ResNet-like body with four stages at strides 4, 8, 16, 32 and <c>width·2^(k−1)</c> channels
/// (stage k): a 3×3 stride-2 stem (<c>conv1</c>, <c>gn1</c>), then per stage one residual block whose first 3×3
/// convolution has stride 2 (<c>layerK.conv1/gn1/conv2/gn2</c>, shortcut <c>layerK.downsample.0/1</c>).
/// <para>
/// Normalisation is <see cref="GroupNorm"/>, not batch norm: detectors train on a few images per batch, where
/// batch statistics are noisy, and group norm behaves the same in training and evaluation (Wu &amp; He, 2018); it
/// is also what makes a from-scratch detector train at this scale. Groups: the largest divisor of the channel count
/// that is at most 32 and leaves at least 4 channels per group.
/// </para>
/// </summary>
public sealed class SmallBackbone : Module, IFeatureBody
{
    private readonly Conv2d conv1;
    private readonly GroupNorm gn1;
    private readonly SmallBlock layer1;
    private readonly SmallBlock layer2;
    private readonly SmallBlock layer3;
    private readonly SmallBlock? layer4;

    /// <param name="stages">4, or 3 for a C4 body (its stage 4 is then <see cref="SmallBlock"/>(4·width, 8·width) in the box head).</param>
    public SmallBackbone(int width = 32, int stages = 4)
    {
        if (stages is not (3 or 4)) throw new ArgumentOutOfRangeException(nameof(stages), stages, "the small backbone has 3 or 4 stages");
        if (width < 4) throw new ArgumentOutOfRangeException(nameof(width), width, "the small backbone's width must be at least 4");
        Width = width;
        conv1 = new Conv2d(3, width, 3, stride: 2, padding: 1, bias: false);
        gn1 = Norm(width);
        layer1 = new SmallBlock(width, width);
        layer2 = new SmallBlock(width, 2 * width);
        layer3 = new SmallBlock(2 * width, 4 * width);
        layer4 = stages == 4 ? new SmallBlock(4 * width, 8 * width) : null;
        RegisterComponents();
        foreach (var m in modules())
            if (m is Conv2d conv) torch.nn.init.kaiming_normal_(conv.weight, mode: "fan_out", nonlinearity: "relu");
        stage_channels = new long[] { width, 2L * width, 4L * width, 8L * width }.Take(stages).ToArray();
    }

    public int Width { get; }
    public IReadOnlyList<long> stage_channels { get; }

    internal static GroupNorm Norm(long channels)
    {
        var g = 32L;
        while (g > 1 && (channels % g != 0 || channels / g < 4)) g--;
        return new GroupNorm(g, channels);
    }

    public Tensor[] forward_stages(Tensor x)
    {
        SmallBlock[] layers = layer4 is null ? [layer1, layer2, layer3] : [layer1, layer2, layer3, layer4];
        var outputs = new Tensor[layers.Length];
        using var outer = torch.NewDisposeScope();
        Tensor current;
        using (var scope = torch.NewDisposeScope())
            current = scope.MoveToOuter(gn1.call(conv1.call(x)).relu_());
        for (var k = 0; k < layers.Length; k++)
        {
            var previous = current;
            using (var scope = torch.NewDisposeScope())
                current = scope.MoveToOuter(layers[k].call(previous));
            if (k == 0) previous.Dispose();
            outputs[k] = current;
        }
        outer.MoveToOuter(outputs);
        return outputs;
    }

    /// <summary>relu(gn2(conv2(relu(gn1(conv1 x)))) + downsample(x)), the first convolution at stride 2.</summary>
    public sealed class SmallBlock : Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1;
        private readonly GroupNorm gn1;
        private readonly Conv2d conv2;
        private readonly GroupNorm gn2;
        private readonly Sequential downsample;

        public SmallBlock(long inplanes, long planes)
        {
            conv1 = new Conv2d(inplanes, planes, 3, stride: 2, padding: 1, bias: false);
            gn1 = Norm(planes);
            conv2 = new Conv2d(planes, planes, 3, padding: 1, bias: false);
            gn2 = Norm(planes);
            downsample = new Sequential(new Conv2d(inplanes, planes, 1, stride: 2, bias: false), Norm(planes));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            var y = gn1.call(conv1.call(x)).relu_();
            y = gn2.call(conv2.call(y));
            return scope.MoveToOuter(y.add_(downsample.call(x)).relu_());
        }
    }
}
