namespace Distill.Generators.Model;

/// <summary>
/// The names <c>memory_format:</c> and <c>precision:</c> accept, mapped to the runtime's enum members
/// (<c>Distill.Torch.MemoryFormat</c>, <c>Distill.Runtime.Precision</c>); the runtime's <c>PrecisionNames</c> reads the same
/// names from the command line.
/// </summary>
internal static class ExecutionNames
{
    public static string? MemoryFormat(string text) => text.Trim().ToLowerInvariant() switch
    {
        "contiguous" or "contiguous_format" => "Contiguous",
        "channels_last" => "ChannelsLast",
        _ => null,
    };

    public static string? Precision(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" => "Float32",
        "bf16" or "bfloat16" => "BFloat16",
        "fp16" or "float16" => "Float16",
        _ => null,
    };
}
