using Distill.Torch.Modules;

namespace Distill.Torch.Tests.Models;

/// <summary>
/// torchvision's ResNet with its module names (conv1, bn1, relu, maxpool, layer1..4 of BasicBlocks
/// with conv1/bn1/conv2/bn2/downsample, avgpool, fc), so that torchvision's state_dict loads strictly.
/// </summary>
public sealed class ResNet : Module<Tensor, Tensor>
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
    private long _inplanes = 64;

    public ResNet(int[] layers, long num_classes = 1000)
    {
        conv1 = new Conv2d(3, _inplanes, 7, stride: 2, padding: 3, bias: false);
        bn1 = new BatchNorm2d(_inplanes);
        relu = new ReLU(inplace: true);
        maxpool = new MaxPool2d(3, stride: 2, padding: 1);
        layer1 = MakeLayer(64, layers[0]);
        layer2 = MakeLayer(128, layers[1], stride: 2);
        layer3 = MakeLayer(256, layers[2], stride: 2);
        layer4 = MakeLayer(512, layers[3], stride: 2);
        avgpool = new AdaptiveAvgPool2d((1, 1));
        fc = new Linear(512 * BasicBlock.expansion, num_classes);
        RegisterComponents();
        // torchvision's initialisation: He-normal convolutions (fan_out), unit batch-norm scale.
        apply(m =>
        {
            if (m is Conv2d conv) torch.nn.init.kaiming_normal_(conv.weight, mode: "fan_out", nonlinearity: "relu");
            else if (m is BatchNorm2d bn)
            {
                torch.nn.init.constant_(bn.weight!, 1);
                torch.nn.init.constant_(bn.bias!, 0);
            }
        });
    }

    /// <summary>torchvision.models.resnet18.</summary>
    public static ResNet resnet18(long num_classes = 1000) => new([2, 2, 2, 2], num_classes);

    private Sequential MakeLayer(long planes, int blocks, long stride = 1)
    {
        Sequential? downsample = null;
        if (stride != 1 || _inplanes != planes * BasicBlock.expansion)
            downsample = new Sequential(
                new Conv2d(_inplanes, planes * BasicBlock.expansion, 1, stride: stride, bias: false),
                new BatchNorm2d(planes * BasicBlock.expansion));
        var layer = new Sequential(new BasicBlock(_inplanes, planes, stride, downsample));
        _inplanes = planes * BasicBlock.expansion;
        for (var k = 1; k < blocks; k++) layer.append(new BasicBlock(_inplanes, planes));
        return layer;
    }

    public override Tensor forward(Tensor x)
    {
        x = maxpool.call(relu.call(bn1.call(conv1.call(x))));
        x = layer4.call(layer3.call(layer2.call(layer1.call(x))));
        return fc.call(avgpool.call(x).flatten(1));
    }
}

/// <summary>torchvision's BasicBlock: two 3×3 convolutions with batch norm and a (downsampled) shortcut.</summary>
public sealed class BasicBlock : Module<Tensor, Tensor>
{
    public const long expansion = 1;

    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;
    private readonly Sequential? downsample;

    public BasicBlock(long inplanes, long planes, long stride = 1, Sequential? downsample = null)
    {
        conv1 = new Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = new BatchNorm2d(planes);
        relu = new ReLU(inplace: true);
        conv2 = new Conv2d(planes, planes, 3, padding: 1, bias: false);
        bn2 = new BatchNorm2d(planes);
        this.downsample = downsample;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var identity = downsample is null ? x : downsample.call(x);
        var output = bn2.call(conv2.call(relu.call(bn1.call(conv1.call(x)))));
        output.add_(identity);
        return relu.call(output);
    }
}
