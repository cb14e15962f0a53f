using System.Globalization;

namespace Distill.Torch.Modules;

/// <summary>Python's repr() of the values module descriptions print, so ours read as PyTorch's.</summary>
internal static class PyRepr
{
    public static string Of(bool value) => value ? "True" : "False";

    public static string Of(long value) => value.ToString(CultureInfo.InvariantCulture);

    public static string Of(IntOrTuple value) => value.ToString();

    /// <summary>A tuple: <c>(3, 3)</c>, or <c>(4,)</c> for one element.</summary>
    public static string Tuple(IReadOnlyList<long> values) =>
        values.Count == 1 ? $"({Of(values[0])},)" : "(" + string.Join(", ", values.Select(Of)) + ")";

    /// <summary>Python's float repr: the shortest round-trip digits, scientific below 1e-4 and from 1e16.</summary>
    public static string Of(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        if (value == 0) return double.IsNegative(value) ? "-0.0" : "0.0";
        var sign = value < 0 ? "-" : "";
        var text = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        string digits;
        int exponent; // the decimal exponent of the first significant digit
        var e = text.IndexOf('E');
        if (e >= 0)
        {
            var mantissa = text[..e];
            digits = mantissa.Replace(".", "");
            exponent = int.Parse(text[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }
        else
        {
            var dot = text.IndexOf('.');
            var intPart = dot < 0 ? text : text[..dot];
            var fracPart = dot < 0 ? "" : text[(dot + 1)..];
            if (intPart != "0")
            {
                digits = intPart + fracPart;
                exponent = intPart.Length - 1;
            }
            else
            {
                var zeros = fracPart.Length - fracPart.TrimStart('0').Length;
                digits = fracPart[zeros..];
                exponent = -(zeros + 1);
            }
        }
        digits = digits.TrimEnd('0');
        if (digits.Length == 0) digits = "0";
        if (exponent is >= -4 and < 16)
        {
            if (exponent < 0) return sign + "0." + new string('0', -exponent - 1) + digits;
            var whole = digits.Length > exponent + 1 ? digits[..(exponent + 1)] : digits.PadRight(exponent + 1, '0');
            var frac = digits.Length > exponent + 1 ? digits[(exponent + 1)..] : "0";
            return sign + whole + "." + frac;
        }
        var m = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
        return sign + m + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
    }
}
