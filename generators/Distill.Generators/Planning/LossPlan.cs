using Distill.Generators.Model;

namespace Distill.Generators.Planning;

// The fused loss computation of one experiment, as the planner lays it out: location-free, structured values
// (calls, arguments, settings) that the emitter turns into straight-line C#; values reach it only as literals the
// binder checked.

/// <summary>
/// A model property: its type, constructor call arguments, the taps read from it (in tap order) and the batch fields
/// its forward pass needs besides the input (the labels of a margin head's logits), as parameters of <c>ComputeLoss</c>;
/// <see cref="OutputsLocal"/> holds its forward's outputs there ("" when no tap is read).
/// </summary>
/// A detector whose RoI head runs on other RoIs (<see cref="RoiHeads"/>) keeps the features that head pools from
/// (<see cref="KeepsRoiHeadInputs"/>: its <c>RoiHeadInputs</c> taps) in that outputs object.
internal sealed record PlannedModel(string Name, string Property, string TypeName, bool IsTeacher, string ConstructorArguments, EquatableArray<PlannedTap> Taps,
    EquatableArray<string> ForwardNeeds, string OutputsLocal, EquatableArray<PlannedRoiHead> RoiHeads = default)
{
    public bool KeepsRoiHeadInputs => RoiHeads.Count > 0;
}

/// <summary>
/// A model's RoI head run on another tap's RoIs (<c>student.roi_logits@teacher.sampled_rois</c>) after every forward pass:
/// <c>roi_head_on(outputs, rois, taps)</c> into <see cref="OutputsLocal"/>, its taps read into locals.
/// </summary>
internal sealed record PlannedRoiHead(string Rois, string RoisLocal, EquatableArray<PlannedTap> Taps, string OutputsLocal);

/// <summary>A tap read once per batch into a local.</summary>
internal sealed record PlannedTap(string Tap, string Member, string Local);

/// <summary>An adapter module and the local holding its output.</summary>
internal sealed record PlannedAdapter(string Name, string Property, AdapterKind Kind, long InChannels, long OutChannels, string SourceLocal, string Local,
    AdapterNorm Norm = AdapterNorm.None, AdapterActivation Act = AdapterActivation.None)
{
    /// <summary>Whether the adapter is a sequence (layer, norm, activation) rather than the bare layer.</summary>
    public bool IsSequence => Norm != AdapterNorm.None || Act != AdapterActivation.None;
}

/// <summary>How an argument of a planned call is given.</summary>
internal enum ArgumentKind
{
    /// <summary>A local of <c>ComputeLoss</c> (a tap, an adapter's output, a shared quantity or a batch field).</summary>
    Local,

    /// <summary>An array of such locals (a list input).</summary>
    Locals,

    /// <summary>A property of the experiment's <c>LossSettings</c> (a hyper-parameter a run may override).</summary>
    Setting,

    /// <summary>A C# literal (a constant the experiment cannot change, such as a quantity's fixed temperature).</summary>
    Literal,
}

/// <summary>A named argument: what it is and its value(s) (locals, a settings property or a literal).</summary>
internal sealed record PlannedArgument(string Name, ArgumentKind Kind, EquatableArray<string> Values);

/// <summary>A call into the loss library: <c>ContainingType.Method(arguments)</c>.</summary>
internal sealed record PlannedCall(string ContainingType, string Method, EquatableArray<PlannedArgument> Arguments);

/// <summary>
/// A value of the fused loss a run may override: its key as the experiment file spells it (<c>losses.kd.args.temperature</c>),
/// the <c>LossSettings</c> property that holds it, its C# type and its declared value as a C# literal.
/// </summary>
internal sealed record PlannedLossSetting(string Key, string Property, string Type, string Literal);

/// <summary>
/// A loss term: the call that computes it, its weight (declared value, and the settings property a run may override it
/// through), its weight schedule, the locals it reads, the shared quantities it needs computed before it, and the local
/// that holds its value in <c>ComputeLoss</c>. <see cref="Formula"/> shows the term as written, safe for a comment (one
/// line, invisible characters escaped).
/// </summary>
internal sealed record PlannedTerm(string Name, string Property, string Loss, PlannedCall Call, string Formula, double Weight, string WeightSetting,
    WeightScheduleKind Schedule, double WarmupEpochs, EquatableArray<string> Reads, EquatableArray<string> Needs, string Local);

/// <summary>A quantity derived from a tap once per batch and shared by the terms that need it (e.g. log_softmax(z / T)).</summary>
internal sealed record PlannedDerived(string Local, PlannedCall Call, string Source);

/// <summary>
/// The generated code of one experiment. <see cref="BatchFields"/> are the training batch's fields, in the order
/// <c>ComputeLoss</c> takes them, as <see cref="BatchParameters"/> (its parameter names; those in <see cref="ListBatchParameters"/> are
/// one tensor per sample, <c>IReadOnlyList&lt;Tensor&gt;</c>). <see cref="DeclareMembers"/>: the class is generated from YAML, so its
/// model and data-set properties are generated too (a code-first class declares its own). <see cref="Training"/>
/// is null when the compilation lacks the training runtime or the experiment declares no data to train on.
/// </summary>
internal sealed record LossPlan(
    string ClassName,
    string? Namespace,
    bool DeclareMembers,
    EquatableArray<PlannedModel> Models,
    EquatableArray<PlannedAdapter> Adapters,
    EquatableArray<PlannedTerm> Terms,
    EquatableArray<string> BatchFields,
    bool HasDecay,
    TrainPlan? Training,
    EquatableArray<PlannedDerived> Derived,
    EquatableArray<string> BatchParameters,
    EquatableArray<PlannedLossSetting> LossSettings,
    EquatableArray<string> ListBatchParameters = default,
    EquatableArray<PlannedPrototypeBank> PrototypeBanks = default,
    EquatableArray<PlannedIdentityTable> IdentityTables = default);

/// <summary>
/// A teacher look-up table: the experiment's member <see cref="Property"/>, saved with the checkpoints as <see cref="StateName"/>,
/// built once before training from <see cref="Tap"/> (one row per ground-truth box) grouped by the batch field <see cref="Field"/>;
/// the tap's forward needs the batch fields <see cref="Needs"/>; read by <see cref="Terms"/>.
/// </summary>
internal sealed record PlannedIdentityTable(string Property, string StateName, PlannedBankTap Tap, string Field, EquatableArray<string> Needs, EquatableArray<string> Terms);

/// <summary>
/// A prototype table (Global Knowledge's PGM prototypes): the experiment's member <see cref="Property"/>, saved with the
/// checkpoints as <see cref="StateName"/>, rebuilt before every epoch from the student taps and teacher taps it names over
/// the training data's ground-truth boxes, and read by <see cref="Terms"/>.
/// </summary>
internal sealed record PlannedPrototypeBank(string Property, string StateName, EquatableArray<PlannedBankTap> Student, EquatableArray<PlannedBankTap> Teacher,
    EquatableArray<string> Terms);

/// <summary>A tap a prototype table reads: the model's member and type, the tap's member in its <c>Taps</c>/<c>Outputs</c>, and the tap as written.</summary>
internal sealed record PlannedBankTap(string Model, string ModelType, string Member, string Text);
