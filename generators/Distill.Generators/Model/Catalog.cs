using System.Collections.Generic;
using System.Linq;

namespace Distill.Generators.Model;

// What the compilation offers the DSL (from the metadata attributes of Distill.Metadata on the model zoo,
// the loss library, the data sets and the user's own types), as plain equatable values.

/// <summary>Everything the binder can resolve names against.</summary>
/// <see cref="CanTrain"/>: the compilation references what generated training loops call (Distill.Runtime, Distill.Data).
internal sealed record Catalog(EquatableArray<LossInfo> Losses, EquatableArray<ModelInfo> Models, EquatableArray<DatasetInfo> Datasets, bool CanTrain = false)
{
    public static readonly Catalog Empty = new(EquatableArray<LossInfo>.Empty, EquatableArray<ModelInfo>.Empty, EquatableArray<DatasetInfo>.Empty);
}

/// <summary>A constructor or method parameter: name, C# type keyword (or full name), default value as C# text.</summary>
/// <summary>A constructor parameter of a model or data set; a numeric one may carry a valid range (<c>[HyperParameter(Min, Max)]</c>; NaN: unbounded).</summary>
internal sealed record ParameterInfo(string Name, string Type, bool HasDefault, string? DefaultText,
    double Min = double.NaN, double Max = double.NaN, bool MinExclusive = false, bool MaxExclusive = false)
{
    public bool HasRange => !double.IsNaN(Min) || !double.IsNaN(Max);

    public bool Contains(double v) =>
        (double.IsNaN(Min) || (MinExclusive ? v > Min : v >= Min)) && (double.IsNaN(Max) || (MaxExclusive ? v < Max : v <= Max));

    /// <summary>"at least 1", "from 0 to 4", "in [0, 1)" — for messages.</summary>
    public string RangeText()
    {
        static string N(double d) => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        if (double.IsNaN(Max)) return MinExclusive ? $"greater than {N(Min)}" : $"at least {N(Min)}";
        if (double.IsNaN(Min)) return MaxExclusive ? $"less than {N(Max)}" : $"at most {N(Max)}";
        if (!MinExclusive && !MaxExclusive) return $"from {N(Min)} to {N(Max)}";
        return $"in {(MinExclusive ? "(" : "[")}{N(Min)}, {N(Max)}{(MaxExclusive ? ")" : "]")}";
    }
}

/// <summary>
/// A tensor input of a loss. <see cref="Prototypes"/>: the input is a prototype table the training loop builds before every
/// epoch from the taps wired to the loss's two list inputs it names (student side, teacher side); an experiment never wires it.
/// <see cref="IdentityTable"/>: the input is a per-identity table the loop builds once before training from the per-box tap the
/// experiment wires to it, grouped by the batch field it names (a teacher look-up table).
/// </summary>
internal sealed record LossInputInfo(string Name, string Role, string Kind, string? Shape, string? BatchField, bool IsList, string? Prototypes = null,
    string? IdentityTable = null)
{
    /// <summary>The student-side and teacher-side inputs a prototype table is built from, or null for an ordinary input.</summary>
    public (string Student, string Teacher)? PrototypeSources =>
        Prototypes?.Split(',') is { Length: 2 } parts ? (parts[0].Trim(), parts[1].Trim()) : null;
}

internal sealed record HyperParameterInfo(string Name, string Type, string? DefaultText, double Min, double Max, bool MinExclusive, bool MaxExclusive, string? Description = null)
{
    public bool Contains(double v) =>
        (double.IsNaN(Min) || (MinExclusive ? v > Min : v >= Min)) && (double.IsNaN(Max) || (MaxExclusive ? v < Max : v <= Max));

    public string RangeText() =>
        (double.IsNaN(Min) ? "(-inf" : (MinExclusive ? "(" : "[") + Min.ToString(System.Globalization.CultureInfo.InvariantCulture))
        + ", " + (double.IsNaN(Max) ? "inf)" : Max.ToString(System.Globalization.CultureInfo.InvariantCulture) + (MaxExclusive ? ")" : "]"));
}

/// <summary>A loss: its DSL name, the static method that computes it, its inputs (in parameter order) and hyper-parameters.</summary>
internal sealed record LossInfo(
    string Name,
    string ContainingType,
    string Method,
    EquatableArray<LossInputInfo> Inputs,
    EquatableArray<HyperParameterInfo> HyperParameters,
    EquatableArray<string> ParameterOrder,
    string? Formula,
    string? Source,
    SharedFormInfo? Shared = null)
{
    /// <summary>
    /// The parameters of the code-first front end's <c>Loss.&lt;name&gt;(...)</c> factory: the inputs and
    /// hyper-parameters in the method's order (what a positional argument of a loss call refers to).
    /// </summary>
    public IEnumerable<string> FactoryParameters =>
        ParameterOrder.Where(p => Inputs.Any(i => i.Name == p && i.Prototypes is null) || HyperParameters.Any(h => h.Name == p));
}

/// <summary>
/// The shared form of a loss (a <c>[SharedForm]</c> method): the same value from quantities derived from its
/// inputs, which the planner computes once per batch and hands to every term that needs the same one.
/// </summary>
internal sealed record SharedFormInfo(string ContainingType, string Method, EquatableArray<SharedParameterInfo> Parameters);

/// <summary>
/// A parameter of a shared form: the loss's own parameter <see cref="Name"/> (when <see cref="Quantity"/> is null), or
/// <c>Quantity(Of, With...)</c>, where <see cref="QuantityParameters"/> are the quantity method's parameters after the tensor.
/// </summary>
internal sealed record SharedParameterInfo(string Name, string? Quantity, string? Of, EquatableArray<string> With, EquatableArray<ParameterInfo> QuantityParameters);

/// <summary>
/// A tap: name, tensor kind, shape expression, and the batch fields its forward pass needs besides the input (a margin head's
/// labels; a detector's boxes and labels), comma-separated in the order <c>forward_taps</c> takes them, if any; for a tap with
/// one row per region of interest, the model's tap holding those RoIs (<see cref="Rois"/>) and whether its RoI head computes it
/// from RoIs alone, so it can run on another model's RoIs (<see cref="OnGivenRois"/>).
/// </summary>
internal sealed record TapInfo(string Name, string Kind, string Shape, string? Needs = null, string? Rois = null, bool OnGivenRois = false)
{
    /// <summary>The batch fields <see cref="Needs"/> names, in order.</summary>
    public IEnumerable<string> NeededFields => Needs is null ? Enumerable.Empty<string>() : Needs.Split(',').Select(f => f.Trim()).Where(f => f.Length > 0);
}

/// <summary>
/// A model: its DSL name, type, constructor, symbolic input shape and taps. <see cref="RunsTaps"/> says
/// whether the type follows the run-time tap convention (nested <c>Taps</c> flags enum, nested
/// <c>Outputs</c>, <c>forward_taps</c>), which generated training code needs; <see cref="RunsRoiHead"/>, whether it also has
/// <c>roi_head_on(outputs, rois, taps)</c>, which computes its per-RoI taps on given RoIs.
/// </summary>
internal sealed record ModelInfo(string Name, string TypeName, EquatableArray<ParameterInfo> Constructor, string InputShape, EquatableArray<TapInfo> Taps, string? Task, bool RunsTaps = false,
    bool RunsRoiHead = false, bool SearchesPersons = false)
{
    /// <summary>The tap a verification evaluation reads: the one named <c>embedding</c>, else the first of kind Embedding.</summary>
    public TapInfo? EmbeddingTap() => Taps.FirstOrDefault(t => t.Name == "embedding" && t.Kind == "Embedding") ?? Taps.FirstOrDefault(t => t.Kind == "Embedding");
}

/// <summary>
/// A field of a data set's batches: name, tensor kind, shape expression, the class count of a label field, and whether the batch
/// holds it as one tensor per sample (<see cref="IsList"/>: a detection batch's boxes and labels, <c>IReadOnlyList&lt;Tensor&gt;</c>).
/// </summary>
internal sealed record BatchFieldInfo(string Name, string Kind, string Shape, string? Classes, bool IsList = false);

/// <summary>
/// A data set: its DSL name, type, constructor and batch fields. <see cref="BatchType"/> is the batch class of the
/// <c>IBatchDataset&lt;TBatch&gt;</c> it implements (null when it implements none: generated code cannot train on it);
/// <see cref="IsImageDataset"/>: it derives from Distill.Data's ImageDataset (standard augmentation and normalisation apply);
/// <see cref="HasPairs"/>: it implements Distill.Data's IVerificationPairs (evaluated by face verification, not top-k);
/// <see cref="IsDetection"/>: it derives from Distill.Data's DetectionDataset (per-image boxes; evaluated by COCO box AP);
/// <see cref="IsPersonSearch"/>: it implements Distill.Data's IPersonSearchData (queries and galleries; evaluated by search mAP).
/// </summary>
internal sealed record DatasetInfo(string Name, string TypeName, EquatableArray<ParameterInfo> Constructor, EquatableArray<BatchFieldInfo> Fields, string? BatchType = null,
    bool IsImageDataset = false, bool HasPairs = false, bool IsDetection = false, bool IsPersonSearch = false);
