using System.Diagnostics;

namespace Distill.Torch.Benchmarks;

/// <summary>(a) The per-call cost of a small elementwise op: <c>x + y</c> on 4 floats, result freed at once.</summary>
internal static class OpOverhead
{
    /// <summary>Median seconds per op over 5 rounds, with the result disposed explicitly (the generated-code pattern).</summary>
    public static double Disposed(int iterations)
    {
        using var x = torch.ones([4]);
        using var y = torch.ones([4]);
        for (var i = 0; i < 20_000; i++) (x + y).Dispose(); // JIT tiering and allocator warm-up
        var rounds = new List<double>();
        for (var r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            for (var i = 0; i < iterations; i++) (x + y).Dispose();
            rounds.Add(sw.Elapsed.TotalSeconds / iterations);
        }
        return Median(rounds);
    }

    /// <summary>The same inside a dispose scope that is emptied every 1,000 ops (the user-code pattern).</summary>
    public static double Scoped(int iterations)
    {
        using var x = torch.ones([4]);
        using var y = torch.ones([4]);
        var rounds = new List<double>();
        for (var r = 0; r < 6; r++)
        {
            var sw = Stopwatch.StartNew();
            using (var scope = torch.NewDisposeScope())
            {
                for (var i = 0; i < iterations; i++)
                {
                    _ = x + y;
                    if (i % 1000 == 999) scope.DisposeEverything();
                }
            }
            if (r > 0) rounds.Add(sw.Elapsed.TotalSeconds / iterations);
        }
        return Median(rounds);
    }

    internal static double Median(List<double> values)
    {
        var s = values.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
