using Distill.Detection.RoiHeads;

namespace Distill.Detection;

/// <summary>
/// The base of the detection models: a <see cref="Module"/> (not a one-tensor chain like <c>TappedModel</c>) whose
/// <see cref="forward_taps"/> runs one pass over an image batch, with or without ground truth, and keeps any set of
/// taps (each a single tensor, so the generated <c>Taps</c>/<c>Outputs</c> types and the DSL's tap references work as for
/// classifiers); <see cref="detect"/> returns each image's detections; <see cref="roi_head_on"/> runs this model's RoI
/// pooling and box head on other boxes with the features a forward pass kept.
/// <para>
/// Images: [N, 3, H, W] uint8 (0..255, as the data loaders collate them) or floating point in 0..1. Ground truth:
/// per image boxes [K_i, 4] (x1, y1, x2, y2, original pixels, K_i may be 0) and labels [K_i] int64 in 1..classes
/// (0 is the background class; see docs/detection.md).
/// </para>
/// </summary>
public abstract class DetectionModel<TTaps, TOutputs> : Module
    where TTaps : struct, Enum
    where TOutputs : TapOutputs<TTaps>, new()
{
    protected DetectionModel()
    {
        if (TapSet<TTaps>.Problem is { } problem) throw new InvalidOperationException(problem);
    }

    /// <summary>The number of foreground classes (the predictor has classes + 1 outputs).</summary>
    public abstract int Classes { get; }

    /// <summary>
    /// Runs the model once and keeps the requested taps; everything else is freed. In training mode
    /// <paramref name="boxes"/> and <paramref name="labels"/> are required (the losses and sampled RoIs come from them);
    /// in evaluation mode they are optional and, when given, produce the same target taps and losses (with the
    /// evaluation-mode proposal counts). The kept tensors belong to the returned object (dispose it, or <c>Take</c> a
    /// tap) and to the caller's dispose scope. Bad ground truth is an <see cref="ArgumentException"/> naming the image.
    /// </summary>
    public TOutputs forward_taps(Tensor images, TTaps taps, IReadOnlyList<Tensor>? boxes = null, IReadOnlyList<Tensor>? labels = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        var bits = TapSet<TTaps>.Bits(taps);
        if ((bits & ~TapSet<TTaps>.AllBits) != 0)
            throw new ArgumentException($"{taps} includes bits that are no tap of {_get_name()}", nameof(taps));
        if ((boxes is null) != (labels is null))
            throw new ArgumentException("give both boxes and labels (one tensor of each per image), or neither");
        if (training && boxes is null)
            throw new ArgumentException($"{_get_name()} is in training mode: forward_taps needs the ground-truth boxes and labels of every image (call eval() for inference)", nameof(boxes));
        var outputs = new TOutputs { Requested = taps };
        try
        {
            using var scope = torch.NewDisposeScope();
            Run(images, outputs, boxes, labels, wantDetections: false);
            foreach (var tap in Enum.GetValues<TTaps>())
            {
                var b = TapSet<TTaps>.Bits(tap);
                if (b == 0 || (b & (b - 1)) != 0 || (bits & b) == 0) continue;
                var t = outputs.Get(tap) ?? throw new InvalidOperationException($"{_get_name()}.forward_taps did not produce the requested tap {tap}");
                scope.MoveToOuter(t);
            }
        }
        catch
        {
            outputs.Dispose();
            throw;
        }
        return outputs;
    }

    /// <summary>
    /// Each image's detections in its original coordinates (evaluation semantics whatever the mode: the model is switched
    /// to evaluation for the call and back, without gradients).
    /// </summary>
    public IReadOnlyList<Detections> detect(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var wasTraining = training;
        if (wasTraining) eval();
        try
        {
            using var noGrad = torch.no_grad();
            using var outputs = new TOutputs { Requested = default };
            using var scope = torch.NewDisposeScope();
            var detections = Run(images, outputs, null, null, wantDetections: true)!;
            foreach (var d in detections) scope.MoveToOuter(new[] { d.boxes, d.scores, d.labels });
            return detections;
        }
        finally
        {
            if (wasTraining) train();
        }
    }

    /// <summary>
    /// This model's RoI pooling, box head and predictor on <paramref name="rois"/> [R, 5] (batch index, x1, y1, x2, y2 in
    /// the network-input pixels of <paramref name="outputs"/>' batch, like the <c>proposals</c> and <c>sampled_rois</c>
    /// taps), using the pyramid levels <paramref name="outputs"/> kept: request the pooled levels (see
    /// <see cref="PooledLevelTaps"/>) in that forward pass. A teacher's RoIs can be used when both models resize images the
    /// same way (same min_size, max_size and size_divisible). Gradients flow into this model as usual.
    /// </summary>
    public RoiHeadOutputs roi_head_on(TOutputs outputs, Tensor rois)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(rois);
        if (PooledLevelTaps.Count == 0) throw new NotSupportedException($"{_get_name()} has no RoI head");
        if (outputs.Context is not (long h, long w)[] sizes)
            throw new ArgumentException("these outputs do not come from this kind of model's forward_taps", nameof(outputs));
        var levels = new List<Tensor>();
        foreach (var tap in PooledLevelTaps)
            levels.Add(outputs.Get(tap) ?? throw new ArgumentException($"roi_head_on pools from the pyramid: request {string.Join(" | ", PooledLevelTaps)} in the forward pass whose outputs are given", nameof(outputs)));
        if (rois.dim() != 2 || rois.shape[1] != 5)
            throw new ArgumentException($"rois must be [R, 5] rows (batch index, x1, y1, x2, y2), got [{string.Join(", ", rois.shape)}]", nameof(rois));
        return RunHead(levels, rois.to(levels[0].dtype), sizes);
    }

    /// <summary>
    /// The RoI head's taps on <paramref name="rois"/> as this model's outputs: the requested ones of <see cref="GivenRoiTaps"/>
    /// (RoI features, embedding, logits, deltas), so the rows line up with <paramref name="rois"/> — the student's head on
    /// the teacher's sampled RoIs (DeFeat), or a teacher's on the student's (Global Knowledge). What the generated loss calls
    /// for <c>student.roi_logits@teacher.sampled_rois</c>; the forward pass of <paramref name="outputs"/> requested
    /// <see cref="RoiHeadInputs"/>.
    /// </summary>
    public TOutputs roi_head_on(TOutputs outputs, Tensor rois, TTaps taps)
    {
        var bits = TapSet<TTaps>.Bits(taps);
        var extra = bits & ~TapSet<TTaps>.Bits(GivenRoiTaps);
        if (extra != 0)
            throw new ArgumentException($"{TapSet<TTaps>.FromBits(extra)} cannot be computed on given RoIs (only {GivenRoiTaps} can: the rest needs this model's own sampling)", nameof(taps));
        var result = new TOutputs { Requested = taps, Context = outputs.Context };
        try
        {
            var head = roi_head_on(outputs, rois);
            KeepRoiHead(result, head);
            foreach (var t in new[] { head.features, head.embedding, head.logits, head.deltas })
                if (!result.Holds(t)) t.Dispose();
        }
        catch
        {
            result.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>The taps of the pyramid levels the RoI pooling reads (what <see cref="roi_head_on"/> needs); none without a RoI head.</summary>
    public virtual IReadOnlyList<TTaps> PooledLevelTaps => [];

    /// <summary>The union of <see cref="PooledLevelTaps"/>: what a forward pass keeps so that <see cref="roi_head_on"/> can run on its outputs.</summary>
    public TTaps RoiHeadInputs
    {
        get
        {
            long bits = 0;
            foreach (var t in PooledLevelTaps) bits |= TapSet<TTaps>.Bits(t);
            return TapSet<TTaps>.FromBits(bits);
        }
    }

    /// <summary>The taps the RoI head computes from RoIs alone (declared <c>[Tap(..., OnGivenRois = true)]</c>); none without a RoI head.</summary>
    public virtual TTaps GivenRoiTaps => default;

    /// <summary>Keeps the requested ones of a RoI head's outputs as taps (models with a RoI head override it).</summary>
    protected virtual void KeepRoiHead(TOutputs outputs, RoiHeadOutputs head) =>
        throw new NotSupportedException($"{_get_name()} has no RoI head");

    /// <summary>Stores <paramref name="tensor"/> as <paramref name="tap"/> when it was requested; returns whether it was.</summary>
    protected static bool Keep(TOutputs outputs, TTaps tap, Tensor tensor)
    {
        if (!Wants(outputs, tap)) return false;
        outputs.Set(tap, tensor);
        return true;
    }

    protected static bool Wants(TOutputs outputs, TTaps tap) => (TapSet<TTaps>.Bits(outputs.Requested) & TapSet<TTaps>.Bits(tap)) != 0;

    protected static void SetContext(TOutputs outputs, (long h, long w)[] image_sizes) => outputs.Context = image_sizes;

    /// <summary>
    /// The pass: keep requested taps with <see cref="Keep"/> (inside the caller's scope: anything not kept is freed when
    /// it ends), record the image sizes with <see cref="SetContext"/>, return detections when asked.
    /// </summary>
    protected abstract List<Detections>? Run(Tensor images, TOutputs outputs, IReadOnlyList<Tensor>? boxes, IReadOnlyList<Tensor>? labels, bool wantDetections);

    /// <summary>The RoI pooling + box head + predictor on given RoIs (models with a RoI head override it).</summary>
    protected virtual RoiHeadOutputs RunHead(IReadOnlyList<Tensor> levels, Tensor rois, (long h, long w)[] image_sizes) =>
        throw new NotSupportedException($"{_get_name()} has no RoI head");
}
