using static Distill.Torch.torch.nn.functional;

namespace Distill.Data;

/// <summary>
/// Train- and test-time processing of detection batches, with the boxes following the pixels: a random horizontal
/// flip (p = ½; each image is mirrored within its own width w, so x1' = w − x2 and x2' = w − x1 and the padding stays
/// bottom/right), a resize to a short side (one of <see cref="ShortSides"/>, drawn per image) capped by a long side
/// (torchvision's <c>GeneralizedRCNNTransform</c> rule: scale = min(short / min(h, w), max / max(h, w)); boxes are
/// scaled by new/old width and height), re-padding bottom/right to the batch's largest size (rounded up to a
/// multiple of <see cref="SizeDivisible"/>), and conversion to float32 in [0, 1].
/// <para>
/// It never normalises: the detectors take uint8 0..255 or float 0..1 and normalise with their own mean and std.
/// With <see cref="ToFloat"/> off the images stay uint8 (a resize then rounds to the nearest level).
/// <c>image_size</c> becomes each image's new size. Random draws, in this order, from the batch's generator (the loader
/// seeds it with (seed, epoch, batch), so a batch's augmentation replays): N flips, then, with several short sides, N
/// choices of one. Runs on the batch's device.
/// </para>
/// </summary>
public sealed class DetectionTransform : IBatchTransform<DetectionBatch>
{
    private readonly int[] _shortSides;

    /// <param name="horizontalFlip">Flip each image left-right with probability ½.</param>
    /// <param name="shortSides">Target short sides, one drawn per image (uniformly); null or empty: no resize by the short side.</param>
    /// <param name="maxSide">Cap on the long side after resizing (also alone: shrink images whose long side exceeds it); 0: none.</param>
    /// <param name="toFloat">Convert to float32 in [0, 1] (uint8 is divided by 255); false: keep uint8.</param>
    /// <param name="sizeDivisible">Pad the batch's height and width up to a multiple of this (e.g. 32 for an FPN); 1: no rounding.</param>
    public DetectionTransform(bool horizontalFlip = false, int[]? shortSides = null, int maxSide = 0, bool toFloat = true, int sizeDivisible = 1)
    {
        _shortSides = shortSides?.ToArray() ?? [];
        if (_shortSides.Any(s => s < 1)) throw new ArgumentOutOfRangeException(nameof(shortSides), "every short side must be positive");
        if (maxSide < 0) throw new ArgumentOutOfRangeException(nameof(maxSide), maxSide, "maxSide must be positive, or 0 for none");
        if (sizeDivisible < 1) throw new ArgumentOutOfRangeException(nameof(sizeDivisible), sizeDivisible, "sizeDivisible must be at least 1");
        HorizontalFlip = horizontalFlip;
        MaxSide = maxSide;
        ToFloat = toFloat;
        SizeDivisible = sizeDivisible;
    }

    /// <summary>Training: random flips, optional (multi-scale) resize, float 0..1.</summary>
    public static DetectionTransform Train(int[]? shortSides = null, int maxSide = 0, int sizeDivisible = 1) =>
        new(horizontalFlip: true, shortSides, maxSide, toFloat: true, sizeDivisible);

    /// <summary>Evaluation: no flip; the resize (a single short side) and the float conversion only.</summary>
    public static DetectionTransform Eval(int shortSide = 0, int maxSide = 0, int sizeDivisible = 1) =>
        new(horizontalFlip: false, shortSide > 0 ? [shortSide] : null, maxSide, toFloat: true, sizeDivisible);

    public bool HorizontalFlip { get; }
    public IReadOnlyList<int> ShortSides => _shortSides;
    public int MaxSide { get; }
    public bool ToFloat { get; }
    public int SizeDivisible { get; }

    /// <summary>Draws the flips and short sides from <paramref name="generator"/> and transforms the batch in place (its old tensors are freed).</summary>
    public DetectionBatch Apply(DetectionBatch batch, Generator generator) => Apply(batch, generator, BatchRows.Whole(batch.Count));

    /// <summary>Transforms one share of a batch with the whole batch's draws (data-parallel ranks).</summary>
    public DetectionBatch Apply(DetectionBatch batch, Generator generator, BatchRows rows)
    {
        var n = (int)batch.Count;
        bool[]? flip = null;
        int[]? sides = null;
        if (HorizontalFlip)
        {
            using var draws = rows.Randint(0, 2, n, generator);
            flip = draws.ToArray<long>().Select(v => v != 0).ToArray();
        }
        if (_shortSides.Length > 1)
        {
            using var draws = rows.Randint(0, _shortSides.Length, n, generator);
            sides = draws.ToArray<long>().Select(v => _shortSides[v]).ToArray();
        }
        else if (_shortSides.Length == 1) sides = Enumerable.Repeat(_shortSides[0], n).ToArray();
        return Apply(batch, flip, sides);
    }

    /// <summary>
    /// The deterministic core: flips image i where <paramref name="flip"/>[i] (null: none) and resizes it to short side
    /// <paramref name="shortSides"/>[i] (null: only the <see cref="MaxSide"/> cap), then pads, converts and updates the boxes.
    /// </summary>
    public DetectionBatch Apply(DetectionBatch batch, bool[]? flip, int[]? shortSides)
    {
        var n = (int)batch.Count;
        if (flip is not null && flip.Length != n) throw new ArgumentException($"flip needs {n} values, got {flip.Length}", nameof(flip));
        if (shortSides is not null && shortSides.Length != n) throw new ArgumentException($"shortSides needs {n} values, got {shortSides.Length}", nameof(shortSides));
        var image = batch.image;
        if (image.dtype != ScalarType.Byte && !image.dtype.IsFloatingPoint())
            throw new ArgumentException($"images must be uint8 or floating point, got {image.dtype.Name()}");
        var device = image.device;
        long[] sizes;
        using (var cpu = batch.image_size.cpu()) sizes = cpu.ToArray<long>();

        // The new size of every image.
        var newSizes = new long[2 * n];
        var resized = false;
        for (var i = 0; i < n; i++)
        {
            var (h, w) = (sizes[2 * i], sizes[2 * i + 1]);
            var scale = 1.0;
            if (shortSides is not null) scale = shortSides[i] / (double)Math.Min(h, w);
            if (MaxSide > 0 && scale * Math.Max(h, w) > MaxSide) scale = MaxSide / (double)Math.Max(h, w);
            var (nh, nw) = scale == 1.0 ? (h, w) : (Math.Max(1, (long)Math.Round(h * scale)), Math.Max(1, (long)Math.Round(w * scale)));
            (newSizes[2 * i], newSizes[2 * i + 1]) = (nh, nw);
            resized |= nh != h || nw != w;
        }
        long maxH = 0, maxW = 0;
        for (var i = 0; i < n; i++) (maxH, maxW) = (Math.Max(maxH, newSizes[2 * i]), Math.Max(maxW, newSizes[2 * i + 1]));
        maxH = (maxH + SizeDivisible - 1) / SizeDivisible * SizeDivisible;
        maxW = (maxW + SizeDivisible - 1) / SizeDivisible * SizeDivisible;

        var isByte = image.dtype == ScalarType.Byte;
        var outType = ToFloat ? ScalarType.Float32 : image.dtype;
        Tensor result;
        using (var scope = torch.NewDisposeScope())
        {
            var samePadded = !resized && maxH == image.size(2) && maxW == image.size(3);
            var fullWidth = Enumerable.Range(0, n).All(i => sizes[2 * i + 1] == image.size(3));
            if (samePadded && (flip is null || fullWidth))
            {
                // Every image fills the padded width: one batched flip.
                var x = image;
                if (flip is not null && flip.Any(f => f))
                {
                    var mask = torch.tensor(flip, new long[] { n, 1, 1, 1 }).to(device);
                    x = torch.where(mask, image.flip(3), image);
                }
                result = Convert(x, isByte, outType, copy: ReferenceEquals(x, image));
            }
            else
            {
                var y = torch.zeros([n, image.size(1), maxH, maxW], outType, device);
                for (var i = 0; i < n; i++)
                {
                    var (h, w) = (sizes[2 * i], sizes[2 * i + 1]);
                    var (nh, nw) = (newSizes[2 * i], newSizes[2 * i + 1]);
                    var x = image.select(0, i).narrow(1, 0, h).narrow(2, 0, w);
                    if (flip is not null && flip[i]) x = x.flip(2);
                    if (nh != h || nw != w)
                    {
                        // Bilinear on float values of the input's scale (0..255 for uint8), as torchvision resizes.
                        var f = x.to(ScalarType.Float32).unsqueeze(0);
                        x = interpolate(f, size: new long[] { nh, nw }, mode: "bilinear", align_corners: false).squeeze(0);
                        if (isByte) x = ToFloat ? x.div_(255.0) : x.round_().clamp_(0, 255);
                    }
                    else x = Convert(x, isByte, outType, copy: false);
                    y.select(0, i).narrow(1, 0, nh).narrow(2, 0, nw).copy_(x);
                }
                result = y;
            }
            result = scope.MoveToOuter(result);
        }

        var newBoxes = new Tensor[n];
        for (var i = 0; i < n; i++) newBoxes[i] = TransformBoxes(batch.boxes[i], sizes[2 * i], sizes[2 * i + 1], newSizes[2 * i], newSizes[2 * i + 1], flip is not null && flip[i]);
        var old = batch.boxes;
        batch.boxes = newBoxes;
        foreach (var b in old) b.Dispose();
        var oldImage = batch.image;
        batch.image = result;
        oldImage.Dispose();
        var oldSize = batch.image_size;
        using (var cpuSizes = torch.tensor(newSizes, new long[] { n, 2 })) batch.image_size = cpuSizes.to(oldSize.device);
        oldSize.Dispose();
        return batch;
    }

    /// <summary>Converts to the output type: uint8 to float is divided by 255; a float input is taken as 0..1.</summary>
    private static Tensor Convert(Tensor x, bool isByte, ScalarType outType, bool copy)
    {
        if (outType == ScalarType.Float32)
        {
            if (isByte) return x.to(ScalarType.Float32).div_(255.0);
            var f = x.to(ScalarType.Float32);
            return copy || f.dtype == x.dtype ? f.clone() : f;
        }
        return x.dtype == outType ? (copy ? x.clone() : x) : x.to(outType);
    }

    /// <summary>(x1, y1, x2, y2) after flipping within width w (x1' = w − x2, x2' = w − x1) and scaling by (nw / w, nh / h).</summary>
    private static Tensor TransformBoxes(Tensor boxes, long h, long w, long nh, long nw, bool flip)
    {
        using var scope = torch.NewDisposeScope();
        var b = boxes;
        var device = boxes.device;
        if (flip)
        {
            using var order = torch.tensor(new long[] { 2, 1, 0, 3 }).to(device);
            var sign = torch.tensor(new float[] { -1, 1, -1, 1 }).to(device);
            var shift = torch.tensor(new float[] { w, 0, w, 0 }).to(device);
            b = b.index_select(1, order).mul(sign).add(shift);
        }
        if (nh != h || nw != w)
        {
            var (sx, sy) = ((float)((double)nw / w), (float)((double)nh / h));
            b = b.mul(torch.tensor(new[] { sx, sy, sx, sy }).to(device));
        }
        return scope.MoveToOuter(ReferenceEquals(b, boxes) ? boxes.clone() : b);
    }
}
