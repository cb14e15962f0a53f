using System.Globalization;
using System.Text;

namespace Distill.Generators.Model;

/// <summary>
/// Text written by the user, made safe to show: in diagnostic messages (shortened), and in comments of generated
/// code (on one line, every character that could end a comment, change a line count, hide or reorder text, or
/// make XML ill-formed written as <c>\uXXXX</c>). String literals are <see cref="CSharpLiteral.Literal(string)"/>'s.
/// </summary>
internal static class UserText
{
    /// <summary>The longest user text a diagnostic quotes in full.</summary>
    public const int MaxShown = 80;

    /// <summary>The text, or its start and its length when it is longer than <see cref="MaxShown"/>; invisible characters escaped.</summary>
    public static string Shorten(string text)
    {
        if (text.Length <= MaxShown) return Visible(text);
        var cut = 60;
        if (char.IsHighSurrogate(text[cut - 1])) cut--;
        return Visible(text.Substring(0, cut)) + $"… ({text.Length.ToString(CultureInfo.InvariantCulture)} characters)";
    }

    /// <summary>The text on one line, for a <c>//</c> or <c>///</c> comment (pass it through an XML escape too for the latter).</summary>
    public static string Comment(string text) => Visible(text);

    /// <summary>
    /// Every character that is not plainly visible text escaped as <c>\uXXXX</c>: controls (line ends included), format
    /// characters (bidi overrides, zero-width spaces, BOMs), line and paragraph separators, unpaired surrogates, private-use,
    /// unassigned characters and the non-characters U+FFFE/U+FFFF.
    /// </summary>
    public static string Visible(string text)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var pair = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            if (pair)
            {
                sb?.Append(c).Append(text[i + 1]);
                i++;
                continue;
            }
            if (NeedsEscape(c))
            {
                sb ??= new StringBuilder(text, 0, i, text.Length + 16);
                sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
            }
            else sb?.Append(c);
        }
        return sb?.ToString() ?? text;
    }

    /// <summary>Whether a UTF-16 unit (not part of a surrogate pair) must be escaped to be shown or written into source text safely.</summary>
    public static bool NeedsEscape(char c)
    {
        if (c is >= ' ' and <= '~') return false;
        if (c is '\uFFFE' or '\uFFFF') return true;
        return CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator
            or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }
}
