namespace Distill.Experiments.Tests;

public class CheckTests
{
    [Fact]
    public void Check_dry_runs_every_experiment_in_a_scratch_directory_and_reports_each_failure()
    {
        var good = new FakeExperiment { Name = "good", Seeds = [5, 6] };
        var student = new FakeExperiment { Name = "student", DependsOn = ["good"] };
        var shape = new FakeExperiment { Name = "shape", Failure = new TorchException("mat1 and mat2 shapes cannot be multiplied (8x64 and 256x10)", ErrorCategory.Value) };
        var bug = new FakeExperiment { Name = "bug", Failure = new InvalidOperationException("sequence contains no elements") };
        var r = CliResult.Run([good.Info, student.Info, shape.Info, bug.Info], "check");

        Assert.Equal(1, r.ExitCode);
        Assert.Matches(@"check good\s+ok", r.Out);
        Assert.Matches(@"check student\s+ok", r.Out); // a dry run needs no teacher weights
        Assert.Matches(@"check shape\s+FAILED\n    mat1 and mat2 shapes cannot be multiplied \(8x64 and 256x10\)", r.Out.ReplaceLineEndings("\n"));
        Assert.Contains("    InvalidOperationException: sequence contains no elements", r.Out);
        Assert.Contains("4 checked: 2 ok, 2 failed", r.Out);

        var options = good.Calls.Single();
        Assert.True(options.DryRun);
        Assert.Equal(ProgressMode.None, options.Progress);
        Assert.Equal(5, options.Seed);
        Assert.StartsWith(Path.GetTempPath(), options.OutputRoot);
        Assert.False(Directory.Exists(options.OutputRoot)); // the scratch directory is gone
        Assert.NotEqual(options.OutputRoot, student.Calls.Single().OutputRoot);
    }

    [Fact]
    public void Check_of_named_experiments_only_and_all_ok_exits_with_0()
    {
        var a = new FakeExperiment { Name = "a" };
        var b = new FakeExperiment { Name = "b", Failure = new DistillRuntimeException("never checked") };
        var r = CliResult.Run([a.Info, b.Info], "check", "a", "--device", "cpu");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("cpu", a.Calls.Single().Device);
        Assert.Empty(b.Calls);
        Assert.Contains("1 checked: 1 ok, 0 failed", r.Out);

        var unknown = CliResult.Run([a.Info, b.Info], "check", "a", "c");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Empty(a.Calls.Skip(1));
    }

    [Fact]
    public void Check_skips_an_experiment_whose_data_is_absent_but_fails_one_whose_data_is_bad()
    {
        using var tmp = new TempDir();
        var absent = tmp["nowhere/cifar-100-binary"];
        var present = tmp.Write("cifar/train.bin", "x");
        var a = new FakeExperiment { Name = "real-data", Failure = new Distill.Data.DatasetException($"CIFAR-100 directory '{absent}' does not exist", absent) };
        var b = new FakeExperiment { Name = "bad-data", Failure = new Distill.Data.DatasetException($"cifar file '{present}': record 0 is truncated (expected 3074 bytes, got 1)", present, 0) };
        var c = new FakeExperiment { Name = "synthetic" };

        var r = CliResult.Run([a.Info, c.Info], "check");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"check real-data\s+skipped: its data is not on this machine\n    CIFAR-100 directory '.*' does not exist", r.Out.ReplaceLineEndings("\n"));
        Assert.Contains("2 checked: 1 ok, 0 failed, 1 skipped (their data is not on this machine)", r.Out);

        var bad = CliResult.Run([b.Info, c.Info], "check");
        Assert.Equal(1, bad.ExitCode);
        Assert.Matches(@"check bad-data\s+FAILED\n    cifar file '.*': record 0 is truncated", bad.Out.ReplaceLineEndings("\n"));
        Assert.Contains("2 checked: 1 ok, 1 failed", bad.Out);
    }
}
