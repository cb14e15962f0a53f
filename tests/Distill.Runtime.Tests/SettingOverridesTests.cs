using Distill.Runtime;
using Xunit;

namespace Distill.Runtime.Tests;

/// <summary><c>--set key=value</c>: each override checked against the experiment's settings table, as the generator checks the file.</summary>
public sealed class SettingOverridesTests
{
    private static readonly ExperimentInfo Experiment = new()
    {
        Name = "kd",
        SourcePath = "suite/kd.distill.yaml",
        Configuration = "name: kd\n",
        Models = [],
        LossTerms = [],
        Epochs = 20,
        Run = _ => throw new InvalidOperationException(),
        Settings =
        [
            new("data.batch", SettingKind.WholeNumber, "64", "the batch size", Min: 1, Max: int.MaxValue),
            new("schedule.epochs", SettingKind.WholeNumber, "20", "the epochs to train", Min: 1, Max: int.MaxValue),
            new("schedule.warmup", SettingKind.WholeNumber, "0", "warm-up", Min: 0, Max: int.MaxValue),
            new("schedule.multistep.milestones", SettingKind.WholeNumbers, "[12, 16]", "milestones", Min: 1, Max: int.MaxValue),
            new("optimizer.sgd.lr", SettingKind.Number, "0.05", "the base learning rate", Min: 0, MinExclusive: true),
            new("optimizer.sgd.momentum", SettingKind.Number, "0.9", "momentum", Min: 0),
            new("optimizer.sgd.nesterov", SettingKind.Bool, "false", "nesterov"),
            new("optimizer.adam.betas", SettingKind.NumberPair, "[0.9, 0.999]", "betas", Min: 0, Max: 1, MaxExclusive: true),
            new("eval.every", SettingKind.WholeNumber, "1", "evaluation interval", Min: 1, Max: int.MaxValue),
            new("losses.kd.weight", SettingKind.Number, "0.9", "the weight of kd", Min: 0),
            new("losses.kd.args.temperature", SettingKind.Number, "4.0", "T", Min: 0, MinExclusive: true, TiedTo: ["losses.kd2.args.temperature"]),
            new("losses.kd2.args.temperature", SettingKind.Number, "4.0", "T", Min: 0, MinExclusive: true, TiedTo: ["losses.kd.args.temperature"]),
        ],
    };

    private static TrainOptions Apply(params string[] assignments) => SettingOverrides.Apply(Experiment, new TrainOptions(), assignments);

    private static IReadOnlyList<string> Problems(TrainOptions options, params string[] assignments) =>
        Assert.Throws<SettingException>(() => SettingOverrides.Apply(Experiment, options, assignments)).Problems;

    [Fact]
    public void Values_reach_the_generated_code_in_canonical_form()
    {
        var o = Apply("losses.kd.weight=0.5", "optimizer.sgd.momentum=9.5e-1", "optimizer.sgd.nesterov=true", "optimizer.adam.betas=[0.8,0.99]",
            "schedule.multistep.milestones=10, 15");
        Assert.Equal(0.5, o.Setting("losses.kd.weight", 0.9));
        Assert.Equal(0.95, o.Setting("optimizer.sgd.momentum", 0.9));
        Assert.True(o.Setting("optimizer.sgd.nesterov", false));
        Assert.Equal((0.8, 0.99), o.Setting("optimizer.adam.betas", (0.9, 0.999)));
        Assert.True(o.TryGetSetting("schedule.multistep.milestones", out var milestones));
        Assert.Equal([10, 15], milestones);
        Assert.Equal("[10, 15]", o.Settings["schedule.multistep.milestones"]);
        // What is not overridden keeps its declared value.
        Assert.Equal(4.0, o.Setting("losses.kd.args.temperature", 4.0));
        Assert.False(o.TryGetSetting("schedule.step.step_size", out _));
    }

    [Fact]
    public void The_run_options_are_the_same_overrides_as_before()
    {
        var o = Apply("schedule.epochs=3", "data.batch=32", "optimizer.sgd.lr=0.1", "eval.every=2");
        Assert.Equal(3, o.Epochs);
        Assert.Equal(32, o.BatchSize);
        Assert.Equal(0.1, o.LearningRate);
        Assert.Equal(2, o.EvalInterval);
        Assert.Empty(o.Settings);
        Assert.Contains("'schedule.epochs' and --epochs set the same thing: give one", Problems(new TrainOptions { Epochs = 2 }, "schedule.epochs=3"));
    }

    [Fact]
    public void Every_problem_is_reported_at_once_with_what_was_expected()
    {
        var problems = Problems(new TrainOptions(), "losses.kd.args.temprature=8", "optimizer.sgd.momentum=-1", "losses.kd.weight=abc", "data.batch=2.5",
            "optimizer.sgd.nesterov=yes", "optimizer.adam.betas=[0.9]", "losses.kd.weight=0.1", "novalue", "eval.every=nan");
        Assert.Equal(
        [
            "'losses.kd.args.temprature' is not a setting of this experiment; did you mean 'losses.kd.args.temperature' or 'losses.kd2.args.temperature'?",
            "optimizer.sgd.momentum must be a finite number >= 0, not '-1'",
            "losses.kd.weight must be a finite number >= 0, not 'abc'",
            "data.batch must be a whole number in [1, 2147483647], not '2.5'",
            "optimizer.sgd.nesterov must be true or false, not 'yes'",
            "optimizer.adam.betas must be a pair of numbers such as [0.9, 0.999], each in [0, 1), not '[0.9]'",
            "'novalue' is not key=value (for example losses.kd.weight=0.5)",
            "eval.every must be a whole number in [1, 2147483647], not 'nan'",
        ], problems);
        var e = Assert.Throws<SettingException>(() => Apply("nothing.here=1"));
        Assert.StartsWith("experiment 'kd' (suite/kd.distill.yaml): 'nothing.here' is not a setting of this experiment", e.Message);
        Assert.Contains("'losses.kd.weight' is set twice", Problems(new TrainOptions(), "losses.kd.weight=0.1", "losses.kd.weight=0.2"));
    }

    [Fact]
    public void Tied_settings_are_overridden_together_to_one_value()
    {
        const string message = "losses.kd.args.temperature and losses.kd2.args.temperature feed one quantity the fused loss computes once: set both, to one value";
        Assert.Equal([message], Problems(new TrainOptions(), "losses.kd.args.temperature=8"));
        Assert.Equal([message], Problems(new TrainOptions(), "losses.kd.args.temperature=8", "losses.kd2.args.temperature=2"));
        var o = Apply("losses.kd.args.temperature=8", "losses.kd2.args.temperature=8.0");
        Assert.Equal(8.0, o.Setting("losses.kd2.args.temperature", 4.0));
    }

    [Fact]
    public void Milestones_and_the_warm_up_fall_within_the_run()
    {
        Assert.Equal(["schedule.multistep.milestones: 20 is not before the end of training (20 epochs)"], Problems(new TrainOptions(), "schedule.multistep.milestones=[10,20]"));
        Assert.Equal(["schedule.warmup: 5 is not before the end of training (5 epochs)"], Problems(new TrainOptions(), "schedule.epochs=5", "schedule.warmup=5"));
        Assert.Equal([8], Apply("schedule.epochs=10", "schedule.multistep.milestones=8").TryGetSetting("schedule.multistep.milestones", out var m) ? m : []);
    }

    [Fact]
    public void A_run_records_its_overrides_and_is_no_teacher_as_declared()
    {
        var options = Apply("losses.kd.weight=0.5") with { Seed = 3 };
        var request = RunRequest.From(options);
        Assert.Equal("--set losses.kd.weight=0.5", request.Deviation(20));
        var dir = Directory.CreateTempSubdirectory("distill-set-").FullName;
        try
        {
            request.Write(dir);
            var read = RunRequest.Read(dir)!;
            Assert.Equal("0.5", read.Settings!["losses.kd.weight"]);
            Assert.Equal("--set losses.kd.weight=0.5", read.Deviation(20));
            Assert.Null(RunRequest.From(new TrainOptions()).Deviation(20));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
