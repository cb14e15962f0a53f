using System.Text.Json;

namespace Distill.Torch;

/// <summary>
/// Runs schedulers one after another, switching at the milestone epochs, as PyTorch 1.13's
/// <c>SequentialLR</c>: a linear warm-up followed by cosine annealing is
/// <c>new SequentialLR(opt, [new LinearLR(opt, 0.1, total_iters: 5), new CosineAnnealingLR(opt, 25)], [5])</c>.
/// At a milestone the next scheduler restarts from epoch 0 with its closed form.
/// </summary>
public sealed class SequentialLR : LRScheduler
{
    private readonly LRScheduler[] _schedulers;
    private int[] _milestones;

    public SequentialLR(Optimizer optimizer, IReadOnlyList<LRScheduler> schedulers, IReadOnlyList<int> milestones, int last_epoch = -1)
        : base(optimizer)
    {
        ArgumentNullException.ThrowIfNull(schedulers);
        ArgumentNullException.ThrowIfNull(milestones);
        if (schedulers.Count == 0) throw new TorchException("SequentialLR needs at least one scheduler", ErrorCategory.Value);
        for (var i = 0; i < schedulers.Count; i++)
        {
            if (schedulers[i] is null) throw new TorchException($"SequentialLR: scheduler {i} is null", ErrorCategory.Value);
            if (!ReferenceEquals(schedulers[i].optimizer, optimizer))
                throw new TorchException($"Sequential Schedulers expects all schedulers to belong to the same optimizer, but got schedulers at index {i} to be different than the optimizer passed in.", ErrorCategory.Value);
        }
        if (milestones.Count != schedulers.Count - 1)
            throw new TorchException($"Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers {schedulers.Count} and the number of milestones to be equal to {milestones.Count}", ErrorCategory.Value);
        var groups = optimizer.param_groups;
        for (var i = 0; i < groups.Count; i++)
            if (groups[i].initial_lr is null)
                throw new TorchException($"SequentialLR: param_groups[{i}] has no 'initial_lr' (build the schedulers it sequences first)", ErrorCategory.Value);

        _schedulers = schedulers.ToArray();
        _milestones = milestones.ToArray();
        this.last_epoch = last_epoch + 1;
        base_lrs = groups.Select(g => g.initial_lr!.Value).ToArray();

        // Back to the initial learning rates, undo the schedulers' own first steps, and start the first one.
        foreach (var g in groups) g.lr = g.initial_lr!.Value;
        foreach (var s in _schedulers) s.last_epoch -= 1;
        _schedulers[0].initial_step();
        SetLastLr(_schedulers[0].get_last_lr());
    }

    public IReadOnlyList<LRScheduler> schedulers => _schedulers;
    public IReadOnlyList<int> milestones => _milestones;

    public override void step()
    {
        last_epoch++;
        // bisect_right: the number of milestones at or before this epoch.
        var idx = _milestones.Count(m => m <= last_epoch);
        var scheduler = _schedulers[idx];
        if (idx > 0 && _milestones[idx - 1] == last_epoch) scheduler.step(0);
        else scheduler.step();
        SetLastLr(scheduler.get_last_lr());
    }

    /// <summary>Not available: PyTorch's SequentialLR steps one epoch at a time.</summary>
    public override void step(int epoch) =>
        throw new TorchException("SequentialLR.step() takes no epoch: call step() once per epoch", ErrorCategory.Value);

    private protected override double[] ChainedLr() => throw new InvalidOperationException("SequentialLR delegates to its schedulers");

    internal override void WriteState(Utf8JsonWriter w)
    {
        w.WriteNumber("last_epoch", last_epoch);
        w.WriteStartArray("_milestones");
        foreach (var m in _milestones) w.WriteNumberValue(m);
        w.WriteEndArray();
        WriteNumbers(w, "_last_lr", get_last_lr());
        w.WriteStartArray("_schedulers");
        foreach (var s in _schedulers)
        {
            w.WriteStartObject();
            s.WriteState(w);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    internal override void ReadState(JsonElement e)
    {
        var lastEpoch = Int(e, "last_epoch", last_epoch);
        var lastLr = Numbers(e, "_last_lr");
        var milestones = _milestones;
        if (e.TryGetProperty("_milestones", out var m))
        {
            if (m.ValueKind != JsonValueKind.Array || !m.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out _)))
                throw StateError("_milestones", m, "a list of integers");
            milestones = m.EnumerateArray().Select(x => x.GetInt32()).ToArray();
            if (milestones.Length != _milestones.Length)
                throw new TorchException($"SequentialLR.load_state_dict: the state has {milestones.Length} milestones, this scheduler {_milestones.Length}", ErrorCategory.Value);
        }
        if (e.TryGetProperty("_schedulers", out var subs))
        {
            if (subs.ValueKind != JsonValueKind.Array || subs.GetArrayLength() != _schedulers.Length)
                throw new TorchException($"SequentialLR.load_state_dict: '_schedulers' must be a list of {_schedulers.Length} scheduler states", ErrorCategory.Value);
            var k = 0;
            foreach (var s in subs.EnumerateArray())
            {
                if (s.ValueKind != JsonValueKind.Object) throw StateError("_schedulers", s, "a scheduler state object");
                _schedulers[k++].ReadState(s);
            }
        }
        last_epoch = lastEpoch;
        _milestones = milestones;
        if (lastLr is not null) SetLastLr(lastLr);
    }
}
