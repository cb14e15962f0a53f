using System.Globalization;

namespace Distill.Runtime;

/// <summary>One fold of the k-fold verification protocol.</summary>
/// <param name="Start">The index of the fold's first pair (folds are consecutive runs of pairs).</param>
/// <param name="Count">The number of pairs in the fold.</param>
/// <param name="Threshold">The threshold chosen on the other folds.</param>
/// <param name="TrainAccuracy">The accuracy of that threshold on the other folds (the best one there).</param>
/// <param name="Accuracy">The accuracy of that threshold on this fold.</param>
public readonly record struct VerificationFold(int Start, int Count, double Threshold, double TrainAccuracy, double Accuracy);

/// <summary>The true accept rate at one false accept rate (over all pairs, not folded).</summary>
/// <param name="Far">The false accept rate asked for.</param>
/// <param name="Threshold">
/// The lowest threshold at which the fraction of different pairs scoring above it is at most <paramref name="Far"/>;
/// -∞ when every different pair may be accepted (<paramref name="Far"/> = 1); NaN when there are no different pairs.
/// </param>
/// <param name="Tar">The fraction of same pairs scoring above <paramref name="Threshold"/>; NaN without same or different pairs.</param>
/// <param name="AchievedFar">The fraction of different pairs scoring above <paramref name="Threshold"/> (at most <paramref name="Far"/>; below it where scores tie or there are few different pairs).</param>
public readonly record struct TarAtFar(double Far, double Threshold, double Tar, double AchievedFar);

/// <summary>
/// What <see cref="Verification.Evaluate"/> measured. <see cref="WriteTo"/> names the values:
/// <list type="bullet">
/// <item><c>verify_acc</c>: the mean of the folds' held-out accuracies (<see cref="Accuracy"/>);</item>
/// <item><c>verify_acc_std</c>: their population standard deviation (<see cref="AccuracyStd"/>, as numpy's <c>np.std</c>);</item>
/// <item><c>verify_threshold</c>: the mean of the folds' chosen thresholds (<see cref="Threshold"/>);</item>
/// <item><c>tar_far{f}</c> and <c>tar_far{f}_threshold</c> for each false accept rate f, written as
/// <see cref="Verification.FarName"/> does: <c>tar_far1e-3</c>, <c>tar_far1e-4</c>, <c>tar_far5e-2</c>, …;</item>
/// <item><c>auc</c>: the area under the ROC curve, ties counting ½ (<see cref="Auc"/>).</item>
/// </list>
/// </summary>
/// <param name="Pairs">All pairs.</param>
/// <param name="SamePairs">Pairs flagged same.</param>
/// <param name="DifferentPairs">Pairs flagged different.</param>
/// <param name="Accuracy">The mean over folds of the held-out accuracy (each fold weighs the same, whatever its size).</param>
/// <param name="AccuracyStd">The population standard deviation of the folds' held-out accuracies.</param>
/// <param name="Threshold">The mean of the thresholds the folds chose.</param>
/// <param name="Folds">Each fold's threshold and accuracies, in order.</param>
/// <param name="TarAtFar">The true accept rate at each false accept rate asked for, in the order asked.</param>
/// <param name="Auc">The ROC AUC: the probability that a same pair scores above a different one, ties counting ½; NaN without both kinds.</param>
public sealed record VerificationResult(
    int Pairs,
    int SamePairs,
    int DifferentPairs,
    double Accuracy,
    double AccuracyStd,
    double Threshold,
    IReadOnlyList<VerificationFold> Folds,
    IReadOnlyList<TarAtFar> TarAtFar,
    double Auc)
{
    /// <summary>Writes the values named in the type's summary, each prefixed (e.g. "val_").</summary>
    public void WriteTo(IDictionary<string, double> values, string prefix = "")
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(prefix);
        values[prefix + "verify_acc"] = Accuracy;
        values[prefix + "verify_acc_std"] = AccuracyStd;
        values[prefix + "verify_threshold"] = Threshold;
        foreach (var point in TarAtFar)
        {
            var name = prefix + "tar_far" + Verification.FarName(point.Far);
            values[name] = point.Tar;
            values[name + "_threshold"] = point.Threshold;
        }
        values[prefix + "auc"] = Auc;
    }
}

/// <summary>
/// Face verification metrics from pair scores (higher = more similar, e.g. cosine similarity of two
/// embeddings) and same/different flags: the LFW protocol's k-fold accuracy, TAR at fixed FARs and ROC AUC.
/// A pair is predicted same when its score is strictly above the threshold.
/// </summary>
public static class Verification
{
    /// <summary>The false accept rates reported when none are given: 1e-3 and 1e-4.</summary>
    public static IReadOnlyList<double> DefaultFars { get; } = [1e-3, 1e-4];

    /// <summary>
    /// Evaluates pair scores.
    /// <para>
    /// <b>k-fold accuracy (LFW protocol).</b> The pairs are split, in the order given (LFW's pairs list
    /// is ordered by fold), into <paramref name="folds"/> consecutive folds; with n pairs the first
    /// n mod k folds hold ⌊n/k⌋ + 1 pairs and the others ⌊n/k⌋ (scikit-learn's unshuffled KFold, which
    /// insightface's evaluation uses; LFW's 6000 pairs make ten folds of 600). For each fold the threshold
    /// is the one with the highest accuracy on the other folds, and the fold's accuracy is measured with it.
    /// The candidates are exact, not a grid: with v₁ &lt; … &lt; vₘ the distinct scores of the other folds,
    /// v₁ − 1 (everything same), (vⱼ + vⱼ₊₁)/2 between neighbours, and vₘ + 1 (everything different);
    /// among equally accurate candidates the smallest wins (the most lenient; insightface's argmax over an
    /// ascending distance grid takes the strictest instead, which can move a small protocol's accuracy by a
    /// fold's pair or two). (A midpoint that rounds onto vⱼ₊₁, possible
    /// only for neighbouring doubles, is replaced by vⱼ; v₁ − 1 that rounds onto v₁ by the next double below.)
    /// One sort of all scores, then one linear sweep per fold.
    /// </para>
    /// <para>
    /// <b>TAR@FAR</b> over all pairs: with N different pairs, the threshold for a false accept rate f is
    /// the lowest t at which at most f·N of them score above t, that is the (k+1)-th highest different
    /// score for the largest k with k/N ≤ f. When f·N &lt; 1 no false accept is allowed: the threshold is
    /// the highest different score. TAR is the fraction of same pairs scoring above t.
    /// </para>
    /// </summary>
    /// <param name="scores">One finite score per pair.</param>
    /// <param name="same">Whether each pair is of the same identity.</param>
    /// <param name="folds">The number of folds (at least 2, at most the number of pairs).</param>
    /// <param name="fars">False accept rates in [0, 1] for TAR@FAR; null for <see cref="DefaultFars"/>.</param>
    public static VerificationResult Evaluate(ReadOnlySpan<double> scores, ReadOnlySpan<bool> same, int folds = 10, IReadOnlyList<double>? fars = null)
    {
        if (scores.Length != same.Length)
            throw new ArgumentException($"there are {scores.Length} scores but {same.Length} same/different flags; give one flag per pair", nameof(same));
        if (folds < 2)
            throw new ArgumentOutOfRangeException(nameof(folds), folds, "the k-fold protocol needs at least 2 folds (each fold's threshold is chosen on the others)");
        if (scores.Length < folds)
            throw new ArgumentException($"{scores.Length} pairs cannot make {folds} folds; give at least one pair per fold", nameof(scores));
        for (var i = 0; i < scores.Length; i++)
            if (!double.IsFinite(scores[i]))
                throw new ArgumentException($"score {i} is {JsonNumbers.Name(scores[i])}; every score must be finite (a NaN often means an embedding of zero norm or a diverged model)", nameof(scores));
        var farList = fars ?? DefaultFars;
        for (var j = 0; j < farList.Count; j++)
            if (!(farList[j] >= 0 && farList[j] <= 1))
                throw new ArgumentOutOfRangeException(nameof(fars), farList[j], $"false accept rate {j} must lie in [0, 1]");

        var n = scores.Length;
        // Pair indices in ascending score order; equal scores stay in pair order (irrelevant to every result).
        var order = new int[n];
        for (var i = 0; i < n; i++) order[i] = i;
        var keys = scores.ToArray();
        Array.Sort(keys, order);
        var sorted = keys; // the scores, ascending

        var sameCount = 0;
        foreach (var s in same) if (s) sameCount++;

        var foldResults = KFold(scores, same, order, sorted, folds);
        var accuracies = foldResults.Select(f => f.Accuracy).ToArray();
        var mean = accuracies.Average();
        var std = Math.Sqrt(accuracies.Select(a => (a - mean) * (a - mean)).Sum() / accuracies.Length);
        var threshold = foldResults.Select(f => f.Threshold).Average();

        var tar = new TarAtFar[farList.Count];
        var positives = new List<double>(sameCount);
        var negatives = new List<double>(n - sameCount);
        for (var r = n - 1; r >= 0; r--) (same[order[r]] ? positives : negatives).Add(sorted[r]); // both descending
        for (var j = 0; j < farList.Count; j++) tar[j] = TarAt(farList[j], positives, negatives);

        return new VerificationResult(n, sameCount, n - sameCount, mean, std, threshold, foldResults, tar, Auc(same, order, sorted));
    }

    /// <summary>
    /// The first pair of each fold and the fold sizes: the first n mod k folds hold one pair more.
    /// Returns k + 1 boundaries (fold i is [bounds[i], bounds[i + 1])).
    /// </summary>
    public static int[] FoldBounds(int pairs, int folds)
    {
        if (folds < 1) throw new ArgumentOutOfRangeException(nameof(folds), folds, "at least one fold");
        if (pairs < folds) throw new ArgumentException($"{pairs} pairs cannot make {folds} folds", nameof(pairs));
        var bounds = new int[folds + 1];
        int size = pairs / folds, extra = pairs % folds;
        for (var i = 0; i < folds; i++) bounds[i + 1] = bounds[i] + size + (i < extra ? 1 : 0);
        return bounds;
    }

    /// <summary>A false accept rate as metric names spell it: 1e-3 → "1e-3", 0.05 → "5e-2", 1.5e-4 → "1.5e-4", 1 → "1e0", 0 → "0".</summary>
    public static string FarName(double far) =>
        far == 0 ? "0" : far.ToString("0.##############e0", CultureInfo.InvariantCulture);

    private static VerificationFold[] KFold(ReadOnlySpan<double> scores, ReadOnlySpan<bool> same, int[] order, double[] sorted, int folds)
    {
        var n = scores.Length;
        var bounds = FoldBounds(n, folds);
        var sameTotal = 0;
        foreach (var isSame in same) if (isSame) sameTotal++;

        var result = new VerificationFold[folds];
        for (var k = 0; k < folds; k++)
        {
            // Training pairs: everything outside fold k (the consecutive range [start, end)). Sweep them in ascending
            // score order; at a boundary between two distinct scores, the pairs already passed are predicted different.
            int start = bounds[k], end = bounds[k + 1];
            var trainSame = sameTotal;
            for (var i = start; i < end; i++)
                if (same[i]) trainSame--;
            var trainCount = n - (end - start);
            // Candidate "below the minimum": everything predicted same, correct = the same pairs.
            var correct = trainSame;
            var bestCorrect = correct;
            double lowest = double.NaN, previous = double.NaN, best = double.NaN;
            var first = true;
            for (var r = 0; r < n; r++)
            {
                var i = order[r];
                if (i >= start && i < end) continue;
                var s = sorted[r];
                if (first)
                {
                    lowest = s;
                    first = false;
                }
                else if (s != previous && correct > bestCorrect)
                {
                    // Everything up to `previous` predicted different, from `s` on same.
                    bestCorrect = correct;
                    best = Midpoint(previous, s);
                }
                correct += same[i] ? -1 : 1;
                previous = s;
            }
            // Candidate "above the maximum": everything predicted different.
            if (correct > bestCorrect)
            {
                bestCorrect = correct;
                best = previous + 1;
            }
            if (double.IsNaN(best)) best = Below(lowest);

            var testCorrect = 0;
            for (var i = start; i < end; i++)
                if ((scores[i] > best) == same[i]) testCorrect++;
            var testCount = end - start;
            result[k] = new VerificationFold(start, testCount, best, (double)bestCorrect / trainCount, (double)testCorrect / testCount);
        }
        return result;
    }

    /// <summary>A threshold separating a from b (a &lt; b): a ≤ t &lt; b, the midpoint unless it rounds onto b.</summary>
    private static double Midpoint(double a, double b)
    {
        var m = (a + b) / 2;
        return m < b ? m : a;
    }

    private static double Below(double min)
    {
        var t = min - 1;
        return t < min ? t : Math.BitDecrement(min);
    }

    /// <param name="positives">Same-pair scores, descending.</param>
    /// <param name="negatives">Different-pair scores, descending.</param>
    private static TarAtFar TarAt(double far, List<double> positives, List<double> negatives)
    {
        var n = negatives.Count;
        if (n == 0) return new TarAtFar(far, double.NaN, double.NaN, double.NaN);
        // The largest k with k/n ≤ far, as the fraction is computed (in doubles).
        var k = (int)Math.Min(n, Math.Floor(far * n));
        while (k < n && (double)(k + 1) / n <= far) k++;
        while (k > 0 && (double)k / n > far) k--;
        // At most k different pairs strictly above t: t = the (k+1)-th highest different score.
        var threshold = k >= n ? double.NegativeInfinity : negatives[k];
        var falseAccepts = 0;
        while (falseAccepts < n && negatives[falseAccepts] > threshold) falseAccepts++;
        var accepted = 0;
        while (accepted < positives.Count && positives[accepted] > threshold) accepted++;
        var tar = positives.Count == 0 ? double.NaN : (double)accepted / positives.Count;
        return new TarAtFar(far, threshold, tar, (double)falseAccepts / n);
    }

    /// <summary>Σ over (same, different) pairs of [s₊ &gt; s₋] + ½[s₊ = s₋], over the product of the counts.</summary>
    private static double Auc(ReadOnlySpan<bool> same, int[] order, double[] sorted)
    {
        long positives = 0, negativesBelow = 0;
        double wins = 0; // a sum of halves: exact in a double up to 2^52 pairs of pairs
        var n = sorted.Length;
        for (var r = 0; r < n;)
        {
            // One group of equal scores.
            long p = 0, q = 0;
            var s = sorted[r];
            for (; r < n && sorted[r] == s; r++)
            {
                if (same[order[r]]) p++;
                else q++;
            }
            wins += p * negativesBelow + 0.5 * p * q;
            positives += p;
            negativesBelow += q;
        }
        return positives == 0 || negativesBelow == 0 ? double.NaN : wins / ((double)positives * negativesBelow);
    }
}
