namespace Distill.Experiments.Tests;

public class CommandLineTests
{
    private static readonly ExperimentInfo[] Experiments =
    [
        new FakeExperiment { Name = "teacher-resnet56" }.Info,
        new FakeExperiment { Name = "hinton-resnet56-resnet20", DependsOn = ["teacher-resnet56"] }.Info,
    ];

    [Fact]
    public void An_unknown_option_is_named_with_a_suggestion_and_the_valid_ones()
    {
        var r = CliResult.Run(Experiments, "run", "teacher-resnet56", "--epoch", "3");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown option '--epoch'", r.Error);
        Assert.Contains("Did you mean '--epochs'?", r.Error);
        Assert.Contains("Valid options: --epochs, --seed, --seeds, --device, --out, --resume, --quick, --run-name, --batch-size, --lr, --max-batches", r.Error);
        Assert.Contains("distill-experiments run --help", r.Error);
        Assert.DoesNotContain("   at ", r.Error); // no stack trace for a user's mistake
    }

    [Theory]
    [InlineData("--epochs")]
    [InlineData("--epochs", "--quick")]
    [InlineData("--out=")]
    public void A_missing_value_names_the_option(params string[] tail)
    {
        var name = tail[0].TrimEnd('=');
        var r = CliResult.Run(Experiments, ["run", "teacher-resnet56", .. tail]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{name} needs a value", r.Error);
    }

    [Theory]
    [InlineData("--epochs", "three", "--epochs expects a whole number of at least 1, got 'three'")]
    [InlineData("--epochs", "0", "--epochs expects a whole number of at least 1, got '0'")]
    [InlineData("--lr", "-0.1", "--lr expects a positive number")]
    [InlineData("--seeds", "1,,2", "--seeds expects a comma-separated list")]
    [InlineData("--seeds", "1,2,1", "--seeds lists 1 twice")]
    [InlineData("--device", "tpu", "'tpu' is not a device")]
    [InlineData("--progress", "loud", "--progress expects one of auto, rich, plain, none, got 'loud'")]
    [InlineData("--dist-backend", "mpi", "--dist-backend expects gloo or nccl, got 'mpi'")]
    public void A_bad_value_is_a_usage_error(string option, string value, string message)
    {
        var r = CliResult.Run(Experiments, "run", "teacher-resnet56", option, value);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Error);
    }

    [Fact]
    public void An_unknown_experiment_suggests_the_closest_names_and_lists_them_all()
    {
        var r = CliResult.Run(Experiments, "run", "teacher-resnet65");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown experiment 'teacher-resnet65'. Did you mean 'teacher-resnet56'?", r.Error);
        Assert.Contains("Registered experiments: hinton-resnet56-resnet20, teacher-resnet56", r.Error);

        var d = CliResult.Run(Experiments, "describe", "hinton");
        Assert.Equal(2, d.ExitCode);
        Assert.Contains("Did you mean 'hinton-resnet56-resnet20'?", d.Error);
    }

    [Fact]
    public void An_unknown_command_suggests_one()
    {
        var r = CliResult.Run(Experiments, "reprot", "cifar");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown command 'reprot'. Did you mean 'report'? Commands: list, describe, check, run, report, export, env", r.Error);
    }

    [Fact]
    public void Env_shows_the_engine_and_its_checks_pass_on_what_this_build_has()
    {
        var r = CliResult.Run(Experiments, "env", "--check");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("libtorch:       " + Distill.Torch.torch.version, r.Out);
        Assert.Contains("libdistill_torch.so", r.Out);
        Assert.Contains("process groups: gloo (built), nccl " + (Distill.Torch.torch.distributed.is_nccl_available() ? "(built)" : "(not built)"), r.Out);
        Assert.Contains("  ok      matmul on cpu", r.Out);
        Assert.Contains("  ok      gloo process group (1 rank, cpu tensors)", r.Out);
        Assert.Contains("all checks passed", r.Out);
        Assert.DoesNotContain("FAILED", r.Out);
    }

    [Fact]
    public void Positional_counts_are_checked()
    {
        Assert.Contains("run needs <experiment>", CliResult.Run(Experiments, "run").Error);
        var r = CliResult.Run(Experiments, "describe", "a", "b");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("describe takes <experiment> only; unexpected 'b'", r.Error);
        Assert.Contains("list takes no arguments; unexpected 'x'", CliResult.Run(Experiments, "list", "x").Error);
    }

    [Fact]
    public void Switches_take_no_value_and_options_are_given_once()
    {
        Assert.Contains("--quick is a switch and takes no value", CliResult.Run(Experiments, "run", "t", "--quick=yes").Error);
        Assert.Contains("--seed is given twice", CliResult.Run(Experiments, "run", "t", "--seed", "1", "--seed", "2").Error);
        Assert.Contains("give --seed or --seeds, not both", CliResult.Run(Experiments, "run", "teacher-resnet56", "--seed", "1", "--seeds", "2,3").Error);
        Assert.Contains("--resume continues one run", CliResult.Run(Experiments, "run", "teacher-resnet56", "--resume", "--seeds", "2,3").Error);
    }

    [Fact]
    public void Resume_takes_a_value_only_where_it_cannot_be_the_experiment()
    {
        var a = CommandLine.Parse(["run", "--resume", "hinton"]);
        Assert.Equal(["hinton"], a.Positionals);
        Assert.True(a.Has("--resume"));
        Assert.Null(a.String("--resume"));

        var b = CommandLine.Parse(["run", "hinton", "--resume", "runs/hinton/s1"]);
        Assert.Equal("runs/hinton/s1", b.String("--resume"));

        var c = CommandLine.Parse(["run", "--resume", "latest", "hinton"]);
        Assert.Equal("latest", c.String("--resume"));
        Assert.Equal(["hinton"], c.Positionals);

        var d = CommandLine.Parse(["run", "hinton", "--resume", "--quick"]);
        Assert.Null(d.String("--resume"));
        Assert.True(d.Has("--quick"));

        var e = CommandLine.Parse(["run", "--epochs=7", "--", "--odd-name"]);
        Assert.Equal(["--odd-name"], e.Positionals);
        Assert.Equal(7, e.Int("--epochs", 1));
    }

    [Fact]
    public void Help_is_there_everywhere()
    {
        var general = CliResult.Run(Experiments, "--help");
        Assert.Equal(0, general.ExitCode);
        Assert.Contains("commands:", general.Out);
        foreach (var command in CommandLine.Commands)
        {
            var r = CliResult.Run(Experiments, command.Name, "--help");
            Assert.Equal(0, r.ExitCode);
            Assert.Contains($"usage: distill-experiments {command.Name}", r.Out);
            foreach (var option in command.Options) Assert.Contains(option.Name, r.Out);
        }
        Assert.Equal(CliResult.Run(Experiments, "report", "--help").Out, CliResult.Run(Experiments, "help", "report").Out);
        var none = CliResult.Run(Experiments);
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("commands:", none.Error);
    }

    [Fact]
    public void Edit_distance_and_suggestions()
    {
        Assert.Equal(0, Suggestions.Distance("kd", "kd"));
        Assert.Equal(3, Suggestions.Distance("kitten", "sitting"));
        Assert.Equal(["--epochs"], Suggestions.Closest("--epoch", ["--epochs", "--seed", "--out"]));
        Assert.Empty(Suggestions.Closest("zzzzzz", ["--epochs", "--seed"]));
    }
}
