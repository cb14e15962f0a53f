using System.Buffers.Binary;
using System.Text;

namespace Distill.Torch.Tests;

public class SafetensorsTests
{
    private static string PythonFile => Path.Combine(AppContext.BaseDirectory, "fixtures", "safetensors_dtypes.safetensors");

    private static string TempFile() => Path.Combine(Path.GetTempPath(), $"distill-st-{Guid.NewGuid():N}.safetensors");

    /// <summary>The tensors make_safetensors.py writes, rebuilt here from the same formulas.</summary>
    private static List<KeyValuePair<string, Tensor>> Expected()
    {
        var b = torch.arange(-6, 6, ScalarType.Float64).reshape(3, 4) / 4;
        return new()
        {
            new("f64", b.clone()),
            new("f32", b.to(ScalarType.Float32)),
            new("f16", b.to(ScalarType.Float16)),
            new("bf16", b.to(ScalarType.BFloat16)),
            new("i64", torch.arange(-6, 6, ScalarType.Int64).reshape(3, 4) * 1000000007L),
            new("i32", torch.arange(-6, 6, ScalarType.Int32).reshape(2, 6) * 1000),
            new("i16", torch.arange(-6, 6, ScalarType.Int16)),
            new("i8", torch.arange(-6, 6, ScalarType.Int8).reshape(2, 2, 3)),
            new("u8", torch.arange(0, 240, 20, ScalarType.Byte)),
            new("bool", (torch.arange(12).reshape(3, 4) % 3).eq(0)),
            new("empty", torch.zeros([0, 5])),
            new("scalar", torch.tensor(2.5f)),
        };
    }

    [Fact]
    public void A_file_written_by_Python_loads_with_every_dtype_shape_and_the_metadata()
    {
        using var scope = torch.NewDisposeScope();
        using var content = Safetensors.Read(PythonFile);
        Assert.Equal("pt", content.Metadata["format"]);
        var expected = Expected();
        Assert.Equal(expected.Select(e => e.Key), content.Tensors.Select(t => t.Key));
        foreach (var (name, e) in expected)
        {
            var a = content[name];
            Assert.True(e.dtype == a.dtype, $"{name}: {a.dtype} vs {e.dtype}");
            TensorAssert.Equal(e.shape, a.shape, name);
            Assert.True(e.equal(a), $"{name} differs");
        }
    }

    [Fact]
    public void Our_writer_produces_the_same_bytes_as_the_Python_writer()
    {
        using var scope = torch.NewDisposeScope();
        var path = TempFile();
        try
        {
            Safetensors.Save(path, Expected(), new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "make_safetensors.py" });
            Assert.Equal(File.ReadAllBytes(PythonFile), File.ReadAllBytes(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Save_then_load_round_trips_non_contiguous_tensors()
    {
        using var scope = torch.NewDisposeScope();
        var path = TempFile();
        try
        {
            var t = torch.arange(12, ScalarType.Float32).reshape(3, 4);
            var strided = t.flatten().view(4, 3).to(ScalarType.Float64);
            Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = t, ["b"] = strided });
            var back = Safetensors.Load(path);
            Assert.True(back["a"].equal(t));
            Assert.True(back["b"].equal(strided));
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}*.tmp"));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_truncated_file_is_an_error_naming_the_file_and_the_tensor()
    {
        using var scope = torch.NewDisposeScope();
        var path = TempFile();
        try
        {
            var bytes = File.ReadAllBytes(PythonFile);
            File.WriteAllBytes(path, bytes[..(bytes.Length - 10)]);
            var e = Assert.Throws<TorchException>(() => Safetensors.Load(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("truncated", e.Message);
            Assert.Contains("'bool'", e.Message); // the first tensor (in header order) whose bytes were cut

            File.WriteAllBytes(path, bytes[..5]);
            e = Assert.Throws<TorchException>(() => Safetensors.Load(path));
            Assert.Contains("fewer than the 8-byte header length", e.Message);

            File.WriteAllBytes(path, bytes[..40]);
            e = Assert.Throws<TorchException>(() => Safetensors.Load(path));
            Assert.Contains("does not fit a file", e.Message);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "needs 8 bytes but data_offsets span 4")]
    [InlineData("{\"x\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unsupported dtype 'Q7'")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "non-negative integers")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", "missing 'data_offsets'")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "starts at byte 4, expected 0")]
    [InlineData("{\"x\":", "not valid JSON")]
    [InlineData("[1,2]", "not a JSON object")]
    public void A_corrupt_header_is_an_error_that_says_what_is_wrong(string header, string message)
    {
        var path = TempFile();
        try
        {
            var h = Encoding.UTF8.GetBytes(header);
            var file = new byte[8 + h.Length + 8];
            BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)h.Length);
            h.CopyTo(file, 8);
            File.WriteAllBytes(path, file);
            var e = Assert.Throws<TorchException>(() => Safetensors.Load(path));
            Assert.Contains(message, e.Message);
            Assert.Contains(path, e.Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_missing_file_is_an_error_naming_it()
    {
        var e = Assert.Throws<TorchException>(() => Safetensors.Load("/nonexistent/weights.safetensors"));
        Assert.Contains("/nonexistent/weights.safetensors", e.Message);
    }

    [Fact]
    public void Duplicate_names_are_rejected_on_save()
    {
        using var scope = torch.NewDisposeScope();
        var t = torch.ones([1]);
        var e = Assert.Throws<TorchException>(() => Safetensors.Save(TempFile(), new[] { new KeyValuePair<string, Tensor>("a", t), new("a", t) }));
        Assert.Contains("duplicate tensor name 'a'", e.Message);
    }
}
