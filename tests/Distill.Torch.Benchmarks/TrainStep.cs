namespace Distill.Torch.Benchmarks;

/// <summary>(b) placeholder until the modules land.</summary>
internal static class TrainStep
{
    public sealed record Result(List<double> Seconds, double FinalLoss, long LiveBefore, long LiveAfter);

    public static Result Run(int steps, int warmup, int batch) => throw new NotSupportedException("modules not merged yet");
}
