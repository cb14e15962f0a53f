using System;
using System.Globalization;

namespace Distill.Generators.Model;

/// <summary>
/// Numbers as the DSL writes them: YAML 1.2's core schema (decimal integers of any length, decimal floats with an
/// optional exponent, <c>.inf</c>, <c>-.inf</c>, <c>.nan</c>), nothing else (no <c>NaN</c>, <c>Infinity</c>,
/// <c>1_000</c>, thousands separators or surrounding spaces, which .NET's parsers would take), in invariant culture.
/// A <see cref="ValueSpec"/>'s text is normalised: an integer without a leading '+' or zeros, a finite float as
/// the shortest text that round-trips, a non-finite one as written.
/// </summary>
internal static class Numbers
{
    /// <summary><c>[-+]?[0-9]+</c>.</summary>
    public static bool IsInteger(string s)
    {
        var i = s.Length > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
        if (i == s.Length) return false;
        for (; i < s.Length; i++)
            if (s[i] is < '0' or > '9') return false;
        return true;
    }

    /// <summary><c>[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?</c>, or <c>[-+]?\.(inf|Inf|INF)</c>, or <c>\.(nan|NaN|NAN)</c>.</summary>
    public static bool IsFloat(string s)
    {
        if (IsSpecial(s, out _)) return true;
        var i = s.Length > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
        var digits = 0;
        while (i < s.Length && s[i] is >= '0' and <= '9') { i++; digits++; }
        if (i < s.Length && s[i] == '.')
        {
            i++;
            while (i < s.Length && s[i] is >= '0' and <= '9') { i++; digits++; }
        }
        if (digits == 0) return false;
        if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
        {
            i++;
            if (i < s.Length && (s[i] == '-' || s[i] == '+')) i++;
            var exponent = 0;
            while (i < s.Length && s[i] is >= '0' and <= '9') { i++; exponent++; }
            if (exponent == 0) return false;
        }
        return i == s.Length;
    }

    private static bool IsSpecial(string s, out double value)
    {
        value = 0;
        switch (s)
        {
            case ".nan" or ".NaN" or ".NAN": value = double.NaN; return true;
            case ".inf" or ".Inf" or ".INF" or "+.inf" or "+.Inf" or "+.INF": value = double.PositiveInfinity; return true;
            case "-.inf" or "-.Inf" or "-.INF": value = double.NegativeInfinity; return true;
            default: return false;
        }
    }

    /// <summary>The value of a YAML integer or float (an integer too long for a double's exponent is infinite, never an exception).</summary>
    public static bool TryParseDouble(string s, out double value)
    {
        if (IsSpecial(s, out value)) return true;
        if (!IsFloat(s)) return false;
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>The value of a YAML integer when it fits a long.</summary>
    public static bool TryParseLong(string s, out long value)
    {
        value = 0;
        return IsInteger(s) && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>An integer's text: sign and digits without a '+' or leading zeros (any length).</summary>
    public static string NormalizeInteger(string s)
    {
        var negative = s[0] == '-';
        var i = s[0] is '-' or '+' ? 1 : 0;
        while (i < s.Length - 1 && s[i] == '0') i++;
        var digits = s.Substring(i);
        return negative && digits != "0" ? "-" + digits : digits;
    }

    /// <summary>A float's text: the shortest that round-trips when finite; as written otherwise (<c>.nan</c>, <c>-.inf</c>, <c>1e999</c>).</summary>
    public static string NormalizeFloat(string s) =>
        TryParseDouble(s, out var d) && IsFinite(d) ? Format(d) : s;

    /// <summary>A double as the DSL writes it: round-trip invariant text, or <c>.nan</c>, <c>.inf</c>, <c>-.inf</c>.</summary>
    public static string Format(double d) =>
        double.IsNaN(d) ? ".nan" : double.IsPositiveInfinity(d) ? ".inf" : double.IsNegativeInfinity(d) ? "-.inf" : d.ToString("R", CultureInfo.InvariantCulture);

    public static bool IsFinite(double d) => !double.IsNaN(d) && !double.IsInfinity(d);
}
