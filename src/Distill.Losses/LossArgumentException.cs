namespace Distill.Losses;

/// <summary>A loss called with inputs it cannot use: names the loss, the argument and what was expected.</summary>
public sealed class LossArgumentException : ArgumentException
{
    public LossArgumentException(string loss, string argument, string message)
        : base($"{loss}: {message}", argument) => Loss = loss;

    public string Loss { get; }
}

/// <summary>The argument checks every loss runs first; each failure says loss, argument and shapes.</summary>
internal static class Guard
{
    public static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";

    public static void SameShape(string loss, string nameA, Tensor a, string nameB, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape))
            throw new LossArgumentException(loss, nameB, $"{nameA} {Shape(a)} and {nameB} {Shape(b)} must have the same shape");
    }

    public static void Rank(string loss, string name, Tensor t, int rank, string layout)
    {
        if (t.dim() != rank)
            throw new LossArgumentException(loss, name, $"{name} must be {rank}-D ({layout}), got {Shape(t)}");
    }

    public static void NonEmpty(string loss, string name, Tensor t)
    {
        if (t.dim() == 0 || t.size(0) == 0)
            throw new LossArgumentException(loss, name, $"{name} is an empty batch {Shape(t)}");
    }

    public static void Positive(string loss, string name, double value)
    {
        if (!(value > 0) || double.IsInfinity(value))
            throw new LossArgumentException(loss, name, $"{name} must be > 0, got {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }

    public static void NonNegative(string loss, string name, double value)
    {
        if (!(value >= 0) || double.IsInfinity(value))
            throw new LossArgumentException(loss, name, $"{name} must be >= 0, got {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }

    public static void AtLeast(string loss, string name, long value, long min)
    {
        if (value < min)
            throw new LossArgumentException(loss, name, $"{name} must be >= {min}, got {value}");
    }

    /// <summary>A string option (reduction, rule) from a fixed set.</summary>
    public static void OneOf(string loss, string name, string value, params string[] options)
    {
        if (Array.IndexOf(options, value) < 0)
            throw new LossArgumentException(loss, name, $"{name} must be one of {string.Join(", ", options.Select(o => $"'{o}'"))}, got '{value}'");
    }

    /// <summary>
    /// Integer class indices (B) for logits (B, K): one per row, each in [0, K) unless it equals
    /// <paramref name="ignoreIndex"/>. Returns the labels as int64. The range check needs one host sync.
    /// </summary>
    public static Tensor Labels(string loss, string name, Tensor target, string logitsName, Tensor logits, long? ignoreIndex = null) =>
        Labels(loss, name, target, logitsName, logits, ignoreIndex, out _);

    /// <summary>
    /// <see cref="Labels(string, string, Tensor, string, Tensor, long?)"/>, also counting the rows labelled
    /// <paramref name="ignoreIndex"/>. The labels are checked on the host: one copy of B integers instead of
    /// a chain of comparison ops and a sync.
    /// </summary>
    public static Tensor Labels(string loss, string name, Tensor target, string logitsName, Tensor logits, long? ignoreIndex, out long ignoredRows)
    {
        if (target.dim() != 1 || target.size(0) != logits.size(0))
            throw new LossArgumentException(loss, name, $"{name} {Shape(target)} must hold one class index per row of {logitsName} {Shape(logits)}");
        if (target.is_floating_point() || target.dtype == ScalarType.Bool)
            throw new LossArgumentException(loss, name, $"{name} must hold integer class indices, got {target.dtype.Name()}");
        var classes = logits.size(1);
        ignoredRows = 0;
        foreach (var label in target.ToArray<long>())
        {
            if (ignoreIndex == label) ignoredRows++;
            else if (label < 0 || label >= classes)
                throw new LossArgumentException(loss, name, $"{name} has class index {label} outside [0, {classes}) for {logitsName} {Shape(logits)}");
        }
        return target.dtype == ScalarType.Int64 ? target : target.@long();
    }

    /// <summary>A bool mask with exactly the shape of <paramref name="like"/>.</summary>
    public static void Mask(string loss, string name, Tensor mask, string likeName, Tensor like)
    {
        if (!mask.shape.SequenceEqual(like.shape))
            throw new LossArgumentException(loss, name, $"{name} {Shape(mask)} must have the shape of {likeName} {Shape(like)}");
        if (mask.dtype != ScalarType.Bool)
            throw new LossArgumentException(loss, name, $"{name} must be a bool mask, got {mask.dtype.Name()}");
    }

    /// <summary>A probability-like threshold in (0, 1].</summary>
    public static void UnitInterval(string loss, string name, double value)
    {
        if (!(value > 0 && value <= 1))
            throw new LossArgumentException(loss, name, $"{name} must be in (0, 1], got {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }
}
