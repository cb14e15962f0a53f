using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Distill.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;

// Generator cost (issue 4): 50 experiments in one project must generate in < 1 s, and an edit to one
// must regenerate only that one. Run: dotnet run -c Release --project tests/Distill.Generators.Benchmarks
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
const int Experiments = 50;

var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
    .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll")
    .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
    // The real model zoo, data sets and runtime: the generator emits each experiment's fused loss and training loop.
    .Concat(new[] { typeof(Distill.Metadata.TensorKind), typeof(Distill.Losses.Classic), typeof(Distill.Torch.Tensor), typeof(Distill.Models.CifarResNet),
            typeof(Distill.Data.SyntheticImages), typeof(Distill.Runtime.TrainOptions) }
        .Select(t => (MetadataReference)MetadataReference.CreateFromFile(t.Assembly.Location)))
    .ToList();

static string Experiment(int i, double weight) => $$"""
    name: experiment-{{i}}
    data:
      train: { dataset: SyntheticImages, args: { classes: 100, samples: 2000 } }
      batch: 64
    teacher: { model: CifarResNet, args: { depth: 56, classes: 100, width: 32 } }
    student: { model: CifarResNet, args: { depth: {{20 + 6 * (i % 5)}}, classes: 100 } }
    adapters:
      hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3 }
    losses:
      ce: { loss: cross_entropy, input: student.logits, target: batch.label, weight: 0.1 }
      kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: {{weight.ToString("R", CultureInfo.InvariantCulture)}} }
      fit: { loss: fitnet_mse, student: hint, teacher: teacher.stage3, weight: 1 }
    optimizer: { sgd: { lr: 0.05, momentum: 0.9 } }
    schedule: { epochs: 240, multistep: { milestones: [150, 180, 210], gamma: 0.1 } }
    """;

var compilation = CSharpCompilation.Create("Bench", new[] { CSharpSyntaxTree.ParseText("// the experiments are YAML files") }, references,
    new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
var texts = Enumerable.Range(0, Experiments).Select(i => (AdditionalText)new Text($"experiments/e{i}.distill.yaml", Experiment(i, 0.9))).ToArray();

GeneratorDriver NewDriver() => CSharpGeneratorDriver.Create(new[] { new ExperimentGenerator().AsSourceGenerator() }, texts,
    new CSharpParseOptions(LanguageVersion.Latest), driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

// Warm-up (JIT, YamlDotNet's first use) on a throw-away driver.
NewDriver().RunGenerators(compilation);

var fullRuns = new List<double>();
GeneratorDriver driver = NewDriver();
for (var r = 0; r < 5; r++)
{
    var d = NewDriver();
    var sw = Stopwatch.StartNew();
    d = d.RunGenerators(compilation);
    fullRuns.Add(sw.Elapsed.TotalMilliseconds);
    driver = d;
}
var result = driver.GetRunResult();
Console.WriteLine($"Distill generator cost — {Experiments} experiments (each: 2 models, 1 adapter, 3 loss terms, data, optimizer, schedule; description, fused loss, members and training loop emitted)");
Console.WriteLine($"  full generation   : median {Median(fullRuns):F1} ms, max {fullRuns.Max():F1} ms over 5 fresh drivers; {result.GeneratedTrees.Length} files, {result.Diagnostics.Length} diagnostics   target < 1000 ms");

// Edit one experiment (a weight) and run incrementally.
var edited = new Text(texts[17].Path, Experiment(17, 0.5));
var incremental = new List<double>();
GeneratorDriverRunResult? editRun = null;
for (var r = 0; r < 5; r++)
{
    var d = driver.ReplaceAdditionalText(texts[17], edited);
    var sw = Stopwatch.StartNew();
    d = d.RunGenerators(compilation);
    incremental.Add(sw.Elapsed.TotalMilliseconds);
    editRun = d.GetRunResult();
}
var emitted = editRun!.Results.Single().TrackedSteps[ExperimentGenerator.Steps.Emitted].SelectMany(s => s.Outputs)
    .Concat(editRun.Results.Single().TrackedSteps[ExperimentGenerator.Steps.Planned].SelectMany(s => s.Outputs)).ToList();
var regenerated = emitted.Count(o => o.Reason is IncrementalStepRunReason.Modified or IncrementalStepRunReason.New);
var parsed = editRun.Results.Single().TrackedSteps[ExperimentGenerator.Steps.YamlParsed].SelectMany(s => s.Outputs).Count(o => o.Reason == IncrementalStepRunReason.Modified);
Console.WriteLine($"  edit one file     : median {Median(incremental):F1} ms; re-parsed {parsed} file(s), regenerated {regenerated} of {emitted.Count} outputs   target: only the edited one");

static double Median(List<double> v)
{
    var s = v.Order().ToList();
    return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
}

sealed class Text(string path, string text) : AdditionalText
{
    public override string Path { get; } = path;
    public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
}
