namespace Distill.Runtime;

/// <summary>What <see cref="ResumeOption"/> asks for.</summary>
public enum ResumeKind
{
    /// <summary>Start a new run.</summary>
    None,

    /// <summary>Continue the latest checkpoint of the named run (or of the experiment's most recent run); start fresh when there is none.</summary>
    Latest,

    /// <summary>Continue from a given checkpoint, pointer, checkpoints folder or run directory.</summary>
    Path,
}

/// <summary>Whether and from where to resume: <c>false</c>, <c>true</c> (latest) or a path. Converts from <c>bool</c> and parses command-line text.</summary>
public readonly record struct ResumeOption(ResumeKind Kind, string? Path = null)
{
    public static readonly ResumeOption None = new(ResumeKind.None);
    public static readonly ResumeOption Latest = new(ResumeKind.Latest);

    public static ResumeOption From(string path) =>
        string.IsNullOrWhiteSpace(path) ? throw new ArgumentException("a resume path must not be empty", nameof(path)) : new(ResumeKind.Path, path);

    public static implicit operator ResumeOption(bool resume) => resume ? Latest : None;

    /// <summary>"", "false", "no", "none" → no resume; "true", "yes", "latest" → latest; anything else is a path.</summary>
    public static ResumeOption Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "false" or "no" or "none" or "0" => None,
        "true" or "yes" or "latest" or "1" => Latest,
        _ => From(text!.Trim()),
    };

    public override string ToString() => Kind switch
    {
        ResumeKind.None => "false",
        ResumeKind.Latest => "latest",
        _ => Path!,
    };
}

/// <summary>How progress is shown on the console.</summary>
public enum ProgressMode
{
    /// <summary>A live Spectre.Console bar on an interactive terminal; plain periodic lines when output is redirected (CI, a log file).</summary>
    Auto,

    /// <summary>Always the live bar (falls back to plain lines when the console cannot show one).</summary>
    Rich,

    /// <summary>Always plain lines, at most one per <see cref="TrainOptions.ProgressInterval"/> plus one per epoch.</summary>
    Plain,

    /// <summary>No progress output.</summary>
    None,
}

/// <summary>
/// The knobs of one training run, the ones a researcher sets on the command line. What the experiment
/// declares (epochs, batch size, optimizer) is the default; a non-null value here overrides it.
/// A record: derive variants with <c>with</c>. <see cref="Validate"/> reports every bad value at once.
/// </summary>
public sealed record TrainOptions
{
    /// <summary>Epochs to train; null keeps the experiment's.</summary>
    public int? Epochs { get; init; }

    /// <summary>The run's seed: seeds the global generator (<c>torch.manual_seed</c>) and, through <see cref="SeedFor"/>, every named generator.</summary>
    public long Seed { get; init; }

    /// <summary>"cpu", "cuda", "cuda:N", or "auto" (CUDA when available, else the CPU).</summary>
    public string Device { get; init; } = "auto";

    /// <summary>The root of the run directories (<c>&lt;root&gt;/&lt;experiment&gt;/&lt;run&gt;/</c>).</summary>
    public string OutputRoot { get; init; } = RunDirectory.DefaultRoot;

    /// <summary>The run's directory name; null names it by the UTC start time.</summary>
    public string? RunName { get; init; }

    /// <summary>Resume from the latest checkpoint (<c>true</c>) or from a path; <c>false</c> starts a new run.</summary>
    public ResumeOption Resume { get; init; } = ResumeOption.None;

    /// <summary>A smoke run: <see cref="QuickEpochs"/> epochs of at most <see cref="QuickBatches"/> batches each, evaluation included.</summary>
    public bool Quick { get; init; }

    /// <summary>
    /// One batch of training and one of evaluation, to check the run-time shapes the compiler cannot see
    /// (the runner's <c>check</c>). A teacher whose weights do not exist yet runs with its initial weights.
    /// </summary>
    public bool DryRun { get; init; }

    /// <summary>
    /// Stops after this many optimizer steps in all (resumed ones included), with a checkpoint, so a later
    /// run with <see cref="Resume"/> continues exactly there: for time-sliced or preemptible jobs. Null: run to the end.
    /// </summary>
    public long? StopAfterSteps { get; init; }

    public int QuickEpochs { get; init; } = 1;

    public int QuickBatches { get; init; } = 5;

    /// <summary>Caps the batches per epoch (a partial epoch); null runs whole epochs.</summary>
    public long? MaxBatchesPerEpoch { get; init; }

    /// <summary>Overrides the experiment's batch size.</summary>
    public int? BatchSize { get; init; }

    /// <summary>Overrides the base learning rate of every parameter group.</summary>
    public double? LearningRate { get; init; }

    /// <summary>Log the running training metrics to <c>metrics.jsonl</c> every this many optimizer steps (the epoch average is logged at every epoch's end regardless).</summary>
    public int LogInterval { get; init; } = 50;

    /// <summary>Evaluate every this many epochs (the last epoch is always evaluated); 0 evaluates only at the end; null keeps the experiment's <c>eval.every</c>.</summary>
    public int? EvalInterval { get; init; }

    /// <summary>Sum the gradients of this many batches before each optimizer step (each loss scaled by 1/N); null keeps the experiment's.</summary>
    public int? AccumulationSteps { get; init; }

    /// <summary>Checkpoint every this many epochs (the last epoch always is); 0 checkpoints only at the end.</summary>
    public int CheckpointInterval { get; init; } = 1;

    /// <summary>Also checkpoint every this many optimizer steps, mid-epoch; null does not.</summary>
    public long? CheckpointEverySteps { get; init; }

    /// <summary>Keep this many most recent checkpoints besides the best; null keeps all.</summary>
    public int? KeepLastCheckpoints { get; init; } = 3;

    /// <summary>The metric that picks the <c>best</c> checkpoint, as logged (e.g. "val/top1"); null uses the experiment's first evaluation metric.</summary>
    public string? BestMetric { get; init; }

    /// <summary>Whether a larger (<see cref="MetricMode.Max"/>, accuracies) or smaller (losses) <see cref="BestMetric"/> is better.</summary>
    public MetricMode BestMode { get; init; } = MetricMode.Max;

    /// <summary>Clip the gradients' total 2-norm to this value before each optimizer step; null does not clip.</summary>
    public double? GradClipNorm { get; init; }

    /// <summary>Clamp every gradient element to ±this value before each optimizer step; null does not.</summary>
    public double? GradClipValue { get; init; }

    /// <summary>Check the loss terms for NaN/Inf every this many steps (1: every step, one device sync each; the step reported is exact either way).</summary>
    public int DivergenceCheckInterval { get; init; } = 1;

    /// <summary>
    /// Overrides of the experiment's declared values the generated code reads (<c>--set</c>; validated by
    /// <see cref="SettingOverrides.Apply"/>): key as the experiment file spells it → canonical value. Empty: everything as declared.
    /// </summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = EmptySettings;

    private static readonly IReadOnlyDictionary<string, string> EmptySettings = new Dictionary<string, string>();

    /// <summary>The value of a number setting: its override, else <paramref name="declared"/>.</summary>
    public double Setting(string key, double declared) =>
        Settings.TryGetValue(key, out var v) ? double.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : declared;

    /// <summary>The value of a whole-number setting: its override, else <paramref name="declared"/>.</summary>
    public int Setting(string key, int declared) =>
        Settings.TryGetValue(key, out var v) ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : declared;

    /// <summary>The value of a whole-number setting of type long: its override, else <paramref name="declared"/>.</summary>
    public long Setting(string key, long declared) =>
        Settings.TryGetValue(key, out var v) ? long.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : declared;

    /// <summary>The value of a single-precision number setting: its override, else <paramref name="declared"/>.</summary>
    public float Setting(string key, float declared) =>
        Settings.TryGetValue(key, out var v) ? float.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : declared;

    /// <summary>The value of a true/false setting: its override, else <paramref name="declared"/>.</summary>
    public bool Setting(string key, bool declared) => Settings.TryGetValue(key, out var v) ? v == "true" : declared;

    /// <summary>The value of a pair setting (Adam's betas): its override, else <paramref name="declared"/>.</summary>
    public (double, double) Setting(string key, (double, double) declared)
    {
        if (!Settings.TryGetValue(key, out var v)) return declared;
        var items = ExperimentSetting.ListItems(v)!;
        return (double.Parse(items[0], System.Globalization.CultureInfo.InvariantCulture), double.Parse(items[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Whether a whole-numbers setting (milestones) is overridden, and its value.</summary>
    public bool TryGetSetting(string key, out int[] value)
    {
        value = Settings.TryGetValue(key, out var v) ? ExperimentSetting.ListItems(v)!.Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray() : [];
        return Settings.ContainsKey(key);
    }

    /// <summary>libtorch's intra-op threads (process-wide; <see cref="ApplyThreads"/> sets them when a run starts); null leaves libtorch's setting.</summary>
    public int? Threads { get; init; }

    /// <summary>
    /// The data-parallel rendezvous, as PyTorch's launcher describes it (<see cref="torch.distributed.Environment.Read"/>
    /// reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); null or a world of 1: one process. Each rank trains on its
    /// share of every global batch (<see cref="BatchSize"/> or the declared batch, divisible by the world size) and the
    /// gradients are averaged; rank 0 evaluates, logs and checkpoints.
    /// </summary>
    public torch.distributed.Environment? Distributed { get; init; }

    /// <summary>
    /// What carries the data-parallel collectives; null: NCCL when the run is on a GPU and the shim was built with it
    /// (<see cref="torch.distributed.is_nccl_available"/>), Gloo otherwise — PyTorch's usual choice.
    /// </summary>
    public torch.distributed.Backend? DistributedBackend { get; init; }

    /// <summary>The longest a rank waits for the others, at the rendezvous or in one collective (rank 0's evaluation included).</summary>
    public TimeSpan DistributedTimeout { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// In data-parallel training, batch norms take their statistics over the global batch (PyTorch's SyncBatchNorm), so a
    /// run trains as one process on the global batch would; false: each rank's share alone (plain DDP).
    /// </summary>
    public bool SyncBatchNorm { get; init; } = true;

    /// <summary>The layout of the models' 4-D weights and the batches' images (null: the experiment's <c>memory_format</c>).</summary>
    public MemoryFormat? MemoryFormat { get; init; }

    /// <summary>The precision the forward pass and the loss run in (null: the experiment's <c>precision</c>).</summary>
    public Precision? Precision { get; init; }

    /// <summary>How progress is shown.</summary>
    public ProgressMode Progress { get; init; } = ProgressMode.Auto;

    /// <summary>The least time between two plain progress lines.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The epochs to run given the experiment's declared count (<see cref="Quick"/> caps it).</summary>
    public int EffectiveEpochs(int declared)
    {
        if (DryRun) return 1;
        var epochs = Epochs ?? declared;
        return Quick ? Math.Min(epochs, QuickEpochs) : epochs;
    }

    /// <summary>The batch cap per epoch (<see cref="Quick"/> or <see cref="MaxBatchesPerEpoch"/>), or null for whole epochs.</summary>
    public long? EffectiveBatchLimit =>
        DryRun ? 1 : Quick ? Math.Min(QuickBatches, MaxBatchesPerEpoch ?? long.MaxValue) : MaxBatchesPerEpoch;

    /// <summary>
    /// Sets libtorch's intra-op thread count to <see cref="Threads"/> when it is given (a process-wide setting that
    /// stays after the run); the generated <c>Train</c> calls it before anything else runs.
    /// </summary>
    public void ApplyThreads()
    {
        if (Threads is { } threads && torch.get_num_threads() != threads) torch.set_num_threads(threads);
    }

    /// <summary>The device: "auto" is CUDA when libtorch sees a GPU, else the CPU.</summary>
    public Device ResolveDevice() =>
        Device.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)
            ? (torch.cuda.is_available() ? Distill.Torch.Device.CUDA : Distill.Torch.Device.CPU)
            : Distill.Torch.Device.Parse(Device);

    /// <summary>A seed for a named purpose ("loader", "augment"), derived from <see cref="Seed"/>: stable across runs and platforms, different per purpose.</summary>
    public ulong SeedFor(string purpose) => Seeds.Derive(Seed, purpose);

    /// <summary>Throws an <see cref="ArgumentException"/> listing every invalid value.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        if (Epochs is < 1) problems.Add($"Epochs must be at least 1 (got {Epochs})");
        if (QuickEpochs < 1) problems.Add($"QuickEpochs must be at least 1 (got {QuickEpochs})");
        if (QuickBatches < 1) problems.Add($"QuickBatches must be at least 1 (got {QuickBatches})");
        if (StopAfterSteps is < 1) problems.Add($"StopAfterSteps must be at least 1 (got {StopAfterSteps})");
        if (MaxBatchesPerEpoch is < 1) problems.Add($"MaxBatchesPerEpoch must be at least 1 (got {MaxBatchesPerEpoch})");
        if (BatchSize is < 1) problems.Add($"BatchSize must be at least 1 (got {BatchSize})");
        if (LearningRate is { } lr && !(lr > 0 && double.IsFinite(lr))) problems.Add($"LearningRate must be a positive number (got {lr})");
        if (LogInterval < 1) problems.Add($"LogInterval must be at least 1 step (got {LogInterval})");
        if (EvalInterval < 0) problems.Add($"EvalInterval must be 0 (only at the end) or more (got {EvalInterval})");
        if (DistributedTimeout <= TimeSpan.Zero) problems.Add($"DistributedTimeout must be positive (got {DistributedTimeout})");
        if (AccumulationSteps < 1) problems.Add($"AccumulationSteps must be at least 1 batch (got {AccumulationSteps})");
        if (CheckpointInterval < 0) problems.Add($"CheckpointInterval must be 0 (only at the end) or more (got {CheckpointInterval})");
        if (CheckpointEverySteps is < 1) problems.Add($"CheckpointEverySteps must be at least 1 (got {CheckpointEverySteps})");
        if (KeepLastCheckpoints is < 1) problems.Add($"KeepLastCheckpoints must be at least 1, or null to keep all (got {KeepLastCheckpoints})");
        if (GradClipNorm is { } n && !(n > 0)) problems.Add($"GradClipNorm must be positive (got {n})");
        if (GradClipValue is { } v && !(v > 0)) problems.Add($"GradClipValue must be positive (got {v})");
        if (DivergenceCheckInterval < 1) problems.Add($"DivergenceCheckInterval must be at least 1 (got {DivergenceCheckInterval})");
        if (Threads is < 1) problems.Add($"Threads must be at least 1 (got {Threads})");
        if (ProgressInterval < TimeSpan.Zero) problems.Add($"ProgressInterval must not be negative (got {ProgressInterval})");
        if (string.IsNullOrWhiteSpace(OutputRoot)) problems.Add("OutputRoot must name a directory");
        if (RunName is not null && RunDirectory.SanitizeName(RunName) != RunName)
            problems.Add($"RunName '{RunName}' is not a plain directory name (use letters, digits, '.', '_' and '-'; e.g. '{RunDirectory.SanitizeName(RunName)}')");
        try
        {
            if (!Device.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)) Distill.Torch.Device.Parse(Device);
        }
        catch (TorchException e)
        {
            problems.Add(e.Message);
        }
        if (problems.Count > 0) throw new ArgumentException("invalid training options:\n  - " + string.Join("\n  - ", problems));
    }
}

/// <summary>Seed derivation: independent, reproducible seeds for named purposes from one run seed.</summary>
public static class Seeds
{
    /// <summary>SplitMix64 over the run seed mixed with the FNV-1a hash of <paramref name="purpose"/>'s UTF-16 code units.</summary>
    public static ulong Derive(long seed, string purpose)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        var h = 14695981039346656037UL;
        foreach (var c in purpose)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        var z = unchecked((ulong)seed) ^ h;
        z = unchecked(z + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
