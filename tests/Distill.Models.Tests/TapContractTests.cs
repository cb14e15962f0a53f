using System.Reflection;
using System.Text.RegularExpressions;
using Distill.Generators.Binding;
using Distill.Metadata;
using Module = Distill.Torch.Modules.Module;

namespace Distill.Models.Tests;

/// <summary>
/// The tap convention the DSL's generated loops rely on (docs/models.md), checked by reflection on
/// every [DistillModel] class, and every tap's shape expression against the real tensors.
/// </summary>
public class TapContractTests
{
    [Fact]
    public void The_zoo_has_the_four_classification_and_two_face_model_families()
    {
        Assert.Equal(new[] { "CifarResNet", "IResNet", "MobileFaceNet", "MobileNetV2", "ResNet", "WideResNet" }, Zoo.ModelTypes.Select(t => t.Name));
    }

    [Theory]
    [MemberData(nameof(Zoo.ModelTypeNames), MemberType = typeof(Zoo))]
    public void Model_attributes_follow_the_convention(string name)
    {
        var model = Zoo.ModelType(name);
        var attribute = model.GetCustomAttribute<DistillModelAttribute>()!;
        Assert.Contains(attribute.Task, new[] { "classification", "face" });
        // Three colour channels, or as many as a constructor parameter says (CifarResNet's in_channels).
        if (attribute.Input != "N,3,H,W")
        {
            Assert.Equal("N,in_channels,H,W", attribute.Input);
            Assert.Contains(model.GetConstructors().SelectMany(c => c.GetParameters()), p => p.Name == "inChannels" || p.Name == "in_channels");
        }
        Assert.True(typeof(Module<Tensor, Tensor>).IsAssignableFrom(model), $"{name} must be a Module<Tensor, Tensor>");

        var taps = Zoo.Taps(model);
        var names = taps.Select(t => t.Name).ToList();
        Assert.Equal(names.Distinct().Count(), names.Count);
        Assert.All(names, n => Assert.Matches(new Regex("^[a-z][a-z0-9]*(_[a-z0-9]+)*$"), n));
        Assert.Contains("stem", names);
        Assert.Contains("stage1", names);
        // A classifier ends with its pooled features and logits; a face model with its embedding, the
        // label-free logits (s·cos θ) and the margin head's logits, which need the batch's labels.
        var head = attribute.Task == "face"
            ? new (string name, TensorKind kind, string shape, string? needs)[] { ("embedding", TensorKind.Embedding, "N, embedding", null), ("logits", TensorKind.Logits, "N, classes", null), ("margin_logits", TensorKind.Logits, "N, classes", "label") }
            : [("pooled", TensorKind.Embedding, "", null), ("logits", TensorKind.Logits, "N, classes", null)];
        var tail = taps.Skip(taps.Count - head.Length).ToList();
        for (var i = 0; i < head.Length; i++)
        {
            Assert.Equal(head[i].name, tail[i].Name);
            Assert.Equal(head[i].kind, tail[i].Kind);
            if (head[i].shape.Length > 0) Assert.Equal(head[i].shape, tail[i].Shape);
            Assert.Equal(head[i].needs, tail[i].Needs);
            Assert.Equal(2, ShapeExpression.Dims(tail[i].Shape).Length);
            Assert.Equal("N", ShapeExpression.Dims(tail[i].Shape)[0]);
        }
        foreach (var tap in taps.Take(taps.Count - head.Length))
        {
            Assert.Equal(TensorKind.FeatureMap, tap.Kind);
            Assert.Null(tap.Needs);
            Assert.Equal(4, ShapeExpression.Dims(tap.Shape).Length);
            Assert.Equal("N", ShapeExpression.Dims(tap.Shape)[0]);
        }

        // The stages come in order, and each pre-activation tap belongs to a stage tap with the same shape.
        var stages = names.Where(n => n.StartsWith("stage", StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(1, stages.Count).Select(k => $"stage{k}"), stages);
        foreach (var pre in taps.Where(t => t.Name.StartsWith("pre_", StringComparison.Ordinal)))
            Assert.Equal(taps.Single(t => t.Name == pre.Name[4..]).Shape, pre.Shape);
    }

    [Theory]
    [MemberData(nameof(Zoo.ModelTypeNames), MemberType = typeof(Zoo))]
    public void Taps_enum_has_one_flag_per_tap_in_declaration_order(string name)
    {
        var model = Zoo.ModelType(name);
        var type = Zoo.TapsEnum(model);
        Assert.True(type.IsEnum && type.IsNestedPublic, "Taps must be a public nested enum");
        Assert.Equal(typeof(long), Enum.GetUnderlyingType(type));
        Assert.NotNull(type.GetCustomAttribute<FlagsAttribute>());

        var taps = Zoo.Taps(model);
        var members = type.GetFields(BindingFlags.Public | BindingFlags.Static).OrderBy(f => f.MetadataToken)
            .Select(f => (f.Name, Value: Convert.ToInt64(f.GetValue(null), System.Globalization.CultureInfo.InvariantCulture))).ToList();
        var expected = new List<(string, long)> { ("None", 0) };
        expected.AddRange(taps.Select((t, i) => (Zoo.Pascal(t.Name), 1L << i)));
        expected.Add(("All", (1L << taps.Count) - 1));
        Assert.Equal(expected, members);
    }

    [Theory]
    [MemberData(nameof(Zoo.ModelTypeNames), MemberType = typeof(Zoo))]
    public void Outputs_has_one_nullable_tensor_property_per_tap(string name)
    {
        var model = Zoo.ModelType(name);
        var outputs = Zoo.OutputsType(model);
        Assert.True(outputs.IsNestedPublic && outputs.IsSealed, "Outputs must be a public sealed nested class");
        Assert.True(typeof(IDisposable).IsAssignableFrom(outputs));
        Assert.NotNull(outputs.GetConstructor(Type.EmptyTypes));

        var properties = outputs.GetProperties(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .OrderBy(p => p.MetadataToken).ToList();
        Assert.Equal(Zoo.Taps(model).Select(t => Zoo.Pascal(t.Name)), properties.Select(p => p.Name));
        var nullability = new NullabilityInfoContext();
        foreach (var p in properties)
        {
            Assert.Equal(typeof(Tensor), p.PropertyType);
            Assert.Equal(NullabilityState.Nullable, nullability.Create(p).ReadState);
        }

        var forwardTaps = model.GetMethod("forward_taps", [typeof(Tensor), Zoo.TapsEnum(model), typeof(Tensor)]);
        Assert.NotNull(forwardTaps);
        Assert.Equal(outputs, forwardTaps!.ReturnType);
    }

    [Theory]
    [MemberData(nameof(Zoo.ModelTypeNames), MemberType = typeof(Zoo))]
    public void Constructor_parameters_are_plain_numbers_and_every_shape_symbol_is_one(string name)
    {
        var model = Zoo.ModelType(name);
        var publicConstructors = model.GetConstructors();
        Assert.Single(publicConstructors);
        var parameters = publicConstructors[0].GetParameters();
        Assert.All(parameters, p => Assert.Contains(p.ParameterType, new[] { typeof(int), typeof(double), typeof(bool), typeof(string) }));
        Assert.Contains(parameters, p => p.Name == "classes" && p.HasDefaultValue);

        var symbols = new HashSet<string>(parameters.Where(p => p.ParameterType == typeof(int)).Select(p => p.Name!)) { "N", "H", "W" };
        foreach (var tap in Zoo.Taps(model))
            foreach (Match m in Regex.Matches(tap.Shape, "[A-Za-z_][A-Za-z0-9_]*"))
                Assert.True(symbols.Contains(m.Value), $"{name}.{tap.Name}: '{m.Value}' in \"{tap.Shape}\" is no integer constructor parameter nor input symbol");
    }

    [Fact]
    public void Every_model_class_has_shape_configurations()
    {
        foreach (var type in Zoo.ModelTypes)
            Assert.True(Zoo.Configs.Count(c => c.Model == type) >= 2, $"{type.Name} needs at least two configurations in Zoo.Configs");
    }

    [Theory]
    [MemberData(nameof(Zoo.ConfigNames), MemberType = typeof(Zoo))]
    public void Every_tap_has_the_shape_its_expression_gives(string configName)
    {
        var config = Zoo.Config(configName);
        using var scope = torch.NewDisposeScope();
        using var model = config.Create();
        model.train(config.Training);
        var x = torch.randn([config.N, 3, config.H, config.W]);
        var env = config.Environment(x);
        var taps = Zoo.Taps(config.Model);
        using var outputs = Zoo.ForwardTaps(model, x, taps.Select(t => t.Name), config.Labels(config.N));
        foreach (var tap in taps)
        {
            var expected = ShapeExpression.EvaluateAll(tap.Shape, env);
            Assert.All(expected, d => Assert.True(d is > 0, $"{configName}.{tap.Name}: \"{tap.Shape}\" evaluates to {ShapeExpression.Format(expected)}"));
            var actual = Zoo.Output(outputs, tap.Name);
            Assert.NotNull(actual);
            TensorAssert.Equal(expected.Select(d => d!.Value).ToArray(), actual!.shape, $"{configName}.{tap.Name} (\"{tap.Shape}\")");
        }
    }

    [Theory]
    [MemberData(nameof(Zoo.ConfigNames), MemberType = typeof(Zoo))]
    public void Forward_returns_the_logits_and_unrequested_taps_are_null(string configName)
    {
        var config = Zoo.Config(configName);
        using var scope = torch.NewDisposeScope();
        using var model = config.Create();
        model.eval();
        var x = torch.randn([config.N, 3, config.H, config.W]);
        var logits = ((Module<Tensor, Tensor>)model).call(x);
        var classes = config.Environment(x)["classes"];
        TensorAssert.Equal([config.N, classes], logits.shape);

        using var outputs = Zoo.ForwardTaps(model, x, ["logits"]);
        Assert.True(Zoo.Output(outputs, "logits")!.equal(logits), "forward_taps(x, Taps.Logits).Logits differs from forward(x)");
        foreach (var tap in Zoo.Taps(config.Model).Where(t => t.Name != "logits"))
            Assert.Null(Zoo.Output(outputs, tap.Name));
    }
}
