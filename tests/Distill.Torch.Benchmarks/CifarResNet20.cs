using Distill.Torch.Modules;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Benchmarks;

/// <summary>
/// ResNet-20 for 32×32 inputs (16-32-64 channels, three BasicBlocks per stage, 1×1-conv shortcuts as
/// in the CRD benchmark code), written with the binding exactly as tests/benchmarks/torch_engine_bench.py
/// writes it in PyTorch, so the two sides run the same ops.
/// </summary>
internal sealed class CifarResNet20 : Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Sequential layer1, layer2, layer3;
    private readonly Linear fc;

    public CifarResNet20(int classes = 100)
    {
        conv1 = torch.nn.Conv2d(3, 16, 3, stride: 1, padding: 1, bias: false);
        bn1 = torch.nn.BatchNorm2d(16);
        layer1 = Stage(16, 16, 1);
        layer2 = Stage(16, 32, 2);
        layer3 = Stage(32, 64, 2);
        fc = torch.nn.Linear(64, classes);
        RegisterComponents();
    }

    private static Sequential Stage(long cin, long cout, long stride) =>
        torch.nn.Sequential(new BasicBlock(cin, cout, stride), new BasicBlock(cout, cout, 1), new BasicBlock(cout, cout, 1));

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = relu(bn1.call(conv1.call(x)));
        h = layer3.call(layer2.call(layer1.call(h)));
        h = adaptive_avg_pool2d(h, 1).flatten(1);
        return scope.MoveToOuter(fc.call(h));
    }

    private sealed class BasicBlock : Module<Tensor, Tensor>
    {
        private readonly Conv2d conv1, conv2;
        private readonly BatchNorm2d bn1, bn2;
        private readonly Sequential? downsample;

        public BasicBlock(long cin, long cout, long stride)
        {
            conv1 = torch.nn.Conv2d(cin, cout, 3, stride: stride, padding: 1, bias: false);
            bn1 = torch.nn.BatchNorm2d(cout);
            conv2 = torch.nn.Conv2d(cout, cout, 3, stride: 1, padding: 1, bias: false);
            bn2 = torch.nn.BatchNorm2d(cout);
            if (stride != 1 || cin != cout)
                downsample = torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride: stride, bias: false), torch.nn.BatchNorm2d(cout));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            var h = relu(bn1.call(conv1.call(x)));
            h = bn2.call(conv2.call(h));
            var identity = downsample is null ? x : downsample.call(x);
            return scope.MoveToOuter(relu(h + identity));
        }
    }
}
