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
