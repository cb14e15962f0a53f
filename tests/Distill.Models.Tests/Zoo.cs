using System.Globalization;
using System.Reflection;
using Distill.Metadata;
using Module = Distill.Torch.Modules.Module;

namespace Distill.Models.Tests;

/// <summary>A model class with named constructor arguments (as an experiment gives them) and an input size.</summary>
public sealed record Config(string Name, Type Model, IReadOnlyDictionary<string, object> Args, int N, int H, int W, bool Training = false)
{
    public override string ToString() => Name;

    public Module Create() => Zoo.Create(Model, Args);

    /// <summary>Class labels for a batch of <paramref name="n"/> (0, 1, 2, ... modulo the class count): for taps that need them.</summary>
    public Tensor Labels(long n)
    {
        var classes = Convert.ToInt64(Args.TryGetValue("classes", out var c) ? c : Zoo.Constructor(Model).GetParameters().Single(p => p.Name == "classes").DefaultValue, CultureInfo.InvariantCulture);
        using var range = torch.arange(n);
        return range.remainder(classes);
    }

    /// <summary>The values of the tap shape symbols: numeric constructor arguments (defaults included) and the input symbols.</summary>
    public Dictionary<string, long> Environment(Tensor input)
    {
        var env = new Dictionary<string, long>();
        foreach (var p in Zoo.Constructor(Model).GetParameters())
        {
            var value = Args.TryGetValue(p.Name!, out var given) ? given : p.DefaultValue;
            if (value is int or long) env[p.Name!] = Convert.ToInt64(value, CultureInfo.InvariantCulture);
        }
        var symbols = Model.GetCustomAttribute<DistillModelAttribute>()!.Input.Split(',').Select(s => s.Trim()).ToArray();
        Assert.Equal(symbols.Length, input.dim());
        for (var i = 0; i < symbols.Length; i++)
            if (!long.TryParse(symbols[i], out _)) env[symbols[i]] = input.shape[i];
        return env;
    }
}

/// <summary>The zoo as the tests see it: factories by the reference names, configurations, reflection helpers.</summary>
public static class Zoo
{
    /// <summary>Every model class of Distill.Models that carries [DistillModel].</summary>
    public static readonly Type[] ModelTypes = typeof(CifarResNet).Assembly.GetTypes()
        .Where(t => t.GetCustomAttribute<DistillModelAttribute>() is not null).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();

    /// <summary>The factories under the names the fixture script (make_models.py) uses.</summary>
    public static readonly IReadOnlyDictionary<string, Func<Module>> Named = new Dictionary<string, Func<Module>>
    {
        ["resnet8"] = () => CifarResNet.resnet8(),
        ["resnet14"] = () => CifarResNet.resnet14(),
        ["resnet20"] = () => CifarResNet.resnet20(),
        ["resnet32"] = () => CifarResNet.resnet32(),
        ["resnet44"] = () => CifarResNet.resnet44(),
        ["resnet56"] = () => CifarResNet.resnet56(),
        ["resnet110"] = () => CifarResNet.resnet110(),
        ["resnet8x4"] = () => CifarResNet.resnet8x4(),
        ["resnet32x4"] = () => CifarResNet.resnet32x4(),
        ["wrn_16_1"] = () => WideResNet.wrn_16_1(),
        ["wrn_16_2"] = () => WideResNet.wrn_16_2(),
        ["wrn_40_1"] = () => WideResNet.wrn_40_1(),
        ["wrn_40_2"] = () => WideResNet.wrn_40_2(),
        ["mobilenetv2"] = () => MobileNetV2.mobilenetv2(),
        ["mobile_half"] = () => MobileNetV2.mobile_half(),
        ["resnet18"] = () => ResNet.resnet18(),
        ["resnet34"] = () => ResNet.resnet34(),
        ["resnet50"] = () => ResNet.resnet50(),
        ["resnet101"] = () => ResNet.resnet101(),
    };

    private static Dictionary<string, object> A(params (string name, object value)[] args) => args.ToDictionary(a => a.name, a => a.value);

    /// <summary>Configurations for the shape and lifetime tests: small, with odd and non-square inputs.</summary>
    public static readonly Config[] Configs =
    [
        new("cifar-resnet8-32x32", typeof(CifarResNet), A(("depth", 8)), 2, 32, 32),
        new("cifar-resnet8x4-9x14", typeof(CifarResNet), A(("depth", 8), ("width", 64), ("stem", 32)), 1, 9, 14),
        new("cifar-resnet14-narrow-15x17", typeof(CifarResNet), A(("depth", 14), ("classes", 7), ("width", 8), ("stem", 4)), 3, 15, 17, Training: true),
        new("resnet18-33x47", typeof(ResNet), A(("depth", 18), ("classes", 10)), 1, 33, 47),
        new("resnet50-37x29", typeof(ResNet), A(("depth", 50), ("classes", 5)), 2, 37, 29, Training: true),
        new("wrn-10-1-11x13", typeof(WideResNet), A(("depth", 10)), 2, 11, 13),
        new("wrn-16-2-dropout-32x32", typeof(WideResNet), A(("depth", 16), ("widen_factor", 2), ("classes", 10), ("dropout", 0.3)), 2, 32, 32, Training: true),
        new("mobilenetv2-half-32x32", typeof(MobileNetV2), A(("width_percent", 50)), 2, 32, 32),
        new("mobilenetv2-35-t2-19x45", typeof(MobileNetV2), A(("classes", 9), ("expansion", 2), ("width_percent", 35)), 1, 19, 45, Training: true),
        new("mobilenetv2-16x16", typeof(MobileNetV2), A(("classes", 10)), 2, 16, 16),
        new("iresnet18-w8-32x32", typeof(IResNet), A(("depth", 18), ("classes", 10), ("embedding", 16), ("width", 8), ("size", 32)), 2, 32, 32),
        new("iresnet34-w4-arcface-dropout-16x16", typeof(IResNet), A(("depth", 34), ("classes", 7), ("embedding", 8), ("width", 4), ("size", 16), ("head", "arcface"), ("m", 0.5), ("dropout", 0.2)), 3, 16, 16, Training: true),
        new("mobilefacenet-s1-softmax-32x32", typeof(MobileFaceNet), A(("classes", 10), ("embedding", 16), ("scale", 1), ("size", 32), ("head", "softmax"), ("blocks2", 1), ("blocks3", 1), ("blocks4", 1)), 2, 32, 32),
        new("mobilefacenet-s1-b2-arcface-easy-20x20", typeof(MobileFaceNet), A(("classes", 5), ("embedding", 8), ("scale", 1), ("size", 20), ("head", "arcface"), ("easy_margin", true), ("blocks1", 2), ("blocks2", 1), ("blocks3", 2), ("blocks4", 1)), 3, 20, 20, Training: true),
    ];

    public static Config Config(string name) => Configs.Single(c => c.Name == name);

    public static IEnumerable<object[]> ConfigNames() => Configs.Select(c => new object[] { c.Name });

    public static IEnumerable<object[]> ModelTypeNames() => ModelTypes.Select(t => new object[] { t.Name });

    public static Type ModelType(string name) => ModelTypes.Single(t => t.Name == name);

    /// <summary>The constructor an experiment calls: the public one with the most parameters (as the generator picks it).</summary>
    public static ConstructorInfo Constructor(Type model) =>
        model.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();

    public static Module Create(Type model, IReadOnlyDictionary<string, object> args)
    {
        var ctor = Constructor(model);
        var unknown = args.Keys.Except(ctor.GetParameters().Select(p => p.Name!)).ToList();
        Assert.True(unknown.Count == 0, $"{model.Name} has no constructor parameter {string.Join(", ", unknown)}");
        var values = ctor.GetParameters().Select(p => args.TryGetValue(p.Name!, out var v) ? v : p.HasDefaultValue ? p.DefaultValue : throw new ArgumentException($"{model.Name}: {p.Name} is required")).ToArray();
        try
        {
            return (Module)ctor.Invoke(values);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    public static IReadOnlyList<TapAttribute> Taps(Type model) => model.GetCustomAttributes<TapAttribute>(false).ToList();

    /// <summary>snake_case → PascalCase: pre_stage1 → PreStage1.</summary>
    public static string Pascal(string snake) =>
        string.Concat(snake.Split('_').Select(part => part.Length == 0 ? "" : char.ToUpperInvariant(part[0]) + part[1..]));

    public static Type TapsEnum(Type model) => model.GetNestedType("Taps") ?? throw new Xunit.Sdk.XunitException($"{model.Name} has no nested Taps");

    public static Type OutputsType(Type model) => model.GetNestedType("Outputs") ?? throw new Xunit.Sdk.XunitException($"{model.Name} has no nested Outputs");

    /// <summary>The Taps value with the given tap names.</summary>
    public static object TapSet(Type model, IEnumerable<string> taps)
    {
        var type = TapsEnum(model);
        var bits = taps.Aggregate(0L, (acc, t) => acc | Convert.ToInt64(Enum.Parse(type, Pascal(t)), CultureInfo.InvariantCulture));
        return Enum.ToObject(type, bits);
    }

    /// <summary>model.forward_taps(input, taps, label) through reflection (the Outputs object).</summary>
    public static IDisposable ForwardTaps(Module model, Tensor input, IEnumerable<string> taps, Tensor? label = null)
    {
        var method = model.GetType().GetMethod("forward_taps", [typeof(Tensor), TapsEnum(model.GetType()), typeof(Tensor)])
            ?? throw new Xunit.Sdk.XunitException($"{model.GetType().Name} has no forward_taps(Tensor, Taps, Tensor?)");
        try
        {
            return (IDisposable)method.Invoke(model, [input, TapSet(model.GetType(), taps), label])!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw e.InnerException;
        }
    }

    /// <summary>The Outputs property of a tap (null when not requested).</summary>
    public static Tensor? Output(object outputs, string tap) =>
        (Tensor?)(outputs.GetType().GetProperty(Pascal(tap)) ?? throw new Xunit.Sdk.XunitException($"{outputs.GetType().FullName} has no property {Pascal(tap)}")).GetValue(outputs);

    /// <summary>
    /// Sets every floating state_dict entry by the formula of make_models.py (entry j in PyTorch's order,
    /// y = 43758.5453 sin(0.9 i + 1.3 j), u = 2 (y − floor y) − 1), so that our model and PyTorch's hold
    /// the same weights without storing them.
    /// </summary>
    public static void FormulaWeights(Module model)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var j = 0;
        foreach (var (key, value) in model.state_dict(keep_vars: true))
        {
            if (value.is_floating_point())
            {
                var n = value.numel();
                var v = new double[n];
                var scale = value.dim() >= 2 ? Math.Sqrt(3.0 / (n / value.shape[0])) : 0;
                for (var i = 0; i < n; i++)
                {
                    var y = Math.Sin(i * 0.9 + 1.3 * j) * 43758.5453;
                    var u = (y - Math.Floor(y)) * 2 - 1;
                    v[i] = value.dim() >= 2 ? u * scale
                        : key.EndsWith("running_var", StringComparison.Ordinal) ? 0.75 + 0.25 * u
                        : key.EndsWith("running_mean", StringComparison.Ordinal) ? 0.1 * u
                        : key.EndsWith("weight", StringComparison.Ordinal) ? 1.0 + 0.2 * u
                        : 0.1 * u;
                }
                value.copy_(torch.tensor(v, value.shape));
            }
            j++;
        }
    }
}
