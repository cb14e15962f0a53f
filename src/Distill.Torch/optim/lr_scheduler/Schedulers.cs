using System.Text.Json;

namespace Distill.Torch;

// The single schedulers of PyTorch 1.13's torch.optim.lr_scheduler. Each computes exactly as PyTorch's
// Python does (same operations in the same order, in double precision), so the sequences match bit for bit.

/// <summary>Multiplies the learning rates by <see cref="gamma"/> every <see cref="step_size"/> epochs.</summary>
public sealed class StepLR : LRScheduler
{
    public StepLR(Optimizer optimizer, int step_size, double gamma = 0.1, int last_epoch = -1) : base(optimizer, last_epoch)
    {
        if (step_size < 1) throw new TorchException($"StepLR: step_size must be at least 1, got {step_size}", ErrorCategory.Value);
        this.step_size = step_size;
        this.gamma = gamma;
        initial_step();
    }

    public int step_size { get; private set; }
    public double gamma { get; private set; }

    private protected override double[] ChainedLr() =>
        last_epoch == 0 || last_epoch % step_size != 0 ? FromGroups(lr => lr) : FromGroups(lr => lr * gamma);

    private protected override double[] ClosedFormLr() => FromBase(b => b * Math.Pow(gamma, FloorDiv(last_epoch, step_size)));

    private protected override void WriteHyperParameters(Utf8JsonWriter w)
    {
        w.WriteNumber("step_size", step_size);
        w.WriteNumber("gamma", gamma);
    }

    private protected override void ReadHyperParameters(JsonElement e)
    {
        var size = Int(e, "step_size", step_size);
        if (size < 1) throw new TorchException($"StepLR.load_state_dict: step_size must be at least 1, got {size}", ErrorCategory.Value);
        gamma = Number(e, "gamma", gamma);
        step_size = size;
    }
}

/// <summary>Multiplies the learning rates by <see cref="gamma"/> at each milestone epoch (once per occurrence).</summary>
public sealed class MultiStepLR : LRScheduler
{
    private Dictionary<int, int> _milestones;

    public MultiStepLR(Optimizer optimizer, IEnumerable<int> milestones, double gamma = 0.1, int last_epoch = -1) : base(optimizer, last_epoch)
    {
        ArgumentNullException.ThrowIfNull(milestones);
        _milestones = milestones.GroupBy(m => m).ToDictionary(g => g.Key, g => g.Count());
        this.gamma = gamma;
        initial_step();
    }

    /// <summary>Each milestone with the number of times it was given (PyTorch's <c>Counter</c>).</summary>
    public IReadOnlyDictionary<int, int> milestones => _milestones;
    public double gamma { get; private set; }

    private protected override double[] ChainedLr() =>
        _milestones.TryGetValue(last_epoch, out var count) ? FromGroups(lr => lr * Math.Pow(gamma, count)) : FromGroups(lr => lr);

    private protected override double[] ClosedFormLr()
    {
        // bisect_right over the sorted milestones, repeats included.
        var passed = _milestones.Where(m => m.Key <= last_epoch).Sum(m => m.Value);
        return FromBase(b => b * Math.Pow(gamma, passed));
    }

    private protected override void WriteHyperParameters(Utf8JsonWriter w)
    {
        w.WriteStartObject("milestones");
        foreach (var (m, count) in _milestones.OrderBy(m => m.Key)) w.WriteNumber(m.ToString(System.Globalization.CultureInfo.InvariantCulture), count);
        w.WriteEndObject();
        w.WriteNumber("gamma", gamma);
    }

    private protected override void ReadHyperParameters(JsonElement e)
    {
        var milestones = _milestones;
        if (e.TryGetProperty("milestones", out var m))
        {
            if (m.ValueKind != JsonValueKind.Object) throw StateError("milestones", m, "an object of epoch: count");
            milestones = new Dictionary<int, int>();
            foreach (var p in m.EnumerateObject())
            {
                if (!int.TryParse(p.Name, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var epoch)
                    || p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out var count))
                    throw StateError("milestones", m, "an object of epoch: count");
                milestones[epoch] = count;
            }
        }
        gamma = Number(e, "gamma", gamma);
        _milestones = milestones;
    }
}

/// <summary>Multiplies the learning rates by <see cref="gamma"/> every epoch.</summary>
public sealed class ExponentialLR : LRScheduler
{
    public ExponentialLR(Optimizer optimizer, double gamma, int last_epoch = -1) : base(optimizer, last_epoch)
    {
        this.gamma = gamma;
        initial_step();
    }

    public double gamma { get; private set; }

    private protected override double[] ChainedLr() => last_epoch == 0 ? FromGroups(lr => lr) : FromGroups(lr => lr * gamma);

    private protected override double[] ClosedFormLr() => FromBase(b => b * Math.Pow(gamma, last_epoch));

    private protected override void WriteHyperParameters(Utf8JsonWriter w) => w.WriteNumber("gamma", gamma);

    private protected override void ReadHyperParameters(JsonElement e) => gamma = Number(e, "gamma", gamma);
}

/// <summary>Multiplies the learning rates by <see cref="factor"/> until epoch <see cref="total_iters"/>.</summary>
public sealed class ConstantLR : LRScheduler
{
    public ConstantLR(Optimizer optimizer, double factor = 1.0 / 3, int total_iters = 5, int last_epoch = -1) : base(optimizer, last_epoch)
    {
        if (factor > 1.0 || factor < 0) throw new TorchException("Constant multiplicative factor expected to be between 0 and 1.", ErrorCategory.Value);
        this.factor = factor;
        this.total_iters = total_iters;
        initial_step();
    }

    public double factor { get; private set; }
    public int total_iters { get; private set; }

    private protected override double[] ChainedLr()
    {
        if (last_epoch == 0) return FromGroups(lr => lr * factor);
        if (last_epoch != total_iters) return FromGroups(lr => lr);
        return FromGroups(lr => lr * (1.0 / factor));
    }

    private protected override double[] ClosedFormLr() =>
        FromBase(b => b * (factor + (last_epoch >= total_iters ? 1 : 0) * (1 - factor)));

    private protected override void WriteHyperParameters(Utf8JsonWriter w)
    {
        w.WriteNumber("factor", factor);
        w.WriteNumber("total_iters", total_iters);
    }

    private protected override void ReadHyperParameters(JsonElement e)
    {
        var f = Number(e, "factor", factor);
        total_iters = Int(e, "total_iters", total_iters);
        factor = f;
    }
}

/// <summary>
/// Scales the learning rates linearly from <see cref="start_factor"/> to <see cref="end_factor"/> over
/// <see cref="total_iters"/> epochs (a linear warm-up with the defaults end_factor = 1).
/// </summary>
public sealed class LinearLR : LRScheduler
{
    public LinearLR(Optimizer optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int total_iters = 5, int last_epoch = -1)
        : base(optimizer, last_epoch)
    {
        if (start_factor > 1.0 || start_factor < 0) throw new TorchException("Starting multiplicative factor expected to be between 0 and 1.", ErrorCategory.Value);
        if (end_factor > 1.0 || end_factor < 0) throw new TorchException("Ending multiplicative factor expected to be between 0 and 1.", ErrorCategory.Value);
        if (total_iters < 1) throw new TorchException($"LinearLR: total_iters must be at least 1, got {total_iters}", ErrorCategory.Value);
        this.start_factor = start_factor;
        this.end_factor = end_factor;
        this.total_iters = total_iters;
        initial_step();
    }

    public double start_factor { get; private set; }
    public double end_factor { get; private set; }
    public int total_iters { get; private set; }

    private protected override double[] ChainedLr()
    {
        if (last_epoch == 0) return FromGroups(lr => lr * start_factor);
        if (last_epoch > total_iters) return FromGroups(lr => lr);
        return FromGroups(lr => lr * (1.0 + (end_factor - start_factor) /
                                      (total_iters * start_factor + (last_epoch - 1) * (end_factor - start_factor))));
    }

    private protected override double[] ClosedFormLr() =>
        FromBase(b => b * (start_factor + (end_factor - start_factor) * Math.Min(total_iters, last_epoch) / total_iters));

    private protected override void WriteHyperParameters(Utf8JsonWriter w)
    {
        w.WriteNumber("start_factor", start_factor);
        w.WriteNumber("end_factor", end_factor);
        w.WriteNumber("total_iters", total_iters);
    }

    private protected override void ReadHyperParameters(JsonElement e)
    {
        var start = Number(e, "start_factor", start_factor);
        var end = Number(e, "end_factor", end_factor);
        total_iters = Int(e, "total_iters", total_iters);
        start_factor = start;
        end_factor = end;
    }
}

/// <summary>Decays the learning rates polynomially to zero over <see cref="total_iters"/> epochs.</summary>
public sealed class PolynomialLR : LRScheduler
{
    public PolynomialLR(Optimizer optimizer, int total_iters = 5, double power = 1.0, int last_epoch = -1) : base(optimizer, last_epoch)
    {
        if (total_iters < 1) throw new TorchException($"PolynomialLR: total_iters must be at least 1, got {total_iters}", ErrorCategory.Value);
        this.total_iters = total_iters;
        this.power = power;
        initial_step();
    }

    public int total_iters { get; private set; }
    public double power { get; private set; }

    private protected override double[] ChainedLr()
    {
        if (last_epoch == 0 || last_epoch > total_iters) return FromGroups(lr => lr);
        var decay = Math.Pow((1.0 - (double)last_epoch / total_iters) / (1.0 - (double)(last_epoch - 1) / total_iters), power);
        return FromGroups(lr => lr * decay);
    }

    private protected override double[] ClosedFormLr() =>
        FromBase(b => b * Math.Pow(1.0 - (double)Math.Min(total_iters, last_epoch) / total_iters, power));

    private protected override void WriteHyperParameters(Utf8JsonWriter w)
    {
        w.WriteNumber("total_iters", total_iters);
        w.WriteNumber("power", power);
    }

    private protected override void ReadHyperParameters(JsonElement e)
    {
        var p = Number(e, "power", power);
        total_iters = Int(e, "total_iters", total_iters);
        power = p;
    }
}

/// <summary>
/// Cosine annealing from each group's initial lr down to <see cref="eta_min"/> over <see cref="T_max"/>
/// epochs (and back up over the next T_max, as PyTorch's recursive form does).
/// </summary>
public sealed class CosineAnnealingLR : LRScheduler
{
    public CosineAnnealingLR(Optimizer optimizer, int T_max, double eta_min = 0, int last_epoch = -1) : base(optimizer, last_epoch)
    {
        if (T_max < 1) throw new TorchException($"CosineAnnealingLR: T_max must be at least 1, got {T_max}", ErrorCategory.Value);
        this.T_max = T_max;
        this.eta_min = eta_min;
        initial_step();
    }

    public int T_max { get; private set; }
    public double eta_min { get; private set; }

    private protected override double[] ChainedLr()
    {
        var groups = optimizer.param_groups;
        var result = new double[Math.Min(groups.Count, base_lrs.Count)];
        for (var i = 0; i < result.Length; i++)
        {
            var lr = groups[i].lr;
            var baseLr = base_lrs[i];
            if (last_epoch == 0)
                result[i] = lr;
            else if (step_count == 1 && last_epoch > 0)
                result[i] = eta_min + (baseLr - eta_min) * (1 + Math.Cos(last_epoch * Math.PI / T_max)) / 2;
            else if ((last_epoch - 1 - T_max) % (2 * T_max) == 0)
                result[i] = lr + (baseLr - eta_min) * (1 - Math.Cos(Math.PI / T_max)) / 2;
            else
                result[i] = (1 + Math.Cos(Math.PI * last_epoch / T_max)) / (1 + Math.Cos(Math.PI * (last_epoch - 1) / T_max)) * (lr - eta_min) + eta_min;
        }
        return result;
    }

    private protected override double[] ClosedFormLr() =>
        FromBase(b => eta_min + (b - eta_min) * (1 + Math.Cos(Math.PI * last_epoch / T_max)) / 2);

    private protected override void WriteHyperParameters(Utf8JsonWriter w)
    {
        w.WriteNumber("T_max", T_max);
        w.WriteNumber("eta_min", eta_min);
    }

    private protected override void ReadHyperParameters(JsonElement e)
    {
        var t = Int(e, "T_max", T_max);
        if (t < 1) throw new TorchException($"CosineAnnealingLR.load_state_dict: T_max must be at least 1, got {t}", ErrorCategory.Value);
        eta_min = Number(e, "eta_min", eta_min);
        T_max = t;
    }
}

/// <summary>
/// Sets each group's learning rate to its initial lr times a function of the epoch. The functions are
/// code: the state_dict does not hold them, so give the same ones when resuming.
/// </summary>
public sealed class LambdaLR : LRScheduler
{
    private readonly Func<int, double>[] _lambdas;

    public LambdaLR(Optimizer optimizer, Func<int, double> lr_lambda, int last_epoch = -1)
        : this(optimizer, Enumerable.Repeat(lr_lambda ?? throw new ArgumentNullException(nameof(lr_lambda)), optimizer?.param_groups.Count ?? 0).ToArray(), last_epoch)
    {
    }

    /// <summary>One function per parameter group.</summary>
    public LambdaLR(Optimizer optimizer, IReadOnlyList<Func<int, double>> lr_lambdas, int last_epoch = -1) : base(optimizer, last_epoch)
    {
        ArgumentNullException.ThrowIfNull(lr_lambdas);
        if (lr_lambdas.Count != optimizer.param_groups.Count)
            throw new TorchException($"Expected {optimizer.param_groups.Count} lr_lambdas, but got {lr_lambdas.Count}", ErrorCategory.Value);
        _lambdas = lr_lambdas.ToArray();
        initial_step();
    }

    private protected override double[] ChainedLr() =>
        base_lrs.Zip(_lambdas, (b, f) => b * f(last_epoch)).ToArray();
}
