namespace Distill.Torch;

/// <summary>
/// An "int or tuple of ints" argument (kernel sizes, strides, paddings, output sizes), as PyTorch
/// accepts them: <c>stride: 2</c>, <c>stride: (2, 1)</c> or <c>stride: new long[] { 2, 1 }</c>.
/// A single value applies to every spatial dimension.
/// </summary>
public readonly struct IntOrTuple : IEquatable<IntOrTuple>
{
    private readonly long[]? _values;
    private readonly long _single;

    private IntOrTuple(long single) { _single = single; _values = null; }
    private IntOrTuple(long[] values) { _single = 0; _values = (long[])values.Clone(); }

    public static implicit operator IntOrTuple(long value) => new(value);
    public static implicit operator IntOrTuple(long[] values) => new(values);
    public static implicit operator IntOrTuple(int[] values) => new(Array.ConvertAll(values, v => (long)v));
    public static implicit operator IntOrTuple((long, long) pair) => new(new[] { pair.Item1, pair.Item2 });
    public static implicit operator IntOrTuple((long, long, long) triple) => new(new[] { triple.Item1, triple.Item2, triple.Item3 });

    /// <summary>True when one value was given (it applies to every dimension).</summary>
    public bool IsSingle => _values is null;

    /// <summary>The values as given: one value, or the tuple.</summary>
    public long[] Values => _values is null ? new[] { _single } : (long[])_values.Clone();

    /// <summary>The values for <paramref name="dims"/> dimensions: a single value repeated, a tuple as is.</summary>
    public long[] Expand(int dims) => _values is null ? Enumerable.Repeat(_single, dims).ToArray() : (long[])_values.Clone();

    public bool Equals(IntOrTuple other) => IsSingle == other.IsSingle && Values.AsSpan().SequenceEqual(other.Values);
    public override bool Equals(object? obj) => obj is IntOrTuple other && Equals(other);
    public override int GetHashCode() => Values.Aggregate(IsSingle ? 17 : 31, (h, v) => HashCode.Combine(h, v));

    /// <summary>Python's spelling: <c>3</c> or <c>(3, 3)</c>.</summary>
    public override string ToString() =>
        _values is null ? _single.ToString(System.Globalization.CultureInfo.InvariantCulture)
        : _values.Length == 1 ? $"({_values[0]},)"
        : "(" + string.Join(", ", _values) + ")";
}

/// <summary>A "float or tuple of floats" argument (interpolate's scale_factor).</summary>
public readonly struct DoubleOrTuple
{
    private readonly double[]? _values;
    private readonly double _single;

    private DoubleOrTuple(double single) { _single = single; _values = null; }
    private DoubleOrTuple(double[] values) { _single = 0; _values = (double[])values.Clone(); }

    public static implicit operator DoubleOrTuple(double value) => new(value);
    public static implicit operator DoubleOrTuple(double[] values) => new(values);
    public static implicit operator DoubleOrTuple((double, double) pair) => new(new[] { pair.Item1, pair.Item2 });

    public bool IsSingle => _values is null;
    public double[] Values => _values is null ? new[] { _single } : (double[])_values.Clone();
}
