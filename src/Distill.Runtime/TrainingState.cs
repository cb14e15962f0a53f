using System.Text.Json.Nodes;
using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.Runtime;

/// <summary>
/// Everything a checkpoint saves and a resume restores: references to the live objects (named modules,
/// optimizers, LR schedulers, random generators) plus the loop's counters, the best metric so far and
/// free-form JSON extras. Register the objects once, after building them; <see cref="Checkpointer"/>
/// reads them when saving and writes into them in place when restoring.
/// <para>
/// Counters: <see cref="Epoch"/> is the number of completed epochs (the 0-based index of the epoch to
/// run next), <see cref="BatchInEpoch"/> the batches of that next epoch already done (0 at an epoch
/// boundary), <see cref="GlobalStep"/> the optimizer steps taken since the start of the run.
/// </para>
/// </summary>
public sealed class TrainingState
{
    /// <summary>The generator name under which the global CPU generator (<c>torch.manual_seed</c>'s) is stored.</summary>
    public const string GlobalGenerator = "global";

    private readonly OrderedDictionary<string, Module> _modules = new(StringComparer.Ordinal);
    private readonly OrderedDictionary<string, Optimizer> _optimizers = new(StringComparer.Ordinal);
    private readonly OrderedDictionary<string, LRScheduler> _schedulers = new(StringComparer.Ordinal);
    private readonly OrderedDictionary<string, Generator> _generators = new(StringComparer.Ordinal);
    private readonly OrderedDictionary<string, TensorState> _tensorStates = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, Module> Modules => _modules;
    public IReadOnlyDictionary<string, Optimizer> Optimizers => _optimizers;
    public IReadOnlyDictionary<string, LRScheduler> Schedulers => _schedulers;

    /// <summary>Extra generators (a data loader's, an augmentation's); the global one is <see cref="IncludeGlobalGenerator"/>.</summary>
    public IReadOnlyDictionary<string, Generator> Generators => _generators;

    /// <summary>Other state held as named tensors (a loss's prototype table), saved and restored through its two delegates.</summary>
    public IReadOnlyDictionary<string, TensorState> TensorStates => _tensorStates;

    /// <summary>Save and restore the global CPU generator (dropout and every op without a generator draw from it). Default true.</summary>
    public bool IncludeGlobalGenerator { get; set; } = true;

    /// <summary>Completed epochs: a resumed loop starts at this 0-based epoch index.</summary>
    public int Epoch { get; set; }

    /// <summary>Batches of the epoch <see cref="Epoch"/> already done (mid-epoch checkpoints); 0 at an epoch boundary.</summary>
    public long BatchInEpoch { get; set; }

    /// <summary>Optimizer steps since the start of the run.</summary>
    public long GlobalStep { get; set; }

    /// <summary>The best value of the tracked metric so far (null before the first evaluation).</summary>
    public double? BestMetric { get; set; }

    /// <summary>Free-form JSON saved with the checkpoint and restored as saved (a loss-schedule position, a data cursor, notes).</summary>
    public JsonObject Extras { get; set; } = new();

    /// <summary>Registers a model (student, teacher, adapter, ...): its state_dict is stored as <c>model.&lt;name&gt;.&lt;key&gt;</c>.</summary>
    public TrainingState AddModule(string name, Module module) => Add(_modules, name, module, "module");

    /// <summary>Registers an optimizer: its state tensors are stored as <c>optim.&lt;name&gt;.state.&lt;index&gt;.&lt;state&gt;</c>.</summary>
    public TrainingState AddOptimizer(string name, Optimizer optimizer) => Add(_optimizers, name, optimizer, "optimizer");

    /// <summary>Registers an LR scheduler: its JSON state_dict is stored in the checkpoint's JSON file.</summary>
    public TrainingState AddScheduler(string name, LRScheduler scheduler) => Add(_schedulers, name, scheduler, "scheduler");

    /// <summary>
    /// Registers state held as tensors: what <paramref name="save"/> returns is stored as <c>state.&lt;name&gt;.&lt;key&gt;</c>, and a
    /// restore hands <paramref name="load"/> those tensors by key (none when the state was empty when saved).
    /// </summary>
    public TrainingState AddTensorState(string name, Func<IEnumerable<KeyValuePair<string, Tensor>>> save, Action<IReadOnlyDictionary<string, Tensor>> load) =>
        Add(_tensorStates, name, new TensorState(save ?? throw new ArgumentNullException(nameof(save)), load ?? throw new ArgumentNullException(nameof(load))), "tensor state");

    /// <summary>Registers a generator: its state is stored as <c>rng.&lt;name&gt;</c>. The name "global" is reserved.</summary>
    public TrainingState AddGenerator(string name, Generator generator)
    {
        if (name == GlobalGenerator)
            throw new ArgumentException($"the generator name '{GlobalGenerator}' is reserved for the global CPU generator (see IncludeGlobalGenerator)", nameof(name));
        return Add(_generators, name, generator, "generator");
    }

    private TrainingState Add<T>(OrderedDictionary<string, T> table, string name, T value, string kind) where T : class
    {
        ArgumentNullException.ThrowIfNull(value);
        CheckName(name, kind);
        if (!table.TryAdd(name, value)) throw new ArgumentException($"a {kind} named '{name}' is already registered", nameof(name));
        return this;
    }

    /// <summary>Names become tensor-name prefixes: keep them plain so the prefixes cannot overlap.</summary>
    internal static void CheckName(string name, string kind)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '-')))
            throw new ArgumentException($"the {kind} name '{name}' must be non-empty and use only letters, digits, '_' and '-' (it prefixes tensor names)", nameof(name));
    }
}

/// <summary>State held as named tensors: how to read it for a checkpoint and how to put a checkpoint's tensors back.</summary>
public sealed record TensorState(Func<IEnumerable<KeyValuePair<string, Tensor>>> Save, Action<IReadOnlyDictionary<string, Tensor>> Load);
