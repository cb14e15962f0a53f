using System.Globalization;
using F = Distill.Torch.torch.nn.functional;

namespace Distill.Models;

/// <summary>
/// A normalised-softmax classifier head for face recognition: one weight row per class (Parameter
/// <c>weight</c>, shape (classes, embedding), Xavier-uniform as GKD's CosineMarginProduct), and logits
/// that are scaled cosines between the embedding and each class centre. <see cref="logits"/> is the
/// label-free s·cos (evaluation, and the teacher logits a distillation loss reads);
/// <see cref="margin_logits"/> and <see cref="forward"/> apply the head's margin to each row's target class.
/// <para>
/// The margin touches one column per row: the target cosines are gathered (B values), the margin is
/// applied to them and they are scattered back into s·cos, so no one-hot or other B×K temporary is
/// made besides the logits themselves. <see cref="apply_margin_"/> does it in place on logits already
/// computed (a tapped model uses it when the plain logits are not kept).
/// </para>
/// </summary>
public abstract class MarginHead : Module<Tensor, Tensor, Tensor>
{
    /// <summary>The head kinds <see cref="Create"/> accepts.</summary>
    public static readonly IReadOnlyList<string> Kinds = ["cosface", "arcface", "softmax"];

    protected MarginHead(int embedding, int classes, double s)
    {
        CifarResNet.Positive(embedding, nameof(embedding));
        CifarResNet.Positive(classes, nameof(classes));
        if (!(s > 0) || double.IsInfinity(s))
            throw new ArgumentOutOfRangeException(nameof(s), s, "the scale s must be a positive number (64 in ArcFace, CosFace and GKD)");
        this.embedding = embedding;
        this.classes = classes;
        this.s = s;
        using (var data = torch.empty([classes, embedding])) register_parameter("weight", new Parameter(data));
        torch.nn.init.xavier_uniform_(weight);
    }

    /// <summary>The class centres, (classes, embedding).</summary>
    public Parameter weight
    {
        get => GetParameter("weight")!;
        set => register_parameter("weight", value);
    }

    public int embedding { get; }
    public int classes { get; }

    /// <summary>The scale of the cosines (the radius of the hypersphere the logits live on).</summary>
    public double s { get; }

    /// <summary>
    /// A head by kind: "cosface" (<see cref="CosFaceHead"/>, margin <paramref name="m"/>), "arcface"
    /// (<see cref="ArcFaceHead"/>, angular margin <paramref name="m"/>, <paramref name="easy_margin"/>) or
    /// "softmax" (<see cref="NormSoftmaxHead"/>: no margin, <paramref name="m"/> is not used).
    /// </summary>
    public static MarginHead Create(string kind, int embedding, int classes, double s = 64, double m = 0.4, bool easy_margin = false) =>
        kind?.Trim().ToLowerInvariant() switch
        {
            "cosface" => new CosFaceHead(embedding, classes, s, m),
            "arcface" => new ArcFaceHead(embedding, classes, s, m, easy_margin),
            "softmax" => new NormSoftmaxHead(embedding, classes, s),
            _ => throw new ArgumentException($"unknown margin head '{kind}': valid kinds are {string.Join(", ", Kinds.Select(k => $"'{k}'"))}", nameof(kind)),
        };

    /// <summary>
    /// cos θ between each embedding and each class centre: normalize(embedding) · normalize(weight)ᵀ, (B, classes).
    /// When no gradient can reach the weight (under no_grad, or a frozen weight such as a distillation teacher's),
    /// normalize(weight) is kept and reused while the weight is unchanged (see <see cref="NormalizedWeight"/>).
    /// </summary>
    public Tensor cosine(Tensor embedding)
    {
        if (embedding.dim() != 2 || embedding.shape[1] != this.embedding)
            throw new ArgumentException($"{_get_name()} takes (batch, {this.embedding}) embeddings; got [{string.Join(", ", embedding.shape)}]", nameof(embedding));
        using var scope = torch.NewDisposeScope();
        var cos = F.normalize(embedding).mm(NormalizedWeight().t());
        return scope.MoveToOuter(cos);
    }

    // normalize(weight) kept for gradient-free passes, and what it was computed from
    private Tensor? _normalized;
    private Parameter? _normalizedFrom;
    private long _normalizedVersion;
    private long _normalizedAddress;

    /// <summary>
    /// normalize(weight), in the caller's dispose scope or, when no gradient can flow to the weight, the kept copy
    /// (not in any scope: the caller must not dispose it). The copy is reused while it was made from this same
    /// Parameter with the same version counter (every in-place change — an optimizer step, a load_state_dict copy —
    /// increments it), storage address, dtype and device; otherwise it is recomputed. A pass that needs the
    /// weight's gradient computes normalize(weight) in the graph and drops the copy, so a training student holds no
    /// second K×D tensor. A frozen teacher's class centres are thus normalised once, not on every step (the values
    /// are the same: the same normalize of the same weight).
    /// </summary>
    private Tensor NormalizedWeight()
    {
        var w = weight;
        if (torch.is_grad_enabled() && w.requires_grad)
        {
            DropNormalized();
            return F.normalize(w);
        }
        var version = w._version;
        var address = w.data_ptr();
        if (_normalized is null || !ReferenceEquals(_normalizedFrom, w) || _normalizedVersion != version || _normalizedAddress != address
            || _normalized.dtype != w.dtype || _normalized.device != w.device)
        {
            DropNormalized();
            using (torch.no_grad())
            {
                _normalized = F.normalize(w);
                _normalized.DetachFromDisposeScope();
            }
            _normalizedFrom = w;
            _normalizedVersion = version;
            _normalizedAddress = address;
        }
        return _normalized;
    }

    private void DropNormalized()
    {
        _normalized?.Dispose();
        _normalized = null;
        _normalizedFrom = null;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) DropNormalized();
        base.Dispose(disposing);
    }

    /// <summary>The label-free logits s·cos θ (B, classes): the normalised softmax used for evaluation.</summary>
    public Tensor logits(Tensor embedding) => cosine(embedding).mul_(s);

    /// <summary>The margin-applied logits s·(cos θ with the margin on each row's target class), from cosines.</summary>
    public virtual Tensor margin_logits(Tensor cosine, Tensor label)
    {
        using var scope = torch.NewDisposeScope();
        var index = TargetIndex(cosine, label);
        var output = (cosine * s).scatter_(1, index, target_logits(cosine.gather(1, index)));
        return scope.MoveToOuter(output);
    }

    /// <summary>
    /// Applies the margin in place to <paramref name="logits"/> = s·cos θ (as <see cref="logits"/> returns
    /// them) and returns them: only each row's target entry changes.
    /// </summary>
    public virtual Tensor apply_margin_(Tensor logits, Tensor label)
    {
        using var scope = torch.NewDisposeScope();
        var index = TargetIndex(logits, label);
        // Read the targets with index_select on the flattened logits, which (unlike gather) does not save
        // the logits for its backward, so the scatter_ below may overwrite them.
        var rows = logits.shape[0];
        var flat = torch.arange(0, rows * logits.shape[1], logits.shape[1], ScalarType.Int64, logits.device).add_(index.view(-1));
        var target = logits.reshape(-1).index_select(0, flat).view(-1, 1).div_(s);
        logits.scatter_(1, index, target_logits(target));
        return logits;
    }

    /// <summary>The margin-applied logits of embeddings: <c>margin_logits(cosine(embedding), label)</c>.</summary>
    public override Tensor forward(Tensor embedding, Tensor label)
    {
        using var scope = torch.NewDisposeScope();
        return scope.MoveToOuter(apply_margin_(logits(embedding), label));
    }

    /// <summary>The scaled, margin-applied logit of the target class from its cosine (a (B, 1) tensor each).</summary>
    protected abstract Tensor target_logits(Tensor cosine);

    internal static string Repr(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The labels as a (B, 1) int64 index, checked against the batch of <paramref name="scores"/>.</summary>
    protected Tensor TargetIndex(Tensor scores, Tensor label)
    {
        ArgumentNullException.ThrowIfNull(label);
        if (scores.dim() != 2 || scores.shape[1] != classes)
            throw new ArgumentException($"{_get_name()}: expected (batch, {classes}) scores; got [{string.Join(", ", scores.shape)}]");
        if (label.dim() != 1 || label.shape[0] != scores.shape[0])
            throw new ArgumentException($"{_get_name()}: the labels must be one class index per sample, shape [{scores.shape[0]}]; got [{string.Join(", ", label.shape)}]", nameof(label));
        if (label.is_floating_point() || label.dtype == ScalarType.Bool)
            throw new ArgumentException($"{_get_name()}: the labels must be integer class indices; got {label.dtype.Name()}", nameof(label));
        var index = label.dtype == ScalarType.Int64 ? label.view(-1, 1) : label.to(ScalarType.Int64).view(-1, 1);
        return index.device == scores.device ? index : index.to(scores.device);
    }

    public override string extra_repr() => $"embedding={embedding}, classes={classes}, s={Repr(s)}";
}

/// <summary>
/// CosFace (large margin cosine loss, Wang et al. 2018; GKD's CosineMarginProduct): the target logit is
/// s·(cos θ − m). GKD's teacher uses s = 64, m = 0.4.
/// </summary>
public sealed class CosFaceHead : MarginHead
{
    public CosFaceHead(int embedding, int classes, double s = 64, double m = 0.4) : base(embedding, classes, s)
    {
        if (!(m >= 0 && m <= 2))
            throw new ArgumentOutOfRangeException(nameof(m), m, "the CosFace margin m must be in [0, 2] (cosines lie in [-1, 1]; 0.35-0.4 is usual)");
        this.m = m;
    }

    public double m { get; }

    protected override Tensor target_logits(Tensor cosine) => cosine.sub(m).mul_(s);

    public override string extra_repr() => base.extra_repr() + $", m={Repr(m)}";
}

/// <summary>
/// ArcFace (additive angular margin, Deng et al. 2019): the target logit is s·cos(θ + m), computed as
/// cos θ·cos m − sin θ·sin m with sin θ = √clamp(1 − cos²θ, 0, 1). Where θ + m would pass π (cos θ ≤
/// cos(π − m)) it is s·(cos θ − m·sin(π − m)) instead, keeping the logit decreasing in θ (insightface's
/// convention); with <c>easy_margin</c> the margin applies only where cos θ &gt; 0.
/// </summary>
public sealed class ArcFaceHead : MarginHead
{
    private readonly double _cosM;
    private readonly double _sinM;
    private readonly double _threshold;
    private readonly double _fallback;

    public ArcFaceHead(int embedding, int classes, double s = 64, double m = 0.5, bool easy_margin = false) : base(embedding, classes, s)
    {
        if (!(m >= 0 && m < Math.PI / 2))
            throw new ArgumentOutOfRangeException(nameof(m), m, "the ArcFace margin m is an angle in [0, π/2) radians (0.5 is usual)");
        this.m = m;
        this.easy_margin = easy_margin;
        _cosM = Math.Cos(m);
        _sinM = Math.Sin(m);
        _threshold = Math.Cos(Math.PI - m);
        _fallback = Math.Sin(Math.PI - m) * m;
    }

    public double m { get; }
    public bool easy_margin { get; }

    protected override Tensor target_logits(Tensor cosine)
    {
        // sin θ = √clamp(1 − cos²θ, 0, 1), with a zero (not NaN) gradient where 1 − cos²θ rounds to 0 or
        // below (|cos θ| = 1): √ is taken of 1 there and the result masked, so no 0·∞ reaches autograd.
        var square = (1 - cosine.square()).clamp_(0.0, 1.0);
        var positive = square > 0;
        var sine = square.where(positive, 1.0).sqrt_().where(positive, 0.0);
        var phi = cosine * _cosM - sine.mul_(_sinM);
        var kept = easy_margin ? cosine > 0 : cosine > _threshold;
        var other = easy_margin ? cosine : cosine - _fallback;
        return torch.where(kept, phi, other).mul_(s);
    }

    public override string extra_repr() => base.extra_repr() + $", m={Repr(m)}, easy_margin={(easy_margin ? "True" : "False")}";
}

/// <summary>The normalised softmax (NormFace, Wang et al. 2017): s·cos θ for every class, no margin.</summary>
public sealed class NormSoftmaxHead : MarginHead
{
    public NormSoftmaxHead(int embedding, int classes, double s = 64) : base(embedding, classes, s) { }

    public override Tensor margin_logits(Tensor cosine, Tensor label)
    {
        using (torch.NewDisposeScope()) TargetIndex(cosine, label); // the margin heads' checks: a bad label fails whatever the head
        return cosine * s;
    }

    public override Tensor apply_margin_(Tensor logits, Tensor label)
    {
        using (torch.NewDisposeScope()) TargetIndex(logits, label);
        return logits;
    }

    protected override Tensor target_logits(Tensor cosine) => cosine * s;
}
