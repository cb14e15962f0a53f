namespace Distill.Torch;

/// <summary>
/// An optimizer's state_dict: the state tensors (<c>state.&lt;index&gt;.&lt;name&gt;</c>, step counts
/// included) and a JSON document with the parameter groups' hyper-parameters and parameter indices.
/// <see cref="Save"/> writes both to one safetensors file (the JSON as metadata) that
/// <see cref="Load"/> reads back. Disposing it frees its tensor handles, never the optimizer's state.
/// </summary>
public sealed class OptimizerState : IDisposable
{
    /// <summary>The safetensors metadata key that holds <see cref="Json"/>.</summary>
    public const string MetadataKey = "distill.optimizer";

    public OptimizerState(IReadOnlyDictionary<string, Tensor> tensors, string json)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(json);
        Tensors = tensors;
        Json = json;
    }

    public IReadOnlyDictionary<string, Tensor> Tensors { get; }

    public string Json { get; }

    /// <summary>Writes the state to a safetensors file (atomically, as <see cref="Safetensors.Save(string, IReadOnlyDictionary{string, Tensor}, IReadOnlyDictionary{string, string}?)"/>).</summary>
    public void Save(string path) =>
        Safetensors.Save(path, Tensors, new Dictionary<string, string> { [MetadataKey] = Json });

    /// <summary>Reads a file written by <see cref="Save"/>.</summary>
    public static OptimizerState Load(string path)
    {
        var content = Safetensors.Read(path);
        if (!content.Metadata.TryGetValue(MetadataKey, out var json))
        {
            content.Dispose();
            throw new TorchException($"'{path}' holds no optimizer state (its metadata has no '{MetadataKey}')", ErrorCategory.Value);
        }
        return new OptimizerState(content.ToDictionary(), json);
    }

    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}
