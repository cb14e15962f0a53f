using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

public static partial class torch
{
    /// <summary>
    /// PyTorch's <c>torch.autocast(device_type, dtype)</c>: until the scope is disposed, eligible ops on
    /// <paramref name="device_type"/> run in <paramref name="dtype"/> (matmuls and convolutions) and precision-sensitive
    /// ones in float32, as libtorch's autocast lists say. Default dtype: bfloat16 on the CPU (the only one CPU autocast
    /// has in libtorch 1.13), float16 on CUDA. Run the forward pass and the loss inside, the backward pass after. Scopes
    /// nest and are per thread.
    /// </summary>
    public static AutocastScope autocast(DeviceType device_type, ScalarType? dtype = null, bool enabled = true)
    {
        var type = device_type == DeviceType.CUDA ? 1 : 0;
        var chosen = dtype ?? (device_type == DeviceType.CUDA ? ScalarType.Float16 : ScalarType.BFloat16);
        Check(dst_autocast_enter(type, (int)chosen, enabled ? 1 : 0, out var previous));
        return new AutocastScope(type, previous);
    }

    /// <summary>Whether autocast is on for <paramref name="device_type"/> on this thread.</summary>
    public static bool is_autocast_enabled(DeviceType device_type)
    {
        Check(dst_autocast_is_enabled(device_type == DeviceType.CUDA ? 1 : 0, out var on));
        return on != 0;
    }
}

/// <summary>An autocast region (<see cref="torch.autocast"/>); disposing it restores the state before it.</summary>
public sealed class AutocastScope : IDisposable
{
    private readonly int _deviceType;
    private IntPtr _previous;

    internal AutocastScope(int deviceType, IntPtr previous)
    {
        _deviceType = deviceType;
        _previous = previous;
    }

    public void Dispose()
    {
        if (_previous == IntPtr.Zero) return;
        var previous = _previous;
        _previous = IntPtr.Zero;
        Check(dst_autocast_exit(_deviceType, previous));
    }
}
