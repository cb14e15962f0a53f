namespace Distill.Detection.Backbones;

/// <summary>
/// A detection backbone's body (torchvision's <c>IntermediateLayerGetter</c> over a classifier): the outputs of its
/// four stages, at strides 4, 8, 16 and 32 of the input.
/// </summary>
public interface IFeatureBody
{
    /// <summary>The channels of stage 1..4.</summary>
    IReadOnlyList<long> stage_channels { get; }

    /// <summary>The four stage outputs; everything else the pass allocates is freed.</summary>
    Tensor[] forward_stages(Tensor x);
}
