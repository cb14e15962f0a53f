using System.Text.Json.Nodes;

namespace Distill.Runtime.Tests;

public class RunDirectoryTests
{
    [Fact]
    public void A_new_run_lives_under_root_experiment_and_utc_start_time()
    {
        using var tmp = new TempDir();
        var clock = new ManualClock();
        using var run = RunDirectory.Create("Hinton KD: resnet56/resnet20", root: tmp.Path, clock: clock);
        Assert.Equal(tmp["Hinton-KD-resnet56-resnet20/20240305-140709"], run.Path);
        Assert.Equal("Hinton-KD-resnet56-resnet20", run.Experiment);
        Assert.Equal("20240305-140709", run.Name);
        Assert.True(Directory.Exists(run.CheckpointsPath));
        Assert.False(run.Resumed);
        Assert.Null(run.ResumeCheckpoint);

        using var second = RunDirectory.Create("Hinton KD: resnet56/resnet20", root: tmp.Path, clock: clock);
        Assert.Equal("20240305-140709-2", second.Name);
    }

    [Theory]
    [InlineData("hinton-resnet56-resnet20", "hinton-resnet56-resnet20")]
    [InlineData("../../etc/passwd", "etc-passwd")]
    [InlineData("a<b>c:d\"e|f?g*h", "a-b-c-d-e-f-g-h")]
    [InlineData("  ..  ", "unnamed")]
    [InlineData("", "unnamed")]
    [InlineData("DeFeat v2.1", "DeFeat-v2.1")]
    public void Experiment_names_are_sanitised_to_one_safe_path_segment(string name, string expected) =>
        Assert.Equal(expected, RunDirectory.SanitizeName(name));

    [Fact]
    public void An_explicit_run_name_that_exists_is_an_error_unless_resuming()
    {
        using var tmp = new TempDir();
        RunDirectory.Create("exp", "baseline", tmp.Path).Dispose();
        var e = Assert.Throws<RunDirectoryException>(() => RunDirectory.Create("exp", "baseline", tmp.Path));
        Assert.Contains($"the run directory '{tmp["exp/baseline"]}' already exists", e.Message);
    }

    [Fact]
    public void Metrics_are_json_lines_one_object_per_event_in_invariant_form()
    {
        using var tmp = new TempDir();
        var clock = new ManualClock();
        using (var run = RunDirectory.Create("exp", "r", tmp.Path, clock))
        {
            run.Log("train", new Dictionary<string, double> { ["loss"] = 0.25, ["kd"] = 1.0 / 3 }, epoch: 1, step: 10);
            clock.Advance(TimeSpan.FromSeconds(1.5));
            run.Log("val", new Dictionary<string, double> { ["top1"] = 0.5, ["bad"] = double.NaN, ["big"] = double.PositiveInfinity }, epoch: 1);
            // Written and flushed as it happens: readable before the run closes.
            var lines = File.ReadAllLines(run.MetricsPath);
            Assert.Equal(2, lines.Length);
            Assert.Equal("{\"time\":\"2024-03-05T14:07:09.0000000Z\",\"phase\":\"train\",\"epoch\":1,\"step\":10,\"values\":{\"loss\":0.25,\"kd\":0.3333333333333333}}", lines[0]);
            Assert.Equal("{\"time\":\"2024-03-05T14:07:10.5000000Z\",\"phase\":\"val\",\"epoch\":1,\"values\":{\"top1\":0.5,\"bad\":\"NaN\",\"big\":\"Infinity\"}}", lines[1]);
        }
        var records = RunDirectory.ReadMetrics(tmp["exp/r"]);
        Assert.Equal(2, records.Count);
        Assert.Equal(("train", 1, 10L), (records[0].Phase, records[0].Epoch!.Value, records[0].Step!.Value));
        Assert.Null(records[1].Step);
        Assert.True(double.IsNaN(records[1].Values["bad"]));
        Assert.Equal(double.PositiveInfinity, records[1].Values["big"]);
    }

    [Fact]
    public void Reopening_a_run_appends_after_the_earlier_lines_even_after_a_torn_last_line()
    {
        using var tmp = new TempDir();
        string path;
        using (var run = RunDirectory.Create("exp", "r", tmp.Path))
        {
            path = run.Path;
            run.Log("train", new Dictionary<string, double> { ["loss"] = 1 }, 1, 5);
            run.Log("train", new Dictionary<string, double> { ["loss"] = 0.5 }, 1, 10);
        }
        // A crash in the middle of a write.
        File.AppendAllText(Path.Combine(path, "metrics.jsonl"), "{\"time\":\"2024-03-05T14:07:09Z\",\"phase\":\"tr");

        using (var resumed = RunDirectory.Open(path))
        {
            Assert.True(resumed.Resumed);
            Assert.Equal("exp", resumed.Experiment);
            resumed.LogResume(new CheckpointInfo("ckpt-000001-e1-s10", "s", "t", 1, 0, 10, null, null, DateTimeOffset.UnixEpoch));
            resumed.Log("train", new Dictionary<string, double> { ["loss"] = 0.25 }, 2, 15);
        }
        var records = RunDirectory.ReadMetrics(Path.Combine(path, "metrics.jsonl"));
        Assert.Equal(["train", "train", "resume", "train"], records.Select(r => r.Phase));
        Assert.Equal([1.0, 0.5], records.Take(2).Select(r => r.Values["loss"]));
        Assert.Equal("ckpt-000001-e1-s10", records[2].Checkpoint);
        Assert.Equal(10, records[2].Step);
        // The two earlier lines, the torn one (ended by the repair newline), then the new ones.
        Assert.Equal(5, File.ReadAllLines(Path.Combine(path, "metrics.jsonl")).Length);
    }

    [Fact]
    public void The_config_is_written_once_and_a_different_one_on_resume_goes_beside_it()
    {
        using var tmp = new TempDir();
        var clock = new ManualClock();
        string path;
        using (var run = RunDirectory.Create("exp", "r", tmp.Path, clock))
        {
            path = run.Path;
            Assert.Equal(Path.Combine(path, "config.yaml"), run.WriteConfig("epochs: 10\n"));
        }
        using var resumed = RunDirectory.Open(path, clock);
        Assert.Equal(Path.Combine(path, "config.yaml"), resumed.WriteConfig("epochs: 10\n"));
        clock.Advance(TimeSpan.FromHours(1));
        var changed = resumed.WriteConfig("epochs: 20\n");
        Assert.Equal(Path.Combine(path, "config.resumed-20240305-150709.yaml"), changed);
        Assert.Equal("epochs: 10\n", File.ReadAllText(Path.Combine(path, "config.yaml")));
        Assert.Equal("epochs: 20\n", File.ReadAllText(changed));
        Assert.Equal(Path.Combine(path, "config.json"), resumed.WriteConfig("{}", ".json"));
        Assert.Throws<ArgumentException>(() => resumed.WriteConfig("x", "../evil"));
    }

    [Fact]
    public void The_summary_is_replaced_atomically_and_leaves_no_temporary_files()
    {
        using var tmp = new TempDir();
        using var run = RunDirectory.Create("exp", "r", tmp.Path);
        run.WriteSummary(new JsonObject { ["status"] = "running" });
        run.WriteSummary(new JsonObject { ["status"] = "finished", ["best"] = new JsonObject { ["val/top1"] = 0.81 }, ["nan"] = double.NaN });
        var summary = JsonNode.Parse(File.ReadAllText(run.SummaryPath), documentOptions: default)!;
        Assert.Equal("finished", (string?)summary["status"]);
        Assert.Equal(0.81, (double)summary["best"]!["val/top1"]!);
        Assert.Equal("NaN", summary["nan"]!.ToJsonString().Trim('"'));
        Assert.Equal(["summary.json"], Directory.GetFiles(run.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Options_pick_a_new_run_the_latest_checkpointed_run_or_the_run_of_a_given_checkpoint()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        var clock = new ManualClock();
        var options = new TrainOptions { OutputRoot = tmp.Path };

        // Nothing to resume: a new run.
        using (var first = RunDirectory.ForOptions("exp", options with { Resume = true }, clock))
        {
            Assert.False(first.Resumed);
            Assert.Null(first.ResumeCheckpoint);
            first.CreateCheckpointer().Save(s.State, metric: 0.3);
            first.CreateCheckpointer().Save(s.State, metric: 0.1);
        }
        clock.Advance(TimeSpan.FromMinutes(1));
        using (var withoutCheckpoint = RunDirectory.ForOptions("exp", options, clock))
            Assert.Equal("20240305-140809", withoutCheckpoint.Name);

        // Resume: the run that has a checkpoint, from its latest.
        using (var resumed = RunDirectory.ForOptions("exp", options with { Resume = true }, clock))
        {
            Assert.Equal("20240305-140709", resumed.Name);
            Assert.True(resumed.Resumed);
            Assert.Equal(Path.Combine(resumed.CheckpointsPath, "latest.json"), resumed.ResumeCheckpoint);
        }

        // Resume from a given pointer: that run, from that checkpoint (best, not latest).
        var best = tmp["exp/20240305-140709/checkpoints/best.json"];
        using (var fromBest = RunDirectory.ForOptions("exp", options with { Resume = ResumeOption.Parse(best) }, clock))
        {
            Assert.Equal(tmp["exp/20240305-140709"], fromBest.Path);
            Assert.Equal(best, fromBest.ResumeCheckpoint);
            using var fresh = new TinySetup();
            var info = fromBest.CreateCheckpointer().Restore(fromBest.ResumeCheckpoint!, fresh.State);
            Assert.Equal(0.3, info.Metric);
        }

        // A named run resumes by name.
        using (var named = RunDirectory.ForOptions("exp", options with { RunName = "20240305-140809", Resume = true }, clock))
        {
            Assert.True(named.Resumed);
            Assert.Null(named.ResumeCheckpoint);
        }
    }

    [Theory]
    [InlineData(null, ResumeKind.None)]
    [InlineData("false", ResumeKind.None)]
    [InlineData("true", ResumeKind.Latest)]
    [InlineData("latest", ResumeKind.Latest)]
    [InlineData("runs/exp/r1", ResumeKind.Path)]
    public void Resume_options_parse_from_command_line_text(string? text, ResumeKind kind)
    {
        var option = ResumeOption.Parse(text);
        Assert.Equal(kind, option.Kind);
        if (kind == ResumeKind.Path) Assert.Equal(text, option.Path);
    }
}
