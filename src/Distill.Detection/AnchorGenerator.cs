namespace Distill.Detection;

/// <summary>
/// torchvision's <c>AnchorGenerator</c>: for feature level i, <c>sizes[i].Length × aspect_ratios[i].Length</c> anchors
/// per location (aspect ratio = height / width; ratio-major order), centred on the location's top-left pixel
/// (x·stride, y·stride) with stride = padded image size / feature size (integer division), corners rounded
/// like torchvision. Anchors of all levels are concatenated in level order, each level row-major (y, x, anchor).
/// It holds no parameters (<c>rpn.anchor_generator</c> is absent from the state_dict, as in torchvision).
/// </summary>
public sealed class AnchorGenerator : Module
{
    private readonly Tensor[] _cellAnchors;

    public AnchorGenerator(double[][] sizes, double[][] aspect_ratios)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(aspect_ratios);
        if (sizes.Length == 0) throw new ArgumentException("give at least one level of anchor sizes", nameof(sizes));
        if (aspect_ratios.Length != sizes.Length)
            throw new ArgumentException($"{sizes.Length} levels of anchor sizes but {aspect_ratios.Length} of aspect ratios: give one list per feature level", nameof(aspect_ratios));
        for (var i = 0; i < sizes.Length; i++)
        {
            if (sizes[i].Length == 0 || sizes[i].Any(s => !(s > 0))) throw new ArgumentException($"anchor sizes of level {i} must be positive (and at least one)", nameof(sizes));
            if (aspect_ratios[i].Length == 0 || aspect_ratios[i].Any(a => !(a > 0))) throw new ArgumentException($"aspect ratios of level {i} must be positive (and at least one)", nameof(aspect_ratios));
        }
        this.sizes = sizes;
        this.aspect_ratios = aspect_ratios;
        _cellAnchors = new Tensor[sizes.Length];
        for (var i = 0; i < sizes.Length; i++) _cellAnchors[i] = generate_anchors(sizes[i], aspect_ratios[i]).DetachFromDisposeScope();
    }

    public double[][] sizes { get; }
    public double[][] aspect_ratios { get; }

    /// <summary>The anchors per location of each level.</summary>
    public int[] num_anchors_per_location() => sizes.Select((s, i) => s.Length * aspect_ratios[i].Length).ToArray();

    /// <summary>Zero-centred anchors [A, 4] of one level (torchvision's <c>generate_anchors</c>, float32).</summary>
    public static Tensor generate_anchors(double[] scales, double[] aspect_ratios)
    {
        using var scope = torch.NewDisposeScope();
        var s = torch.tensor(scales.Select(v => (float)v).ToArray());
        var r = torch.tensor(aspect_ratios.Select(v => (float)v).ToArray());
        var hRatios = r.sqrt();
        var wRatios = hRatios.reciprocal();
        var ws = (wRatios.unsqueeze(1) * s.unsqueeze(0)).view(-1);
        var hs = (hRatios.unsqueeze(1) * s.unsqueeze(0)).view(-1);
        var baseAnchors = torch.stack([-ws, -hs, ws, hs], 1) / 2;
        return scope.MoveToOuter(baseAnchors.round());
    }

    /// <summary>
    /// The anchors [A_total, 4] of an image batch padded to <paramref name="image_size"/> (height, width) whose
    /// feature maps have the given (height, width) sizes; the same for every image of the batch.
    /// </summary>
    public Tensor call(IReadOnlyList<(long h, long w)> grid_sizes, (long h, long w) image_size, ScalarType dtype, Device device)
    {
        if (grid_sizes.Count != _cellAnchors.Length)
            throw new ArgumentException($"the anchor generator has {_cellAnchors.Length} levels of sizes and aspect ratios but got {grid_sizes.Count} feature maps");
        using var scope = torch.NewDisposeScope();
        var levels = new List<Tensor>();
        for (var i = 0; i < grid_sizes.Count; i++)
        {
            var (gh, gw) = grid_sizes[i];
            long strideH = image_size.h / gh, strideW = image_size.w / gw;
            var shiftsX = torch.arange(0, gw, ScalarType.Int32, device) * (int)strideW;
            var shiftsY = torch.arange(0, gh, ScalarType.Int32, device) * (int)strideH;
            var shiftX = shiftsX.unsqueeze(0).expand(gh, gw).reshape(-1);
            var shiftY = shiftsY.unsqueeze(1).expand(gh, gw).reshape(-1);
            var shifts = torch.stack([shiftX, shiftY, shiftX, shiftY], 1);
            var cell = _cellAnchors[i].to(dtype, device);
            levels.Add((shifts.view(-1, 1, 4) + cell.view(1, -1, 4)).reshape(-1, 4));
        }
        return scope.MoveToOuter(torch.cat(levels, 0));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            foreach (var t in _cellAnchors) t.Dispose();
        base.Dispose(disposing);
    }

    public override string extra_repr() => "";
}
