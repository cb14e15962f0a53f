namespace Distill.Runtime;

/// <summary>The base of the errors the runtime services raise themselves (libtorch's errors stay <see cref="TorchException"/>).</summary>
public class DistillRuntimeException : Exception
{
    public DistillRuntimeException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A checkpoint is missing, corrupt, or does not match the training state it should restore; <see cref="Path"/> names the file.</summary>
public sealed class CheckpointException : DistillRuntimeException
{
    public CheckpointException(string path, string message, Exception? inner = null) : base(message, inner) => Path = path;

    /// <summary>The file (or directory) the problem is about.</summary>
    public string Path { get; }
}

/// <summary>A run directory cannot be created or opened (it exists already, or is not a run directory).</summary>
public sealed class RunDirectoryException : DistillRuntimeException
{
    public RunDirectoryException(string path, string message, Exception? inner = null) : base(message, inner) => Path = path;

    public string Path { get; }
}
