namespace Distill.Data.Tests;

public class TensorImagesTests
{
    private static string Write(TempDir dir, Dictionary<string, Tensor> tensors, string name = "data.safetensors")
    {
        var path = dir.File(name);
        Safetensors.Save(path, tensors);
        return path;
    }

    [Fact]
    public void Uint8_images_and_integer_labels_load_as_written()
    {
        using var scope = torch.NewDisposeScope();
        using var dir = new TempDir();
        var image = torch.randint(0, 256, [5, 3, 6, 6], dtype: torch.uint8, generator: new Generator(1));
        var path = Write(dir, new() { ["image"] = image, ["label"] = torch.tensor(new[] { 4, 0, 1, 3, 2 }) });
        using var data = new TensorImages(path, classes: 5, size: 6);
        Assert.Equal(5, data.Count);
        Assert.Equal([4, 0, 1, 3, 2], Enumerable.Range(0, 5).Select(data.Label));
        using var batch = data.Collate([3, 1]);
        Assert.True(batch.image.equal(image.index_select(0, torch.tensor(new long[] { 3, 1 }))));
        Assert.Equal(new long[] { 3, 0 }, batch.label.ToArray<long>());
        Assert.Equal(ScalarType.Int64, batch.label.dtype);
    }

    [Fact]
    public void Float_images_are_kept_as_float32_and_other_keys_can_be_named()
    {
        using var scope = torch.NewDisposeScope();
        using var dir = new TempDir();
        var x = torch.rand([2, 1, 4, 4], dtype: torch.float64);
        var path = Write(dir, new() { ["x"] = x, ["y"] = torch.tensor(new byte[] { 1, 0 }) });
        using var data = new TensorImages(path, classes: 2, channels: 1, size: 4, image_key: "x", label_key: "y");
        using var batch = data.Collate([0, 1]);
        Assert.Equal(ScalarType.Float32, batch.image.dtype);
        Assert.True(batch.image.allclose(x.to(torch.float32)));
        // The float path through the transform: values taken as [0, 1].
        var normalised = new ImageTransform(mean: [0.5], std: [0.5]).Apply(batch.image, null, null, null);
        Assert.True(normalised.allclose((x.to(torch.float32) - 0.5) / 0.5, atol: 1e-6));
    }

    [Fact]
    public void Errors_name_the_file_and_what_is_wrong()
    {
        using var scope = torch.NewDisposeScope();
        using var dir = new TempDir();
        var images = torch.zeros([3, 3, 4, 4], dtype: torch.uint8);
        var labels = torch.tensor(new long[] { 0, 1, 2 });

        var noLabel = Write(dir, new() { ["image"] = images, ["labels"] = labels }, "a.safetensors");
        Assert.Equal($"safetensors file '{noLabel}' has no tensor 'label' (it has: image, labels)",
            Assert.Throws<DatasetException>(() => new TensorImages(noLabel, classes: 3, size: 4)).Message);

        var nhwc = Write(dir, new() { ["image"] = torch.zeros([3, 4, 4, 3], dtype: torch.uint8), ["label"] = labels }, "b.safetensors");
        Assert.Equal($"safetensors file '{nhwc}': tensor 'image' has shape [3, 4, 4, 3], expected [N, 3, 4, 4] (that looks like N×H×W×C: store images channels first)",
            Assert.Throws<DatasetException>(() => new TensorImages(nhwc, classes: 3, size: 4)).Message);

        var outOfRange = Write(dir, new() { ["image"] = images, ["label"] = torch.tensor(new long[] { 0, 7, 1 }) }, "c.safetensors");
        var e = Assert.Throws<DatasetException>(() => new TensorImages(outOfRange, classes: 3, size: 4));
        Assert.Equal($"safetensors file '{outOfRange}': record 1 has label 7, outside 0..2", e.Message);
        Assert.Equal(1, e.Record);

        var floatLabels = Write(dir, new() { ["image"] = images, ["label"] = torch.zeros([3]) }, "d.safetensors");
        Assert.Contains("tensor 'label' is float32, expected an integer type",
            Assert.Throws<DatasetException>(() => new TensorImages(floatLabels, classes: 3, size: 4)).Message);

        var short_ = Write(dir, new() { ["image"] = images, ["label"] = torch.tensor(new long[] { 0, 1 }) }, "e.safetensors");
        Assert.Contains("tensor 'label' has shape [2], expected [3] (one label per image)",
            Assert.Throws<DatasetException>(() => new TensorImages(short_, classes: 3, size: 4)).Message);

        var garbage = dir.File("f.safetensors");
        File.WriteAllBytes(garbage, [1, 2, 3]);
        var g = Assert.Throws<DatasetException>(() => new TensorImages(garbage, classes: 3, size: 4));
        Assert.StartsWith($"safetensors file '{garbage}' cannot be read:", g.Message);
        Assert.Equal(garbage, g.Path);

        Assert.Equal($"safetensors file '{dir["none"]}' does not exist",
            Assert.Throws<DatasetException>(() => new TensorImages(dir["none"])).Message);
    }
}
