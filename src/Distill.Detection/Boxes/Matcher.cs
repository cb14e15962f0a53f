namespace Distill.Detection.Boxes;

/// <summary>
/// torchvision's <c>Matcher</c>: assigns each prediction (column of an M×N quality matrix, M ground-truth boxes)
/// the ground truth of highest quality; qualities below <see cref="low_threshold"/> become
/// <see cref="BELOW_LOW_THRESHOLD"/> (−1), those in [low, high) <see cref="BETWEEN_THRESHOLDS"/> (−2). With
/// <see cref="allow_low_quality_matches"/>, every prediction that is the best one for some ground truth (ties
/// included) keeps its best match whatever its quality (the RPN's rule). Ties between ground truths go to the first.
/// </summary>
public sealed class Matcher
{
    public const long BELOW_LOW_THRESHOLD = -1;
    public const long BETWEEN_THRESHOLDS = -2;

    public Matcher(double high_threshold, double low_threshold, bool allow_low_quality_matches = false)
    {
        if (!(low_threshold <= high_threshold))
            throw new ArgumentException($"low_threshold ({low_threshold}) should be <= high_threshold ({high_threshold})", nameof(low_threshold));
        this.high_threshold = high_threshold;
        this.low_threshold = low_threshold;
        this.allow_low_quality_matches = allow_low_quality_matches;
    }

    public double high_threshold { get; }
    public double low_threshold { get; }
    public bool allow_low_quality_matches { get; }

    /// <summary>The matched ground-truth index of each of the N predictions (int64), or −1 / −2.</summary>
    public Tensor call(Tensor match_quality_matrix)
    {
        if (match_quality_matrix.numel() == 0)
            throw new ArgumentException(match_quality_matrix.shape[0] == 0
                ? "No ground-truth boxes available for one of the images during training"
                : "No proposal boxes available for one of the images during training");
        using var scope = torch.NewDisposeScope();
        var (matchedVals, matches) = match_quality_matrix.max(0);
        var all = allow_low_quality_matches ? matches.clone() : null;
        var below = matchedVals.lt(low_threshold);
        var between = matchedVals.ge(low_threshold).logical_and_(matchedVals.lt(high_threshold));
        matches.masked_fill_(below, BELOW_LOW_THRESHOLD);
        matches.masked_fill_(between, BETWEEN_THRESHOLDS);
        if (all is not null)
        {
            // Each ground truth's best predictions, ties included, keep their own best match.
            var (highest, _) = match_quality_matrix.max(1);
            var pairs = torch.where(match_quality_matrix.eq(highest.unsqueeze(1)));
            var update = pairs[1];
            matches.index_put_([update], all.index(update));
        }
        return scope.MoveToOuter(matches);
    }
}
