using Distill.Torch;

namespace Distill.Runtime;

/// <summary>
/// State a training loop rebuilds before every epoch from the models and the training data, and saves with every checkpoint
/// (<see cref="Trainer{TBatch}.EpochStates"/>): <paramref name="Refresh"/> rebuilds it, <paramref name="Save"/> and
/// <paramref name="Load"/> move it to and from a checkpoint as named tensors.
/// </summary>
/// <param name="Name">the checkpoint name (<c>state.&lt;Name&gt;.&lt;key&gt;</c>) and the metric prefix of the refresh time.</param>
public sealed record EpochState(string Name, Action<EpochStateRequest> Refresh, Func<IEnumerable<KeyValuePair<string, Tensor>>> Save,
    Action<IReadOnlyDictionary<string, Tensor>> Load);

/// <summary>What a refresh before epoch <paramref name="Epoch"/> (0-based) runs with: the run's device and batch size, and its batch cap (quick runs).</summary>
public sealed record EpochStateRequest(int Epoch, Device Device, int BatchSize, long? BatchLimit, IProgressReporter Progress);
