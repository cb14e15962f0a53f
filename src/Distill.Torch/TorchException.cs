namespace Distill.Torch;

/// <summary>The kind of libtorch error, as the shim classifies the C++ exception it caught.</summary>
public enum ErrorCategory
{
    Runtime = 1,
    Index = 2,
    Value = 3,
    Type = 4,
    NotImplemented = 5,
    OutOfMemory = 6,
    Unknown = 7,
}

/// <summary>An error raised by libtorch (or by the binding's own argument checks), carrying libtorch's message.</summary>
public sealed class TorchException : Exception
{
    public TorchException(string message, ErrorCategory category = ErrorCategory.Runtime, Exception? inner = null)
        : base(message, inner) => Category = category;

    public ErrorCategory Category { get; }
}
