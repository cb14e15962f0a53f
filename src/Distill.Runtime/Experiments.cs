using System.Collections.Concurrent;
using Distill.Torch.Modules;
using System.Text.Json.Nodes;

namespace Distill.Runtime;

/// <summary>A model of an experiment as its description lists it.</summary>
/// <param name="Weights">Where a teacher's weights come from: <c>from: experiment</c>, a checkpoint path, or null (the student).</param>
public sealed record ExperimentModel(string Name, string Role, string Type, string Arguments, string? Weights);

/// <summary>A loss term as the description lists it: its loss, weight, inputs and hyper-parameters (as written) and weight schedule.</summary>
public sealed record ExperimentTerm(string Name, string Loss, double Weight, string Arguments, string? Schedule);

/// <summary>
/// What the runner knows of a generated experiment without running it: the static description the
/// generator emits (identical for both front ends) and the entry points into its generated code.
/// Generated experiments register themselves when their assembly loads (<see cref="ExperimentRegistry"/>).
/// </summary>
public sealed record ExperimentInfo
{
    public required string Name { get; init; }

    public string? Paper { get; init; }

    /// <summary>The experiment as resolved YAML (every default made explicit): what <c>describe</c> prints and each run stores as its config.</summary>
    public required string Configuration { get; init; }

    /// <summary>The <c>*.distill.yaml</c> file or the C# file that declares it.</summary>
    public string? SourcePath { get; init; }

    public required IReadOnlyList<ExperimentModel> Models { get; init; }

    public required IReadOnlyList<ExperimentTerm> LossTerms { get; init; }

    /// <summary>The experiments whose runs provide teacher weights (<c>from:</c>), in declaration order.</summary>
    public IReadOnlyList<string> DependsOn { get; init; } = [];

    /// <summary>The declared seeds (empty: the runner's default).</summary>
    public IReadOnlyList<long> Seeds { get; init; } = [];

    /// <summary>The declared number of epochs.</summary>
    public int Epochs { get; init; }

    /// <summary>The declared values a run may override (<c>--set key=value</c>), with the rule each value must satisfy.</summary>
    public IReadOnlyList<ExperimentSetting> Settings { get; init; } = [];

    /// <summary>Builds the experiment (models initialised from the run's seed) and trains it.</summary>
    public required Func<TrainOptions, TrainResult> Run { get; init; }
}

/// <summary>What a finished (or stopped) run reports.</summary>
/// <param name="RunPath">The run directory.</param>
/// <param name="Epochs">Epochs completed, resumed ones included.</param>
/// <param name="Steps">Optimizer steps completed, resumed ones included.</param>
/// <param name="Final">The last epoch's metrics (training loss terms, <c>val_top1</c>, …).</param>
/// <param name="Best">The best value of the selection metric, when there is one.</param>
/// <param name="Elapsed">Wall time of this invocation (not of resumed earlier ones).</param>
/// <param name="Completed">Whether every epoch ran (false when <see cref="TrainOptions.StopAfterSteps"/> stopped it early).</param>
public sealed record TrainResult(string RunPath, int Epochs, long Steps, IReadOnlyDictionary<string, double> Final, double? Best, TimeSpan Elapsed, bool Completed = true)
{
    /// <summary>The summary.json a run writes.</summary>
    public JsonObject ToJson()
    {
        var final = new JsonObject();
        foreach (var (k, v) in Final.OrderBy(kv => kv.Key, StringComparer.Ordinal)) final[k] = JsonNumbers.Node(v);
        return new JsonObject
        {
            ["completed"] = Completed,
            ["epochs"] = Epochs,
            ["steps"] = Steps,
            ["final"] = final,
            ["best"] = Best is { } b ? JsonNumbers.Node(b) : null,
            ["elapsed_seconds"] = Math.Round(Elapsed.TotalSeconds, 3),
        };
    }
}

/// <summary>
/// The experiments of the loaded assemblies. The generator adds a module initializer to every experiment
/// class that registers its <see cref="ExperimentInfo"/>, so a program that references an experiments
/// assembly lists them without reflection.
/// </summary>
public static class ExperimentRegistry
{
    private static readonly ConcurrentDictionary<string, ExperimentInfo> Experiments = new(StringComparer.Ordinal);

    /// <summary>Registers an experiment; a second registration under one name must be the same experiment.</summary>
    public static void Register(ExperimentInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        var existing = Experiments.GetOrAdd(info.Name, info);
        if (!ReferenceEquals(existing, info) && existing.Configuration != info.Configuration)
            throw new InvalidOperationException($"two experiments are named '{info.Name}' ({existing.SourcePath} and {info.SourcePath}); experiment names must be unique");
    }

    /// <summary>Every registered experiment, by name.</summary>
    public static IReadOnlyList<ExperimentInfo> All => Experiments.Values.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();

    public static ExperimentInfo? Find(string name) => Experiments.TryGetValue(name, out var e) ? e : null;
}

/// <summary>
/// Where a teacher's weights come from — another experiment's run, or a checkpoint file — and a student's starting
/// weights, from the same places (<c>role</c> "student" in the messages).
/// </summary>
public static class TeacherWeights
{
    /// <summary>The module name under which a run stores the model it trains.</summary>
    public const string StudentModule = "student";

    /// <summary>
    /// The best checkpoint of the most recent finished run of <paramref name="experiment"/> under
    /// <paramref name="outputRoot"/> that trained it as declared — no override of its epochs, batch size,
    /// learning rate or batches per epoch (<see cref="RunRequest"/>) — and is a quick run exactly when
    /// <paramref name="quick"/>; null when there is none. A run that recorded no request counts as declared.
    /// </summary>
    public static string? FindRun(string experiment, string outputRoot, bool quick = false) =>
        Candidates(experiment, outputRoot).Where(c => c.Problem(quick) is null).Select(c => c.Checkpoint).FirstOrDefault();

    /// <summary>The teacher run a student run with <paramref name="studentOptions"/> loads (its output root and quick-ness).</summary>
    public static string? FindRun(string experiment, TrainOptions studentOptions) =>
        FindRun(experiment, studentOptions.OutputRoot, studentOptions.Quick);

    /// <summary>A finished run of a teacher's experiment, newest first, and why it may not serve as the teacher.</summary>
    private sealed record Candidate(string Directory, string Checkpoint, RunRequest? Request, int? DeclaredEpochs)
    {
        public string? Problem(bool quick)
        {
            if (Request is null) return null;
            if (Request.Quick != quick) return Request.Quick ? "a quick run" : "a full run, not a quick one";
            return Request.Deviation(DeclaredEpochs);
        }
    }

    private static IEnumerable<Candidate> Candidates(string experiment, string outputRoot)
    {
        var parent = Path.Combine(Path.GetFullPath(outputRoot), RunDirectory.SanitizeName(experiment));
        if (!Directory.Exists(parent)) return [];
        var declared = ExperimentRegistry.Find(experiment)?.Epochs;
        return Directory.EnumerateDirectories(parent)
            .Select(d => (dir: d, summary: new FileInfo(Path.Combine(d, RunDirectory.SummaryFile)),
                best: Path.Combine(d, RunDirectory.CheckpointsFolder, Checkpointer.BestPointer),
                latest: Path.Combine(d, RunDirectory.CheckpointsFolder, Checkpointer.LatestPointer)))
            .Where(x => x.summary.Exists && (File.Exists(x.best) || File.Exists(x.latest)) && RunDirectory.IsCompleted(x.dir))
            .OrderByDescending(x => x.summary.LastWriteTimeUtc)
            .ThenByDescending(x => x.dir, StringComparer.Ordinal)
            .Select(x => new Candidate(x.dir, File.Exists(x.best) ? x.best : x.latest, RunRequest.Read(x.dir), declared))
            .ToList();
    }

    /// <summary>
    /// Why no run of <paramref name="experiment"/> can serve as a teacher for a student run with <paramref name="studentOptions"/>:
    /// each finished run and what disqualifies it ("s1: --epochs 2 instead of the declared 40"); empty when there are none.
    /// </summary>
    public static IReadOnlyList<string> RejectedRuns(string experiment, TrainOptions studentOptions) =>
        Candidates(experiment, studentOptions.OutputRoot)
            .Select(c => (c, problem: c.Problem(studentOptions.Quick)))
            .Where(x => x.problem is not null)
            .Select(x => $"{Path.GetFileName(x.c.Directory)}: {x.problem}")
            .ToList();

    /// <summary>
    /// Loads a teacher trained by <paramref name="experiment"/> (its student module) into <paramref name="teacher"/>:
    /// the run <see cref="FindRun(string, TrainOptions)"/> picks for a student run with <paramref name="studentOptions"/>.
    /// Throws a <see cref="DistillRuntimeException"/> that says which command trains it when no such run exists,
    /// naming the runs that were passed over and why.
    /// </summary>
    public static CheckpointInfo LoadFromExperiment(Module teacher, string teacherName, string experiment, TrainOptions studentOptions, string role = "teacher")
    {
        var path = FindRun(experiment, studentOptions);
        if (path is null)
        {
            var rejected = RejectedRuns(experiment, studentOptions);
            var passedOver = rejected.Count == 0 ? "" : $" (runs passed over, as they did not train it as declared: {string.Join("; ", rejected)})";
            throw new DistillRuntimeException(
                $"{role} '{teacherName}' takes its weights from experiment '{experiment}', which has no finished{(studentOptions.Quick ? " quick" : "")} run trained as declared under " +
                $"'{Path.GetFullPath(studentOptions.OutputRoot)}'{passedOver}. " +
                $"Train it first: dotnet run --project experiments -- run {experiment}{(studentOptions.Quick ? " --quick" : "")} (the runner does this itself for a missing teacher)");
        }
        return Checkpoint.LoadModule(path, StudentModule, teacher);
    }

    /// <summary>
    /// Where a teacher's <c>checkpoint:</c> file is: an absolute path as it is; a relative one taken from the working
    /// directory or, failing that, from the nearest directory above it that has it — as the runner finds suites, so a
    /// repository-relative path (<c>experiments/fashion-kd-small/teacher.safetensors</c>) works from anywhere inside
    /// the repository (a test's output directory too). Null when no such file or directory exists.
    /// </summary>
    public static string? ResolveFile(string path)
    {
        if (Path.IsPathFullyQualified(path)) return File.Exists(path) || Directory.Exists(path) ? Path.GetFullPath(path) : null;
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.GetFullPath(Path.Combine(dir.FullName, path));
            if (File.Exists(candidate) || Directory.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>
    /// Loads a teacher from a file: a Distill checkpoint (state JSON, pointer, or run directory: its student
    /// module), or a plain <c>.safetensors</c> state dict with PyTorch's names (a PyTorch-trained model), strictly.
    /// A relative path is found as <see cref="ResolveFile"/> says.
    /// </summary>
    public static void LoadFromFile(Module teacher, string teacherName, string path, string role = "teacher")
    {
        var full = ResolveFile(path)
            ?? throw new DistillRuntimeException(Path.IsPathFullyQualified(path)
                ? $"{role} '{teacherName}': checkpoint '{path}' does not exist"
                : $"{role} '{teacherName}': checkpoint '{path}' does not exist in '{Environment.CurrentDirectory}' nor in any directory above it");
        if (full.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
        {
            using var content = Safetensors.Read(full);
            try
            {
                teacher.load_state_dict(content.ToDictionary(), strict: true);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or TorchException)
            {
                throw new DistillRuntimeException($"{role} '{teacherName}': '{full}' does not match the model: {e.Message}", e);
            }
            return;
        }
        Checkpoint.LoadModule(full, StudentModule, teacher);
    }
}
