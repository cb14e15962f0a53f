using System.Globalization;
using Distill.Detection.Backbones;
using Distill.Detection.RoiHeads;
using Distill.Detection.Rpn;
using Distill.Losses;
using F = Distill.Torch.torch.nn.functional;

namespace Distill.Detection;

/// <summary>One image's person detections in its ORIGINAL pixels: boxes [D, 4], scores [D], L2-normalised embeddings [D, E]; best first.</summary>
public sealed class PersonDetections : IDisposable
{
    public PersonDetections(Tensor boxes, Tensor scores, Tensor embeddings)
    {
        this.boxes = boxes;
        this.scores = scores;
        this.embeddings = embeddings;
    }

    public Tensor boxes { get; }
    public Tensor scores { get; }
    public Tensor embeddings { get; }

    public void Dispose()
    {
        boxes.Dispose();
        scores.Dispose();
        embeddings.Dispose();
    }
}

/// <summary>
/// An OIM end-to-end person-search network (Xiao et al., CVPR 2017) on <see cref="FasterRcnnC4"/>'s parts: the C4 body, the RPN
/// on C4, RoIAlign + layer4 + average pooling as the box head with a person/background predictor, and an identity head
/// (<c>embedding_head</c>: a linear projection of the C5 feature to <c>embedding_dim</c> and a BatchNorm1d, as the NAE/SeqNet
/// reimplementations) whose output, L2-normalised, is the re-identification feature. The OIM state lives in <c>oim</c> as
/// buffers (saved with the model): the labelled look-up table <c>oim.lut</c> [identities, embedding_dim], the circular queue of
/// unlabelled persons <c>oim.queue</c> [queue_size, embedding_dim] and its head <c>oim.head</c>.
/// <para>
/// Ground truth: per image the person boxes and their identities (<c>person_id</c>: 0 .. identities − 1 labelled, −1 a person
/// without an identity), given to <see cref="DetectionModel{TTaps,TOutputs}.forward_taps"/> in place of class labels (every box is
/// a person, class 1). Sampled RoIs carry the identity of the box they match (−2 for background) in <c>roi_person_id</c>.
/// A training pass that computes the identity head updates the tables after reading them, as OIM's backward does:
/// v_l ← normalize(m·v_l + (1 − m)·x̂) for every labelled RoI (momentum m), and x̂ of every unlabelled RoI into the queue. The
/// taps <c>oim_lut</c>/<c>oim_queue</c> and <c>loss_oim</c> see the tables before the update.
/// </para>
/// <para>
/// Search (<see cref="search"/>): the detections as Faster R-CNN makes them, then the RoI head run again on each detected box for
/// its embedding (OIM's test-time re-pooling). Queries: <see cref="embed_boxes"/> on the given boxes.
/// </para>
/// </summary>
[DistillModel(Task = "detection", Input = "N,3,H,W")]
[Tap("stage1", TensorKind.FeatureMap, "N, *, (H+3)/4, (W+3)/4")]
[Tap("stage2", TensorKind.FeatureMap, "N, *, (H+7)/8, (W+7)/8")]
[Tap("stage3", TensorKind.FeatureMap, "N, *, (H+15)/16, (W+15)/16", Description = "C4: the RPN's and the pooler's feature map")]
[Tap("rpn_logits", TensorKind.Any, "N, *")]
[Tap("rpn_deltas", TensorKind.Any, "N, *, 4")]
[Tap("proposals", TensorKind.Boxes, "P, 5", Description = "RPN proposals: rows (batch index, x1, y1, x2, y2)")]
[Tap("sampled_rois", TensorKind.Boxes, "R, 5", Description = "the RoIs the box head ran on, sampled with the ground truth", Needs = "boxes,person_id")]
[Tap("roi_labels", TensorKind.Labels, "R", Description = "1 person, 0 background", Needs = "boxes,person_id", Rois = "sampled_rois")]
[Tap("roi_positive", TensorKind.Mask, "R", Needs = "boxes,person_id", Rois = "sampled_rois")]
[Tap("roi_matched_boxes", TensorKind.Boxes, "R, 4", Needs = "boxes,person_id", Rois = "sampled_rois")]
[Tap("roi_targets", TensorKind.Any, "R, 4", Needs = "boxes,person_id", Rois = "sampled_rois")]
[Tap("roi_features", TensorKind.FeatureMap, "R, *, roi_output_size, roi_output_size", Needs = "boxes,person_id", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_embedding", TensorKind.Embedding, "R, *", Description = "layer4 + average pooling (C5)", Needs = "boxes,person_id", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_logits", TensorKind.Logits, "R, 2", Needs = "boxes,person_id", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_deltas", TensorKind.Any, "R, 8", Needs = "boxes,person_id", Rois = "sampled_rois", OnGivenRois = true)]
[Tap("roi_person_embedding", TensorKind.Embedding, "R, embedding_dim", Description = "the identity head's output (not normalised)", Needs = "boxes,person_id", Rois = "sampled_rois")]
[Tap("roi_person_id", TensorKind.Labels, "R", Description = "identity of the matched box: 0.. labelled, -1 unlabelled person, -2 background", Needs = "boxes,person_id", Rois = "sampled_rois")]
[Tap("oim_lut", TensorKind.Table, "identities, embedding_dim", Description = "OIM's labelled look-up table before this pass's update", Needs = "boxes,person_id")]
[Tap("oim_queue", TensorKind.Table, "queue_size, embedding_dim", Description = "OIM's queue of unlabelled persons before this pass's update", Needs = "boxes,person_id")]
[Tap("box_embedding", TensorKind.Embedding, "G, embedding_dim", Description = "the identity head on the ground-truth boxes, image by image (not normalised)", Needs = "boxes,person_id")]
[Tap("loss_objectness", TensorKind.Any, "", Needs = "boxes,person_id")]
[Tap("loss_rpn_box_reg", TensorKind.Any, "", Needs = "boxes,person_id")]
[Tap("loss_classifier", TensorKind.Any, "", Needs = "boxes,person_id")]
[Tap("loss_box_reg", TensorKind.Any, "", Needs = "boxes,person_id")]
[Tap("loss_oim", TensorKind.Any, "", Description = "OIM's loss on the sampled RoIs with this model's own tables", Needs = "boxes,person_id")]
public sealed partial class OimPersonSearch : TwoStageDetector<OimPersonSearch.Taps, OimPersonSearch.Outputs>
{
    private readonly GeneralizedRcnnTransform transform;
    private readonly FasterRcnnC4.C4Backbone backbone;
    private readonly RegionProposalNetwork rpn;
    private readonly RoIHeads roi_heads;
    private readonly EmbeddingHead embedding_head;
    private readonly OimState oim;

    /// <param name="identities">Labelled identities of the training data (rows of the look-up table; CUHK-SYSU 5,532, PRW 482).</param>
    /// <param name="embedding_dim">The re-identification feature's size (OIM: 256).</param>
    /// <param name="queue_size">Rows of the circular queue of unlabelled persons (OIM: 5,000 on CUHK-SYSU, 500 on PRW).</param>
    /// <param name="oim_momentum">Momentum m of the look-up-table update (OIM: 0.5).</param>
    /// <param name="oim_scale">OIM's logit scale 1/τ (OIM paper: 10; several reimplementations 30).</param>
    /// <param name="detection_embeddings">Search embeds each detected box by running the RoI head again on it (OIM's test time).</param>
    public OimPersonSearch(int identities, int embedding_dim = 256, int queue_size = 5000, double oim_momentum = 0.5, double oim_scale = 10.0,
        string backbone = "small", int width = 32, int trainable_layers = 3,
        int[]? anchor_sizes = null, double[]? aspect_ratios = null,
        int min_size = 900, int max_size = 1500, double[]? image_mean = null, double[]? image_std = null, int size_divisible = 16,
        int rpn_pre_nms_top_n_train = 12000, int rpn_pre_nms_top_n_test = 6000, int rpn_post_nms_top_n_train = 2000, int rpn_post_nms_top_n_test = 300,
        double rpn_nms_thresh = 0.7, double rpn_fg_iou_thresh = 0.7, double rpn_bg_iou_thresh = 0.3, int rpn_batch_size_per_image = 256,
        double rpn_positive_fraction = 0.5, double rpn_score_thresh = 0.0, int roi_output_size = 14, int sampling_ratio = 2,
        double box_score_thresh = 0.05, double box_nms_thresh = 0.4, int box_detections_per_img = 300,
        double box_fg_iou_thresh = 0.5, double box_bg_iou_thresh = 0.5, int box_batch_size_per_image = 128, double box_positive_fraction = 0.5,
        double[]? bbox_reg_weights = null)
    {
        if (identities < 1) throw new ArgumentOutOfRangeException(nameof(identities), identities, "the look-up table needs at least one labelled identity");
        if (embedding_dim < 1) throw new ArgumentOutOfRangeException(nameof(embedding_dim), embedding_dim, "embedding_dim must be positive");
        if (queue_size < 0) throw new ArgumentOutOfRangeException(nameof(queue_size), queue_size, "queue_size must be 0 or more");
        if (!(oim_momentum >= 0 && oim_momentum <= 1)) throw new ArgumentOutOfRangeException(nameof(oim_momentum), oim_momentum, "oim_momentum must be in [0, 1]");
        if (!(oim_scale > 0)) throw new ArgumentOutOfRangeException(nameof(oim_scale), oim_scale, "oim_scale must be positive");
        (Identities, EmbeddingDim, QueueSize, OimMomentum, OimScale) = (identities, embedding_dim, queue_size, oim_momentum, oim_scale);
        this.roi_output_size = roi_output_size;
        long c5;
        (transform, this.backbone, rpn, roi_heads, c5) = FasterRcnnC4.Build(1, backbone, width, trainable_layers, anchor_sizes, aspect_ratios, min_size, max_size,
            image_mean, image_std, size_divisible, rpn_pre_nms_top_n_train, rpn_pre_nms_top_n_test, rpn_post_nms_top_n_train, rpn_post_nms_top_n_test,
            rpn_nms_thresh, rpn_fg_iou_thresh, rpn_bg_iou_thresh, rpn_batch_size_per_image, rpn_positive_fraction, rpn_score_thresh, roi_output_size,
            sampling_ratio, box_score_thresh, box_nms_thresh, box_detections_per_img, box_fg_iou_thresh, box_bg_iou_thresh, box_batch_size_per_image,
            box_positive_fraction, bbox_reg_weights);
        embedding_head = new EmbeddingHead(c5, embedding_dim);
        oim = new OimState(identities, queue_size, embedding_dim);
        RegisterComponents();
    }

    /// <summary>One class: person.</summary>
    public override int Classes => 1;
    public int Identities { get; }
    public int EmbeddingDim { get; }
    public int QueueSize { get; }
    public double OimMomentum { get; }
    public double OimScale { get; }
    public int roi_output_size { get; }
    public override IReadOnlyList<Taps> PooledLevelTaps { get; } = [Taps.Stage3];

    /// <summary>The identity head: Linear(C5 → embedding_dim) then BatchNorm1d.</summary>
    public sealed class EmbeddingHead : Module<Tensor, Tensor>
    {
        private readonly Linear projection;
        private readonly BatchNorm1d norm;

        public EmbeddingHead(long inFeatures, long dim)
        {
            projection = new Linear(inFeatures, dim);
            norm = new BatchNorm1d(dim);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            // BatchNorm1d needs two rows to train on; an empty or one-row batch in training mode uses the running statistics.
            if (training && x.shape[0] < 2)
            {
                norm.eval();
                try { return norm.call(projection.call(x)); }
                finally { norm.train(); }
            }
            using var scope = torch.NewDisposeScope();
            return scope.MoveToOuter(norm.call(projection.call(x)));
        }
    }

    /// <summary>OIM's tables as buffers: <c>lut</c>, <c>queue</c>, and <c>head</c> (the queue's next row, int64 [1]).</summary>
    public sealed class OimState : Module
    {
        public OimState(long identities, long queueSize, long dim)
        {
            register_buffer("lut", torch.zeros([identities, dim]));
            register_buffer("queue", torch.zeros([queueSize, dim]));
            register_buffer("head", torch.zeros([1], ScalarType.Int64));
        }

        public Tensor lut => GetBuffer("lut")!;
        public Tensor queue => GetBuffer("queue")!;

        /// <summary>After the pass's loss: the look-up-table update, then the queue push (in place, no gradient).</summary>
        public void update(Tensor embeddings, Tensor personIds, double momentum)
        {
            Distill.Losses.PersonSearch.oim_lut_update(lut, embeddings, personIds, momentum);
            var head = GetBuffer("head")!;
            long at;
            using (var cpu = head.cpu()) at = cpu.ToArray<long>()[0];
            var next = Distill.Losses.PersonSearch.oim_queue_push(queue, embeddings, personIds, at);
            using (torch.no_grad()) head.fill_(next);
        }
    }

    protected override List<Detections>? Run(Tensor images, Outputs outputs, IReadOnlyList<Tensor>? boxes, IReadOnlyList<Tensor>? labels, bool wantDetections) =>
        RunPass(images, outputs, boxes, labels, wantDetections, null);

    /// <summary>
    /// Every image's person detections in its original pixels with their L2-normalised embeddings (evaluation semantics, without
    /// gradients, whatever the mode): what a gallery is searched with.
    /// </summary>
    public IReadOnlyList<PersonDetections> search(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        var wasTraining = training;
        if (wasTraining) eval();
        try
        {
            using var noGrad = torch.no_grad();
            using var outputs = new Outputs { Requested = default };
            using var scope = torch.NewDisposeScope();
            var found = new List<PersonDetections>();
            RunPass(images, outputs, null, null, wantDetections: true, found);
            foreach (var d in found) scope.MoveToOuter(new[] { d.boxes, d.scores, d.embeddings });
            return found;
        }
        finally
        {
            if (wasTraining) train();
        }
    }

    /// <summary>
    /// The L2-normalised embeddings [G_i, E] of given boxes (per image, original pixels, x1 y1 x2 y2): a query person's feature.
    /// Evaluation semantics, without gradients. A box that is degenerate or lies wholly outside its image is an
    /// <see cref="ArgumentException"/> naming the image and the box.
    /// </summary>
    public IReadOnlyList<Tensor> embed_boxes(Tensor images, IReadOnlyList<Tensor> boxes)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(boxes);
        if (images.dim() != 4 || images.shape[1] != 3)
            throw new ArgumentException($"images must be [N, 3, H, W], got [{string.Join(", ", images.shape)}]", nameof(images));
        var wasTraining = training;
        if (wasTraining) eval();
        try
        {
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            var (gtBoxes, _) = PrepareTargets(images, boxes, null, checkRange: false);
            var (batch, scaled) = transform.forward(images, gtBoxes);
            var features = new[] { backbone.forward_stages(batch.tensors)[2] };
            var embedded = EmbedRois(features, RoIHeads.to_rois(scaled!), batch.image_sizes);
            var result = F.normalize(embedded, 2.0, 1).split(scaled!.Select(b => b.shape[0]).ToArray(), 0);
            return result.Select(t => scope.MoveToOuter(t.contiguous())).ToList();
        }
        finally
        {
            if (wasTraining) train();
        }
    }

    private Tensor EmbedRois(IReadOnlyList<Tensor> features, Tensor rois, (long h, long w)[] sizes)
    {
        using var scope = torch.NewDisposeScope();
        using var head = roi_heads.run_head(features, rois, sizes);
        return scope.MoveToOuter(embedding_head.call(head.embedding));
    }

    /// <summary>
    /// Checks the person boxes (as any detector's) and their identities: int64, one per box, and (with <paramref name="checkRange"/>,
    /// when the identity head reads them) −1 or 0 .. identities − 1. Returns
    /// float32 boxes clipped to the image and the sampling labels identity + 2 (1 for an unlabelled person): the matcher then
    /// carries each RoI's identity through sampling (0 stays background), and class labels are "label &gt; 0".
    /// </summary>
    private (Tensor[] boxes, Tensor[]? sampling) PrepareTargets(Tensor images, IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor>? personIds, bool checkRange)
    {
        var ones = boxes.Select(b => torch.ones([b is { } t && t.dim() >= 1 ? t.shape[0] : 0], ScalarType.Int64)).ToArray();
        try
        {
            var (gtBoxes, _) = Targets.prepare(boxes, ones, images.shape[0], (images.shape[2], images.shape[3]), 1, images.device);
            if (personIds is null) return (gtBoxes, null);
            if (personIds.Count != boxes.Count)
                throw new ArgumentException($"{personIds.Count} person_id tensors for {boxes.Count} images: give one [K] tensor per image", nameof(personIds));
            var sampling = new Tensor[personIds.Count];
            for (var i = 0; i < personIds.Count; i++)
            {
                var ids = personIds[i] ?? throw new ArgumentException($"image {i}: person_id is null", nameof(personIds));
                if (ids.dtype != ScalarType.Int64 || ids.dim() != 1 || ids.shape[0] != gtBoxes[i].shape[0])
                    throw new ArgumentException($"image {i}: person_id must be int64 [{gtBoxes[i].shape[0]}] (one per box), got {ids.dtype.Name()} [{string.Join(", ", ids.shape)}]", nameof(personIds));
                // Only the identity head reads the identities against this model's table: a teacher's box embeddings or detector
                // taps on data with more identities than it was trained on are fine.
                if (checkRange)
                using (var cpu = ids.cpu())
                {
                    var values = cpu.ToArray<long>();
                    for (var k = 0; k < values.Length; k++)
                        if (values[k] < -1 || values[k] >= Identities)
                            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                                $"image {i}, box {k}: person_id {values[k]} is outside -1..{Identities - 1} (the model's look-up table has {Identities} identities; -1 marks a person without one)"), nameof(personIds));
                }
                sampling[i] = ids.to(images.device) + 2;
            }
            return (gtBoxes, sampling);
        }
        finally
        {
            foreach (var t in ones) t.Dispose();
        }
    }

    private static readonly long IdentityTaps = TapSet<Taps>.Bits(Taps.RoiPersonEmbedding | Taps.RoiPersonId | Taps.OimLut | Taps.OimQueue | Taps.LossOim);
    private static readonly long HeadTaps = TapSet<Taps>.Bits(Taps.SampledRois | Taps.RoiLabels | Taps.RoiPositive | Taps.RoiMatchedBoxes | Taps.RoiTargets |
        Taps.RoiFeatures | Taps.RoiEmbedding | Taps.RoiLogits | Taps.RoiDeltas | Taps.LossClassifier | Taps.LossBoxReg) | IdentityTaps;
    private static readonly long RpnTaps = TapSet<Taps>.Bits(Taps.RpnLogits | Taps.RpnDeltas | Taps.Proposals | Taps.LossObjectness | Taps.LossRpnBoxReg);

    private List<Detections>? RunPass(Tensor images, Outputs outputs, IReadOnlyList<Tensor>? boxes, IReadOnlyList<Tensor>? personIds, bool wantDetections,
        List<PersonDetections>? search)
    {
        CheckPass(images, outputs, boxes);
        var requested = TapSet<Taps>.Bits(outputs.Requested);
        var needTruth = requested & (HeadTaps | TapSet<Taps>.Bits(Taps.BoxEmbedding));
        if (boxes is null && needTruth != 0)
            throw new ArgumentException($"the taps {TapSet<Taps>.FromBits(needTruth)} need the ground truth: pass the boxes and person ids to forward_taps", nameof(boxes));
        Tensor[]? gtBoxes = null, sampling = null;
        if (boxes is not null) (gtBoxes, sampling) = PrepareTargets(images, boxes, personIds, checkRange: (requested & IdentityTaps) != 0);
        var (batch, scaled) = transform.forward(images, gtBoxes);
        SetContext(outputs, batch.image_sizes);
        var stages = backbone.forward_stages(batch.tensors);
        Keep(outputs, Taps.Stage1, stages[0]);
        Keep(outputs, Taps.Stage2, stages[1]);
        Keep(outputs, Taps.Stage3, stages[2]);
        Tensor[] features = [stages[2]];
        if (Wants(outputs, Taps.BoxEmbedding)) Keep(outputs, Taps.BoxEmbedding, EmbedRois(features, RoIHeads.to_rois(scaled!), batch.image_sizes));
        if (!wantDetections && (requested & (RpnTaps | HeadTaps)) == 0) return null;

        var r = rpn.forward(features, batch.padded_size, batch.image_sizes, scaled);
        Keep(outputs, Taps.RpnLogits, r.objectness);
        Keep(outputs, Taps.RpnDeltas, r.deltas);
        if (Wants(outputs, Taps.Proposals)) Keep(outputs, Taps.Proposals, RoIHeads.to_rois(r.boxes));
        if (r.loss_objectness is not null)
        {
            Keep(outputs, Taps.LossObjectness, r.loss_objectness);
            Keep(outputs, Taps.LossRpnBoxReg, r.loss_rpn_box_reg!);
        }

        if (scaled is not null && (requested & HeadTaps) != 0)
        {
            var sampled = roi_heads.select_training_samples(r.boxes, scaled, sampling!);
            var classes = sampled.labels.gt(0).to(ScalarType.Int64);
            var head = roi_heads.run_head(features, sampled.rois, batch.image_sizes);
            Keep(outputs, Taps.SampledRois, sampled.rois);
            Keep(outputs, Taps.RoiLabels, classes);
            if (Wants(outputs, Taps.RoiPositive)) Keep(outputs, Taps.RoiPositive, classes.to(ScalarType.Float32));
            Keep(outputs, Taps.RoiMatchedBoxes, sampled.matched_boxes);
            Keep(outputs, Taps.RoiTargets, sampled.targets);
            KeepRoiHead(outputs, head);
            if (Wants(outputs, Taps.LossClassifier) || Wants(outputs, Taps.LossBoxReg))
            {
                var (cls, box) = RoIHeads.fastrcnn_loss(head.logits, head.deltas, classes, sampled.targets);
                Keep(outputs, Taps.LossClassifier, cls);
                Keep(outputs, Taps.LossBoxReg, box);
            }
            if ((requested & IdentityTaps) != 0)
            {
                var embedding = embedding_head.call(head.embedding);
                var ids = sampled.labels - 2;
                Keep(outputs, Taps.RoiPersonEmbedding, embedding);
                Keep(outputs, Taps.RoiPersonId, ids);
                // The tables as this pass reads them: the update below writes the buffers in place, and autograd keeps what
                // the loss multiplied by.
                var updates = training;
                Tensor lut = updates ? oim.lut.clone() : oim.lut, queue = updates ? oim.queue.clone() : oim.queue;
                if (Wants(outputs, Taps.OimLut)) Keep(outputs, Taps.OimLut, updates ? lut : lut.alias());
                if (Wants(outputs, Taps.OimQueue)) Keep(outputs, Taps.OimQueue, updates ? queue : queue.alias());
                if (Wants(outputs, Taps.LossOim)) Keep(outputs, Taps.LossOim, Distill.Losses.PersonSearch.oim_loss(embedding, ids, lut, queue, OimScale));
                if (updates) oim.update(embedding, ids, OimMomentum);
            }
        }
        if (!wantDetections) return null;

        var all = roi_heads.run_head(features, RoIHeads.to_rois(r.boxes), batch.image_sizes);
        var detected = roi_heads.postprocess_detections(all.logits, all.deltas, r.boxes, batch.image_sizes);
        if (search is null)
            return detected.Select((d, i) => new Detections(GeneralizedRcnnTransform.postprocess(d.boxes, batch.image_sizes[i], batch.original_size), d.scores, d.labels)).ToList();
        var embeddings = F.normalize(EmbedRois(features, RoIHeads.to_rois(detected.Select(d => d.boxes).ToList()), batch.image_sizes), 2.0, 1)
            .split(detected.Select(d => d.boxes.shape[0]).ToArray(), 0);
        for (var i = 0; i < detected.Count; i++)
            search.Add(new PersonDetections(GeneralizedRcnnTransform.postprocess(detected[i].boxes, batch.image_sizes[i], batch.original_size), detected[i].scores, embeddings[i]));
        return null;
    }

    protected override RoiHeadOutputs RunHead(IReadOnlyList<Tensor> levels, Tensor rois, (long h, long w)[] image_sizes) =>
        roi_heads.run_head(levels, rois, image_sizes);
}
