namespace Distill.Data;

/// <summary>
/// The base of the image-classification data sets: fixed-size images of <see cref="Channels"/> ×
/// <see cref="Height"/> × <see cref="Width"/> and a class label in 0 .. <see cref="Classes"/> - 1.
/// Batches come out as <see cref="ImageBatch"/> with uint8 images (or float32 in [0, 1] where the
/// source stores floats); an <see cref="ImageTransform"/> turns them into normalised float32.
/// </summary>
public abstract class ImageDataset : IDataset<ImageSample>, IBatchDataset<ImageBatch>, IDisposable
{
    public abstract int Count { get; }
    public abstract int Channels { get; }
    public abstract int Height { get; }
    public abstract int Width { get; }
    public abstract int Classes { get; }

    /// <summary>Class names where the source has them (CIFAR's meta files, an image folder's directories).</summary>
    public virtual IReadOnlyList<string>? ClassNames => null;

    /// <summary>The label batches carry for sample <paramref name="index"/>.</summary>
    public abstract int Label(int index);

    public abstract ImageBatch Collate(ReadOnlySpan<int> indices);

    /// <summary>Writes one sample's uint8 pixels, C × H × W, into <paramref name="destination"/>.</summary>
    protected delegate void RenderSample(int index, Span<byte> destination);

    /// <summary>
    /// The batch of a procedural data set: each sample rendered into its slice of one uint8 buffer (on up to
    /// <paramref name="parallelism"/> threads for batches of 16 or more; rendering must depend on the index only),
    /// with its label.
    /// </summary>
    protected ImageBatch CollateRendered(ReadOnlySpan<int> indices, int parallelism, RenderSample render)
    {
        CheckIndices(indices);
        var per = Channels * Height * Width;
        var pixels = new byte[indices.Length * per];
        var list = indices.ToArray();
        if (list.Length >= 16 && parallelism > 1)
            Parallel.For(0, list.Length, new ParallelOptions { MaxDegreeOfParallelism = parallelism },
                i => render(list[i], pixels.AsSpan(i * per, per)));
        else
            for (var i = 0; i < list.Length; i++) render(list[i], pixels.AsSpan(i * per, per));
        var image = torch.tensor(pixels, new long[] { indices.Length, Channels, Height, Width });
        return new ImageBatch(image, LabelTensor(indices));
    }

    /// <summary>One sample: the (C, H, W) image and its label.</summary>
    public ImageSample Get(int index)
    {
        CheckIndex(index);
        using var batch = Collate([index]);
        return new ImageSample(batch.image.select(0, 0), Label(index));
    }

    /// <summary>The number of samples of each class.</summary>
    public int[] LabelCounts()
    {
        var counts = new int[Classes];
        for (var i = 0; i < Count; i++) counts[Label(i)]++;
        return counts;
    }

    private (double[] Mean, double[] Std)? _normalization;
    private readonly object _normalizationLock = new();

    /// <summary>
    /// The per-channel mean and standard deviation (of values in [0, 1]) to normalise this data set's
    /// images with: published constants where they exist (CIFAR), else <see cref="ChannelStatistics"/>
    /// of up to 10,000 samples, computed once. Normalise every split with the training split's values.
    /// </summary>
    public virtual (double[] Mean, double[] Std) Normalization
    {
        get
        {
            (double[] Mean, double[] Std) n;
            lock (_normalizationLock) n = _normalization ??= ChannelStatistics();
            return (n.Mean.ToArray(), n.Std.ToArray());
        }
    }

    /// <summary>
    /// Per-channel mean and (population) standard deviation of the pixel values scaled to [0, 1], over the
    /// first <paramref name="maxSamples"/> samples: the numbers <see cref="ImageTransform"/> normalises with.
    /// </summary>
    public (double[] Mean, double[] Std) ChannelStatistics(int maxSamples = 10000)
    {
        using var scope = torch.NewDisposeScope();
        var n = Math.Min(Count, maxSamples);
        var sum = torch.zeros([Channels], torch.float64);
        var squares = torch.zeros([Channels], torch.float64);
        const int Chunk = 256;
        for (var start = 0; start < n; start += Chunk)
        {
            var indices = Enumerable.Range(start, Math.Min(Chunk, n - start)).ToArray();
            // Each chunk's float64 temporaries (~19 MB for 256 CIFAR-sized images) are freed with the chunk: in the
            // outer scope they piled up until the end, 750 MB at the peak for 10,000 32×32 samples.
            using var chunkScope = torch.NewDisposeScope();
            using var batch = Collate(indices);
            var x = batch.image.to(torch.float64);
            if (batch.image.dtype == ScalarType.Byte) x = x / 255.0;
            sum.add_(x.sum(new long[] { 0, 2, 3 }));
            squares.add_(x.square().sum(new long[] { 0, 2, 3 }));
        }
        var count = (double)n * Height * Width;
        var mean = (sum / count).ToArray<double>();
        var meanSquare = (squares / count).ToArray<double>();
        var std = mean.Select((m, c) => Math.Sqrt(Math.Max(0, meanSquare[c] - m * m))).ToArray();
        return (mean, std);
    }

    public virtual void Dispose() => GC.SuppressFinalize(this);

    protected void CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"the data set has {Count} samples");
    }

    protected void CheckIndices(ReadOnlySpan<int> indices)
    {
        foreach (var i in indices) CheckIndex(i);
    }

    /// <summary>The label tensor of a batch.</summary>
    protected Tensor LabelTensor(ReadOnlySpan<int> indices)
    {
        var labels = new long[indices.Length];
        for (var i = 0; i < labels.Length; i++) labels[i] = Label(indices[i]);
        return torch.tensor(labels);
    }
}

/// <summary>
/// An image data set held in memory as one (N, C, H, W) tensor (uint8, or float32 in [0, 1]) and its
/// labels: batches are two <c>index_select</c> calls, with no per-pixel work in C#. The readers of real
/// formats load into this form.
/// </summary>
public abstract class InMemoryImageDataset : ImageDataset
{
    private Tensor? _images;
    private Tensor? _labels;
    private int[] _labelArray = [];
    private int _classes;
    private IReadOnlyList<string>? _classNames;

    public override int Count => _labelArray.Length;
    public override int Channels => (int)Images.size(1);
    public override int Height => (int)Images.size(2);
    public override int Width => (int)Images.size(3);
    public override int Classes => _classes;
    public override IReadOnlyList<string>? ClassNames => _classNames;

    /// <summary>Every image, (N, C, H, W).</summary>
    public Tensor Images => _images ?? throw new InvalidOperationException("the data set is not initialised");

    public override int Label(int index)
    {
        CheckIndex(index);
        return _labelArray[index];
    }

    /// <summary>Takes ownership of <paramref name="images"/> (detached from every dispose scope).</summary>
    protected void Initialize(Tensor images, int[] labels, int classes, IReadOnlyList<string>? classNames)
    {
        if (images.dim() != 4 || images.size(0) != labels.Length)
            throw new ArgumentException($"images must be (N, C, H, W) with N = {labels.Length}, got [{string.Join(", ", images.shape)}]", nameof(images));
        _images = images.DetachFromDisposeScope();
        _labels = torch.tensor(labels.Select(l => (long)l).ToArray()).DetachFromDisposeScope();
        _labelArray = labels;
        _classes = classes;
        _classNames = classNames;
    }

    public override ImageBatch Collate(ReadOnlySpan<int> indices)
    {
        CheckIndices(indices);
        var longs = new long[indices.Length];
        for (var i = 0; i < longs.Length; i++) longs[i] = indices[i];
        using var index = torch.tensor(longs);
        return new ImageBatch(Images.index_select(0, index), _labels!.index_select(0, index));
    }

    public override void Dispose()
    {
        _images?.Dispose();
        _labels?.Dispose();
        base.Dispose();
    }
}
