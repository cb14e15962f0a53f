using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Modules;

/// <summary>max(x, 0); with inplace, overwrites and returns its input.</summary>
public sealed class ReLU : Module<Tensor, Tensor>
{
    public ReLU(bool inplace = false) => this.inplace = inplace;

    public bool inplace { get; }

    public override Tensor forward(Tensor input) => F.relu(input, inplace);

    public override string extra_repr() => inplace ? "inplace=True" : "";
}

public sealed class LeakyReLU : Module<Tensor, Tensor>
{
    public LeakyReLU(double negative_slope = 0.01, bool inplace = false)
    {
        this.negative_slope = negative_slope;
        this.inplace = inplace;
    }

    public double negative_slope { get; }
    public bool inplace { get; }

    public override Tensor forward(Tensor input) => F.leaky_relu(input, negative_slope, inplace);

    public override string extra_repr() => $"negative_slope={PyRepr.Of(negative_slope)}" + (inplace ? ", inplace=True" : "");
}

/// <summary>
/// max(0, x) + a·min(0, x) with a learned slope <c>a</c> (Parameter <c>weight</c>): one slope shared by
/// all channels (<c>num_parameters</c> = 1) or one per channel of dim 1, initialised to <c>init</c>.
/// </summary>
public sealed class PReLU : Module<Tensor, Tensor>
{
    public PReLU(long num_parameters = 1, double init = 0.25, Device? device = null, ScalarType? dtype = null)
    {
        if (num_parameters < 1)
            throw new TorchException($"PReLU: num_parameters must be at least 1, got {num_parameters}", ErrorCategory.Value);
        this.num_parameters = num_parameters;
        this.init = init;
        register_parameter("weight", Init.Empty([num_parameters], device, dtype));
        reset_parameters();
    }

    public long num_parameters { get; }
    public double init { get; }

    public Parameter weight
    {
        get => GetParameter("weight")!;
        set => register_parameter("weight", value);
    }

    public void reset_parameters() => torch.nn.init.constant_(weight, init);

    public override Tensor forward(Tensor input) => F.prelu(input, weight);

    public override string extra_repr() => $"num_parameters={num_parameters}";
}

public sealed class GELU : Module<Tensor, Tensor>
{
    public GELU(string approximate = "none") => this.approximate = approximate;

    public string approximate { get; }

    public override Tensor forward(Tensor input) => F.gelu(input, approximate);

    public override string extra_repr() => $"approximate='{approximate}'";
}

public sealed class SiLU : Module<Tensor, Tensor>
{
    public SiLU(bool inplace = false) => this.inplace = inplace;

    public bool inplace { get; }

    public override Tensor forward(Tensor input) => F.silu(input, inplace);

    public override string extra_repr() => inplace ? "inplace=True" : "";
}

public sealed class Sigmoid : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor input) => input.sigmoid();
}

public sealed class Tanh : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor input) => input.tanh();
}

/// <summary>Softmax along <c>dim</c>.</summary>
public sealed class Softmax : Module<Tensor, Tensor>
{
    public Softmax(long dim) => this.dim = dim;

    public long dim { get; }

    public override Tensor forward(Tensor input) => F.softmax(input, dim);

    public override string extra_repr() => $"dim={dim}";
}

/// <summary>log(softmax(x)) along <c>dim</c>.</summary>
public sealed class LogSoftmax : Module<Tensor, Tensor>
{
    public LogSoftmax(long dim) => this.dim = dim;

    public long dim { get; }

    public override Tensor forward(Tensor input) => F.log_softmax(input, dim);

    public override string extra_repr() => $"dim={dim}";
}

/// <summary>Zeroes elements with probability p (scaling the rest by 1/(1-p)) in training; the identity in evaluation.</summary>
public sealed class Dropout : Module<Tensor, Tensor>
{
    public Dropout(double p = 0.5, bool inplace = false)
    {
        if (p < 0 || p > 1)
            throw new TorchException($"dropout probability has to be between 0 and 1, but got {PyRepr.Of(p)}", ErrorCategory.Value);
        this.p = p;
        this.inplace = inplace;
    }

    public double p { get; }
    public bool inplace { get; }

    public override Tensor forward(Tensor input) => F.dropout(input, p, training, inplace);

    public override string extra_repr() => $"p={PyRepr.Of(p)}, inplace={PyRepr.Of(inplace)}";
}
