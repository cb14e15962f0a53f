namespace Distill.Models;

/// <summary>The parts of a face model's tapped pass that <see cref="IResNet"/> and <see cref="MobileFaceNet"/> share.</summary>
internal static class FaceModels
{
    /// <summary>
    /// Checks, before any work, that the input is (N, C, size, size) and, when <paramref name="marginTap"/>
    /// is requested, that the batch's labels were given with one label per sample; returns the labels
    /// (null when the margin tap is not requested).
    /// </summary>
    public static Tensor? CheckInput<TTaps>(TapPass<TTaps> pass, TTaps marginTap, int size, string model) where TTaps : struct, Enum
    {
        var x = pass.Current;
        if (x.dim() != 4 || x.shape[2] != size || x.shape[3] != size)
            throw new ArgumentException(
                $"{model} was built for {size}×{size} inputs (size: {size}) and takes (N, 3, {size}, {size}) batches; got [{string.Join(", ", x.shape)}]: " +
                "resize the images or build the model with the size of the data");
        if (!pass.Wants(marginTap)) return null;
        var label = pass.Label(marginTap);
        if (label.dim() != 1 || label.shape[0] != x.shape[0])
            throw new ArgumentException($"{model}: tap {marginTap} needs one class label per sample, shape [{x.shape[0]}]; got labels of shape [{string.Join(", ", label.shape)}]");
        return label;
    }

    /// <summary>
    /// The head after the embedding: logits = s·cos θ, kept as <paramref name="logitsTap"/>; then the margin
    /// on each row's target (in place unless the plain logits are kept) as <paramref name="marginTap"/>.
    /// Skipped when neither is requested, in training too: the head keeps no running statistics.
    /// </summary>
    public static void RunHead<TTaps>(TapPass<TTaps> pass, MarginHead head, Tensor? label, TTaps logitsTap, TTaps marginTap) where TTaps : struct, Enum
    {
        var keepLogits = pass.Wants(logitsTap);
        if (!keepLogits && !pass.Wants(marginTap)) return;
        pass.Step(head.logits);
        pass.Tap(logitsTap);
        if (!pass.Wants(marginTap)) return;
        pass.Step(logits => head.apply_margin_(keepLogits ? logits.clone() : logits, label!));
        pass.Tap(marginTap);
    }
}
