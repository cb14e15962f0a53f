using System.Globalization;
using System.Text.Json;
using Distill.Benchmarks.Shared;

namespace Distill.DetectionStep.Benchmarks;

/// <summary>
/// The PyTorch side: detection_step_bench.py (python3-torch + python3-torchvision) served by a <see cref="PythonServer"/>.
/// It loads the weights and the batch this program exported, then answers "first SEED", "steps N", "parts N", "nms N",
/// "check N" and "rss".
/// </summary>
internal sealed class PythonSide : IDisposable
{
    private readonly PythonServer _server;

    private PythonSide(PythonServer server) => _server = server;

    public string TorchVersion { get; private set; } = "?";
    public string TorchvisionVersion { get; private set; } = "?";
    public int Threads { get; private set; }

    /// <summary>Starts the script on the exported state; null (and why) when it cannot run.</summary>
    public static PythonSide? TryStart(int threads, string state, out string? whyNot)
    {
        var server = PythonServer.TryStart(["detection_step_bench.py", "bench_server.py", "safetensors_io.py"],
            ["--threads", threads.ToString(CultureInfo.InvariantCulture), "--state", state],
            "python3-torch and python3-torchvision", out var ready, out whyNot);
        if (server is null) return null;
        using (ready)
            return new PythonSide(server)
            {
                TorchVersion = ready!.RootElement.GetProperty("torch").GetString() ?? "?",
                TorchvisionVersion = ready.RootElement.GetProperty("torchvision").GetString() ?? "?",
                Threads = ready.RootElement.GetProperty("threads").GetInt32(),
            };
    }

    /// <summary>The first step's five losses (objectness, rpn box, classifier, box, DeFeat feature), the generator seeded with <paramref name="seed"/>.</summary>
    public double[] FirstStep(long seed)
    {
        using var answer = Ask($"first {seed.ToString(CultureInfo.InvariantCulture)}");
        return answer.RootElement.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToArray();
    }

    /// <summary>Seconds of each of <paramref name="steps"/> PyTorch steps, and the child's CPU seconds over them (all its threads).</summary>
    public (List<double> Seconds, double CpuSeconds) Steps(int steps)
    {
        using var answer = Ask($"steps {steps.ToString(CultureInfo.InvariantCulture)}");
        return (answer.RootElement.GetProperty("step_seconds").EnumerateArray().Select(e => e.GetDouble()).ToList(),
                answer.RootElement.GetProperty("cpu_seconds").GetDouble());
    }

    /// <summary>Seconds of each phase of <paramref name="steps"/> steps, in the order of <see cref="DistillSide.PartNames"/>.</summary>
    public List<double[]> Parts(int steps)
    {
        using var answer = Ask($"parts {steps.ToString(CultureInfo.InvariantCulture)}");
        return answer.RootElement.GetProperty("parts").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetDouble()).ToArray()).ToList();
    }

    /// <summary>The losses of the <paramref name="steps"/>-th step from the initial weights.</summary>
    public double[] Check(int steps)
    {
        using var answer = Ask($"check {steps.ToString(CultureInfo.InvariantCulture)}");
        return answer.RootElement.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToArray();
    }

    /// <summary>Seconds of each of <paramref name="reps"/> rounds of torchvision's batched_nms over the exported NMS inputs.</summary>
    public List<double> Nms(int reps)
    {
        using var answer = Ask($"nms {reps.ToString(CultureInfo.InvariantCulture)}");
        return answer.RootElement.GetProperty("nms_seconds").EnumerateArray().Select(e => e.GetDouble()).ToList();
    }

    /// <summary>The child's peak and current resident memory, in KiB.</summary>
    public (long PeakKib, long CurrentKib) Memory() => _server.Memory();

    private JsonDocument Ask(string command) => _server.Ask(command);

    public void Dispose() => _server.Dispose();
}
