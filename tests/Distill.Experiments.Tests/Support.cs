using System.Diagnostics;
using System.Text.Json.Nodes;

// The runs these tests make seed libtorch's one global generator and then build their models from it: two at once
// would draw from each other's sequence (a run's initial weights would depend on what ran beside it).
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Distill.Experiments.Tests;

/// <summary>Where the repository is: the directory above the tests' output that holds Dsl.sln.</summary>
public static class Repository
{
    public static string Root()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Dsl.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("the repository root (Dsl.sln) is not above the test's directory");
    }

    /// <summary>An experiment compiled into the runner (its module initializer, which registers them, is run first).</summary>
    public static ExperimentInfo Experiment(string name)
    {
        System.Runtime.CompilerServices.RuntimeHelpers.RunModuleConstructor(typeof(Cli).Module.ModuleHandle);
        return ExperimentRegistry.Find(name) ?? throw new InvalidOperationException($"experiment '{name}' is not compiled into the runner");
    }
}

/// <summary>A temporary directory, removed at the end of the test.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "distill-runner-tests-" + Guid.NewGuid().ToString("N")[..12]));

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public string Write(string relative, string text)
    {
        var full = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        return full;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// A stand-in for a generated experiment: a loop that trains nothing but does what a real one does to
/// disk (run directory, metrics, checkpoints, summary) and checks for its teacher's run as a real one
/// does. Its validation metric is a known function of the seed and the epoch, so reports can be checked.
/// </summary>
public sealed class FakeExperiment
{
    public required string Name { get; init; }

    public IReadOnlyList<string> DependsOn { get; init; } = [];

    public int Epochs { get; init; } = 3;

    public IReadOnlyList<long> Seeds { get; init; } = [];

    /// <summary>The validation top-1 of an epoch (1-based) for a seed.</summary>
    public Func<long, int, double> Metric { get; init; } = (seed, epoch) => 0.5 + 0.01 * seed + 0.02 * epoch;

    /// <summary>How the val record spells the metric: "val/top1" (the runtime docs), "val_top1", or "top1" (a key of the "val" phase).</summary>
    public string MetricKey { get; init; } = "val/top1";

    /// <summary>The optimizer steps an epoch counts (a capped or quick run counts its cap).</summary>
    public int BatchesPerEpoch { get; init; } = 10;

    /// <summary>What the run logs as its teachers' evaluation before training (phase "teacher"), or nothing.</summary>
    public Func<long, IReadOnlyDictionary<string, double>>? TeacherEvaluation { get; init; }

    /// <summary>Throw after this many epochs in the first call (a crash), or never.</summary>
    public int? CrashAfterEpochs { get; set; }

    /// <summary>Throws this instead of training (a broken experiment).</summary>
    public Exception? Failure { get; init; }

    /// <summary>Every call's options, in order (a shared log across experiments shows the order they ran in).</summary>
    public List<TrainOptions> Calls { get; } = [];

    public List<string>? SharedLog { get; init; }

    public ExperimentInfo Info => _info ??= new ExperimentInfo
    {
        Name = Name,
        Paper = "Fake et al. 2024",
        Configuration = $"name: {Name}\nepochs: {Epochs}\n",
        SourcePath = $"experiments/fake/{Name}.distill.yaml",
        Models = DependsOn.Count == 0
            ? [new ExperimentModel("student", "student", "TinyNet", "width: 8", null)]
            : [new ExperimentModel("teacher", "teacher", "TinyNet", "width: 32", DependsOn[0]), new ExperimentModel("student", "student", "TinyNet", "width: 8", null)],
        LossTerms = DependsOn.Count == 0
            ? [new ExperimentTerm("ce", "cross_entropy", 1, "input: student.logits, target: batch.label", null)]
            : [
                new ExperimentTerm("ce", "cross_entropy", 0.1, "input: student.logits, target: batch.label", null),
                new ExperimentTerm("kd", "hinton_kd", 0.9, "student: student.logits, teacher: teacher.logits, temperature: 4", "linear 0 → 0.9 over 2 epochs"),
            ],
        DependsOn = DependsOn,
        Seeds = Seeds,
        Epochs = Epochs,
        Settings = [new ExperimentSetting("losses.ce.weight", SettingKind.Number, DependsOn.Count == 0 ? "1" : "0.1", "weight of term ce", Min: 0)],
        Run = Train,
    };

    private ExperimentInfo? _info;

    private TrainResult Train(TrainOptions options)
    {
        Calls.Add(options);
        SharedLog?.Add(Name);
        if (Failure is not null) throw Failure;
        options.Validate();
        var clock = Stopwatch.StartNew();
        if (!options.DryRun)
            foreach (var teacher in DependsOn)
                if (TeacherWeights.FindRun(teacher, options) is null)
                    throw new DistillRuntimeException($"teacher from '{teacher}': no finished run under '{options.OutputRoot}'");
        using var run = RunDirectory.ForOptions(Name, options);
        run.WriteConfig(Info.Configuration);
        var checkpointer = run.CreateCheckpointer(options.KeepLastCheckpoints, options.BestMode);
        var state = new TrainingState { IncludeGlobalGenerator = false };
        if (run.ResumeCheckpoint is { } from) run.LogResume(checkpointer.Restore(from, state));
        var epochs = options.EffectiveEpochs(Epochs);
        var batches = options.EffectiveBatchLimit ?? BatchesPerEpoch;
        if (TeacherEvaluation is not null && state.GlobalStep == 0) run.Log("teacher", TeacherEvaluation(options.Seed), 0, 0);
        var last = double.NaN;
        for (var epoch = state.Epoch + 1; epoch <= epochs; epoch++)
        {
            state.GlobalStep += batches;
            run.Log("train", new Dictionary<string, double> { ["loss"] = 2.0 / epoch, ["top1"] = 0.3 }, epoch, state.GlobalStep);
            last = Metric(options.Seed, epoch);
            run.Log("val", new Dictionary<string, double> { [MetricKey] = last }, epoch, state.GlobalStep);
            state.Epoch = epoch;
            checkpointer.Save(state, metric: last);
            if (CrashAfterEpochs is { } crash && epoch >= crash)
            {
                CrashAfterEpochs = null;
                throw new DistillRuntimeException($"simulated crash after epoch {epoch}");
            }
        }
        var result = new TrainResult(run.Path, state.Epoch, state.GlobalStep,
            new Dictionary<string, double> { ["loss"] = 2.0 / Math.Max(1, state.Epoch), ["val_top1"] = Metric(options.Seed, state.Epoch) },
            state.BestMetric, clock.Elapsed);
        run.WriteSummary(result.ToJson());
        return result;
    }
}

/// <summary>Runs the CLI in-process against given experiments; captures both streams.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    public static CliResult Run(IEnumerable<ExperimentInfo> experiments, params string[] args) => RunIn(null, experiments, args);

    public static CliResult RunIn(string? workingDirectory, IEnumerable<ExperimentInfo> experiments, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = Cli.Run(args, experiments, output, error, workingDirectory);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public static JsonObject Json(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();
}
