namespace Distill.Models;

/// <summary>
/// The base of the zoo's models: a <see cref="Module{TIn, TOut}"/> whose <see cref="forward"/> returns
/// the logits and whose <see cref="forward_taps"/> returns any set of taps from one forward pass.
/// A model declares a nested <c>[Flags] enum Taps : long</c> (one bit per <c>[Tap]</c>, in declaration
/// order, plus <c>None</c> and <c>All</c>; the logits tap is named <c>Logits</c>) and a nested
/// <c>sealed class Outputs : TapOutputs&lt;Taps&gt;</c> with one property per tap, and implements
/// <see cref="Forward"/> as a chain of <see cref="TapPass{TTaps}"/> steps.
/// </summary>
public abstract class TappedModel<TTaps, TOutputs> : Module<Tensor, Tensor>
    where TTaps : struct, Enum
    where TOutputs : TapOutputs<TTaps>, new()
{
    private static readonly TTaps? s_logits = Enum.TryParse<TTaps>("Logits", out var t) ? t : null;

    protected TappedModel()
    {
        if (TapSet<TTaps>.Problem is { } problem) throw new InvalidOperationException(problem);
        if (s_logits is null) throw new InvalidOperationException($"{typeof(TTaps).FullName} has no Logits tap");
    }

    /// <summary>
    /// Runs the model once on <paramref name="input"/> and keeps the requested taps (any union of
    /// <typeparamref name="TTaps"/> flags); every other intermediate is freed as soon as the pass moves
    /// past it. The kept tensors belong to the returned object (dispose it, or <c>Take</c> a tap to own
    /// it) and also to the caller's dispose scope, like any operation's result. In evaluation mode the
    /// pass stops after the last requested tap. <paramref name="label"/> is the batch's class labels, needed
    /// only by taps declared <c>[Tap(..., Needs = "label")]</c> (a margin head's logits); the generated code
    /// passes it exactly when such a tap is read.
    /// </summary>
    public TOutputs forward_taps(Tensor input, TTaps taps, Tensor? label = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        var bits = TapSet<TTaps>.Bits(taps);
        if ((bits & ~TapSet<TTaps>.AllBits) != 0)
            throw new ArgumentException($"{taps} includes bits that are no tap of {_get_name()}", nameof(taps));
        var outputs = new TOutputs { Requested = taps };
        var pass = new TapPass<TTaps>(input, taps, outputs, stopEarly: !training, label);
        try
        {
            if (!pass.Done) Forward(pass);
            pass.Finish(_get_name());
        }
        catch
        {
            pass.Release();
            outputs.Dispose();
            throw;
        }
        return outputs;
    }

    /// <summary>The logits (<c>forward_taps(input, Taps.Logits)</c>, the tensor handed to the caller).</summary>
    public sealed override Tensor forward(Tensor input)
    {
        var logits = s_logits!.Value;
        using var outputs = forward_taps(input, logits);
        return outputs.Take(logits);
    }

    /// <summary>
    /// The forward pass: <c>pass.Step</c> each layer, <c>pass.Tap</c> each tap where it is produced,
    /// and return early when <c>pass.Done</c> after a tap.
    /// </summary>
    protected abstract void Forward(TapPass<TTaps> pass);
}
