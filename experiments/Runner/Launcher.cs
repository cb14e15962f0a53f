using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Distill.Runtime;

namespace Distill.Experiments.Runner;

/// <summary>
/// <c>run &lt;experiment&gt; --nproc N</c>: data-parallel training in N local processes, as PyTorch's launcher starts them.
/// The teachers are trained here first (in one process); then, for each seed, N copies of this program run the
/// experiment with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT, and the intra-op
/// threads shared out. Rank 0's output is shown as it comes, the others' lines prefixed with their rank. When a rank
/// fails, the others fail at their next collective (c10d reports the closed connection); any still running after a
/// grace period are stopped, and the job fails naming the rank that failed first.
/// </summary>
internal static class Launcher
{
    private static readonly TimeSpan Grace = TimeSpan.FromSeconds(30);

    public static int Run(RunnerContext context, Trainer trainer, ExperimentInfo info, ParsedArguments args, TrainOptions options,
        IReadOnlyList<long> seeds, string? runName, int nproc)
    {
        var o = context.Out;
        var threads = options.Threads ?? Math.Max(1, Environment.ProcessorCount / nproc);
        foreach (var seed in seeds)
        {
            var seeded = options with
            {
                Seed = seed,
                RunName = runName is null ? null : seeds.Count > 1 ? $"{runName}-s{seed.ToString(CultureInfo.InvariantCulture)}" : runName,
            };
            trainer.EnsureDependencies(info, seeded, [info.Name]);
            var tokens = new List<string> { "run", info.Name, "--seed", seed.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture) };
            if (seeded.RunName is { } name) tokens.AddRange(["--run-name", name]);
            tokens.AddRange(args.OptionTokens("--nproc", "--seed", "--seeds", "--threads", "--run-name"));
            o.WriteLine($"==> {info.Name} (seed {seed.ToString(CultureInfo.InvariantCulture)}): {nproc.ToString(CultureInfo.InvariantCulture)} data-parallel processes, {threads.ToString(CultureInfo.InvariantCulture)} threads each");
            o.Flush();
            var failure = RunRanks(context, tokens, nproc);
            if (failure is not null)
            {
                context.Error.WriteLine($"error: {info.Name} (seed {seed.ToString(CultureInfo.InvariantCulture)}): {failure}");
                return Cli.Failed;
            }
        }
        return Cli.Ok;
    }

    /// <summary>Starts the ranks and waits for them; null when every rank succeeded, else what failed.</summary>
    private static string? RunRanks(RunnerContext context, IReadOnlyList<string> tokens, int nproc)
    {
        var port = torch.distributed.free_loopback_port();
        var processes = new List<Process>();
        var output = new object();
        // Stopped itself (Ctrl-C, a scheduler's SIGTERM, a closed terminal), the launcher stops its ranks first.
        void StopRanks(PosixSignalContext _)
        {
            lock (processes)
                foreach (var process in processes.Where(p => !p.HasExited)) process.Kill(entireProcessTree: true);
        }
        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, StopRanks);
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, StopRanks);
        using var onHangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, StopRanks);
        try
        {
            for (var rank = 0; rank < nproc; rank++)
            {
                var start = StartInfo(tokens, context.WorkingDirectory);
                start.Environment["RANK"] = rank.ToString(CultureInfo.InvariantCulture);
                start.Environment["LOCAL_RANK"] = rank.ToString(CultureInfo.InvariantCulture);
                start.Environment["WORLD_SIZE"] = nproc.ToString(CultureInfo.InvariantCulture);
                start.Environment["MASTER_ADDR"] = "127.0.0.1";
                start.Environment["MASTER_PORT"] = port.ToString(CultureInfo.InvariantCulture);
                if (!start.Environment.ContainsKey("OMP_WAIT_POLICY")) start.Environment["OMP_WAIT_POLICY"] = "passive";
                var process = new Process { StartInfo = start, EnableRaisingEvents = true };
                var tag = $"[rank {rank.ToString(CultureInfo.InvariantCulture)}] ";
                var prefix = rank == 0 ? "" : tag;
                var writer = rank == 0 ? context.Out : context.Error;
                process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) writer.WriteLine(prefix + e.Data); };
                process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) context.Error.WriteLine(tag + e.Data); };
                lock (processes)
                {
                    process.Start();
                    processes.Add(process);
                }
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
            }

            string? failure = null;
            DateTime? stopAt = null;
            while (processes.Any(p => !p.HasExited))
            {
                foreach (var (process, rank) in processes.Select((p, r) => (p, r)))
                    if (failure is null && process.HasExited && process.ExitCode != 0)
                    {
                        failure = $"rank {rank.ToString(CultureInfo.InvariantCulture)} of {nproc.ToString(CultureInfo.InvariantCulture)} exited with code {process.ExitCode.ToString(CultureInfo.InvariantCulture)}";
                        stopAt = DateTime.UtcNow + Grace;
                    }
                if (stopAt is { } deadline && DateTime.UtcNow > deadline)
                {
                    foreach (var process in processes.Where(p => !p.HasExited)) process.Kill(entireProcessTree: true);
                    failure += $"; the ranks still running {Grace.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s later were stopped";
                    break;
                }
                Thread.Sleep(100);
            }
            foreach (var process in processes) process.WaitForExit();
            if (failure is null && processes.Select((p, r) => (p, r)).FirstOrDefault(x => x.p.ExitCode != 0) is { p: not null } failed)
                failure = $"rank {failed.r.ToString(CultureInfo.InvariantCulture)} of {nproc.ToString(CultureInfo.InvariantCulture)} exited with code {failed.p.ExitCode.ToString(CultureInfo.InvariantCulture)}";
            return failure;
        }
        finally
        {
            foreach (var process in processes)
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                process.Dispose();
            }
        }
    }

    /// <summary>This program again: its app host when there is one, else <c>dotnet</c> with its assembly.</summary>
    private static ProcessStartInfo StartInfo(IReadOnlyList<string> tokens, string workingDirectory)
    {
        var assembly = typeof(Launcher).Assembly.Location;
        var host = Path.ChangeExtension(assembly, null);
        var start = File.Exists(host) && !OperatingSystem.IsWindows() ? new ProcessStartInfo(host) : new ProcessStartInfo("dotnet");
        if (start.FileName == "dotnet") start.ArgumentList.Add(assembly);
        foreach (var token in tokens) start.ArgumentList.Add(token);
        start.WorkingDirectory = workingDirectory;
        start.UseShellExecute = false;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        return start;
    }

}
