using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Diagnostics;

/// <summary>
/// Every diagnostic the DSL reports. Ids are stable (DSL0xx); each message says what is wrong and how to
/// fix it; each has an entry in AnalyzerReleases.Unshipped.md and an example in docs/diagnostics.md.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "Distill.Experiment";
    private const string HelpBase = "docs/diagnostics.md#";

    private static DiagnosticDescriptor Error(string id, string title, string message, string description) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, description, HelpBase + id.ToLowerInvariant());

    private static DiagnosticDescriptor Warning(string id, string title, string message, string description) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true, description, HelpBase + id.ToLowerInvariant());

    // ---- reading the experiment (both front ends) ------------------------------------------------

    public static readonly DiagnosticDescriptor YamlSyntax = Error("DSL001", "YAML syntax error",
        "YAML syntax error: {0}",
        "The experiment file is not valid YAML. Fix the syntax at the reported position.");

    public static readonly DiagnosticDescriptor UnknownKey = Error("DSL002", "Unknown key",
        "Unknown key '{0}' in {1}{2}; expected one of: {3}",
        "Every key of an experiment has a meaning; an unknown key is never ignored (it is usually a typo).");

    public static readonly DiagnosticDescriptor MissingKey = Error("DSL003", "Missing required key",
        "{0} needs the key '{1}' ({2})",
        "A required part of the experiment is missing.");

    public static readonly DiagnosticDescriptor WrongValueType = Error("DSL004", "Value of the wrong type",
        "'{0}' expects {1}, but the value is {2}",
        "The value has the wrong YAML type (a list where a number is expected, text where a mapping is expected, ...).");

    public static readonly DiagnosticDescriptor DuplicateName = Error("DSL005", "Duplicate name",
        "Duplicate {0} '{1}': names must be unique",
        "Two keys, models, adapters or loss terms share a name.");

    public static readonly DiagnosticDescriptor InvalidName = Error("DSL006", "Invalid name",
        "'{0}' is not a valid {1} name: use letters, digits, '-' and '_', starting with a letter{2}",
        "Names become C# identifiers, file names and run directories: letters, digits, '-' and '_', starting with a letter, at most 100 characters.");

    // ---- binding against the compilation (models, taps, losses, data) -----------------------------

    public static readonly DiagnosticDescriptor UnknownModelType = Error("DSL010", "Unknown model type",
        "Unknown model type '{0}'{1}; available models: {2}",
        "The model type is not a [DistillModel] class of the compilation or its references.");

    public static readonly DiagnosticDescriptor UnknownModelArgument = Error("DSL011", "Unknown model argument",
        "{0} has no constructor parameter '{1}'{2}; its parameters are: {3}",
        "Model arguments are the model's constructor parameters.");

    public static readonly DiagnosticDescriptor IllTypedArgument = Error("DSL012", "Argument of the wrong type",
        "'{0}' of {1} is {2}, but the parameter is of type {3}",
        "The value cannot be passed to the parameter (text for a number, a fraction for an integer, ...).");

    public static readonly DiagnosticDescriptor MissingModelArgument = Error("DSL013", "Missing constructor argument",
        "{0} needs the argument '{1}' ({2}): {3}",
        "The model's constructor parameter has no default value.");

    public static readonly DiagnosticDescriptor UnknownTap = Error("DSL014", "Unknown tap",
        "{0} ({1}) has no tap '{2}'{3}; available taps: {4}",
        "A reference model.tap names a tap the model does not declare with [Tap].");

    public static readonly DiagnosticDescriptor UnknownLoss = Error("DSL015", "Unknown loss",
        "Unknown loss '{0}'{1}; available losses: {2}",
        "The loss is not a [DistillLoss] method of the compilation or its references.");

    public static readonly DiagnosticDescriptor UnknownLossArgument = Error("DSL016", "Unknown loss argument",
        "Loss '{0}' has no input or hyper-parameter '{1}'{2}; inputs: {3}; hyper-parameters: {4}",
        "The keys of a loss term are the loss's inputs and hyper-parameters (besides loss, weight and schedule).");

    public static readonly DiagnosticDescriptor MissingLossInput = Error("DSL017", "Missing loss input",
        "Loss term '{0}' ({1}) needs the input '{2}' ({3}), e.g. {2}: {4}",
        "Every input of a loss must be wired to a tap, an adapter or a batch field.");

    public static readonly DiagnosticDescriptor WrongInputKind = Error("DSL018", "Input of the wrong kind",
        "Input '{0}' of '{1}' expects {2}, but {3} is {4}",
        "Losses declare what each input is (student/teacher logits, feature maps, embeddings, labels, ...).");

    public static readonly DiagnosticDescriptor HyperParameterOutOfRange = Error("DSL019", "Hyper-parameter out of range",
        "'{0}' of loss '{1}' must be in {2}, but is {3}",
        "The value is outside the range the loss declares (a temperature must be > 0, a threshold in (0, 1], ...).");

    public static readonly DiagnosticDescriptor ClassCountMismatch = Error("DSL020", "Class-count mismatch",
        "Loss term '{0}': {1} has {2} classes but {3} has {4}; give both models the same number of classes",
        "Logits compared by a loss must have the same class count.");

    public static readonly DiagnosticDescriptor ChannelMismatch = Error("DSL021", "Channel mismatch without an adapter",
        "Loss term '{0}': {1} has {2} channels but {3} has {4}; add an adapter {2}→{4}, e.g. {5}",
        "Features compared by a loss must have the same channels; an adapter maps the student's channels to the teacher's.");

    public static readonly DiagnosticDescriptor SpatialMismatch = Error("DSL022", "Spatial-size mismatch",
        "Loss term '{0}': {1} is {2}×{3} but {4} is {5}×{6}; read taps of the same resolution",
        "Feature maps compared by a loss must have the same height and width.");

    public static readonly DiagnosticDescriptor NegativeWeight = Error("DSL023", "Negative weight",
        "Loss term '{0}' has the negative weight {1}; weights must be >= 0",
        "A negative weight would maximise the loss.");

    public static readonly DiagnosticDescriptor NothingReachesStudent = Error("DSL024", "No loss term reaches the student",
        "No loss term with a positive weight reads the student: the student would not learn",
        "At least one term must take a student tap (or an adapter on one) as input.");

    public static readonly DiagnosticDescriptor UnknownReference = Error("DSL025", "Unknown model in a reference",
        "'{0}' names no model, adapter or batch: known names are {1}{2}",
        "References are model.tap (student, teacher or a named teacher), batch.field, or an adapter's name.");

    public static readonly DiagnosticDescriptor MissingBatchField = Error("DSL026", "Batch field not provided",
        "Loss term '{0}' reads batch.{1}, but data set {2} provides only: {3}",
        "A loss needs a batch field (labels, boxes, ...) that the training data set does not produce.");

    public static readonly DiagnosticDescriptor UnknownDataset = Error("DSL027", "Unknown data set",
        "Unknown data set '{0}'{1}; available data sets: {2}",
        "The data set type is not a [DistillDataset] class of the compilation or its references.");

    public static readonly DiagnosticDescriptor DatasetModelMismatch = Error("DSL028", "Data set and student disagree",
        "Data set {0} has {1} {2} but the student ({3}) expects {4}",
        "The data set's image channels or class count must match the student's input channels and classes.");

    public static readonly DiagnosticDescriptor Unused = Warning("DSL029", "Declared but unused",
        "{0} '{1}' is declared but no loss term uses it",
        "An adapter or tap that no term reads costs time (adapters also add parameters) and is usually a wiring mistake.");

    public static readonly DiagnosticDescriptor MilestoneBeyondEpochs = Error("DSL030", "Schedule inconsistent with the epochs",
        "The milestone {0} is not before the last epoch ({1} epochs): it would never apply",
        "LR milestones, step sizes and warm-up lengths must fall within the training epochs.");

    public static readonly DiagnosticDescriptor StageCycle = Error("DSL031", "Stage dependency cycle",
        "Experiment '{0}' depends on itself through teachers trained by: {1}",
        "Teachers trained by other experiments (from:) must not form a cycle.");

    public static readonly DiagnosticDescriptor DuplicateExperiment = Error("DSL032", "Duplicate experiment name",
        "Another experiment is also named '{0}' ({1}); experiment names must be unique",
        "Runs, checkpoints and generated classes are named after the experiment.");

    // ---- the code-first front end ([Experiment] classes) ------------------------------------------

    public static readonly DiagnosticDescriptor NotAPartialClass = Error("DSL033", "Experiment class is not a top-level partial class",
        "The [Experiment] class '{0}' must be a top-level, non-generic partial class: {1}",
        "The generator adds the experiment's description and its typed helpers (Taps, Batch) to the class, so it must be partial, not nested and not generic.");

    public static readonly DiagnosticDescriptor MissingDeclaration = Error("DSL034", "Missing declaration",
        "{0} needs {1}, e.g. {2}",
        "A required part of a code-first experiment is missing: the [Student] member, a [Loss] member, the batch size of [TrainData], ...");

    public static readonly DiagnosticDescriptor NotAModelOrDataset = Error("DSL035", "Not a model or data set type",
        "The {0} member '{1}' has the type '{2}', which is not a {3}: use a class marked [{4}]",
        "The type of a [Teacher]/[Student] member must be a [DistillModel] class, that of a [TrainData]/[ValData] member a [DistillDataset] class.");

    public static readonly DiagnosticDescriptor UnreadableDeclaration = Error("DSL036", "Declaration the generator cannot read",
        "The generator cannot read {0}: {1}",
        "The generator reads the experiment from its syntax at compile time: model and data members are constructed with new(...), loss terms call Loss.<name>(...), adapters call Adapter.<kind>(...), and every argument is a constant or a reference (Taps.<Model>.<tap>, Batch.<field>, an [Adapter] member).");

    public static readonly DiagnosticDescriptor ConflictingRoles = Error("DSL037", "Member with two roles",
        "The member '{0}' is marked both [{1}] and [{2}]: a member is one of a teacher, the student, an adapter, a loss term or data",
        "Each member of an experiment class plays one role.");

    public static readonly DiagnosticDescriptor ReservedMemberName = Error("DSL038", "Member name used by the generated code",
        "The member '{0}' has a name the generated code gives the class ({1}): rename it",
        "The generator adds these members to an [Experiment] class; a member of the same name would clash with them.");

    public static readonly DiagnosticDescriptor TapNeedsBatchField = Error("DSL039", "Tap needs a batch field the data lacks",
        "Tap {0} of {1} needs batch.{2} besides the image (its forward pass reads it), but data set {3} provides only: {4}",
        "Some taps need a batch field besides the image (a margin head's logits apply a margin to each sample's target class; a detector's sampled RoIs and losses read the ground-truth boxes and labels); the training data set must produce it, or read a tap that does not need it (such as logits).");

    public static readonly DiagnosticDescriptor VerificationNeedsEmbedding = Error("DSL040", "Verification data needs an embedding tap",
        "Validation data set {0} lists verification pairs, but the student {1} has no embedding tap to compare them with (taps: {2})",
        "A data set with verification pairs evaluates the student by comparing embeddings; the student model must declare a tap of kind Embedding (named 'embedding').");

    // ---- robustness: limits, values, names in generated code -----------------------------------------

    public static readonly DiagnosticDescriptor NestingTooDeep = Error("DSL041", "Nesting too deep",
        "This value is nested {0} levels deep; an experiment file may nest at most {1} levels",
        "An experiment needs a few levels of nesting (a mapping of mappings of lists); the reader stops at the limit so that no file can exhaust the compiler's stack or time.");

    public static readonly DiagnosticDescriptor GeneratedNameCollision = Error("DSL042", "Name collides in the generated code",
        "{0} '{1}' becomes {2} in the generated code, which {3}: rename it",
        "Teachers, adapters and loss terms become members of the generated class (and of its LossBreakdown): their names must not map to the same member as another name, to a member the generated code already has, or to one of object's.");

    public static readonly DiagnosticDescriptor ExperimentClassCollision = Error("DSL043", "Generated class or file names collide",
        "Experiment '{0}' generates the class {1}, whose files would have the names of those of experiment '{2}' ({3}, {4}); rename one of them",
        "Each experiment's generated files are named after its class, and file names must differ even ignoring case: two experiment names that differ only in case or in '-' against '_' map to the same files. The later one (by path) generates nothing.");

    public static readonly DiagnosticDescriptor ValueOutOfRange = Error("DSL044", "Value out of range",
        "{0} must be {1}, but is {2}",
        "The value has the right type but is outside what it can be: a number that is not finite, an integer outside its C# type, a learning rate that is not positive, a milestone before the first epoch, ...");

    public static readonly DiagnosticDescriptor NoTrainingLoop = Warning("DSL045", "No training loop generated",
        "Experiment '{0}' gets no training loop: {1}; only its loss (ComputeLoss) is generated and the runner does not list it",
        "The generator emits a Train loop and registers the experiment with the runner only when it has training data the loop can batch. Without one the experiment is a loss definition only; this says so rather than leaving it out of `list` without a word.");

    public static readonly DiagnosticDescriptor BaseFileProblem = Error("DSL046", "Base file cannot be extended",
        "Cannot extend '{0}': {1}",
        "extends: names a base file (*.distill-base.yaml, passed to the generator as an additional file, as the Distill package's build props do) by its path relative to the extending file. The base's keys come first and the extending file's values win, mapping by mapping; a base may extend another, without cycles and at most 8 deep.");

    // ---- detection -------------------------------------------------------------------------------

    public static readonly DiagnosticDescriptor LevelCountMismatch = Error("DSL047", "Per-level inputs of different lengths",
        "Loss term '{0}': '{1}' lists {2} levels but '{3}' lists {4}; pair every level with one of the same stride (e.g. student.p2..p6 with teacher.p2..p6)",
        "A loss over feature-pyramid levels compares its list inputs level by level (the student's, the teacher's, the masks): they must have as many entries, the i-th of each at the same stride.");

    public static readonly DiagnosticDescriptor DetectorNeedsBoxes = Error("DSL048", "A detector needs detection data",
        "The {0} ({1}) is a detector: it trains on each image's boxes and labels, but data set {2} has no per-image boxes (its fields: {3}); use a detection data set: {4}",
        "A detector's training (anchor and RoI sampling, its losses) reads the ground-truth boxes and labels of every image; a classification data set has none.");

    public static readonly DiagnosticDescriptor BadRoiReference = Error("DSL049", "A tap cannot run on those RoIs",
        "'{0}': {1}",
        "model.tap@other.rois computes a per-RoI tap of a detector (its RoI features, embedding, logits or deltas) on another tap's RoIs, through the model's roi_head_on: the tap must be per-RoI, and what follows '@' a tap of RoIs (rows: batch index, x1, y1, x2, y2).");

    public static readonly DiagnosticDescriptor RoisDiffer = Error("DSL050", "Per-RoI rows on different RoIs",
        "Loss term '{0}' pairs {1} (rows on {2}) with {3} (rows on {4}); per-RoI rows compare only on the same RoIs: run one model's head on the other's, e.g. {5}",
        "Each detector samples its own RoIs, so row i of the student's RoI logits and row i of the teacher's are different boxes. A term that compares them must compute both on one set of RoIs (model.tap@other.sampled_rois).");

    public static readonly DiagnosticDescriptor NeedsPerRoiRows = Error("DSL051", "A RoI term needs per-RoI rows",
        "Loss term '{0}': '{1}' takes one row per sampled RoI, but {2} is not computed per RoI; read a per-RoI tap such as {3}",
        "Inputs whose shape starts with R (a RoI head's logits, a positive-RoI mask) hold one row per region of interest: a model's image-level tap has no such rows.");

    // ---- state the loop maintains ------------------------------------------------------------------

    public static readonly DiagnosticDescriptor PrototypesWiredByHand = Error("DSL052", "A prototype table is built by the loop",
        "Loss term '{0}': '{1}' of {2} is the prototype table the training loop builds before every epoch from the taps given as {3}; remove '{1}'",
        "A loss input marked Prototypes (Global Knowledge's PGM prototypes) is not a tensor the experiment names: the loop rebuilds it before every epoch from the taps wired to the loss's inputs it lists, shares it between terms that read the same taps, and saves it with the checkpoints.");

    public static readonly DiagnosticDescriptor BadPrototypeSource = Error("DSL053", "A prototype table needs model taps and boxes",
        "Loss term '{0}': {1}",
        "Before every epoch the loop pools every ground-truth box of the training data in the feature maps a prototype table is built from: those inputs must be taps of a student and a teacher computed from the image alone (not adapters, batch fields or RoI-head taps), and the training data must hold per-image boxes and labels.");

    public static readonly DiagnosticDescriptor InitOverwritten = Error("DSL054", "A submodule's initial weights would be overwritten",
        "Student '{0}': init of '{1}' would be overwritten: the whole student starts from {2}; remove one of them",
        "init: loads submodules (an ImageNet backbone) into a student that otherwise starts from random weights; a student that starts from another experiment's run or a checkpoint file gets every weight from there.");

    public static readonly DiagnosticDescriptor BadIdentityTableSource = Error("DSL055", "A teacher look-up table needs a teacher's per-box tap and identities",
        "Loss term '{0}': {1}",
        "Before training the loop runs a teacher over the training data and averages, per identity, its features of every ground-truth box: the input must be a teacher's tap with one row per ground-truth box (it needs the batch's boxes, such as box_embedding), and the training data must be a person-search data set whose batches carry the identities.");

    public static readonly DiagnosticDescriptor AdapterChannelsUnknown = Error("DSL056", "An adapter's channels are not known",
        "Adapter '{0}': {1}",
        "An adapter is a layer built with the experiment, so its input and output channels must be known when the code is generated: they come from the taps it connects, and a tap whose channels depend on the backbone the model is built with (a C4 detector's stage3) declares them as '*'; give them as in_channels / out_channels.");

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId =
        typeof(DiagnosticDescriptors).GetFields()
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToDictionary(d => d.Id);

    public static DiagnosticDescriptor ById(string id) => s_byId[id];

    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values.OrderBy(d => d.Id);
}
