using System.Collections;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Distill.Generators.Tests;

/// <summary>Unchanged inputs and edits that do not matter leave the generator's tracked steps cached.</summary>
public class IncrementalCachingTests
{
    private const string Yaml = """
        name: tiny-kd
        student: { model: TinyNet, args: { classes: 10 } }
        teacher: { model: TinyNet, args: { classes: 10 } }
        losses:
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4 }
        """;

    private static readonly string[] TrackedSteps =
    {
        ExperimentGenerator.Steps.YamlParsed, ExperimentGenerator.Steps.Diagnostics, ExperimentGenerator.Steps.Descriptions,
        ExperimentGenerator.Steps.Catalog, ExperimentGenerator.Steps.Bound, ExperimentGenerator.Steps.Emitted,
    };

    private static IEnumerable<IncrementalStepRunReason> Reasons(GeneratorDriverRunResult run, string step) =>
        run.Results.Single().TrackedSteps.TryGetValue(step, out var steps)
            ? steps.SelectMany(s => s.Outputs).Select(o => o.Reason)
            : Enumerable.Empty<IncrementalStepRunReason>();

    [Fact]
    public void A_second_run_with_the_same_inputs_is_fully_cached()
    {
        var compilation = GeneratorHarness.Compilation("class A {}");
        var first = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("e.distill.yaml", Yaml)), compilation);
        var second = GeneratorHarness.RunDriver(first.Driver, compilation);
        foreach (var step in TrackedSteps)
            Assert.All(Reasons(second.Run, step), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
        Assert.Equal(first.Run.GeneratedTrees.Single().ToString(), second.Run.GeneratedTrees.Single().ToString());
    }

    [Fact]
    public void An_unrelated_csharp_edit_leaves_every_step_cached()
    {
        var compilation = GeneratorHarness.Compilation("class A {}");
        var first = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("e.distill.yaml", Yaml)), compilation);
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class B { int x; }"));
        var second = GeneratorHarness.RunDriver(first.Driver, edited);
        // The catalog is re-read from the new compilation and found equal (Unchanged); everything else is Cached.
        foreach (var step in TrackedSteps)
            Assert.All(Reasons(second.Run, step), r => Assert.Contains(r, new[] { IncrementalStepRunReason.Cached, IncrementalStepRunReason.Unchanged }));
        Assert.All(Reasons(second.Run, ExperimentGenerator.Steps.Bound), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
    }

    [Fact]
    public void A_whitespace_only_yaml_edit_changes_no_output()
    {
        var compilation = GeneratorHarness.Compilation("class A {}");
        var original = new InMemoryAdditionalText("e.distill.yaml", Yaml);
        var first = GeneratorHarness.RunDriver(GeneratorHarness.Driver(original), compilation);
        var moved = new InMemoryAdditionalText("e.distill.yaml", "\n\n" + Yaml.Replace("losses:", "losses:   ") + "\n\n");
        var driver = first.Driver.ReplaceAdditionalText(original, moved);
        var second = GeneratorHarness.RunDriver(driver, compilation);
        // The parse sees new text (and new locations) ...
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(second.Run, ExperimentGenerator.Steps.YamlParsed));
        // ... but the location-free description is equal, so nothing downstream re-runs.
        Assert.All(Reasons(second.Run, ExperimentGenerator.Steps.Descriptions), r => Assert.Equal(IncrementalStepRunReason.Unchanged, r));
        Assert.Equal(first.Run.GeneratedTrees.Single().ToString(), second.Run.GeneratedTrees.Single().ToString());
    }

    // ---- the code-first front end ----------------------------------------------------------------

    private static readonly string[] AttributeSteps =
    {
        ExperimentGenerator.Steps.AttributesRead, ExperimentGenerator.Steps.AttributesParsed, ExperimentGenerator.Steps.AttributeHelpers,
        ExperimentGenerator.Steps.AttributesBound, ExperimentGenerator.Steps.AttributeDiagnostics, ExperimentGenerator.Steps.AttributeDescriptions,
        ExperimentGenerator.Steps.AttributeHelperSources, ExperimentGenerator.Steps.LossFactories,
    };

    private static string Texts(GeneratorDriverRunResult run) =>
        string.Join("\n//----\n", run.GeneratedTrees.OrderBy(t => t.FilePath, StringComparer.Ordinal).Select(t => t.FilePath + "\n" + t));

    private static SyntaxTree Tree(string text, string path) =>
        CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Latest), path);

    private static void AssertCachedOrUnchanged(GeneratorDriverRunResult run, IEnumerable<string> steps)
    {
        foreach (var step in steps)
        {
            var reasons = Reasons(run, step).ToList();
            Assert.True(reasons.Count > 0, $"step {step} did not run");
            Assert.All(reasons, r => Assert.True(r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{step}: {r}"));
        }
    }

    [Fact]
    public void A_second_run_of_a_code_first_experiment_is_fully_cached()
    {
        var compilation = GeneratorHarness.Compilation(CodeFirstSources.KdClass);
        var first = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), compilation);
        Assert.Empty(first.Errors);
        var second = GeneratorHarness.RunDriver(first.Driver, compilation);
        foreach (var step in AttributeSteps)
            Assert.All(Reasons(second.Run, step), r => Assert.Equal(IncrementalStepRunReason.Cached, r));
        Assert.Equal(Texts(first.Run), Texts(second.Run));
    }

    [Fact]
    public void An_unrelated_csharp_edit_leaves_the_attribute_branch_cached()
    {
        var compilation = GeneratorHarness.Compilation(CodeFirstSources.KdClass);
        var first = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), compilation);
        var edited = compilation.AddSyntaxTrees(Tree("class B { int x; }", "B.cs"));
        var second = GeneratorHarness.RunDriver(first.Driver, edited);
        // The reader re-runs on a new compilation, but its output is equal: nothing after it runs again.
        AssertCachedOrUnchanged(second.Run, AttributeSteps);
        Assert.Equal(Texts(first.Run), Texts(second.Run));
    }

    [Fact]
    public void A_whitespace_and_comment_edit_of_the_class_changes_no_output()
    {
        var compilation = GeneratorHarness.Compilation(CodeFirstSources.KdClass);
        var first = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), compilation);
        var original = compilation.SyntaxTrees.Single(t => t.FilePath == "Source1.cs");
        var moved = Tree("// moved\n\n" + CodeFirstSources.KdClass.Replace("public partial class KdTest", "public   partial class KdTest // the experiment"), "Source1.cs");
        var second = GeneratorHarness.RunDriver(first.Driver, compilation.ReplaceSyntaxTree(original, moved));
        // The spec holds locations, so it changes ...
        Assert.Contains(IncrementalStepRunReason.Modified, Reasons(second.Run, ExperimentGenerator.Steps.AttributesParsed));
        // ... but the helpers and the description do not, so nothing is emitted again.
        AssertCachedOrUnchanged(second.Run, new[]
        {
            ExperimentGenerator.Steps.AttributeHelpers, ExperimentGenerator.Steps.AttributeDescriptions,
            ExperimentGenerator.Steps.AttributeHelperSources, ExperimentGenerator.Steps.LossFactories,
        });
        Assert.Equal(Texts(first.Run), Texts(second.Run));
    }

    [Fact]
    public void An_edit_to_one_experiment_re_emits_only_that_one()
    {
        var other = CodeFirstSources.KdClass.Replace("\"kd-test\"", "\"kd-other\"").Replace("class KdTest", "class KdOther");
        var compilation = GeneratorHarness.Compilation(CodeFirstSources.KdClass, other);
        var first = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), compilation);
        Assert.Empty(first.Errors);
        var original = compilation.SyntaxTrees.Single(t => t.FilePath == "Source2.cs");
        var second = GeneratorHarness.RunDriver(first.Driver, compilation.ReplaceSyntaxTree(original, Tree(other.Replace("Weight = 0.9", "Weight = 0.8"), "Source2.cs")));
        var descriptions = Reasons(second.Run, ExperimentGenerator.Steps.AttributeDescriptions).ToList();
        Assert.Equal(2, descriptions.Count);
        Assert.Single(descriptions, r => r == IncrementalStepRunReason.Modified);
        Assert.Single(descriptions, r => r is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged);
        // A weight is no part of the helpers.
        AssertCachedOrUnchanged(second.Run, new[] { ExperimentGenerator.Steps.AttributeHelperSources, ExperimentGenerator.Steps.LossFactories });
        Assert.Contains("(\"kd\", \"hinton_kd\", 0.8, ", second.Run.GeneratedTrees.Single(t => t.FilePath.EndsWith("Lab.KdOther.Experiment.g.cs", StringComparison.Ordinal)).ToString());
    }

    [Fact]
    public void An_edit_to_another_partial_declaration_of_the_class_is_read()
    {
        const string part = "namespace Lab;\nusing Distill.Runtime;\nusing Distill.Experiments.Dsl;\npublic partial class KdTest\n{\n    [Loss(Weight = 0.5)] LossTerm Kd2 => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits);\n}\n";
        var compilation = GeneratorHarness.Compilation(CodeFirstSources.KdClass, part);
        var first = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), compilation);
        Assert.Empty(first.Errors);
        Assert.Contains("(\"kd2\", \"hinton_kd\", 0.5, ", Texts(first.Run));
        var original = compilation.SyntaxTrees.Single(t => t.FilePath == "Source2.cs");
        var second = GeneratorHarness.RunDriver(first.Driver, compilation.ReplaceSyntaxTree(original, Tree(part.Replace("0.5", "0.25"), "Source2.cs")));
        Assert.Contains("(\"kd2\", \"hinton_kd\", 0.25, ", Texts(second.Run));
    }

    [Fact]
    public void No_step_output_holds_a_Roslyn_object()
    {
        var result = GeneratorHarness.Run(new[] { ("e.distill.yaml", Yaml), ("bad.distill.yaml", "name: [") }, "class A {}", CodeFirstSources.KdClass,
            CodeFirstSources.KdClass.Replace("\"kd-test\"", "\"broken\"").Replace("class KdTest", "class Broken").Replace("temperature: 4", "temperature: 0"));
        var forbidden = new[] { typeof(ISymbol), typeof(Compilation), typeof(SyntaxNode), typeof(SyntaxTree), typeof(Location), typeof(AdditionalText), typeof(SemanticModel) };
        // Our steps only: Roslyn's own SourceOutput step legitimately holds the reported Diagnostics.
        foreach (var (name, steps) in result.Run.Results.Single().TrackedSteps.Where(s => s.Key.StartsWith("Distill.", StringComparison.Ordinal)))
            foreach (var output in steps.SelectMany(s => s.Outputs))
                AssertNoRoslynObjects(output.Value, forbidden, name, new HashSet<object>(ReferenceEqualityComparer.Instance));
    }

    private static void AssertNoRoslynObjects(object? value, Type[] forbidden, string path, HashSet<object> seen)
    {
        if (value is null || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum) return;
        var type = value.GetType();
        Assert.False(forbidden.Any(f => f.IsAssignableFrom(type)), $"{path} holds a {type.FullName}");
        if (!type.IsValueType && !seen.Add(value)) return;
        if (value is IEnumerable items)
        {
            var i = 0;
            foreach (var item in items) AssertNoRoslynObjects(item, forbidden, $"{path}[{i++}]", seen);
        }
        foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        {
            if (field.FieldType.IsPointer) continue;
            AssertNoRoslynObjects(field.GetValue(value), forbidden, $"{path}.{field.Name}", seen);
        }
    }
}
