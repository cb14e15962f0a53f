using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Experiments.Runner;

/// <summary>
/// Numbers in the runner's JSON, spelled as the runtime spells them: NaN and infinities as the strings
/// "NaN", "Infinity", "-Infinity" (JSON has no such numbers; .NET and Python read them back).
/// </summary>
public static class JsonValues
{
    public static JsonNode? Node(double? value) =>
        value is not { } v ? null
        : double.IsFinite(v) ? JsonValue.Create(v)
        : JsonValue.Create(double.IsNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");

    /// <summary>A number, or one of the three strings; null for anything else.</summary>
    public static double? Read(JsonNode? node)
    {
        if (node is not JsonValue value) return null;
        return value.GetValueKind() switch
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
        };
    }
}
