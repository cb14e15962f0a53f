namespace Distill.Metadata;

/// <summary>What a tensor is, so the generator can reject features wired where logits are expected.</summary>
public enum TensorKind
{
    /// <summary>Anything (no kind check).</summary>
    Any,
    /// <summary>Unnormalised class scores, (..., K).</summary>
    Logits,
    /// <summary>A probability distribution over the last dim.</summary>
    Probabilities,
    /// <summary>A convolutional feature map, (N, C, H, W).</summary>
    FeatureMap,
    /// <summary>A feature vector per sample or instance, (N, D).</summary>
    Embedding,
    /// <summary>A 0/1 or weight mask.</summary>
    Mask,
    /// <summary>Integer class labels.</summary>
    Labels,
    /// <summary>Boxes as (x1, y1, x2, y2) rows.</summary>
    Boxes,
    /// <summary>Per-sample or per-instance weights.</summary>
    Weights,
    /// <summary>A look-up table of features (rows = identities or prototypes).</summary>
    Table,
}

/// <summary>Which side of the distillation an input comes from.</summary>
public enum InputRole
{
    /// <summary>Produced by the student: gradients flow into it.</summary>
    Student,
    /// <summary>Produced by a teacher: always detached.</summary>
    Teacher,
    /// <summary>Ground truth from the batch (labels, boxes).</summary>
    Target,
    /// <summary>Anything else: masks, weights, tables, state.</summary>
    Auxiliary,
}

/// <summary>
/// Marks a static method as a distillation loss term the DSL can wire. The method's parameters carry
/// <see cref="InputAttribute"/> (tensor inputs) or <see cref="HyperParameterAttribute"/>
/// (numbers, with the C# default value as the default).
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class DistillLossAttribute : Attribute
{
    public DistillLossAttribute(string name) => Name = name;

    /// <summary>The name experiments use (<c>loss: hinton_kd</c>).</summary>
    public string Name { get; }

    /// <summary>The paper (and code) the formula comes from.</summary>
    public string? Source { get; set; }

    /// <summary>The formula, in plain text, as the docs and <c>describe</c> print it.</summary>
    public string? Formula { get; set; }

    /// <summary>Which convention is the default where paper and released code differ.</summary>
    public string? Convention { get; set; }
}

/// <summary>
/// A tensor input of a loss. <see cref="Shape"/> is a comma-separated list of symbolic dims shared
/// across the loss's inputs: the same symbol means the same size (<c>"B,K"</c> on student and teacher
/// logits says "same batch, same class count"); <c>*</c> matches any single dim and <c>...</c> any
/// number of leading dims; an integer is an exact size.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false)]
public sealed class InputAttribute : Attribute
{
    public InputAttribute(InputRole role, TensorKind kind)
    {
        Role = role;
        Kind = kind;
    }

    public InputRole Role { get; }
    public TensorKind Kind { get; }
    public string? Shape { get; set; }

    /// <summary>The batch field this input is read from when it is ground truth (e.g. "label", "boxes").</summary>
    public string? BatchField { get; set; }

    /// <summary>
    /// For a prototype table (a <c>PrototypeBank</c> parameter): the loss's two list inputs, student side then teacher side
    /// (<c>"student_features,teacher"</c>), whose taps the training loop reads to rebuild the table before every epoch. An
    /// experiment does not wire such an input; terms whose inputs name the same taps share one table.
    /// </summary>
    public string? Prototypes { get; set; }

    /// <summary>
    /// For a per-identity table the training loop builds once, before the first epoch (a teacher look-up table): the batch
    /// field that gives each ground-truth box's identity (<c>"person_id"</c>). The experiment wires the input to a per-box tap
    /// of a teacher (one row per ground-truth box, image by image, such as <c>teacher.box_embedding</c>); the table is the
    /// L2-normalised mean of those rows per identity over the whole training data (<c>build_teacher_lut</c>), with one row per
    /// identity of the data, and is saved with the checkpoints.
    /// </summary>
    public string? IdentityTable { get; set; }
}

/// <summary>
/// A numeric hyper-parameter of a loss with its valid range. Bounds are inclusive unless the matching
/// <c>*Exclusive</c> flag is set; NaN means unbounded.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false)]
public sealed class HyperParameterAttribute : Attribute
{
    public double Min { get; set; } = double.NaN;
    public double Max { get; set; } = double.NaN;
    public bool MinExclusive { get; set; }
    public bool MaxExclusive { get; set; }
    public string? Description { get; set; }

    /// <summary>"(0, 1]" style text of the range, for messages.</summary>
    public string RangeText() =>
        (double.IsNaN(Min) ? "(-inf" : (MinExclusive ? "(" : "[") + Min.ToString(System.Globalization.CultureInfo.InvariantCulture))
        + ", "
        + (double.IsNaN(Max) ? "inf)" : Max.ToString(System.Globalization.CultureInfo.InvariantCulture) + (MaxExclusive ? ")" : "]"));

    public bool Contains(double value) =>
        (double.IsNaN(Min) || (MinExclusive ? value > Min : value >= Min)) &&
        (double.IsNaN(Max) || (MaxExclusive ? value < Max : value <= Max));
}

/// <summary>
/// Marks a static method as the shared form of the loss <see cref="Loss"/>: the same value, computed from
/// quantities derived from the inputs (such as <c>log_softmax(z / T)</c>) that the generated code computes
/// once per batch and hands to every term that needs the same one. Its parameters are the loss's own (by
/// name) or carry <see cref="SharedAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class SharedFormAttribute : Attribute
{
    public SharedFormAttribute(string loss) => Loss = loss;

    /// <summary>The DSL name of the loss this method is a form of.</summary>
    public string Loss { get; }
}

/// <summary>
/// A parameter of a <see cref="SharedFormAttribute"/> method that receives <c>Quantity(Of, With...)</c>: the
/// public static method <see cref="Quantity"/> of the same class, applied to the loss's input <see cref="Of"/>
/// and hyper-parameters <see cref="With"/>. Two terms whose quantities have the same method, input and
/// hyper-parameter values share one tensor.
/// </summary>
[AttributeUsage(AttributeTargets.Parameter, Inherited = false)]
public sealed class SharedAttribute : Attribute
{
    public SharedAttribute(string quantity, string of, params string[] with)
    {
        Quantity = quantity;
        Of = of;
        With = with;
    }

    public string Quantity { get; }
    public string Of { get; }
    public string[] With { get; }
}
