namespace Distill.Metadata;

/// <summary>
/// Marks a model class the DSL can use as a teacher or student. <see cref="Input"/> is the symbolic
/// input shape (default <c>"N,3,H,W"</c>); the symbols N, H, W (and any other) name the input's dims
/// for the tap shape expressions.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class DistillModelAttribute : Attribute
{
    /// <summary>The name experiments use (<c>model: CifarResNet</c>); defaults to the class name.</summary>
    public string? Name { get; set; }

    public string Input { get; set; } = "N,3,H,W";

    /// <summary>What the model is for: "classification", "detection", "face", "reid".</summary>
    public string? Task { get; set; }
}

/// <summary>
/// An intermediate output of a model that losses can read. <see cref="Shape"/> is a comma-separated list
/// of integer expressions over the model's constructor parameters and the input symbols, e.g.
/// <c>"N, 4*width, H/4, W/4"</c> or <c>"N, classes"</c>; operators + - * / (integer division, rounding
/// down) and parentheses. The generator evaluates them at compile time to check wiring.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class TapAttribute : Attribute
{
    public TapAttribute(string name, TensorKind kind, string shape)
    {
        Name = name;
        Kind = kind;
        Shape = shape;
    }

    public string Name { get; }
    public TensorKind Kind { get; }
    public string Shape { get; }
    public string? Description { get; set; }

    /// <summary>
    /// The batch field this tap needs besides the input (<c>"label"</c> for a margin head's logits, which
    /// apply the margin to each sample's target class). The generated code then passes that field to
    /// <c>forward_taps</c>, and the generator checks the data set has it.
    /// </summary>
    public string? Needs { get; set; }

    /// <summary>
    /// For a tap with one row per region of interest (a detector's RoI logits, RoI features): the model's tap that holds those
    /// RoIs (<c>"sampled_rois"</c>). Two models' per-RoI rows compare only on the same RoIs, so the generator rejects a term
    /// that pairs each model's rows on its own RoIs, and lets an experiment run this tap on another model's RoIs instead
    /// (<c>student.roi_logits@teacher.sampled_rois</c>), through the model's <c>roi_head_on</c>.
    /// </summary>
    public string? Rois { get; set; }

    /// <summary>
    /// A per-RoI tap the model's RoI head computes from the RoIs alone (RoI features, embedding, logits, deltas — not the
    /// labels matched to them), so it can also run on another model's RoIs: <c>student.roi_logits@teacher.sampled_rois</c>.
    /// </summary>
    public bool OnGivenRois { get; set; }
}
