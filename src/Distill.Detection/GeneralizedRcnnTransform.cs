using F = Distill.Torch.torch.nn.functional;

namespace Distill.Detection;

/// <summary>The network input of a batch: padded images and each image's size before padding.</summary>
public sealed record ImageBatch(Tensor tensors, (long h, long w)[] image_sizes, (long h, long w) original_size, (long h, long w) padded_size);

/// <summary>
/// torchvision's <c>GeneralizedRCNNTransform</c> for a collated batch [N, 3, H, W] (every image the same size):
/// <list type="number">
/// <item>uint8 images (0..255) are divided by 255; float images must already be in 0..1;</item>
/// <item>normalise with <see cref="image_mean"/> / <see cref="image_std"/>;</item>
/// <item>resize by bilinear interpolation (align_corners false) with torchvision's factor
/// min(min_size / min(H, W), max_size / max(H, W)) in float32 and size floor(H·factor), floor(W·factor)
/// (<see cref="min_size"/> ≤ 0 skips resizing); ground-truth boxes are scaled by the same ratios;</item>
/// <item>pad with zeros (after normalisation) to multiples of <see cref="size_divisible"/>.</item>
/// </list>
/// <see cref="postprocess"/> maps boxes back to the original image size. Holds no parameters.
/// </summary>
public sealed class GeneralizedRcnnTransform : Module
{
    public GeneralizedRcnnTransform(int min_size, int max_size, double[] image_mean, double[] image_std, int size_divisible = 32)
    {
        if (image_mean is not { Length: 3 }) throw new ArgumentException("image_mean needs one value per RGB channel (3 values)", nameof(image_mean));
        if (image_std is not { Length: 3 } || image_std.Any(s => !(s > 0))) throw new ArgumentException("image_std needs 3 positive values", nameof(image_std));
        if (min_size > 0 && max_size < min_size) throw new ArgumentException($"max_size ({max_size}) must be at least min_size ({min_size})", nameof(max_size));
        if (size_divisible < 1) throw new ArgumentOutOfRangeException(nameof(size_divisible), size_divisible, "must be at least 1");
        this.min_size = min_size;
        this.max_size = max_size;
        this.image_mean = image_mean;
        this.image_std = image_std;
        this.size_divisible = size_divisible;
    }

    public int min_size { get; }
    public int max_size { get; }
    public double[] image_mean { get; }
    public double[] image_std { get; }
    public int size_divisible { get; }

    /// <summary>The size torchvision resizes an H×W image to.</summary>
    public (long h, long w) resized_size(long h, long w)
    {
        if (min_size <= 0) return (h, w);
        var minDim = (float)Math.Min(h, w);
        var maxDim = (float)Math.Max(h, w);
        var scale = Math.Min((float)min_size / minDim, (float)max_size / maxDim);
        return ((long)Math.Floor(h * (double)scale), (long)Math.Floor(w * (double)scale));
    }

    /// <summary>Normalises, resizes and pads a batch; scales <paramref name="boxes"/> (per image, original pixels) alike.</summary>
    public (ImageBatch batch, Tensor[]? boxes) forward(Tensor images, IReadOnlyList<Tensor>? boxes = null)
    {
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"images must be [N, 3, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        using var scope = torch.NewDisposeScope();
        Tensor x;
        if (images.dtype == ScalarType.Byte) x = images.to(ScalarType.Float32) / 255.0;
        else if (images.is_floating_point()) x = images;
        else throw new ArgumentException($"images must be uint8 (0..255) or floating point (0..1), got {images.dtype.Name()}", nameof(images));
        var mean = torch.tensor(image_mean.Select(v => (float)v).ToArray()).to(x.dtype, x.device).view(1, 3, 1, 1);
        var std = torch.tensor(image_std.Select(v => (float)v).ToArray()).to(x.dtype, x.device).view(1, 3, 1, 1);
        x = (x - mean) / std;
        long h = x.shape[2], w = x.shape[3];
        var (rh, rw) = resized_size(h, w);
        if (min_size > 0)
        {
            // torchvision draws each image's training size with torch.empty(1).uniform_() even when there is only one
            // size: draw it too, once per image as torchvision does, so that a seeded training step samples exactly what
            // PyTorch's does.
            if (training)
                for (var i = 0; i < x.shape[0]; i++) torch.rand([1]).Dispose();
            x = F.interpolate(x, size: new long[] { rh, rw }, mode: "bilinear", align_corners: false);
        }
        long ph = (long)Math.Ceiling((double)rh / size_divisible) * size_divisible;
        long pw = (long)Math.Ceiling((double)rw / size_divisible) * size_divisible;
        if (ph != rh || pw != rw) x = F.pad(x, [0, pw - rw, 0, ph - rh]);
        Tensor[]? scaled = null;
        if (boxes is not null)
        {
            scaled = new Tensor[boxes.Count];
            for (var i = 0; i < boxes.Count; i++) scaled[i] = resize_boxes(boxes[i], (h, w), (rh, rw));
            scope.MoveToOuter(scaled);
        }
        var sizes = Enumerable.Repeat((rh, rw), (int)x.shape[0]).ToArray();
        var batch = new ImageBatch(scope.MoveToOuter(ReferenceEquals(x, images) ? x.alias() : x), sizes, (h, w), (ph, pw));
        return (batch, scaled);
    }

    /// <summary>torchvision's <c>resize_boxes</c>: x·(new W / old W), y·(new H / old H), ratios in float32.</summary>
    public static Tensor resize_boxes(Tensor boxes, (long h, long w) original_size, (long h, long w) new_size)
    {
        using var scope = torch.NewDisposeScope();
        var ratioH = (float)new_size.h / (float)original_size.h;
        var ratioW = (float)new_size.w / (float)original_size.w;
        var b = boxes.unbind(1);
        var r = torch.stack([b[0] * ratioW, b[1] * ratioH, b[2] * ratioW, b[3] * ratioH], 1);
        return scope.MoveToOuter(r);
    }

    /// <summary>Boxes in network-input pixels of an image resized to <paramref name="image_size"/> back to the original size.</summary>
    public static Tensor postprocess(Tensor boxes, (long h, long w) image_size, (long h, long w) original_size) =>
        resize_boxes(boxes, image_size, original_size);
}
