namespace Distill.Runtime;

/// <summary>"Did you mean" by edit distance.</summary>
public static class Suggestions
{
    /// <summary>The candidates close to <paramref name="name"/>, closest first (at most three).</summary>
    public static IReadOnlyList<string> Closest(string name, IEnumerable<string> candidates)
    {
        var lower = name.ToLowerInvariant();
        // A third of the name's length (at least 2) keeps "hintn" → "hinton" but not "a" → "resnet".
        var limit = Math.Max(2, lower.Length / 3);
        return candidates
            .Select(c => (c, d: Distance(lower, c.ToLowerInvariant())))
            .Where(x => x.d <= limit || (lower.Length >= 3 && x.c.Contains(lower, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(x => x.d)
            .ThenBy(x => x.c, StringComparer.Ordinal)
            .Take(3)
            .Select(x => x.c)
            .ToList();
    }

    /// <summary>" Did you mean 'x'?" (or " Did you mean 'x' or 'y'?"), or "" when nothing is close.</summary>
    public static string DidYouMean(string name, IEnumerable<string> candidates)
    {
        var close = Closest(name, candidates);
        return close.Count == 0 ? "" : $" Did you mean {string.Join(" or ", close.Select(c => $"'{c}'"))}?";
    }

    /// <summary>Levenshtein distance (insert, delete, substitute; each costs 1).</summary>
    public static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
