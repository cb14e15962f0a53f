using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

// native/src/optim.cpp. Parameters go in as handle arrays; optimizer state as in/out handle arrays in
// which a null entry is state not created yet and receives a new caller-owned handle on success.
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Lib)] internal static partial int dst_optim_tensor_ids(IntPtr* tensors, long n, long* ids);

    [LibraryImport(Lib)]
    internal static partial int dst_optim_sgd_step(IntPtr* parameters, long n, IntPtr* momentumBuffers, double lr,
        double momentum, double dampening, double weightDecay, int nesterov, int maximize);

    [LibraryImport(Lib)]
    internal static partial int dst_optim_adam_step(IntPtr* parameters, long n, IntPtr* steps, IntPtr* expAvgs,
        IntPtr* expAvgSqs, IntPtr* maxExpAvgSqs, double lr, double beta1, double beta2, double eps, double weightDecay,
        int amsgrad, int maximize, int decoupled);

    [LibraryImport(Lib)]
    internal static partial int dst_clip_grad_norm_(IntPtr* parameters, long n, double maxNorm, double normType,
        int errorIfNonfinite, out IntPtr totalNorm);

    [LibraryImport(Lib)] internal static partial int dst_clip_grad_value_(IntPtr* parameters, long n, double clipValue);
}
