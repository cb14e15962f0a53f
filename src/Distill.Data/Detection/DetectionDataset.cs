namespace Distill.Data;

/// <summary>
/// One ground-truth object: its box (x1, y1, x2, y2) in pixels of the image as stored (before any transform),
/// its label in 1 .. classes, its flags (see <see cref="DetectionBatch"/>) and, in person-search data, the person's identity
/// (0 .. L−1; −1 for a person without one, and for every object of plain detection data).
/// </summary>
public readonly record struct DetectionObject(float X1, float Y1, float X2, float Y2, int Label, bool Crowd = false, bool Hard = false, int PersonId = -1)
{
    public float Width => X2 - X1;
    public float Height => Y2 - Y1;
    public float Area => (X2 - X1) * (Y2 - Y1);
}

/// <summary>The ground truth of one image: its id, its size (height, width) and its objects.</summary>
public sealed record DetectionTarget(long ImageId, int Height, int Width, IReadOnlyList<DetectionObject> Objects);

/// <summary>
/// The base of the detection data sets: images of any size (3 channels) with boxes, labels in 1 .. <see cref="Classes"/>
/// and flags. <see cref="Target"/> gives an image's ground truth without its pixels (for evaluation);
/// <see cref="Collate"/> loads the pixels and builds a <see cref="DetectionBatch"/>.
/// </summary>
public abstract class DetectionDataset : IBatchDataset<DetectionBatch>, IDisposable
{
    public abstract int Count { get; }

    /// <summary>The number of object classes (labels 1 .. Classes; 0 is the detectors' background).</summary>
    public abstract int Classes { get; }

    /// <summary>The name of each class: <c>ClassNames[label - 1]</c>.</summary>
    public abstract IReadOnlyList<string> ClassNames { get; }

    /// <summary>
    /// The side of every image when all are squares of one size (a synthetic task), else null: evaluation scales COCO's
    /// small/medium/large area ranges (defined for ~640-pixel images) to it.
    /// </summary>
    public virtual int? UniformImageSide => null;

    /// <summary>Whether the data set marks some instances hard (<see cref="DetectionObject.Hard"/>): evaluation then also reports AP on them.</summary>
    public virtual bool MarksHardInstances => false;

    /// <summary>
    /// Whether the data's own benchmark is PASCAL VOC's: evaluation then adds the devkit's AP (<c>VOC07_AP50</c>,
    /// <c>VOC_AP50</c>) beside COCO's, reading the crowd flags as VOC's difficult objects.
    /// </summary>
    public virtual bool IsVocBenchmark => false;

    /// <summary>Image <paramref name="index"/>'s ground truth (no pixels are decoded or rendered).</summary>
    public abstract DetectionTarget Target(int index);

    /// <summary>Image <paramref name="index"/>'s pixels, 3 × H × W uint8 (H, W as in its <see cref="Target"/>), and its ground truth.</summary>
    protected abstract (byte[] Pixels, DetectionTarget Target) Load(int index);

    /// <summary>Threads that load the images of one batch (loading must depend on the index only): 1 by default.</summary>
    protected virtual int LoadParallelism => 1;

    /// <summary>The batch of the images at <paramref name="indices"/>, padded bottom/right to the largest height and width.</summary>
    public DetectionBatch Collate(ReadOnlySpan<int> indices)
    {
        foreach (var i in indices) CheckIndex(i);
        var list = indices.ToArray();
        var loaded = new (byte[] Pixels, DetectionTarget Target)[list.Length];
        if (list.Length >= 8 && LoadParallelism > 1)
            Parallel.For(0, list.Length, new ParallelOptions { MaxDegreeOfParallelism = LoadParallelism }, i => loaded[i] = Load(list[i]));
        else
            for (var i = 0; i < list.Length; i++) loaded[i] = Load(list[i]);
        return Build(loaded);
    }

    /// <summary>Assembles a batch from 3 × H × W pixel arrays and their targets (padding to the largest size).</summary>
    internal static DetectionBatch Build(IReadOnlyList<(byte[] Pixels, DetectionTarget Target)> loaded)
    {
        var n = loaded.Count;
        var maxH = n == 0 ? 0 : loaded.Max(l => l.Target.Height);
        var maxW = n == 0 ? 0 : loaded.Max(l => l.Target.Width);
        var plane = maxH * maxW;
        var pixels = new byte[(long)n * 3 * plane];
        var sizes = new long[n * 2];
        var ids = new long[n];
        for (var i = 0; i < n; i++)
        {
            var (src, t) = loaded[i];
            if (src.Length != 3 * t.Height * t.Width)
                throw new InvalidOperationException($"image {t.ImageId} has {src.Length} bytes, expected 3 × {t.Height} × {t.Width}");
            sizes[2 * i] = t.Height;
            sizes[2 * i + 1] = t.Width;
            ids[i] = t.ImageId;
            if (t.Width == maxW && t.Height == maxH)
            {
                src.CopyTo(pixels.AsSpan(i * 3 * plane, 3 * plane));
                continue;
            }
            for (var c = 0; c < 3; c++)
                for (var y = 0; y < t.Height; y++)
                    src.AsSpan((c * t.Height + y) * t.Width, t.Width).CopyTo(pixels.AsSpan(i * 3 * plane + c * plane + y * maxW, t.Width));
        }
        var tensors = new List<Tensor>();
        try
        {
            var image = Keep(tensors, torch.tensor(pixels, new long[] { n, 3, maxH, maxW }));
            var imageSize = Keep(tensors, torch.tensor(sizes, new long[] { n, 2 }));
            var boxes = new Tensor[n];
            var labels = new Tensor[n];
            var crowd = new Tensor[n];
            var hard = new Tensor[n];
            var persons = new Tensor[n];
            for (var i = 0; i < n; i++)
            {
                var objects = loaded[i].Target.Objects;
                var g = objects.Count;
                var b = new float[g * 4];
                var l = new long[g];
                var c = new bool[g];
                var h = new bool[g];
                var p = new long[g];
                for (var k = 0; k < g; k++)
                {
                    var o = objects[k];
                    (b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]) = (o.X1, o.Y1, o.X2, o.Y2);
                    (l[k], c[k], h[k], p[k]) = (o.Label, o.Crowd, o.Hard, o.PersonId);
                }
                boxes[i] = Keep(tensors, torch.tensor(b, new long[] { g, 4 }));
                labels[i] = Keep(tensors, torch.tensor(l, new long[] { g }));
                crowd[i] = Keep(tensors, torch.tensor(c, new long[] { g }));
                hard[i] = Keep(tensors, torch.tensor(h, new long[] { g }));
                persons[i] = Keep(tensors, torch.tensor(p, new long[] { g }));
            }
            var imageId = Keep(tensors, torch.tensor(ids));
            return new DetectionBatch(image, imageSize, boxes, labels, crowd, hard, imageId, persons);
        }
        catch
        {
            foreach (var t in tensors) t.Dispose();
            throw;
        }
    }

    private static Tensor Keep(List<Tensor> list, Tensor t)
    {
        list.Add(t);
        return t;
    }

    /// <summary>The number of ground-truth objects of each class (index 0 unused), crowd objects excluded.</summary>
    public int[] ObjectCounts()
    {
        var counts = new int[Classes + 1];
        for (var i = 0; i < Count; i++)
            foreach (var o in Target(i).Objects)
                if (!o.Crowd) counts[o.Label]++;
        return counts;
    }

    public virtual void Dispose() => GC.SuppressFinalize(this);

    protected void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"the data set has {Count} images");
    }
}
