namespace Distill.Detection.Backbones;

/// <summary>
/// A detection backbone's body (torchvision's <c>IntermediateLayerGetter</c> over a classifier): the outputs of its
/// stages, at strides 4, 8, 16 and 32 of the input (four; three for a C4 body, whose last stage is the box head).
/// </summary>
public interface IFeatureBody
{
    /// <summary>The channels of each stage.</summary>
    IReadOnlyList<long> stage_channels { get; }

    /// <summary>The stage outputs; everything else the pass allocates is freed.</summary>
    Tensor[] forward_stages(Tensor x);
}
