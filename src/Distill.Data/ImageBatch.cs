namespace Distill.Data;

/// <summary>
/// A classification batch: <c>image</c> (N, C, H, W) — uint8 0..255 as data sets collate it, float32
/// after an <see cref="ImageTransform"/> — and <c>label</c> (N) int64 class indices.
/// </summary>
public sealed class ImageBatch : IBatch
{
    private bool _disposed;

    public ImageBatch(Tensor image, Tensor label)
    {
        this.image = image ?? throw new ArgumentNullException(nameof(image));
        this.label = label ?? throw new ArgumentNullException(nameof(label));
    }

    /// <summary>The images, (N, C, H, W). Replacing it does not free the old tensor.</summary>
    public Tensor image { get; set; }

    /// <summary>The class indices, (N) int64. Replacing it does not free the old tensor.</summary>
    public Tensor label { get; set; }

    public long Count => label.size(0);

    public IReadOnlyList<Tensor> Tensors => [image, label];

    /// <summary>Lays out the images in <paramref name="memoryFormat"/>, freeing the tensor it replaces.</summary>
    public void ToMemoryFormat(MemoryFormat memoryFormat)
    {
        var old = image;
        image = old.contiguous(memoryFormat);
        if (!ReferenceEquals(old, image)) old.Dispose();
    }

    public void To(Device device)
    {
        var (i, l) = (image, label);
        image = i.to(device);
        label = l.to(device);
        i.Dispose();
        l.Dispose();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        image.Dispose();
        label.Dispose();
    }
}

/// <summary>One sample of an image data set: <c>image</c> (C, H, W) and its class. Owns the tensor.</summary>
public sealed class ImageSample : IDisposable
{
    public ImageSample(Tensor image, int label)
    {
        this.image = image;
        this.label = label;
    }

    public Tensor image { get; }
    public int label { get; }

    public void Dispose() => image.Dispose();
}
