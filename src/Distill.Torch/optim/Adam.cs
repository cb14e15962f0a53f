using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

/// <summary>
/// Adam, exactly as PyTorch 1.13's <c>torch.optim.Adam</c> (single-tensor path): bias-corrected moments,
/// optional AMSGrad, L2 weight decay added to the gradient, optional maximisation. State per parameter:
/// <c>step</c> (a float32 scalar tensor, as PyTorch's), <c>exp_avg</c>, <c>exp_avg_sq</c> and, with
/// AMSGrad, <c>max_exp_avg_sq</c>.
/// </summary>
public sealed class Adam : Optimizer
{
    public Adam(IEnumerable<Tensor> parameters, double lr = 1e-3, (double beta1, double beta2)? betas = null, double eps = 1e-8,
                double weight_decay = 0, bool amsgrad = false, bool maximize = false)
        : this(OneGroup(parameters), lr, betas, eps, weight_decay, amsgrad, maximize)
    {
    }

    /// <summary>Several parameter groups; each may override any hyper-parameter, the others come from the arguments.</summary>
    public Adam(IEnumerable<ParamGroup> param_groups, double lr = 1e-3, (double beta1, double beta2)? betas = null, double eps = 1e-8,
                double weight_decay = 0, bool amsgrad = false, bool maximize = false)
        : base(param_groups, AdamFamily.Defaults(lr, betas, eps, weight_decay, amsgrad, maximize))
    {
    }

    private protected override string[] StateNames => AdamFamily.StateNames;
    private protected override void Validate(ParamGroup g) => AdamFamily.Validate(g);
    private protected override void StepGroup(ParamGroup g) => AdamFamily.Step(g, decoupled: false);
}

/// <summary>
/// AdamW, exactly as PyTorch 1.13's <c>torch.optim.AdamW</c>: Adam with decoupled weight decay
/// (<c>p *= 1 - lr * weight_decay</c> before the update; default 1e-2). State as <see cref="Adam"/>.
/// </summary>
public sealed class AdamW : Optimizer
{
    public AdamW(IEnumerable<Tensor> parameters, double lr = 1e-3, (double beta1, double beta2)? betas = null, double eps = 1e-8,
                 double weight_decay = 1e-2, bool amsgrad = false, bool maximize = false)
        : this(OneGroup(parameters), lr, betas, eps, weight_decay, amsgrad, maximize)
    {
    }

    /// <summary>Several parameter groups; each may override any hyper-parameter, the others come from the arguments.</summary>
    public AdamW(IEnumerable<ParamGroup> param_groups, double lr = 1e-3, (double beta1, double beta2)? betas = null, double eps = 1e-8,
                 double weight_decay = 1e-2, bool amsgrad = false, bool maximize = false)
        : base(param_groups, AdamFamily.Defaults(lr, betas, eps, weight_decay, amsgrad, maximize))
    {
    }

    private protected override string[] StateNames => AdamFamily.StateNames;
    private protected override void Validate(ParamGroup g) => AdamFamily.Validate(g);
    private protected override void StepGroup(ParamGroup g) => AdamFamily.Step(g, decoupled: true);
}

/// <summary>What Adam and AdamW share: hyper-parameters, their checks, the state slots and the native step.</summary>
internal static class AdamFamily
{
    public static readonly string[] StateNames = ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    public static Dictionary<string, object> Defaults(double lr, (double, double)? betas, double eps, double weight_decay, bool amsgrad, bool maximize) =>
        new(StringComparer.Ordinal)
        {
            ["lr"] = lr, ["betas"] = betas ?? (0.9, 0.999), ["eps"] = eps, ["weight_decay"] = weight_decay,
            ["amsgrad"] = amsgrad, ["maximize"] = maximize,
        };

    public static void Validate(ParamGroup g)
    {
        var (beta1, beta2) = g.betas;
        if (!(g.lr >= 0)) throw Invalid($"Invalid learning rate: {ParamGroup.Format(g.lr)}");
        if (!(g.eps >= 0)) throw Invalid($"Invalid epsilon value: {ParamGroup.Format(g.eps)}");
        if (!(beta1 >= 0 && beta1 < 1)) throw Invalid($"Invalid beta parameter at index 0: {ParamGroup.Format(beta1)}");
        if (!(beta2 >= 0 && beta2 < 1)) throw Invalid($"Invalid beta parameter at index 1: {ParamGroup.Format(beta2)}");
        if (!(g.weight_decay >= 0)) throw Invalid($"Invalid weight_decay value: {ParamGroup.Format(g.weight_decay)}");
    }

    private static TorchException Invalid(string message) => new(message, ErrorCategory.Value);

    public static unsafe void Step(ParamGroup g, bool decoupled)
    {
        var (beta1, beta2) = g.betas;
        var amsgrad = g.amsgrad;
        var ps = Optimizer.ParameterHandles(g);
        var steps = Optimizer.StateHandles(g, 0);
        var expAvgs = Optimizer.StateHandles(g, 1);
        var expAvgSqs = Optimizer.StateHandles(g, 2);
        var maxExpAvgSqs = Optimizer.StateHandles(g, 3);
        fixed (IntPtr* p = ps)
        fixed (IntPtr* s = steps)
        fixed (IntPtr* m = expAvgs)
        fixed (IntPtr* v = expAvgSqs)
        fixed (IntPtr* vmax = maxExpAvgSqs)
            Check(dst_optim_adam_step(p, ps.Length, s, m, v, amsgrad ? vmax : null, g.lr, beta1, beta2, g.eps, g.weight_decay,
                                      amsgrad ? 1 : 0, g.maximize ? 1 : 0, decoupled ? 1 : 0));
        Optimizer.Adopt(g, 0, steps);
        Optimizer.Adopt(g, 1, expAvgs);
        Optimizer.Adopt(g, 2, expAvgSqs);
        if (amsgrad) Optimizer.Adopt(g, 3, maxExpAvgSqs);
        GC.KeepAlive(g);
    }
}
