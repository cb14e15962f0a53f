using System;
using System.Collections.Generic;
using System.Linq;

namespace Distill.Generators.Parsing;

/// <summary>"Did you mean ...?" by edit distance, for unknown keys, taps, models and losses.</summary>
internal static class NameSuggestions
{
    /// <summary>
    /// Names longer than this get no suggestion (and candidates longer than this are never suggested): a typo of a
    /// name is about as long as the name, and the names of the DSL are short. This bounds the work per candidate, so
    /// a suggestion costs time linear in the number of candidates whatever the length of the text.
    /// </summary>
    public const int MaxLength = 64;

    /// <summary>
    /// The closest candidate: within an edit distance (transpositions count once) of about a third of the
    /// name's length, or one that starts with / is contained in the name (SynthImages → SyntheticImages).
    /// </summary>
    public static string? Closest(string name, IEnumerable<string> candidates)
    {
        if (name.Length == 0 || name.Length > MaxLength) return null;
        var list = candidates.Where(c => c.Length > 0 && c.Length <= MaxLength).ToList();
        var threshold = Math.Max(2, name.Length / 3);
        string? best = null;
        var bestDistance = int.MaxValue;
        var lower = name.ToLowerInvariant();
        foreach (var c in list)
        {
            // The distance is at least the difference in length: such a candidate could never be close enough.
            if (Math.Abs(c.Length - name.Length) > threshold) continue;
            var d = Distance(lower, c.ToLowerInvariant());
            if (d < bestDistance) { best = c; bestDistance = d; }
        }
        if (best is not null && bestDistance <= threshold) return best;
        // Abbreviations: every character of the name appears in order in the candidate, sharing the first letter.
        return name.Length >= 3 ? list.FirstOrDefault(c => IsSubsequence(lower, c.ToLowerInvariant())) : null;
    }

    private static bool IsSubsequence(string name, string candidate)
    {
        if (candidate.Length == 0 || name[0] != candidate[0]) return false;
        var j = 0;
        foreach (var ch in candidate)
            if (j < name.Length && name[j] == ch) j++;
        return j == name.Length;
    }

    /// <summary>"; did you mean 'x'?" or "".</summary>
    public static string DidYouMean(string name, IEnumerable<string> candidates)
    {
        var c = Closest(name, candidates);
        return c is null ? "" : $" (did you mean '{c}'?)";
    }

    public static string List(IEnumerable<string> names) => string.Join(", ", names.Select(n => n));

    /// <summary>Optimal-string-alignment distance: insertions, deletions, substitutions, adjacent transpositions.</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
