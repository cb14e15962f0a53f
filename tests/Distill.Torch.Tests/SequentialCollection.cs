namespace Distill.Torch.Tests;

/// <summary>
/// Tests that read the process-wide live-tensor counter run alone: xunit runs this collection after the
/// parallel ones, with nothing beside it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SequentialCollection
{
    public const string Name = "Sequential (process-wide counters)";
}
