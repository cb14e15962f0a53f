using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Modules;

/// <summary>2-D max pooling; stride defaults to the kernel size.</summary>
public sealed class MaxPool2d : Module<Tensor, Tensor>
{
    public MaxPool2d(IntOrTuple kernel_size, IntOrTuple? stride = null, IntOrTuple? padding = null, IntOrTuple? dilation = null, bool ceil_mode = false)
    {
        this.kernel_size = kernel_size;
        this.stride = stride ?? kernel_size;
        this.padding = padding ?? 0;
        this.dilation = dilation ?? 1;
        this.ceil_mode = ceil_mode;
    }

    public IntOrTuple kernel_size { get; }
    public IntOrTuple stride { get; }
    public IntOrTuple padding { get; }
    public IntOrTuple dilation { get; }
    public bool ceil_mode { get; }

    public override Tensor forward(Tensor input) => F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode);

    public override string extra_repr() =>
        $"kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation={dilation}, ceil_mode={PyRepr.Of(ceil_mode)}";
}

/// <summary>2-D average pooling; stride defaults to the kernel size.</summary>
public sealed class AvgPool2d : Module<Tensor, Tensor>
{
    public AvgPool2d(IntOrTuple kernel_size, IntOrTuple? stride = null, IntOrTuple? padding = null, bool ceil_mode = false,
        bool count_include_pad = true, long? divisor_override = null)
    {
        this.kernel_size = kernel_size;
        this.stride = stride ?? kernel_size;
        this.padding = padding ?? 0;
        this.ceil_mode = ceil_mode;
        this.count_include_pad = count_include_pad;
        this.divisor_override = divisor_override;
    }

    public IntOrTuple kernel_size { get; }
    public IntOrTuple stride { get; }
    public IntOrTuple padding { get; }
    public bool ceil_mode { get; }
    public bool count_include_pad { get; }
    public long? divisor_override { get; }

    public override Tensor forward(Tensor input) =>
        F.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);

    public override string extra_repr() => $"kernel_size={kernel_size}, stride={stride}, padding={padding}";
}

/// <summary>Average pooling to a fixed output size.</summary>
public sealed class AdaptiveAvgPool2d : Module<Tensor, Tensor>
{
    public AdaptiveAvgPool2d(IntOrTuple output_size) => this.output_size = output_size;

    public IntOrTuple output_size { get; }

    public override Tensor forward(Tensor input) => F.adaptive_avg_pool2d(input, output_size);

    public override string extra_repr() => $"output_size={output_size}";
}

/// <summary>Max pooling to a fixed output size.</summary>
public sealed class AdaptiveMaxPool2d : Module<Tensor, Tensor>
{
    public AdaptiveMaxPool2d(IntOrTuple output_size) => this.output_size = output_size;

    public IntOrTuple output_size { get; }

    public override Tensor forward(Tensor input) => F.adaptive_max_pool2d(input, output_size);

    public override string extra_repr() => $"output_size={output_size}";
}
