using System.Diagnostics;
using Distill.Data;
using Distill.Detection;
using Distill.Losses;
using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.DetectionStep.Benchmarks;

/// <summary>
/// The Distill side: a frozen Faster R-CNN teacher (width 32) and a trained student (width 8), both on the small
/// GroupNorm backbone with FPN, plus DeFeat's feature term over P2..P6 through one 3×3 adapter per level, on one
/// pre-collated batch of <see cref="SyntheticDetection"/>. The step is what a user's training loop writes with the
/// public API: <c>forward_taps</c> on both models, <c>DeFeat.defeat_gt_masks</c> + <c>defeat_feature</c>, backward, SGD.
/// </summary>
internal sealed class DistillSide : IDisposable
{
    public const int Classes = 6;
    public const int ImageSize = 128;
    public const int BatchSize = 8;
    public static readonly int[] Strides = [4, 8, 16, 32, 64];

    private const FasterRcnn.Taps Pyramid = FasterRcnn.Taps.P2 | FasterRcnn.Taps.P3 | FasterRcnn.Taps.P4 | FasterRcnn.Taps.P5 | FasterRcnn.Taps.P6;
    private const FasterRcnn.Taps Losses = FasterRcnn.Taps.LossObjectness | FasterRcnn.Taps.LossRpnBoxReg | FasterRcnn.Taps.LossClassifier | FasterRcnn.Taps.LossBoxReg;

    private readonly FasterRcnn _teacher;
    private readonly FasterRcnn _student;
    private readonly ModuleList<Conv2d> _adapters;
    private readonly Optimizer _optimizer;
    private readonly Tensor _images;
    private readonly Tensor[] _boxes;
    private readonly Tensor[] _labels;
    private readonly (Tensor Boxes, Tensor Scores, Tensor Levels)[] _nmsInputs;
    private readonly Dictionary<string, Tensor> _initial = [];
    private readonly List<Tensor> _trained;

    public DistillSide()
    {
        torch.manual_seed(0);
        _teacher = Model(width: 32, fpn: 64, representation: 256);
        _student = Model(width: 8, fpn: 32, representation: 128);
        _adapters = new ModuleList<Conv2d>(Enumerable.Range(0, Strides.Length).Select(_ => new Conv2d(32, 64, 3, padding: 1)));
        _teacher.eval();
        foreach (var p in _teacher.parameters()) p.requires_grad_(false);
        _student.train();
        _adapters.train();
        _trained = _student.parameters().Cast<Tensor>().Concat(_adapters.parameters()).ToList();
        _optimizer = torch.optim.SGD(_trained, lr: 0.02, momentum: 0.9, weight_decay: 1e-4);
        foreach (var (key, value) in Trained())
        {
            _initial[key] = value.clone().DetachFromDisposeScope();
            value.Dispose();
        }

        // One batch of the synthetic task, collated once (uint8) and turned into [0, 1] floats once, as both sides use it.
        using var data = new SyntheticDetection(classes: Classes, size: ImageSize, seed: 1);
        using var batch = data.Collate(Enumerable.Range(0, BatchSize).ToArray());
        _images = (batch.image.to(ScalarType.Float32) / 255.0).DetachFromDisposeScope();
        _boxes = batch.boxes.Select(b => b.clone().DetachFromDisposeScope()).ToArray();
        _labels = batch.labels.Select(l => l.clone().DetachFromDisposeScope()).ToArray();
        Objects = _boxes.Sum(b => (int)b.shape[0]);
        _nmsInputs = NmsInputs();
    }

    /// <summary>The trained modules' state (detached handles on the modules' own storage; the caller disposes them).</summary>
    private IEnumerable<KeyValuePair<string, Tensor>> Trained() => _student.state_dict("student.").Concat(_adapters.state_dict("adapters."));

    /// <summary>
    /// Back to the shared initial weights with zeroed momentum buffers (SGD's update from a zero buffer equals its
    /// first-step update), before every block: each measured step is one of the first steps from the same weights on
    /// both sides. From scratch at lr 0.02 this student diverges to NaN within about ten steps, after which NMS, the
    /// samplers and the losses run on NaN boxes and a step's cost means nothing.
    /// </summary>
    public void Reset()
    {
        using var noGrad = torch.no_grad();
        foreach (var (key, value) in Trained())
        {
            value.copy_(_initial[key]);
            value.Dispose();
        }
        foreach (var p in _trained)
            if (_optimizer.state[p].TryGetValue("momentum_buffer", out var buffer)) buffer.zero_();
    }

    /// <summary>The configuration of the issue: anchors 8..128, 128-pixel input, reduced proposal and sample counts.</summary>
    private static FasterRcnn Model(int width, int fpn, int representation) =>
        new(Classes, "small", width: width, fpn_channels: fpn, representation_size: representation, anchor_sizes: [8, 16, 32, 64, 128],
            min_size: ImageSize, max_size: ImageSize, rpn_pre_nms_top_n_train: 600, rpn_post_nms_top_n_train: 300,
            rpn_batch_size_per_image: 128, box_batch_size_per_image: 128);

    public int Objects { get; }

    /// <summary>The total loss of the last step run with its losses kept (the first step, and <see cref="Check"/>).</summary>
    public double LastTotal { get; private set; } = double.NaN;

    /// <summary>The losses of the last of <paramref name="steps"/> steps from the initial weights: finite when the blocks measure sane steps.</summary>
    public double[] Check(int steps)
    {
        Reset();
        for (var i = 0; i < steps - 1; i++) Step(keep: false);
        var losses = Step(keep: true)!;
        var values = losses.Select(l => (double)l.item<float>()).ToArray();
        foreach (var l in losses) l.Dispose();
        return values;
    }

    /// <summary>The weights (teacher.*, student.*, adapters.*) and the batch (images, boxes.i, labels.i), for the PyTorch side.</summary>
    public void Export(string path)
    {
        using var scope = torch.NewDisposeScope();
        var all = new List<KeyValuePair<string, Tensor>>();
        all.AddRange(_teacher.state_dict("teacher."));
        all.AddRange(_student.state_dict("student."));
        all.AddRange(_adapters.state_dict("adapters."));
        all.Add(new("images", _images));
        for (var i = 0; i < BatchSize; i++)
        {
            all.Add(new($"boxes.{i}", _boxes[i]));
            all.Add(new($"labels.{i}", _labels[i]));
            all.Add(new($"nms.boxes.{i}", _nmsInputs[i].Boxes));
            all.Add(new($"nms.scores.{i}", _nmsInputs[i].Scores));
            all.Add(new($"nms.levels.{i}", _nmsInputs[i].Levels));
        }
        Safetensors.Save(path, all, new Dictionary<string, string> { ["batch"] = BatchSize.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>
    /// One training step: zero_grad, the teacher's P2..P6 under no_grad (evaluation mode: only transform + backbone
    /// run), the student with its four losses and P2..P6, DeFeat's masks and feature term, backward, SGD step.
    /// Returns the five loss tensors when <paramref name="keep"/> (then the caller disposes them).
    /// </summary>
    private Tensor[]? Step(bool keep)
    {
        using var scope = torch.NewDisposeScope();
        _optimizer.zero_grad();
        using var t = Teacher();
        using var s = _student.forward_taps(_images, Pyramid | Losses, _boxes, _labels);
        var feature = Feature(s, t);
        var total = s.LossObjectness! + s.LossRpnBoxReg! + s.LossClassifier! + s.LossBoxReg! + feature;
        total.backward();
        _optimizer.step();
        if (keep) LastTotal = total.item<float>();
        if (!keep) return null;
        Tensor[] losses = [s.LossObjectness!.detach(), s.LossRpnBoxReg!.detach(), s.LossClassifier!.detach(), s.LossBoxReg!.detach(), feature.detach()];
        scope.MoveToOuter(losses);
        return losses;
    }

    private FasterRcnn.Outputs Teacher()
    {
        using (torch.no_grad()) return _teacher.forward_taps(_images, Pyramid);
    }

    private static Tensor[] Levels(FasterRcnn.Outputs o) => [o.P2!, o.P3!, o.P4!, o.P5!, o.P6!];

    private Tensor Feature(FasterRcnn.Outputs s, FasterRcnn.Outputs t) => Feature(Levels(s), Levels(t));

    /// <summary>DeFeat's feature term: masks from the ground truth on each level's grid, the student's levels through the adapters.</summary>
    private Tensor Feature(IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher)
    {
        var sizes = student.Select(l => (l.shape[2], l.shape[3])).ToArray();
        var masks = DeFeat.defeat_gt_masks(_boxes, Strides, sizes);
        var adapted = student.Select((l, i) => _adapters[i].call(l)).ToArray();
        return DeFeat.defeat_feature(adapted, teacher, masks);
    }

    /// <summary>The first step's losses from the shared initial weights, with the sampler's generator seeded as the PyTorch side seeds it.</summary>
    public double[] FirstStep(long seed)
    {
        Reset();
        torch.manual_seed(seed);
        var losses = Step(keep: true)!;
        var values = losses.Select(l => (double)l.item<float>()).ToArray();
        foreach (var l in losses) l.Dispose();
        return values;
    }

    /// <summary>Seconds of each of <paramref name="steps"/> steps, starting from the initial weights (<see cref="Reset"/>, not timed).</summary>
    public List<double> Steps(int steps)
    {
        Reset();
        var times = new List<double>(steps);
        for (var i = 0; i < steps; i++)
        {
            var start = Stopwatch.GetTimestamp();
            Step(keep: false);
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return times;
    }

    public static readonly string[] PartNames =
    [
        "zero_grad", "teacher backbone+FPN (no_grad)", "student transform + backbone+FPN", "RPN head + anchors + decode",
        "RPN proposal filtering (top-k, clip, NMS)", "RPN target assignment (match + encode)", "RPN loss (sampling + BCE + smooth L1)",
        "RoI target assignment (match + sample + encode)", "RoI head (RoIAlign + MLP + predictor)", "RoI loss", "DeFeat term (masks + adapters + loss)",
        "backward", "optimizer step",
    ];

    /// <summary>
    /// One step timed phase by phase (seconds, <see cref="PartNames"/> order). The student's forward is the sequence
    /// <c>FasterRcnn.forward_taps</c> runs in training, spelled out through the models' public parts (torchvision's
    /// names), so the clock can stop between them; the library has no timing hooks. It computes what <see cref="Step"/> does.
    /// </summary>
    public double[] Parts()
    {
        var clock = new PhaseClock(PartNames.Length);
        using var scope = torch.NewDisposeScope();
        _optimizer.zero_grad();
        clock.Lap();
        using var t = Teacher();
        clock.Lap();
        var rpn = _student.Rpn;
        var n = _images.shape[0];
        var (gtBoxes, gtLabels) = Targets.prepare(_boxes, _labels, n, (_images.shape[2], _images.shape[3]), Classes, _images.device);
        var (batch, scaledBoxes) = _student.Transform.forward(_images, gtBoxes);
        var (_, levels) = _student.Backbone.forward(batch.tensors);
        clock.Lap();
        var (logitsPerLevel, regPerLevel) = rpn.Head.forward(levels);
        var grid = levels.Select(f => (f.shape[2], f.shape[3])).ToList();
        var anchors = rpn.AnchorGenerator.call(grid, batch.padded_size, levels[0].dtype, levels[0].device);
        var numPerLevel = logitsPerLevel.Select(o => o.shape[1] * o.shape[2] * o.shape[3]).ToArray();
        var (objectness, deltas) = Detection.Rpn.RegionProposalNetwork.concat_box_prediction_layers(logitsPerLevel, regPerLevel, n);
        Tensor proposals;
        using (torch.no_grad())
            proposals = rpn.box_coder.decode(deltas.detach().reshape(-1, 4), Enumerable.Repeat(anchors, (int)n).ToList()).view(n, -1, 4);
        clock.Lap();
        var (props, _) = rpn.filter_proposals(proposals, objectness, batch.image_sizes, numPerLevel);
        clock.Lap();
        var (anchorLabels, matched) = rpn.assign_targets_to_anchors(anchors, scaledBoxes!);
        var targets = matched.Select(m => rpn.box_coder.encode_single(m, anchors)).ToList();
        clock.Lap();
        var (lossObj, lossRpnBox) = rpn.compute_loss(objectness, deltas, anchorLabels, targets);
        clock.Lap();
        var sampled = _student.RoiHeads.select_training_samples(props, scaledBoxes!, gtLabels);
        clock.Lap();
        using var head = _student.RoiHeads.run_head(levels, sampled.rois, batch.image_sizes);
        clock.Lap();
        var (lossCls, lossBox) = Detection.RoiHeads.RoIHeads.fastrcnn_loss(head.logits, head.deltas, sampled.labels, sampled.targets);
        clock.Lap();
        var feature = Feature(levels, Levels(t));
        var total = lossObj + lossRpnBox + lossCls + lossBox + feature;
        clock.Lap();
        total.backward();
        clock.Lap();
        _optimizer.step();
        clock.Lap();
        return clock.Laps;
    }

    /// <summary>
    /// The inputs of the RPN's NMS for the initial student: per image the pre-NMS top-600 proposals of each level
    /// (decoded, clipped, boxes under 1e-3 px removed), their objectness probabilities and levels — what
    /// <c>filter_proposals</c> hands to <c>batched_nms</c>, rebuilt here with the same ops so NMS can be timed alone.
    /// </summary>
    private (Tensor Boxes, Tensor Scores, Tensor Levels)[] NmsInputs()
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var rpn = _student.Rpn;
        var n = _images.shape[0];
        var (batch, _) = _student.Transform.forward(_images);
        var (_, levels) = _student.Backbone.forward(batch.tensors);
        var (logitsPerLevel, regPerLevel) = rpn.Head.forward(levels);
        var anchors = rpn.AnchorGenerator.call(levels.Select(f => (f.shape[2], f.shape[3])).ToList(), batch.padded_size, levels[0].dtype, levels[0].device);
        var numPerLevel = logitsPerLevel.Select(o => o.shape[1] * o.shape[2] * o.shape[3]).ToArray();
        var (objectness, deltas) = Detection.Rpn.RegionProposalNetwork.concat_box_prediction_layers(logitsPerLevel, regPerLevel, n);
        var proposals = rpn.box_coder.decode(deltas.reshape(-1, 4), Enumerable.Repeat(anchors, (int)n).ToList()).view(n, -1, 4);
        var result = new (Tensor, Tensor, Tensor)[n];
        for (var i = 0; i < n; i++)
        {
            var boxes = new List<Tensor>();
            var scores = new List<Tensor>();
            var lvls = new List<Tensor>();
            long offset = 0;
            for (var l = 0; l < numPerLevel.Length; l++)
            {
                var ob = objectness.select(0, i).narrow(0, offset, numPerLevel[l]);
                var (top, idx) = ob.topk(Math.Min(rpn.pre_nms_top_n(), numPerLevel[l]), 0);
                boxes.Add(proposals.select(0, i).narrow(0, offset, numPerLevel[l]).index(idx));
                scores.Add(top.sigmoid());
                lvls.Add(torch.full([idx.shape[0]], l, ScalarType.Int64));
                offset += numPerLevel[l];
            }
            var b = torch.ops.clip_boxes_to_image(torch.cat(boxes, 0), batch.image_sizes[i]);
            var keep = torch.ops.remove_small_boxes(b, rpn.min_size);
            result[i] = (b.index(keep), torch.cat(scores, 0).index(keep), torch.cat(lvls, 0).index(keep));
            scope.MoveToOuter([result[i].Item1, result[i].Item2, result[i].Item3]);
        }
        return result;
    }

    /// <summary>Boxes entering NMS per image (mean).</summary>
    public double NmsBoxesPerImage => _nmsInputs.Average(t => (double)t.Boxes.shape[0]);

    /// <summary>Seconds of each of <paramref name="reps"/> rounds of the RPN's NMS (<c>batched_nms</c>, IoU 0.7) over the 8 images.</summary>
    public List<double> Nms(int reps)
    {
        var times = new List<double>(reps);
        for (var r = 0; r < reps; r++)
        {
            var start = Stopwatch.GetTimestamp();
            foreach (var (b, sc, l) in _nmsInputs) torch.ops.batched_nms(b, sc, l, 0.7).Dispose();
            times.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return times;
    }

    public void Dispose()
    {
        foreach (var t in _initial.Values) t.Dispose();
        _optimizer.Dispose();
        foreach (var (b, sc, l) in _nmsInputs)
        {
            b.Dispose();
            sc.Dispose();
            l.Dispose();
        }
        _images.Dispose();
        foreach (var b in _boxes) b.Dispose();
        foreach (var l in _labels) l.Dispose();
        _teacher.Dispose();
        _student.Dispose();
        _adapters.Dispose();
    }

    private sealed class PhaseClock(int count)
    {
        private long _last = Stopwatch.GetTimestamp();
        private int _next;

        public double[] Laps { get; } = new double[count];

        public void Lap()
        {
            var now = Stopwatch.GetTimestamp();
            Laps[_next++] = Stopwatch.GetElapsedTime(_last, now).TotalSeconds;
            _last = now;
        }
    }
}
