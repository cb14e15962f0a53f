using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using Distill.Generators.Model;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>The code-first front end: the same experiment as YAML, typed helpers checked by the C# compiler, generated code that compiles.</summary>
public class CodeFirstTests
{
    public static TheoryData<string, string, string, string> BothWays => new()
    {
        // yaml, class source, (YAML class, code-first class) as they appear in the generated declarations (the generated YAML class is documented)
        {
            CodeFirstSources.KdYaml, CodeFirstSources.KdClass,
            "namespace Distill.Experiments.Generated;\n\n/// <summary>The experiment <c>kd-test</c>, generated from its YAML file.</summary>\npartial class KdTestExperiment",
            "namespace Lab;\n\npartial class KdTest"
        },
        {
            CodeFirstSources.MultiYaml, CodeFirstSources.MultiClass,
            "namespace Distill.Experiments.Generated;\n\n/// <summary>The experiment <c>two-teachers</c>, generated from its YAML file.</summary>\npartial class TwoTeachersExperiment",
            "namespace Lab.Multi;\n\npartial class TwoTeachers"
        },
    };

    private static GeneratorHarness.Result RunYaml(string yaml) =>
        GeneratorHarness.Run(new[] { ("experiments/e.distill.yaml", yaml) }, CodeFirstSources.UserTypes);

    private static GeneratorHarness.Result RunClass(string source) =>
        GeneratorHarness.Run(Array.Empty<(string, string)>(), CodeFirstSources.UserTypes, source);

    private static string Description(GeneratorHarness.Result result) =>
        Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("Experiment.g.cs", StringComparison.Ordinal)).ToString();

    [Theory]
    [MemberData(nameof(BothWays))]
    public void The_same_experiment_written_both_ways_generates_identical_code(string yaml, string source, string yamlDeclaration, string classDeclaration)
    {
        var fromYaml = RunYaml(yaml);
        var fromClass = RunClass(source);
        Assert.Empty(fromYaml.GeneratorDiagnostics);
        Assert.Empty(fromClass.GeneratorDiagnostics);
        Assert.Empty(fromYaml.Errors);
        Assert.Empty(fromClass.Errors);

        var yamlText = Description(fromYaml);
        var classText = Description(fromClass);
        // Identical but for the class that receives the code: the user's own, or one named after the experiment.
        Assert.Contains(yamlDeclaration, yamlText);
        Assert.Contains(classDeclaration, classText);
        Assert.Equal(yamlText.Replace(yamlDeclaration, classDeclaration), classText);
        // The code-first class's description (the multi-teacher one has a user-defined model, data set and losses).
        var hint = classDeclaration.Contains("TwoTeachers") ? "Lab.Multi.TwoTeachers.Experiment.g.cs" : "Lab.KdTest.Experiment.g.cs";
        Snapshot.Verify(classText, nameof(CodeFirstTests), nameof(The_same_experiment_written_both_ways_generates_identical_code), hint);
    }

    public static TheoryData<string, string> Twins => new()
    {
        { CodeFirstSources.KdYaml, CodeFirstSources.KdClass },
        { CodeFirstSources.MultiYaml, CodeFirstSources.MultiClass },
    };

    [Theory]
    [MemberData(nameof(Twins))]
    public void Both_front_ends_read_the_same_experiment(string yaml, string source)
    {
        var fromYaml = BoundSpec(RunYaml(yaml), ExperimentGenerator.Steps.Bound);
        var fromClass = BoundSpec(RunClass(source), ExperimentGenerator.Steps.AttributesBound);
        Assert.Equal(FrontEnd.Yaml, fromYaml.FrontEnd);
        Assert.Equal(FrontEnd.Attributes, fromClass.FrontEnd);
        // Everything but locations and the receiving class: models, arguments (positional ones named), adapters,
        // terms, weights and their schedules, data, optimizer and groups, schedule, evaluation, seeds.
        Assert.Equal(Dump(fromYaml), Dump(fromClass));
    }

    private static ExperimentSpec BoundSpec(GeneratorHarness.Result result, string step)
    {
        var output = Assert.Single(result.Run.Results.Single().TrackedSteps[step].SelectMany(s => s.Outputs));
        return Assert.IsType<ExperimentGenerator.ParseResult>(output.Value).Spec!;
    }

    /// <summary>A spec as text, leaving out locations and what names the receiving class.</summary>
    private static string Dump(ExperimentSpec spec)
    {
        var text = new StringBuilder();
        Dump(spec, "", text, new[] { nameof(ExperimentSpec.FrontEnd), nameof(ExperimentSpec.SourcePath), nameof(ExperimentSpec.Namespace), nameof(ExperimentSpec.ClassName) });
        return text.ToString();
    }

    private static void Dump(object? value, string indent, StringBuilder text, string[] skip)
    {
        switch (value)
        {
            case null:
                text.Append("null\n");
                return;
            case string or bool or Enum:
                text.Append(value).Append('\n');
                return;
            case IFormattable f when value.GetType().IsPrimitive:
                text.Append(f.ToString(null, CultureInfo.InvariantCulture)).Append('\n');
                return;
            case IEnumerable items:
                text.Append("[\n");
                foreach (var item in items)
                {
                    text.Append(indent).Append("  - ");
                    Dump(item, indent + "    ", text, Array.Empty<string>());
                }
                text.Append(indent).Append("]\n");
                return;
        }
        text.Append(value.GetType().Name).Append('\n');
        foreach (var p in value.GetType().GetProperties(BindingFlags.Instance | BindingFlags.Public).OrderBy(p => p.MetadataToken))
        {
            if (p.PropertyType == typeof(LocationInfo) || p.PropertyType == typeof(LocationInfo?) || skip.Contains(p.Name)) continue;
            text.Append(indent).Append("  ").Append(p.Name).Append(": ");
            Dump(p.GetValue(value), indent + "  ", text, Array.Empty<string>());
        }
    }

    [Fact]
    public void The_helpers_are_typed_references_with_the_yaml_text()
    {
        var result = RunClass(CodeFirstSources.KdClass);
        var helpers = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("Lab.KdTest.Dsl.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("public static readonly global::Distill.Runtime.TapRef<global::Distill.Runtime.Logits> logits = new(\"student.logits\");", helpers);
        Assert.Contains("public static readonly global::Distill.Runtime.TapRef<global::Distill.Runtime.FeatureMap> stage3 = new(\"teacher.stage3\");", helpers);
        Assert.Contains("public static readonly global::Distill.Runtime.TapRef<global::Distill.Runtime.Labels> label = new(\"batch.label\");", helpers);

        var loss = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("Distill.Experiments.Dsl.LossFactories.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("""
                public static global::Distill.Runtime.LossTerm hinton_kd(
                    global::Distill.Runtime.TapRef<global::Distill.Runtime.Logits> student,
                    global::Distill.Runtime.TapRef<global::Distill.Runtime.Logits> teacher,
                    double temperature = 4.0) =>
                    new global::Distill.Runtime.LossTerm("hinton_kd", ("student", student), ("teacher", teacher), ("temperature", temperature));
            """, loss);
        // A ground-truth input defaults to its batch field, as a key left out of a YAML term does.
        Assert.Contains("global::Distill.Runtime.TapRef<global::Distill.Runtime.Labels>? target = null,", loss);
        Assert.Contains("(\"target\", target ?? new global::Distill.Runtime.TapRef<global::Distill.Runtime.Labels>(\"batch.label\"))", loss);
        // Any-kind inputs take the untyped TapRef.
        Assert.Contains("global::Distill.Runtime.TapRef student,", loss);
    }

    [Fact]
    public void The_helpers_describe_the_wiring_at_run_time()
    {
        var result = RunClass(CodeFirstSources.KdClass);
        Assert.Empty(result.Errors);
        using var stream = new MemoryStream();
        var emit = result.Output.Emit(stream);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        var context = new System.Runtime.Loader.AssemblyLoadContext("code-first", isCollectible: true);
        try
        {
            stream.Position = 0;
            var assembly = context.LoadFromStream(stream);
            var type = assembly.GetType("Lab.KdTest")!;
            Assert.Equal("kd-test", type.GetField("ExperimentName")!.GetValue(null));
            var instance = Activator.CreateInstance(type, nonPublic: true)!;
            string Term(string property) => type.GetProperty(property, BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(instance)!.ToString()!;
            Assert.Equal("hinton_kd(student: student.logits, teacher: teacher.logits, temperature: 4)", Term("Kd"));
            Assert.Equal("cross_entropy(input: student.logits, target: batch.label, label_smoothing: 0, ignore_index: -100)", Term("Ce"));
            Assert.Equal("fitnet_mse(student: conv1x1(student.stage3 -> teacher.stage3), teacher: teacher.stage3, reduction: \"mean\")", Term("Fit"));
        }
        finally
        {
            context.Unload();
        }
    }

    public static TheoryData<string> CompilingSources => new()
    {
        CodeFirstSources.KdClass,
        CodeFirstSources.MultiClass,
        // The global namespace, a qualified Taps/Batch/Loss, explicit null for a defaulted input, .As<>() on a reference,
        // getter bodies, a class split over two declarations.
        """
        using Distill.Runtime;
        using TestZoo;

        [Experiment("global-kd")]
        [Schedule(10)]
        public sealed partial class GlobalKd
        {
            [TrainData(Batch = 8)] SyntheticImages Data { get => new(classes: 10, channels: 1); }
            [Student] TinyNet Student { get; } = new();
            [Teacher] TinyNet Teacher { get; } = new(classes: 10, hidden: 16);
            [Loss] LossTerm Kd => Distill.Experiments.Dsl.Loss.hinton_kd(GlobalKd.Taps.Student.logits, Taps.Teacher.logits.As<Logits>());
            [Loss(Weight = 0.5)] LossTerm Ce => Distill.Experiments.Dsl.Loss.cross_entropy(Taps.Student.logits, null, label_smoothing: 0.1);
        }

        public sealed partial class GlobalKd
        {
            [Loss(Weight = 0.25)] LossTerm Dkd => Distill.Experiments.Dsl.Loss.dkd(Taps.Student.logits, Taps.Teacher.logits, GlobalKd.Batch.label, beta: 2);
        }
        """,
    };

    [Theory]
    [MemberData(nameof(CompilingSources))]
    public void Generated_code_compiles(string source)
    {
        var result = RunClass(source);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
        Assert.Empty(result.Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Warning && d.Location.SourceTree?.FilePath.Contains("Distill.Generators") == true));
    }

    [Fact]
    public void Loss_factories_are_emitted_once_for_all_experiments_and_not_without_any()
    {
        var two = GeneratorHarness.Run(Array.Empty<(string, string)>(), CodeFirstSources.UserTypes, CodeFirstSources.KdClass, CodeFirstSources.MultiClass);
        Assert.Empty(two.Errors);
        Assert.Single(two.Run.GeneratedTrees, t => t.FilePath.EndsWith("LossFactories.g.cs", StringComparison.Ordinal));
        Assert.Equal(2, two.Run.GeneratedTrees.Count(t => t.FilePath.EndsWith(".Dsl.g.cs", StringComparison.Ordinal)));

        var none = GeneratorHarness.Run(new[] { ("e.distill.yaml", CodeFirstSources.KdYaml) });
        Assert.DoesNotContain(none.Run.GeneratedTrees, t => t.FilePath.EndsWith("LossFactories.g.cs", StringComparison.Ordinal));
    }
}
