using Distill.Losses;
using static Distill.Torch.torch;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Losses.Benchmarks;

/// <summary>
/// The benchmark cases: one entry per loss. Each entry's name matches a <c>@case("name")</c> function in
/// tests/benchmarks/losses_bench.py, which builds inputs of the same shapes and distributions and
/// computes the same loss in plain PyTorch. To add a loss, add one entry here and one there. Inputs are
/// drawn from the libtorch generator seeded with 0; drawing them in the same order as the Python side
/// makes the two losses equal, which the program checks (column "same").
/// </summary>
internal static class LossCases
{
    // FPN levels P2..P6 of a 600x1000 VOC image (DeFeat's VOC setting), batch 2, 256 channels.
    private static readonly (long H, long W)[] FpnLevels = [(150, 250), (75, 125), (38, 63), (19, 32), (10, 16)];

    public static readonly LossCase[] All =
    [
        new("hinton_kd", "logits 128x1000, T=4", () =>
        {
            var s = (randn([128, 1000]) * 3).requires_grad_();
            var t = randn([128, 1000]) * 3;
            return CaseState.Backward(() => Classic.hinton_kd(s, t, 4.0), s, t);
        }),

        new("oim_loss", "256 RoIs x 256-d, LUT 5532 + queue 5000, s=10", () =>
        {
            var (x, labels, lut, queue) = OimInputs();
            return CaseState.Backward(() => PersonSearch.oim_loss(x, labels, lut, queue, 10.0), x, labels, lut, queue);
        }),

        new("lut_id_distill", "256 RoIs x 256-d, teacher LUT 5532 + queue 5000, s=10", () =>
        {
            var (x, labels, lut, queue) = OimInputs();
            return CaseState.Backward(() => PersonSearch.lut_id_distill(x, labels, lut, queue, 10.0), x, labels, lut, queue);
        }),

        new("oim_update", "LUT update + queue push, 256 RoIs (no backward)", () =>
        {
            var (x, labels, lut, queue) = OimInputs();
            x.requires_grad = false;
            var head = 0L;
            return CaseState.NoBackward(() =>
            {
                PersonSearch.oim_lut_update(lut, x, labels, 0.5);
                head = PersonSearch.oim_queue_push(queue, x, labels, head);
            }, x, labels, lut, queue);
        }),

        new("chen_soft_ce", "512 RoIs x 81 classes, w_bg=1.5", () =>
        {
            var s = (randn([512, 81]) * 2).requires_grad_();
            var t = randn([512, 81]) * 2;
            return CaseState.Backward(() => PersonSearch.chen_soft_ce(s, t), s, t);
        }),

        new("chen_cls_distill", "512 RoIs x 81 classes, mu=0.5, w_bg=1.5", () =>
        {
            var s = (randn([512, 81]) * 2).requires_grad_();
            var t = randn([512, 81]) * 2;
            var y = randint(0, 81, [512]);
            return CaseState.Backward(() => PersonSearch.chen_cls_distill(s, t, y), s, t, y);
        }),

        new("teacher_bounded_l2", "512 RoIs x 4 deltas, m=0", () =>
        {
            var y = randn([512, 4]);
            var s = (y + randn([512, 4]) * 0.5).requires_grad_();
            var t = y + randn([512, 4]) * 0.5;
            return CaseState.Backward(() => PersonSearch.teacher_bounded_l2(s, t, y), s, t, y);
        }),

        new("hint_l2", "5 FPN levels 2x256xHxW (600x1000 image), summed", () =>
        {
            var s = FpnLevels.Select(l => randn([2, 256, l.H, l.W]).requires_grad_()).ToArray();
            var t = FpnLevels.Select(l => randn([2, 256, l.H, l.W])).ToArray();
            return CaseState.Backward(() =>
            {
                var total = PersonSearch.hint_l2(s[0], t[0]);
                for (var i = 1; i < s.Length; i++) total = total + PersonSearch.hint_l2(s[i], t[i]);
                return total;
            }, [.. s, .. t]);
        }),
    ];

    /// <summary>CUHK-SYSU sizes: 40% labelled RoIs, 30% unlabelled persons, 30% background.</summary>
    private static (Tensor X, Tensor Labels, Tensor Lut, Tensor Queue) OimInputs()
    {
        const long n = 256, d = 256, identities = 5532, q = 5000;
        var x = randn([n, d]).requires_grad_();
        var u = rand([n]);
        var ids = randint(0, identities, [n]);
        var labels = where(u < 0.4, ids, where(u < 0.7, PersonSearch.Unlabelled, PersonSearch.Background));
        var lut = normalize(randn([identities, d]), 2.0, 1);
        var queue = normalize(randn([q, d]), 2.0, 1);
        return (x, labels, lut, queue);
    }
}

/// <summary>A benchmark entry: the name shared with the Python side, a description of the inputs, the setup.</summary>
internal sealed record LossCase(string Name, string Inputs, Func<CaseState> Setup);

/// <summary>The inputs of a case (owned, outside any dispose scope) and the step to time.</summary>
internal sealed class CaseState : IDisposable
{
    private readonly Tensor[] _inputs;
    private readonly Func<Tensor>? _loss;
    private readonly Action? _action;

    private CaseState(Tensor[] inputs, Func<Tensor>? loss, Action? action)
    {
        _inputs = inputs;
        _loss = loss;
        _action = action;
        foreach (var t in inputs) t.DetachFromDisposeScope();
    }

    /// <summary>A loss: each step is forward + backward, then the input gradients are dropped.</summary>
    public static CaseState Backward(Func<Tensor> loss, params Tensor[] inputs) => new(inputs, loss, null);

    /// <summary>A step without backward (table updates).</summary>
    public static CaseState NoBackward(Action action, params Tensor[] inputs) => new(inputs, null, action);

    /// <summary>The loss on the fresh inputs (null for steps without a loss), to compare with PyTorch's.</summary>
    public double? Value()
    {
        if (_loss is null) return null;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        return _loss().to(ScalarType.Float64).item<double>();
    }

    public void Step()
    {
        using (var scope = torch.NewDisposeScope())
        {
            if (_loss is not null) _loss().backward();
            else _action!();
        }
        if (_loss is null) return;
        foreach (var t in _inputs)
            if (t.requires_grad) t.zero_grad(set_to_none: true);
    }

    public void Dispose()
    {
        foreach (var t in _inputs) t.Dispose();
    }
}
