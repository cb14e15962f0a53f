using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>One test per diagnostic of the YAML front end: id, exact line/column, message.</summary>
public class YamlDiagnosticsTests
{
    private const string Valid = """
        name: hinton-resnet56-resnet20
        paper: Hinton et al. 2015
        data:
          train: { dataset: SyntheticImages, args: { classes: 100, samples: 20000, seed: 1 } }
          batch: 64
        teacher: { model: CifarResNet, args: { depth: 56, classes: 100 }, from: teacher-resnet56 }
        student: { model: CifarResNet, args: { depth: 20, classes: 100 } }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label, weight: 0.1 }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.9 }
        optimizer: { sgd: { lr: 0.05, momentum: 0.9, weight_decay: 5e-4 } }
        schedule: { epochs: 240, multistep: { milestones: [150, 180, 210], gamma: 0.1 } }
        """;

    private static Diagnostic Single(string yaml, string id)
    {
        var all = GeneratorHarness.Diagnose(yaml);
        var d = Assert.Single(all);
        Assert.Equal(id, d.Id);
        return d;
    }

    /// <summary>The one diagnostic with this id (others may follow from the same mistake).</summary>
    private static Diagnostic Find(string yaml, string id) => Assert.Single(GeneratorHarness.Diagnose(yaml), d => d.Id == id);

    private static void AssertAt(Diagnostic d, int line, int column)
    {
        var span = d.Location.GetLineSpan();
        Assert.Equal("experiments/test.distill.yaml", span.Path);
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
    }

    [Fact]
    public void A_valid_experiment_has_no_diagnostics_and_generates_its_description()
    {
        var result = GeneratorHarness.Run(new[] { ("experiments/hinton.distill.yaml", Valid) });
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
        var generated = Assert.Single(result.Run.GeneratedTrees);
        Assert.EndsWith("HintonResnet56Resnet20Experiment.g.cs", generated.FilePath);
        Assert.Contains("public const string ExperimentName = \"hinton-resnet56-resnet20\";", generated.ToString());
    }

    [Fact]
    public void DSL001_a_syntax_error_is_reported_where_it_is()
    {
        var d = Single("name: x\nstudent: { model: A\nlosses: {}\n", "DSL001");
        Assert.StartsWith("YAML syntax error: ", d.GetMessage());
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.True(d.Location.GetLineSpan().StartLinePosition.Line >= 1);
    }

    [Fact]
    public void DSL001_an_empty_file_is_reported()
    {
        var d = Single("", "DSL001");
        Assert.Equal("YAML syntax error: the file is empty", d.GetMessage());
    }

    [Fact]
    public void DSL002_an_unknown_key_suggests_the_closest_one()
    {
        var d = Single(Valid.Replace("schedule:", "schedul:"), "DSL002");
        AssertAt(d, 12, 1);
        Assert.Equal("Unknown key 'schedul' in the experiment (did you mean 'schedule'?); expected one of: extends, name, paper, description, seeds, data, teacher, teachers, student, adapters, losses, optimizer, schedule, eval, memory_format, precision", d.GetMessage());
    }

    [Fact]
    public void DSL002_an_unknown_key_inside_a_model_is_never_ignored()
    {
        // The misspelt args also leave the required 'depth' missing (DSL013), reported beside it.
        var d = Find(Valid.Replace("args: { depth: 20", "arg: { depth: 20"), "DSL002");
        AssertAt(d, 7, 32);
        Assert.Contains("Unknown key 'arg' in 'student' (did you mean 'args'?)", d.GetMessage());
    }

    [Fact]
    public void DSL003_a_missing_required_key_names_it_and_says_what_it_is()
    {
        var d = Single(Valid.Replace("student: { model: CifarResNet, args: { depth: 20, classes: 100 } }\n", ""), "DSL003");
        AssertAt(d, 1, 1);
        Assert.Equal("The experiment needs the key 'student' (the model being trained: { model: <Type>, args: { ... } })", d.GetMessage());
    }

    [Fact]
    public void DSL003_a_loss_term_without_a_loss()
    {
        var d = Single(Valid.Replace("{ loss: hinton_kd, ", "{ "), "DSL003");
        AssertAt(d, 10, 7);
        Assert.Equal("loss term 'kd' needs the key 'loss' (the loss function, e.g. hinton_kd)", d.GetMessage());
    }

    [Fact]
    public void DSL004_a_value_of_the_wrong_type()
    {
        var d = Single(Valid.Replace("batch: 64", "batch: [64]"), "DSL004");
        AssertAt(d, 5, 10);
        Assert.Equal("'batch' expects a whole number, but the value is a list", d.GetMessage());
    }

    [Fact]
    public void DSL004_an_unknown_adapter_kind_suggests_one()
    {
        var yaml = Valid + "\nadapters:\n  a: { kind: conv1x2, from: student.stage3, to: teacher.stage3 }\n";
        var d = Single(yaml, "DSL004");
        Assert.Equal("'kind' expects one of conv1x1, conv3x3, linear (did you mean 'conv1x1'?), but the value is 'conv1x2'", d.GetMessage());
        AssertAt(d, 14, 14);
    }

    [Theory]
    [InlineData("norm: batch", 71, "'norm' expects one of bn (batch normalisation), none, but the value is 'batch'")]
    [InlineData("act: gelu", 70, "'act' expects one of relu, none (did you mean 'relu'?), but the value is 'gelu'")]
    public void DSL004_an_adapter_norm_or_activation_that_does_not_exist(string setting, int column, string message)
    {
        var yaml = Valid + "\nadapters:\n  a: { kind: conv3x3, from: student.stage3, to: teacher.stage3, " + setting + " }\n";
        var d = Find(yaml, "DSL004");
        Assert.Equal(message, d.GetMessage());
        AssertAt(d, 14, column);
    }

    [Fact]
    public void A_loss_terms_arguments_may_be_nested_under_args_and_mean_the_same()
    {
        var nested = Valid.Replace("kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.9 }",
            "kd: { loss: hinton_kd, weight: 0.9, args: { student: student.logits, teacher: teacher.logits, temperature: 4 } }");
        Assert.NotEqual(Valid, nested);
        var flat = GeneratorHarness.Run(new[] { ("experiments/test.distill.yaml", Valid) });
        var withArgs = GeneratorHarness.Run(new[] { ("experiments/test.distill.yaml", nested) });
        Assert.Empty(withArgs.GeneratorDiagnostics);
        Assert.Equal(Assert.Single(flat.Run.GeneratedTrees).ToString(), Assert.Single(withArgs.Run.GeneratedTrees).ToString());

        // Given twice (beside args: and in it): an error at the second.
        var twice = Valid.Replace("temperature: 4, weight: 0.9 }", "temperature: 4, weight: 0.9, args: { temperature: 2 } }");
        var d = Single(twice, "DSL005");
        Assert.Equal("Duplicate argument (given beside args: and in it) 'temperature': names must be unique", d.GetMessage());
    }

    [Fact]
    public void DSL004_transforms_on_a_data_set_that_is_not_an_image_data_set()
    {
        // The test zoo's SyntheticImages is a plain [DistillDataset] class, not a Distill.Data.ImageDataset.
        var yaml = Valid.Replace("args: { classes: 100, samples: 20000, seed: 1 } }", "args: { classes: 100, samples: 20000, seed: 1 }, transforms: { flip: false } }");
        var d = Single(yaml, "DSL004");
        Assert.Equal("'transforms' expects image processing, which applies to image data sets (an ImageDataset) only, but the value is given for data set SyntheticImages", d.GetMessage());
        AssertAt(d, 4, 99);
    }

    [Fact]
    public void Freeze_takes_module_paths_on_the_student_only()
    {
        var bad = Find(Valid.Replace("student: { model: CifarResNet, args: { depth: 20, classes: 100 } }",
            "student: { model: CifarResNet, args: { depth: 20, classes: 100 }, freeze: [layer1, \"layer2..0\"] }"), "DSL004");
        Assert.Equal("'freeze' expects a module path: names of letters, digits and '_' joined by '.', such as layer1.0.conv1, but the value is 'layer2..0'", bad.GetMessage());
        var teacher = Find(Valid.Replace("from: teacher-resnet56 }", "from: teacher-resnet56, freeze: [layer1] }"), "DSL002");
        Assert.StartsWith("Unknown key 'freeze' in 'teacher'", teacher.GetMessage());
    }

    [Fact]
    public void Init_takes_module_paths_to_files_on_a_student_that_starts_from_random_weights()
    {
        var student = "student: { model: CifarResNet, args: { depth: 20, classes: 100 } }";
        var badPath = Find(Valid.Replace(student, "student: { model: CifarResNet, args: { depth: 20, classes: 100 }, init: { \"layer1..0\": a.safetensors } }"), "DSL004");
        Assert.Equal("'init' expects a module path: names of letters, digits and '_' joined by '.', such as backbone.body, but the value is 'layer1..0'", badPath.GetMessage());
        var notFile = Find(Valid.Replace(student, "student: { model: CifarResNet, args: { depth: 20, classes: 100 }, init: { layer1: [a, b] } }"), "DSL004");
        Assert.StartsWith("'layer1' expects the .safetensors file its weights come from", notFile.GetMessage());
        var teacher = Find(Valid.Replace("from: teacher-resnet56 }", "from: teacher-resnet56, init: { layer1: a.safetensors } }"), "DSL002");
        Assert.StartsWith("Unknown key 'init' in 'teacher'", teacher.GetMessage());

        // init: beside a whole-model source would be overwritten: DSL054 at the init entry.
        var overwritten = Single(Valid.Replace(student, "student: { model: CifarResNet, args: { depth: 20, classes: 100 }, from: other, init: { layer1: a.safetensors } }"), "DSL054");
        AssertAt(overwritten, 7, 88); // the entry's module path
        Assert.Equal("Student 'student': init of 'layer1' would be overwritten: the whole student starts from experiment 'other'; remove one of them", overwritten.GetMessage());
    }

    [Fact]
    public void DSL005_a_duplicate_key()
    {
        var d = Single(Valid.Replace("  kd: {", "  ce: {"), "DSL005");
        AssertAt(d, 10, 3);
        Assert.Equal("Duplicate key 'ce': names must be unique", d.GetMessage());
    }

    [Fact]
    public void DSL006_an_invalid_experiment_name()
    {
        var d = Single(Valid.Replace("name: hinton-resnet56-resnet20", "name: 56 layers"), "DSL006");
        AssertAt(d, 1, 7);
        Assert.Equal("'56 layers' is not a valid experiment name: use letters, digits, '-' and '_', starting with a letter", d.GetMessage());
    }

    [Fact]
    public void Every_descriptor_is_listed_in_the_release_tracking_file()
    {
        var unshipped = File.ReadAllText(Path.Combine(RepoRoot(), "generators/Distill.Generators/AnalyzerReleases.Unshipped.md"));
        foreach (var d in Diagnostics.DiagnosticDescriptors.All)
            Assert.Contains($"{d.Id} | {d.Category} | {d.DefaultSeverity} |", unshipped);
    }

    internal static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dsl.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Dsl.sln not found above " + AppContext.BaseDirectory);
    }
}
