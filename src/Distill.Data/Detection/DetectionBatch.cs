namespace Distill.Data;

/// <summary>
/// An object-detection batch. Images of different sizes are padded bottom/right with zeros to the batch's
/// largest height and width; <see cref="image_size"/> keeps each image's own (height, width), and every
/// box is in pixels of that (possibly resized) image, (x1, y1, x2, y2) with x2 &gt; x1 and y2 &gt; y1 — pixel
/// (x, y) covers [x, x + 1) × [y, y + 1), so a box tight around pixel columns a..b has x1 = a, x2 = b + 1.
/// <para>Fields, in this order (<see cref="Tensors"/> lists them so, the per-image lists image by image):</para>
/// <list type="bullet">
/// <item><c>image</c> (N, 3, H, W): uint8 0..255 as collated; float32 in [0, 1] after a <see cref="DetectionTransform"/>.</item>
/// <item><c>image_size</c> (N, 2) int64: (height, width) of each image before padding.</item>
/// <item><c>boxes</c>: per image (G_i, 4) float32, (x1, y1, x2, y2) in pixels.</item>
/// <item><c>labels</c>: per image (G_i) int64 in 1 .. classes (0 is the detectors' background).</item>
/// <item><c>crowd</c>: per image (G_i) bool — COCO <c>iscrowd</c> / VOC <c>difficult</c>: evaluation ignores these
/// objects (a detection matching one is neither a true nor a false positive), training excludes them.</item>
/// <item><c>hard</c>: per image (G_i) bool — <see cref="SyntheticDetection"/>'s hard instances (tiny, blurred,
/// occluded, low contrast), for per-difficulty analysis; false for the readers.</item>
/// <item><c>image_id</c> (N) int64: the source's image id (COCO's <c>id</c>; the sample index otherwise).</item>
/// </list>
/// The batch owns every tensor and frees them all when disposed.
/// </summary>
public sealed class DetectionBatch : IBatch
{
    private bool _disposed;

    /// <summary>Takes ownership of every tensor; checks that the per-image lists agree with the batch size and with each other.</summary>
    public DetectionBatch(Tensor image, Tensor image_size, IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor> labels,
        IReadOnlyList<Tensor> crowd, IReadOnlyList<Tensor> hard, Tensor image_id, IReadOnlyList<Tensor>? person_id = null)
    {
        this.image = image ?? throw new ArgumentNullException(nameof(image));
        this.image_size = image_size ?? throw new ArgumentNullException(nameof(image_size));
        this.boxes = boxes ?? throw new ArgumentNullException(nameof(boxes));
        this.labels = labels ?? throw new ArgumentNullException(nameof(labels));
        this.crowd = crowd ?? throw new ArgumentNullException(nameof(crowd));
        this.hard = hard ?? throw new ArgumentNullException(nameof(hard));
        this.image_id = image_id ?? throw new ArgumentNullException(nameof(image_id));
        // Data without identities: every box is a person of unknown identity (-1), so the field is always there.
        this.person_id = person_id ?? boxes.Select(b => torch.full([b.dim() == 2 ? b.size(0) : 0], -1L, ScalarType.Int64, b.device)).ToArray();
        Check();
    }

    /// <summary>The images, (N, 3, H, W), zero-padded bottom/right. Replacing it does not free the old tensor.</summary>
    public Tensor image { get; set; }

    /// <summary>(N, 2) int64: each image's (height, width) before padding. Replacing it does not free the old tensor.</summary>
    public Tensor image_size { get; set; }

    /// <summary>Per image, (G_i, 4) float32 boxes (x1, y1, x2, y2) in pixels of the image.</summary>
    public IReadOnlyList<Tensor> boxes { get; set; }

    /// <summary>Per image, (G_i) int64 class labels in 1 .. classes.</summary>
    public IReadOnlyList<Tensor> labels { get; set; }

    /// <summary>Per image, (G_i) bool: crowd (COCO) or difficult (VOC) objects, ignored by evaluation and excluded from training.</summary>
    public IReadOnlyList<Tensor> crowd { get; set; }

    /// <summary>Per image, (G_i) bool: the synthetic task's hard instances (false for real data).</summary>
    public IReadOnlyList<Tensor> hard { get; set; }

    /// <summary>
    /// Per image, (G_i) int64 person identities (person-search data): 0 .. L−1 a labelled identity, −1 a person without one;
    /// −1 for every box of data that has no identities.
    /// </summary>
    public IReadOnlyList<Tensor> person_id { get; set; }

    /// <summary>(N) int64 image ids.</summary>
    public Tensor image_id { get; set; }

    public long Count => image_id.size(0);

    /// <summary>Every tensor: image, image_size, the boxes of each image, the labels, the crowd flags, the hard flags, image_id, the person ids.</summary>
    public IReadOnlyList<Tensor> Tensors
    {
        get
        {
            var all = new List<Tensor>(3 + 5 * boxes.Count) { image, image_size };
            all.AddRange(boxes);
            all.AddRange(labels);
            all.AddRange(crowd);
            all.AddRange(hard);
            all.Add(image_id);
            all.AddRange(person_id);
            return all;
        }
    }

    /// <summary>The number of objects in each image (G_i).</summary>
    public long[] ObjectCounts => boxes.Select(b => b.size(0)).ToArray();

    /// <summary>Lays out the images in <paramref name="memoryFormat"/>, freeing the tensor it replaces.</summary>
    public void ToMemoryFormat(MemoryFormat memoryFormat)
    {
        var old = image;
        image = old.contiguous(memoryFormat);
        if (!ReferenceEquals(old, image)) old.Dispose();
    }

    public void To(Device device)
    {
        image = Move(image, device);
        image_size = Move(image_size, device);
        boxes = boxes.Select(t => Move(t, device)).ToArray();
        labels = labels.Select(t => Move(t, device)).ToArray();
        crowd = crowd.Select(t => Move(t, device)).ToArray();
        hard = hard.Select(t => Move(t, device)).ToArray();
        image_id = Move(image_id, device);
        person_id = person_id.Select(t => Move(t, device)).ToArray();
    }

    private static Tensor Move(Tensor t, Device device)
    {
        var moved = t.to(device);
        if (!ReferenceEquals(moved, t)) t.Dispose();
        return moved;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var t in Tensors) t.Dispose();
    }

    private void Check()
    {
        if (image.dim() != 4) throw new ArgumentException($"image must be (N, C, H, W), got [{string.Join(", ", image.shape)}]", nameof(image));
        var n = image.size(0);
        if (image_id.dim() != 1 || image_id.size(0) != n)
            throw new ArgumentException($"image_id must be ({n}), got [{string.Join(", ", image_id.shape)}]", nameof(image_id));
        if (image_size.dim() != 2 || image_size.size(0) != n || image_size.size(1) != 2)
            throw new ArgumentException($"image_size must be ({n}, 2), got [{string.Join(", ", image_size.shape)}]", nameof(image_size));
        foreach (var (list, name) in new[] { (boxes, "boxes"), (labels, "labels"), (crowd, "crowd"), (hard, "hard"), (person_id, "person_id") })
            if (list.Count != n) throw new ArgumentException($"{name} needs one tensor per image ({n}), got {list.Count}", name);
        for (var i = 0; i < n; i++)
        {
            var g = boxes[i].dim() == 2 && boxes[i].size(1) == 4 ? boxes[i].size(0)
                : throw new ArgumentException($"boxes[{i}] must be (G, 4), got [{string.Join(", ", boxes[i].shape)}]", nameof(boxes));
            foreach (var (t, name) in new[] { (labels[i], "labels"), (crowd[i], "crowd"), (hard[i], "hard"), (person_id[i], "person_id") })
                if (t.dim() != 1 || t.size(0) != g)
                    throw new ArgumentException($"{name}[{i}] must be ({g}) like boxes[{i}], got [{string.Join(", ", t.shape)}]", name);
        }
    }
}
