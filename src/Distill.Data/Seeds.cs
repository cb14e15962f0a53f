namespace Distill.Data;

/// <summary>
/// Seed derivation: every random stream of this library (an epoch's order, a batch's augmentation, a
/// synthetic sample) is seeded by a pure function of its coordinates, so any of them can be replayed
/// alone — which is what makes resuming at (epoch, batch) exact.
/// </summary>
internal static class Seeds
{
    /// <summary>SplitMix64's finaliser: a bijective, well-mixed scramble of 64 bits.</summary>
    public static ulong Scramble(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    public static ulong Combine(ulong a, ulong b) => Scramble(Scramble(a) ^ (b * 0xD6E8FEB86659FD93UL + 0x632BE59BD9B4E019UL));

    public static ulong Combine(ulong a, ulong b, ulong c) => Combine(Combine(a, b), c);

    public static ulong Combine(ulong a, ulong b, ulong c, ulong d) => Combine(Combine(Combine(a, b), c), d);

    /// <summary>FNV-1a over the UTF-16 code units: a stable (process-independent) hash of a name.</summary>
    public static ulong Name(string name)
    {
        var h = 0xCBF29CE484222325UL;
        foreach (var ch in name)
        {
            h ^= ch;
            h *= 0x100000001B3UL;
        }
        return h;
    }

    // Stream names, hashed once.
    public static readonly ulong Order = Name("order");
    public static readonly ulong Augment = Name("augment");
}

/// <summary>
/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64: a small, fast generator for the
/// per-sample work of the synthetic data set, where a native generator per pixel draw would be far too
/// slow. A value type: copy it and both copies continue identically.
/// </summary>
internal struct Rng
{
    private ulong _s0, _s1, _s2, _s3;

    public Rng(ulong seed)
    {
        _s0 = Seeds.Scramble(seed);
        _s1 = Seeds.Scramble(_s0);
        _s2 = Seeds.Scramble(_s1);
        _s3 = Seeds.Scramble(_s2);
    }

    public ulong Next()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    public double Uniform(double low, double high) => low + (high - low) * NextDouble();

    /// <summary>Uniform in [0, n) (Lemire's multiply-shift; the bias is below 2^-32 for the n used here).</summary>
    public int NextInt(int n) => (int)(((Next() >> 32) * (ulong)n) >> 32);

    public bool Chance(double p) => NextDouble() < p;

    /// <summary>A standard normal draw (Box–Muller, one of the pair).</summary>
    public double Gaussian()
    {
        var u = 1.0 - NextDouble(); // (0, 1]: log is finite
        var v = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u)) * Math.Cos(2.0 * Math.PI * v);
    }

    /// <summary>A cheap approximately normal draw (four uniforms, variance matched): for pixel noise.</summary>
    public float FastGaussian()
    {
        var x = Next();
        // Four 16-bit uniforms from one draw; their centred sum has variance 4/12 = 1/3.
        var sum = (x & 0xFFFF) + ((x >> 16) & 0xFFFF) + ((x >> 32) & 0xFFFF) + (x >> 48);
        return (float)((sum * (1.0 / 65536.0) - 2.0) * 1.7320508075688772);
    }
}
