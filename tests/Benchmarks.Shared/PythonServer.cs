using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Distill.Benchmarks.Shared;

/// <summary>
/// The PyTorch side of a benchmark: a script of tests/benchmarks in <c>--serve</c> mode, run by Debian's python3-torch (the
/// same libtorch as the shim) as a child process that stays alive for the whole run and answers one command line with one
/// JSON line, so its timed blocks interleave with ours; between requests it sleeps on its stdin and uses no CPU. The
/// benchmarks' own PythonSide classes speak their commands through it (linked into each benchmark program).
/// </summary>
internal sealed class PythonServer : IDisposable
{
    /// <summary>
    /// Debian's interpreter with python3-torch: not the <c>python3</c> first on PATH, which may lack torch. DISTILL_PYTHON
    /// names another (a GPU machine's CUDA PyTorch).
    /// </summary>
    public static readonly string Interpreter = Environment.GetEnvironmentVariable("DISTILL_PYTHON") is { Length: > 0 } chosen ? chosen : "/usr/bin/python3";

    private readonly Process _process;
    private readonly StringBuilder _stderr = new();

    private PythonServer(Process process) => _process = process;

    /// <summary>
    /// Starts <paramref name="script"/> (next to the program) with <paramref name="arguments"/> and waits for its
    /// <c>{"ready": ...}</c> line, returned in <paramref name="ready"/>; null (and why) when it cannot run.
    /// <paramref name="files"/> are the files beside the program the script needs (itself included).
    /// </summary>
    public static PythonServer? TryStart(IReadOnlyList<string> files, IEnumerable<string> arguments, string packages, out JsonDocument? ready, out string? whyNot)
    {
        ready = null;
        if (!File.Exists(Interpreter))
        {
            whyNot = $"{Interpreter} not found (install Debian's {packages}: DISTILL_DEV_TOOLS=1 bash scripts/install-deps.sh)";
            return null;
        }
        var paths = files.Select(f => Path.Combine(AppContext.BaseDirectory, f)).ToList();
        if (paths.FirstOrDefault(p => !File.Exists(p)) is { } missing)
        {
            whyNot = $"{missing} not found (it is copied next to the program at build time)";
            return null;
        }
        var psi = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-u", paths[0], "--serve" }.Concat(arguments)) psi.ArgumentList.Add(a);
        // The thread count is set by the script (torch.set_num_threads); keep the environment from overriding it.
        psi.Environment.Remove("OMP_NUM_THREADS");
        psi.Environment.Remove("MKL_NUM_THREADS");
        var server = new PythonServer(Process.Start(psi)!);
        server._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (server._stderr) server._stderr.AppendLine(e.Data); };
        server._process.BeginErrorReadLine();
        var first = server.ReadAnswer();
        if (first is null || !first.RootElement.TryGetProperty("ready", out _))
        {
            first?.Dispose();
            whyNot = $"the PyTorch side did not start: {server.ErrorText()}";
            server.Dispose();
            return null;
        }
        ready = first;
        whyNot = null;
        return server;
    }

    /// <summary>Sends one command and returns its answer; an error names the command and what the child said.</summary>
    public JsonDocument Ask(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        var answer = ReadAnswer() ?? throw new InvalidOperationException($"the PyTorch side stopped answering '{command}': {ErrorText()}");
        if (answer.RootElement.TryGetProperty("error", out var error))
            throw new InvalidOperationException($"the PyTorch side rejected '{command}': {error.GetString()}");
        return answer;
    }

    /// <summary>The child's peak and current resident memory, in KiB (its "rss" command).</summary>
    public (long PeakKib, long CurrentKib) Memory()
    {
        using var answer = Ask("rss");
        return (answer.RootElement.GetProperty("vmhwm_kib").GetInt64(), answer.RootElement.GetProperty("vmrss_kib").GetInt64());
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
