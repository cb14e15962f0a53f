using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

/// <summary>
/// The <c>torch</c> namespace of PyTorch: factories, global settings and grad-mode scopes. Operations
/// on tensors live in partial files by area; <c>torch.nn</c>, <c>torch.optim</c> are nested classes.
/// Use it as PyTorch code reads: <c>using static Distill.Torch.torch;</c>.
/// </summary>
public static partial class torch
{
    public const ScalarType float32 = ScalarType.Float32;
    public const ScalarType float64 = ScalarType.Float64;
    public const ScalarType float16 = ScalarType.Float16;
    public const ScalarType bfloat16 = ScalarType.BFloat16;
    public const ScalarType int32 = ScalarType.Int32;
    public const ScalarType int64 = ScalarType.Int64;
    public const ScalarType uint8 = ScalarType.Byte;
    public const ScalarType int8 = ScalarType.Int8;
    public const ScalarType @bool = ScalarType.Bool;
    public const ScalarType @float = ScalarType.Float32;
    public const ScalarType @double = ScalarType.Float64;
    public const ScalarType @long = ScalarType.Int64;

    /// <summary>The dtype of floating-point factories when none is given (PyTorch's default).</summary>
    public static ScalarType default_dtype { get; set; } = ScalarType.Float32;

    // ---- global settings -------------------------------------------------------------------------

    public static void manual_seed(ulong seed) => Check(dst_manual_seed(seed));
    public static void manual_seed(long seed) => Check(dst_manual_seed(unchecked((ulong)seed)));
    public static void set_num_threads(int threads) => Check(dst_set_num_threads(threads));

    /// <summary>
    /// Flush denormal floats to zero (and read denormal inputs as zero) on this thread and libtorch's intra-op
    /// workers, as PyTorch's <c>torch.set_flush_denormal</c>; returns false where the CPU cannot (then nothing
    /// changes). Off by default, as in PyTorch.
    /// </summary>
    public static bool set_flush_denormal(bool mode)
    {
        Check(dst_set_flush_denormal(mode ? 1 : 0, out var supported));
        return supported != 0;
    }
    public static int get_num_threads() { Check(dst_get_num_threads(out var n)); return n; }
    public static string version { get { Check(dst_version(out var p)); return System.Runtime.InteropServices.Marshal.PtrToStringUTF8(p) ?? ""; } }

    /// <summary>The libtorch shim file this process loaded (a CUDA build chosen with DISTILL_TORCH_NATIVE shows here).</summary>
    public static string shim_path { get { NativeLibraryLoader.EnsureLoaded(); return NativeLibraryLoader.LoadedFrom ?? "?"; } }

    public static class cuda
    {
        public static bool is_available() { Check(dst_cuda_is_available(out var a)); return a != 0; }
        public static int device_count() { Check(dst_cuda_device_count(out var n)); return n; }

        /// <summary>Waits for every kernel queued on CUDA device <paramref name="device"/> (-1: the current one) to finish: what a GPU timing needs.</summary>
        public static void synchronize(int device = -1) => Check(dst_cuda_synchronize(device));
    }

    /// <summary>Opens a scope that frees every tensor created inside it (see <see cref="DisposeScope"/>).</summary>
    public static DisposeScope NewDisposeScope() => new();

    // ---- grad mode -------------------------------------------------------------------------------

    public static bool is_grad_enabled() { Check(dst_grad_enabled(out var e)); return e != 0; }
    public static void set_grad_enabled(bool enabled) => Check(dst_set_grad_enabled(enabled ? 1 : 0));
    public static bool is_inference_mode_enabled() { Check(dst_is_inference_mode(out var e)); return e != 0; }

    /// <summary>Disables gradient recording until disposed: <c>using (torch.no_grad()) { ... }</c>.</summary>
    public static GradModeScope no_grad() => new(false);

    /// <summary>Enables gradient recording until disposed.</summary>
    public static GradModeScope enable_grad() => new(true);

    /// <summary>libtorch's inference mode: no autograd recording and no version counters (fastest).</summary>
    public static InferenceModeScope inference_mode() => new();

    // ---- factories ---------------------------------------------------------------------------------

    private static ScalarType Float(ScalarType? dtype) => dtype ?? default_dtype;

    public static unsafe Tensor zeros(long[] shape, ScalarType? dtype = null, Device? device = null, bool requires_grad = false)
    {
        var d = device ?? Device.CPU;
        IntPtr r;
        fixed (long* p = shape) Check(dst_zeros(p, shape.Length, (int)Float(dtype), (int)d.Type, d.Index, requires_grad ? 1 : 0, out r));
        return new Tensor(r);
    }

    public static unsafe Tensor ones(long[] shape, ScalarType? dtype = null, Device? device = null, bool requires_grad = false)
    {
        var d = device ?? Device.CPU;
        IntPtr r;
        fixed (long* p = shape) Check(dst_ones(p, shape.Length, (int)Float(dtype), (int)d.Type, d.Index, requires_grad ? 1 : 0, out r));
        return new Tensor(r);
    }

    public static unsafe Tensor empty(long[] shape, ScalarType? dtype = null, Device? device = null, bool requires_grad = false)
    {
        var d = device ?? Device.CPU;
        IntPtr r;
        fixed (long* p = shape) Check(dst_empty(p, shape.Length, (int)Float(dtype), (int)d.Type, d.Index, requires_grad ? 1 : 0, out r));
        return new Tensor(r);
    }

    /// <summary>A tensor filled with <paramref name="value"/>; the dtype follows the value's kind when not given, as in PyTorch.</summary>
    public static unsafe Tensor full(long[] shape, Scalar value, ScalarType? dtype = null, Device? device = null, bool requires_grad = false)
    {
        var d = device ?? Device.CPU;
        var t = dtype ?? DtypeOf(value);
        IntPtr r;
        fixed (long* p = shape) Check(dst_full(p, shape.Length, value.ToNative(), (int)t, (int)d.Type, d.Index, requires_grad ? 1 : 0, out r));
        return new Tensor(r);
    }

    /// <summary>A zero-dimensional tensor holding one value.</summary>
    public static Tensor scalar_tensor(Scalar value, ScalarType? dtype = null, Device? device = null, bool requires_grad = false)
    {
        var d = device ?? Device.CPU;
        Check(dst_scalar_tensor(value.ToNative(), (int)(dtype ?? DtypeOf(value)), (int)d.Type, d.Index, requires_grad ? 1 : 0, out var r));
        return new Tensor(r);
    }

    private static ScalarType DtypeOf(Scalar value) =>
        value.IsFloatingPoint ? default_dtype : value.ToString() is "True" or "False" ? ScalarType.Bool : ScalarType.Int64;

    public static Tensor arange(Scalar end, ScalarType? dtype = null, Device? device = null, bool requires_grad = false) =>
        arange(0, end, 1, dtype, device, requires_grad);

    /// <summary>Values from start (inclusive) to end (exclusive); integral unless an argument is floating, as in PyTorch.</summary>
    public static Tensor arange(Scalar start, Scalar end, Scalar step, ScalarType? dtype = null, Device? device = null, bool requires_grad = false)
    {
        var d = device ?? Device.CPU;
        var t = dtype ?? (start.IsFloatingPoint || end.IsFloatingPoint || step.IsFloatingPoint ? default_dtype : ScalarType.Int64);
        Check(dst_arange(start.ToNative(), end.ToNative(), step.ToNative(), (int)t, (int)d.Type, d.Index, requires_grad ? 1 : 0, out var r));
        return new Tensor(r);
    }

    public static Tensor arange(Scalar start, Scalar end, ScalarType? dtype = null, Device? device = null) =>
        arange(start, end, 1, dtype, device);

    public static Tensor linspace(double start, double end, long steps, ScalarType? dtype = null, Device? device = null, bool requires_grad = false)
    {
        var d = device ?? Device.CPU;
        Check(dst_linspace(start, end, steps, (int)Float(dtype), (int)d.Type, d.Index, requires_grad ? 1 : 0, out var r));
        return new Tensor(r);
    }

    public static Tensor eye(long n, long? m = null, ScalarType? dtype = null, Device? device = null)
    {
        var d = device ?? Device.CPU;
        Check(dst_eye(n, m ?? n, (int)Float(dtype), (int)d.Type, d.Index, 0, out var r));
        return new Tensor(r);
    }

    public static unsafe Tensor randn(long[] shape, ScalarType? dtype = null, Device? device = null, bool requires_grad = false, Generator? generator = null)
    {
        var d = device ?? Device.CPU;
        IntPtr r;
        fixed (long* p = shape) Check(dst_randn(p, shape.Length, Generator.HandleOf(generator), (int)Float(dtype), (int)d.Type, d.Index, requires_grad ? 1 : 0, out r));
        GC.KeepAlive(generator);
        return new Tensor(r);
    }

    public static unsafe Tensor rand(long[] shape, ScalarType? dtype = null, Device? device = null, bool requires_grad = false, Generator? generator = null)
    {
        var d = device ?? Device.CPU;
        IntPtr r;
        fixed (long* p = shape) Check(dst_rand(p, shape.Length, Generator.HandleOf(generator), (int)Float(dtype), (int)d.Type, d.Index, requires_grad ? 1 : 0, out r));
        GC.KeepAlive(generator);
        return new Tensor(r);
    }

    /// <summary>Integers uniformly drawn from [low, high).</summary>
    public static unsafe Tensor randint(long low, long high, long[] shape, ScalarType dtype = ScalarType.Int64, Device? device = null, Generator? generator = null)
    {
        var d = device ?? Device.CPU;
        IntPtr r;
        fixed (long* p = shape) Check(dst_randint(low, high, p, shape.Length, Generator.HandleOf(generator), (int)dtype, (int)d.Type, d.Index, 0, out r));
        GC.KeepAlive(generator);
        return new Tensor(r);
    }

    public static Tensor randint(long high, long[] shape, ScalarType dtype = ScalarType.Int64, Device? device = null, Generator? generator = null) =>
        randint(0, high, shape, dtype, device, generator);

    public static Tensor randperm(long n, ScalarType dtype = ScalarType.Int64, Device? device = null, Generator? generator = null)
    {
        var d = device ?? Device.CPU;
        Check(dst_randperm(n, Generator.HandleOf(generator), (int)dtype, (int)d.Type, d.Index, 0, out var r));
        GC.KeepAlive(generator);
        return new Tensor(r);
    }

    public static Tensor multinomial(Tensor probs, long num_samples, bool replacement = false, Generator? generator = null)
    {
        Check(dst_multinomial(probs.Handle, num_samples, replacement ? 1 : 0, Generator.HandleOf(generator), out var r));
        GC.KeepAlive(generator);
        return new Tensor(r);
    }

    public static Tensor zeros_like(Tensor t) { Check(dst_zeros_like(t.Handle, out var r)); return new Tensor(r); }
    public static Tensor ones_like(Tensor t) { Check(dst_ones_like(t.Handle, out var r)); return new Tensor(r); }
    public static Tensor empty_like(Tensor t) { Check(dst_empty_like(t.Handle, out var r)); return new Tensor(r); }
    public static Tensor full_like(Tensor t, Scalar value) { Check(dst_full_like(t.Handle, value.ToNative(), out var r)); return new Tensor(r); }
    public static Tensor randn_like(Tensor t) { Check(dst_randn_like(t.Handle, out var r)); return new Tensor(r); }
    public static Tensor rand_like(Tensor t) { Check(dst_rand_like(t.Handle, out var r)); return new Tensor(r); }

    // ---- from .NET data -----------------------------------------------------------------------------

    /// <summary>A new CPU tensor holding a copy of <paramref name="data"/>, shaped as given (default: 1-D).</summary>
    public static unsafe Tensor tensor<T>(ReadOnlySpan<T> data, ReadOnlySpan<long> shape, bool requires_grad = false) where T : unmanaged
    {
        IntPtr r;
        fixed (T* src = data)
        fixed (long* s = shape)
            Check(dst_tensor_from_data(src, (long)data.Length * sizeof(T), (int)ScalarTypeExtensions.Of<T>(), s, shape.Length, out r));
        var t = new Tensor(r);
        if (requires_grad) t.requires_grad = true;
        return t;
    }

    public static Tensor tensor<T>(T[] data, long[]? shape = null, bool requires_grad = false) where T : unmanaged =>
        tensor<T>(data.AsSpan(), shape ?? new long[] { data.Length }, requires_grad);

    public static Tensor tensor<T>(T[,] data, bool requires_grad = false) where T : unmanaged
    {
        var flat = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref data[0, 0], data.Length);
        return tensor<T>(flat, new long[] { data.GetLength(0), data.GetLength(1) }, requires_grad);
    }

    /// <summary>A zero-dimensional tensor of <paramref name="value"/>'s .NET type.</summary>
    public static Tensor tensor<T>(T value, bool requires_grad = false) where T : unmanaged =>
        tensor<T>(new ReadOnlySpan<T>(in value), ReadOnlySpan<long>.Empty, requires_grad);
}

/// <summary>Sets grad mode for its lifetime and restores the previous mode when disposed.</summary>
public sealed class GradModeScope : IDisposable
{
    private readonly bool _previous;
    private bool _disposed;

    internal GradModeScope(bool enabled)
    {
        _previous = torch.is_grad_enabled();
        torch.set_grad_enabled(enabled);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        torch.set_grad_enabled(_previous);
    }
}

/// <summary>libtorch's <c>InferenceMode</c> guard; dispose on the thread that created it.</summary>
public sealed class InferenceModeScope : IDisposable
{
    private IntPtr _guard;

    internal InferenceModeScope() => Check(dst_inference_mode_enter(out _guard));

    public void Dispose()
    {
        if (_guard == IntPtr.Zero) return;
        Check(dst_inference_mode_exit(_guard));
        _guard = IntPtr.Zero;
    }
}

/// <summary>A seeded random generator, independent of the global one (<c>torch.Generator</c>).</summary>
public sealed class Generator : IDisposable
{
    private readonly GeneratorHandle _handle;

    public Generator(ulong seed = 67280421310721UL)
    {
        Check(dst_generator_new(seed, out var h));
        _handle = new GeneratorHandle(h);
    }

    public Generator manual_seed(ulong seed)
    {
        Check(dst_generator_seed(_handle, seed));
        return this;
    }

    /// <summary>The generator's full state as a byte tensor (for checkpoints).</summary>
    public Tensor get_state() { Check(dst_generator_get_state(_handle.DangerousGetHandle(), out var r)); return new Tensor(r); }

    public void set_state(Tensor state) => Check(dst_generator_set_state(_handle.DangerousGetHandle(), state.Handle));

    /// <summary>The global CPU generator's state (what <c>torch.manual_seed</c> seeds).</summary>
    public static Tensor get_default_state() { Check(dst_generator_get_state(IntPtr.Zero, out var r)); return new Tensor(r); }

    public static void set_default_state(Tensor state) => Check(dst_generator_set_state(IntPtr.Zero, state.Handle));

    internal static IntPtr HandleOf(Generator? g) =>
        g is null ? IntPtr.Zero : g._handle.IsClosed ? throw new ObjectDisposedException(nameof(Generator)) : g._handle.DangerousGetHandle();

    public void Dispose() => _handle.Dispose();
}
