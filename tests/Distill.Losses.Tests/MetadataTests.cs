using System.Reflection;
using Distill.Metadata;

namespace Distill.Losses.Tests;

/// <summary>Every loss carries complete, consistent metadata for the generator.</summary>
public class MetadataTests
{
    private static IEnumerable<(MethodInfo Method, DistillLossAttribute Loss)> Losses() =>
        typeof(Classic).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static))
            .Select(m => (m, m.GetCustomAttribute<DistillLossAttribute>()))
            .Where(x => x.Item2 is not null)
            .Select(x => (x.m, x.Item2!));

    [Fact]
    public void Loss_names_are_unique_and_documented()
    {
        var losses = Losses().ToList();
        Assert.NotEmpty(losses);
        Assert.Equal(losses.Count, losses.Select(l => l.Loss.Name).Distinct().Count());
        Assert.All(losses, l =>
        {
            Assert.False(string.IsNullOrWhiteSpace(l.Loss.Source), $"{l.Loss.Name}: no Source");
            Assert.False(string.IsNullOrWhiteSpace(l.Loss.Formula), $"{l.Loss.Name}: no Formula");
            Assert.Equal(typeof(Tensor), l.Method.ReturnType);
        });
    }

    [Fact]
    public void Every_parameter_is_an_input_or_a_hyper_parameter_with_a_default_in_range()
    {
        foreach (var (method, loss) in Losses())
        {
            var inputs = 0;
            foreach (var p in method.GetParameters())
            {
                var input = p.GetCustomAttribute<InputAttribute>();
                var hyper = p.GetCustomAttribute<HyperParameterAttribute>();
                Assert.True((input is null) != (hyper is null), $"{loss.Name}.{p.Name}: needs exactly one of [Input] or [HyperParameter]");
                if (input is not null && (input.Prototypes is not null || p.ParameterType == typeof(PrototypeBank)))
                {
                    // a table the training loop builds from two of the loss's list inputs: student side, then teacher side
                    Assert.True(p.ParameterType == typeof(PrototypeBank) && input.Prototypes is not null,
                        $"{loss.Name}.{p.Name}: a PrototypeBank input names its two list inputs (Prototypes = \"student,teacher\") and only it does");
                    var sides = input.Prototypes!.Split(',');
                    Assert.True(sides.Length == 2, $"{loss.Name}.{p.Name}: Prototypes must name two inputs, got '{input.Prototypes}'");
                    foreach (var (side, role) in sides.Zip(new[] { InputRole.Student, InputRole.Teacher }))
                    {
                        var source = method.GetParameters().FirstOrDefault(q => q.Name == side);
                        Assert.True(source?.GetCustomAttribute<InputAttribute>() is { Kind: TensorKind.FeatureMap } a && a.Role == role
                                    && (source.ParameterType == typeof(IReadOnlyList<Tensor>) || source.ParameterType == typeof(Tensor[])),
                            $"{loss.Name}.{p.Name}: Prototypes names '{side}', which must be a {role} feature-map list input of the loss");
                    }
                }
                else if (input is not null)
                {
                    inputs++;
                    Assert.True(p.ParameterType == typeof(Tensor) || p.ParameterType == typeof(Tensor[]) || p.ParameterType == typeof(IReadOnlyList<Tensor>),
                        $"{loss.Name}.{p.Name}: an [Input] must be a Tensor or a list of tensors");
                }
                else
                {
                    Assert.True(p.HasDefaultValue, $"{loss.Name}.{p.Name}: a hyper-parameter needs a default");
                    if (p.DefaultValue is double or int or long or float)
                    {
                        var v = Convert.ToDouble(p.DefaultValue, System.Globalization.CultureInfo.InvariantCulture);
                        Assert.True(hyper!.Contains(v), $"{loss.Name}.{p.Name}: default {v} outside {hyper.RangeText()}");
                    }
                }
            }
            Assert.True(inputs > 0, $"{loss.Name}: no [Input] parameter");
            Assert.Contains(method.GetParameters(), p => p.GetCustomAttribute<InputAttribute>()?.Role == InputRole.Student);
        }
    }
}
