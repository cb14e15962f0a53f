using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Distill.Face.Benchmarks;

/// <summary>
/// tests/benchmarks/face_bench.py under Debian's python3-torch, driven one JSON command per line, so that its timed
/// blocks and ours can alternate. One worker per part (a fresh process, so its peak RSS is that part's).
/// </summary>
internal sealed class PythonWorker : IDisposable
{
    /// <summary>Debian's python3-torch (the same libtorch as the shim); DISTILL_PYTHON names another (a GPU machine's CUDA PyTorch).</summary>
    public static readonly string Interpreter = Environment.GetEnvironmentVariable("DISTILL_PYTHON") is { Length: > 0 } chosen ? chosen : "/usr/bin/python3";
    private readonly Process _process;

    private PythonWorker(Process process, string version, int threads)
    {
        _process = process;
        Version = version;
        Threads = threads;
    }

    public string Version { get; }
    public int Threads { get; }

    /// <summary>Starts the worker; null (with the reason written) when the interpreter or the script is missing or it fails to start.</summary>
    public static PythonWorker? Start(int threads, bool defaultMalloc, string device = "cpu")
    {
        var script = Path.Combine(AppContext.BaseDirectory, "face_bench.py");
        if (!File.Exists(Interpreter) || !File.Exists(script))
        {
            Console.WriteLine($"PyTorch side unavailable ({Interpreter} or {script} missing: install Debian's python3-torch)");
            return null;
        }
        var psi = new ProcessStartInfo(Interpreter) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false };
        foreach (var a in new[] { script, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--device", device }) psi.ArgumentList.Add(a);
        if (defaultMalloc) psi.ArgumentList.Add("--default-malloc");
        var p = Process.Start(psi)!;
        var hello = p.StandardOutput.ReadLine();
        if (hello is null)
        {
            p.WaitForExit();
            Console.WriteLine($"PyTorch side failed to start (exit code {p.ExitCode})");
            p.Dispose();
            return null;
        }
        var root = JsonNode.Parse(hello)!;
        return new PythonWorker(p, (string?)root["torch"] ?? "?", (int?)root["threads"] ?? 0)
        {
            Allocator = (string?)root["allocator"] ?? "?",
            OmpWaitPolicy = (string?)root["omp_wait_policy"] ?? "?",
        };
    }

    /// <summary>The glibc malloc policy the worker runs with.</summary>
    public string Allocator { get; private init; } = "?";

    /// <summary>OMP_WAIT_POLICY as the worker sees it (inherited from this process).</summary>
    public string OmpWaitPolicy { get; private init; } = "?";

    /// <summary>Sends a command (an object of string/number values) and returns the reply; an "error" reply throws.</summary>
    public JsonNode Ask(string cmd, params (string Key, object Value)[] arguments)
    {
        var command = new JsonObject { ["cmd"] = cmd };
        foreach (var (key, value) in arguments) command[key] = JsonValue.Create(value);
        _process.StandardInput.WriteLine(command.ToJsonString());
        _process.StandardInput.Flush();
        var line = _process.StandardOutput.ReadLine()
            ?? throw new InvalidOperationException($"the PyTorch side exited during '{cmd}' (exit code {(_process.HasExited ? _process.ExitCode : -1)})");
        var reply = JsonNode.Parse(line)!;
        if (reply["error"] is { } error) throw new InvalidOperationException($"the PyTorch side failed on '{cmd}': {error}");
        return reply;
    }

    /// <summary>Runs <paramref name="n"/> iterations of a set-up case; each one's wall and CPU seconds.</summary>
    public Samples Run(string @case, int n)
    {
        var reply = Ask("run", ("case", @case), ("n", n));
        return new Samples(reply["seconds"]!.AsArray().Select(s => (double)s!).ToList(), reply["cpu_seconds"]!.AsArray().Select(s => (double)s!).ToList());
    }

    /// <summary>Stops the worker and returns its peak resident set (VmHWM, KiB), or null when it is gone.</summary>
    public long? Quit()
    {
        try
        {
            var reply = Ask("quit");
            return (long?)reply["vmhwm_kb"];
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or JsonException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                if (!_process.WaitForExit(10_000)) _process.Kill();
            }
        }
        catch (IOException)
        {
            // already gone
        }
        _process.WaitForExit();
        _process.Dispose();
    }
}
