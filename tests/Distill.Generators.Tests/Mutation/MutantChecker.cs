using System.Collections.Immutable;
using System.Diagnostics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace Distill.Generators.Tests.Mutation;

/// <summary>What running the generator on one mutant gave, and what compiling its generated code gave.</summary>
public sealed class MutantOutcome
{
    public required Mutant Mutant { get; init; }
    public string? Exception { get; set; }
    public double GeneratorMilliseconds { get; set; }
    public ImmutableArray<Diagnostic> Diagnostics { get; set; } = ImmutableArray<Diagnostic>.Empty;
    public List<string> Unlocated { get; } = new();
    public List<(string HintName, string Text)> Generated { get; } = new();

    /// <summary>Experiments with errors that still got code, or a mutant with neither diagnostics nor code.</summary>
    public List<string> Inconsistent { get; } = new();

    public List<string> CompileErrors { get; } = new();
    public List<string> CompileWarnings { get; } = new();

    /// <summary>The generated files with at least one compile error / warning.</summary>
    public HashSet<string> FilesWithErrors { get; } = new(StringComparer.Ordinal);
    public HashSet<string> FilesWithWarnings { get; } = new(StringComparer.Ordinal);

    public bool HasErrors => Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    public bool Failed(double slowMilliseconds) =>
        Exception is not null || Unlocated.Count > 0 || Inconsistent.Count > 0 || CompileErrors.Count > 0 || CompileWarnings.Count > 0 || GeneratorMilliseconds > slowMilliseconds;

    /// <summary>A report of what went wrong, with the mutant's files (long ones shortened).</summary>
    public string Describe()
    {
        var lines = new List<string> { $"mutant {Mutant.Index}: {Mutant.Description}" };
        if (Exception is not null) lines.Add("  exception: " + Exception);
        lines.AddRange(Unlocated.Select(u => "  unlocated: " + u));
        lines.AddRange(Inconsistent.Select(u => "  " + u));
        lines.AddRange(CompileErrors.Take(10).Select(e => "  compile error: " + e));
        lines.AddRange(CompileWarnings.Take(10).Select(e => "  compile warning: " + e));
        lines.Add($"  generator time: {GeneratorMilliseconds:F1} ms; diagnostics: {string.Join(", ", Diagnostics.Select(d => d.Id).Distinct())}");
        foreach (var (path, text) in Mutant.Files)
        {
            lines.Add($"  --- {path} ({text.Length} chars)");
            var shown = text.Length > 4000 ? text[..2000] + "\n[...]\n" + text[^1000..] : text;
            lines.Add(string.Concat(shown.Select(c => c is '\n' or '\t' || (c >= ' ' && c < 0x7F) ? c.ToString() : $"\\u{(int)c:X4}")));
        }
        return string.Join("\n", lines);
    }
}

/// <summary>
/// Runs the generator on mutants against a compilation that can train (the real model zoo, data sets, losses and
/// runtime) and checks what it gave: no exception; every diagnostic located inside its file (a span within the
/// text whose line and column are the text's); nothing emitted for an experiment with errors (beyond the
/// always-emitted code-first helpers) and something for every mutant (diagnostics or code); and, compiled in
/// batches (each mutant's files moved to a namespace of its own), generated code with no errors and no warnings
/// at the highest warning level, with documentation comments checked.
/// </summary>
public sealed class MutantChecker
{
    private const string GeneratedNamespace = "Distill.Experiments.Generated";

    private static readonly CSharpParseOptions s_parseOptions = new(LanguageVersion.Latest, DocumentationMode.Diagnose);

    private readonly CSharpCompilation _compilation;
    private readonly ImmutableHashSet<string> _baseDiagnostics;

    public MutantChecker()
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Concat(new[]
                {
                    typeof(Distill.Metadata.TensorKind), typeof(Distill.Losses.Classic), typeof(Distill.Torch.Tensor), typeof(Distill.Models.CifarResNet),
                    typeof(Distill.Data.SyntheticImages), typeof(Distill.Runtime.TrainOptions), typeof(Distill.Detection.FasterRcnn),
                }
                .Select(t => (MetadataReference)MetadataReference.CreateFromFile(t.Assembly.Location)));
        _compilation = CSharpCompilation.Create("Mutants",
            new[] { CSharpSyntaxTree.ParseText("// the experiments are YAML files", s_parseOptions, path: "Empty.cs") },
            references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999));
        _baseDiagnostics = _compilation.GetDiagnostics().Select(d => d.ToString()).ToImmutableHashSet();
    }

    /// <summary>Runs the generator on the mutant's files (a fresh driver: every run pays the whole generator, catalog included).</summary>
    public MutantOutcome Generate(Mutant mutant)
    {
        var outcome = new MutantOutcome { Mutant = mutant };
        var texts = mutant.Files.Select(f => (AdditionalText)new MutantText(f.Path, f.Text)).ToArray();
        GeneratorDriver driver = CSharpGeneratorDriver.Create(new[] { new ExperimentGenerator().AsSourceGenerator() }, texts, s_parseOptions);
        var clock = Stopwatch.StartNew();
        try
        {
            driver = driver.RunGenerators(_compilation);
        }
        catch (Exception e)
        {
            outcome.Exception = e.GetType().Name + ": " + e.Message;
            return outcome;
        }
        outcome.GeneratorMilliseconds = clock.Elapsed.TotalMilliseconds;
        var run = driver.GetRunResult();
        var result = run.Results.Single();
        if (result.Exception is { } ex) outcome.Exception = ex.GetType().Name + ": " + ex.Message;
        outcome.Diagnostics = run.Diagnostics;
        foreach (var d in run.Diagnostics.Where(d => !d.Id.StartsWith("DSL", StringComparison.Ordinal)))
            outcome.Exception ??= $"{d.Id}: {d.GetMessage()}";
        foreach (var source in result.GeneratedSources) outcome.Generated.Add((source.HintName, source.SourceText.ToString()));

        var sourceTexts = new Dictionary<string, SourceText>(StringComparer.Ordinal);
        foreach (var d in run.Diagnostics.Where(d => d.Id.StartsWith("DSL", StringComparison.Ordinal)))
            if (Unlocated(d, mutant, sourceTexts) is { } why) outcome.Unlocated.Add($"{d.Id} {why}: {Shorten(d.GetMessage())}");

        // Nothing is emitted for an experiment with errors. A YAML experiment's files are "<Class>.g.cs", "<Class>.Loss.g.cs", ...:
        // every file with errors must be one of the experiments that emitted nothing.
        // Base files (extends:) are no experiments: an error in one shows in the experiments that extend it.
        var experiments = mutant.Files.Where(f => !f.Path.EndsWith(".distill-base.yaml", StringComparison.Ordinal)).ToList();
        var filesWithErrors = experiments.Count(f => run.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error && d.Location.GetLineSpan().Path == f.Path));
        var emitted = outcome.Generated.Count(g => g.HintName.EndsWith(".g.cs", StringComparison.Ordinal) && g.HintName.Count(c => c == '.') == 2);
        if (emitted > experiments.Count - filesWithErrors)
            outcome.Inconsistent.Add($"{emitted} experiment(s) emitted, but {filesWithErrors} of {experiments.Count} file(s) have errors");
        if (run.Diagnostics.Length == 0 && outcome.Generated.Count == 0)
            outcome.Inconsistent.Add("neither diagnostics nor generated code");
        return outcome;
    }

    /// <summary>Why the diagnostic is not located inside one of the mutant's files, or null when it is.</summary>
    private static string? Unlocated(Diagnostic d, Mutant mutant, Dictionary<string, SourceText> texts)
    {
        if (d.Location == Location.None || d.Location.Kind is not (LocationKind.ExternalFile or LocationKind.SourceFile)) return "has no location";
        var span = d.Location.GetLineSpan();
        var file = mutant.Files.FirstOrDefault(f => f.Path == span.Path);
        if (file.Path is null) return $"points at '{span.Path}', not a file of the mutant";
        if (!texts.TryGetValue(file.Path, out var text)) texts[file.Path] = text = SourceText.From(file.Text);
        var source = d.Location.SourceSpan;
        if (source.Start < 0 || source.End > text.Length) return $"has the span {source} outside the text (length {text.Length})";
        var expected = text.Lines.GetLinePositionSpan(source);
        if (span.Span != expected) return $"says {span.Span} where its span {source} is at {expected}";
        return null;
    }

    /// <summary>
    /// Compiles the generated code of the given outcomes together, each mutant's files in a namespace of its own, and records
    /// every error and warning located in a generated file (and any without a location, against every mutant of the batch).
    /// </summary>
    public void Compile(IReadOnlyList<MutantOutcome> outcomes)
    {
        var trees = new List<SyntaxTree>();
        var owner = new Dictionary<SyntaxTree, (MutantOutcome Outcome, string Hint)>();
        foreach (var o in outcomes)
        {
            var ns = $"{GeneratedNamespace}.M{o.Mutant.Index}";
            foreach (var (hint, text) in o.Generated)
            {
                var moved = text.Replace($"namespace {GeneratedNamespace};", $"namespace {ns};");
                var tree = CSharpSyntaxTree.ParseText(moved, s_parseOptions, path: $"m{o.Mutant.Index}/{hint}");
                trees.Add(tree);
                owner[tree] = (o, hint);
            }
        }
        if (trees.Count == 0) return;
        var compilation = _compilation.AddSyntaxTrees(trees);
        foreach (var d in compilation.GetDiagnostics())
        {
            if (d.Severity < DiagnosticSeverity.Warning || _baseDiagnostics.Contains(d.ToString())) continue;
            var targets = d.Location.SourceTree is { } t && owner.TryGetValue(t, out var o) ? new[] { o } : outcomes.Select(x => (x, "(no file)")).ToArray();
            foreach (var (outcome, hint) in targets)
            {
                if (d.Severity == DiagnosticSeverity.Error)
                {
                    outcome.CompileErrors.Add($"{hint}: {d}");
                    outcome.FilesWithErrors.Add(hint);
                }
                else
                {
                    outcome.CompileWarnings.Add($"{hint}: {d}");
                    outcome.FilesWithWarnings.Add(hint);
                }
            }
        }
    }

    private static string Shorten(string s) => s.Length > 300 ? s[..300] + "…" : s;

    private sealed class MutantText(string path, string text) : AdditionalText
    {
        public override string Path { get; } = path;
        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }
}
