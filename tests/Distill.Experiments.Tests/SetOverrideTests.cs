using System.Globalization;
using System.Text.Json.Nodes;

namespace Distill.Experiments.Tests;

/// <summary>
/// <c>run … --set key=value</c> on a real generated experiment (the main job's Hinton KD on Fashion-MNIST, its teacher a
/// committed file): overridden weights and temperature reach the fused loss, the run records them, and a bad override
/// stops the run before it starts with a message naming the experiment's file and what was expected.
/// </summary>
public class SetOverrideTests
{
    private const string Experiment = "fashion-small-hinton-resnet20-resnet8";

    private static JsonObject FirstTrainRecord(string runDirectory) =>
        File.ReadLines(Path.Combine(runDirectory, "metrics.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).First(r => (string)r["phase"]! == "train")["values"]!.AsObject();

    [Fact]
    public void Overridden_weights_and_temperature_reach_the_fused_loss_and_the_run_records_them()
    {
        var info = Repository.Experiment(Experiment);
        using var tmp = new TempDir();
        string[] common = ["run", Experiment, "--quick", "--max-batches", "1", "--out", tmp["runs"], "--progress", "none", "--threads", "1"];
        var declared = CliResult.RunIn(Repository.Root(), [info], [.. common, "--run-name", "declared"]);
        Assert.True(declared.ExitCode == 0, declared.Error + declared.Out);
        var set = CliResult.RunIn(Repository.Root(), [info], [.. common, "--run-name", "set", "--set", "losses.kd.weight=0.5", "--set", "losses.ce.weight=2", "--set", "losses.kd.args.temperature=8"]);
        Assert.True(set.ExitCode == 0, set.Error + set.Out);

        var a = FirstTrainRecord(tmp["runs/" + Experiment + "/declared"]);
        var b = FirstTrainRecord(tmp["runs/" + Experiment + "/set"]);
        // One batch, the same initial weights and data: cross-entropy is the same; KD at T = 8 is not KD at T = 4.
        Assert.Equal((double)a["ce"]!, (double)b["ce"]!, 12);
        Assert.NotEqual((double)a["kd"]!, (double)b["kd"]!);
        // The total is the overridden weights' sum (declared: 0.1 ce + 0.9 kd).
        Assert.Equal(0.1 * (double)a["ce"]! + 0.9 * (double)a["kd"]!, (double)a["loss"]!, 5);
        Assert.Equal(2 * (double)b["ce"]! + 0.5 * (double)b["kd"]!, (double)b["loss"]!, 5);

        var options = CliResult.Json(tmp["runs/" + Experiment + "/set/options.json"]);
        Assert.Equal("0.5", (string)options["set"]!["losses.kd.weight"]!);
        Assert.Equal("8", (string)options["set"]!["losses.kd.args.temperature"]!);
        Assert.Contains("set: { losses.ce.weight: 2, losses.kd.args.temperature: 8, losses.kd.weight: 0.5 }", File.ReadAllText(tmp["runs/" + Experiment + "/set/" + RunDirectory.ConfigName + ".yaml"]));
    }

    [Fact]
    public void A_bad_override_is_a_usage_error_naming_the_file_and_what_was_expected()
    {
        var info = Repository.Experiment(Experiment);
        using var tmp = new TempDir();
        var r = CliResult.RunIn(Repository.Root(), [info], "run", Experiment, "--quick", "--out", tmp["runs"], "--progress", "none",
            "--set", "losses.kd.args.temprature=8", "--set", "optimizer.sgd.momentum=-0.5", "--set", "student.args.depth=20");
        Assert.True(r.ExitCode == 2, r.Error + r.Out);
        Assert.Contains("hinton-resnet20-resnet8.distill.yaml", r.Error);
        Assert.Contains("'losses.kd.args.temprature' is not a setting of this experiment; did you mean 'losses.kd.args.temperature'?", r.Error);
        Assert.Contains("optimizer.sgd.momentum must be a finite number >= 0, not '-0.5'", r.Error);
        Assert.Contains("'student.args.depth' is not a setting of this experiment", r.Error);
        Assert.False(Directory.Exists(tmp["runs"]), "nothing is trained or written");
        // describe lists what may be set, with the declared values and rules.
        var d = CliResult.Run([info], "describe", Experiment);
        Assert.Contains("losses.kd.args.temperature", d.Out);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"optimizer.sgd.momentum"), d.Out);
    }

}
