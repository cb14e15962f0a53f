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

    [Fact]
    public void No_step_output_holds_a_Roslyn_object()
    {
        var result = GeneratorHarness.Run(new[] { ("e.distill.yaml", Yaml), ("bad.distill.yaml", "name: [") }, "class A {}");
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
