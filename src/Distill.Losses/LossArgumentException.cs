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

    /// <summary>A probability-like threshold in (0, 1].</summary>
    public static void UnitInterval(string loss, string name, double value)
    {
        if (!(value > 0 && value <= 1))
            throw new LossArgumentException(loss, name, $"{name} must be in (0, 1], got {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
    }
}
