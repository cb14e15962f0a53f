using Distill.Generators.Tests.Mutation;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>
/// The generator under bad input, on the repository's own experiment files: the files themselves generate code that
/// compiles without a warning, and 400 deterministic mutants of them (deleted, duplicated and moved lines, values of
/// the wrong type, extreme numbers, unknown and duplicate keys, deep nesting, strings C# must escape, BOM/CRLF/binary
/// bytes, unknown taps and models, <c>from:</c> cycles, colliding names) each yield located diagnostics with nothing
/// emitted, or code that compiles with no errors and no warnings, never an exception. The fuzzing program
/// (<c>tests/Distill.Generators.Fuzz</c>) runs the same checks on as many mutants as asked.
/// </summary>
public class MutationTests
{
    private const int Mutants = 400;
    private const int Seed = 16;

    private static readonly Lazy<MutantChecker> s_checker = new(() => new MutantChecker());

    private static IReadOnlyList<(string Path, string Text)> Experiments() => YamlMutator.RepositoryExperiments(YamlDiagnosticsTests.RepoRoot());

    private static IReadOnlyList<(string Path, string Text)> Bases() => YamlMutator.RepositoryBases(YamlDiagnosticsTests.RepoRoot());

    [Fact]
    public void The_repository_experiments_generate_code_that_compiles_without_warnings()
    {
        var experiments = Experiments();
        Assert.True(experiments.Count >= 10, $"only {experiments.Count} experiment files under experiments/");
        Assert.NotEmpty(Bases());
        var outcome = s_checker.Value.Generate(new Mutant(0, "the repository's experiments", [.. experiments, .. Bases()]));
        s_checker.Value.Compile(new[] { outcome });
        Assert.True(outcome.Diagnostics.IsEmpty && !outcome.Failed(double.MaxValue), outcome.Describe());
        // Every experiment: a description, members, the fused loss and the training loop.
        Assert.Equal(4 * experiments.Count, outcome.Generated.Count);
    }

    [Fact]
    public void Four_hundred_mutants_yield_located_diagnostics_or_clean_code_never_an_exception()
    {
        var mutator = new YamlMutator(Experiments(), Bases());
        var outcomes = Enumerable.Range(0, Mutants).Select(k => s_checker.Value.Generate(mutator.Create(k, Seed))).ToList();
        // Compiled in batches (each mutant's code in a namespace of its own): far faster than a compilation each.
        foreach (var batch in outcomes.Where(o => o.Exception is null && !o.HasErrors && o.Generated.Count > 0).Chunk(100))
            s_checker.Value.Compile(batch);

        // Generator time is the fuzzing program's to report (tests assert behaviour, not wall-clock times).
        var failures = outcomes.Where(o => o.Failed(double.MaxValue)).ToList();
        Assert.True(failures.Count == 0,
            $"{failures.Count} of {Mutants} mutants failed:\n\n" + string.Join("\n\n", failures.Take(5).Select(f => f.Describe())));

        // The mutants exercise both outcomes, and the diagnostics this issue added.
        var diagnosed = outcomes.Count(o => o.HasErrors);
        var compiled = outcomes.Count(o => !o.HasErrors && o.Generated.Count > 0);
        Assert.True(diagnosed > Mutants / 2, $"only {diagnosed} mutants were diagnosed");
        Assert.True(compiled > 20, $"only {compiled} mutants generated code");
        var ids = outcomes.SelectMany(o => o.Diagnostics).Select(d => d.Id).ToHashSet();
        foreach (var id in new[] { "DSL001", "DSL002", "DSL004", "DSL005", "DSL031", "DSL041", "DSL042", "DSL043", "DSL044" })
            Assert.Contains(id, ids);
    }

    [Fact]
    public void Mutants_are_deterministic()
    {
        var mutator = new YamlMutator(Experiments(), Bases());
        for (var k = 0; k < 20; k++)
        {
            var a = mutator.Create(k, Seed);
            var b = mutator.Create(k, Seed);
            Assert.Equal(a.Description, b.Description);
            Assert.Equal(a.Files, b.Files);
        }
    }
}
