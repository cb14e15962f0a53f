namespace Distill.Detection.Backbones;

/// <summary>
/// torchvision's ResNet as a detection body (<c>IntermediateLayerGetter(resnet, {"layer1": "0", ..., "layer4": "3"})</c>):
/// conv1, bn1, relu, maxpool, layer1..layer4 built from <see cref="ResNet.BasicBlock"/>/<see cref="ResNet.Bottleneck"/>
/// of <c>Distill.Models</c> with <see cref="FrozenBatchNorm2d"/> (torchvision's choice for detection), without avgpool and fc,
/// so the names are torchvision's (<c>backbone.body.layer1.0.conv1.weight</c>, <c>backbone.body.bn1.running_var</c>, ...).
/// <paramref name="trainable_layers"/> (0..5) keeps the last layers trainable as torchvision's
/// <c>_resnet_fpn_extractor</c> does: layer4, layer3, layer2, layer1, conv1 (5 also bn1, which is frozen anyway).
/// </summary>
public sealed class ResNetBody : Module, IFeatureBody
{
    private readonly Conv2d conv1;
    private readonly FrozenBatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1;
    private readonly Sequential layer2;
    private readonly Sequential layer3;
    private readonly Sequential? layer4;
    private int _inplanes = 64;

    /// <param name="stages">4 (conv1..layer4, the FPN bodies) or 3 (conv1..layer3: the C4 body, whose layer4 is the box head).</param>
    public ResNetBody(int depth, int trainable_layers = 3, int stages = 4)
    {
        var blocks = BlocksOf(depth);
        if (trainable_layers < 0 || trainable_layers > 5)
            throw new ArgumentOutOfRangeException(nameof(trainable_layers), trainable_layers, "Trainable layers should be in the range [0,5]");
        Depth = depth;
        Expansion = depth < 50 ? 1 : 4;
        conv1 = new Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false);
        bn1 = new FrozenBatchNorm2d(64);
        relu = new ReLU(inplace: true);
        maxpool = new MaxPool2d(3, stride: 2, padding: 1);
        layer1 = Layer(64, blocks[0], 1);
        layer2 = Layer(128, blocks[1], 2);
        layer3 = Layer(256, blocks[2], 2);
        if (stages is not (3 or 4)) throw new ArgumentOutOfRangeException(nameof(stages), stages, "a ResNet body has 3 or 4 stages");
        layer4 = stages == 4 ? Layer(512, blocks[3], 2) : null;
        Blocks = blocks;
        RegisterComponents();
        foreach (var m in modules())
            if (m is Conv2d conv) torch.nn.init.kaiming_normal_(conv.weight, mode: "fan_out", nonlinearity: "relu");
        string[] train = ["layer4", "layer3", "layer2", "layer1", "conv1"];
        var trainable = train.Take(trainable_layers).ToList();
        if (trainable_layers == 5) trainable.Add("bn1");
        foreach (var (name, p) in named_parameters())
            if (!trainable.Any(t => name.StartsWith(t, StringComparison.Ordinal))) p.requires_grad = false;
        stage_channels = new long[] { 64 * Expansion, 128 * Expansion, 256 * Expansion, 512 * Expansion }.Take(stages).ToArray();
    }

    /// <summary>The depth a backbone name such as <c>resnet50</c> names (torchvision's 18, 34, 50, 101, 152), or null.</summary>
    public static int? DepthOf(string backbone) => backbone switch
    {
        "resnet18" => 18,
        "resnet34" => 34,
        "resnet50" => 50,
        "resnet101" => 101,
        "resnet152" => 152,
        _ => null,
    };

    private static int[] BlocksOf(int depth) => depth switch
    {
        18 => [2, 2, 2, 2],
        34 => [3, 4, 6, 3],
        50 => [3, 4, 6, 3],
        101 => [3, 4, 23, 3],
        152 => [3, 8, 36, 3],
        _ => throw new ArgumentOutOfRangeException(nameof(depth), depth, "torchvision's ResNet has depth 18, 34, 50, 101 or 152"),
    };

    /// <summary>Blocks per layer (torchvision's layout for the depth).</summary>
    public int[] Blocks { get; }

    /// <summary>torchvision's layer4 of this depth (stride 2, frozen batch norm) on its own: the C4 model's box head.</summary>
    public static Sequential MakeLayer4(int depth)
    {
        var blocks = BlocksOf(depth);
        var expansion = depth < 50 ? 1 : 4;
        var inplanes = 256 * expansion;
        Func<long, Module<Tensor, Tensor>> norm = c => new FrozenBatchNorm2d(c);
        var output = 512 * expansion;
        var downsample = new Sequential(new Conv2d(inplanes, output, 1, stride: 2, bias: false), new FrozenBatchNorm2d(output));
        var layer = new Sequential();
        for (var b = 0; b < blocks[3]; b++)
        {
            layer.append(expansion == 1
                ? new ResNet.BasicBlock(inplanes, 512, b == 0 ? 2 : 1, b == 0 ? downsample : null, norm)
                : new ResNet.Bottleneck(inplanes, 512, b == 0 ? 2 : 1, b == 0 ? downsample : null, norm));
            inplanes = output;
        }
        foreach (var m in layer.modules())
            if (m is Conv2d conv) torch.nn.init.kaiming_normal_(conv.weight, mode: "fan_out", nonlinearity: "relu");
        return layer;
    }

    public int Depth { get; }
    public int Expansion { get; }
    public IReadOnlyList<long> stage_channels { get; }

    private Sequential Layer(int planes, int count, int stride)
    {
        var output = planes * Expansion;
        Func<long, Module<Tensor, Tensor>> norm = c => new FrozenBatchNorm2d(c);
        Sequential? downsample = null;
        if (stride != 1 || _inplanes != output)
            downsample = new Sequential(new Conv2d(_inplanes, output, 1, stride: stride, bias: false), new FrozenBatchNorm2d(output));
        var layer = new Sequential();
        for (var b = 0; b < count; b++)
        {
            layer.append(Expansion == 1
                ? new ResNet.BasicBlock(_inplanes, planes, b == 0 ? stride : 1, b == 0 ? downsample : null, norm)
                : new ResNet.Bottleneck(_inplanes, planes, b == 0 ? stride : 1, b == 0 ? downsample : null, norm));
            _inplanes = output;
        }
        return layer;
    }

    public Tensor[] forward_stages(Tensor x)
    {
        Sequential[] layers = layer4 is null ? [layer1, layer2, layer3] : [layer1, layer2, layer3, layer4];
        var outputs = new Tensor[layers.Length];
        using var outer = torch.NewDisposeScope();
        Tensor current;
        using (var scope = torch.NewDisposeScope())
            current = scope.MoveToOuter(maxpool.call(relu.call(bn1.call(conv1.call(x)))));
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
}
