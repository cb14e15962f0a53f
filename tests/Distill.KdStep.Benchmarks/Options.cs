using System.Globalization;

namespace Distill.KdStep.Benchmarks;

/// <summary>The benchmark's command line.</summary>
internal sealed record KdOptions(int Steps, int Warmup, int Block, int Threads, int LeakSteps, int LeakEvery, IReadOnlyList<string> Out, bool NoPython, string OmpWaitPolicy, int Parts,
    bool ChannelsLast = true, string Device = "cpu")
{
    public const string Usage =
        "options: --steps N (measured steps per kind, default 40)  --warmup N (default 5)  --block N (steps per block, default 5)\n" +
        "         --threads N (intra-op threads on both sides, default: the core count)\n" +
        "         --leak-steps N (loader-fed steps of the live-tensor run, default 5000; 0 skips it)  --leak-every N (sampling interval, default 100)\n" +
        "         --out PATH (.md writes Markdown, anything else JSON; may be given more than once)  --no-python (Distill's numbers only)\n" +
        "         --omp-wait-policy passive|active|inherit (OpenMP threads' idle waiting on both sides, default passive)\n" +
        "         --parts N (steps per side timed phase by phase: teacher forward, student forward, losses, backward, ...; default 10, 0 skips)\n" +
        "         --no-channels-last (skip the channels_last rows: both sides' models and batch in channels_last)\n" +
        "         --device cpu|cuda|cuda:N (both sides; on a GPU every timed step ends with a device synchronize; DISTILL_PYTHON\n" +
        "           names the PyTorch side's interpreter, DISTILL_TORCH_NATIVE a CUDA build of the shim)";

    public static KdOptions Parse(string[] args)
    {
        var o = new KdOptions(40, 5, 5, Environment.ProcessorCount, 5000, 100, [], false, "passive", 10);
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{name} needs a value");
            int Count(int min)
            {
                var text = Next();
                if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min)
                    throw new ArgumentException($"{name} expects a whole number >= {min}, got '{text}'");
                return value;
            }
            o = name switch
            {
                "--steps" => o with { Steps = Count(1) },
                "--warmup" => o with { Warmup = Count(0) },
                "--block" => o with { Block = Count(1) },
                "--threads" => o with { Threads = Count(1) },
                "--leak-steps" => o with { LeakSteps = Count(0) },
                "--leak-every" => o with { LeakEvery = Count(1) },
                "--out" => o with { Out = [.. o.Out, Next()] },
                "--parts" => o with { Parts = Count(0) },
                "--no-python" => o with { NoPython = true },
                "--no-channels-last" => o with { ChannelsLast = false },
                "--device" => o with { Device = Next() is var d && (d == "cpu" || d == "cuda" || d.StartsWith("cuda:", StringComparison.Ordinal)) ? d : throw new ArgumentException($"{name} expects cpu, cuda or cuda:N, got '{d}'") },
                "--omp-wait-policy" => o with { OmpWaitPolicy = Next() is var p && p is "passive" or "active" or "inherit" ? p : throw new ArgumentException($"{name} expects passive, active or inherit") },
                _ => throw new ArgumentException($"unknown option '{name}'"),
            };
        }
        return o;
    }
}
