namespace Distill.Torch.Tests;

/// <summary>
/// Reads a PyTorch-made fixture file (tests/fixtures/torch/&lt;area&gt;.safetensors) whose entries are
/// named <c>&lt;case&gt;/&lt;tensor&gt;</c>, and compares results with it. Files are loaded once per process.
/// </summary>
public sealed class Fixture
{
    private static readonly Dictionary<string, Fixture> s_cache = new();
    private readonly Dictionary<string, Tensor> _tensors;

    private Fixture(string area, Dictionary<string, Tensor> tensors)
    {
        Area = area;
        _tensors = tensors;
    }

    public string Area { get; }

    public static Fixture Load(string area)
    {
        lock (s_cache)
        {
            if (s_cache.TryGetValue(area, out var cached)) return cached;
            var path = Path.Combine(AppContext.BaseDirectory, "fixtures", area + ".safetensors");
            var tensors = Safetensors.Load(path);
            foreach (var t in tensors.Values) t.DetachFromDisposeScope();
            return s_cache[area] = new Fixture(area, tensors);
        }
    }

    /// <summary>The fixture tensor <c>case/name</c>; the caller must not dispose it.</summary>
    public Tensor this[string testCase, string name] =>
        _tensors.TryGetValue($"{testCase}/{name}", out var t)
            ? t
            : throw new KeyNotFoundException($"fixture {Area}: no tensor '{testCase}/{name}'");

    /// <summary>A copy of an input that the test may modify or attach gradients to.</summary>
    public Tensor Input(string testCase, string name, bool requiresGrad = false)
    {
        var t = this[testCase, name].clone();
        if (requiresGrad) t.requires_grad = true;
        return t;
    }

    public bool Has(string testCase, string name) => _tensors.ContainsKey($"{testCase}/{name}");

    public IEnumerable<string> Cases => _tensors.Keys.Select(k => k[..k.LastIndexOf('/')]).Distinct();

    public void AssertClose(Tensor actual, string testCase, string name, double rtol = 1e-5, double atol = 1e-6) =>
        TensorAssert.Close(this[testCase, name], actual, rtol, atol, $"{Area}:{testCase}/{name}");
}

public static class TensorAssert
{
    /// <summary>Same shape, same dtype, and every element within atol + rtol·|expected| (NaNs equal).</summary>
    public static void Close(Tensor expected, Tensor actual, double rtol = 1e-5, double atol = 1e-6, string what = "tensor")
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        Assert.True(expected.dtype == actual.dtype, $"{what}: dtype {actual.dtype.Name()}, expected {expected.dtype.Name()}");
        var e = expected.to(ScalarType.Float64).ToArray<double>();
        var a = actual.to(ScalarType.Float64).ToArray<double>();
        for (var k = 0; k < e.Length; k++)
        {
            if (double.IsNaN(e[k]) && double.IsNaN(a[k])) continue;
            if (double.IsInfinity(e[k]) && e[k] == a[k]) continue;
            var tolerance = atol + rtol * Math.Abs(e[k]);
            if (!(Math.Abs(e[k] - a[k]) <= tolerance))
                Assert.Fail($"{what}: element {k} is {a[k]:R}, expected {e[k]:R} (|diff| {Math.Abs(e[k] - a[k]):E3} > {tolerance:E3})");
        }
    }

    public static void Equal(long[] expected, long[] actual, string what = "shape") =>
        Assert.True(expected.SequenceEqual(actual), $"{what}: [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
}
