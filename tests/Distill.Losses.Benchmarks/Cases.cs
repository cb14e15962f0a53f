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

    private static readonly int[] Strides = [4, 8, 16, 32, 64];

    // COCO images padded to 800x1344 (Global Knowledge's setting): P2..P6.
    private static readonly (long H, long W)[] CocoLevels = [(200, 336), (100, 168), (50, 84), (25, 42), (13, 21)];

    // Wide-ResNet groups on CIFAR (the AT paper's WRN-16-1 student, WRN-16-2 teacher): channels and size.
    private static readonly (long Student, long Teacher, long Size)[] WrnGroups = [(16, 32, 32), (32, 64, 16), (64, 128, 8)];

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

        // ---- classic baselines (continued) ----

        new("fitnet_mse", "CIFAR hint 64x128x16x16, 'mean'", () =>
        {
            var s = randn([64, 128, 16, 16]).requires_grad_();
            var t = randn([64, 128, 16, 16]);
            return CaseState.Backward(() => Classic.fitnet_mse(s, t), s, t);
        }),

        new("cross_entropy", "logits 256x1000, label smoothing 0.1", () =>
        {
            var s = (randn([256, 1000]) * 3).requires_grad_();
            var y = randint(0, 1000, [256]);
            return CaseState.Backward(() => Classic.cross_entropy(s, y, label_smoothing: 0.1), s, y);
        }),

        new("attention_transfer", "3 WRN groups, B=128, s 16/32/64 ch, t 32/64/128", () =>
        {
            var s = new Tensor[WrnGroups.Length];
            var t = new Tensor[WrnGroups.Length];
            for (var g = 0; g < WrnGroups.Length; g++)
            {
                var (cs, ct, hw) = WrnGroups[g];
                s[g] = randn([128, cs, hw, hw]).requires_grad_();
                t[g] = randn([128, ct, hw, hw]);
            }
            return CaseState.Backward(() =>
            {
                var total = Classic.attention_transfer(s[0], t[0]);
                for (var g = 1; g < s.Length; g++) total = total + Classic.attention_transfer(s[g], t[g]);
                return total;
            }, [.. s, .. t]);
        }),

        new("embedding_distill", "embeddings 128x512", () =>
        {
            var s = randn([128, 512]).requires_grad_();
            var t = randn([128, 512]);
            return CaseState.Backward(() => Classic.embedding_distill(s, t), s, t);
        }),

        new("cosine_embedding_distill", "embeddings 128x512", () =>
        {
            var s = randn([128, 512]).requires_grad_();
            var t = randn([128, 512]);
            return CaseState.Backward(() => Classic.cosine_embedding_distill(s, t), s, t);
        }),

        new("dkd", "logits 256x1000, alpha .5, beta .5, T=1 (ImageNet)", () =>
        {
            var s = (randn([256, 1000]) * 3).requires_grad_();
            var t = randn([256, 1000]) * 3;
            var y = randint(0, 1000, [256]);
            return CaseState.Backward(() => Classic.dkd(s, t, y, alpha: 0.5, beta: 0.5, temperature: 1.0), s, t, y);
        }),

        // ---- GKD ----

        new("gkd_topk", "logits 128x10000, top-n 1000, T=4", () => GkdCase(128, 10_000, "topk", n: 1000)),

        new("gkd_topk_face", "logits 64x85742 (MS1MV2), top-n 10000, T=4", () => GkdCase(64, 85_742, "topk", n: 10_000)),

        new("gkd_adaptive", "logits 128x10000, rate .93, f=100, beta 4", () => GkdCase(128, 10_000, "adaptive", beta: 4.0)),

        new("gkd_cumprob", "logits 128x10000, teacher cum. prob .93, T=4", () => GkdCase(128, 10_000, "cumprob")),

        // ---- DeFeat and Global Knowledge ----

        new("defeat_feature", "5 FPN levels 2x256xHxW (VOC 600x1000), 4 boxes/img", () =>
        {
            var s = FpnLevels.Select(l => randn([2, 256, l.H, l.W]).requires_grad_()).ToArray();
            var t = FpnLevels.Select(l => randn([2, 256, l.H, l.W])).ToArray();
            var boxes = new[] { RandomBoxes(4, 1000, 600), RandomBoxes(4, 1000, 600) };
            var masks = DeFeat.defeat_gt_masks(boxes, Strides, Sizes(FpnLevels));
            return CaseState.Backward(() => DeFeat.defeat_feature(s, t, masks), [.. s, .. t, .. masks, .. boxes]);
        }),

        new("defeat_cls", "512 RoIs x 81 classes, 25% positive, T=1", () =>
        {
            var s = (randn([512, 81]) * 2).requires_grad_();
            var t = randn([512, 81]) * 2;
            var positive = rand([512]) < 0.25;
            randint(0, 80, [512]).Dispose(); // the Python side draws the positives' classes here
            return CaseState.Backward(() => DeFeat.defeat_cls(s, t, positive), s, t, positive);
        }),

        new("global_knowledge_loss", "256 instances x 256-d, 800 prototypes (80 cls x 10)", () =>
        {
            var s = randn([256, 256]).requires_grad_();
            var t = randn([256, 256]);
            var ps = randn([800, 256]);
            var pt = randn([800, 256]);
            var w = rand([256]);
            return CaseState.Backward(() => GlobalKnowledge.global_knowledge_loss(s, t, ps, pt, w), s, t, ps, pt, w);
        }),

        new("gk_point_kd", "5 FPN levels 2x256xHxW (COCO 800x1344), 7 boxes/img", () =>
        {
            var s = CocoLevels.Select(l => randn([2, 256, l.H, l.W]).requires_grad_()).ToArray();
            var t = CocoLevels.Select(l => randn([2, 256, l.H, l.W])).ToArray();
            var boxes = new Tensor[2];
            var weights = new Tensor[2];
            for (var n = 0; n < 2; n++)
            {
                boxes[n] = RandomBoxes(7, 1333, 800);
                weights[n] = 1 - rand([7]) * 0.3;
            }
            var masks = GlobalKnowledge.gk_weight_masks(boxes, weights, Strides, Sizes(CocoLevels));
            return CaseState.Backward(() => GlobalKnowledge.gk_point_kd(s, t, masks), [.. s, .. t, .. masks, .. boxes, .. weights]);
        }),

        new("gk_soft_kd", "256 positive RoIs x 81 classes, T=2, weighted", () =>
        {
            var s = (randn([256, 81]) * 2).requires_grad_();
            var t = randn([256, 81]) * 2;
            var w = 1 - rand([256]) * 0.3;
            return CaseState.Backward(() => GlobalKnowledge.gk_soft_kd(s, t, w), s, t, w);
        }),

        new("pgm_select_prototypes", "PGM: 800 instances x 256-d, K=10, float64 (no backward)", () =>
        {
            const long n = 800, dim = 256, modes = 5;
            var modesS = randn([modes, dim]);
            var modesT = randn([modes, dim]);
            var assign = randint(0, modes, [n]);
            var spread = rand([n, 1]) * 0.4 + 0.3;
            var xs = modesS.index_select(0, assign) + spread * randn([n, dim]);
            var xt = modesT.index_select(0, assign) + spread * randn([n, dim]);
            var order = arange(1, 11, ScalarType.Float64);
            // summary of the picks (order-sensitive), compared with the Python side's
            return CaseState.Forward(() => (GlobalKnowledge.pgm_select_prototypes(xs, xt).indices.to(ScalarType.Float64) * order).sum(), xs, xt, order);
        }),
    ];

    private static (long Height, long Width)[] Sizes((long H, long W)[] levels) => levels.Select(l => (l.H, l.W)).ToArray();

    /// <summary>Boxes (x1, y1, x2, y2) inside a width x height image, at least 24 px, up to 65% of each side.</summary>
    private static Tensor RandomBoxes(long count, long width, long height)
    {
        using var scope = torch.NewDisposeScope();
        var u = rand([count, 4]);
        var x1 = u.select(1, 0) * (width - 100);
        var y1 = u.select(1, 1) * (height - 100);
        var x2 = (x1 + 24 + u.select(1, 2) * (width * 0.65)).clamp_max(width - 1);
        var y2 = (y1 + 24 + u.select(1, 3) * (height * 0.65)).clamp_max(height - 1);
        return scope.MoveToOuter(stack([x1, y1, x2, y2], 1));
    }

    /// <summary>
    /// Face-recognition logits (B, K): N(0, 3²) with the labelled class raised by a margin of 20, as in a
    /// trained model, for both networks; the case runs gkd_loss with the given rule.
    /// </summary>
    private static CaseState GkdCase(long batch, long classes, string group, long n = 10_000, double beta = 8.0)
    {
        var y = randint(0, classes, [batch]);
        var target = zeros([batch, classes]).scatter_(1, y.unsqueeze(1), 20.0);
        var s = (randn([batch, classes]) * 3 + target).requires_grad_();
        var t = randn([batch, classes]) * 3 + target;
        return CaseState.Backward(() => Gkd.gkd_loss(s, t, y, beta: beta, group: group, n: n), s, t, y);
    }

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

    private readonly bool _backward;

    private CaseState(Tensor[] inputs, Func<Tensor>? loss, Action? action, bool backward = true)
    {
        _inputs = inputs;
        _loss = loss;
        _action = action;
        _backward = backward;
        foreach (var t in inputs) t.DetachFromDisposeScope();
    }

    /// <summary>A loss: each step is forward + backward, then the input gradients are dropped.</summary>
    public static CaseState Backward(Func<Tensor> loss, params Tensor[] inputs) => new(inputs, loss, null);

    /// <summary>A step without backward (table updates).</summary>
    public static CaseState NoBackward(Action action, params Tensor[] inputs) => new(inputs, null, action);

    /// <summary>A step without backward whose result (a scalar summary) is compared with the Python side's.</summary>
    public static CaseState Forward(Func<Tensor> forward, params Tensor[] inputs) => new(inputs, forward, null, backward: false);

    /// <summary>The loss (or forward summary) on the fresh inputs (null for plain actions), to compare with PyTorch's.</summary>
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
            if (_loss is null) _action!();
            else if (_backward) _loss().backward();
            else _loss();
        }
        if (_loss is null || !_backward) return;
        foreach (var t in _inputs)
            if (t.requires_grad) t.zero_grad(set_to_none: true);
    }

    public void Dispose()
    {
        foreach (var t in _inputs) t.Dispose();
    }
}
