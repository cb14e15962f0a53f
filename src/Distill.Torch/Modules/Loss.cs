using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Modules;

/// <summary>A loss module: <c>call(input, target)</c>; reduction "mean" (default), "sum" or "none".</summary>
public abstract class Loss : Module<Tensor, Tensor, Tensor>
{
    private protected Loss(string reduction) => this.reduction = reduction;

    public string reduction { get; }

    /// <summary>A class-weight buffer (PyTorch registers it, so it appears in the state_dict); the module keeps its own handle.</summary>
    private protected void RegisterWeight(string name, Tensor? weight) => register_buffer(name, weight?.alias());
}

/// <summary>F.cross_entropy with class-index or class-probability targets.</summary>
public sealed class CrossEntropyLoss : Loss
{
    public CrossEntropyLoss(Tensor? weight = null, long ignore_index = -100, string reduction = "mean", double label_smoothing = 0.0)
        : base(reduction)
    {
        RegisterWeight("weight", weight);
        this.ignore_index = ignore_index;
        this.label_smoothing = label_smoothing;
    }

    public Tensor? weight => GetBuffer("weight");
    public long ignore_index { get; }
    public double label_smoothing { get; }

    public override Tensor forward(Tensor input, Tensor target) =>
        F.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing);
}

/// <summary>F.nll_loss of log-probabilities.</summary>
public sealed class NLLLoss : Loss
{
    public NLLLoss(Tensor? weight = null, long ignore_index = -100, string reduction = "mean") : base(reduction)
    {
        RegisterWeight("weight", weight);
        this.ignore_index = ignore_index;
    }

    public Tensor? weight => GetBuffer("weight");
    public long ignore_index { get; }

    public override Tensor forward(Tensor input, Tensor target) => F.nll_loss(input, target, weight, ignore_index, reduction);
}

/// <summary>F.kl_div: input log-probabilities, target probabilities (log with log_target); use reduction "batchmean" for the true KL.</summary>
public sealed class KLDivLoss : Loss
{
    public KLDivLoss(string reduction = "mean", bool log_target = false) : base(reduction) => this.log_target = log_target;

    public bool log_target { get; }

    public override Tensor forward(Tensor input, Tensor target) => F.kl_div(input, target, reduction, log_target);
}

public sealed class MSELoss : Loss
{
    public MSELoss(string reduction = "mean") : base(reduction) { }

    public override Tensor forward(Tensor input, Tensor target) => F.mse_loss(input, target, reduction);
}

public sealed class L1Loss : Loss
{
    public L1Loss(string reduction = "mean") : base(reduction) { }

    public override Tensor forward(Tensor input, Tensor target) => F.l1_loss(input, target, reduction);
}

public sealed class SmoothL1Loss : Loss
{
    public SmoothL1Loss(string reduction = "mean", double beta = 1.0) : base(reduction) => this.beta = beta;

    public double beta { get; }

    public override Tensor forward(Tensor input, Tensor target) => F.smooth_l1_loss(input, target, reduction, beta);
}

/// <summary>F.binary_cross_entropy_with_logits with optional element weights and positive-class weights.</summary>
public sealed class BCEWithLogitsLoss : Loss
{
    public BCEWithLogitsLoss(Tensor? weight = null, string reduction = "mean", Tensor? pos_weight = null) : base(reduction)
    {
        RegisterWeight("weight", weight);
        RegisterWeight("pos_weight", pos_weight);
    }

    public Tensor? weight => GetBuffer("weight");
    public Tensor? pos_weight => GetBuffer("pos_weight");

    public override Tensor forward(Tensor input, Tensor target) =>
        F.binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight);
}
