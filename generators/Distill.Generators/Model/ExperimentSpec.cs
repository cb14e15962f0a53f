namespace Distill.Generators.Model;

// The experiment as declared, produced by both front ends (YAML and attributes) and consumed by the
// binder. Plain equatable records: names, numbers, enums, EquatableArray and LocationInfo only.

internal enum FrontEnd { Yaml, Attributes }

internal enum ModelRole { Teacher, Student }

internal enum AdapterKind { Conv1x1, Conv3x3, Linear }

/// <summary>What follows an adapter's layer: nothing, or batch normalisation (BatchNorm2d after a convolution, BatchNorm1d after a linear layer).</summary>
internal enum AdapterNorm { None, BatchNorm }

/// <summary>The adapter's activation, last: none or ReLU.</summary>
internal enum AdapterActivation { None, ReLU }

internal enum ValueKind { Null, Bool, Integer, Float, String, List }

/// <summary>
/// An experiment: models, adapters, loss terms, data, optimisation. <see cref="Namespace"/> and
/// <see cref="ClassName"/> name the class that receives the generated code: for YAML, null and a name made
/// from the experiment's; for a code-first experiment, the user's partial class ("" for the global namespace).
/// <see cref="Constructible"/>: the class has a parameterless constructor, so generated code can build it for a run.
/// </summary>
internal sealed record ExperimentSpec(
    string Name,
    LocationInfo NameLocation,
    FrontEnd FrontEnd,
    string SourcePath,
    string? Namespace,
    string ClassName,
    string? Paper,
    DataSpec? Data,
    EquatableArray<ModelSpec> Models,
    EquatableArray<AdapterSpec> Adapters,
    EquatableArray<LossTermSpec> Losses,
    OptimizerSpec? Optimizer,
    ScheduleSpec? Schedule,
    EvalSpec? Eval,
    EquatableArray<long> Seeds,
    LocationInfo Location,
    bool Constructible = true)
{
    /// <summary><c>memory_format:</c> as written (checked by the binder), or null.</summary>
    public NameSpec? MemoryFormat { get; init; }

    /// <summary><c>precision:</c> as written (checked by the binder), or null.</summary>
    public NameSpec? Precision { get; init; }
}

/// <summary>A scalar or list value with its location; scalars keep their invariant-culture text.</summary>
internal sealed record ValueSpec(ValueKind Kind, string Text, EquatableArray<ValueSpec> Items, LocationInfo Location)
{
    public static ValueSpec Scalar(ValueKind kind, string text, LocationInfo location) =>
        new(kind, text, EquatableArray<ValueSpec>.Empty, location);
}

/// <summary>
/// A named argument (model/data-set constructor argument, loss input or hyper-parameter, optimizer setting).
/// The code-first front end may read a loss argument by position (<see cref="Position"/> ≥ 0, empty
/// <see cref="Name"/>); the binder's step names it from the loss's parameter order before binding.
/// </summary>
internal sealed record ArgumentSpec(string Name, LocationInfo NameLocation, ValueSpec Value, int Position = -1);

internal sealed record DataSpec(DatasetSpec? Train, DatasetSpec? Validation, long BatchSize, LocationInfo BatchLocation, LocationInfo Location);

/// <summary>A data set: its type and constructor arguments; <see cref="Member"/> is the property that holds it in the experiment class.</summary>
internal sealed record DatasetSpec(string Type, LocationInfo TypeLocation, EquatableArray<ArgumentSpec> Arguments, LocationInfo Location, string Member,
    TransformSpec? Transforms = null);

/// <summary>
/// The image processing of a data set's batches (<c>transforms:</c>), where the experiment changes it: the padding of the
/// random crop (0: none), the random horizontal flip, and normalisation with the training split's statistics. Unset
/// values keep the defaults (training: crop 4, flip, normalise; validation: normalise).
/// </summary>
internal sealed record TransformSpec(long? Crop, bool? Flip, bool? Normalize, LocationInfo Location);

/// <summary>
/// A teacher or the student: its type, constructor arguments, where its weights come from, declared taps, and
/// <see cref="Member"/>, the property that holds it in the experiment class (generated for YAML, the user's own code-first).
/// </summary>
internal sealed record ModelSpec(
    string Name,
    ModelRole Role,
    string Type,
    LocationInfo TypeLocation,
    EquatableArray<ArgumentSpec> Arguments,
    CheckpointSpec? Checkpoint,
    EquatableArray<NameSpec> DeclaredTaps,
    LocationInfo Location,
    string Member,
    LocationInfo? NameLocation = null,
    EquatableArray<NameSpec> Freeze = default,
    EquatableArray<ModuleInitSpec> Init = default);

/// <summary>A submodule of the student loaded from a state dict before training (<c>init: { backbone.body: file }</c>).</summary>
internal sealed record ModuleInitSpec(string ModulePath, string File, LocationInfo Location);

internal sealed record NameSpec(string Name, LocationInfo Location);

/// <summary>Weights from a file, or from the run of another experiment (a stage dependency).</summary>
internal sealed record CheckpointSpec(string? FromExperiment, string? Path, LocationInfo Location);

/// <summary>A reference <c>model.tap</c> (or <c>batch.field</c>).</summary>
internal sealed record TapRef(string Model, string Tap, LocationInfo Location)
{
    public override string ToString() => Model + "." + Tap;
}

/// <summary>An adapter joining a student tap to a teacher tap's channel count: a layer, then optionally a norm and an activation.</summary>
internal sealed record AdapterSpec(string Name, AdapterKind Kind, TapRef From, TapRef To, LocationInfo Location, LocationInfo? NameLocation = null,
    AdapterNorm Norm = AdapterNorm.None, AdapterActivation Act = AdapterActivation.None, DeclaredChannels? InChannels = null, DeclaredChannels? OutChannels = null);

/// <summary>An adapter's channel count given by the experiment (<c>in_channels</c>/<c>out_channels</c>) for taps that do not declare theirs, and where it is written.</summary>
internal sealed record DeclaredChannels(long Value, LocationInfo Location);

/// <summary>
/// A loss term: the loss, its arguments (inputs and hyper-parameters, told apart by the binder from the
/// loss's metadata), its weight and optional weight schedule.
/// </summary>
internal sealed record LossTermSpec(
    string Name,
    LocationInfo NameLocation,
    string Loss,
    LocationInfo LossLocation,
    EquatableArray<ArgumentSpec> Arguments,
    double Weight,
    LocationInfo? WeightLocation,
    WeightScheduleSpec? Schedule,
    LocationInfo Location);

internal enum WeightScheduleKind { Constant, LinearWarmup, LinearDecay, WarmupThenDecay }

/// <summary>Weight × factor(epoch): a linear warm-up over the first epochs (GKD), a linear decay to the end (Global Knowledge).</summary>
internal sealed record WeightScheduleSpec(WeightScheduleKind Kind, double WarmupEpochs, LocationInfo Location);

internal sealed record OptimizerSpec(string Kind, LocationInfo KindLocation, EquatableArray<ArgumentSpec> Arguments, EquatableArray<ParamGroupSpec> Groups, LocationInfo Location);

/// <summary>A parameter group: which modules ("student", "adapters", an adapter's name) and its overrides.</summary>
internal sealed record ParamGroupSpec(EquatableArray<NameSpec> Modules, EquatableArray<ArgumentSpec> Arguments, LocationInfo Location);

/// <summary>
/// The LR schedule: epochs, the kind (multistep, cosine, step, constant) with its settings, warm-up epochs and gradient clipping
/// (0: none), with the locations of the values that have one.
/// </summary>
internal sealed record ScheduleSpec(
    long Epochs,
    LocationInfo EpochsLocation,
    string? Kind,
    LocationInfo? KindLocation,
    EquatableArray<ArgumentSpec> Arguments,
    long WarmupEpochs,
    double ClipGradNorm,
    LocationInfo Location,
    LocationInfo? WarmupLocation = null,
    LocationInfo? ClipGradNormLocation = null);

/// <summary>Evaluation: metric names, how often, and (verification) whether embeddings add the horizontally flipped image's.</summary>
internal sealed record EvalSpec(EquatableArray<NameSpec> Metrics, long Every, LocationInfo Location, bool Flip = false);
