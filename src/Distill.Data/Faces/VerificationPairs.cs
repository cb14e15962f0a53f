namespace Distill.Data;

/// <summary>
/// Two samples of a data set to be scored as "same identity" or not (LFW-style verification).
/// <see cref="First"/> and <see cref="Second"/> are sample indices of the data set the pair belongs to.
/// </summary>
public readonly record struct VerificationPair(int First, int Second, bool Same);

/// <summary>
/// A data set (also an <see cref="ImageDataset"/>) whose images are scored in pairs: face verification as
/// LFW runs it. <see cref="Pairs"/> holds <see cref="Folds"/> consecutive folds of equal size, each with as
/// many same-identity as different-identity pairs (LFW: 10 folds of 300 + 300), so a threshold can be chosen
/// on all folds but one and tested on the one left out. No pairs means <see cref="Folds"/> = 0.
/// </summary>
public interface IVerificationPairs
{
    IReadOnlyList<VerificationPair> Pairs { get; }

    int Folds { get; }
}

/// <summary>
/// Builds and reads verification pairs: <see cref="Build(IReadOnlyList{int}, int, int, int)"/> draws a
/// balanced, fold-structured set from the labels of any data set; <see cref="ReadLfw"/> and
/// <see cref="WriteLfw"/> read and write LFW's <c>pairs.txt</c> format.
/// </summary>
public static class VerificationPairs
{
    /// <summary>Pairs as three parallel arrays, in <see cref="Folds"/> consecutive folds (0: too few pairs to score).</summary>
    public sealed record Subset(int[] First, int[] Second, bool[] Same, int Folds);

    /// <summary>
    /// The pairs of <paramref name="set"/> whose two samples are both among its first <paramref name="embedded"/>
    /// (all of them after a full pass), in order, as arrays: what an evaluation limited to a few batches can score.
    /// Folds: the set's, or fewer when fewer pairs remain (each fold needs one pair; under two pairs, 0).
    /// </summary>
    public static Subset Within(IVerificationPairs set, long embedded)
    {
        ArgumentNullException.ThrowIfNull(set);
        var kept = set.Pairs.Where(p => p.First < embedded && p.Second < embedded).ToList();
        var folds = kept.Count < 2 ? 0 : Math.Max(2, Math.Min(set.Folds, kept.Count));
        return new Subset(kept.Select(p => p.First).ToArray(), kept.Select(p => p.Second).ToArray(), kept.Select(p => p.Same).ToArray(), folds);
    }

    /// <summary>
    /// <paramref name="count"/> pairs of the samples whose identities are <paramref name="labels"/> (one per
    /// sample), in <paramref name="folds"/> consecutive folds of count / folds pairs: first the fold's
    /// same-identity pairs, then as many different-identity ones. Like LFW's folds, the folds are
    /// identity-disjoint: the identities are dealt into the folds (seeded shuffle, each fold gets at least
    /// two, one of them with two or more samples) and a fold's pairs use only its own identities. A same pair
    /// picks an identity uniformly, then two of its samples; a different pair two identities, then one
    /// sample of each. No pair occurs twice; a pair's <see cref="VerificationPair.First"/> is its smaller
    /// index. A pure function of its arguments.
    /// </summary>
    /// <exception cref="ArgumentException">count is not a positive multiple of 2 · folds, or the labels cannot
    /// supply that many distinct pairs per fold (the message says what is missing).</exception>
    public static VerificationPair[] Build(IReadOnlyList<int> labels, int count, int folds = 10, int seed = 0) =>
        Build(labels, count, folds, Seeds.Combine(unchecked((ulong)(long)seed), PairStream));

    private static readonly ulong PairStream = Seeds.Name("verification-pairs");

    internal static VerificationPair[] Build(IReadOnlyList<int> labels, int count, int folds, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (folds < 1) throw new ArgumentOutOfRangeException(nameof(folds), folds, "folds must be at least 1");
        if (count < 2 * folds || count % (2 * folds) != 0)
            throw new ArgumentOutOfRangeException(nameof(count), count,
                $"the pair count must be a positive multiple of 2 × folds = {2 * folds} (each of the {folds} folds half same, half different pairs)");
        var perHalf = count / folds / 2;

        // The samples of each identity, in index order.
        var byIdentity = new SortedDictionary<int, List<int>>();
        for (var i = 0; i < labels.Count; i++)
        {
            if (labels[i] < 0) throw new ArgumentException($"label {labels[i]} of sample {i} is negative", nameof(labels));
            if (!byIdentity.TryGetValue(labels[i], out var list)) byIdentity[labels[i]] = list = [];
            list.Add(i);
        }
        var identities = byIdentity.Values.ToArray();
        var withPairs = identities.Count(s => s.Count >= 2);
        if (identities.Length < 2 * folds || withPairs < folds)
            throw new ArgumentException(
                $"{folds} identity-disjoint folds need at least {2 * folds} identities, {folds} of them with two or more samples; " +
                $"the labels have {identities.Length} identities, {withPairs} with two or more samples (use fewer folds)", nameof(labels));

        // Deal the identities into the folds: those with two or more samples first, so every fold gets one.
        var rng = new Rng(seed);
        var rich = Shuffled(identities.Where(s => s.Count >= 2).ToArray(), ref rng);
        var poor = Shuffled(identities.Where(s => s.Count < 2).ToArray(), ref rng);
        var foldIdentities = Enumerable.Range(0, folds).Select(_ => new List<List<int>>()).ToArray();
        var k = 0;
        foreach (var s in rich.Concat(poor)) foldIdentities[k++ % folds].Add(s);

        var result = new VerificationPair[count];
        var at = 0;
        for (var f = 0; f < folds; f++)
        {
            var ids = foldIdentities[f];
            var same = SamePairs(ids, perHalf, ref rng, f);
            var different = DifferentPairs(ids, perHalf, ref rng, f);
            foreach (var (a, b) in same) result[at++] = new VerificationPair(a, b, true);
            foreach (var (a, b) in different) result[at++] = new VerificationPair(a, b, false);
        }
        return result;
    }

    private static List<(int, int)> SamePairs(List<List<int>> ids, int need, ref Rng rng, int fold)
    {
        var rich = ids.Where(s => s.Count >= 2).ToArray();
        var available = rich.Sum(s => (long)s.Count * (s.Count - 1) / 2);
        if (available < need)
            throw new ArgumentException(
                $"fold {fold + 1} has {ids.Count} identities with {available} distinct same-identity pairs, fewer than the {need} it needs (ask for fewer pairs or folds)", "labels");
        var chosen = new HashSet<(int, int)>();
        var order = new List<(int, int)>(need);
        var attempts = 0L;
        while (order.Count < need && attempts++ < 50L * need + 1000)
        {
            var s = rich[rng.NextInt(rich.Length)];
            var i = rng.NextInt(s.Count);
            var j = (i + 1 + rng.NextInt(s.Count - 1)) % s.Count;
            var pair = Ordered(s[i], s[j]);
            if (chosen.Add(pair)) order.Add(pair);
        }
        if (order.Count < need)
        {
            // Nearly every pair is wanted: pick the rest uniformly from those not taken yet.
            var rest = rich.SelectMany(s => AllPairs(s)).Where(p => !chosen.Contains(p)).ToArray();
            order.AddRange(Shuffled(rest, ref rng).Take(need - order.Count));
        }
        return order;
    }

    private static List<(int, int)> DifferentPairs(List<List<int>> ids, int need, ref Rng rng, int fold)
    {
        long total = ids.Sum(s => s.Count), squares = ids.Sum(s => (long)s.Count * s.Count);
        var available = (total * total - squares) / 2;
        if (available < need)
            throw new ArgumentException(
                $"fold {fold + 1} has {ids.Count} identities with {available} distinct different-identity pairs, fewer than the {need} it needs (ask for fewer pairs or folds)", "labels");
        var chosen = new HashSet<(int, int)>();
        var order = new List<(int, int)>(need);
        var attempts = 0L;
        while (order.Count < need && attempts++ < 50L * need + 1000)
        {
            var a = rng.NextInt(ids.Count);
            var b = (a + 1 + rng.NextInt(ids.Count - 1)) % ids.Count;
            var pair = Ordered(ids[a][rng.NextInt(ids[a].Count)], ids[b][rng.NextInt(ids[b].Count)]);
            if (chosen.Add(pair)) order.Add(pair);
        }
        if (order.Count < need)
        {
            var rest = new List<(int, int)>();
            for (var a = 0; a < ids.Count; a++)
                for (var b = a + 1; b < ids.Count; b++)
                    foreach (var x in ids[a])
                        foreach (var y in ids[b])
                            if (!chosen.Contains(Ordered(x, y))) rest.Add(Ordered(x, y));
            order.AddRange(Shuffled(rest.ToArray(), ref rng).Take(need - order.Count));
        }
        return order;
    }

    private static (int, int) Ordered(int a, int b) => a < b ? (a, b) : (b, a);

    private static IEnumerable<(int, int)> AllPairs(List<int> s)
    {
        for (var i = 0; i < s.Count; i++)
            for (var j = i + 1; j < s.Count; j++) yield return Ordered(s[i], s[j]);
    }

    private static T[] Shuffled<T>(T[] items, ref Rng rng)
    {
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
        return items;
    }

    /// <summary>
    /// Checks the fold structure <see cref="IVerificationPairs"/> promises: <paramref name="folds"/> equal folds,
    /// each half same, half different pairs with the same pairs marked so by <paramref name="labels"/>, and
    /// every index below labels.Count. Throws an <see cref="ArgumentException"/> naming the first bad pair.
    /// </summary>
    public static void Validate(IReadOnlyList<VerificationPair> pairs, int folds, IReadOnlyList<int> labels)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(labels);
        if (folds == 0)
        {
            if (pairs.Count != 0) throw new ArgumentException($"{pairs.Count} pairs but 0 folds", nameof(pairs));
            return;
        }
        if (folds < 0 || pairs.Count % folds != 0 || pairs.Count / folds % 2 != 0 || pairs.Count == 0)
            throw new ArgumentException($"{pairs.Count} pairs do not split into {folds} equal folds of as many same as different pairs", nameof(pairs));
        var perFold = pairs.Count / folds;
        for (var f = 0; f < folds; f++)
        {
            var same = 0;
            for (var i = f * perFold; i < (f + 1) * perFold; i++)
            {
                var p = pairs[i];
                if ((uint)p.First >= (uint)labels.Count || (uint)p.Second >= (uint)labels.Count)
                    throw new ArgumentException($"pair {i} ({p.First}, {p.Second}) indexes outside the {labels.Count} samples", nameof(pairs));
                if ((labels[p.First] == labels[p.Second]) != p.Same)
                    throw new ArgumentException(
                        $"pair {i} ({p.First}, {p.Second}) is marked {(p.Same ? "same" : "different")}, but the labels are {labels[p.First]} and {labels[p.Second]}", nameof(pairs));
                if (p.Same) same++;
            }
            if (same * 2 != perFold)
                throw new ArgumentException($"fold {f + 1} has {same} same and {perFold - same} different pairs; a fold must be balanced", nameof(pairs));
        }
    }

    // ---- LFW pairs.txt ------------------------------------------------------------------------------

    /// <summary>One line of an LFW pairs file: two images named by identity and 1-based image number.</summary>
    /// <param name="Line">The 1-based line of the file it came from (for error messages).</param>
    public readonly record struct LfwPair(string Name1, int Image1, string Name2, int Image2, int Line)
    {
        public bool Same => Name1 == Name2;
    }

    /// <summary>The content of an LFW pairs file: <see cref="Folds"/> folds of <see cref="PerFold"/> same then <see cref="PerFold"/> different pairs.</summary>
    public sealed record LfwPairsFile(string Path, int Folds, int PerFold, IReadOnlyList<LfwPair> Pairs);

    /// <summary>
    /// Reads LFW's <c>pairs.txt</c> format: a first line "&lt;folds&gt; &lt;n&gt;" (LFW's View 2: "10 300"; a
    /// single number n, as in <c>pairsDevTrain.txt</c>, means one fold), then per fold n same-identity lines
    /// "name i j" followed by n different-identity lines "name1 i name2 j"; fields are separated by tabs or
    /// spaces, image numbers are 1-based, blank lines at the end are ignored. Anything else is a
    /// <see cref="DatasetException"/> naming the file and the (1-based) line, which its
    /// <see cref="DatasetException.Record"/> carries.
    /// </summary>
    public static LfwPairsFile ReadLfw(string path)
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DatasetException($"pairs file '{path}' does not exist", path, inner: e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"pairs file '{path}' cannot be read: {e.Message}", path, inner: e);
        }
        DatasetException Bad(int line, string what) => new($"pairs file '{path}', line {line}: {what}", path, line);

        var end = lines.Length;
        while (end > 0 && string.IsNullOrWhiteSpace(lines[end - 1])) end--;
        if (end == 0) throw new DatasetException($"pairs file '{path}' is empty (expected a first line '<folds> <pairs per fold>', e.g. '10 300')", path, 1);

        var header = Fields(lines[0]);
        int folds, perFold;
        if (header.Length == 2 && PositiveInt(header[0], out folds) && PositiveInt(header[1], out perFold)) { }
        else if (header.Length == 1 && PositiveInt(header[0], out perFold)) folds = 1;
        else throw Bad(1, $"expected '<folds> <pairs per fold>' (two positive integers, e.g. '10 300'), got '{Clip(lines[0])}'");
        var expected = (long)folds * perFold * 2;

        var pairs = new List<LfwPair>((int)Math.Min(expected, 1 << 20));
        var lineIndex = 1;
        for (var f = 0; f < folds; f++)
            for (var half = 0; half < 2; half++)
                for (var n = 0; n < perFold; n++, lineIndex++)
                {
                    var same = half == 0;
                    var line = lineIndex + 1;
                    var where = $"(fold {f + 1} of {folds}, {(same ? "same" : "different")}-identity pair {n + 1} of {perFold})";
                    var form = same ? "'name i j'" : "'name1 i name2 j'";
                    if (lineIndex >= end)
                        throw Bad(line, $"the file ends early: expected a {(same ? "same" : "different")}-identity pair {form} {where}; the header promises {folds} folds of {perFold} + {perFold} pairs ({expected} lines after the header), the file has {end - 1}");
                    var fields = Fields(lines[lineIndex]);
                    if (fields.Length != (same ? 3 : 4))
                    {
                        var hint = fields.Length == (same ? 4 : 3) ? $" (a {(same ? "different" : "same")}-identity line where the fold's {(same ? "same" : "different")}-identity pairs are expected)" : "";
                        throw Bad(line, $"expected a {(same ? "same" : "different")}-identity pair {form} {where}, got {fields.Length} field{(fields.Length == 1 ? "" : "s")} '{Clip(lines[lineIndex])}'{hint}");
                    }
                    var name1 = fields[0];
                    var name2 = same ? fields[0] : fields[2];
                    var i = Number(fields[1], line);
                    var j = Number(fields[same ? 2 : 3], line);
                    if (same && i == j) throw Bad(line, $"the same-identity pair names image {i} of '{name1}' twice");
                    if (!same && name1 == name2) throw Bad(line, $"the different-identity pair names '{name1}' twice");
                    pairs.Add(new LfwPair(name1, i, name2, j, line));
                }
        if (lineIndex < end)
            throw Bad(lineIndex + 1, $"unexpected content after the {folds} folds of {perFold} + {perFold} pairs the header promises: '{Clip(lines[lineIndex])}'");
        return new LfwPairsFile(path, folds, perFold, pairs);

        int Number(string text, int line) => PositiveInt(text, out var v)
            ? v : throw Bad(line, $"image number '{Clip(text)}' is not a positive integer (image numbers are 1-based)");
    }

    /// <summary>
    /// Writes <paramref name="pairs"/> (fold-structured as <see cref="IVerificationPairs"/> promises, in LFW's
    /// order: each fold's same pairs before its different ones) as an LFW pairs file, naming sample i as
    /// (<paramref name="identityName"/>(i), <paramref name="imageNumber"/>(i)).
    /// </summary>
    public static void WriteLfw(string path, IReadOnlyList<VerificationPair> pairs, int folds, Func<int, string> identityName, Func<int, int> imageNumber)
    {
        if (folds < 1 || pairs.Count % (2 * folds) != 0 || pairs.Count == 0)
            throw new ArgumentException($"{pairs.Count} pairs do not split into {folds} folds of as many same as different pairs", nameof(pairs));
        var perFold = pairs.Count / folds / 2;
        using var writer = new StreamWriter(path) { NewLine = "\n" };
        writer.WriteLine($"{folds}\t{perFold}");
        for (var k = 0; k < pairs.Count; k++)
        {
            var p = pairs[k];
            if (p.Same != (k % (2 * perFold) < perFold))
                throw new ArgumentException($"pair {k} is a {(p.Same ? "same" : "different")}-identity pair out of LFW's order (each fold: {perFold} same, then {perFold} different)", nameof(pairs));
            var (a, b) = (identityName(p.First), identityName(p.Second));
            if (p.Same != (a == b))
                throw new ArgumentException($"pair {k} ({p.First}, {p.Second}) is marked {(p.Same ? "same" : "different")}, but its identities are '{a}' and '{b}'", nameof(pairs));
            if (a.Any(char.IsWhiteSpace) || b.Any(char.IsWhiteSpace))
                throw new ArgumentException($"identity names in a pairs file cannot contain whitespace: '{(a.Any(char.IsWhiteSpace) ? a : b)}'", nameof(identityName));
            writer.WriteLine(p.Same
                ? $"{a}\t{imageNumber(p.First)}\t{imageNumber(p.Second)}"
                : $"{a}\t{imageNumber(p.First)}\t{b}\t{imageNumber(p.Second)}");
        }
    }

    private static string[] Fields(string line) => line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static bool PositiveInt(string text, out int value) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out value) && value > 0;

    private static string Clip(string text) => text.Length <= 60 ? text : text[..57] + "...";
}
