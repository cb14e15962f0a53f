using System.Runtime.InteropServices;

namespace Distill.KdStep.Benchmarks;

/// <summary>
/// The OpenMP wait policy of both sides. libtorch's intra-op threads are libgomp's; by default an idle libgomp
/// thread spins (up to 300,000 iterations) before it sleeps, unless the process runs more OpenMP threads than
/// there are cores. On a machine shared with other work, two threads that spin at every barrier of every op keep
/// the cores from the thread they wait for: a step measured 0.35 s with passive waiting and 2.5–4.6 s with
/// spinning, on both sides alike, while the data-loader thread's own OpenMP team (more threads than cores, so
/// throttled spinning) hid the effect from loader-fed steps. The benchmark therefore sets one policy for both
/// processes (default passive: threads sleep at once) and reports it; <c>--omp-wait-policy inherit</c> keeps the
/// environment's.
/// </summary>
internal static partial class WaitPolicy
{
    public const string Variable = "OMP_WAIT_POLICY";

    /// <summary>
    /// Sets OMP_WAIT_POLICY for this process and its children. libgomp reads it once, when it is loaded, so this
    /// must run before the first call into libtorch. .NET on Linux keeps its own copy of the environment for
    /// Environment.GetEnvironmentVariable and child processes, so the C library's environment is set as well.
    /// </summary>
    public static void Apply(string policy)
    {
        if (policy == "inherit") return;
        Environment.SetEnvironmentVariable(Variable, policy);
        if (OperatingSystem.IsLinux() && setenv(Variable, policy, 1) != 0)
            throw new InvalidOperationException($"setenv({Variable}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>The policy in effect, as the benchmark reports it.</summary>
    public static string Describe() => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } v ? v : "libgomp default (spin, then sleep)";

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int setenv(string name, string value, int overwrite);
}
