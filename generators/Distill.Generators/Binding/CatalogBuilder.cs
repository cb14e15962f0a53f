using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using Distill.Generators.Model;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Binding;

/// <summary>
/// Reads the DSL's metadata attributes (Distill.Metadata) off the compilation's own types and off every
/// referenced assembly that uses them, into an equatable <see cref="Catalog"/>. The catalog is compared
/// by value, so an edit that does not change any metadata leaves everything after it cached.
/// </summary>
internal static class CatalogBuilder
{
    private const string Ns = "Distill.Metadata.";
    public const string MetadataAssembly = "Distill.Metadata";

    public static Catalog Build(Compilation compilation, CancellationToken ct)
    {
        var lossAttr = compilation.GetTypeByMetadataName(Ns + "DistillLossAttribute");
        if (lossAttr is null) return Catalog.Empty;
        var a = new Attributes(
            lossAttr,
            compilation.GetTypeByMetadataName(Ns + "InputAttribute"),
            compilation.GetTypeByMetadataName(Ns + "HyperParameterAttribute"),
            compilation.GetTypeByMetadataName(Ns + "DistillModelAttribute"),
            compilation.GetTypeByMetadataName(Ns + "TapAttribute"),
            compilation.GetTypeByMetadataName(Ns + "DistillDatasetAttribute"),
            compilation.GetTypeByMetadataName(Ns + "BatchFieldAttribute"),
            compilation.GetTypeByMetadataName(Ns + "SharedFormAttribute"),
            compilation.GetTypeByMetadataName(Ns + "SharedAttribute"));

        var losses = new List<LossInfo>();
        var models = new List<ModelInfo>();
        var datasets = new List<DatasetInfo>();
        var sharedForms = new List<(string Loss, SharedFormInfo Form)>();
        foreach (var assembly in AssembliesUsingMetadata(compilation))
            foreach (var type in AllTypes(assembly.GlobalNamespace, ct))
                Visit(type, a, losses, models, datasets, sharedForms);
        // A loss gets its shared form (the first one declared for its name).
        for (var i = 0; i < losses.Count; i++)
            if (sharedForms.FirstOrDefault(f => f.Loss == losses[i].Name).Form is { } form) losses[i] = losses[i] with { Shared = form };

        var canTrain = compilation.GetTypeByMetadataName("Distill.Runtime.TrainOptions") is not null
                       && compilation.GetTypeByMetadataName("Distill.Data.DataLoader`1") is not null;
        return new Catalog(
            losses.OrderBy(l => l.Name, StringComparer.Ordinal).ToEquatableArray(),
            models.OrderBy(m => m.Name, StringComparer.Ordinal).ToEquatableArray(),
            datasets.OrderBy(d => d.Name, StringComparer.Ordinal).ToEquatableArray(),
            canTrain);
    }

    private sealed record Attributes(INamedTypeSymbol Loss, INamedTypeSymbol? Input, INamedTypeSymbol? Hyper, INamedTypeSymbol? Model, INamedTypeSymbol? Tap, INamedTypeSymbol? Dataset, INamedTypeSymbol? Field,
        INamedTypeSymbol? SharedForm, INamedTypeSymbol? Shared);

    private static IEnumerable<IAssemblySymbol> AssembliesUsingMetadata(Compilation compilation)
    {
        yield return compilation.Assembly;
        foreach (var assembly in compilation.SourceModule.ReferencedAssemblySymbols)
            if (assembly.Modules.Any(m => m.ReferencedAssemblies.Any(r => r.Name == MetadataAssembly)))
                yield return assembly;
    }

    private static IEnumerable<INamedTypeSymbol> AllTypes(INamespaceSymbol ns, CancellationToken ct)
    {
        foreach (var member in ns.GetMembers())
        {
            ct.ThrowIfCancellationRequested();
            if (member is INamespaceSymbol child)
                foreach (var t in AllTypes(child, ct)) yield return t;
            else if (member is INamedTypeSymbol type)
                foreach (var t in WithNested(type)) yield return t;
        }
    }

    private static IEnumerable<INamedTypeSymbol> WithNested(INamedTypeSymbol type)
    {
        yield return type;
        foreach (var nested in type.GetTypeMembers())
            foreach (var t in WithNested(nested)) yield return t;
    }

    private static void Visit(INamedTypeSymbol type, Attributes a, List<LossInfo> losses, List<ModelInfo> models, List<DatasetInfo> datasets, List<(string, SharedFormInfo)> sharedForms)
    {
        if (type.DeclaredAccessibility != Accessibility.Public && !SymbolEqualityComparer.Default.Equals(type.ContainingAssembly, type.ContainingAssembly)) return;
        var typeAttributes = type.GetAttributes();
        if (a.Model is not null && Find(typeAttributes, a.Model) is { } model)
            models.Add(ReadModel(type, model, typeAttributes, a));
        if (a.Dataset is not null && Find(typeAttributes, a.Dataset) is { } dataset)
            datasets.Add(ReadDataset(type, dataset, typeAttributes, a));
        foreach (var member in type.GetMembers())
        {
            if (member is not IMethodSymbol { IsStatic: true } method) continue;
            if (Find(method.GetAttributes(), a.Loss) is { } loss) losses.Add(ReadLoss(type, method, loss, a));
            if (a.SharedForm is not null && Find(method.GetAttributes(), a.SharedForm) is { } shared && ReadSharedForm(type, method, a) is { } form)
                sharedForms.Add((shared.ConstructorArguments[0].Value as string ?? "", form));
        }
    }

    private static AttributeData? Find(IEnumerable<AttributeData> attributes, INamedTypeSymbol attribute) =>
        attributes.FirstOrDefault(x => SymbolEqualityComparer.Default.Equals(x.AttributeClass, attribute));

    private static string? Named(AttributeData data, string name) =>
        data.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value?.ToString();

    private static double NamedDouble(AttributeData data, string name) =>
        data.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value is double d ? d : double.NaN;

    private static bool NamedBool(AttributeData data, string name) =>
        data.NamedArguments.FirstOrDefault(kv => kv.Key == name).Value.Value is true;

    private static string EnumName(TypedConstant constant) =>
        constant.Type is INamedTypeSymbol e && constant.Value is int v
            ? e.GetMembers().OfType<IFieldSymbol>().FirstOrDefault(f => f.HasConstantValue && Equals(f.ConstantValue, v))?.Name ?? v.ToString(CultureInfo.InvariantCulture)
            : constant.Value?.ToString() ?? "";

    private static LossInfo ReadLoss(INamedTypeSymbol type, IMethodSymbol method, AttributeData loss, Attributes a)
    {
        var inputs = new List<LossInputInfo>();
        var hypers = new List<HyperParameterInfo>();
        foreach (var p in method.Parameters)
        {
            var pa = p.GetAttributes();
            if (a.Input is not null && Find(pa, a.Input) is { } input)
            {
                var prototypes = Named(input, "Prototypes");
                var isList = prototypes is null && (p.Type is IArrayTypeSymbol || p.Type.Name.Contains("List"));
                inputs.Add(new LossInputInfo(p.Name, EnumName(input.ConstructorArguments[0]), EnumName(input.ConstructorArguments[1]),
                    Named(input, "Shape"), Named(input, "BatchField"), isList, prototypes, Named(input, "IdentityTable")));
            }
            else if (a.Hyper is not null && Find(pa, a.Hyper) is { } hyper)
            {
                hypers.Add(new HyperParameterInfo(p.Name, TypeName(p.Type), p.HasExplicitDefaultValue ? DefaultText(p.ExplicitDefaultValue) : null,
                    NamedDouble(hyper, "Min"), NamedDouble(hyper, "Max"), NamedBool(hyper, "MinExclusive"), NamedBool(hyper, "MaxExclusive"), Named(hyper, "Description")));
            }
        }
        var name = loss.ConstructorArguments.Length > 0 ? loss.ConstructorArguments[0].Value as string ?? method.Name : method.Name;
        return new LossInfo(name, FullName(type), method.Name, inputs.ToEquatableArray(), hypers.ToEquatableArray(),
            method.Parameters.Select(p => p.Name).ToEquatableArray(), Named(loss, "Formula"), Named(loss, "Source"));
    }

    /// <summary>A shared form, or null when one of its quantities is not a public static method of its class.</summary>
    private static SharedFormInfo? ReadSharedForm(INamedTypeSymbol type, IMethodSymbol method, Attributes a)
    {
        var parameters = new List<SharedParameterInfo>();
        foreach (var p in method.Parameters)
        {
            if (a.Shared is null || Find(p.GetAttributes(), a.Shared) is not { } shared)
            {
                parameters.Add(new SharedParameterInfo(p.Name, null, null, EquatableArray<string>.Empty, EquatableArray<ParameterInfo>.Empty));
                continue;
            }
            var quantity = shared.ConstructorArguments[0].Value as string ?? "";
            var quantityMethod = type.GetMembers(quantity).OfType<IMethodSymbol>().FirstOrDefault(m => m.IsStatic && m.DeclaredAccessibility == Accessibility.Public && m.Parameters.Length >= 1);
            if (quantityMethod is null) return null;
            var with = shared.ConstructorArguments.Length > 2 && !shared.ConstructorArguments[2].IsNull
                ? shared.ConstructorArguments[2].Values.Select(v => v.Value as string ?? "").ToEquatableArray()
                : EquatableArray<string>.Empty;
            var quantityParameters = quantityMethod.Parameters.Skip(1)
                .Select(q => new ParameterInfo(q.Name, TypeName(q.Type), q.HasExplicitDefaultValue, q.HasExplicitDefaultValue ? DefaultText(q.ExplicitDefaultValue) : null))
                .ToEquatableArray();
            parameters.Add(new SharedParameterInfo(p.Name, quantity, shared.ConstructorArguments[1].Value as string, with, quantityParameters));
        }
        return new SharedFormInfo(FullName(type), method.Name, parameters.ToEquatableArray());
    }

    private static ModelInfo ReadModel(INamedTypeSymbol type, AttributeData model, IEnumerable<AttributeData> attributes, Attributes a)
    {
        var taps = a.Tap is null
            ? new List<TapInfo>()
            : attributes.Where(x => SymbolEqualityComparer.Default.Equals(x.AttributeClass, a.Tap))
                .Select(x => new TapInfo(x.ConstructorArguments[0].Value as string ?? "", EnumName(x.ConstructorArguments[1]), x.ConstructorArguments[2].Value as string ?? "",
                    Named(x, "Needs"), Named(x, "Rois"), NamedBool(x, "OnGivenRois")))
                .ToList();
        var runsTaps = type.GetTypeMembers("Taps").Any(t => t.TypeKind == TypeKind.Enum)
                       && type.GetTypeMembers("Outputs").Any()
                       && HasMember(type, "forward_taps");
        return new ModelInfo(Named(model, "Name") ?? type.Name, FullName(type), Constructor(type), Named(model, "Input") ?? "N,3,H,W", taps.ToEquatableArray(), Named(model, "Task"), runsTaps,
            runsTaps && HasMember(type, "roi_head_on"),
            // a person-search model: its detections come with embeddings (search) and it embeds a query's box (embed_boxes)
            runsTaps && HasMember(type, "search") && HasMember(type, "embed_boxes"));
    }

    private static bool HasMember(INamedTypeSymbol? type, string name)
    {
        for (; type is not null; type = type.BaseType)
            if (type.GetMembers(name).Length > 0) return true;
        return false;
    }

    private static DatasetInfo ReadDataset(INamedTypeSymbol type, AttributeData dataset, IEnumerable<AttributeData> attributes, Attributes a)
    {
        var batchType = type.AllInterfaces.FirstOrDefault(i => i.Name == "IBatchDataset" && i.TypeArguments.Length == 1 && i.ContainingNamespace.ToDisplayString() == "Distill.Data")?.TypeArguments[0];
        var fields = a.Field is null
            ? new List<BatchFieldInfo>()
            : attributes.Where(x => SymbolEqualityComparer.Default.Equals(x.AttributeClass, a.Field))
                .Select(x =>
                {
                    var name = x.ConstructorArguments[0].Value as string ?? "";
                    return new BatchFieldInfo(name, EnumName(x.ConstructorArguments[1]), x.ConstructorArguments[2].Value as string ?? "", Named(x, "Classes"), IsListField(batchType, name));
                })
                .ToList();
        var isImage = false;
        var isDetection = false;
        for (var t = type.BaseType; t is not null; t = t.BaseType)
        {
            if (t.Name == "ImageDataset" && t.ContainingNamespace.ToDisplayString() == "Distill.Data") isImage = true;
            if (t.Name == "DetectionDataset" && t.ContainingNamespace.ToDisplayString() == "Distill.Data") isDetection = true;
        }
        var hasPairs = type.AllInterfaces.Any(i => i.Name == "IVerificationPairs" && i.ContainingNamespace.ToDisplayString() == "Distill.Data");
        var isPersonSearch = type.AllInterfaces.Any(i => i.Name == "IPersonSearchData" && i.ContainingNamespace.ToDisplayString() == "Distill.Data");
        return new DatasetInfo(Named(dataset, "Name") ?? type.Name, FullName(type), Constructor(type), fields.ToEquatableArray(),
            batchType is null ? null : FullName(batchType), isImage, hasPairs, isDetection, isPersonSearch);
    }

    /// <summary>Whether the batch class holds a field as a list of tensors (one per sample) rather than one tensor.</summary>
    private static bool IsListField(ITypeSymbol? batchType, string field)
    {
        for (var t = batchType as INamedTypeSymbol; t is not null; t = t.BaseType)
        {
            var member = t.GetMembers(field).FirstOrDefault(m => m is IPropertySymbol or IFieldSymbol);
            var memberType = member switch { IPropertySymbol p => p.Type, IFieldSymbol f => f.Type, _ => null };
            if (memberType is null) continue;
            return memberType is IArrayTypeSymbol || (memberType is INamedTypeSymbol { IsGenericType: true } g && g.Name.Contains("List"));
        }
        return false;
    }

    /// <summary>The public constructor with the most parameters (the one experiments call with named arguments).</summary>
    private static EquatableArray<ParameterInfo> Constructor(INamedTypeSymbol type)
    {
        var ctor = type.InstanceConstructors.Where(c => c.DeclaredAccessibility == Accessibility.Public).OrderByDescending(c => c.Parameters.Length).FirstOrDefault();
        return ctor is null
            ? EquatableArray<ParameterInfo>.Empty
            : ctor.Parameters.Select(p =>
            {
                var info = new ParameterInfo(p.Name, TypeName(p.Type), p.HasExplicitDefaultValue, p.HasExplicitDefaultValue ? DefaultText(p.ExplicitDefaultValue) : null);
                // A range, where the constructor declares one with [HyperParameter(Min = ..., Max = ...)] as a loss's hyper-parameters do.
                var range = p.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "Distill.Metadata.HyperParameterAttribute");
                return range is null ? info : info with
                {
                    Min = NamedDouble(range, "Min"), Max = NamedDouble(range, "Max"),
                    MinExclusive = NamedBool(range, "MinExclusive"), MaxExclusive = NamedBool(range, "MaxExclusive"),
                };
            }).ToEquatableArray();
    }

    private static string FullName(ITypeSymbol type) => type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);

    private static string TypeName(ITypeSymbol type) => type.SpecialType switch
    {
        SpecialType.System_Double => "double",
        SpecialType.System_Single => "float",
        SpecialType.System_Int32 => "int",
        SpecialType.System_Int64 => "long",
        SpecialType.System_Boolean => "bool",
        SpecialType.System_String => "string",
        _ => type is IArrayTypeSymbol arr ? TypeName(arr.ElementType) + "[]" : FullName(type),
    };

    private static string? DefaultText(object? value) => value switch
    {
        null => "null",
        string s => CSharpLiteral.Literal(s),
        bool b => b ? "true" : "false",
        double d => CSharpLiteral.Literal(d),
        float f => CSharpLiteral.Literal(f),
        long l => l.ToString(CultureInfo.InvariantCulture) + "L",
        int i => i.ToString(CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture),
    };
}
