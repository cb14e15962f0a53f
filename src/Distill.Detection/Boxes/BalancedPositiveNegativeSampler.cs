namespace Distill.Detection.Boxes;

/// <summary>
/// torchvision's <c>BalancedPositiveNegativeSampler</c>: per image, at most
/// ⌊<see cref="batch_size_per_image"/>·<see cref="positive_fraction"/>⌋ positives (labels ≥ 1) and negatives
/// (label 0) to fill the batch, each drawn by <c>torch.randperm</c> on the global generator, positives first —
/// the same calls in the same order as torchvision, so a seeded run draws the same samples as PyTorch's
/// (same libtorch). Labels −1 are never sampled.
/// </summary>
public sealed class BalancedPositiveNegativeSampler
{
    public BalancedPositiveNegativeSampler(int batch_size_per_image, double positive_fraction)
    {
        if (batch_size_per_image < 1) throw new ArgumentOutOfRangeException(nameof(batch_size_per_image), batch_size_per_image, "must be at least 1");
        if (!(positive_fraction >= 0 && positive_fraction <= 1)) throw new ArgumentOutOfRangeException(nameof(positive_fraction), positive_fraction, "must be in [0, 1]");
        this.batch_size_per_image = batch_size_per_image;
        this.positive_fraction = positive_fraction;
    }

    public int batch_size_per_image { get; }
    public double positive_fraction { get; }

    /// <summary>For each image's labels, the sampled positive and negative masks (uint8, like torchvision).</summary>
    public (List<Tensor> pos, List<Tensor> neg) call(IReadOnlyList<Tensor> matched_idxs)
    {
        var pos = new List<Tensor>();
        var neg = new List<Tensor>();
        foreach (var m in matched_idxs)
        {
            using var scope = torch.NewDisposeScope();
            var (p, n) = sample(m);
            var pm = torch.zeros_like(m).to(ScalarType.Byte);
            var nm = torch.zeros_like(m).to(ScalarType.Byte);
            pm.index_fill_(0, p, 1);
            nm.index_fill_(0, n, 1);
            pos.Add(scope.MoveToOuter(pm));
            neg.Add(scope.MoveToOuter(nm));
        }
        return (pos, neg);
    }

    /// <summary>The sampled positive and negative indices of one image, in the order drawn.</summary>
    public (Tensor pos, Tensor neg) sample(Tensor labels)
    {
        using var scope = torch.NewDisposeScope();
        var positive = torch.where(labels.ge(1))[0];
        var negative = torch.where(labels.eq(0))[0];
        var numPos = (long)(batch_size_per_image * positive_fraction);
        numPos = Math.Min(positive.numel(), numPos);
        var numNeg = Math.Min(negative.numel(), batch_size_per_image - numPos);
        var perm1 = torch.randperm(positive.numel(), device: positive.device).narrow(0, 0, numPos);
        var perm2 = torch.randperm(negative.numel(), device: negative.device).narrow(0, 0, numNeg);
        return (scope.MoveToOuter(positive.index(perm1)), scope.MoveToOuter(negative.index(perm2)));
    }
}
