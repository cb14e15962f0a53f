using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

/// <summary>A Python-like scalar as the shim's C ABI passes it (see <c>dst_scalar</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeScalar
{
    public double F;
    public long I;
    public int Kind;
}

/// <summary>
/// The shim's C ABI. Every entry point returns a status (0 = ok) that <see cref="Check"/> turns into a
/// <see cref="TorchException"/> carrying libtorch's message. The declarations are split by area into
/// partial files that mirror native/src/*.cpp.
/// </summary>
internal static unsafe partial class NativeMethods
{
    private const string Lib = NativeLibraryLoader.LibraryName;

    static NativeMethods()
    {
        NativeLibraryLoader.EnsureLoaded();
        // Debian's libtorch starts with one intra-op thread; use every core unless the user chose.
        var configured = Environment.GetEnvironmentVariable("DISTILL_NUM_THREADS")
                         ?? Environment.GetEnvironmentVariable("OMP_NUM_THREADS");
        var threads = int.TryParse(configured, out var n) && n > 0 ? n : Environment.ProcessorCount;
        Check(dst_set_num_threads(threads));
        // Tensors reuse heap memory instead of a fresh mmap each (see dst_tune_allocator): a forward pass of a small
        // ResNet measured 4x faster. DISTILL_MALLOC_TUNING=0, or glibc's own MALLOC_MMAP_THRESHOLD_, leaves malloc alone.
        if (Environment.GetEnvironmentVariable("DISTILL_MALLOC_TUNING") is not "0" &&
            Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is null)
            Check(dst_tune_allocator(MallocMmapThreshold, MallocTrimThreshold, out _));
    }

    /// <summary>Blocks up to this size come from malloc's heap rather than a fresh mmap (glibc's own adaptive ceiling).</summary>
    internal const long MallocMmapThreshold = 32L << 20;

    /// <summary>Free heap memory kept mapped before malloc returns it to the system (twice the mmap threshold, as glibc's adaptation sets it).</summary>
    internal const long MallocTrimThreshold = 64L << 20;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Check(int status)
    {
        if (status != 0) Throw(status);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(int status)
    {
        var message = Marshal.PtrToStringUTF8(dst_last_error_message()) ?? "libtorch error";
        throw new TorchException(message.TrimEnd(), (ErrorCategory)status);
    }

    // ---- errors and runtime -------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial IntPtr dst_last_error_message();
    [LibraryImport(Lib)] internal static partial int dst_last_error_category();
    [LibraryImport(Lib)] internal static partial int dst_debug_throw(int category);
    [LibraryImport(Lib)] internal static partial void dst_free(IntPtr p);
    [LibraryImport(Lib)] internal static partial int dst_set_num_threads(int n);
    [LibraryImport(Lib)] internal static partial int dst_get_num_threads(out int n);
    [LibraryImport(Lib)] internal static partial int dst_set_num_interop_threads(int n);
    [LibraryImport(Lib)] internal static partial int dst_set_flush_denormal(int on, out int supported);
    [LibraryImport(Lib)] internal static partial int dst_tune_allocator(long mmapThreshold, long trimThreshold, out int applied);
    [LibraryImport(Lib)] internal static partial int dst_manual_seed(ulong seed);
    [LibraryImport(Lib)] internal static partial int dst_cuda_is_available(out int available);
    [LibraryImport(Lib)] internal static partial int dst_cuda_device_count(out int count);
    [LibraryImport(Lib)] internal static partial int dst_cuda_synchronize(int device);
    [LibraryImport(Lib)] internal static partial int dst_version(out IntPtr version);
    [LibraryImport(Lib)] internal static partial long dst_live_tensor_count();

    [LibraryImport(Lib)] internal static partial int dst_generator_new(ulong seed, out IntPtr gen);
    [LibraryImport(Lib)] internal static partial void dst_generator_free(IntPtr gen);
    [LibraryImport(Lib)] internal static partial int dst_generator_seed(GeneratorHandle gen, ulong seed);
    [LibraryImport(Lib)] internal static partial int dst_generator_get_state(IntPtr gen, out IntPtr state);
    [LibraryImport(Lib)] internal static partial int dst_generator_set_state(IntPtr gen, TensorHandle state);

    [LibraryImport(Lib)] internal static partial int dst_grad_enabled(out int enabled);
    [LibraryImport(Lib)] internal static partial int dst_set_grad_enabled(int enabled);
    [LibraryImport(Lib)] internal static partial int dst_inference_mode_enter(out IntPtr guard);
    [LibraryImport(Lib)] internal static partial int dst_inference_mode_exit(IntPtr guard);
    [LibraryImport(Lib)] internal static partial int dst_is_inference_mode(out int enabled);

    // ---- tensor lifetime, properties, autograd state ------------------------------------------

    [LibraryImport(Lib)] internal static partial void dst_tensor_free(IntPtr t);
    [LibraryImport(Lib)] internal static partial int dst_tensor_alias(TensorHandle t, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_tensor_dim(TensorHandle t, out long dim);
    [LibraryImport(Lib)] internal static partial int dst_tensor_sizes(TensorHandle t, long* sizes, long capacity, out long dim);
    [LibraryImport(Lib)] internal static partial int dst_tensor_strides(TensorHandle t, long* strides, long capacity, out long dim);
    [LibraryImport(Lib)] internal static partial int dst_tensor_numel(TensorHandle t, out long numel);
    [LibraryImport(Lib)] internal static partial int dst_tensor_dtype(TensorHandle t, out int dtype);
    [LibraryImport(Lib)] internal static partial int dst_tensor_device(TensorHandle t, out int type, out int index);
    [LibraryImport(Lib)] internal static partial int dst_tensor_is_contiguous(TensorHandle t, out int result);
    [LibraryImport(Lib)] internal static partial int dst_tensor_requires_grad(TensorHandle t, out int result);
    [LibraryImport(Lib)] internal static partial int dst_tensor_set_requires_grad(TensorHandle t, int on);
    [LibraryImport(Lib)] internal static partial int dst_tensor_is_leaf(TensorHandle t, out int result);
    [LibraryImport(Lib)] internal static partial int dst_tensor_version(TensorHandle t, out long version);
    [LibraryImport(Lib)] internal static partial int dst_tensor_grad(TensorHandle t, out IntPtr grad);
    [LibraryImport(Lib)] internal static partial int dst_tensor_set_grad(TensorHandle t, IntPtr grad);
    [LibraryImport(Lib)] internal static partial int dst_tensor_retain_grad(TensorHandle t);
    [LibraryImport(Lib)] internal static partial int dst_tensor_zero_grad(TensorHandle t, int setToNone);
    [LibraryImport(Lib)] internal static partial int dst_tensor_backward(TensorHandle t, IntPtr gradient, int retainGraph, int createGraph);
    [LibraryImport(Lib)] internal static partial int dst_tensor_detach(TensorHandle t, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_tensor_detach_(TensorHandle t);
    [LibraryImport(Lib)] internal static partial int dst_tensor_set_data(TensorHandle t, TensorHandle data);
    [LibraryImport(Lib)] internal static partial int dst_tensor_to_string(TensorHandle t, out IntPtr text);

    [LibraryImport(Lib)] internal static partial int dst_tensor_from_data(void* data, long nbytes, int dtype, long* shape, long ndim, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_tensor_copy_to(TensorHandle t, int dtype, void* data, long nbytes);
    [LibraryImport(Lib)] internal static partial int dst_tensor_item(TensorHandle t, out double f, out long i);
    [LibraryImport(Lib)] internal static partial int dst_tensor_data_ptr(TensorHandle t, out IntPtr data);
    [LibraryImport(Lib)] internal static partial int dst_tensor_element_size(TensorHandle t, out long size);

    // ---- factories ------------------------------------------------------------------------------

    [LibraryImport(Lib)] internal static partial int dst_zeros(long* shape, long ndim, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_ones(long* shape, long ndim, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_empty(long* shape, long ndim, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_full(long* shape, long ndim, NativeScalar value, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_scalar_tensor(NativeScalar value, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_arange(NativeScalar start, NativeScalar end, NativeScalar step, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_linspace(double start, double end, long steps, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_eye(long n, long m, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_randn(long* shape, long ndim, IntPtr gen, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_rand(long* shape, long ndim, IntPtr gen, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_randint(long low, long high, long* shape, long ndim, IntPtr gen, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_randperm(long n, IntPtr gen, int dtype, int deviceType, int deviceIndex, int requiresGrad, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_zeros_like(TensorHandle t, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_ones_like(TensorHandle t, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_empty_like(TensorHandle t, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_full_like(TensorHandle t, NativeScalar value, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_randn_like(TensorHandle t, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_rand_like(TensorHandle t, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_uniform_(TensorHandle t, double from, double to, IntPtr gen);
    [LibraryImport(Lib)] internal static partial int dst_normal_(TensorHandle t, double mean, double std, IntPtr gen);
    [LibraryImport(Lib)] internal static partial int dst_bernoulli_(TensorHandle t, double p, IntPtr gen);
    [LibraryImport(Lib)] internal static partial int dst_multinomial(TensorHandle probs, long n, int replacement, IntPtr gen, out IntPtr result);
}
