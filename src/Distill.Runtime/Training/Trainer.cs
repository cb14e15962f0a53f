using Distill.Data;
using Distill.Torch.Modules;

namespace Distill.Runtime;

/// <summary>One training step's loss: what the loop backpropagates, and each term's value for the logs and the divergence guard.</summary>
public interface IStepLoss : IDisposable
{
    /// <summary>The weighted sum of the terms, with gradient.</summary>
    Tensor Total { get; }

    /// <summary>Each term's value, in the order of <see cref="Trainer{TBatch}.Terms"/>.</summary>
    IReadOnlyList<Tensor> Terms { get; }
}

/// <summary>Where training stands when a step's loss is computed, for the loss terms' weight schedules.</summary>
/// <param name="Epoch">The progress in epochs, fractional within an epoch (0.5: half-way through the first).</param>
/// <param name="Epochs">The epochs this run trains (overrides and quick runs applied).</param>
public readonly record struct TrainingProgress(double Epoch, int Epochs);

/// <summary>What an evaluation needs from the run: where to put the data, in which batches, and how many of them.</summary>
/// <param name="Device">The run's device.</param>
/// <param name="BatchSize">The run's batch size.</param>
/// <param name="BatchLimit">At most this many batches (dry and quick runs); null: the whole set.</param>
public readonly record struct EvaluationRequest(Device Device, int BatchSize, long? BatchLimit);

/// <summary>When the learning-rate schedule advances.</summary>
public enum ScheduleStep
{
    /// <summary>After every epoch (PyTorch's usual <c>scheduler.step()</c> at the epoch's end).</summary>
    PerEpoch,

    /// <summary>After every optimizer step (warm-ups and cosine schedules counted in iterations).</summary>
    PerIteration,
}

/// <summary>What a hook sees of the running loop.</summary>
public sealed class TrainerContext
{
    internal TrainerContext(TrainOptions options, RunDirectory run, TrainingState state, Optimizer optimizer, LRScheduler scheduler, IProgressReporter progress, int epochs, long batchesPerEpoch)
    {
        Options = options;
        Run = run;
        State = state;
        Optimizer = optimizer;
        Scheduler = scheduler;
        Progress = progress;
        Epochs = epochs;
        BatchesPerEpoch = batchesPerEpoch;
    }

    public TrainOptions Options { get; }
    public RunDirectory Run { get; }

    /// <summary>The counters (<see cref="TrainingState.Epoch"/>, <see cref="TrainingState.GlobalStep"/>, ...) and everything checkpointed.</summary>
    public TrainingState State { get; }

    public Optimizer Optimizer { get; }
    public LRScheduler Scheduler { get; }
    public IProgressReporter Progress { get; }

    /// <summary>The epochs this run trains (overrides and quick runs applied).</summary>
    public int Epochs { get; }

    public long BatchesPerEpoch { get; }
}

/// <summary>
/// Extension points of the loop, for an experiment's own partial class: derive and override what you need (each
/// default does nothing). Hooks run on the training thread, inside the loop's dispose scopes.
/// </summary>
public class TrainerHooks<TBatch> where TBatch : IBatch
{
    /// <summary>After each batch's backward pass (and, at an accumulation boundary, the optimizer step).</summary>
    public virtual void OnBatchEnd(TrainerContext context, TBatch batch, IStepLoss loss) { }

    /// <summary>
    /// After each epoch's training and evaluation, before the epoch is logged and checkpointed: add custom metrics
    /// to <paramref name="values"/> (they are logged under the "train" phase's record of the epoch and shown).
    /// </summary>
    public virtual void OnEpochEnd(TrainerContext context, IDictionary<string, double> values) { }
}

/// <summary>
/// The training loop as a library object: epochs of batches from a seeded loader, a step the experiment provides
/// (the generated fused loss), backward, gradient accumulation, clipping by norm and by value, the optimizer and a
/// per-epoch or per-iteration LR schedule, the divergence guard, loss averages logged every
/// <see cref="TrainOptions.LogInterval"/> steps and at each epoch's end, evaluation every N epochs, atomic checkpoints
/// (<c>latest</c>, <c>best</c> by a metric) with exact resume — mid-epoch too —, progress, and <c>summary.json</c>.
/// Generic over the batch type, so classification, detection and person search plug in their own step and
/// evaluation and share the rest.
/// </summary>
public sealed class Trainer<TBatch> where TBatch : class, IBatch
{
    /// <summary>The experiment's name: the run directory's parent and the messages' subject.</summary>
    public required string Experiment { get; init; }

    /// <summary>The experiment's resolved configuration (YAML), written to the run directory with the run's settings.</summary>
    public string Configuration { get; init; } = "";

    /// <summary>The loss terms' names, in the order of <see cref="IStepLoss.Terms"/>.</summary>
    public required IReadOnlyList<string> Terms { get; init; }

    /// <summary>
    /// One step's loss for a batch, given where training stands (for weight schedules). The loop backpropagates
    /// its total and disposes it.
    /// </summary>
    public required Func<TBatch, TrainingProgress, IStepLoss> Step { get; init; }

    /// <summary>The modules that train (the student, adapters), by checkpoint name: put in training mode each epoch, clipped, checkpointed.</summary>
    public required IReadOnlyList<KeyValuePair<string, Module>> Trained { get; init; }

    public required IBatchDataset<TBatch> TrainData { get; init; }

    /// <summary>The training augmentation, applied per batch from a generator seeded by (run seed, epoch, batch).</summary>
    public IBatchTransform<TBatch>? TrainTransform { get; init; }

    /// <summary>Builds the optimizer for the trained modules' parameters (frozen ones left out).</summary>
    public required Func<TrainOptions, Optimizer> CreateOptimizer { get; init; }

    /// <summary>Builds the LR schedule for the run's epochs and the optimizer steps per epoch.</summary>
    public required Func<Optimizer, int, long, LRScheduler> CreateScheduler { get; init; }

    public ScheduleStep ScheduleStep { get; init; } = ScheduleStep.PerEpoch;

    /// <summary>The student's evaluation (<c>val_top1</c>, ...); null: the run is not evaluated.</summary>
    public Func<EvaluationRequest, Dictionary<string, double>>? Evaluate { get; init; }

    /// <summary>The teachers' evaluation, logged once before the first step (<c>teacher_top1</c>, ...); null: none.</summary>
    public Func<EvaluationRequest, Dictionary<string, double>>? EvaluateTeachers { get; init; }

    /// <summary>
    /// Loads the declared weights before anything trains: the teachers' (moved to the device in evaluation mode) and a
    /// student's starting point (a resumed run restores its checkpoint over it).
    /// </summary>
    public Action<TrainOptions, IProgressReporter, Device>? LoadWeights { get; init; }

    /// <summary>The modules that must be on the run's device besides the trained ones (teachers move themselves in <see cref="LoadWeights"/>).</summary>
    public IReadOnlyList<Module> Others { get; init; } = [];

    public required int DeclaredEpochs { get; init; }

    public required int DeclaredBatchSize { get; init; }

    /// <summary>The declared clipping of the gradients' total norm (0 or null: none); a run's <see cref="TrainOptions.GradClipNorm"/> overrides it.</summary>
    public double? DeclaredClipGradNorm { get; init; }

    /// <summary>The declared evaluation interval in epochs (0: only at the end); a run's <see cref="TrainOptions.EvalInterval"/> overrides it.</summary>
    public int DeclaredEvalEvery { get; init; } = 1;

    /// <summary>Batches whose gradients are summed before one optimizer step (each loss scaled by 1/N); a run's <see cref="TrainOptions.AccumulationSteps"/> overrides it.</summary>
    public int DeclaredAccumulationSteps { get; init; } = 1;

    /// <summary>The declared layout of the models' 4-D weights and of the images (<c>memory_format:</c>); a run's <see cref="TrainOptions.MemoryFormat"/> overrides it.</summary>
    public MemoryFormat DeclaredMemoryFormat { get; init; } = MemoryFormat.Contiguous;

    /// <summary>The declared precision of the forward pass and loss (<c>precision:</c>); a run's <see cref="TrainOptions.Precision"/> overrides it.</summary>
    public Precision DeclaredPrecision { get; init; } = Precision.Float32;

    /// <summary>The metric that picks the <c>best</c> checkpoint, unless the run names another.</summary>
    public string DefaultBestMetric { get; init; } = "val_top1";

    public TrainerHooks<TBatch> Hooks { get; init; } = new();

    /// <summary>
    /// State the loop rebuilds before every epoch and saves with every checkpoint (Global Knowledge's prototype tables):
    /// refreshed before the epoch's first batch, except in the epoch a run resumes in the middle of, which goes on with the
    /// state that epoch started with, as restored. Each refresh's time is logged with the epoch (<c>&lt;name&gt;_seconds</c>).
    /// </summary>
    public IReadOnlyList<EpochState> EpochStates { get; init; } = [];

    /// <summary>
    /// Trains with <paramref name="options"/>: a new run, or with <see cref="TrainOptions.Resume"/> the continuation of
    /// a checkpoint, exactly (the same batches, optimizer and scheduler state and random numbers as an uninterrupted run).
    /// </summary>
    public TrainResult Fit(TrainOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        options.ApplyThreads();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var device = options.ResolveDevice();
        var namedGpu = device is { Type: DeviceType.CUDA, Index: >= 0 };
        // One GPU per local rank, unless the run names one.
        if (options.Distributed is { WorldSize: > 1 } && device is { Type: DeviceType.CUDA, Index: < 0 }) device = new Device(DeviceType.CUDA, options.Distributed.LocalRank);
        using var world = DataParallel.Join(options, Experiment, device, namedGpu);
        var leader = world is null || world.IsLeader;
        var epochs = options.EffectiveEpochs(DeclaredEpochs);
        var batchSize = options.BatchSize ?? DeclaredBatchSize;
        var batchLimit = options.EffectiveBatchLimit;
        var clipNorm = options.GradClipNorm ?? (DeclaredClipGradNorm > 0 ? DeclaredClipGradNorm : null);
        var evalEvery = options.EvalInterval ?? DeclaredEvalEvery;
        var accumulation = options.AccumulationSteps ?? DeclaredAccumulationSteps;
        if (accumulation < 1) throw new DistillRuntimeException($"'{Experiment}': gradient accumulation needs at least 1 batch per step (got {accumulation})");
        var memoryFormat = options.MemoryFormat ?? DeclaredMemoryFormat;
        var precision = options.Precision ?? DeclaredPrecision;
        if (precision == Precision.Float16 && device.Type != DeviceType.CUDA)
            throw new DistillRuntimeException($"'{Experiment}': precision fp16 needs a CUDA device (the run's is {device}); on the CPU autocast computes in bfloat16: use precision bf16");

        if (world is not null && batchSize % world.Size != 0)
            throw new DistillRuntimeException($"'{Experiment}': the batch of {batchSize} does not split evenly over {world.Size} data-parallel ranks (the batch is the global one; choose a multiple of {world.Size})");

        RunDirectory? leaders = null;
        if (leader)
        {
            leaders = RunDirectory.ForOptions(Experiment, options);
            leaders.WriteConfig(Configuration + FormattableString.Invariant(
                $"run: {{ seed: {options.Seed}, epochs: {epochs}, batch: {batchSize}, device: {device}, quick: {(options.Quick ? "true" : "false")}{SetText(options)}{WorldText(world, options)}{LayoutText(memoryFormat, precision)} }}\n"));
        }
        using var run = world?.Share(leaders) ?? leaders!;
        using var progress = ProgressReporter.Create(leader ? options.Progress : ProgressMode.None, options.ProgressInterval);

        LoadWeights?.Invoke(options, progress, device);
        foreach (var (_, module) in Trained) module.to(device);
        foreach (var module in Others) module.to(device);
        if (memoryFormat != MemoryFormat.Contiguous)
            foreach (var module in Trained.Select(m => m.Value).Concat(Others)) module.to(memoryFormat);
        var scaler = precision == Precision.Float16 ? new GradScaler() : null;
        using var optimizer = CreateOptimizer(options);
        var trainable = Trained.SelectMany(m => m.Value.parameters()).Where(p => p.requires_grad).ToArray();

        var loader = new DataLoader<TBatch>(TrainData,
            new DataLoaderOptions
            {
                BatchSize = batchSize, Seed = options.SeedFor("loader"), Device = device, DropLast = true,
                Shard = world is null ? null : new LoaderShard(world.Rank, world.Size), MemoryFormat = memoryFormat,
            }, TrainTransform);
        var batchesPerEpoch = Math.Min(loader.BatchesPerEpoch, batchLimit ?? long.MaxValue);
        if (batchesPerEpoch == 0)
            throw new DistillRuntimeException($"'{Experiment}': the training data has {TrainData.Count} samples, fewer than one batch of {batchSize}");
        var stepsPerEpoch = (batchesPerEpoch + accumulation - 1) / accumulation;
        var scheduler = CreateScheduler(optimizer, epochs, stepsPerEpoch);

        var state = new TrainingState().AddOptimizer("optimizer", optimizer).AddScheduler("scheduler", scheduler);
        foreach (var (name, module) in Trained) state.AddModule(name, module);
        foreach (var epochState in EpochStates) state.AddTensorState(epochState.Name, epochState.Save, epochState.Load);
        if (scaler is not null) state.AddTensorState("grad_scaler", () => ScalerState(scaler), tensors => RestoreScaler(scaler, tensors));
        var checkpointer = run.CreateCheckpointer(options.KeepLastCheckpoints, options.BestMode);
        if (run.ResumeCheckpoint is { } resumeFrom)
        {
            var resumed = checkpointer.Restore(resumeFrom, state);
            run.LogResume(resumed);
            progress.Message($"resumed from {resumed.Name} (epoch {state.Epoch}, step {state.GlobalStep})");
        }
        world?.Attach(Trained.Select(m => m.Value).ToList(), trainable, options.SyncBatchNorm);
        var context = new TrainerContext(options, run, state, optimizer, scheduler, progress, epochs, batchesPerEpoch);
        var evaluation = new EvaluationRequest(device, batchSize, batchLimit);

        using var guard = new DivergenceGuard(Terms, options.DivergenceCheckInterval);
        using var averages = new LossAverages([LossAverages.TotalName, .. Terms]);
        using var window = new LossAverages([LossAverages.TotalName, .. Terms]);
        var bestMetric = options.BestMetric ?? DefaultBestMetric;
        var last = new Dictionary<string, double>();
        if (state.GlobalStep == 0 && state.BatchInEpoch == 0 && EvaluateTeachers is not null)
        {
            if (leader)
            {
                var teacherValues = EvaluateTeachers(evaluation);
                run.Log("teacher", teacherValues, 0, 0);
                progress.Message("teachers: " + string.Join(", ", teacherValues.Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value:0.0000}"))));
            }
            world?.WaitForLeader();
        }

        var resumedWithinEpoch = state.BatchInEpoch > 0;
        for (var epoch = state.Epoch; epoch < epochs; epoch++)
        {
            var refreshSeconds = new Dictionary<string, double>();
            if (!(resumedWithinEpoch && epoch == state.Epoch))
                foreach (var epochState in EpochStates)
                {
                    var started = System.Diagnostics.Stopwatch.StartNew();
                    epochState.Refresh(new EpochStateRequest(epoch, device, batchSize, batchLimit, progress));
                    refreshSeconds[epochState.Name + "_seconds"] = started.Elapsed.TotalSeconds;
                }
            resumedWithinEpoch = false;
            progress.StartEpoch(epoch + 1, epochs, batchesPerEpoch - state.BatchInEpoch);
            averages.Reset();
            foreach (var (_, module) in Trained) module.train();
            var lr = optimizer.param_groups[0].lr;
            foreach (var batch in loader.Epoch(epoch, state.BatchInEpoch))
            {
                using (batch)
                {
                    if (state.BatchInEpoch >= batchesPerEpoch) break;
                    var groupStart = state.BatchInEpoch / accumulation * accumulation;
                    if (state.BatchInEpoch == groupStart && state.GlobalStep >= options.StopAfterSteps)
                        return Stopped(run, leader ? checkpointer : null, state, guard, progress, last, clock);
                    using (torch.NewDisposeScope())
                    {
                        // The batches of one optimizer step: `accumulation` of them, fewer in the epoch's last group.
                        var group = Math.Min(accumulation, batchesPerEpoch - groupStart);
                        if (state.BatchInEpoch == groupStart) optimizer.zero_grad();
                        IStepLoss loss;
                        // Mixed precision: the forward pass and the loss under autocast, the backward pass outside it.
                        using (precision == Precision.Float32 ? null : torch.autocast(device.Type, precision == Precision.Float16 ? ScalarType.Float16 : ScalarType.BFloat16))
                            loss = Step(batch, new TrainingProgress(epoch + (double)state.BatchInEpoch / batchesPerEpoch, epochs));
                        using var stepLoss = loss;
                        var stepped = state.BatchInEpoch + 1 - groupStart == group;
                        world?.BeforeBackward(sync: stepped);
                        var total = group == 1 ? loss.Total : loss.Total / group;
                        (scaler is null ? total : scaler.scale(total)).backward();
                        state.BatchInEpoch++;
                        if (stepped)
                        {
                            world?.AfterBackward();
                            scaler?.unscale_(optimizer);
                            if (clipNorm is { } maxNorm) torch.nn.utils.clip_grad_norm_(trainable, maxNorm);
                            if (options.GradClipValue is { } maxValue) torch.nn.utils.clip_grad_value_(trainable, maxValue);
                            if (scaler is null) optimizer.step();
                            else
                            {
                                // A step whose scaled gradients overflowed is skipped, and the scale backs off.
                                scaler.step(optimizer);
                                scaler.update();
                            }
                            state.GlobalStep++;
                            if (ScheduleStep == ScheduleStep.PerIteration) scheduler.step();
                        }
                        guard.Observe(loss.Total, loss.Terms, epoch + 1, state.GlobalStep);
                        averages.Add(LossAverages.TotalName, loss.Total, batch.Count);
                        window.Add(LossAverages.TotalName, loss.Total, batch.Count);
                        for (var t = 0; t < Terms.Count; t++)
                        {
                            averages.Add(Terms[t], loss.Terms[t], batch.Count);
                            window.Add(Terms[t], loss.Terms[t], batch.Count);
                        }
                        progress.Advance(1, batch.Count);
                        Hooks.OnBatchEnd(context, batch, loss);
                        if (stepped)
                        {
                            if (options.LogInterval > 0 && state.GlobalStep % options.LogInterval == 0)
                            {
                                run.Log("train_step", new Dictionary<string, double>(MeanOverRanks(world, window.Compute())) { ["lr"] = optimizer.param_groups[0].lr }, epoch + 1, state.GlobalStep);
                                window.Reset();
                            }
                            if (leader && options.CheckpointEverySteps is { } every && state.GlobalStep % every == 0) checkpointer.Save(state);
                        }
                    }
                }
            }
            guard.Flush();
            if (ScheduleStep == ScheduleStep.PerEpoch) scheduler.step();
            state.Epoch = epoch + 1;
            state.BatchInEpoch = 0;

            var trainValues = new Dictionary<string, double>(MeanOverRanks(world, averages.Compute())) { ["lr"] = lr };
            foreach (var (name, seconds) in refreshSeconds) trainValues[name] = seconds;
            // Rank 0 evaluates and checkpoints; the others wait for it below (WaitForLeader).
            var evaluated = leader && Evaluate is not null && (state.Epoch == epochs || (evalEvery > 0 && state.Epoch % evalEvery == 0))
                ? Evaluate(evaluation)
                : null;
            var values = new Dictionary<string, double>(trainValues);
            foreach (var (name, value) in evaluated ?? []) values[name] = value;
            var known = values.Keys.ToHashSet(StringComparer.Ordinal);
            Hooks.OnEpochEnd(context, values);
            // A hook's own metrics are logged with the epoch's training record.
            foreach (var (name, value) in values)
                if (!known.Contains(name)) trainValues[name] = value;
            run.Log("train", trainValues, state.Epoch, state.GlobalStep);
            if (evaluated is not null) run.Log("val", evaluated, state.Epoch, state.GlobalStep);
            double? metric = values.TryGetValue(bestMetric, out var selected) ? selected : null;
            progress.EndEpoch(values);
            last = values;
            if (leader && (state.Epoch == epochs || (options.CheckpointInterval > 0 && state.Epoch % options.CheckpointInterval == 0))) checkpointer.Save(state, metric);
            world?.WaitForLeader();
        }

        var result = new TrainResult(run.Path, state.Epoch, state.GlobalStep, last, state.BestMetric, clock.Elapsed);
        run.WriteSummary(result.ToJson());
        return result;
    }

    /// <summary>The run's overrides for its config line (<c>, set: { losses.kd.weight: 0.5 }</c>), or "" when it has none.</summary>
    private static string SetText(TrainOptions options) =>
        options.Settings.Count == 0 ? ""
            : ", set: { " + string.Join(", ", options.Settings.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}: {kv.Value}")) + " }";

    private static List<KeyValuePair<string, Tensor>> ScalerState(GradScaler scaler) =>
        [new("scale_and_tracker", torch.tensor(new[] { scaler.Scale, scaler.GrowthTracker }))];

    private static void RestoreScaler(GradScaler scaler, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var values = tensors["scale_and_tracker"].ToArray<double>();
        scaler.load_state_dict((values[0], (int)values[1]));
    }

    /// <summary>The data-parallel world for the config line (<c>, world: 2, backend: gloo</c>), or "" for one process.</summary>
    private static string WorldText(DataParallel? world, TrainOptions options) =>
        world is null ? "" : FormattableString.Invariant(
            $", world: {world.Size}, backend: {torch.distributed.BackendName(world.Group.Backend)}, sync_batchnorm: {(options.SyncBatchNorm ? "true" : "false")}");

    /// <summary>The layout and precision for the config line, when they are not the defaults.</summary>
    private static string LayoutText(MemoryFormat memoryFormat, Precision precision) =>
        (memoryFormat == MemoryFormat.Contiguous ? "" : $", memory_format: {PrecisionNames.Name(memoryFormat)}")
        + (precision == Precision.Float32 ? "" : $", precision: {PrecisionNames.Name(precision)}");

    /// <summary>The loss averages over every rank's share of the batches (one all-reduce), or this process's.</summary>
    private static IReadOnlyDictionary<string, double> MeanOverRanks(DataParallel? world, IReadOnlyDictionary<string, double> values) =>
        world is null ? values : world.Mean(values);

    private static TrainResult Stopped(RunDirectory run, Checkpointer? checkpointer, TrainingState state, DivergenceGuard guard, IProgressReporter progress,
        Dictionary<string, double> last, System.Diagnostics.Stopwatch clock)
    {
        // Stopped on request: a checkpoint (mid-epoch, too) from which a resumed run continues exactly (rank 0 writes it).
        guard.Flush();
        checkpointer?.Save(state);
        var stopped = new TrainResult(run.Path, state.Epoch, state.GlobalStep, last, state.BestMetric, clock.Elapsed, Completed: false);
        run.WriteSummary(stopped.ToJson());
        progress.Message($"stopped after step {state.GlobalStep} (epoch {state.Epoch + 1}, batch {state.BatchInEpoch}); resume to continue");
        return stopped;
    }
}
