namespace Distill.Models;

/// <summary>
/// One forward pass of a tapped model, as a chain of steps over a single "current" tensor. Each
/// <see cref="Step"/> runs in its own dispose scope, so everything a layer allocates is freed when the
/// step ends, and the previous current tensor is freed as soon as the next one exists unless it is
/// the input or a kept tap. <see cref="Tap"/> keeps the current tensor when that tap was requested.
/// <see cref="Relu"/> activates in place except where that would overwrite the input or a kept tap
/// (a pre-activation tap followed by its ReLU).
/// </summary>
public sealed class TapPass<TTaps> where TTaps : struct, Enum
{
    private readonly Tensor _input;
    private readonly TapOutputs<TTaps> _outputs;
    private readonly long _requested;
    private readonly bool _stopEarly;
    private long _pending;
    private Tensor _current;

    private readonly Tensor? _label;

    internal TapPass(Tensor input, TTaps requested, TapOutputs<TTaps> outputs, bool stopEarly, Tensor? label = null)
    {
        _input = input;
        _label = label;
        _current = input;
        _outputs = outputs;
        _requested = TapSet<TTaps>.Bits(requested);
        _pending = _requested;
        _stopEarly = stopEarly;
    }

    /// <summary>The tensor the pass has reached.</summary>
    public Tensor Current => _current;

    /// <summary>
    /// The batch's labels, for a step that needs them (a margin head applies its margin to each row's
    /// target class); an error naming <paramref name="tap"/> when the caller passed none.
    /// </summary>
    public Tensor Label(TTaps tap) => _label
        ?? throw new InvalidOperationException($"tap {tap} needs the batch's labels: call forward_taps(input, taps, label)");

    public bool Wants(TTaps tap) => (_requested & TapSet<TTaps>.Bits(tap)) != 0;

    /// <summary>
    /// True when every requested tap is kept and the model is in evaluation mode: the rest of the pass
    /// would change nothing (in training mode batch norm still updates its running statistics, so the
    /// pass always runs to the end).
    /// </summary>
    public bool Done => _stopEarly && _pending == 0;

    /// <summary>current = <paramref name="layer"/>(current); the layer's temporaries are freed when it returns.</summary>
    public void Step(Func<Tensor, Tensor> layer)
    {
        Tensor next;
        using (var scope = torch.NewDisposeScope())
        {
            next = layer(_current);
            scope.MoveToOuter(next);
        }
        Advance(next);
    }

    /// <summary>current = relu(current), in place unless current is the input or a kept tap.</summary>
    public void Relu() => Advance(IsShared(_current) ? _current.relu() : _current.relu_());

    /// <summary>Keeps the current tensor as <paramref name="tap"/> if it was requested.</summary>
    public void Tap(TTaps tap)
    {
        var bit = TapSet<TTaps>.Bits(tap);
        if ((_requested & bit) == 0) return;
        _outputs.Set(tap, _current);
        _pending &= ~bit;
    }

    private bool IsShared(Tensor t) => ReferenceEquals(t, _input) || _outputs.Holds(t);

    private void Advance(Tensor next)
    {
        if (!ReferenceEquals(next, _current) && !IsShared(_current)) _current.Dispose();
        _current = next;
    }

    /// <summary>Frees the last current tensor unless kept; a requested tap the model never produced is a bug in the model.</summary>
    internal void Finish(string model)
    {
        Release();
        if (_pending != 0)
        {
            var missing = Enum.GetValues<TTaps>().Where(t => TapSet<TTaps>.Bits(t) is var b && b != 0 && (b & (b - 1)) == 0 && (_pending & b) != 0);
            throw new InvalidOperationException($"{model}.forward_taps did not produce the requested tap(s) {string.Join(", ", missing)}");
        }
    }

    internal void Release()
    {
        if (!IsShared(_current)) _current.Dispose();
    }
}
