namespace Distill.Detection.Retina;

/// <summary>
/// torchvision's <c>RetinaNetClassificationHead</c> (version 2 names): four 3×3 convolutions + ReLU (<c>conv.i.0</c>), then
/// <c>cls_logits</c> (3×3, A·C outputs), its bias at the prior −log((1 − π)/π), π = 0.01; outputs [N, H·W·A, C] per level,
/// levels concatenated.
/// </summary>
public sealed class RetinaNetClassificationHead : Module
{
    private readonly Sequential conv;
    private readonly Conv2d cls_logits;

    public RetinaNetClassificationHead(long in_channels, long num_anchors, long num_classes, double prior_probability = 0.01)
    {
        conv = RetinaNetHead.Tower(in_channels);
        cls_logits = new Conv2d(in_channels, num_anchors * num_classes, 3, padding: 1);
        torch.nn.init.normal_(cls_logits.weight, std: 0.01);
        torch.nn.init.constant_(cls_logits.bias!, -Math.Log((1 - prior_probability) / prior_probability));
        this.num_classes = num_classes;
        RegisterComponents();
    }

    public long num_classes { get; }

    public Tensor forward(IReadOnlyList<Tensor> x) => RetinaNetHead.Run(x, conv, cls_logits, num_classes);
}

/// <summary>torchvision's <c>RetinaNetRegressionHead</c>: four 3×3 convolutions + ReLU, then <c>bbox_reg</c> (A·4); [N, H·W·A, 4].</summary>
public sealed class RetinaNetRegressionHead : Module
{
    private readonly Sequential conv;
    private readonly Conv2d bbox_reg;

    public RetinaNetRegressionHead(long in_channels, long num_anchors)
    {
        conv = RetinaNetHead.Tower(in_channels);
        bbox_reg = new Conv2d(in_channels, num_anchors * 4, 3, padding: 1);
        torch.nn.init.normal_(bbox_reg.weight, std: 0.01);
        torch.nn.init.zeros_(bbox_reg.bias!);
        RegisterComponents();
    }

    public Tensor forward(IReadOnlyList<Tensor> x) => RetinaNetHead.Run(x, conv, bbox_reg, 4);
}

/// <summary>torchvision's <c>RetinaNetHead</c>: <c>classification_head</c> and <c>regression_head</c>.</summary>
public sealed class RetinaNetHead : Module
{
    private readonly RetinaNetClassificationHead classification_head;
    private readonly RetinaNetRegressionHead regression_head;

    public RetinaNetHead(long in_channels, long num_anchors, long num_classes)
    {
        classification_head = new RetinaNetClassificationHead(in_channels, num_anchors, num_classes);
        regression_head = new RetinaNetRegressionHead(in_channels, num_anchors);
        RegisterComponents();
    }

    public RetinaNetClassificationHead ClassificationHead => classification_head;
    public RetinaNetRegressionHead RegressionHead => regression_head;

    internal static Sequential Tower(long channels)
    {
        var tower = new Sequential();
        for (var i = 0; i < 4; i++)
        {
            var c = new Conv2d(channels, channels, 3, padding: 1);
            torch.nn.init.normal_(c.weight, std: 0.01);
            torch.nn.init.zeros_(c.bias!);
            tower.append(new Sequential(c, new ReLU(inplace: true)));
        }
        return tower;
    }

    internal static Tensor Run(IReadOnlyList<Tensor> x, Sequential tower, Conv2d last, long k)
    {
        using var scope = torch.NewDisposeScope();
        var parts = new List<Tensor>();
        foreach (var f in x)
        {
            var y = last.call(tower.call(f));
            var s = y.shape;
            parts.Add(y.view(s[0], -1, k, s[2], s[3]).permute(0, 3, 4, 1, 2).reshape(s[0], -1, k));
        }
        return scope.MoveToOuter(torch.cat(parts, 1));
    }
}
