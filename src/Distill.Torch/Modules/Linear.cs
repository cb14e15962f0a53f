using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Modules;

/// <summary>Shared construction helpers of the built-in layers.</summary>
internal static class Init
{
    /// <summary>A new parameter of the given shape, allocated uninitialised (the caller initialises it).</summary>
    public static Parameter Empty(long[] shape, Device? device, ScalarType? dtype)
    {
        using var data = torch.empty(shape, dtype, device);
        return new Parameter(data);
    }

    /// <summary>
    /// PyTorch's default initialisation of Linear and convolution layers: kaiming_uniform_(a=√5) for
    /// the weight, U(-1/√fan_in, 1/√fan_in) for the bias.
    /// </summary>
    public static void ResetLinearLike(Parameter weight, Parameter? bias)
    {
        torch.nn.init.kaiming_uniform_(weight, a: Math.Sqrt(5));
        if (bias is null) return;
        var (fanIn, _) = torch.nn.init.calculate_fan_in_and_fan_out(weight);
        var bound = fanIn > 0 ? 1 / Math.Sqrt(fanIn) : 0;
        torch.nn.init.uniform_(bias, -bound, bound);
    }
}

/// <summary>y = x·Wᵀ + b, with W of shape (out_features, in_features).</summary>
public sealed class Linear : Module<Tensor, Tensor>
{
    public Linear(long in_features, long out_features, bool bias = true, Device? device = null, ScalarType? dtype = null)
    {
        this.in_features = in_features;
        this.out_features = out_features;
        register_parameter("weight", Init.Empty([out_features, in_features], device, dtype));
        register_parameter("bias", bias ? Init.Empty([out_features], device, dtype) : null);
        reset_parameters();
    }

    public long in_features { get; }
    public long out_features { get; }

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

    public void reset_parameters() => Init.ResetLinearLike(weight, bias);

    public override Tensor forward(Tensor input) => F.linear(input, weight, bias);

    public override string extra_repr() =>
        $"in_features={in_features}, out_features={out_features}, bias={PyRepr.Of(bias is not null)}";
}

/// <summary>Passes its input through unchanged.</summary>
public sealed class Identity : Module<Tensor, Tensor>
{
    public override Tensor forward(Tensor input) => input;
}

/// <summary>Flattens dimensions start_dim..end_dim (by default all but the batch dimension).</summary>
public sealed class Flatten : Module<Tensor, Tensor>
{
    public Flatten(long start_dim = 1, long end_dim = -1)
    {
        this.start_dim = start_dim;
        this.end_dim = end_dim;
    }

    public long start_dim { get; }
    public long end_dim { get; }

    public override Tensor forward(Tensor input) => input.flatten(start_dim, end_dim);

    public override string extra_repr() => $"start_dim={start_dim}, end_dim={end_dim}";
}

/// <summary>A lookup table of <c>num_embeddings</c> vectors of size <c>embedding_dim</c>, initialised N(0, 1).</summary>
public sealed class Embedding : Module<Tensor, Tensor>
{
    public Embedding(long num_embeddings, long embedding_dim, long? padding_idx = null, double? max_norm = null, double norm_type = 2.0,
        bool scale_grad_by_freq = false, bool sparse = false, Device? device = null, ScalarType? dtype = null)
    {
        if (padding_idx is { } p)
        {
            if (p > 0 && p >= num_embeddings) throw new TorchException("Padding_idx must be within num_embeddings", ErrorCategory.Value);
            if (p < 0 && p < -num_embeddings) throw new TorchException("Padding_idx must be within num_embeddings", ErrorCategory.Value);
            if (p < 0) padding_idx = num_embeddings + p;
        }
        this.num_embeddings = num_embeddings;
        this.embedding_dim = embedding_dim;
        this.padding_idx = padding_idx;
        this.max_norm = max_norm;
        this.norm_type = norm_type;
        this.scale_grad_by_freq = scale_grad_by_freq;
        this.sparse = sparse;
        register_parameter("weight", Init.Empty([num_embeddings, embedding_dim], device, dtype));
        reset_parameters();
    }

    public long num_embeddings { get; }
    public long embedding_dim { get; }
    public long? padding_idx { get; }
    public double? max_norm { get; }
    public double norm_type { get; }
    public bool scale_grad_by_freq { get; }
    public bool sparse { get; }

    public Parameter weight
    {
        get => GetParameter("weight")!;
        set => register_parameter("weight", value);
    }

    public void reset_parameters()
    {
        torch.nn.init.normal_(weight);
        if (padding_idx is { } p)
            Native.NativeMethods.Check(Native.NativeMethods.dst_init_fill_row_(weight.Handle, p, ((Scalar)0).ToNative()));
    }

    public override Tensor forward(Tensor input) =>
        F.embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse);

    public override string extra_repr()
    {
        var s = $"{num_embeddings}, {embedding_dim}";
        if (padding_idx is not null) s += $", padding_idx={padding_idx}";
        if (max_norm is not null) s += $", max_norm={PyRepr.Of(max_norm.Value)}";
        if (norm_type != 2) s += $", norm_type={PyRepr.Of(norm_type)}";
        if (scale_grad_by_freq) s += ", scale_grad_by_freq=True";
        if (sparse) s += ", sparse=True";
        return s;
    }
}
