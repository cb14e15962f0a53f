using System.Numerics;
using System.Runtime.CompilerServices;

namespace Distill.Models;

/// <summary>
/// Bit arithmetic over a model's nested <c>[Flags] enum Taps : long</c> (one bit per tap, in
/// declaration order, plus <c>None</c> and <c>All</c>), without boxing.
/// </summary>
internal static class TapSet<TTaps> where TTaps : struct, Enum
{
    /// <summary>Null when the enum is usable; otherwise why not (checked when a model is built).</summary>
    public static readonly string? Problem = FindProblem();

    /// <summary>The union of every tap.</summary>
    public static readonly long AllBits = Problem is null ? Enum.GetValues<TTaps>().Aggregate(0L, (acc, t) => acc | Bits(t)) : 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Bits(TTaps taps) => Unsafe.As<TTaps, long>(ref taps);

    /// <summary>The taps whose bits are set in <paramref name="bits"/> (the inverse of <see cref="Bits"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TTaps FromBits(long bits) => Unsafe.As<long, TTaps>(ref bits);

    /// <summary>The array slot of one tap; rejects none or several.</summary>
    public static int Index(TTaps tap)
    {
        var bits = Bits(tap);
        if (bits == 0 || (bits & (bits - 1)) != 0 || (bits & ~AllBits) != 0)
            throw new ArgumentException($"'{tap}' is not a single tap of {typeof(TTaps).DeclaringType?.Name ?? typeof(TTaps).Name}", nameof(tap));
        return BitOperations.TrailingZeroCount(bits);
    }

    private static string? FindProblem()
    {
        var type = typeof(TTaps);
        if (Enum.GetUnderlyingType(type) != typeof(long)) return $"{type.FullName} must be declared 'enum Taps : long'";
        if (!type.IsDefined(typeof(FlagsAttribute), false)) return $"{type.FullName} must be a [Flags] enum";
        return null;
    }
}
