using Distill.Data;
using Distill.Torch.Modules;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Runtime.Tests;

/// <summary>
/// The training loop as a library object: accumulation, clipping, per-iteration schedules, evaluation intervals, hooks,
/// step logging and exact resume mid-epoch, on a linear classifier over a fixed toy data set.
/// </summary>
[Collection(GlobalStateCollection.Name)]
public class TrainerTests
{
    /// <summary>64 samples of 4 features; the label is the argmax of a fixed linear map of them (3 classes).</summary>
    private sealed class ToyData : IBatchDataset<ImageBatch>
    {
        private readonly Tensor _x;
        private readonly Tensor _y;

        public ToyData()
        {
            var g = new Generator(11);
            _x = torch.randn([64, 4], generator: g).DetachFromDisposeScope();
            using var w = torch.randn([4, 3], generator: g);
            _y = _x.matmul(w).argmax(1).DetachFromDisposeScope();
        }

        public int Count => 64;

        public ImageBatch Collate(ReadOnlySpan<int> indices)
        {
            var longs = new long[indices.Length];
            for (var i = 0; i < longs.Length; i++) longs[i] = indices[i];
            using var index = torch.tensor(longs);
            return new ImageBatch(_x.index_select(0, index), _y.index_select(0, index));
        }
    }

    private sealed class Loss(Tensor total, Tensor ce) : IStepLoss
    {
        public Tensor Total { get; } = total;
        public IReadOnlyList<Tensor> Terms => [Ce];
        public Tensor Ce { get; } = ce;

        public void Dispose()
        {
            Total.Dispose();
            Ce.Dispose();
        }
    }

    private sealed class CountingHooks : TrainerHooks<ImageBatch>
    {
        public int Batches;
        public List<int> Epochs { get; } = [];

        public override void OnBatchEnd(TrainerContext context, ImageBatch batch, IStepLoss loss) => Batches++;

        public override void OnEpochEnd(TrainerContext context, IDictionary<string, double> values)
        {
            Epochs.Add(context.State.Epoch);
            values["custom_score"] = context.State.Epoch / 10.0;
        }
    }

    /// <summary>A fresh classifier (weights from seed 5) and a trainer for it.</summary>
    private static (Linear Model, Trainer<ImageBatch> Trainer, List<int> Evaluations) Build(
        int epochs = 2, int batch = 8, int accumulation = 1, double? clipNorm = null, ScheduleStep scheduleStep = ScheduleStep.PerEpoch,
        Func<Optimizer, int, long, LRScheduler>? scheduler = null, int evalEvery = 1, TrainerHooks<ImageBatch>? hooks = null, string bestMetric = "val_top1",
        Snapshot? snapshot = null)
    {
        torch.manual_seed(5);
        var model = torch.nn.Linear(4, 3);
        var evaluations = new List<int>();
        var data = new ToyData();
        var trainer = new Trainer<ImageBatch>
        {
            Experiment = "toy",
            Configuration = "name: toy\n",
            Terms = ["ce"],
            Step = (b, _) =>
            {
                var ce = cross_entropy(model.call(b.image), b.label);
                if (snapshot is null) return new Loss(ce.alias(), ce);
                // a pull towards the weights the epoch started with: the run's result depends on the epoch state
                using var pull = (model.weight - snapshot.Value!).pow(2).sum();
                return new Loss(ce + pull * 0.5, ce);
            },
            EpochStates = snapshot is null ? [] :
            [
                new("snapshot", _ => snapshot.Take(model.weight), () => [new("w", snapshot.Value!)], t => snapshot.Restore(t["w"])),
            ],
            Trained = [new("student", model)],
            TrainData = data,
            CreateOptimizer = _ => torch.optim.SGD(model.parameters(), lr: 0.5),
            CreateScheduler = scheduler ?? ((o, _, _) => new ConstantLR(o, factor: 1.0, total_iters: 0)),
            ScheduleStep = scheduleStep,
            Evaluate = _ =>
            {
                evaluations.Add(evaluations.Count);
                using var scope = torch.NewDisposeScope();
                using var b = data.Collate(Enumerable.Range(0, 64).ToArray());
                var accuracy = model.call(b.image).argmax(1).eq(b.label).to(torch.float32).mean().item<float>();
                return new Dictionary<string, double> { ["val_top1"] = accuracy };
            },
            DeclaredEpochs = epochs,
            DeclaredBatchSize = batch,
            DeclaredAccumulationSteps = accumulation,
            DeclaredClipGradNorm = clipNorm,
            DeclaredEvalEvery = evalEvery,
            DefaultBestMetric = bestMetric,
            Hooks = hooks ?? new TrainerHooks<ImageBatch>(),
        };
        return (model, trainer, evaluations);
    }

    /// <summary>An epoch state: the model's weights when the epoch started.</summary>
    private sealed class Snapshot : IDisposable
    {
        public Tensor? Value { get; private set; }
        public int Refreshes { get; private set; }

        public void Take(Tensor weight)
        {
            Value?.Dispose();
            Value = weight.detach().clone().DetachFromDisposeScope();
            Refreshes++;
        }

        public void Restore(Tensor saved)
        {
            Value?.Dispose();
            Value = saved.clone().DetachFromDisposeScope();
        }

        public void Dispose() => Value?.Dispose();
    }

    private static TrainOptions Options(string root, string? run = null) =>
        new() { OutputRoot = root, RunName = run, Seed = 3, Progress = ProgressMode.None, Device = "cpu" };

    private static float[] Weights(Linear model) => model.weight.ToArray<float>().Concat(model.bias!.ToArray<float>()).ToArray();

    [Fact]
    public void Accumulating_two_batches_of_8_is_one_step_on_16()
    {
        using var tmp = new TempDir();
        var (a, accumulated, _) = Build(batch: 8, accumulation: 2);
        var r1 = accumulated.Fit(Options(tmp.Path, "acc"));
        var (b, whole, _) = Build(batch: 16);
        var r2 = whole.Fit(Options(tmp.Path, "whole"));
        // The loader's order does not depend on the batch size: batches 2k and 2k+1 of 8 are batch k of 16.
        Assert.Equal((2, 8L), (r1.Epochs, r1.Steps));
        Assert.Equal((2, 8L), (r2.Epochs, r2.Steps));
        var (wa, wb) = (Weights(a), Weights(b));
        for (var i = 0; i < wa.Length; i++) Assert.Equal(wb[i], wa[i], 5);
        // A run's setting overrides the declared one; the epoch's last group may be short (8 batches, groups of 3: 3, 3, 2).
        var (_, three, _) = Build(batch: 8, accumulation: 1);
        var r3 = three.Fit(Options(tmp.Path, "three") with { AccumulationSteps = 3 });
        Assert.Equal(6L, r3.Steps);
    }

    [Fact]
    public void Gradients_are_clipped_by_value_and_by_norm_before_the_step()
    {
        using var tmp = new TempDir();
        var (free, unclipped, _) = Build(epochs: 1);
        var before = Weights(free);
        unclipped.Fit(Options(tmp.Path, "free") with { MaxBatchesPerEpoch = 1 });
        var freeChange = Weights(free).Zip(before, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(freeChange > 1e-3, $"one unclipped step moves some weight by {freeChange}");

        var (byValue, valueTrainer, _) = Build(epochs: 1);
        valueTrainer.Fit(Options(tmp.Path, "value") with { MaxBatchesPerEpoch = 1, GradClipValue = 1e-4 });
        // SGD at lr 0.5: no weight moves by more than 0.5 × 1e-4.
        Assert.All(Weights(byValue).Zip(before, (x, y) => Math.Abs(x - y)), d => Assert.True(d <= 0.5e-4 + 1e-7, $"moved {d}"));

        var (byNorm, normTrainer, _) = Build(epochs: 1, clipNorm: 1e-3);
        normTrainer.Fit(Options(tmp.Path, "norm") with { MaxBatchesPerEpoch = 1 });
        var step = Math.Sqrt(Weights(byNorm).Zip(before, (x, y) => (double)(x - y) * (x - y)).Sum());
        Assert.InRange(step, 0.5e-3 * 0.99, 0.5e-3 * 1.01); // the whole step's norm is lr × max_norm
    }

    [Fact]
    public void A_per_iteration_schedule_steps_after_every_optimizer_step_and_steps_are_logged()
    {
        using var tmp = new TempDir();
        var (model, trainer, _) = Build(epochs: 2, batch: 8, accumulation: 2, scheduleStep: ScheduleStep.PerIteration,
            scheduler: (o, epochs, stepsPerEpoch) => new StepLR(o, step_size: 1, gamma: 0.5));
        var result = trainer.Fit(Options(tmp.Path, "it") with { LogInterval = 2 });
        Assert.Equal(8L, result.Steps); // 64 / 8 / 2 per epoch
        var records = RunDirectory.ReadMetrics(Path.Combine(result.RunPath, RunDirectory.MetricsFile));
        // Logged every 2 optimizer steps with the running averages since the last log and the rate then.
        var steps = records.Where(r => r.Phase == "train_step").ToList();
        Assert.Equal([2L, 4, 6, 8], steps.Select(r => r.Step!.Value));
        Assert.Equal([0.5 * Math.Pow(0.5, 2), 0.5 * Math.Pow(0.5, 4), 0.5 * Math.Pow(0.5, 6), 0.5 * Math.Pow(0.5, 8)], steps.Select(r => r.Values["lr"]));
        Assert.All(steps, r => Assert.Contains("ce", r.Values.Keys));
        // The epoch record carries the rate the epoch started with.
        Assert.Equal([0.5, 0.5 * Math.Pow(0.5, 4)], records.Where(r => r.Phase == "train").Select(r => r.Values["lr"]));
    }

    [Fact]
    public void Evaluation_runs_every_N_epochs_and_always_at_the_end_and_a_run_may_override_N()
    {
        using var tmp = new TempDir();
        var (_, trainer, evaluations) = Build(epochs: 5, evalEvery: 2);
        var result = trainer.Fit(Options(tmp.Path, "declared"));
        Assert.Equal(3, evaluations.Count);
        Assert.Equal([2, 4, 5], RunDirectory.ReadMetrics(Path.Combine(result.RunPath, RunDirectory.MetricsFile)).Where(r => r.Phase == "val").Select(r => r.Epoch!.Value));

        var (_, onlyEnd, atEnd) = Build(epochs: 5, evalEvery: 2);
        onlyEnd.Fit(Options(tmp.Path, "end") with { EvalInterval = 0 });
        Assert.Single(atEnd);
    }

    [Fact]
    public void Hooks_see_every_batch_and_epoch_and_their_metrics_are_logged_and_can_pick_the_best_checkpoint()
    {
        using var tmp = new TempDir();
        var hooks = new CountingHooks();
        var (_, trainer, _) = Build(epochs: 3, hooks: hooks, bestMetric: "custom_score");
        var result = trainer.Fit(Options(tmp.Path, "hooks"));
        Assert.Equal(3 * 8, hooks.Batches);
        Assert.Equal([1, 2, 3], hooks.Epochs);
        var train = RunDirectory.ReadMetrics(Path.Combine(result.RunPath, RunDirectory.MetricsFile)).Where(r => r.Phase == "train").ToList();
        Assert.Equal([0.1, 0.2, 0.3], train.Select(r => r.Values["custom_score"]));
        Assert.DoesNotContain("val_top1", train[0].Values.Keys); // evaluation has its own record
        Assert.Equal(0.3, result.Best!.Value, 12);
        Assert.Equal(0.3, result.Final["custom_score"], 12);
    }

    [Fact]
    public void A_run_stopped_mid_epoch_and_resumed_ends_bit_for_bit_where_an_uninterrupted_one_does()
    {
        using var tmp = new TempDir();
        var (whole, uninterrupted, _) = Build(epochs: 3, batch: 8, accumulation: 2);
        var full = uninterrupted.Fit(Options(tmp.Path, "full"));

        var (_, first, _) = Build(epochs: 3, batch: 8, accumulation: 2);
        var part = first.Fit(Options(tmp.Path, "part") with { StopAfterSteps = 5 }); // step 5 = the second epoch's first step
        Assert.False(part.Completed);
        Assert.Equal((1, 5L), (part.Epochs, part.Steps));
        Assert.Equal(2L, Checkpoint.ReadInfo(part.RunPath).BatchInEpoch);

        var (resumedModel, second, _) = Build(epochs: 3, batch: 8, accumulation: 2);
        var resumed = second.Fit(Options(tmp.Path, "part") with { Resume = true });
        Assert.True(resumed.Completed);
        Assert.Equal((3, 12L), (resumed.Epochs, resumed.Steps));
        Assert.Equal(Weights(whole), Weights(resumedModel));
        Assert.Equal(full.Final["val_top1"], resumed.Final["val_top1"]);
    }

    [Fact]
    public void Epoch_state_is_rebuilt_before_every_epoch_checkpointed_and_a_run_resumed_mid_epoch_keeps_the_state_its_epoch_started_with()
    {
        using var tmp = new TempDir();
        using var wholeState = new Snapshot();
        var (whole, uninterrupted, _) = Build(epochs: 3, batch: 8, accumulation: 2, snapshot: wholeState);
        var full = uninterrupted.Fit(Options(tmp.Path, "full"));
        Assert.Equal(3, wholeState.Refreshes);
        var trainRecords = File.ReadLines(Path.Combine(full.RunPath, "metrics.jsonl")).Where(l => l.Contains("\"phase\":\"train\"")).ToList();
        Assert.Equal(3, trainRecords.Count);
        Assert.All(trainRecords, r => Assert.Contains("\"snapshot_seconds\"", r));

        using var firstState = new Snapshot();
        var (_, first, _) = Build(epochs: 3, batch: 8, accumulation: 2, snapshot: firstState);
        first.Fit(Options(tmp.Path, "part") with { StopAfterSteps = 5 }); // within the second epoch
        Assert.Equal(2, firstState.Refreshes);

        // Resumed within epoch 2: that epoch goes on with the restored snapshot, and only epoch 3 takes a new one. A snapshot
        // of the resumed weights would pull towards other weights, and the run would not end where the uninterrupted one does.
        using var resumedState = new Snapshot();
        var (resumedModel, second, _) = Build(epochs: 3, batch: 8, accumulation: 2, snapshot: resumedState);
        var resumed = second.Fit(Options(tmp.Path, "part") with { Resume = true });
        Assert.Equal(1, resumedState.Refreshes);
        Assert.Equal(Weights(whole), Weights(resumedModel));
        Assert.Equal(full.Final["val_top1"], resumed.Final["val_top1"]);

        // The checkpoint holds the state; one that does not is refused by name.
        var (_, noState, _) = Build(epochs: 3, batch: 8, accumulation: 2);
        var e = Assert.ThrowsAny<Exception>(() => noState.Fit(Options(tmp.Path, "part") with { Resume = true }));
        Assert.Contains("tensor state 'snapshot'", e.Message);
    }

    [Fact]
    public void Too_little_data_for_one_batch_and_a_bad_accumulation_are_errors_that_say_so()
    {
        using var tmp = new TempDir();
        var (_, trainer, _) = Build(batch: 128);
        var e = Assert.Throws<DistillRuntimeException>(() => trainer.Fit(Options(tmp.Path, "big")));
        Assert.Contains("'toy': the training data has 64 samples, fewer than one batch of 128", e.Message);
        var (_, other, _) = Build();
        Assert.Contains("AccumulationSteps must be at least 1 batch (got 0)",
            Assert.ThrowsAny<Exception>(() => other.Fit(Options(tmp.Path, "zero") with { AccumulationSteps = 0 })).Message);
    }
}
