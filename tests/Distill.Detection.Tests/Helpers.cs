using Distill.Models;

namespace Distill.Detection.Tests;

internal static class Helpers
{
    public static Fixture Fx => Fixture.Load("detection_models");

    /// <summary>
    /// The deterministic state_dict of make_detection_models.py: for the i-th key, manual_seed(1000 + i), then
    /// running_var rand·0.5 + 0.5, running_mean randn·0.1, other 1-D weights randn·0.1 + 0.5, other 1-D randn·0.1,
    /// the rest randn·(1/sqrt(fan_in)).
    /// </summary>
    public static void FormulaWeights(Module module)
    {
        using var noGrad = torch.no_grad();
        var i = 0;
        foreach (var (key, value) in module.state_dict())
        {
            using var scope = torch.NewDisposeScope();
            torch.manual_seed(1000 + i++);
            var shape = value.shape;
            Tensor t;
            if (key.EndsWith("running_var", StringComparison.Ordinal)) t = torch.rand(shape) * 0.5 + 0.5;
            else if (key.EndsWith("running_mean", StringComparison.Ordinal)) t = torch.randn(shape) * 0.1;
            else if (shape.Length == 1 && key.EndsWith("weight", StringComparison.Ordinal)) t = torch.randn(shape) * 0.1 + 0.5;
            else if (shape.Length == 1) t = torch.randn(shape) * 0.1;
            else
            {
                long fanIn = 1;
                foreach (var s in shape.Skip(1)) fanIn *= s;
                t = torch.randn(shape) * (1.0 / Math.Sqrt(fanIn));
            }
            value.copy_(t);
        }
    }

    private static readonly Lazy<Safetensors.Content> s_content = new(() =>
    {
        var content = Safetensors.Read(Path.Combine(AppContext.BaseDirectory, "fixtures", "detection_models.safetensors"));
        foreach (var kv in content.Tensors) kv.Value.DetachFromDisposeScope();
        return content;
    });

    /// <summary>A module state stored as "&lt;case&gt;/key__with__dots" (read-only: load_state_dict copies it).</summary>
    public static Dictionary<string, Tensor> State(string testCase) =>
        s_content.Value.Tensors.Where(kv => kv.Key.StartsWith(testCase + "/", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[(testCase.Length + 1)..].Replace("__", ".", StringComparison.Ordinal), kv => kv.Value);

    public static string Metadata(string key) => s_content.Value.Metadata[key];

    public static (long, long)[] Sizes(Tensor sizes)
    {
        var v = sizes.to(ScalarType.Int64).ToArray<long>();
        return Enumerable.Range(0, v.Length / 2).Select(i => (v[2 * i], v[2 * i + 1])).ToArray();
    }

    public static double MaxAbsDiff(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape)
        ? (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>()
        : double.PositiveInfinity;
}
