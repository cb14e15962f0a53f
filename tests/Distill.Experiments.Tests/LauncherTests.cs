namespace Distill.Experiments.Tests;

/// <summary>
/// <c>run --nproc 2</c>: the runner starts two copies of itself joined over loopback c10d, and they train the
/// experiment to what one process trains on the same global batches.
/// </summary>
public class LauncherTests
{
    private static Dictionary<string, float[]> Checkpoint(string root)
    {
        var file = Directory.EnumerateFiles(root, "ckpt-*.safetensors", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal).Last();
        var tensors = Safetensors.Load(file);
        try
        {
            return tensors.Where(kv => kv.Value.dtype == ScalarType.Float32)
                .ToDictionary(kv => kv.Key, kv => kv.Value.ToArray<float>());
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    [Fact]
    public void Two_processes_end_with_the_parameters_one_process_trains()
    {
        using var tmp = new TempDir();
        var experiment = Repository.Experiment("student-resnet8");
        string[] common = ["run", "student-resnet8", "--quick", "--seed", "1", "--run-name", "r", "--progress", "none"];
        var one = CliResult.Run([experiment], [.. common, "--out", tmp["one"], "--threads", "1"]);
        Assert.True(one.ExitCode == 0, one.Error);
        var two = CliResult.Run([experiment], [.. common, "--out", tmp["two"], "--nproc", "2"]);
        Assert.True(two.ExitCode == 0, two.Out + two.Error);
        Assert.Contains("2 data-parallel processes, 1 threads each", two.Out);
        Assert.Contains("2 data-parallel ranks", two.Out);

        var expected = Checkpoint(tmp["one"]);
        var actual = Checkpoint(tmp["two"]);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        Assert.Contains(expected.Keys, k => k.Contains("running_mean"));
        foreach (var (name, values) in expected)
        {
            var worst = values.Zip(actual[name], (e, a) => Math.Abs(e - a) / Math.Max(1f, Math.Abs(e))).DefaultIfEmpty(0).Max();
            Assert.True(worst < 1e-3f, $"{name}: largest relative difference {worst}");
        }
        // One run directory, written by rank 0 alone.
        Assert.Single(Directory.EnumerateFiles(tmp["two"], "summary.json", SearchOption.AllDirectories));
    }

    /// <summary>The processes whose command line mentions <paramref name="marker"/> and whose environment says RANK=<paramref name="rank"/>.</summary>
    private static IEnumerable<int> RankProcesses(string marker, int rank)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string commandLine, environment;
            try
            {
                commandLine = File.ReadAllText(Path.Combine(dir, "cmdline"));
                environment = File.ReadAllText(Path.Combine(dir, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            if (commandLine.Contains(marker, StringComparison.Ordinal) && environment.Split('\0').Contains($"RANK={rank}"))
                yield return pid;
        }
    }

    [Fact]
    public void Killing_a_rank_fails_the_job_naming_it_instead_of_hanging()
    {
        using var tmp = new TempDir();
        var marker = "kill-" + Guid.NewGuid().ToString("N")[..8];
        CliResult? result = null;
        var launcher = new Thread(() => result = CliResult.Run([Repository.Experiment("student-resnet8")],
            "run", "student-resnet8", "--epochs", "20", "--max-batches", "40", "--seed", "1", "--run-name", marker, "--out", tmp.Path, "--progress", "none", "--nproc", "2"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        launcher.Start();
        var killed = false;
        while (!killed && launcher.IsAlive && clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            foreach (var pid in RankProcesses(marker, 1))
            {
                using var rank = System.Diagnostics.Process.GetProcessById(pid);
                Thread.Sleep(2000);   // let it reach training
                rank.Kill();
                killed = true;
                clock.Restart();
                break;
            }
            if (!killed) Thread.Sleep(200);
        }
        Assert.True(killed, "rank 1 was never seen");
        Assert.True(launcher.Join(TimeSpan.FromMinutes(2)), "the launcher did not return after a rank was killed");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the job took {clock.Elapsed} to fail after the kill");
        Assert.NotEqual(0, result!.ExitCode);
        Assert.Contains("rank 1 of 2 exited with code 137", result.Error);
    }

    [Fact]
    public void Nproc_inside_a_job_that_already_has_ranks_is_refused()
    {
        Environment.SetEnvironmentVariable("WORLD_SIZE", "2");
        Environment.SetEnvironmentVariable("RANK", "0");
        Environment.SetEnvironmentVariable("MASTER_ADDR", "127.0.0.1");
        Environment.SetEnvironmentVariable("MASTER_PORT", "29555");
        try
        {
            using var tmp = new TempDir();
            var r = CliResult.Run([Repository.Experiment("student-resnet8")], "run", "student-resnet8", "--quick", "--out", tmp.Path, "--nproc", "2", "--progress", "none");
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains("this process is already one rank of a job", r.Error);
        }
        finally
        {
            foreach (var name in new[] { "WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT" }) Environment.SetEnvironmentVariable(name, null);
        }
    }
}
