using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

namespace Distill.Generators.Tests;

/// <summary>An in-memory YAML file handed to the generator as an AdditionalText.</summary>
internal sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    public override string Path { get; } = path;
    public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
}

/// <summary>Runs the generator over C# sources and YAML files, as the compiler would.</summary>
internal static class GeneratorHarness
{
    private static readonly ImmutableArray<MetadataReference> s_references =
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .Concat(new[] { typeof(Distill.Metadata.TensorKind), typeof(Distill.Losses.Classic), typeof(Distill.Torch.Tensor), typeof(Distill.Runtime.ExperimentAttribute) }
                .Select(t => (MetadataReference)MetadataReference.CreateFromFile(t.Assembly.Location)))
            .ToImmutableArray();

    /// <summary>
    /// User-defined models and data sets every test compilation contains (the model zoo is not part of these
    /// tests): they also show that the user's own [DistillModel]/[DistillDataset] types are first-class.
    /// </summary>
    public const string TestZoo = """
        using Distill.Metadata;
        namespace TestZoo
        {
            [DistillModel(Task = "classification")]
            [Tap("stem", TensorKind.FeatureMap, "N, 16, H, W")]
            [Tap("stage1", TensorKind.FeatureMap, "N, 16*width, H, W")]
            [Tap("stage2", TensorKind.FeatureMap, "N, 32*width, H/2, W/2")]
            [Tap("stage3", TensorKind.FeatureMap, "N, 64*width, H/4, W/4")]
            [Tap("pooled", TensorKind.Embedding, "N, 64*width")]
            [Tap("logits", TensorKind.Logits, "N, classes")]
            public sealed class CifarResNet { public CifarResNet(int depth, int classes = 100, int width = 1) { } }

            [DistillModel(Input = "N, 1, H, W")]
            [Tap("features", TensorKind.FeatureMap, "N, hidden, H/2, W/2")]
            [Tap("logits", TensorKind.Logits, "N, classes")]
            public sealed class TinyNet { public TinyNet(int classes = 10, int hidden = 8) { } }

            [DistillDataset]
            [BatchField("image", TensorKind.FeatureMap, "N, channels, size, size")]
            [BatchField("label", TensorKind.Labels, "N", Classes = "classes")]
            public sealed class SyntheticImages { public SyntheticImages(int classes = 100, int samples = 10000, int seed = 0, int channels = 3, int size = 32) { } }
        }
        """;

    public static CSharpCompilation Compilation(params string[] sources) => Compilation(withTestZoo: true, sources);

    /// <summary>A compilation of the sources, with or without the test zoo, referencing the real model zoo too.</summary>
    public static CSharpCompilation Compilation(bool withTestZoo, params string[] sources) =>
        CSharpCompilation.Create("UserProject",
            (withTestZoo ? sources.Prepend(TestZoo) : sources.Prepend("// the real model zoo instead of the test zoo")).Select((s, i) => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest), path: i == 0 ? "TestZoo.cs" : $"Source{i}.cs")),
            withTestZoo ? s_references : s_references.Add(MetadataReference.CreateFromFile(typeof(Distill.Models.CifarResNet).Assembly.Location)),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    /// <summary>
    /// A compilation that can train: the real model zoo, data sets and loaders and the runtime services, so the
    /// generator emits the training loop (without Distill.Data it emits the fused loss only).
    /// </summary>
    public static CSharpCompilation TrainingCompilation(params string[] sources) => Compile(sources, typeof(Distill.Models.CifarResNet), typeof(Distill.Data.SyntheticImages));

    /// <summary>A training compilation that also references the detectors (Distill.Detection).</summary>
    public static CSharpCompilation DetectionCompilation(params string[] sources) =>
        Compile(sources, typeof(Distill.Models.CifarResNet), typeof(Distill.Data.SyntheticImages), typeof(Distill.Detection.FasterRcnn));

    private static CSharpCompilation Compile(string[] sources, params Type[] assemblies) =>
        CSharpCompilation.Create("UserProject",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, new CSharpParseOptions(LanguageVersion.Latest), path: $"Source{i}.cs")),
            s_references.AddRange(assemblies.Select(t => (MetadataReference)MetadataReference.CreateFromFile(t.Assembly.Location))),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    public static GeneratorDriver Driver(params AdditionalText[] files) =>
        CSharpGeneratorDriver.Create(
            new[] { new ExperimentGenerator().AsSourceGenerator() },
            additionalTexts: files,
            parseOptions: new CSharpParseOptions(LanguageVersion.Latest),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    public sealed record Result(GeneratorDriver Driver, GeneratorDriverRunResult Run, Compilation Output, ImmutableArray<Diagnostic> GeneratorDiagnostics)
    {
        public IEnumerable<Diagnostic> Errors => Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error);
    }

    public static Result Run(IEnumerable<(string Path, string Text)> yaml, params string[] sources)
    {
        var driver = Driver(yaml.Select(y => (AdditionalText)new InMemoryAdditionalText(y.Path, y.Text)).ToArray());
        return RunDriver(driver, Compilation(sources));
    }

    public static Result RunDriver(GeneratorDriver driver, Compilation compilation)
    {
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return new Result(driver, driver.GetRunResult(), output, diagnostics);
    }

    /// <summary>Diagnostics of one YAML file, in a stable order.</summary>
    public static ImmutableArray<Diagnostic> Diagnose(string yaml, string path = "experiments/test.distill.yaml") =>
        Run(new[] { (path, yaml) }).GeneratorDiagnostics.OrderBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Id).ToImmutableArray();
}
