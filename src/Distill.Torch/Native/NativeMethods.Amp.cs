using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

// native/src/amp.cpp (autocast scopes, the gradient scaler's unscale) and the memory-format entry points of basics.cpp.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Lib)] internal static partial int dst_autocast_enter(int deviceType, int dtype, int enabled, out IntPtr previous);
    [LibraryImport(Lib)] internal static partial int dst_autocast_exit(int deviceType, IntPtr previous);
    [LibraryImport(Lib)] internal static partial int dst_autocast_is_enabled(int deviceType, out int enabled);
    [LibraryImport(Lib)] internal static partial int dst_amp_unscale_(IntPtr* grads, long n, TensorHandle foundInf, TensorHandle invScale);
    [LibraryImport(Lib)] internal static partial int dst_contiguous_format(TensorHandle x, int format, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_is_contiguous_format(TensorHandle x, int format, out int result);
}
