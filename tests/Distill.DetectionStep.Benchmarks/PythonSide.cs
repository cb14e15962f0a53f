using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Distill.DetectionStep.Benchmarks;

/// <summary>
/// The PyTorch side: detection_step_bench.py in <c>--serve</c> mode, run by Debian's python3-torch + python3-torchvision
/// (the same libtorch as the shim) as a child process that stays alive for the whole run. It loads the weights and the
/// batch this program exported, then answers "first SEED", "steps N", "parts N" and "rss" with one JSON line each, so
/// its blocks interleave with ours; between requests it sleeps on its stdin and uses no CPU.
/// </summary>
internal sealed class PythonSide : IDisposable
{
    /// <summary>Debian's interpreter with python3-torch: not the <c>python3</c> first on PATH, which may lack torch.</summary>
    public const string Interpreter = "/usr/bin/python3";

    private readonly Process _process;
    private readonly StringBuilder _stderr = new();

    private PythonSide(Process process) => _process = process;

    public string TorchVersion { get; private set; } = "?";
    public string TorchvisionVersion { get; private set; } = "?";
    public int Threads { get; private set; }

    /// <summary>Starts the script on the exported state; null (and why) when it cannot run.</summary>
    public static PythonSide? TryStart(int threads, string state, out string? whyNot)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "detection_step_bench.py");
        var io = Path.Combine(AppContext.BaseDirectory, "safetensors_io.py");
        if (!File.Exists(Interpreter))
        {
            whyNot = $"{Interpreter} not found (install Debian's python3-torch and python3-torchvision: DISTILL_DEV_TOOLS=1 bash scripts/install-deps.sh)";
            return null;
        }
        if (!File.Exists(script) || !File.Exists(io))
        {
            whyNot = $"{script} or {io} not found (both are copied next to the program at build time)";
            return null;
        }
        var psi = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-u", script, "--serve", "--threads", threads.ToString(CultureInfo.InvariantCulture), "--state", state })
            psi.ArgumentList.Add(a);
        // The thread count is set by the script (torch.set_num_threads); keep the environment from overriding it.
        psi.Environment.Remove("OMP_NUM_THREADS");
        psi.Environment.Remove("MKL_NUM_THREADS");
        var process = Process.Start(psi)!;
        var side = new PythonSide(process);
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (side._stderr) side._stderr.AppendLine(e.Data); };
        process.BeginErrorReadLine();
        using var ready = side.ReadAnswer();
        if (ready is null || !ready.RootElement.TryGetProperty("ready", out _))
        {
            whyNot = $"the PyTorch side did not start: {side.ErrorText()}";
            side.Dispose();
            return null;
        }
        whyNot = null;
        side.TorchVersion = ready.RootElement.GetProperty("torch").GetString() ?? "?";
        side.TorchvisionVersion = ready.RootElement.GetProperty("torchvision").GetString() ?? "?";
        side.Threads = ready.RootElement.GetProperty("threads").GetInt32();
        return side;
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
    public (long PeakKib, long CurrentKib) Memory()
    {
        using var answer = Ask("rss");
        return (answer.RootElement.GetProperty("vmhwm_kib").GetInt64(), answer.RootElement.GetProperty("vmrss_kib").GetInt64());
    }

    private JsonDocument Ask(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        var answer = ReadAnswer() ?? throw new InvalidOperationException($"the PyTorch side stopped answering '{command}': {ErrorText()}");
        if (answer.RootElement.TryGetProperty("error", out var error))
            throw new InvalidOperationException($"the PyTorch side rejected '{command}': {error.GetString()}");
        return answer;
    }

    private JsonDocument? ReadAnswer()
    {
        var line = _process.StandardOutput.ReadLine();
        return line is null ? null : JsonDocument.Parse(line);
    }

    private string ErrorText()
    {
        lock (_stderr)
        {
            var text = _stderr.ToString().Trim();
            return text.Length == 0 ? $"no message (exit code {(_process.HasExited ? _process.ExitCode.ToString(CultureInfo.InvariantCulture) : "none yet")})" : text;
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("quit");
                _process.StandardInput.Flush();
                if (!_process.WaitForExit(TimeSpan.FromSeconds(30))) _process.Kill();
            }
        }
        catch (IOException)
        {
            // The child already closed its end: nothing left to stop.
        }
        _process.Dispose();
    }
}
