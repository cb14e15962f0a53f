namespace Distill.Torch.Tests;

/// <summary>
/// Autograd gradients against central finite differences in float64, independent of any fixture: each
/// function is reduced to a scalar through fixed random weights, so every output element matters.
/// </summary>
public class GradCheckTests
{
    private const double Eps = 1e-6;

    /// <summary>
    /// Compares d f(inputs) / d input with (f(x + eps) - f(x - eps)) / 2 eps for every element of every
    /// input that requires grad.
    /// </summary>
    private static void GradCheck(Func<Tensor[], Tensor> f, Tensor[] inputs, double rtol = 1e-5, double atol = 1e-7)
    {
        using var scope = torch.NewDisposeScope();
        var probe = f(inputs);
        using var g = new Generator(1234);
        var weights = torch.randn(probe.shape, ScalarType.Float64, generator: g);
        Tensor Loss(Tensor[] xs) => (f(xs) * weights).sum();

        Loss(inputs).backward();
        var analytic = inputs.Select(x => x.requires_grad ? x.grad ?? throw new InvalidOperationException("no gradient") : null).ToArray();

        using var noGrad = torch.no_grad();
        var checkedElements = 0;
        for (var k = 0; k < inputs.Length; k++)
        {
            if (analytic[k] is null) continue;
            var numeric = new double[inputs[k].numel()];
            for (var e = 0; e < numeric.Length; e++)
            {
                var shifted = inputs.Select(x => x.detach()).ToArray();
                shifted[k] = Perturbed(inputs[k], e, +Eps);
                var plus = Loss(shifted).item<double>();
                shifted[k] = Perturbed(inputs[k], e, -Eps);
                var minus = Loss(shifted).item<double>();
                numeric[e] = (plus - minus) / (2 * Eps);
                checkedElements++;
            }
            TensorAssert.Close(torch.tensor(numeric, inputs[k].shape), analytic[k]!, rtol, atol, $"gradient of input {k}");
        }
        Assert.True(checkedElements > 0);
    }

    private static Tensor Perturbed(Tensor x, long element, double delta)
    {
        var copy = x.detach().clone();
        copy.view(-1).narrow(0, element, 1).add_(delta);
        return copy;
    }

    private static Tensor Input(Generator g, params long[] shape) => torch.randn(shape, ScalarType.Float64, requires_grad: true, generator: g);

    [Fact]
    public void Logsumexp()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(1);
        GradCheck(x => x[0].logsumexp([0, 2], keepdim: true), [Input(g, 2, 3, 4)]);
        GradCheck(x => (x[0] * 30).logsumexp(-1), [Input(g, 3, 5)]);
    }

    [Fact]
    public void Norm()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(2);
        GradCheck(x => x[0].norm(), [Input(g, 3, 4)]);
        GradCheck(x => x[0].norm(3, 1, keepdim: true), [Input(g, 3, 4)]);
        GradCheck(x => x[0].norm(1, [0, 2]), [Input(g, 2, 3, 4)]);
        GradCheck(x => torch.linalg.vector_norm(x[0], double.PositiveInfinity, [1]), [Input(g, 3, 4)]);
    }

    [Fact]
    public void Gather_and_scatter_add()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(3);
        var index = torch.randint(0, 4, [3, 6], generator: g);
        GradCheck(x => x[0].gather(1, index), [Input(g, 3, 4)]);
        GradCheck(x => x[0].scatter_add(1, index, x[1]), [Input(g, 3, 4), Input(g, 3, 6)]);
    }

    [Fact]
    public void Matmul_with_broadcasting()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(4);
        GradCheck(x => x[0].matmul(x[1]), [Input(g, 2, 1, 3, 4), Input(g, 5, 4, 2)]);
        GradCheck(x => x[0].matmul(x[1]), [Input(g, 4), Input(g, 3, 4, 2)]);
    }

    [Fact]
    public void Einsum()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(5);
        GradCheck(x => torch.einsum("bn,anm,bm->ba", x[0], x[1], x[2]), [Input(g, 2, 3), Input(g, 4, 3, 5), Input(g, 2, 5)]);
        GradCheck(x => torch.einsum("ii->i", x[0]), [Input(g, 3, 3)]);
    }

    [Fact]
    public void Variance_cumprod_and_sort()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(6);
        GradCheck(x => x[0].var([1], correction: 0), [Input(g, 3, 5)]);
        GradCheck(x => x[0].std(0, keepdim: true), [Input(g, 4, 3)]);
        GradCheck(x => x[0].cumprod(1), [Input(g, 3, 4)]);
        GradCheck(x => x[0].sort(descending: true).values, [Input(g, 3, 5)]);
        GradCheck(x => x[0].topk(2, 0).values, [Input(g, 4, 3)]);
    }

    [Fact]
    public void Indexing_and_masks()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(7);
        var mask = torch.rand([3, 4], ScalarType.Float64, generator: g) > 0.5;
        var rows = torch.tensor(new long[] { 2, 0, 2 });
        GradCheck(x => x[0].index(rows), [Input(g, 3, 4)]);
        GradCheck(x => x[0].masked_fill(mask, x[1]), [Input(g, 3, 4), Input(g)]);
        GradCheck(x => torch.where(mask, x[0], x[1]), [Input(g, 3, 4), Input(g, 4)]);
        GradCheck(x => x[0].index_put([rows], x[1], accumulate: true), [Input(g, 3, 4), Input(g, 3, 4)]);
    }

    [Fact]
    public void Composite_expression()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(8);
        // A distillation-like loss: temperature-scaled log-softmax agreement plus a feature term.
        GradCheck(x =>
        {
            var logits = x[0].mm(x[1]) / 2.0;
            var logProbs = logits - logits.logsumexp(1, keepdim: true);
            var feature = (x[2].unsqueeze(0) - x[0]).norm(2, 1).clamp(max: 2.5);
            return torch.cat([logProbs * x[3].tanh(), feature.unsqueeze(1)], 1).cumsum(1);
        }, [Input(g, 4, 3), Input(g, 3, 5), Input(g, 3), Input(g, 4, 5)], rtol: 1e-5, atol: 1e-6);
    }
}
