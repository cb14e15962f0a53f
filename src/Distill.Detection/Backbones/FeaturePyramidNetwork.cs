using F = Distill.Torch.torch.nn.functional;

namespace Distill.Detection.Backbones;

/// <summary>
/// torchvision's <c>FeaturePyramidNetwork</c> (no normalisation): a 1×1 lateral convolution per input level
/// (<c>inner_blocks.i.0</c>) and a 3×3 output convolution (<c>layer_blocks.i.0</c>); top-down, each coarser inner
/// result is upsampled (nearest) to the next level's size and added; then the extra block appends levels.
/// Convolutions start as torchvision's (Kaiming-uniform with a = 1, zero bias).
/// </summary>
public sealed class FeaturePyramidNetwork : Module
{
    private readonly ModuleList<Sequential> inner_blocks;
    private readonly ModuleList<Sequential> layer_blocks;
    private readonly ExtraFpnBlock? extra_blocks;

    public FeaturePyramidNetwork(IReadOnlyList<long> in_channels_list, long out_channels, ExtraFpnBlock? extra_blocks = null)
    {
        inner_blocks = new ModuleList<Sequential>();
        layer_blocks = new ModuleList<Sequential>();
        foreach (var c in in_channels_list)
        {
            if (c <= 0) throw new ArgumentException($"in_channels={c} is not supported", nameof(in_channels_list));
            inner_blocks.append(new Sequential(new Conv2d(c, out_channels, 1)));
            layer_blocks.append(new Sequential(new Conv2d(out_channels, out_channels, 3, padding: 1)));
        }
        foreach (var m in inner_blocks.modules().Concat(layer_blocks.modules()))
            if (m is Conv2d conv)
            {
                torch.nn.init.kaiming_uniform_(conv.weight, a: 1);
                torch.nn.init.zeros_(conv.bias!);
            }
        this.extra_blocks = extra_blocks;
        this.out_channels = out_channels;
        RegisterComponents();
    }

    public long out_channels { get; }

    /// <summary>The pyramid, finest level first: one output per input level, then the extra block's levels.</summary>
    public Tensor[] forward(IReadOnlyList<Tensor> x)
    {
        using var scope = torch.NewDisposeScope();
        var n = x.Count;
        var results = new List<Tensor>();
        var lastInner = inner_blocks[n - 1].call(x[n - 1]);
        results.Add(layer_blocks[n - 1].call(lastInner));
        for (var idx = n - 2; idx >= 0; idx--)
        {
            var lateral = inner_blocks[idx].call(x[idx]);
            var shape = lateral.shape;
            var topDown = F.interpolate(lastInner, size: new long[] { shape[2], shape[3] }, mode: "nearest");
            lastInner = lateral + topDown;
            results.Insert(0, layer_blocks[idx].call(lastInner));
        }
        extra_blocks?.extend(results, x);
        var output = results.ToArray();
        scope.MoveToOuter(output);
        return output;
    }
}

/// <summary>torchvision's <c>ExtraFPNBlock</c>: appends levels to the pyramid from its results (p) and inputs (c).</summary>
public abstract class ExtraFpnBlock : Module
{
    public abstract void extend(List<Tensor> p, IReadOnlyList<Tensor> c);
}

/// <summary>torchvision's <c>LastLevelMaxPool</c>: one more level, max_pool2d(last, 1, 2, 0) (P6 over P2–P5).</summary>
public sealed class LastLevelMaxPool : ExtraFpnBlock
{
    public override void extend(List<Tensor> p, IReadOnlyList<Tensor> c) => p.Add(F.max_pool2d(p[^1], 1, 2, 0));
}

/// <summary>
/// torchvision's <c>LastLevelP6P7</c> (RetinaNet): p6 = conv3×3/2 of P5 (when in == out channels) or C5, p7 =
/// conv3×3/2 of relu(p6).
/// </summary>
public sealed class LastLevelP6P7 : ExtraFpnBlock
{
    private readonly Conv2d p6;
    private readonly Conv2d p7;

    public LastLevelP6P7(long in_channels, long out_channels)
    {
        p6 = new Conv2d(in_channels, out_channels, 3, stride: 2, padding: 1);
        p7 = new Conv2d(out_channels, out_channels, 3, stride: 2, padding: 1);
        foreach (var conv in new[] { p6, p7 })
        {
            torch.nn.init.kaiming_uniform_(conv.weight, a: 1);
            torch.nn.init.zeros_(conv.bias!);
        }
        use_P5 = in_channels == out_channels;
        RegisterComponents();
    }

    public bool use_P5 { get; }

    public override void extend(List<Tensor> p, IReadOnlyList<Tensor> c)
    {
        var x = use_P5 ? p[^1] : c[^1];
        var y6 = p6.call(x);
        using var r = F.relu(y6);
        p.Add(y6);
        p.Add(p7.call(r));
    }
}

/// <summary>
/// torchvision's <c>BackboneWithFPN</c>: <c>body</c> (four stages) then <c>fpn</c> over the <c>returned_layers</c>
/// (1-based stage numbers; Faster R-CNN all four, RetinaNet 2, 3, 4). <see cref="forward"/> returns every stage output and
/// the pyramid levels.
/// </summary>
public sealed class BackboneWithFpn : Module
{
    private readonly Module body;
    private readonly FeaturePyramidNetwork fpn;
    private readonly int[] _returned;

    public BackboneWithFpn(Module body, long out_channels, ExtraFpnBlock? extra_blocks = null, int[]? returned_layers = null)
    {
        if (body is not IFeatureBody b) throw new ArgumentException("the body must produce four stages (IFeatureBody)", nameof(body));
        _returned = returned_layers ?? [1, 2, 3, 4];
        if (_returned.Length == 0 || _returned.Any(l => l < 1 || l > 4))
            throw new ArgumentException($"Each returned layer should be in the range [1,4]. Got [{string.Join(", ", _returned)}]", nameof(returned_layers));
        this.body = body;
        fpn = new FeaturePyramidNetwork(_returned.Select(l => b.stage_channels[l - 1]).ToList(), out_channels, extra_blocks ?? new LastLevelMaxPool());
        this.out_channels = out_channels;
        RegisterComponents();
    }

    public long out_channels { get; }
    public IFeatureBody Body => (IFeatureBody)body;
    public FeaturePyramidNetwork Fpn => fpn;

    /// <summary>(stages C2..C5, pyramid levels): both owned by the caller's scope.</summary>
    public (Tensor[] stages, Tensor[] levels) forward(Tensor x)
    {
        var stages = Body.forward_stages(x);
        var levels = fpn.forward(_returned.Select(l => stages[l - 1]).ToList());
        return (stages, levels);
    }
}
