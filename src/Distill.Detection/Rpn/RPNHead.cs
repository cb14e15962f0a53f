namespace Distill.Detection.Rpn;

/// <summary>
/// torchvision's <c>RPNHead</c> (version 2 names): a shared 3×3 convolution + ReLU (<c>conv.0.0</c>), then per location
/// A objectness logits (<c>cls_logits</c>, 1×1) and 4·A box deltas (<c>bbox_pred</c>, 1×1), on every level. Weights
/// start normal with std 0.01, biases zero.
/// </summary>
public sealed class RPNHead : Module
{
    private readonly Sequential conv;
    private readonly Conv2d cls_logits;
    private readonly Conv2d bbox_pred;

    public RPNHead(long in_channels, long num_anchors, int conv_depth = 1)
    {
        conv = new Sequential();
        for (var i = 0; i < conv_depth; i++)
            conv.append(new Sequential(new Conv2d(in_channels, in_channels, 3, padding: 1), new ReLU(inplace: true)));
        cls_logits = new Conv2d(in_channels, num_anchors, 1);
        bbox_pred = new Conv2d(in_channels, num_anchors * 4, 1);
        RegisterComponents();
        foreach (var m in modules())
            if (m is Conv2d c)
            {
                torch.nn.init.normal_(c.weight, std: 0.01);
                torch.nn.init.zeros_(c.bias!);
            }
    }

    /// <summary>Per level: objectness [N, A, H, W] and deltas [N, 4A, H, W].</summary>
    public (Tensor[] logits, Tensor[] bbox_reg) forward(IReadOnlyList<Tensor> x)
    {
        var logits = new Tensor[x.Count];
        var reg = new Tensor[x.Count];
        for (var i = 0; i < x.Count; i++)
        {
            using var scope = torch.NewDisposeScope();
            var t = conv.call(x[i]);
            logits[i] = scope.MoveToOuter(cls_logits.call(t));
            reg[i] = scope.MoveToOuter(bbox_pred.call(t));
        }
        return (logits, reg);
    }
}
