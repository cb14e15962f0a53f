using System.Globalization;

namespace Distill.Detection;

/// <summary>Checks and prepares a batch's ground truth before it reaches the model (clear errors instead of NaN losses).</summary>
public static class Targets
{
    /// <summary>
    /// Validates per-image <paramref name="boxes"/> [K_i, 4] and <paramref name="labels"/> [K_i] against an image batch of
    /// <paramref name="count"/> images of <paramref name="image_size"/> and <paramref name="classes"/> foreground classes,
    /// and returns float32 boxes clipped to the image and int64 labels. Errors (ArgumentException): wrong counts or shapes,
    /// NaN or infinite coordinates, a degenerate box (x2 ≤ x1 or y2 ≤ y1, as torchvision), a box wholly outside the
    /// image, a label outside 1..classes. Boxes partly outside the image are clipped to it (documented behaviour).
    /// </summary>
    public static (Tensor[] boxes, Tensor[] labels) prepare(IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor> labels, long count,
        (long h, long w) image_size, int classes, Device device)
    {
        if (boxes.Count != count) throw new ArgumentException($"{boxes.Count} box tensors for {count} images: give one [K, 4] tensor per image (K may be 0)", nameof(boxes));
        if (labels.Count != count) throw new ArgumentException($"{labels.Count} label tensors for {count} images: give one [K] tensor per image", nameof(labels));
        var outBoxes = new Tensor[count];
        var outLabels = new Tensor[count];
        using var scope = torch.NewDisposeScope();
        for (var i = 0; i < count; i++)
        {
            var b = boxes[i] ?? throw new ArgumentException($"image {i}: boxes is null", nameof(boxes));
            var l = labels[i] ?? throw new ArgumentException($"image {i}: labels is null", nameof(labels));
            if (b.dim() != 2 || b.shape[1] != 4)
                throw new ArgumentException($"image {i}: expected target boxes to be a tensor of shape [K, 4], got [{string.Join(", ", b.shape)}]", nameof(boxes));
            if (l.dim() != 1 || l.shape[0] != b.shape[0])
                throw new ArgumentException($"image {i}: {b.shape[0]} boxes but labels of shape [{string.Join(", ", l.shape)}] (expected [{b.shape[0]}])", nameof(labels));
            if (l.is_floating_point()) throw new ArgumentException($"image {i}: labels must be integers (int64), got {l.dtype.Name()}", nameof(labels));
            var fb = b.to(ScalarType.Float32, device);
            var values = fb.cpu().ToArray<float>();
            var lv = l.to(ScalarType.Int64).cpu().ToArray<long>();
            for (var k = 0; k < lv.Length; k++)
            {
                var box = values.AsSpan(4 * k, 4).ToArray();
                var text = "[" + string.Join(", ", box.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]";
                if (box.Any(v => !float.IsFinite(v)))
                    throw new ArgumentException($"image {i}, box {k}: {text} has a NaN or infinite coordinate", nameof(boxes));
                if (box[2] <= box[0] || box[3] <= box[1])
                    throw new ArgumentException($"All bounding boxes should have positive height and width. Found invalid box {text} for target at index {i} (box {k})", nameof(boxes));
                if (box[0] >= image_size.w || box[1] >= image_size.h || box[2] <= 0 || box[3] <= 0)
                    throw new ArgumentException($"image {i}, box {k}: {text} lies wholly outside the {image_size.w}x{image_size.h} image", nameof(boxes));
                if (lv[k] < 1 || lv[k] > classes)
                    throw new ArgumentException($"image {i}, box {k}: label {lv[k]} is outside 1..{classes} (labels count foreground classes from 1; 0 is the background)", nameof(labels));
            }
            outBoxes[i] = scope.MoveToOuter(torch.ops.clip_boxes_to_image(fb, image_size));
            outLabels[i] = scope.MoveToOuter(l.to(ScalarType.Int64, device, copy: true));
        }
        return (outBoxes, outLabels);
    }
}
