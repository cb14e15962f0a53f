namespace Distill.Losses.Tests;

/// <summary>
/// Tests that read the process-wide live-tensor counter run alone: xunit runs this collection after the parallel ones, with
/// nothing beside it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SequentialCollection
{
    public const string Name = "Sequential (process-wide counters)";

    /// <summary>The live native tensor count once garbage left to the GC by earlier tests is finalized.</summary>
    public static long SettledLiveCount()
    {
        for (var i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        return Tensor.LiveCount;
    }
}
