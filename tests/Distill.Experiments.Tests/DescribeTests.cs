namespace Distill.Experiments.Tests;

public class DescribeTests
{
    private static readonly ExperimentInfo[] Experiments =
    [
        new FakeExperiment { Name = "teacher" }.Info,
        new FakeExperiment { Name = "kd", DependsOn = ["teacher"], Seeds = [1, 2] }.Info,
    ];

    [Fact]
    public void List_shows_models_terms_and_dependencies()
    {
        var r = CliResult.Run(Experiments, "list");
        Assert.Equal(0, r.ExitCode);
        var text = r.Out.ReplaceLineEndings("\n");
        Assert.Contains("kd  (Fake et al. 2024)\n    models:     TinyNet(width: 32) → TinyNet(width: 8)\n    terms:      ce = 0.1·cross_entropy, kd = 0.9·hinton_kd\n    depends on: teacher\n", text);
        Assert.Contains("2 experiments", text);
        Assert.Contains("no experiments are registered", CliResult.Run([], "list").Out);
    }

    [Fact]
    public void Describe_shows_the_loss_graph_and_the_resolved_configuration()
    {
        var r = CliResult.Run(Experiments, "describe", "kd");
        Assert.Equal(0, r.ExitCode);
        var text = r.Out.ReplaceLineEndings("\n");
        Assert.Contains("  seeds:      1, 2\n", text);
        Assert.Matches(@"teacher\s+teacher\s+TinyNet\(width: 32\)\s+weights: from experiment 'teacher' \(its best checkpoint\)", text);
        Assert.Matches(@"student\s+student\s+TinyNet\(width: 8\)\s+weights: trained by this experiment", text);
        Assert.Contains("  total = 0.1 · cross_entropy(input: student.logits, target: batch.label)   [ce]\n", text);
        Assert.Contains("        + 0.9 · hinton_kd(student: student.logits, teacher: teacher.logits, temperature: 4)   [kd]  schedule: linear 0 → 0.9 over 2 epochs\n", text);
        Assert.EndsWith("configuration (resolved)\n  name: kd\n  epochs: 3\n", text);
    }
}
