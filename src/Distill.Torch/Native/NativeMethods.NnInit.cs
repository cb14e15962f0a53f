using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

// native/src/nn_init.cpp
internal static partial class NativeMethods
{
    [LibraryImport(Lib)] internal static partial int dst_init_trunc_normal_(TensorHandle t, double mean, double std, double a, double b, IntPtr gen);
    [LibraryImport(Lib)] internal static partial int dst_init_fill_row_(TensorHandle t, long index, NativeScalar value);
}
