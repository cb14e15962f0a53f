namespace Distill.Detection.Backbones;

/// <summary>
/// torchvision's <c>FrozenBatchNorm2d</c>: batch norm with fixed statistics and affine terms, all four kept as
/// buffers (weight, bias, running_mean, running_var; no num_batches_tracked), computed as
/// x·scale + (bias − mean·scale) with scale = weight·rsqrt(var + eps). Pretrained detection backbones use it.
/// </summary>
public sealed class FrozenBatchNorm2d : Module<Tensor, Tensor>
{
    public FrozenBatchNorm2d(long num_features, double eps = 1e-5)
    {
        this.num_features = num_features;
        this.eps = eps;
        register_buffer("weight", torch.ones([num_features]));
        register_buffer("bias", torch.zeros([num_features]));
        register_buffer("running_mean", torch.zeros([num_features]));
        register_buffer("running_var", torch.ones([num_features]));
    }

    public long num_features { get; }
    public double eps { get; }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var w = GetBuffer("weight")!.reshape(1, -1, 1, 1);
        var b = GetBuffer("bias")!.reshape(1, -1, 1, 1);
        var rv = GetBuffer("running_var")!.reshape(1, -1, 1, 1);
        var rm = GetBuffer("running_mean")!.reshape(1, -1, 1, 1);
        var scale = w * (rv + eps).rsqrt();
        var bias = b - rm * scale;
        return scope.MoveToOuter(x * scale + bias);
    }

    public override string ToString() => $"FrozenBatchNorm2d({num_features}, eps={eps.ToString(System.Globalization.CultureInfo.InvariantCulture)})";
}
