namespace Distill.Runtime;

/// <summary>The precision a run's forward pass and loss compute in (the backward pass follows; weights stay float32).</summary>
public enum Precision
{
    /// <summary>float32 throughout.</summary>
    Float32,

    /// <summary>Autocast to bfloat16 (<c>torch.autocast(device, torch.bfloat16)</c>): CPU and CUDA; no loss scaling needed.</summary>
    BFloat16,

    /// <summary>Autocast to float16 with a <see cref="GradScaler"/> (CUDA only).</summary>
    Float16,
}

/// <summary>The names experiments and the command line give precisions and memory formats.</summary>
public static class PrecisionNames
{
    /// <summary>"fp32", "bf16" or "fp16" (also "float32", "bfloat16", "float16"); null for anything else.</summary>
    public static Precision? ParsePrecision(string text) => text.Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" => Precision.Float32,
        "bf16" or "bfloat16" => Precision.BFloat16,
        "fp16" or "float16" => Precision.Float16,
        _ => null,
    };

    public static string Name(Precision precision) => precision switch
    {
        Precision.BFloat16 => "bf16",
        Precision.Float16 => "fp16",
        _ => "fp32",
    };

    /// <summary>"contiguous" or "channels_last"; null for anything else.</summary>
    public static MemoryFormat? ParseMemoryFormat(string text) => text.Trim().ToLowerInvariant() switch
    {
        "contiguous" or "contiguous_format" => MemoryFormat.Contiguous,
        "channels_last" => MemoryFormat.ChannelsLast,
        _ => null,
    };

    public static string Name(MemoryFormat format) => format == MemoryFormat.ChannelsLast ? "channels_last" : "contiguous";
}
