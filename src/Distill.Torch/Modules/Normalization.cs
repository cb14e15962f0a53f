using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Modules;

/// <summary>
/// Batch normalization (PyTorch's _BatchNorm): per-channel affine weight and bias, running mean and
/// variance updated in training (momentum null: cumulative average), used in evaluation.
/// </summary>
public abstract class BatchNorm : Module<Tensor, Tensor>
{
    private protected BatchNorm(long num_features, double eps, double? momentum, bool affine, bool track_running_stats, Device? device, ScalarType? dtype)
    {
        this.num_features = num_features;
        this.eps = eps;
        this.momentum = momentum;
        this.affine = affine;
        this.track_running_stats = track_running_stats;
        register_parameter("weight", affine ? Init.Empty([num_features], device, dtype) : null);
        register_parameter("bias", affine ? Init.Empty([num_features], device, dtype) : null);
        if (track_running_stats)
        {
            register_buffer("running_mean", torch.zeros([num_features], dtype, device));
            register_buffer("running_var", torch.ones([num_features], dtype, device));
            register_buffer("num_batches_tracked", torch.zeros([], ScalarType.Int64, device));
        }
        else
        {
            register_buffer("running_mean", null);
            register_buffer("running_var", null);
            register_buffer("num_batches_tracked", null);
        }
        reset_parameters();
    }

    public long num_features { get; }
    public double eps { get; set; }
    public double? momentum { get; set; }
    public bool affine { get; }
    public bool track_running_stats { get; }

    public Parameter? weight
    {
        get => GetParameter("weight");
        set => register_parameter("weight", value);
    }

    public Parameter? bias
    {
        get => GetParameter("bias");
        set => register_parameter("bias", value);
    }

    public Tensor? running_mean => GetBuffer("running_mean");
    public Tensor? running_var => GetBuffer("running_var");
    public Tensor? num_batches_tracked => GetBuffer("num_batches_tracked");

    public void reset_running_stats()
    {
        if (!track_running_stats) return;
        using (torch.no_grad())
        {
            running_mean!.zero_();
            running_var!.fill_(1);
            num_batches_tracked!.zero_();
        }
    }

    public void reset_parameters()
    {
        reset_running_stats();
        if (!affine) return;
        torch.nn.init.ones_(weight!);
        torch.nn.init.zeros_(bias!);
    }

    /// <summary>Rejects inputs of the wrong rank, with PyTorch's message.</summary>
    protected abstract void _check_input_dim(Tensor input);

    public override Tensor forward(Tensor input)
    {
        _check_input_dim(input);
        var factor = momentum ?? 0.0;
        if (training && track_running_stats && num_batches_tracked is { } tracked)
        {
            tracked.add_(1);
            factor = momentum ?? 1.0 / tracked.item<long>();
        }
        if (training && process_group is { Size: > 1 } group) return SynchronizedForward(input, group, factor);
        // Batch statistics in training, and in evaluation when no running statistics are kept.
        var useBatchStats = training || (running_mean is null && running_var is null);
        var useRunning = !training || track_running_stats;
        return F.batch_norm(input, useRunning ? running_mean : null, useRunning ? running_var : null, weight, bias, useBatchStats, factor, eps);
    }

    /// <summary>
    /// The process group whose ranks share batch statistics in training (PyTorch's SyncBatchNorm, set on every batch
    /// norm of a model by <see cref="SyncBatchNorm.convert_sync_batchnorm"/>); null: this process's batch alone.
    /// </summary>
    public ProcessGroup? process_group { get; set; }

    /// <summary>
    /// Training with statistics over the whole global batch: each rank's per-channel sums are summed over the ranks
    /// with autograd, so the values, running statistics and gradients are those of one process seeing every rank's
    /// batch. Two all-reduces forward (sum and count, then the centred squares: the two-pass variance) and two
    /// backward.
    /// </summary>
    private Tensor SynchronizedForward(Tensor input, ProcessGroup group, double factor)
    {
        var channels = input.shape[1];
        var dims = Enumerable.Range(0, (int)input.dim()).Where(d => d != 1).Select(d => (long)d).ToArray();
        var shape = Enumerable.Range(0, (int)input.dim()).Select(d => d == 1 ? channels : 1L).ToArray();
        using var scope = torch.NewDisposeScope();
        // Sums in float64, as libtorch's own batch norm accumulates its statistics: the ranks' statistics then agree
        // with one process's to float32 rounding, not to the error of long float32 sums.
        var count = torch.full([1], (double)(input.numel() / channels), ScalarType.Float64, input.device);
        var totals = group.all_reduce_with_grad(torch.cat([input.sum(dims, dtype: ScalarType.Float64), count]));
        var n = totals.narrow(0, channels, 1).item<double>();
        if (n <= 1) throw new ArgumentException($"batch norm expects more than 1 value per channel across the process group when training, got {n}");
        var mean = totals.narrow(0, 0, channels) / n;
        var centered = input - mean.to(input.dtype).view(shape);
        // Squares of bfloat16/float16 activations (autocast) in float32, so the variance keeps float32 precision.
        var wide = centered.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? centered.to(ScalarType.Float32) : centered;
        var variance = group.all_reduce_with_grad((wide * wide).sum(dims, dtype: ScalarType.Float64)) / n;
        var output = centered * (variance + eps).rsqrt().to(input.dtype).view(shape);
        if (weight is { } w) output = output * w.view(shape);
        if (bias is { } b) output = output + b.view(shape);
        if (track_running_stats && running_mean is { } runningMean && running_var is { } runningVar)
            using (torch.no_grad())
            {
                runningMean.mul_(1 - factor).add_(mean.detach().to(runningMean.dtype), factor);
                runningVar.mul_(1 - factor).add_(variance.detach().to(runningVar.dtype), factor * n / (n - 1));
            }
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>A state_dict without num_batches_tracked (older PyTorch) loads with the counter at 0, as in PyTorch.</summary>
    protected override void _load_from_state_dict(OrderedDictionary<string, Tensor> state_dict, string prefix,
        List<string> missing_keys, List<string> unexpected_keys, List<string> error_msgs)
    {
        var key = prefix + "num_batches_tracked";
        if (track_running_stats && !state_dict.ContainsKey(key))
            state_dict[key] = torch.zeros([], ScalarType.Int64); // freed by load_state_dict's dispose scope
        base._load_from_state_dict(state_dict, prefix, missing_keys, unexpected_keys, error_msgs);
    }

    public override string extra_repr() =>
        $"{num_features}, eps={PyRepr.Of(eps)}, momentum={(momentum is null ? "None" : PyRepr.Of(momentum.Value))}, " +
        $"affine={PyRepr.Of(affine)}, track_running_stats={PyRepr.Of(track_running_stats)}";
}

/// <summary>Batch normalization of (N, C) or (N, C, L) inputs.</summary>
public sealed class BatchNorm1d : BatchNorm
{
    public BatchNorm1d(long num_features, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool track_running_stats = true,
        Device? device = null, ScalarType? dtype = null)
        : base(num_features, eps, momentum, affine, track_running_stats, device, dtype)
    {
    }

    protected override void _check_input_dim(Tensor input)
    {
        var d = input.dim();
        if (d != 2 && d != 3) throw new TorchException($"expected 2D or 3D input (got {d}D input)", ErrorCategory.Value);
    }
}

/// <summary>Batch normalization of (N, C, H, W) inputs over (N, H, W) per channel.</summary>
public sealed class BatchNorm2d : BatchNorm
{
    public BatchNorm2d(long num_features, double eps = 1e-5, double? momentum = 0.1, bool affine = true, bool track_running_stats = true,
        Device? device = null, ScalarType? dtype = null)
        : base(num_features, eps, momentum, affine, track_running_stats, device, dtype)
    {
    }

    protected override void _check_input_dim(Tensor input)
    {
        var d = input.dim();
        if (d != 4) throw new TorchException($"expected 4D input (got {d}D input)", ErrorCategory.Value);
    }
}

/// <summary>Normalizes over the trailing <c>normalized_shape</c> dimensions, with elementwise affine weight and bias.</summary>
public sealed class LayerNorm : Module<Tensor, Tensor>
{
    public LayerNorm(IntOrTuple normalized_shape, double eps = 1e-5, bool elementwise_affine = true, Device? device = null, ScalarType? dtype = null)
    {
        this.normalized_shape = normalized_shape.Values;
        this.eps = eps;
        this.elementwise_affine = elementwise_affine;
        register_parameter("weight", elementwise_affine ? Init.Empty(this.normalized_shape, device, dtype) : null);
        register_parameter("bias", elementwise_affine ? Init.Empty(this.normalized_shape, device, dtype) : null);
        reset_parameters();
    }

    public long[] normalized_shape { get; }
    public double eps { get; }
    public bool elementwise_affine { get; }

    public Parameter? weight
    {
        get => GetParameter("weight");
        set => register_parameter("weight", value);
    }

    public Parameter? bias
    {
        get => GetParameter("bias");
        set => register_parameter("bias", value);
    }

    public void reset_parameters()
    {
        if (!elementwise_affine) return;
        torch.nn.init.ones_(weight!);
        torch.nn.init.zeros_(bias!);
    }

    public override Tensor forward(Tensor input) => F.layer_norm(input, normalized_shape, weight, bias, eps);

    public override string extra_repr() =>
        $"{PyRepr.Tuple(normalized_shape)}, eps={PyRepr.Of(eps)}, elementwise_affine={PyRepr.Of(elementwise_affine)}";
}

/// <summary>Normalizes over groups of channels; per-channel affine weight and bias.</summary>
public sealed class GroupNorm : Module<Tensor, Tensor>
{
    public GroupNorm(long num_groups, long num_channels, double eps = 1e-5, bool affine = true, Device? device = null, ScalarType? dtype = null)
    {
        if (num_groups <= 0 || num_channels % num_groups != 0)
            throw new TorchException("num_channels must be divisible by num_groups", ErrorCategory.Value);
        this.num_groups = num_groups;
        this.num_channels = num_channels;
        this.eps = eps;
        this.affine = affine;
        register_parameter("weight", affine ? Init.Empty([num_channels], device, dtype) : null);
        register_parameter("bias", affine ? Init.Empty([num_channels], device, dtype) : null);
        reset_parameters();
    }

    public long num_groups { get; }
    public long num_channels { get; }
    public double eps { get; }
    public bool affine { get; }

    public Parameter? weight
    {
        get => GetParameter("weight");
        set => register_parameter("weight", value);
    }

    public Parameter? bias
    {
        get => GetParameter("bias");
        set => register_parameter("bias", value);
    }

    public void reset_parameters()
    {
        if (!affine) return;
        torch.nn.init.ones_(weight!);
        torch.nn.init.zeros_(bias!);
    }

    public override Tensor forward(Tensor input) => F.group_norm(input, num_groups, weight, bias, eps);

    public override string extra_repr() => $"{num_groups}, {num_channels}, eps={PyRepr.Of(eps)}, affine={PyRepr.Of(affine)}";
}

/// <summary>PyTorch's <c>nn.SyncBatchNorm.convert_sync_batchnorm</c>: batch statistics shared across a process group.</summary>
public static class SyncBatchNorm
{
    /// <summary>Makes every batch norm in <paramref name="module"/> share its training statistics across <paramref name="process_group"/> (null: undo).</summary>
    public static T convert_sync_batchnorm<T>(T module, ProcessGroup? process_group) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        foreach (var child in module.modules())
            if (child is BatchNorm norm) norm.process_group = process_group;
        return module;
    }
}
