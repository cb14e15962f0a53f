using System.Globalization;
using System.Text.Json;
using Distill.Benchmarks.Shared;

namespace Distill.KdStep.Benchmarks;

/// <summary>
/// The PyTorch side: kd_step_bench.py served by a <see cref="PythonServer"/>. It answers "steps N" with N timed steps,
/// "parts N" with the phases of N steps and "rss" with its memory.
/// </summary>
internal sealed class PythonSide : IDisposable
{
    private readonly PythonServer _server;

    private PythonSide(PythonServer server) => _server = server;

    public string TorchVersion { get; private set; } = "?";
    public int Threads { get; private set; }
    public double LastLoss { get; private set; } = double.NaN;

    /// <summary>Starts the script, which builds its models and runs its warm-up; null (and why) when it cannot run.</summary>
    public static PythonSide? TryStart(int threads, int batch, int classes, int size, int warmup, string device, out string? whyNot)
    {
        var server = PythonServer.TryStart(["kd_step_bench.py", "bench_server.py"],
            ["--threads", Str(threads), "--batch", Str(batch), "--classes", Str(classes), "--size", Str(size), "--warmup", Str(warmup), "--device", device],
            "python3-torch", out var ready, out whyNot);
        if (server is null) return null;
        using (ready)
            return new PythonSide(server)
            {
                TorchVersion = ready!.RootElement.GetProperty("torch").GetString() ?? "?",
                Threads = ready.RootElement.GetProperty("threads").GetInt32(),
            };
    }

    /// <summary>Seconds of each of <paramref name="steps"/> PyTorch steps, and the child's CPU seconds over them (all its threads).</summary>
    public (List<double> Seconds, double CpuSeconds) Steps(int steps, bool channelsLast = false)
    {
        using var answer = Ask($"{(channelsLast ? "steps_cl" : "steps")} {steps}");
        LastLoss = answer.RootElement.GetProperty("loss").GetDouble();
        return (answer.RootElement.GetProperty("step_seconds").EnumerateArray().Select(e => e.GetDouble()).ToList(),
                answer.RootElement.GetProperty("cpu_seconds").GetDouble());
    }

    /// <summary>Seconds of each phase of <paramref name="steps"/> steps, by phase name.</summary>
    public Dictionary<string, List<double>> Parts(int steps)
    {
        using var answer = Ask($"parts {steps}");
        return answer.RootElement.GetProperty("parts").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(e => e.GetDouble()).ToList());
    }

    /// <summary>The child's peak and current resident memory, in KiB.</summary>
    public (long PeakKib, long CurrentKib) Memory() => _server.Memory();

    private JsonDocument Ask(string command) => _server.Ask(command);

    public void Dispose() => _server.Dispose();

    private static string Str(int value) => value.ToString(CultureInfo.InvariantCulture);
}
