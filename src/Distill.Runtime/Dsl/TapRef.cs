using System.Globalization;
using System.Text;

namespace Distill.Runtime;

/// <summary>
/// The kind of tensor a <see cref="TapRef{TKind}"/> names, as a type, so that the C# compiler rejects a
/// feature map passed where logits are expected. One marker per <c>Distill.Metadata.TensorKind</c>
/// (except <c>Any</c>, which is the untyped <see cref="TapRef"/>).
/// </summary>
public abstract class TapKind
{
    private protected TapKind()
    {
    }
}

/// <summary>Unnormalised class scores.</summary>
public sealed class Logits : TapKind
{
    private Logits()
    {
    }
}

/// <summary>A probability distribution over the last dim.</summary>
public sealed class Probabilities : TapKind
{
    private Probabilities()
    {
    }
}

/// <summary>A convolutional feature map (N, C, H, W).</summary>
public sealed class FeatureMap : TapKind
{
    private FeatureMap()
    {
    }
}

/// <summary>A feature vector per sample or instance.</summary>
public sealed class Embedding : TapKind
{
    private Embedding()
    {
    }
}

/// <summary>A 0/1 or weight mask.</summary>
public sealed class Mask : TapKind
{
    private Mask()
    {
    }
}

/// <summary>Integer class labels.</summary>
public sealed class Labels : TapKind
{
    private Labels()
    {
    }
}

/// <summary>Boxes as (x1, y1, x2, y2) rows.</summary>
public sealed class Boxes : TapKind
{
    private Boxes()
    {
    }
}

/// <summary>Per-sample or per-instance weights.</summary>
public sealed class Weights : TapKind
{
    private Weights()
    {
    }
}

/// <summary>A look-up table of features.</summary>
public sealed class Table : TapKind
{
    private Table()
    {
    }
}

/// <summary>
/// A reference to a tensor an experiment reads: a model's tap (<c>student.logits</c>), a batch field
/// (<c>batch.label</c>) or an adapter's output. The generator emits these (<c>Taps.Student.logits</c>,
/// <c>Batch.label</c>) and reads the experiment's syntax; at run time a reference only describes.
/// This untyped form is what loss inputs of any kind accept.
/// </summary>
public class TapRef
{
    public TapRef(string reference)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        Reference = reference;
    }

    /// <summary>The reference as the YAML front end writes it, e.g. <c>student.logits</c>.</summary>
    public string Reference { get; }

    /// <summary>The same reference seen as another kind (for a tap or batch field declared with kind Any).</summary>
    public TapRef<TKind> As<TKind>() where TKind : TapKind => new(Reference);

    public override string ToString() => Reference;
}

/// <summary>A reference to a tensor of kind <typeparamref name="TKind"/>.</summary>
public sealed class TapRef<TKind> : TapRef where TKind : TapKind
{
    public TapRef(string reference)
        : base(reference)
    {
    }

    /// <summary>
    /// This per-RoI tap of a detector computed by its RoI head on another tap's RoIs:
    /// <c>Taps.Student.roi_logits.On(Taps.Teacher.sampled_rois)</c> is the YAML front end's
    /// <c>student.roi_logits@teacher.sampled_rois</c> (the generator checks both taps).
    /// </summary>
    public TapRef<TKind> On(TapRef<Boxes> rois)
    {
        ArgumentNullException.ThrowIfNull(rois);
        return new(Reference + "@" + rois.Reference);
    }
}

/// <summary>
/// Adapters, written as the body of an <see cref="AdapterAttribute"/> member: each maps the student tap
/// <c>from</c> to the channels of the teacher tap <c>to</c>. The in/out channels are inferred from the taps; for a tap that
/// does not declare its channels (they depend on the backbone the model is built with) give them as <c>in_channels</c> /
/// <c>out_channels</c> (0: inferred).
/// </summary>
public static class Adapter
{
    /// <summary>A 1×1 convolution (no bias), then optionally batch normalisation and an activation.</summary>
    public static TapRef<FeatureMap> Conv1x1(TapRef<FeatureMap> from, TapRef<FeatureMap> to, AdapterNorm norm = AdapterNorm.None, AdapterActivation act = AdapterActivation.None,
        int in_channels = 0, int out_channels = 0) =>
        Describe("conv1x1", from, to);

    /// <summary>A 3×3 convolution (padding 1, no bias), then optionally batch normalisation and an activation (CRD's ConvReg: BatchNorm, ReLU).</summary>
    public static TapRef<FeatureMap> Conv3x3(TapRef<FeatureMap> from, TapRef<FeatureMap> to, AdapterNorm norm = AdapterNorm.None, AdapterActivation act = AdapterActivation.None,
        int in_channels = 0, int out_channels = 0) =>
        Describe("conv3x3", from, to);

    /// <summary>A linear layer over the last dim, then optionally batch normalisation (of (N, C) inputs) and an activation.</summary>
    public static TapRef<TKind> Linear<TKind>(TapRef<TKind> from, TapRef<TKind> to, AdapterNorm norm = AdapterNorm.None, AdapterActivation act = AdapterActivation.None,
        int in_channels = 0, int out_channels = 0) where TKind : TapKind =>
        Describe("linear", from, to);

    private static TapRef<TKind> Describe<TKind>(string kind, TapRef<TKind> from, TapRef<TKind> to) where TKind : TapKind
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        return new($"{kind}({from.Reference} -> {to.Reference})");
    }
}

/// <summary>What follows an adapter's layer (YAML <c>norm: bn | none</c>).</summary>
public enum AdapterNorm
{
    None,

    /// <summary>BatchNorm2d after a convolution, BatchNorm1d after a linear layer.</summary>
    BatchNorm,
}

/// <summary>An adapter's activation, last (YAML <c>act: relu | none</c>).</summary>
public enum AdapterActivation
{
    None,
    ReLU,
}

/// <summary>
/// A loss term as the generated <c>Loss.&lt;name&gt;(...)</c> factories describe it: the loss and its
/// arguments (tap references and hyper-parameter values), in the loss's parameter order.
/// </summary>
public sealed class LossTerm
{
    public LossTerm(string loss, params (string Name, object? Value)[] arguments)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(loss);
        Loss = loss;
        Arguments = arguments.ToArray();
    }

    /// <summary>The loss's DSL name, e.g. <c>hinton_kd</c>.</summary>
    public string Loss { get; }

    public IReadOnlyList<(string Name, object? Value)> Arguments { get; }

    /// <summary><c>hinton_kd(student: student.logits, teacher: teacher.logits, temperature: 4)</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder(Loss).Append('(');
        for (var i = 0; i < Arguments.Count; i++)
        {
            if (i > 0) text.Append(", ");
            text.Append(Arguments[i].Name).Append(": ").Append(Format(Arguments[i].Value));
        }
        return text.Append(')').ToString();
    }

    private static string Format(object? value) => value switch
    {
        null => "null",
        string s => "\"" + s + "\"",
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        TapRef[] refs => "[" + string.Join(", ", refs.Select(r => r.Reference)) + "]",
        _ => value.ToString() ?? "",
    };
}
