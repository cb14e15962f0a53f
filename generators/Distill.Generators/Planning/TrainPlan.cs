using System.Linq;
using Distill.Generators.Model;

namespace Distill.Generators.Planning;

// The training loop of one experiment, as the planner lays it out for the emitter: C# fragments and plain
// values only (no locations), so that an edit that only moves text leaves the generated loop cached.

/// <summary>
/// A data set the loop reads: the member holding it, its construction (YAML only), batch type and fields, whether it lists
/// verification pairs (then the student is evaluated by face verification on its embeddings), and whether it is a detection
/// data set (augmented by a detection transform; a detector is evaluated on it by COCO box AP).
/// </summary>
internal sealed record PlannedData(string Member, string TypeName, string ConstructorArguments, string BatchType, bool IsImageDataset, EquatableArray<string> Fields,
    bool HasPairs = false, TransformSpec? Transforms = null, bool IsDetection = false, bool IsPersonSearch = false)
{
    /// <summary>The field behind a YAML class's lazily built data-set property (<c>TrainData</c> → <c>_trainData</c>).</summary>
    public string LazyField => "_" + char.ToLowerInvariant(Member[0]) + Member.Substring(1);
}

/// <summary>
/// Where a model's weights come from: another experiment's run or a file. A teacher's are its weights; the student's
/// (<see cref="IsStudent"/>) are where it starts, replaced by the checkpoint's when a run resumes.
/// </summary>
/// <param name="Init">Submodules loaded from state dicts first (module path, file): a student's <c>init:</c>.</param>
internal sealed record PlannedWeights(string Name, string Member, string? FromExperiment, string? Path, bool IsStudent = false,
    EquatableArray<PlannedInit> Init = default);

internal sealed record PlannedInit(string ModulePath, string File);

/// <summary>A module whose parameters a group takes: a member of the class, or the student's submodule at <see cref="Path"/>.</summary>
internal sealed record PlannedModuleRef(string Member, string? Path = null);

/// <summary>A parameter group's option: its name and C# literal; a learning rate scales with the run's <c>--lr</c>.</summary>
internal sealed record PlannedGroupOption(string Name, string Literal);

/// <summary>A parameter group: its modules and option overrides.</summary>
internal sealed record PlannedGroup(EquatableArray<PlannedModuleRef> Modules, EquatableArray<PlannedGroupOption> Options, string Description);

/// <summary>A constructor argument of the optimizer: its name, type, and declared value as a C# literal (a run may override it).</summary>
internal sealed record PlannedOptimizerArgument(string Name, SettingType Type, string Literal);

/// <summary>
/// The optimizer: its kind (the DSL's key), torch.optim class, base learning rate, other constructor arguments, and parameter
/// groups. <see cref="PathModules"/> are the student's submodules that groups name by path: their parameters leave the student's own group.
/// </summary>
internal sealed record PlannedOptimizer(string Kind, string Class, double Lr, EquatableArray<PlannedOptimizerArgument> Arguments, EquatableArray<PlannedGroup> Groups,
    EquatableArray<PlannedModuleRef> PathModules = default, string? StudentMember = null);

/// <summary>The LR schedule: its kind (multistep, cosine, step, constant), its settings, and warm-up epochs.</summary>
internal sealed record PlannedSchedule(string Kind, EquatableArray<long> Milestones, double Gamma, long StepSize, double EtaMin, long WarmupEpochs);

/// <summary>
/// A model evaluated for accuracy: its member, its type (for the Taps flag), its logits tap's member in Outputs, and its
/// embedding tap's member (for verification; null when it has none); or a detector (<see cref="IsDetector"/>: evaluated
/// through its <c>detect</c>, by box AP).
/// </summary>
internal sealed record PlannedClassifier(string Name, string Member, string TypeName, string LogitsMember, string? EmbeddingMember = null, bool IsDetector = false,
    bool SearchesPersons = false);

/// <summary>
/// A declared value a run may override (<c>--set key=value</c>): its key as the experiment file spells it, its type, the
/// declared value (YAML), what it means, the rule its values must satisfy (NaN bounds: none), and the keys tied to it
/// (feeding one quantity the fused loss computes once). Emitted as the runtime's <c>ExperimentSetting</c>.
/// </summary>
internal sealed record PlannedSetting(string Key, SettingType Type, string Declared, string Meaning, double Min, double Max, bool MinExclusive, bool MaxExclusive,
    EquatableArray<string> TiedTo = default);

/// <summary>
/// Everything the generated <c>Train</c> needs beyond the fused loss: declared epochs and batch size, data,
/// teacher weights, optimizer, LR schedule, gradient clipping, and evaluation (top-k of the student, and of
/// each teacher once at the start).
/// </summary>
internal sealed record TrainPlan(
    string ExperimentName,
    string SourcePath,
    bool Constructible,
    long Epochs,
    long BatchSize,
    PlannedData Train,
    PlannedData? Validation,
    EquatableArray<PlannedWeights> Weights,
    PlannedOptimizer Optimizer,
    PlannedSchedule Schedule,
    double ClipGradNorm,
    EquatableArray<int> TopK,
    long EvalEvery,
    PlannedClassifier? Student,
    EquatableArray<PlannedClassifier> TeacherClassifiers,
    bool Flip = false,
    EquatableArray<string> Frozen = default,
    EquatableArray<PlannedSetting> Settings = default,
    string MemoryFormat = "Contiguous",
    string Precision = "Float32")
{
    /// <summary>Whether evaluation is face verification (pairs of embeddings) rather than top-k accuracy.</summary>
    public bool Verifies => Validation is { HasPairs: true } && Student?.EmbeddingMember is not null;

    /// <summary>Whether evaluation is person search (search mAP over the data's queries) by a person-search model.</summary>
    public bool SearchesPersons => Validation is { IsPersonSearch: true, IsDetection: true } && Student is { SearchesPersons: true };

    /// <summary>Whether evaluation is COCO box AP of a detector on detection data.</summary>
    public bool Detects => !SearchesPersons && Validation is { IsDetection: true } && Student is { IsDetector: true };

    /// <summary>Whether <c>EvaluatesTeachers</c> exists: some teacher can be evaluated the way the student is.</summary>
    public bool EvaluatesTeachers => Validation is not null && (Verifies ? TeacherClassifiers.Any(c => c.EmbeddingMember is not null)
        : SearchesPersons ? TeacherClassifiers.Any(c => c.SearchesPersons)
        : Detects ? TeacherClassifiers.Any(c => c.IsDetector) : TeacherClassifiers.Any(c => !c.IsDetector));

    /// <summary>The metric that picks the best checkpoint unless a run overrides it.</summary>
    public string DefaultBestMetric => Verifies ? "val_verify_acc" : SearchesPersons ? "val_mAP" : Detects ? "val_AP" : "val_top1";
}
