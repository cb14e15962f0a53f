using System.Diagnostics;

namespace Distill.Torch.Benchmarks;

/// <summary>
/// (a) The per-call cost of a small elementwise op: <c>x + y</c> on 4 floats, the result freed each
/// time. Measured in many short rounds so that the minimum (the least disturbed round) and the median
/// can both be compared with PyTorch's, measured the same way.
/// </summary>
internal static class OpOverhead
{
    private const int Rounds = 50;

    /// <summary>Seconds per op in each round, the result disposed explicitly (the generated-code pattern).</summary>
    public static List<double> Disposed(int iterations)
    {
        using var x = torch.ones([4]);
        using var y = torch.ones([4]);
        var n = Math.Max(1, iterations / Rounds);
        for (var i = 0; i < Math.Max(n, 20_000); i++) (x + y).Dispose(); // JIT tiering and allocator warm-up
        var rounds = new List<double>();
        for (var r = 0; r < Rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++) (x + y).Dispose();
            rounds.Add(sw.Elapsed.TotalSeconds / n);
        }
        return rounds;
    }

    /// <summary>The same inside a dispose scope emptied every 1,000 ops (the user-code pattern).</summary>
    public static List<double> Scoped(int iterations)
    {
        using var x = torch.ones([4]);
        using var y = torch.ones([4]);
        var n = Math.Max(1, iterations / Rounds);
        var rounds = new List<double>();
        using var scope = torch.NewDisposeScope();
        for (var r = 0; r < Rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < n; i++)
            {
                _ = x + y;
                if (i % 1000 == 999) scope.DisposeEverything();
            }
            scope.DisposeEverything();
            rounds.Add(sw.Elapsed.TotalSeconds / n);
        }
        return rounds;
    }

    internal static double Median(IReadOnlyList<double> values)
    {
        var s = values.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
