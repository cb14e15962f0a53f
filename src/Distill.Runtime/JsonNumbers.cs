using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Runtime;

/// <summary>
/// JSON has no NaN or infinities. They are written as the strings "NaN", "Infinity" and "-Infinity",
/// which .NET (AllowNamedFloatingPointLiterals) and Python's json module both read back as numbers.
/// Public so that tools reading run directories (the experiment runner) spell and read them the same way.
/// </summary>
public static class JsonNumbers
{
    public static void Write(Utf8JsonWriter w, double value)
    {
        if (double.IsFinite(value)) w.WriteNumberValue(value);
        else w.WriteStringValue(Name(value));
    }

    public static void Write(Utf8JsonWriter w, string property, double value)
    {
        w.WritePropertyName(property);
        Write(w, value);
    }

    public static void Write(Utf8JsonWriter w, string property, double? value)
    {
        w.WritePropertyName(property);
        if (value is { } v) Write(w, v);
        else w.WriteNullValue();
    }

    public static JsonNode? Node(double? value) =>
        value is not { } v ? null : double.IsFinite(v) ? JsonValue.Create(v) : JsonValue.Create(Name(v));

    public static string Name(double value) =>
        double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";

    /// <summary>Reads a number written by <see cref="Write(Utf8JsonWriter, double)"/>; null for JSON null.</summary>
    public static double? Read(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Number => e.GetDouble(),
        JsonValueKind.Null => null,
        JsonValueKind.String => e.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            var s => throw new FormatException($"'{s}' is not a number"),
        },
        _ => throw new FormatException($"{e.GetRawText()} is not a number"),
    };

    /// <summary>A number (or one of the three names) in a parsed document; null for anything else, for readers that skip what they cannot use.</summary>
    public static double? TryRead(JsonNode? node) =>
        node is JsonValue value
            ? value.GetValueKind() switch
            {
                JsonValueKind.Number => value.GetValue<double>(),
                JsonValueKind.String => value.GetValue<string>() switch
                {
                    "NaN" => double.NaN,
                    "Infinity" => double.PositiveInfinity,
                    "-Infinity" => double.NegativeInfinity,
                    _ => null,
                },
                _ => null,
            }
            : null;

    /// <summary>A short human rendering: "2.31", "NaN", "Inf", "-Inf".</summary>
    public static string Format(double value) =>
        double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : value.ToString("G6", CultureInfo.InvariantCulture);
}
