using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

/// <summary>
/// Finds and loads the shim (<c>libdistill_torch.so</c>) without LD_LIBRARY_PATH: the build copies it
/// next to every assembly that references Distill.Torch, and the shim itself records where libtorch
/// lives. <c>DISTILL_TORCH_NATIVE</c> may name another copy (a CUDA build, say).
/// </summary>
internal static class NativeLibraryLoader
{
    internal const string LibraryName = "distill_torch";
    private const string FileName = "libdistill_torch.so";

    private static IntPtr s_handle;
    private static Exception? s_failure;

    /// <summary>The file the shim was loaded from (null before the first call into it).</summary>
    internal static string? LoadedFrom { get; private set; }

#pragma warning disable CA2255 // the resolver must be in place before the first P/Invoke of this assembly
    [ModuleInitializer]
    internal static void Register() =>
        NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve);
#pragma warning restore CA2255

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == LibraryName ? EnsureLoaded() : IntPtr.Zero;

    /// <summary>Loads the shim once; a failure is a <see cref="TorchException"/> that says how to fix it.</summary>
    internal static IntPtr EnsureLoaded()
    {
        if (s_handle != IntPtr.Zero) return s_handle;
        if (s_failure is not null) throw new TorchException(s_failure.Message, ErrorCategory.Runtime, s_failure);
        lock (typeof(NativeLibraryLoader))
        {
            if (s_handle != IntPtr.Zero) return s_handle;
            try
            {
                s_handle = LoadFirst(Candidates());
                return s_handle;
            }
            catch (TorchException e)
            {
                s_failure = e;
                throw;
            }
        }
    }

    /// <summary>
    /// Loads the first candidate that exists and loads; otherwise a <see cref="TorchException"/> that lists
    /// every candidate with the dynamic loader's reason (a missing libtorch shows up there by name).
    /// </summary>
    internal static IntPtr LoadFirst(IEnumerable<string> candidates)
    {
        var errors = new List<string>();
        foreach (var candidate in candidates)
        {
            if (!File.Exists(candidate)) { errors.Add($"{candidate}: not found"); continue; }
            try
            {
                var handle = TryLoad(candidate);
                LoadedFrom = Path.GetFullPath(candidate);
                return handle;
            }
            catch (DllNotFoundException e)
            {
                errors.Add($"{candidate}: {e.Message}");
            }
        }
        throw new TorchException(
            "Could not load the Distill libtorch shim (" + FileName + "). " +
            "It needs libtorch (Debian: libtorch-dev) and is built by `dotnet build`; run `sudo bash scripts/install-deps.sh` first. " +
            "Tried: " + string.Join("; ", errors), ErrorCategory.Runtime);
    }

    /// <summary>Loads one file, failing with the loader's message (used by the tests for a missing library).</summary>
    internal static IntPtr TryLoad(string path)
    {
        try
        {
            return NativeLibrary.Load(path);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            throw new DllNotFoundException(e.Message, e);
        }
    }

    private static IEnumerable<string> Candidates()
    {
        var overridePath = Environment.GetEnvironmentVariable("DISTILL_TORCH_NATIVE");
        if (!string.IsNullOrEmpty(overridePath)) yield return overridePath;
        yield return Path.Combine(AppContext.BaseDirectory, FileName);
        var assemblyDir = Path.GetDirectoryName(typeof(NativeLibraryLoader).Assembly.Location);
        if (!string.IsNullOrEmpty(assemblyDir)) yield return Path.Combine(assemblyDir, FileName);
    }
}
