using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>
/// <c>extends:</c>: an experiment takes a base file's keys (<c>*.distill-base.yaml</c>) and overrides them mapping by mapping;
/// diagnostics about a value from the base point into the base; a missing base, a cycle and an experiment file named as a
/// base are located errors.
/// </summary>
public class ExtendsTests
{
    private const string Flat = """
        name: kd
        seeds: [1, 2]
        data:
          train: { dataset: SyntheticImages, args: { classes: 100, samples: 2000, seed: 1 } }
          batch: 64
        teacher: { model: CifarResNet, args: { depth: 56, classes: 100 }, from: teacher }
        student: { model: CifarResNet, args: { depth: 20, classes: 100 } }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label, weight: 0.1 }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.9 }
        optimizer: { sgd: { lr: 0.05, momentum: 0.9 } }
        schedule: { epochs: 20, multistep: { milestones: [12, 16], gamma: 0.1 } }
        """;

    private const string Base = """
        # What every student of the suite shares.
        seeds: [1, 2]
        data:
          train: { dataset: SyntheticImages, args: { classes: 100, samples: 2000, seed: 1 } }
          batch: 64
        student: { model: CifarResNet, args: { depth: 20, classes: 100 } }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label }
        optimizer: { sgd: { lr: 0.05, momentum: 0.9 } }
        schedule: { epochs: 20, multistep: { milestones: [12, 16], gamma: 0.1 } }
        """;

    private const string Extending = """
        extends: common/students.distill-base.yaml
        name: kd
        teacher: { model: CifarResNet, args: { depth: 56, classes: 100 }, from: teacher }
        losses:
          ce: { weight: 0.1 }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.9 }
        """;

    private static string Description(GeneratorHarness.Result result) =>
        Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("KdExperiment.g.cs", StringComparison.Ordinal)).ToString();

    [Fact]
    public void An_extending_experiment_is_the_experiment_written_out_in_full()
    {
        var flat = GeneratorHarness.Run(new[] { ("experiments/kd.distill.yaml", Flat) });
        var extended = GeneratorHarness.Run(new[] { ("experiments/kd.distill.yaml", Extending), ("experiments/common/students.distill-base.yaml", Base) });
        Assert.Empty(flat.GeneratorDiagnostics);
        Assert.Empty(extended.GeneratorDiagnostics);
        // The same resolved configuration, models, terms (ce first, with the extending file's weight) and seeds.
        Assert.Equal(Description(flat), Description(extended));
        // The base is not an experiment of its own.
        Assert.Single(extended.Run.GeneratedTrees);
    }

    [Fact]
    public void A_base_may_extend_another_and_the_nearest_file_wins()
    {
        const string root = """
            seeds: [7]
            optimizer: { sgd: { lr: 0.5, momentum: 0.9 } }
            """;
        var middle = "extends: ../root.distill-base.yaml\n" + Base.Replace("seeds: [1, 2]\n", "").Replace("optimizer: { sgd: { lr: 0.05, momentum: 0.9 } }\n", "");
        var result = GeneratorHarness.Run(new[]
        {
            ("experiments/kd.distill.yaml", Extending + "\nseeds: [1, 2]\n"),
            ("experiments/common/students.distill-base.yaml", middle),
            ("experiments/root.distill-base.yaml", root),
        });
        Assert.Empty(result.GeneratorDiagnostics);
        var description = Description(result);
        Assert.Matches(@"Seeds = \[1L?, 2L?\];", description); // the experiment's, over the root's [7]
        Assert.Contains("sgd: { lr: 0.5, momentum: 0.9 }", description); // the root's, which nothing between overrides
    }

    [Fact]
    public void A_mistake_in_the_base_is_reported_in_the_base()
    {
        var result = GeneratorHarness.Run(new[]
        {
            ("experiments/kd.distill.yaml", Extending),
            ("experiments/common/students.distill-base.yaml", Base.Replace("momentum: 0.9", "momentun: 0.9")),
        });
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal("DSL002", d.Id);
        var span = d.Location.GetLineSpan();
        Assert.EndsWith("experiments/common/students.distill-base.yaml", span.Path);
        Assert.Equal(9, span.StartLinePosition.Line + 1); // optimizer: { sgd: { ..., momentun: 0.9 } }
    }

    [Theory]
    [InlineData("extends: common/missing.distill-base.yaml", "kd.distill.yaml", "is not among the project's base files")]
    [InlineData("extends: other.distill.yaml", "kd.distill.yaml", "a base file's name ends in .distill-base.yaml (an experiment file is not a base)")]
    [InlineData("extends: common/loop.distill-base.yaml", "common/loop.distill-base.yaml", "it extends itself: kd.distill.yaml → loop.distill-base.yaml → loop.distill-base.yaml")]
    [InlineData("extends: [a, b]", "kd.distill.yaml", null)]
    public void A_base_that_cannot_be_extended_is_an_error_at_the_path(string extends, string file, string? reason)
    {
        var result = GeneratorHarness.Run(new[]
        {
            ("experiments/kd.distill.yaml", Extending.Replace("extends: common/students.distill-base.yaml", extends)),
            ("experiments/common/students.distill-base.yaml", Base),
            ("experiments/common/loop.distill-base.yaml", "extends: loop.distill-base.yaml\n" + Base),
        });
        var d = result.GeneratorDiagnostics.OrderBy(x => x.Location.SourceSpan.Start).First();
        Assert.Equal("experiments/" + file, d.Location.GetLineSpan().Path);
        Assert.Equal(0, d.Location.GetLineSpan().StartLinePosition.Line);
        if (reason is null) Assert.Equal("DSL003", d.Id); // a list where a path belongs
        else
        {
            Assert.Equal("DSL046", d.Id);
            Assert.Equal(DiagnosticSeverity.Error, d.Severity);
            Assert.Contains(reason, d.GetMessage());
        }
        Assert.DoesNotContain(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("KdExperiment.g.cs", StringComparison.Ordinal));
    }
}
