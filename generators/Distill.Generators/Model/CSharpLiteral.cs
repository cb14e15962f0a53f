using System.Text;
using System.Globalization;
using System.Linq;

namespace Distill.Generators.Model;

/// <summary>
/// The only way a value written in an experiment reaches generated code: as a C# literal of the parameter's type,
/// built from the parsed value (never from the text as written). An integer is parsed and printed back, a float
/// printed invariantly so that it round-trips, a string escaped completely (<see cref="CSharpLiteral.Literal(string)"/>).
/// A value that cannot be such a literal (the wrong kind, an integer outside its type, a number that is not
/// finite or overflows a float, a type the DSL cannot write) has none: the binder reports it with
/// <see cref="Problem"/>, and the planner never plans an experiment with errors, so it never meets one.
/// </summary>
internal static class CSharpLiteral
{
    /// <summary>Why <paramref name="value"/> cannot be a literal of <paramref name="type"/>.</summary>
    internal enum Failure { None, WrongKind, OutOfRange, UnsupportedType }

    /// <summary>The literal, or null (never an exception).</summary>
    public static string? Of(string type, ValueSpec value) => TryWrite(type, value, out var literal) == Failure.None ? literal : null;

    /// <summary>
    /// Why the value cannot be written, and for <see cref="Failure.OutOfRange"/> the range it must be in (e.g. "a finite number",
    /// "an int (from -2147483648 to 2147483647)").
    /// </summary>
    public static Failure Problem(string type, ValueSpec value, out string range)
    {
        range = RangeOf(type);
        return TryWrite(type, value, out _);
    }

    /// <summary>The types a value of the DSL can be written as (besides arrays of them and nullable value types).</summary>
    public static bool IsSupported(string type)
    {
        var t = type.EndsWith("?", System.StringComparison.Ordinal) ? type.Substring(0, type.Length - 1) : type;
        if (t.EndsWith("[]", System.StringComparison.Ordinal)) t = t.Substring(0, t.Length - 2);
        return t is "int" or "long" or "double" or "float" or "bool" or "string";
    }

    private static Failure TryWrite(string type, ValueSpec v, out string literal)
    {
        literal = "";
        if (type.EndsWith("[]", System.StringComparison.Ordinal))
        {
            var element = type.Substring(0, type.Length - 2);
            if (!IsSupported(element) || element.EndsWith("[]", System.StringComparison.Ordinal)) return Failure.UnsupportedType;
            if (v.Kind != ValueKind.List) return Failure.WrongKind;
            var items = new string[v.Items.Count];
            for (var i = 0; i < items.Length; i++)
            {
                var failure = TryWrite(element, v.Items[i], out items[i]);
                if (failure != Failure.None) return failure;
            }
            literal = items.Length == 0 ? $"new {element}[0]" : $"new {element}[] {{ {string.Join(", ", items)} }}";
            return Failure.None;
        }
        // A nullable value type takes a value of the type (null itself is not a value the DSL writes).
        if (type.EndsWith("?", System.StringComparison.Ordinal) && type is not "string?") type = type.Substring(0, type.Length - 1);
        switch (type)
        {
            case "int":
                if (v.Kind != ValueKind.Integer) return Failure.WrongKind;
                if (!Numbers.TryParseLong(v.Text, out var i32) || i32 < int.MinValue || i32 > int.MaxValue) return Failure.OutOfRange;
                literal = i32.ToString(CultureInfo.InvariantCulture);
                return Failure.None;
            case "long":
                if (v.Kind != ValueKind.Integer) return Failure.WrongKind;
                if (!Numbers.TryParseLong(v.Text, out var i64)) return Failure.OutOfRange;
                literal = i64.ToString(CultureInfo.InvariantCulture) + "L";
                return Failure.None;
            case "double":
                if (v.Kind is not (ValueKind.Integer or ValueKind.Float)) return Failure.WrongKind;
                if (!Numbers.TryParseDouble(v.Text, out var d) || !Numbers.IsFinite(d)) return Failure.OutOfRange;
                literal = CSharpLiteral.Literal(d);
                return Failure.None;
            case "float":
                if (v.Kind is not (ValueKind.Integer or ValueKind.Float)) return Failure.WrongKind;
                if (!Numbers.TryParseDouble(v.Text, out var f) || !Numbers.IsFinite(f) || System.Math.Abs(f) > float.MaxValue) return Failure.OutOfRange;
                literal = CSharpLiteral.Literal((float)f);
                return Failure.None;
            case "bool":
                if (v.Kind != ValueKind.Bool) return Failure.WrongKind;
                literal = v.Text == "true" ? "true" : "false";
                return Failure.None;
            case "string" or "string?":
                if (v.Kind is not (ValueKind.String or ValueKind.Integer or ValueKind.Float or ValueKind.Bool)) return Failure.WrongKind;
                literal = CSharpLiteral.Literal(v.Text);
                return Failure.None;
            default:
                return Failure.UnsupportedType;
        }
    }

    private static string RangeOf(string type)
    {
        if (type.EndsWith("[]", System.StringComparison.Ordinal)) return "a list of " + RangeOf(type.Substring(0, type.Length - 2)) + " values";
        return type.TrimEnd('?') switch
        {
            "int" => "a whole number from -2147483648 to 2147483647 (an int)",
            "long" => "a whole number from -9223372036854775808 to 9223372036854775807 (a long)",
            "float" => "a finite number of magnitude at most 3.4028235E+38 (a float)",
            _ => "a finite number",
        };
    }

    /// <summary>Whether every value of the list (or the single value) can be written as <paramref name="type"/>.</summary>
    public static bool All(string type, ValueSpec value) =>
        value.Kind == ValueKind.List ? value.Items.All(i => Of(type, i) is not null) : Of(type, value) is not null;

    /// <summary>
    /// A C# string literal of any text: quotes and backslashes escaped, and every character that could end the line
    /// or hide or reorder text as <c>\uXXXX</c> (controls, CR/LF, NEL, U+2028/U+2029, format characters such as bidi
    /// overrides, unpaired surrogates, private-use and unassigned characters, U+FFFE/U+FFFF; see <see cref="Model.UserText.NeedsEscape"/>).
    /// Surrogate pairs stay as they are. The literal denotes exactly the given UTF-16 string.
    /// </summary>
    public static string Literal(string? value)
    {
        if (value is null) return "null";
        var sb = new StringBuilder(value.Length + 2).Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                sb.Append(c).Append(value[++i]);
                continue;
            }
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (Model.UserText.NeedsEscape(c)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>A float literal (with the <c>f</c> suffix) that round-trips, in invariant culture.</summary>
    public static string Literal(float value)
    {
        var s = value.ToString("R", CultureInfo.InvariantCulture);
        return (s.IndexOfAny(new[] { '.', 'E', 'e' }) < 0 ? s + ".0" : s) + "f";
    }

    /// <summary>A double literal that round-trips, in invariant culture.</summary>
    public static string Literal(double value)
    {
        if (double.IsNaN(value)) return "double.NaN";
        if (double.IsPositiveInfinity(value)) return "double.PositiveInfinity";
        if (double.IsNegativeInfinity(value)) return "double.NegativeInfinity";
        var s = value.ToString("R", CultureInfo.InvariantCulture);
        return s.IndexOfAny(new[] { '.', 'E', 'e' }) < 0 ? s + ".0" : s;
    }

    public static string Literal(long value) => value.ToString(CultureInfo.InvariantCulture) + "L";
}
