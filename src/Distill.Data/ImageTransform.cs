using static Distill.Torch.torch.nn.functional;

namespace Distill.Data;

/// <summary>
/// Train- and test-time processing of image batches, on whole batches with tensor ops (on the batch's
/// device): random crop after zero padding (torchvision's <c>RandomCrop(size, padding)</c>), random
/// horizontal flip (p = 0.5), conversion to float32 (uint8 is divided by 255) and per-channel
/// normalisation <c>(x - mean) / std</c>. Crop and flip are one gather; normalisation is one multiply and
/// one subtract.
/// </summary>
public sealed class ImageTransform : IBatchTransform<ImageBatch>
{
    /// <summary>CIFAR-10's per-channel mean and standard deviation of the training images (in [0, 1]).</summary>
    public static double[] Cifar10Mean => [0.4914, 0.4822, 0.4465];
    public static double[] Cifar10Std => [0.2470, 0.2435, 0.2616];

    /// <summary>CIFAR-100's per-channel mean and standard deviation of the training images (in [0, 1]).</summary>
    public static double[] Cifar100Mean => [0.5071, 0.4865, 0.4409];
    public static double[] Cifar100Std => [0.2673, 0.2564, 0.2762];

    private readonly double[]? _mean;
    private readonly double[]? _std;

    /// <param name="padding">Zero padding on each side before a random crop back to the input size; 0: no crop.</param>
    /// <param name="horizontalFlip">Flip each image left-right with probability 0.5.</param>
    /// <param name="mean">Per-channel means (one value, or one per channel); null: no normalisation.</param>
    /// <param name="std">Per-channel standard deviations, given with <paramref name="mean"/>.</param>
    public ImageTransform(int padding = 0, bool horizontalFlip = false, double[]? mean = null, double[]? std = null)
    {
        if (padding < 0) throw new ArgumentOutOfRangeException(nameof(padding), padding, "the padding must not be negative");
        if ((mean is null) != (std is null)) throw new ArgumentException("give both mean and std, or neither");
        if (mean is not null && (mean.Length == 0 || mean.Length != std!.Length))
            throw new ArgumentException($"mean and std need the same number of values (got {mean.Length} and {std!.Length})");
        if (std is not null && std.Any(s => !(s > 0))) throw new ArgumentException("every std must be positive", nameof(std));
        Padding = padding;
        HorizontalFlip = horizontalFlip;
        _mean = mean?.ToArray();
        _std = std?.ToArray();
    }

    /// <summary>The usual CIFAR training transform: pad 4 and random-crop, random flip, normalise.</summary>
    public static ImageTransform Train(double[] mean, double[] std, int padding = 4) => new(padding, horizontalFlip: true, mean, std);

    /// <summary>The evaluation transform: normalisation only.</summary>
    public static ImageTransform Eval(double[] mean, double[] std) => new(0, horizontalFlip: false, mean, std);

    /// <summary>The CIFAR training transform with a data set's <see cref="ImageDataset.Normalization"/>.</summary>
    public static ImageTransform Train((double[] Mean, double[] Std) normalization, int padding = 4) => Train(normalization.Mean, normalization.Std, padding);

    /// <summary>The evaluation transform with a data set's <see cref="ImageDataset.Normalization"/>.</summary>
    public static ImageTransform Eval((double[] Mean, double[] Std) normalization) => Eval(normalization.Mean, normalization.Std);

    public int Padding { get; }
    public bool HorizontalFlip { get; }
    public IReadOnlyList<double>? Mean => _mean;
    public IReadOnlyList<double>? Std => _std;

    /// <summary>Replaces the batch's image with the transformed one (the old image is freed).</summary>
    public ImageBatch Apply(ImageBatch batch, Generator generator) => Apply(batch, generator, BatchRows.Whole(batch.Count));

    /// <summary>Transforms one share of a batch with the whole batch's draws (data-parallel ranks).</summary>
    public ImageBatch Apply(ImageBatch batch, Generator generator, BatchRows rows)
    {
        var old = batch.image;
        batch.image = Apply(old, generator, rows);
        old.Dispose();
        return batch;
    }

    /// <summary>
    /// Transforms (N, C, H, W) images. Draws, in this order: the N vertical crop offsets, the N horizontal
    /// ones (each uniform in 0 .. 2·padding), then the N flips — so a batch's augmentation is a function of
    /// the generator's state alone.
    /// </summary>
    public Tensor Apply(Tensor images, Generator? generator) => Apply(images, generator, BatchRows.Whole(images.size(0)));

    private Tensor Apply(Tensor images, Generator? generator, BatchRows rows)
    {
        CheckImages(images);
        var n = images.size(0);
        Tensor? offsetY = null, offsetX = null, flip = null;
        try
        {
            if (Padding > 0)
            {
                offsetY = rows.Randint(0, 2 * Padding + 1, n, generator);
                offsetX = rows.Randint(0, 2 * Padding + 1, n, generator);
            }
            if (HorizontalFlip) flip = rows.Randint(0, 2, n, generator);
            if (offsetY is not null && images.device != Device.CPU)
            {
                (offsetY, offsetX) = (MoveTo(offsetY, images.device), MoveTo(offsetX!, images.device));
            }
            if (flip is not null && images.device != Device.CPU) flip = MoveTo(flip, images.device);
            return Apply(images, offsetY, offsetX, flip);
        }
        finally
        {
            offsetY?.Dispose();
            offsetX?.Dispose();
            flip?.Dispose();
        }
    }

    private static Tensor MoveTo(Tensor t, Device device)
    {
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }

    /// <summary>
    /// The deterministic core: crops each image n at (offsetY[n], offsetX[n]) of the zero-padded image
    /// (padding <see cref="Padding"/>), mirrors it where flip[n] is nonzero, converts and normalises.
    /// Offsets and flips are (N) integer tensors; null means none (offset 0 / no flip).
    /// </summary>
    public Tensor Apply(Tensor images, Tensor? offsetY, Tensor? offsetX, Tensor? flip)
    {
        CheckImages(images);
        using var scope = torch.NewDisposeScope();
        var x = images;
        if (offsetY is not null || offsetX is not null || flip is not null) x = CropAndFlip(images, offsetY, offsetX, flip);
        var result = ToFloatNormalised(x);
        return scope.MoveToOuter(result);
    }

    private Tensor CropAndFlip(Tensor images, Tensor? offsetY, Tensor? offsetX, Tensor? flip)
    {
        var (n, c, h, w) = (images.size(0), images.size(1), images.size(2), images.size(3));
        var device = images.device;
        var padded = Padding > 0 ? pad(images, [Padding, Padding, Padding, Padding]) : images;
        var rows = torch.arange(h, device: device).view(1, h);
        var cols = torch.arange(w, device: device).view(1, w);
        if (offsetY is not null) rows = rows + offsetY.to(torch.int64).view(n, 1);
        if (flip is not null) cols = torch.where(flip.view(n, 1).ne(0), (w - 1) - cols, cols);
        if (offsetX is not null) cols = cols + offsetX.to(torch.int64).view(n, 1);
        rows = rows.expand(n, h);
        cols = cols.expand(n, w);
        // One advanced index over (sample, channel, row, column), broadcast to (N, C, H, W).
        var sample = torch.arange(n, device: device).view(n, 1, 1, 1);
        var channel = torch.arange(c, device: device).view(1, c, 1, 1);
        return padded.index([sample, channel, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]);
    }

    private Tensor ToFloatNormalised(Tensor x)
    {
        var isByte = x.dtype == ScalarType.Byte;
        var f = x.to(torch.float32);
        if (_mean is null)
            return isByte ? f.div_(255.0) : f.dtype == x.dtype ? f.clone() : f;
        var c = x.size(1);
        if (_mean.Length != 1 && _mean.Length != c)
            throw new ArgumentException($"the transform normalises {_mean.Length} channels, but the images have {c}");
        // (x / 255 - mean) / std  ==  x * (1 / (255 std)) - mean / std, per channel.
        var scale = new float[_mean.Length];
        var shift = new float[_mean.Length];
        for (var i = 0; i < scale.Length; i++)
        {
            scale[i] = (float)(1.0 / ((isByte ? 255.0 : 1.0) * _std![i]));
            shift[i] = (float)(_mean[i] / _std[i]);
        }
        var shape = new long[] { 1, _mean.Length, 1, 1 };
        var s = torch.tensor(scale, shape).to(x.device);
        var m = torch.tensor(shift, shape).to(x.device);
        // f is a fresh tensor unless x already was float32 (to() then aliases it): never write into the input.
        if (f.dtype == x.dtype) f = f.clone();
        return f.mul_(s).sub_(m);
    }

    private void CheckImages(Tensor images)
    {
        if (images.dim() != 4)
            throw new ArgumentException($"images must be (N, C, H, W), got shape [{string.Join(", ", images.shape)}]", nameof(images));
        var dtype = images.dtype;
        if (dtype != ScalarType.Byte && !dtype.IsFloatingPoint())
            throw new ArgumentException($"images must be uint8 or floating point, got {dtype.Name()}", nameof(images));
    }
}
