using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

/// <summary>
/// Loss scaling for float16 training (PyTorch's <c>GradScaler</c>, same defaults and rules): the loss is multiplied by
/// <see cref="Scale"/> before backward so small float16 gradients do not flush to zero; <see cref="unscale_"/> divides
/// the gradients back (before clipping) and notes an infinity or NaN; <see cref="step"/> skips the optimizer step when
/// one was found; <see cref="update"/> halves the scale after such a step and doubles it after
/// <c>growth_interval</c> clean ones.
/// </summary>
public sealed class GradScaler
{
    private readonly HashSet<Optimizer> _unscaled = new(ReferenceEqualityComparer.Instance);
    private bool _foundInf;

    public GradScaler(double init_scale = 65536.0, double growth_factor = 2.0, double backoff_factor = 0.5, int growth_interval = 2000, bool enabled = true)
    {
        if (!(init_scale > 0)) throw new ArgumentOutOfRangeException(nameof(init_scale), init_scale, "the initial scale must be positive");
        if (!(growth_factor > 1)) throw new ArgumentOutOfRangeException(nameof(growth_factor), growth_factor, "the growth factor must be above 1");
        if (!(backoff_factor > 0 && backoff_factor < 1)) throw new ArgumentOutOfRangeException(nameof(backoff_factor), backoff_factor, "the backoff factor must be in (0, 1)");
        if (growth_interval < 1) throw new ArgumentOutOfRangeException(nameof(growth_interval), growth_interval, "the growth interval must be at least 1");
        Scale = init_scale;
        GrowthFactor = growth_factor;
        BackoffFactor = backoff_factor;
        GrowthInterval = growth_interval;
        Enabled = enabled;
    }

    public bool Enabled { get; }

    /// <summary>The current loss scale.</summary>
    public double Scale { get; private set; }

    /// <summary>Clean steps since the scale last changed.</summary>
    public int GrowthTracker { get; private set; }

    public double GrowthFactor { get; }
    public double BackoffFactor { get; }
    public int GrowthInterval { get; }

    /// <summary>The loss times the scale (the loss itself when disabled).</summary>
    public Tensor scale(Tensor loss) => Enabled ? loss * Scale : loss.alias();

    /// <summary>Divides the gradients of <paramref name="optimizer"/>'s parameters by the scale, once per step, noting a non-finite one.</summary>
    public unsafe void unscale_(Optimizer optimizer)
    {
        if (!Enabled || !_unscaled.Add(optimizer)) return;
        var grads = optimizer.param_groups.SelectMany(g => g.@params).Select(p => p.grad).OfType<Tensor>().ToList();
        try
        {
            foreach (var group in grads.GroupBy(g => g.device))
            {
                using var found = torch.zeros([1], ScalarType.Float32, group.Key);
                using var inverse = torch.full([1], 1.0 / Scale, ScalarType.Float64, group.Key);
                var list = group.ToList();
                var handles = TensorLists.Handles(list);
                fixed (IntPtr* p = handles) Check(dst_amp_unscale_(p, handles.Length, found.Handle, inverse.Handle));
                GC.KeepAlive(list);
                if (found.item<float>() != 0) _foundInf = true;
            }
        }
        finally
        {
            foreach (var g in grads) g.Dispose();
        }
    }

    /// <summary>Unscales if not done yet and steps the optimizer unless a gradient was not finite; returns whether it stepped.</summary>
    public bool step(Optimizer optimizer)
    {
        if (!Enabled)
        {
            optimizer.step();
            return true;
        }
        unscale_(optimizer);
        if (_foundInf) return false;
        optimizer.step();
        return true;
    }

    /// <summary>After the step: backs the scale off when this step found a non-finite gradient, grows it after enough clean ones.</summary>
    public void update()
    {
        if (!Enabled) return;
        if (_foundInf)
        {
            Scale *= BackoffFactor;
            GrowthTracker = 0;
        }
        else if (++GrowthTracker == GrowthInterval)
        {
            Scale *= GrowthFactor;
            GrowthTracker = 0;
        }
        _foundInf = false;
        _unscaled.Clear();
    }

    /// <summary>The scale and the growth tracker, to checkpoint.</summary>
    public (double Scale, int GrowthTracker) state_dict() => (Scale, GrowthTracker);

    public void load_state_dict((double Scale, int GrowthTracker) state)
    {
        if (!(state.Scale > 0)) throw new ArgumentOutOfRangeException(nameof(state), state.Scale, "a saved scale must be positive");
        Scale = state.Scale;
        GrowthTracker = state.GrowthTracker;
    }
}
