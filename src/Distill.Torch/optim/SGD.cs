using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

/// <summary>
/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum, L2 weight decay and
/// maximisation, exactly as PyTorch 1.13's <c>torch.optim.SGD</c>. State: <c>momentum_buffer</c>.
/// </summary>
public sealed class SGD : Optimizer
{
    private static readonly string[] s_state = ["momentum_buffer"];

    public SGD(IEnumerable<Tensor> parameters, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0,
               bool nesterov = false, bool maximize = false)
        : this(OneGroup(parameters), lr, momentum, dampening, weight_decay, nesterov, maximize)
    {
    }

    /// <summary>Several parameter groups; each may override any hyper-parameter, the others come from the arguments.</summary>
    public SGD(IEnumerable<ParamGroup> param_groups, double lr, double momentum = 0, double dampening = 0, double weight_decay = 0,
               bool nesterov = false, bool maximize = false)
        : base(param_groups, new(StringComparer.Ordinal)
        {
            ["lr"] = lr, ["momentum"] = momentum, ["dampening"] = dampening, ["weight_decay"] = weight_decay,
            ["nesterov"] = nesterov, ["maximize"] = maximize,
        })
    {
    }

    private protected override string[] StateNames => s_state;

    private protected override void Validate(ParamGroup g)
    {
        if (!(g.lr >= 0)) throw Invalid($"Invalid learning rate: {ParamGroup.Format(g.lr)}");
        if (!(g.momentum >= 0)) throw Invalid($"Invalid momentum value: {ParamGroup.Format(g.momentum)}");
        if (!(g.weight_decay >= 0)) throw Invalid($"Invalid weight_decay value: {ParamGroup.Format(g.weight_decay)}");
        if (g.nesterov && (g.momentum <= 0 || g.dampening != 0))
            throw Invalid("Nesterov momentum requires a momentum and zero dampening");
    }

    private static TorchException Invalid(string message) => new(message, ErrorCategory.Value);

    private protected override unsafe void StepGroup(ParamGroup g)
    {
        var ps = ParameterHandles(g);
        var buffers = StateHandles(g, 0);
        fixed (IntPtr* p = ps)
        fixed (IntPtr* b = buffers)
            Check(dst_optim_sgd_step(p, ps.Length, b, g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov ? 1 : 0, g.maximize ? 1 : 0));
        Adopt(g, 0, buffers);
        GC.KeepAlive(g);
    }
}
