namespace Distill.Detection.RoiHeads;

/// <summary>torchvision's <c>TwoMLPHead</c>: flatten, relu(fc6), relu(fc7).</summary>
public sealed class TwoMLPHead : Module<Tensor, Tensor>
{
    private readonly Linear fc6;
    private readonly Linear fc7;

    public TwoMLPHead(long in_channels, long representation_size)
    {
        fc6 = new Linear(in_channels, representation_size);
        fc7 = new Linear(representation_size, representation_size);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var y = fc6.call(x.flatten(1)).relu_();
        return scope.MoveToOuter(fc7.call(y).relu_());
    }
}

/// <summary>
/// torchvision's <c>FastRCNNPredictor</c>: class scores (<c>cls_score</c>, classes + 1 outputs with 0 = background) and
/// class-specific box deltas (<c>bbox_pred</c>, 4 per output class).
/// </summary>
public sealed class FastRCNNPredictor : Module
{
    private readonly Linear cls_score;
    private readonly Linear bbox_pred;

    /// <param name="num_classes">torchvision's count: foreground classes + 1 (background).</param>
    public FastRCNNPredictor(long in_channels, long num_classes)
    {
        cls_score = new Linear(in_channels, num_classes);
        bbox_pred = new Linear(in_channels, num_classes * 4);
        RegisterComponents();
    }

    public (Tensor scores, Tensor bbox_deltas) forward(Tensor x)
    {
        using var flat = x.flatten(1);
        return (cls_score.call(flat), bbox_pred.call(flat));
    }
}
