using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// Images and labels stored as tensors in a safetensors file: <c>image</c> (N, channels, size, size) —
/// uint8 0..255, or floating point in [0, 1] (kept as float32) — and <c>label</c> (N) of any integer type
/// with values in 0 .. classes - 1. The tensor names are arguments. Loaded into memory.
/// </summary>
[DistillDataset(Task = "classification")]
[BatchField("image", TensorKind.FeatureMap, "N, channels, size, size")]
[BatchField("label", TensorKind.Labels, "N", Classes = "classes")]
public sealed class TensorImages : InMemoryImageDataset
{
    public TensorImages(string path = "data/train.safetensors", int classes = 10, int channels = 3, int size = 32,
        string image_key = "image", string label_key = "label")
    {
        if (!File.Exists(path)) throw new DatasetException($"safetensors file '{path}' does not exist", path);
        Path = path;
        Safetensors.Content content;
        try { content = Safetensors.Read(path); }
        catch (TorchException e) { throw new DatasetException($"safetensors file '{path}' cannot be read: {e.Message}", path, inner: e); }
        using (content)
        {
            Tensor Get(string key) => content.Tensors.FirstOrDefault(kv => kv.Key == key).Value
                ?? throw new DatasetException(
                    $"safetensors file '{path}' has no tensor '{key}' (it has: {string.Join(", ", content.Tensors.Select(kv => kv.Key).Take(20))})", path);
            var image = Get(image_key);
            var label = Get(label_key);
            var shape = image.shape;
            if (shape.Length != 4 || shape[1] != channels || shape[2] != size || shape[3] != size)
            {
                var hint = shape.Length == 4 && shape[3] == channels && shape[1] == size && shape[2] == size
                    ? " (that looks like N×H×W×C: store images channels first)" : "";
                throw new DatasetException(
                    $"safetensors file '{path}': tensor '{image_key}' has shape [{string.Join(", ", shape)}], expected [N, {channels}, {size}, {size}]{hint}", path);
            }
            var dtype = image.dtype;
            if (dtype != ScalarType.Byte && !dtype.IsFloatingPoint())
                throw new DatasetException($"safetensors file '{path}': tensor '{image_key}' is {dtype.Name()}, expected uint8 or floating point", path);
            var n = shape[0];
            var ldtype = label.dtype;
            if (ldtype.IsFloatingPoint() || ldtype == ScalarType.Bool)
                throw new DatasetException($"safetensors file '{path}': tensor '{label_key}' is {ldtype.Name()}, expected an integer type", path);
            if (label.dim() != 1 || label.size(0) != n)
                throw new DatasetException(
                    $"safetensors file '{path}': tensor '{label_key}' has shape [{string.Join(", ", label.shape)}], expected [{n}] (one label per image)", path);
            var values = label.ToArray<long>();
            for (var i = 0; i < values.Length; i++)
                if (values[i] < 0 || values[i] >= classes)
                    throw new DatasetException($"safetensors file '{path}': record {i} has label {values[i]}, outside 0..{classes - 1}", path, i);
            var images = dtype == ScalarType.Byte || dtype == ScalarType.Float32 ? image.alias() : image.to(torch.float32);
            Initialize(images, values.Select(v => (int)v).ToArray(), classes, null);
        }
    }

    /// <summary>The file the tensors were read from.</summary>
    public string Path { get; }
}
