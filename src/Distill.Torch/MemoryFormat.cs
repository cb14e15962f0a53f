namespace Distill.Torch;

/// <summary>How a tensor's elements are laid out in memory (PyTorch's <c>torch.memory_format</c>).</summary>
public enum MemoryFormat
{
    /// <summary>Row-major in the shape's order (NCHW for images): <c>torch.contiguous_format</c>.</summary>
    Contiguous = 0,

    /// <summary>Channels innermost (NHWC in memory, NCHW in shape) for 4-D tensors: <c>torch.channels_last</c>.</summary>
    ChannelsLast = 1,

    /// <summary>Channels innermost for 5-D tensors: <c>torch.channels_last_3d</c>.</summary>
    ChannelsLast3d = 2,

    /// <summary>Keep the input's layout: <c>torch.preserve_format</c>.</summary>
    Preserve = 3,
}
