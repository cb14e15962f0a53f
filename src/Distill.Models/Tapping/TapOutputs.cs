namespace Distill.Models;

/// <summary>
/// The tensors one <c>forward_taps</c> call kept, one slot per tap; the base of every model's nested
/// <c>Outputs</c> class, whose properties (<c>Stem</c>, <c>Stage1</c>, ..., <c>Logits</c>) read these
/// slots. A tap that was not requested is null. <see cref="Dispose"/> frees every tensor still held;
/// <see cref="Take"/> hands one over to the caller first.
/// </summary>
public abstract class TapOutputs<TTaps> : IDisposable where TTaps : struct, Enum
{
    private readonly Tensor?[] _tensors = new Tensor?[64];

    /// <summary>The taps that were asked for.</summary>
    public TTaps Requested { get; internal set; }

    /// <summary>The tensor of one tap; null when it was not requested (or was taken).</summary>
    public Tensor? Get(TTaps tap) => _tensors[TapSet<TTaps>.Index(tap)];

    /// <summary>Removes one tap's tensor and returns it: the caller owns it from now on.</summary>
    public Tensor Take(TTaps tap)
    {
        var i = TapSet<TTaps>.Index(tap);
        var t = _tensors[i] ?? throw new InvalidOperationException($"tap {tap} was not requested (or was already taken)");
        _tensors[i] = null;
        return t;
    }

    /// <summary>
    /// What a model needs to continue from these outputs besides the taps (plain managed data, never tensors): the
    /// detection models keep each image's network-input size here for <c>roi_head_on</c>.
    /// </summary>
    internal object? Context { get; set; }

    internal void Set(TTaps tap, Tensor tensor) => _tensors[TapSet<TTaps>.Index(tap)] = tensor;

    /// <summary>Whether this object holds <paramref name="tensor"/> (so a pass must neither free nor overwrite it).</summary>
    internal bool Holds(Tensor tensor)
    {
        foreach (var t in _tensors)
            if (ReferenceEquals(t, tensor)) return true;
        return false;
    }

    /// <summary>Frees every tensor still held (a tensor held under two taps is freed once).</summary>
    public void Dispose()
    {
        for (var i = 0; i < _tensors.Length; i++)
        {
            _tensors[i]?.Dispose();
            _tensors[i] = null;
        }
        GC.SuppressFinalize(this);
    }
}
