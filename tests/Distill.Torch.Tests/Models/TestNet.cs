using Distill.Torch.Modules;

namespace Distill.Torch.Tests.Models;

/// <summary>
/// The nested model of tests/fixtures/python/make_modules.py, declared with fields and
/// <see cref="Module.RegisterComponents"/> so that registration order gives PyTorch's state_dict order.
/// </summary>
public sealed class Net : Module<Tensor, Tensor>
{
    private readonly Sequential stem = new(new Conv2d(3, 8, 3, stride: 2, padding: 1), new BatchNorm2d(8), new ReLU(inplace: true));
    private readonly ModuleList<Block> blocks = new(new Block(8), new Block(8));
    private readonly GroupNorm norm = new(2, 8);
    private readonly AdaptiveAvgPool2d pool = new(1);
    private readonly Flatten flatten = new();
    public readonly Dropout drop = new(0.25);
    private readonly ModuleDict<Module<Tensor, Tensor>> heads = new(
        ("cls", new Linear(8, 5)),
        ("proj", new Sequential(new Linear(8, 6), new LayerNorm(6))));
    private readonly Tensor scale = torch.ones([1]);
    private readonly Tensor step = torch.zeros([2]);
    private readonly Parameter temperature = ScalarParameter(2.0f);

    public Net()
    {
        RegisterComponents();
        // Replacing a registration keeps its position: "step" stays after "scale", now non-persistent.
        register_buffer("step", step, persistent: false);
    }

    private static Parameter ScalarParameter(float value)
    {
        using var data = torch.tensor(value);
        return new Parameter(data);
    }

    public override Tensor forward(Tensor x)
    {
        var h = stem.call(x);
        foreach (var block in blocks) h = block.call(h);
        h = drop.call(flatten.call(pool.call(norm.call(h))));
        return heads["cls"].call(h) * temperature + heads["proj"].call(h).sum(-1, keepdim: true) * scale;
    }
}

/// <summary>A residual block: conv-bn-relu-conv-bn, plus the input, then relu.</summary>
public sealed class Block : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly ReLU relu;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn2;

    public Block(long channels)
    {
        conv1 = new Conv2d(channels, channels, 3, padding: 1, bias: false);
        bn1 = new BatchNorm2d(channels);
        relu = new ReLU(inplace: true);
        conv2 = new Conv2d(channels, channels, 3, padding: 1, bias: false);
        bn2 = new BatchNorm2d(channels);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = relu.call(bn1.call(conv1.call(x)));
        return relu.call(bn2.call(conv2.call(h)) + x);
    }
}
