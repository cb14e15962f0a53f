using System.Collections.Generic;
using System.Linq;
using System.Text;
using Distill.Generators.Model;
using Distill.Generators.Parsing;
using Microsoft.CodeAnalysis.CSharp;

namespace Distill.Generators.Emitting;

/// <summary>
/// The typed helpers of the code-first front end, so that the C# compiler checks the wiring: once per
/// compilation a <c>Loss</c> class with one factory per <c>[DistillLoss]</c> (each input a
/// <c>TapRef&lt;Kind&gt;</c>, each hyper-parameter typed with its default), and per experiment the nested
/// <c>Taps.&lt;Model&gt;.&lt;tap&gt;</c> and <c>Batch.&lt;field&gt;</c> references. They only describe: the
/// generator reads the experiment from the syntax, and a reference carries its YAML text (<c>student.logits</c>).
/// </summary>
internal static class DslHelpersEmitter
{
    /// <summary>Where the <c>Loss</c> factories live (one definition per compilation).</summary>
    public const string LossNamespace = "Distill.Experiments.Dsl";

    private const string Runtime = "global::Distill.Runtime.";

    /// <summary>The marker types of Distill.Runtime, one per Distill.Metadata.TensorKind except Any.</summary>
    private static readonly HashSet<string> KindMarkers = new()
    {
        "Logits", "Probabilities", "FeatureMap", "Embedding", "Mask", "Labels", "Boxes", "Weights", "Table",
    };

    public static string LossHintName => LossNamespace + ".LossFactories.g.cs";

    public static string HelpersHintName(ExperimentHelpers h) => QualifiedHint(h.Namespace, h.ClassName) + ".Dsl.g.cs";

    /// <summary>"Namespace.Class" for a file name (no keyword escapes).</summary>
    public static string QualifiedHint(string ns, string className) => ((ns.Length == 0 ? "" : ns + ".") + className).Replace("@", "");

    /// <summary><c>TapRef&lt;Logits&gt;</c> for a kind with a marker type, the untyped <c>TapRef</c> for Any (and kinds without one).</summary>
    public static string TapRefType(string kind) =>
        KindMarkers.Contains(kind) ? $"{Runtime}TapRef<{Runtime}{kind}>" : Runtime + "TapRef";

    public static string EmitLossFactories(Catalog catalog)
    {
        var w = Header();
        w.Line($"namespace {LossNamespace};");
        w.Line();
        w.Line("/// <summary>");
        w.Line("/// The losses of the compilation (the loss library and the project's own [DistillLoss] methods) as typed");
        w.Line("/// factories for code-first experiments: each input is a TapRef of the kind the loss expects, so the C#");
        w.Line("/// compiler rejects a feature map wired where logits are expected. The generator reads the calls from the");
        w.Line("/// syntax; at run time a factory only describes the term.");
        w.Line("/// </summary>");
        w.Line(SourceWriter.GeneratedCode);
        using (w.Open("internal static class Loss"))
        {
            var first = true;
            var seen = new HashSet<string>();
            foreach (var loss in catalog.Losses)
            {
                // A loss whose name is no C# identifier cannot be called code-first; two losses with one name bind to the first, as in YAML.
                if (!SyntaxFacts.IsValidIdentifier(loss.Name) || !seen.Add(loss.Name)) continue;
                if (!first) w.Line();
                first = false;
                EmitFactory(w, loss);
            }
        }
        return w.ToString();
    }

    /// <summary>
    /// A factory parameter. When it ends up optional it is declared <see cref="OptionalType"/> = <see cref="Default"/>
    /// and passed on as <see cref="OptionalValue"/> (a ground-truth input falls back to its batch field).
    /// </summary>
    private sealed record Parameter(string Name, string Type, string? Default, string OptionalType, string OptionalValue, string Doc);

    private static void EmitFactory(SourceWriter w, LossInfo loss)
    {
        var parameters = new List<Parameter>();
        foreach (var name in loss.FactoryParameters)
        {
            var id = CSharpNames.Identifier(name);
            if (loss.Inputs.FirstOrDefault(i => i.Name == name) is { } input)
            {
                // A list input read from a batch field is that field's per-sample list (a detection batch's boxes): one reference.
                // A teacher look-up table is wired to the per-box features the loop builds it from.
                var kind = input.IdentityTable is null ? input.Kind : "Embedding";
                var type = TapRefType(kind) + (input.IsList && input.BatchField is null ? "[]" : "");
                var doc = input.IdentityTable is { } byField
                    ? $"a teacher's per-box features (one row per ground-truth box): the loop builds the per-identity table (batch.{byField}) from them before training"
                    : $"{input.Role.ToLowerInvariant()} input, {KindText(input.Kind)}" + (input.Shape is null ? "" : $", shape {input.Shape}");
                if (input.BatchField is { } field)
                    parameters.Add(new Parameter(id, type, "null", type + "?", $"{id} ?? new {TapRefType(input.Kind)}({CSharpLiteral.Literal("batch." + field)})",
                        doc + $"; batch.{field} when not given"));
                else
                    parameters.Add(new Parameter(id, type, null, type, id, doc));
            }
            else if (loss.HyperParameters.FirstOrDefault(h => h.Name == name) is { } hyper)
            {
                var range = double.IsNaN(hyper.Min) && double.IsNaN(hyper.Max) ? "" : $", in {hyper.RangeText()}";
                // a reference-typed hyper-parameter whose default is null (an optional list) is nullable
                var optionalType = DefaultValue(hyper) == "null" && !hyper.Type.EndsWith("?", System.StringComparison.Ordinal) ? hyper.Type + "?" : hyper.Type;
                parameters.Add(new Parameter(id, hyper.Type, DefaultValue(hyper), optionalType, id, (hyper.Description ?? "hyper-parameter") + range));
            }
        }
        // C# wants optional parameters last: a default only counts when every later parameter has one too.
        var optional = new bool[parameters.Count];
        for (var i = parameters.Count - 1; i >= 0; i--)
            optional[i] = parameters[i].Default is not null && (i == parameters.Count - 1 || optional[i + 1]);

        w.Line($"/// <summary><c>{Xml(loss.Name)}</c>{(loss.Formula is null ? "" : ": " + Xml(loss.Formula))}</summary>");
        if (loss.Source is not null) w.Line($"/// <remarks>{Xml(loss.Source)}</remarks>");
        foreach (var p in parameters) w.Line($"/// <param name=\"{p.Name.TrimStart('@')}\">{Xml(p.Doc)}</param>");
        var declarations = parameters.Select((p, i) => optional[i] ? $"{p.OptionalType} {p.Name} = {p.Default}" : $"{p.Type} {p.Name}").ToList();
        var values = parameters.Select((p, i) => $"({CSharpLiteral.Literal(p.Name.TrimStart('@'))}, {(optional[i] ? p.OptionalValue : p.Name)})");
        if (declarations.Count == 0) w.Line($"public static {Runtime}LossTerm {CSharpNames.Identifier(loss.Name)}() =>");
        else
        {
            w.Line($"public static {Runtime}LossTerm {CSharpNames.Identifier(loss.Name)}(");
            for (var i = 0; i < declarations.Count; i++) w.Line("    " + declarations[i] + (i < declarations.Count - 1 ? "," : ") =>"));
        }
        w.Line($"    new {Runtime}LossTerm({string.Join(", ", new[] { CSharpLiteral.Literal(loss.Name) }.Concat(values))});");
    }

    /// <summary>The hyper-parameter's default as C# text (a cast for an enum's number); null when it has none.</summary>
    private static string? DefaultValue(HyperParameterInfo h)
    {
        if (h.DefaultText is null) return null;
        if (h.Type.StartsWith("global::", System.StringComparison.Ordinal) && h.DefaultText.Length > 0 && (char.IsDigit(h.DefaultText[0]) || h.DefaultText[0] == '-'))
            return $"({h.Type})({h.DefaultText})";
        return h.DefaultText;
    }

    public static string EmitExperimentHelpers(ExperimentHelpers helpers, Catalog catalog)
    {
        var w = Header();
        if (helpers.Namespace.Length > 0)
        {
            w.Line($"namespace {helpers.Namespace};");
            w.Line();
        }
        using (w.Open($"partial class {CSharpNames.Identifier(helpers.ClassName)}"))
        {
            if (helpers.EmitTaps)
            {
                w.Line("/// <summary>The taps of the experiment's models, as typed references for its loss terms and adapters.</summary>");
                w.Line(SourceWriter.GeneratedCode);
                using (w.Open("public static class Taps"))
                {
                    var first = true;
                    foreach (var m in helpers.Models)
                    {
                        if (!first) w.Line();
                        first = false;
                        var model = catalog.Models.FirstOrDefault(x => x.TypeName == m.TypeName);
                        var member = CSharpNames.Identifier(m.Member);
                        w.Line($"/// <summary>The taps of <c>{Xml(m.Name)}</c>{(model is null ? "" : $" ({Xml(model.Name)})")}.</summary>");
                        using (w.Open($"public static class {member}"))
                            if (model is not null)
                                Members(w, model.Taps.Select(t => (t.Name, t.Kind, t.Shape)), m.Name, member);
                    }
                }
            }
            if (helpers.EmitTaps && helpers.EmitBatch) w.Line();
            if (helpers.EmitBatch)
            {
                var dataset = helpers.DatasetType is null ? null : catalog.Datasets.FirstOrDefault(d => d.TypeName == helpers.DatasetType);
                w.Line(dataset is null
                    ? "/// <summary>The fields of a training batch: none until the experiment declares its [TrainData].</summary>"
                    : $"/// <summary>The fields of a training batch ({Xml(dataset.Name)}), as typed references.</summary>");
                w.Line(SourceWriter.GeneratedCode);
                using (w.Open("public static class Batch"))
                    if (dataset is not null)
                        Members(w, dataset.Fields.Select(f => (f.Name, f.Kind, f.Shape)), "batch", "Batch");
            }
        }
        return w.ToString();
    }

    /// <summary>
    /// One reference per tap or field. A name that, made an identifier, repeats an earlier one or equals its
    /// class's (which C# forbids) gets no member: a reference to it is then a C# error, as an unknown tap is.
    /// </summary>
    private static void Members(SourceWriter w, IEnumerable<(string Name, string Kind, string Shape)> members, string owner, string className)
    {
        var seen = new HashSet<string> { className };
        foreach (var (name, kind, shape) in members)
        {
            var id = CSharpNames.Identifier(name);
            if (!seen.Add(id)) continue;
            var reference = owner + "." + name;
            w.Line($"/// <summary><c>{Xml(reference)}</c>: {KindText(kind)}, shape <c>{Xml(shape)}</c>.</summary>");
            w.Line($"public static readonly {TapRefType(kind)} {id} = new({CSharpLiteral.Literal(reference)});");
        }
    }

    private static SourceWriter Header()
    {
        var w = new SourceWriter();
        w.Line("// <auto-generated/>");
        w.Line("#nullable enable");
        w.Line();
        return w;
    }

    private static string KindText(string kind) => kind switch
    {
        "Logits" => "logits",
        "Probabilities" => "probabilities",
        "FeatureMap" => "a feature map",
        "Embedding" => "an embedding",
        "Mask" => "a mask",
        "Labels" => "labels",
        "Boxes" => "boxes",
        "Weights" => "weights",
        "Table" => "a table",
        _ => "any tensor",
    };

    private static string Xml(string text) => text.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
}
