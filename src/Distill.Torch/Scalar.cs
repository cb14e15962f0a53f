using Distill.Torch.Native;

namespace Distill.Torch;

/// <summary>
/// A number passed to libtorch with its kind kept, as Python does: <c>int_tensor + 2</c> stays integral,
/// <c>int_tensor + 2.0</c> promotes to floating point.
/// </summary>
public readonly struct Scalar
{
    private readonly double _f;
    private readonly long _i;
    private readonly int _kind; // 0 floating, 1 integral, 2 boolean

    private Scalar(double f, long i, int kind) { _f = f; _i = i; _kind = kind; }

    public static implicit operator Scalar(double v) => new(v, 0, 0);
    public static implicit operator Scalar(float v) => new(v, 0, 0);
    public static implicit operator Scalar(long v) => new(v, v, 1);
    public static implicit operator Scalar(int v) => new(v, v, 1);
    public static implicit operator Scalar(bool v) => new(v ? 1 : 0, v ? 1 : 0, 2);

    public bool IsFloatingPoint => _kind == 0;
    public double ToDouble() => _kind == 0 ? _f : _i;
    public long ToInt64() => _kind == 0 ? (long)_f : _i;

    internal NativeScalar ToNative() => new() { F = _f, I = _i, Kind = _kind };

    public override string ToString() => _kind switch
    {
        0 => _f.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        2 => _i != 0 ? "True" : "False",
        _ => _i.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
