namespace Distill.Detection.Boxes;

/// <summary>
/// torchvision's <c>BoxCoder</c>: encodes a box relative to a reference box as
/// (wx·dx/w, wy·dy/h, ww·log(w'/w), wh·log(h'/h)) of the centres and sizes, and decodes such codes back,
/// with the same operation order (so results agree bit for bit on the same libtorch). Boxes are
/// (x1, y1, x2, y2). The RPN uses weights (1, 1, 1, 1), the box head (10, 10, 5, 5).
/// </summary>
public sealed class BoxCoder
{
    /// <param name="weights">The weights (wx, wy, ww, wh).</param>
    /// <param name="bbox_xform_clip">The largest log-scale applied when decoding (torchvision: log(1000/16)).</param>
    public BoxCoder((double wx, double wy, double ww, double wh) weights, double? bbox_xform_clip = null)
    {
        this.weights = weights;
        this.bbox_xform_clip = bbox_xform_clip ?? Math.Log(1000.0 / 16);
    }

    public (double wx, double wy, double ww, double wh) weights { get; }
    public double bbox_xform_clip { get; }

    /// <summary>
    /// The regression targets [K, 4] that move each of <paramref name="proposals"/> [K, 4] onto the matching row of
    /// <paramref name="reference_boxes"/> [K, 4] (torchvision's <c>encode_single</c>).
    /// </summary>
    public Tensor encode_single(Tensor reference_boxes, Tensor proposals)
    {
        using var scope = torch.NewDisposeScope();
        var (wx, wy, ww, wh) = weights;
        var p = proposals.to(reference_boxes.dtype).unbind(1);
        var r = reference_boxes.unbind(1);
        var exW = p[2] - p[0];
        var exH = p[3] - p[1];
        var exX = p[0] + exW * 0.5;
        var exY = p[1] + exH * 0.5;
        var gtW = r[2] - r[0];
        var gtH = r[3] - r[1];
        var gtX = r[0] + gtW * 0.5;
        var gtY = r[1] + gtH * 0.5;
        var dx = (gtX - exX).mul(wx).div(exW);
        var dy = (gtY - exY).mul(wy).div(exH);
        var dw = (gtW / exW).log().mul(ww);
        var dh = (gtH / exH).log().mul(wh);
        return scope.MoveToOuter(torch.stack([dx, dy, dw, dh], 1));
    }

    /// <summary>
    /// Decodes <paramref name="rel_codes"/> [K, 4·C] against <paramref name="boxes"/> [K, 4]: [K, 4·C] boxes, C per
    /// reference box (torchvision's <c>decode_single</c>; dw and dh are clipped at <see cref="bbox_xform_clip"/>).
    /// </summary>
    public Tensor decode_single(Tensor rel_codes, Tensor boxes)
    {
        using var scope = torch.NewDisposeScope();
        var (wx, wy, ww, wh) = weights;
        var b = boxes.to(rel_codes.dtype).unbind(1);
        var widths = b[2] - b[0];
        var heights = b[3] - b[1];
        var ctrX = (b[0] + widths * 0.5).unsqueeze(1);
        var ctrY = (b[1] + heights * 0.5).unsqueeze(1);
        widths = widths.unsqueeze(1);
        heights = heights.unsqueeze(1);
        var k = rel_codes.shape[0];
        var codes = rel_codes.reshape(k, rel_codes.shape[1] / 4, 4);
        var dx = codes.select(2, 0) / wx;
        var dy = codes.select(2, 1) / wy;
        var dw = (codes.select(2, 2) / ww).clamp_max(bbox_xform_clip);
        var dh = (codes.select(2, 3) / wh).clamp_max(bbox_xform_clip);
        var predX = dx * widths + ctrX;
        var predY = dy * heights + ctrY;
        var halfW = dw.exp().mul(widths).mul(0.5);
        var halfH = dh.exp().mul(heights).mul(0.5);
        var pred = torch.stack([predX - halfW, predY - halfH, predX + halfW, predY + halfH], 2).flatten(1);
        return scope.MoveToOuter(pred);
    }

    /// <summary>Decodes codes [K, 4·C] for the concatenated reference boxes of several images: [K, C, 4].</summary>
    public Tensor decode(Tensor rel_codes, IReadOnlyList<Tensor> boxes)
    {
        using var scope = torch.NewDisposeScope();
        var concat = boxes.Count == 1 ? boxes[0] : torch.cat(boxes, 0);
        var k = concat.shape[0];
        var pred = decode_single(k > 0 ? rel_codes.reshape(k, -1) : rel_codes, concat);
        return scope.MoveToOuter(k > 0 ? pred.reshape(k, -1, 4) : pred.reshape(0, rel_codes.shape[^1] / 4, 4));
    }
}
