using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Modules;

/// <summary>What Conv2d and ConvTranspose2d share (PyTorch's _ConvNd): shapes, checks, parameters, printout.</summary>
public abstract class ConvNd : Module<Tensor, Tensor>
{
    private static readonly string[] PaddingModes = ["zeros", "reflect", "replicate", "circular"];

    private protected ConvNd(long in_channels, long out_channels, long[] kernel_size, long[] stride, long[] padding, long[] dilation,
        bool transposed, long[] output_padding, long groups, bool bias, string padding_mode, Device? device, ScalarType? dtype)
    {
        if (groups <= 0) throw new TorchException("groups must be a positive integer", ErrorCategory.Value);
        if (in_channels % groups != 0) throw new TorchException("in_channels must be divisible by groups", ErrorCategory.Value);
        if (out_channels % groups != 0) throw new TorchException("out_channels must be divisible by groups", ErrorCategory.Value);
        if (!PaddingModes.Contains(padding_mode))
            throw new TorchException($"padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], but got padding_mode='{padding_mode}'", ErrorCategory.Value);
        this.in_channels = in_channels;
        this.out_channels = out_channels;
        this.kernel_size = kernel_size;
        this.stride = stride;
        this.padding = padding;
        this.dilation = dilation;
        this.transposed = transposed;
        this.output_padding = output_padding;
        this.groups = groups;
        this.padding_mode = padding_mode;
        long[] shape = transposed
            ? [in_channels, out_channels / groups, .. kernel_size]
            : [out_channels, in_channels / groups, .. kernel_size];
        register_parameter("weight", Init.Empty(shape, device, dtype));
        register_parameter("bias", bias ? Init.Empty([out_channels], device, dtype) : null);
        reset_parameters();
    }

    public long in_channels { get; }
    public long out_channels { get; }
    public long[] kernel_size { get; }
    public long[] stride { get; }
    public long[] padding { get; }
    public long[] dilation { get; }
    public bool transposed { get; }
    public long[] output_padding { get; }
    public long groups { get; }
    public string padding_mode { get; }

    public Parameter weight
    {
        get => GetParameter("weight")!;
        set => register_parameter("weight", value);
    }

    public Parameter? bias
    {
        get => GetParameter("bias");
        set => register_parameter("bias", value);
    }

    /// <summary>PyTorch's default: kaiming_uniform_(a=√5) weights, U(±1/√fan_in) bias.</summary>
    public void reset_parameters() => Init.ResetLinearLike(weight, bias);

    private protected static long[] Pair(IntOrTuple value, string name)
    {
        var v = value.Expand(2);
        if (v.Length != 2) throw new TorchException($"{name} must be an int or a tuple of 2 ints, got {value}", ErrorCategory.Value);
        return v;
    }

    public override string extra_repr()
    {
        var s = $"{in_channels}, {out_channels}, kernel_size={PyRepr.Tuple(kernel_size)}, stride={PyRepr.Tuple(stride)}";
        if (padding.Any(p => p != 0)) s += $", padding={PyRepr.Tuple(padding)}";
        if (dilation.Any(d => d != 1)) s += $", dilation={PyRepr.Tuple(dilation)}";
        if (output_padding.Any(p => p != 0)) s += $", output_padding={PyRepr.Tuple(output_padding)}";
        if (groups != 1) s += $", groups={groups}";
        if (bias is null) s += ", bias=False";
        if (padding_mode != "zeros") s += $", padding_mode={padding_mode}";
        return s;
    }
}

/// <summary>2-D convolution over (N, C, H, W) inputs; padding_mode zeros, reflect, replicate or circular.</summary>
public sealed class Conv2d : ConvNd
{
    public Conv2d(long in_channels, long out_channels, IntOrTuple kernel_size, IntOrTuple? stride = null, IntOrTuple? padding = null,
        IntOrTuple? dilation = null, long groups = 1, bool bias = true, string padding_mode = "zeros", Device? device = null, ScalarType? dtype = null)
        : base(in_channels, out_channels, Pair(kernel_size, "kernel_size"), Pair(stride ?? 1, "stride"), Pair(padding ?? 0, "padding"),
            Pair(dilation ?? 1, "dilation"), false, [0, 0], groups, bias, padding_mode, device, dtype)
    {
    }

    public override Tensor forward(Tensor input)
    {
        if (padding_mode == "zeros") return F.conv2d(input, weight, bias, stride, padding, dilation, groups);
        // Other modes pad explicitly first: (left, right, top, bottom).
        using var padded = F.pad(input, [padding[1], padding[1], padding[0], padding[0]], mode: padding_mode);
        return F.conv2d(padded, weight, bias, stride, 0, dilation, groups);
    }
}

/// <summary>The transpose of Conv2d (learned upsampling); weight is (in, out/groups, kH, kW).</summary>
public sealed class ConvTranspose2d : ConvNd
{
    public ConvTranspose2d(long in_channels, long out_channels, IntOrTuple kernel_size, IntOrTuple? stride = null, IntOrTuple? padding = null,
        IntOrTuple? output_padding = null, long groups = 1, bool bias = true, IntOrTuple? dilation = null, string padding_mode = "zeros",
        Device? device = null, ScalarType? dtype = null)
        : base(in_channels, out_channels, Pair(kernel_size, "kernel_size"), Pair(stride ?? 1, "stride"), Pair(padding ?? 0, "padding"),
            Pair(dilation ?? 1, "dilation"), true, Pair(output_padding ?? 0, "output_padding"), groups, bias, CheckZeros(padding_mode), device, dtype)
    {
    }

    private static string CheckZeros(string padding_mode) =>
        padding_mode == "zeros" ? padding_mode : throw new TorchException("Only \"zeros\" padding mode is supported for ConvTranspose2d", ErrorCategory.Value);

    public override Tensor forward(Tensor input) =>
        F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation);
}
