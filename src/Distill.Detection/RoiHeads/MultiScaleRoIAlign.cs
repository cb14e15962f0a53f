namespace Distill.Detection.RoiHeads;

/// <summary>
/// torchvision's <c>MultiScaleRoIAlign</c> over the first <see cref="num_levels"/> pyramid levels (Faster R-CNN: P2–P5).
/// Each level's scale is inferred as torchvision does, 2^round(log2(feature height / largest image height)); each RoI
/// goes to level k = floor(<see cref="canonical_level"/> + log2(sqrt(area) / <see cref="canonical_scale"/>) + 1e-6),
/// clamped to the levels present (the FPN paper's eq. 1), and is pooled there with RoIAlign
/// (<see cref="sampling_ratio"/>, not aligned). A single level skips the mapping. Holds no parameters.
/// </summary>
public sealed class MultiScaleRoIAlign : Module
{
    public MultiScaleRoIAlign(int num_levels, int output_size, int sampling_ratio, double canonical_scale = 224, int canonical_level = 4)
    {
        if (num_levels < 1) throw new ArgumentOutOfRangeException(nameof(num_levels), num_levels, "pool from at least one level");
        if (output_size < 1) throw new ArgumentOutOfRangeException(nameof(output_size), output_size, "must be positive");
        if (!(canonical_scale > 0)) throw new ArgumentOutOfRangeException(nameof(canonical_scale), canonical_scale, "must be positive");
        this.num_levels = num_levels;
        this.output_size = output_size;
        this.sampling_ratio = sampling_ratio;
        this.canonical_scale = canonical_scale;
        this.canonical_level = canonical_level;
    }

    public int num_levels { get; }
    public int output_size { get; }
    public int sampling_ratio { get; }
    public double canonical_scale { get; }
    public int canonical_level { get; }

    /// <summary>Each level's spatial scale, inferred from the feature heights and the largest image height.</summary>
    public double[] infer_scales(IReadOnlyList<Tensor> features, IReadOnlyList<(long h, long w)> image_sizes)
    {
        if (image_sizes.Count == 0) throw new ArgumentException("images list should not be empty", nameof(image_sizes));
        var maxH = image_sizes.Max(s => s.h);
        return features.Take(num_levels).Select(f =>
        {
            var approx = (float)((double)f.shape[2] / maxH);
            return Math.Pow(2, Math.Round(Math.Log2(approx), MidpointRounding.ToEven));
        }).ToArray();
    }

    /// <summary>The level index (0 = the first pooled level) of each box [K, 4], as torchvision's <c>LevelMapper</c>.</summary>
    public Tensor map_levels(Tensor boxes, double[] scales)
    {
        using var scope = torch.NewDisposeScope();
        var kMin = (int)-Math.Log2((float)scales[0]);
        var kMax = (int)-Math.Log2((float)scales[^1]);
        var s = torch.ops.box_area(boxes).sqrt();
        var target = (s / canonical_scale).log2().add(canonical_level).add(1e-6).floor().clamp(kMin, kMax);
        return scope.MoveToOuter(target.to(ScalarType.Int64) - kMin);
    }

    /// <summary>
    /// Pools <paramref name="rois"/> [K, 5] (batch index, x1, y1, x2, y2 in network-input pixels) from the pyramid
    /// <paramref name="features"/> (the first <see cref="num_levels"/> are used): [K, C, output_size, output_size].
    /// </summary>
    public Tensor forward(IReadOnlyList<Tensor> features, Tensor rois, IReadOnlyList<(long h, long w)> image_sizes)
    {
        if (features.Count < num_levels) throw new ArgumentException($"the pooler reads {num_levels} levels but got {features.Count}", nameof(features));
        if (rois.dim() != 2 || rois.shape[1] != 5) throw new ArgumentException($"rois must be [K, 5] rows (batch index, x1, y1, x2, y2), got [{string.Join(", ", rois.shape)}]", nameof(rois));
        using var scope = torch.NewDisposeScope();
        var scales = infer_scales(features, image_sizes);
        if (num_levels == 1)
            return scope.MoveToOuter(torch.ops.roi_align(features[0], rois, output_size, scales[0], sampling_ratio));
        var levels = map_levels(rois.narrow(1, 1, 4), scales);
        var order = new List<Tensor>();
        var pooled = new List<Tensor>();
        for (var level = 0; level < num_levels; level++)
        {
            var idx = torch.where(levels.eq(level))[0];
            order.Add(idx);
            pooled.Add(torch.ops.roi_align(features[level], rois.index(idx), output_size, scales[level], sampling_ratio));
        }
        var inverse = torch.cat(order, 0).argsort();
        return scope.MoveToOuter(torch.cat(pooled, 0).index(inverse));
    }
}
