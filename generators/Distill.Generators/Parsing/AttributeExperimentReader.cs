using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Threading;
using Distill.Generators.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using static Distill.Generators.Diagnostics.DiagnosticDescriptors;

namespace Distill.Generators.Parsing;

/// <summary>What the reader makes of one <c>[Experiment]</c> class: the experiment (as the YAML front end would) and what its typed helpers need.</summary>
internal sealed record AttributeParseResult(ExperimentGenerator.ParseResult Parse, ExperimentHelpers? Helpers);

/// <summary>
/// What the per-experiment helpers (<c>Taps.&lt;Model&gt;.&lt;tap&gt;</c>, <c>Batch.&lt;field&gt;</c>) are made
/// from: no locations, so an edit that only moves text leaves them cached.
/// </summary>
/// <see cref="EmitTaps"/>/<see cref="EmitBatch"/> are false when a member of the class has that name (DSL038).
internal sealed record ExperimentHelpers(string Namespace, string ClassName, EquatableArray<HelperModel> Models, string? DatasetType, bool EmitTaps = true, bool EmitBatch = true);

/// <summary>A model member: its property, its name in references, and its type (fully qualified, as the catalog keys it; empty when not a model).</summary>
internal sealed record HelperModel(string Member, string Name, string TypeName);

/// <summary>
/// The code-first front end: reads an <c>[Experiment]</c> partial class — its attributes, the
/// initializers of its model and data members, the <c>Adapter.&lt;kind&gt;(...)</c> and
/// <c>Loss.&lt;name&gt;(...)</c> calls of its adapter and loss members — into the same
/// <see cref="ExperimentSpec"/> the YAML front end produces, with locations on the exact attribute and
/// call arguments. The helpers the members use are generated (so absent from the compilation this
/// reader sees): references to them are read from the syntax, everything else through the semantic model.
/// </summary>
internal sealed class AttributeExperimentReader
{
    public const string ExperimentAttribute = "Distill.Runtime.ExperimentAttribute";
    private const string Runtime = "Distill.Runtime.";
    private const string Metadata = "Distill.Metadata.";

    /// <summary>The member roles, by attribute class.</summary>
    private static readonly Dictionary<string, Role> Roles = new(StringComparer.Ordinal)
    {
        [Runtime + "TeacherAttribute"] = Role.Teacher,
        [Runtime + "StudentAttribute"] = Role.Student,
        [Runtime + "AdapterAttribute"] = Role.Adapter,
        [Runtime + "LossAttribute"] = Role.Loss,
        [Runtime + "TrainDataAttribute"] = Role.TrainData,
        [Runtime + "ValDataAttribute"] = Role.ValData,
    };

    private static readonly Dictionary<string, AdapterKind> AdapterKinds = new(StringComparer.Ordinal)
    {
        ["Conv1x1"] = AdapterKind.Conv1x1,
        ["Conv3x3"] = AdapterKind.Conv3x3,
        ["Linear"] = AdapterKind.Linear,
    };

    private enum Role { Teacher, Student, Adapter, Loss, TrainData, ValData }

    private sealed record Member(PropertyDeclarationSyntax Syntax, IPropertySymbol Symbol, Role Role, AttributeData Attribute);

    private readonly INamedTypeSymbol _class;
    private readonly Compilation _compilation;
    private readonly CancellationToken _ct;
    private readonly List<DiagnosticInfo> _diagnostics = new();
    private readonly Dictionary<SyntaxTree, SemanticModel> _semanticModels = new();
    private readonly Dictionary<string, string> _modelNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _adapterNames = new(StringComparer.Ordinal);

    private AttributeExperimentReader(INamedTypeSymbol type, SemanticModel model, CancellationToken ct)
    {
        _class = type;
        _compilation = model.Compilation;
        _semanticModels[model.SyntaxTree] = model;
        _ct = ct;
    }

    /// <summary>
    /// Reads the class that carries the attribute. A class whose partial declarations repeat
    /// <c>[Experiment]</c> (an error the C# compiler reports) is read once, from the first.
    /// </summary>
    public static AttributeParseResult? Read(GeneratorAttributeSyntaxContext context, CancellationToken ct)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.TargetNode is not TypeDeclarationSyntax node) return null;
        var applications = type.GetAttributes()
            .Where(a => a.AttributeClass?.ToDisplayString() == ExperimentAttribute && a.ApplicationSyntaxReference is not null)
            .Select(a => a.ApplicationSyntaxReference!)
            .OrderBy(r => r.SyntaxTree.FilePath, StringComparer.Ordinal).ThenBy(r => r.Span.Start)
            .ToList();
        var first = applications.FirstOrDefault();
        if (first is not null && (first.SyntaxTree != node.SyntaxTree || !node.Span.Contains(first.Span))) return null;
        var attribute = context.Attributes.FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == ExperimentAttribute);
        if (attribute is null) return null;
        return new AttributeExperimentReader(type, context.SemanticModel, ct).ReadClass(node, attribute);
    }

    private void Report(DiagnosticDescriptor d, LocationInfo at, params string[] args) => _diagnostics.Add(DiagnosticInfo.Create(d, at, args));

    private static LocationInfo At(SyntaxNode node) => LocationInfo.From(node.GetLocation());

    private static LocationInfo At(SyntaxToken token) => LocationInfo.From(token.GetLocation());

    private SemanticModel SemanticModelOf(SyntaxNode node)
    {
        if (!_semanticModels.TryGetValue(node.SyntaxTree, out var model))
        {
#pragma warning disable RS1030 // the members of a partial class may sit in other files: their trees need their own semantic model
            model = _compilation.GetSemanticModel(node.SyntaxTree);
#pragma warning restore RS1030
            _semanticModels[node.SyntaxTree] = model;
        }
        return model;
    }

    // ---- the class -------------------------------------------------------------------------------

    private AttributeParseResult ReadClass(TypeDeclarationSyntax node, AttributeData experiment)
    {
        var classLocation = At(node.Identifier);
        var problem = node is not ClassDeclarationSyntax ? "declare it as a class"
            : _class.ContainingType is { } outer ? $"move it out of '{outer.Name}'"
            : _class.IsGenericType ? "remove its type parameters"
            : !node.Modifiers.Any(SyntaxKind.PartialKeyword) ? "add the 'partial' modifier"
            : null;
        if (problem is not null)
        {
            Report(NotAPartialClass, classLocation, _class.Name, problem);
            return Result(null, null);
        }

        // A namespace or class name with a syntax error (which the C# compiler reports) cannot receive generated code.
        var ns = _class.ContainingNamespace.IsGlobalNamespace ? "" : _class.ContainingNamespace.ToDisplayString(NamespaceFormat);
        if (!SyntaxFacts.IsValidIdentifier(_class.Name) || (ns.Length > 0 && !ns.Split('.').All(s => SyntaxFacts.IsValidIdentifier(s.TrimStart('@')))))
            return Result(null, null);

        var attributeSyntax = experiment.ApplicationSyntaxReference?.GetSyntax(_ct) as AttributeSyntax;
        var nameArgument = attributeSyntax is null ? null : Positional(attributeSyntax).FirstOrDefault();
        var nameLocation = nameArgument is null ? classLocation : At(nameArgument.Expression);
        var name = experiment.ConstructorArguments.Length > 0 && experiment.ConstructorArguments[0].Kind == TypedConstantKind.Primitive
            ? experiment.ConstructorArguments[0].Value as string : null;
        if (name is null || !YamlExperimentReader.IsValidName(name))
        {
            Report(InvalidName, nameLocation, UserText.Shorten(name ?? ""), "experiment", YamlExperimentReader.NameRule(name ?? ""));
            name = null;
        }
        var paper = attributeSyntax is not null && Named(attributeSyntax, "Paper") is { } paperArgument ? Constant(paperArgument.Expression) as string : null;

        // The names the generated code gives the class.
        var reserved = new HashSet<string>(StringComparer.Ordinal);
        foreach (var member in _class.GetMembers().Where(m => !m.IsImplicitlyDeclared && GeneratedMembers.ForCodeFirst.Contains(m.Name)))
        {
            reserved.Add(member.Name);
            if (member.Locations.FirstOrDefault(l => l.IsInSource) is { } at)
                Report(ReservedMemberName, LocationInfo.From(at), member.Name, string.Join(", ", GeneratedMembers.ForCodeFirst));
        }

        var members = Members();
        foreach (var m in members.Where(m => m.Role is Role.Teacher or Role.Student))
            _modelNames[m.Symbol.Name] = m.Role == Role.Student ? "student" : SnakeCase(m.Symbol.Name);
        foreach (var m in members.Where(m => m.Role == Role.Adapter))
            _adapterNames[m.Symbol.Name] = SnakeCase(m.Symbol.Name);

        var what = $"The experiment class '{_class.Name}'";
        var helperModels = new List<HelperModel>();
        var models = new List<ModelSpec>();
        var names = new HashSet<string>(StringComparer.Ordinal) { "batch" };
        // Teachers first, then the student: the order the YAML front end gives them.
        foreach (var m in members.Where(m => m.Role == Role.Teacher).Concat(members.Where(m => m.Role == Role.Student)))
        {
            var modelName = _modelNames[m.Symbol.Name];
            if (!ValidMemberName(m, modelName, "teacher")) continue;
            if (!names.Add(modelName))
            {
                Report(DuplicateName, At(m.Syntax.Identifier), "model", modelName + (m.Role == Role.Student ? " (an experiment trains one student)" : ""));
                continue;
            }
            var model = ReadModel(m, modelName, out var typeName);
            helperModels.Add(new HelperModel(m.Symbol.Name, modelName, typeName));
            if (model is not null) models.Add(model);
        }
        if (!members.Any(m => m.Role == Role.Student))
            Report(MissingDeclaration, classLocation, what, "a [Student] member (the model being trained)",
                "[Student] CifarResNet Student { get; } = new(depth: 20, classes: 100);");

        var adapters = new List<AdapterSpec>();
        foreach (var m in members.Where(m => m.Role == Role.Adapter))
        {
            var adapterName = _adapterNames[m.Symbol.Name];
            if (!ValidMemberName(m, adapterName, "adapter")) continue;
            if (!names.Add(adapterName)) { Report(DuplicateName, At(m.Syntax.Identifier), "adapter", adapterName); continue; }
            // The generated adapter module is a property of the class: the class's own members must not have its name.
            var property = CSharpNames.Pascal(adapterName) + "Adapter";
            if (_class.GetMembers(property).Any(x => !x.IsImplicitlyDeclared))
            {
                Report(GeneratedNameCollision, At(m.Syntax.Identifier), "Adapter", adapterName, $"the member {property}", $"the class '{_class.Name}' already has");
                continue;
            }
            if (ReadAdapter(m, adapterName) is { } a) adapters.Add(a);
        }

        var losses = new List<LossTermSpec>();
        var termNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in members.Where(m => m.Role == Role.Loss))
        {
            var termName = SnakeCase(m.Symbol.Name);
            if (!ValidMemberName(m, termName, "loss term")) continue;
            if (!termNames.Add(termName)) { Report(DuplicateName, At(m.Syntax.Identifier), "loss term", termName); continue; }
            if (ReadLoss(m, termName) is { } l) losses.Add(l);
        }
        if (!members.Any(m => m.Role == Role.Loss))
            Report(MissingDeclaration, classLocation, what, "a [Loss] member (a weighted loss term)",
                "[Loss(Weight = 0.9)] LossTerm Kd => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4);");

        var data = ReadData(members, classLocation, what, out var datasetType);
        var classAttributes = _class.GetAttributes();
        var optimizer = ReadOptimizer(classAttributes, classLocation);
        var schedule = ReadSchedule(classAttributes);
        var seeds = ReadSeeds(classAttributes);
        var eval = ReadEval(classAttributes);

        var helpers = new ExperimentHelpers(ns, _class.Name, helperModels.ToEquatableArray(), datasetType, !reserved.Contains("Taps"), !reserved.Contains("Batch"));
        if (name is null) return Result(null, helpers);
        var spec = new ExperimentSpec(name, nameLocation, FrontEnd.Attributes, node.SyntaxTree.FilePath, ns, _class.Name, paper, data,
            models.ToEquatableArray(), adapters.ToEquatableArray(), losses.ToEquatableArray(), optimizer, schedule, eval, seeds, classLocation,
            Constructible: _class.InstanceConstructors.Any(c => c.Parameters.Length == 0 && c.DeclaredAccessibility != Accessibility.Private))
        {
            MemoryFormat = ExperimentText(attributeSyntax, "MemoryFormat"),
            Precision = ExperimentText(attributeSyntax, "Precision"),
        };
        return Result(spec, helpers);
    }

    private AttributeParseResult Result(ExperimentSpec? spec, ExperimentHelpers? helpers) =>
        new(new ExperimentGenerator.ParseResult(spec, _diagnostics.ToEquatableArray()), helpers);

    /// <summary>The properties that carry a role attribute, in declaration order (across partial declarations, by file).</summary>
    private List<Member> Members()
    {
        var result = new List<Member>();
        var declarations = _class.DeclaringSyntaxReferences
            .OrderBy(r => r.SyntaxTree.FilePath, StringComparer.Ordinal).ThenBy(r => r.Span.Start)
            .Select(r => r.GetSyntax(_ct)).OfType<TypeDeclarationSyntax>();
        foreach (var declaration in declarations)
            foreach (var property in declaration.Members.OfType<PropertyDeclarationSyntax>())
            {
                _ct.ThrowIfCancellationRequested();
                if (property.AttributeLists.Count == 0) continue;
                if (SemanticModelOf(property).GetDeclaredSymbol(property, _ct) is not { } symbol) continue;
                Member? member = null;
                foreach (var attribute in symbol.GetAttributes())
                {
                    if (attribute.AttributeClass is null || !Roles.TryGetValue(attribute.AttributeClass.ToDisplayString(), out var role)) continue;
                    if (member is null) member = new Member(property, symbol, role, attribute);
                    else
                    {
                        var at = attribute.ApplicationSyntaxReference?.GetSyntax(_ct) is { } syntax ? At(syntax) : At(property.Identifier);
                        Report(ConflictingRoles, at, symbol.Name, AttributeName(member.Attribute), AttributeName(attribute));
                    }
                }
                if (member is not null) result.Add(member);
            }
        return result;
    }

    private static string AttributeName(AttributeData a)
    {
        var name = a.AttributeClass?.Name ?? "";
        return name.EndsWith("Attribute", StringComparison.Ordinal) ? name.Substring(0, name.Length - "Attribute".Length) : name;
    }

    private bool ValidMemberName(Member m, string name, string what)
    {
        if (YamlExperimentReader.IsValidName(name)) return true;
        Report(InvalidName, At(m.Syntax.Identifier), UserText.Shorten(name), what, YamlExperimentReader.NameRule(name));
        return false;
    }

    // ---- models and data -------------------------------------------------------------------------

    private ModelSpec? ReadModel(Member m, string modelName, out string typeName)
    {
        typeName = "";
        var role = m.Role == Role.Student ? ModelRole.Student : ModelRole.Teacher;
        var type = DslType(m, Metadata + "DistillModelAttribute", "model", "DistillModel");
        var creation = Creation(m, $"the model '{m.Symbol.Name}'", "new(depth: 20, classes: 100)");
        if (type is null || creation is null) return null;
        typeName = FullName(type.Value.Symbol);
        var arguments = ReadCreationArguments(creation, $"the constructor argument of '{m.Symbol.Name}'");

        CheckpointSpec? checkpoint = null;
        if (m.Attribute.ApplicationSyntaxReference?.GetSyntax(_ct) is AttributeSyntax attribute)
        {
            if (Named(attribute, "From") is { } from && TextArgument(from, "From", role == ModelRole.Teacher ? "the name of the experiment that trains this teacher" : "the name of the experiment whose student this one starts from") is { } experiment)
                checkpoint = new CheckpointSpec(experiment, null, At(from.Expression));
            if (Named(attribute, "Checkpoint") is { } file && TextArgument(file, "Checkpoint", "a .safetensors path") is { } path)
            {
                if (checkpoint is not null) Report(DuplicateName, At(file), "weight source", "From/Checkpoint");
                else checkpoint = new CheckpointSpec(null, path, At(file.Expression));
            }
        }
        var freeze = new List<NameSpec>();
        if (role == ModelRole.Student && m.Attribute.ApplicationSyntaxReference?.GetSyntax(_ct) is AttributeSyntax studentAttribute && Named(studentAttribute, "Freeze") is { } frozen)
        {
            // new[] { "conv1", "layer1" } or ["conv1", "layer1"]: each a constant module path.
            var items = Elements(frozen.Expression);
            if (items is null) Report(UnreadableDeclaration, At(frozen.Expression), "Freeze", "write the module paths as an array of constants, e.g. Freeze = [\"conv1\", \"layer1\"]");
            else
                foreach (var item in items)
                {
                    if (Constant(item) is string path && YamlExperimentReader.IsModulePath(path)) freeze.Add(new NameSpec(path, At(item)));
                    else Report(WrongValueType, At(item), "Freeze", "a module path: names of letters, digits and '_' joined by '.', such as layer1.0.conv1", Describe(item));
                }
        }
        var init = new List<ModuleInitSpec>();
        if (role == ModelRole.Student && m.Attribute.ApplicationSyntaxReference?.GetSyntax(_ct) is AttributeSyntax initAttribute && Named(initAttribute, "Init") is { } initArgument)
        {
            // ["backbone.body=data/pretrained/resnet50.safetensors"]: each a constant "module path=file".
            var items = Elements(initArgument.Expression);
            if (items is null) Report(UnreadableDeclaration, At(initArgument.Expression), "Init", "write the entries as an array of constants, e.g. Init = [\"backbone.body=data/pretrained/resnet50.safetensors\"]");
            else
                foreach (var item in items)
                {
                    var text = Constant(item) as string;
                    var eq = text?.IndexOf('=') ?? -1;
                    if (text is null || eq <= 0 || eq == text.Length - 1 || !YamlExperimentReader.IsModulePath(text.Substring(0, eq)))
                        Report(WrongValueType, At(item), "Init", "\"module.path=file.safetensors\", such as \"backbone.body=data/pretrained/resnet50.safetensors\"", Describe(item));
                    else if (init.Any(i => i.ModulePath == text.Substring(0, eq)))
                        Report(DuplicateName, At(item), "init module path", text.Substring(0, eq));
                    else init.Add(new ModuleInitSpec(text.Substring(0, eq), text.Substring(eq + 1), At(item)));
                }
            if (init.Count > 0 && checkpoint is not null)
                Report(InitOverwritten, init[0].Location, modelName, init[0].ModulePath, checkpoint.FromExperiment is { } e ? $"experiment '{e}'" : $"'{checkpoint.Path}'");
        }
        return new ModelSpec(modelName, role, type.Value.DslName, At(creation), arguments, checkpoint, EquatableArray<NameSpec>.Empty, At(m.Syntax.Identifier), m.Symbol.Name, null,
            freeze.ToEquatableArray(), init.ToEquatableArray());
    }

    private DataSpec? ReadData(List<Member> members, LocationInfo classLocation, string what, out string? datasetType)
    {
        datasetType = null;
        DatasetSpec? train = null, validation = null;
        long batch = 0;
        LocationInfo? batchLocation = null;
        LocationInfo? location = null;
        Member? trainMember = null, valMember = null;
        foreach (var m in members.Where(m => m.Role is Role.TrainData or Role.ValData))
        {
            var isTrain = m.Role == Role.TrainData;
            if ((isTrain ? trainMember : valMember) is { } previous)
            {
                Report(DuplicateName, At(m.Syntax.Identifier), "data set", (isTrain ? "train" : "val") + $" (already declared by '{previous.Symbol.Name}')");
                continue;
            }
            if (isTrain) trainMember = m; else valMember = m;
            var type = DslType(m, Metadata + "DistillDatasetAttribute", "data set", "DistillDataset");
            var creation = Creation(m, $"the data set '{m.Symbol.Name}'", "new(classes: 100, samples: 20000)");
            if (isTrain && type is not null) datasetType = FullName(type.Value.Symbol);
            DatasetSpec? spec = null;
            if (type is not null && creation is not null)
                spec = new DatasetSpec(type.Value.DslName, At(creation), ReadCreationArguments(creation, $"the constructor argument of '{m.Symbol.Name}'"), At(m.Syntax.Identifier), m.Symbol.Name,
                    ReadTransforms(m.Attribute.ApplicationSyntaxReference?.GetSyntax(_ct) as AttributeSyntax, isTrain));
            if (!isTrain)
            {
                validation = spec;
                continue;
            }
            train = spec;
            location = At(m.Syntax.Identifier);
            var attribute = m.Attribute.ApplicationSyntaxReference?.GetSyntax(_ct) as AttributeSyntax;
            if (attribute is not null && Named(attribute, "Batch") is { } b)
            {
                batchLocation = At(b.Expression);
                if (Integer(b.Expression, "Batch", out batch) && batch <= 0)
                    Report(WrongValueType, At(b.Expression), "Batch", "a positive batch size", Describe(b.Expression));
            }
            else Report(MissingDeclaration, attribute is null ? At(m.Syntax.Identifier) : At(attribute), "[TrainData]", "the batch size", "[TrainData(Batch = 64)]");
        }
        if (valMember is not null && trainMember is null)
            Report(MissingDeclaration, At(valMember.Syntax.Identifier), what, "a [TrainData] member besides [ValData] (the training data)",
                "[TrainData(Batch = 64)] SyntheticImages TrainData { get; } = new(classes: 100);");
        if (trainMember is null) return null;
        return new DataSpec(train, validation, batch, batchLocation ?? location!.Value, location!.Value);
    }

    /// <summary>A true/false setting the attribute writes; null when it is not written (or is not a bool: DSL004).</summary>
    private bool? Flag(AttributeSyntax attribute, string name)
    {
        if (Named(attribute, name) is not { } a) return null;
        if (Constant(a.Expression) is bool b) return b;
        Report(WrongValueType, At(a.Expression), name, "true or false", Describe(a.Expression));
        return null;
    }

    /// <summary>The transforms a [TrainData] or [ValData] attribute writes (Crop, Flip, Normalize), as YAML's <c>transforms:</c>.</summary>
    private TransformSpec? ReadTransforms(AttributeSyntax? attribute, bool isTrain)
    {
        if (attribute is null) return null;
        long? crop = null;
        bool? flip = null, normalize = null;
        if (isTrain && Named(attribute, "Crop") is { } c && Integer(c.Expression, "Crop", out var padding))
        {
            if (padding is < 0 or > 1024) Report(ValueOutOfRange, At(c.Expression), "'Crop'", "the zero padding of the random crop in pixels from 0 to 1024", padding.ToString(System.Globalization.CultureInfo.InvariantCulture));
            else crop = padding;
        }
        if (isTrain) flip = Flag(attribute, "Flip");
        normalize = Flag(attribute, "Normalize");
        return crop is null && flip is null && normalize is null ? null : new TransformSpec(crop, flip, normalize, At(attribute));
    }

    /// <summary>The member's type with its DSL name, when it is a class marked with <paramref name="marker"/>; otherwise reports DSL035.</summary>
    private (INamedTypeSymbol Symbol, string DslName)? DslType(Member m, string marker, string what, string markerName)
    {
        var type = m.Symbol.Type as INamedTypeSymbol;
        var data = type?.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == marker);
        if (type is null || data is null)
        {
            if (m.Symbol.Type.TypeKind != TypeKind.Error)
                Report(NotAModelOrDataset, At(m.Syntax.Type), "[" + AttributeName(m.Attribute) + "]", m.Symbol.Name,
                    m.Symbol.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat), what, markerName);
            return null;
        }
        var dslName = data.NamedArguments.FirstOrDefault(kv => kv.Key == "Name").Value.Value as string ?? type.Name;
        return (type, dslName);
    }

    /// <summary>The <c>new(...)</c> that the member's initializer or body returns; otherwise reports DSL036.</summary>
    private BaseObjectCreationExpressionSyntax? Creation(Member m, string what, string example)
    {
        var value = Unparenthesize(ValueOf(m.Syntax));
        if (value is BaseObjectCreationExpressionSyntax creation)
        {
            if (creation.Initializer is { } initializer)
                Report(UnreadableDeclaration, At(initializer), what, "its arguments are the constructor's; an object initializer sets nothing the generator reads");
            return creation;
        }
        Report(UnreadableDeclaration, value is null ? At(m.Syntax.Identifier) : At(value), what,
            $"construct it in the property, e.g. {{ get; }} = {example}");
        return null;
    }

    /// <summary>Named and positional constructor arguments, positional ones named through the constructor the call binds to.</summary>
    private EquatableArray<ArgumentSpec> ReadCreationArguments(BaseObjectCreationExpressionSyntax creation, string what)
    {
        if (creation.ArgumentList is null) return EquatableArray<ArgumentSpec>.Empty;
        var info = SemanticModelOf(creation).GetSymbolInfo(creation, _ct);
        var constructor = info.Symbol as IMethodSymbol ?? info.CandidateSymbols.OfType<IMethodSymbol>()
            .OrderByDescending(c => c.Parameters.Length).FirstOrDefault();
        var result = new List<ArgumentSpec>();
        var arguments = creation.ArgumentList.Arguments;
        for (var i = 0; i < arguments.Count; i++)
        {
            var argument = arguments[i];
            string? name;
            LocationInfo nameLocation;
            if (argument.NameColon is { } nameColon)
            {
                name = nameColon.Name.Identifier.ValueText;
                nameLocation = At(nameColon.Name);
            }
            else
            {
                // A positional argument that binds to no parameter is a C# error already.
                name = constructor is not null && i < constructor.Parameters.Length ? constructor.Parameters[i].Name : null;
                nameLocation = At(argument.Expression);
            }
            if (name is null) continue;
            if (ReadConstantValue(argument.Expression, what) is { } value) result.Add(new ArgumentSpec(name, nameLocation, value));
        }
        return result.ToEquatableArray();
    }

    // ---- adapters and loss terms -----------------------------------------------------------------

    private AdapterSpec? ReadAdapter(Member m, string adapterName)
    {
        var what = $"the adapter '{m.Symbol.Name}'";
        var value = Unparenthesize(ValueOf(m.Syntax));
        if (value is not InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax access } call
            || LastName(access.Expression) != "Adapter" || !AdapterKinds.TryGetValue(access.Name.Identifier.ValueText, out var kind))
        {
            Report(UnreadableDeclaration, value is null ? At(m.Syntax.Identifier) : At(value), what,
                "write it as Adapter.Conv1x1(from, to), Adapter.Conv3x3(from, to) or Adapter.Linear(from, to), e.g. => Adapter.Conv1x1(Taps.Student.stage3, Taps.Teacher.stage3)");
            return null;
        }
        TapRef? from = null, to = null;
        var norm = AdapterNorm.None;
        var act = AdapterActivation.None;
        DeclaredChannels? inChannels = null, outChannels = null;
        var arguments = call.ArgumentList.Arguments;
        for (var i = 0; i < arguments.Count; i++)
        {
            var parameter = arguments[i].NameColon?.Name.Identifier.ValueText ?? (i switch { 0 => "from", 1 => "to", 2 => "norm", 3 => "act", 4 => "in_channels", 5 => "out_channels", _ => null });
            if (parameter is "in_channels" or "out_channels")
            {
                var text = arguments[i].Expression.ToString();
                if (Numbers.TryParseLong(text, out var c) && c >= 1)
                {
                    var declared = new DeclaredChannels(c, At(arguments[i].Expression));
                    if (parameter == "in_channels") inChannels = declared; else outChannels = declared;
                }
                else if (text != "0") // 0: the parameter's default, "inferred from the tap"
                    Report(UnreadableDeclaration, At(arguments[i].Expression), $"'{text}'", $"the {parameter} of an adapter is a positive integer literal");
                continue;
            }
            if (parameter is "norm" or "act")
            {
                // An enum member (AdapterNorm.BatchNorm, AdapterActivation.ReLU): C# has checked the type already.
                var member = arguments[i].Expression is MemberAccessExpressionSyntax e ? e.Name.Identifier.ValueText : null;
                if (parameter == "norm" && member is "BatchNorm") norm = AdapterNorm.BatchNorm;
                else if (parameter == "act" && member is "ReLU") act = AdapterActivation.ReLU;
                else if (member is not "None")
                    Report(UnreadableDeclaration, At(arguments[i].Expression), $"'{arguments[i].Expression}'",
                        parameter == "norm" ? "the norm of an adapter is AdapterNorm.None or AdapterNorm.BatchNorm" : "the activation of an adapter is AdapterActivation.None or AdapterActivation.ReLU");
                continue;
            }
            if (parameter is not ("from" or "to")) continue; // more arguments than parameters: a C# error already
            var reference = Reference(arguments[i].Expression);
            var dot = reference?.IndexOf('.') ?? -1;
            if (reference is null || dot <= 0)
            {
                Report(UnreadableDeclaration, At(arguments[i].Expression), $"'{arguments[i].Expression}'",
                    $"the '{parameter}' of an adapter is a model tap, e.g. Taps.Student.stage3");
                continue;
            }
            var tap = new TapRef(reference.Substring(0, dot), reference.Substring(dot + 1), At(arguments[i].Expression));
            if (parameter == "from") from = tap; else to = tap;
        }
        return from is null || to is null ? null : new AdapterSpec(adapterName, kind, from, to, At(m.Syntax.Identifier), null, norm, act, inChannels, outChannels);
    }

    private LossTermSpec? ReadLoss(Member m, string termName)
    {
        var value = Unparenthesize(ValueOf(m.Syntax));
        if (value is not InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax access } call || LastName(access.Expression) != "Loss")
        {
            Report(UnreadableDeclaration, value is null ? At(m.Syntax.Identifier) : At(value), $"the loss term '{m.Symbol.Name}'",
                "write it as a call Loss.<name>(...), e.g. => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4)");
            return null;
        }
        var arguments = new List<ArgumentSpec>();
        var list = call.ArgumentList.Arguments;
        for (var i = 0; i < list.Count; i++)
        {
            var argument = list[i];
            // An explicit null leaves an optional input to its default, as a key left out of the YAML file.
            if (Unparenthesize(argument.Expression)!.IsKind(SyntaxKind.NullLiteralExpression)) continue;
            var v = ReadValue(argument.Expression, "a loss argument");
            if (v is null) continue;
            arguments.Add(argument.NameColon is { } nameColon
                ? new ArgumentSpec(nameColon.Name.Identifier.ValueText, At(nameColon.Name), v)
                : new ArgumentSpec("", At(argument.Expression), v, i));
        }

        var weight = 1.0;
        LocationInfo? weightLocation = null;
        WeightScheduleSpec? schedule = null;
        if (m.Attribute.ApplicationSyntaxReference?.GetSyntax(_ct) is AttributeSyntax attribute)
        {
            if (Named(attribute, "Weight") is { } w)
            {
                weightLocation = At(w.Expression);
                Number(w.Expression, "Weight", out weight);
            }
            var warmup = 0.0;
            if (Named(attribute, "WarmupEpochs") is { } warm && Number(warm.Expression, "WarmupEpochs", out warmup) && warmup < 0)
                Report(WrongValueType, At(warm.Expression), "WarmupEpochs", "a number of warm-up epochs >= 0", Describe(warm.Expression));
            var decay = Named(attribute, "Decay") is { } d && SemanticModelOf(d).GetSymbolInfo(d.Expression, _ct).Symbol is IFieldSymbol { Name: "Linear" };
            var kind = (warmup > 0, decay) switch
            {
                (true, true) => WeightScheduleKind.WarmupThenDecay,
                (true, false) => WeightScheduleKind.LinearWarmup,
                (false, true) => WeightScheduleKind.LinearDecay,
                _ => WeightScheduleKind.Constant,
            };
            if (Named(attribute, "WarmupEpochs") is not null || Named(attribute, "Decay") is not null)
                schedule = new WeightScheduleSpec(kind, warmup, At(attribute));
        }
        return new LossTermSpec(termName, At(m.Syntax.Identifier), access.Name.Identifier.ValueText, At(access.Name),
            arguments.ToEquatableArray(), weight, weightLocation, schedule, At(m.Syntax.Identifier));
    }

    // ---- class attributes: optimizer, schedule, seeds, evaluation ---------------------------------

    private static bool DerivesFrom(INamedTypeSymbol? type, string baseName)
    {
        for (var t = type; t is not null; t = t.BaseType)
            if (t.ToDisplayString() == baseName) return true;
        return false;
    }

    private OptimizerSpec? ReadOptimizer(IReadOnlyList<AttributeData> attributes, LocationInfo classLocation)
    {
        string? kind = null;
        var kindLocation = classLocation;
        var location = classLocation;
        var args = EquatableArray<ArgumentSpec>.Empty;
        foreach (var a in attributes.Where(a => DerivesFrom(a.AttributeClass, Runtime + "OptimizerAttribute")))
        {
            if (a.ApplicationSyntaxReference?.GetSyntax(_ct) is not AttributeSyntax syntax) continue;
            var name = AttributeName(a).ToLowerInvariant();
            if (kind is not null)
            {
                Report(DuplicateName, At(syntax), "optimizer", name + " (an experiment has one optimizer)");
                continue;
            }
            kind = name;
            kindLocation = At(syntax.Name);
            location = At(syntax);
            args = NamedSettings(syntax, "an optimizer setting");
        }
        var groups = new List<ParamGroupSpec>();
        foreach (var a in attributes.Where(a => a.AttributeClass?.ToDisplayString() == Runtime + "ParamGroupAttribute"))
        {
            if (a.ApplicationSyntaxReference?.GetSyntax(_ct) is not AttributeSyntax syntax) continue;
            var modules = new List<NameSpec>();
            foreach (var argument in Positional(syntax))
                if (TextArgument(argument, "modules", "a module name: student, adapters or an adapter's name") is { } module)
                    modules.Add(new NameSpec(module, At(argument.Expression)));
            if (modules.Count == 0)
                Report(MissingDeclaration, At(syntax), "[ParamGroup]", "the modules it holds (student, adapters or an adapter's name)", "[ParamGroup(\"adapters\", Lr = 0.1)]");
            groups.Add(new ParamGroupSpec(modules.ToEquatableArray(), NamedSettings(syntax, "a parameter-group setting"), At(syntax)));
        }
        if (kind is null)
        {
            if (groups.Count > 0)
                Report(MissingDeclaration, groups[0].Location, "[ParamGroup]", "an optimizer attribute ([Sgd], [Adam] or [AdamW])", "[Sgd(Lr = 0.05, Momentum = 0.9)]");
            return null;
        }
        return new OptimizerSpec(kind, kindLocation, args, groups.ToEquatableArray(), location);
    }

    private ScheduleSpec? ReadSchedule(IReadOnlyList<AttributeData> attributes)
    {
        ScheduleSpec? result = null;
        foreach (var a in attributes.Where(a => DerivesFrom(a.AttributeClass, Runtime + "ScheduleAttribute")))
        {
            if (a.ApplicationSyntaxReference?.GetSyntax(_ct) is not AttributeSyntax syntax) continue;
            var kind = AttributeName(a) switch
            {
                "MultiStep" => "multistep",
                "Cosine" => "cosine",
                "StepLr" => "step",
                "ConstantLr" => "constant",
                _ => null,
            };
            if (result is not null)
            {
                Report(DuplicateName, At(syntax), "LR schedule", (kind ?? "schedule") + " (choose one)");
                continue;
            }
            long epochs = 0;
            var epochsLocation = At(syntax);
            if (Positional(syntax).FirstOrDefault() is { } epochsArgument)
            {
                epochsLocation = At(epochsArgument.Expression);
                if (Integer(epochsArgument.Expression, "epochs", out epochs) && epochs <= 0)
                    Report(WrongValueType, epochsLocation, "epochs", "a positive number of epochs", Describe(epochsArgument.Expression));
            }
            long warmup = 0;
            if (Named(syntax, "Warmup") is { } w && Integer(w.Expression, "Warmup", out warmup) && warmup < 0)
                Report(WrongValueType, At(w.Expression), "Warmup", "a number of warm-up epochs >= 0", Describe(w.Expression));
            var clip = 0.0;
            if (Named(syntax, "ClipGradNorm") is { } c) Number(c.Expression, "ClipGradNorm", out clip);
            var args = NamedSettings(syntax, "a schedule setting", "Warmup", "ClipGradNorm");
            result = new ScheduleSpec(epochs, epochsLocation, kind, kind is null ? null : At(syntax.Name), args, warmup, clip, At(syntax),
                Named(syntax, "Warmup") is { } wa ? At(wa.Expression) : null, Named(syntax, "ClipGradNorm") is { } ca ? At(ca.Expression) : null);
        }
        return result;
    }

    private EquatableArray<long> ReadSeeds(IReadOnlyList<AttributeData> attributes)
    {
        var seeds = attributes.FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == Runtime + "SeedsAttribute");
        if (seeds is null || seeds.ConstructorArguments.Length == 0 || seeds.ConstructorArguments[0].Kind != TypedConstantKind.Array)
            return EquatableArray<long>.Empty;
        return seeds.ConstructorArguments[0].Values.Where(v => v.Kind == TypedConstantKind.Primitive && v.Value is long).Select(v => (long)v.Value!).ToEquatableArray();
    }

    private EvalSpec? ReadEval(IReadOnlyList<AttributeData> attributes)
    {
        var eval = attributes.FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == Runtime + "EvalAttribute");
        if (eval?.ApplicationSyntaxReference?.GetSyntax(_ct) is not AttributeSyntax syntax) return null;
        var metrics = new List<NameSpec>();
        foreach (var argument in Positional(syntax))
            if (TextArgument(argument, "metrics", "a metric name such as top1") is { } metric)
                metrics.Add(new NameSpec(metric, At(argument.Expression)));
        long every = 1;
        if (Named(syntax, "Every") is { } e) Integer(e.Expression, "Every", out every);
        return new EvalSpec(metrics.ToEquatableArray(), every, At(syntax), Flag(syntax, "Flip") ?? false);
    }

    /// <summary>The property settings written in an attribute (<c>WeightDecay = 5e-4</c> → <c>weight_decay: 0.0005</c>), except <paramref name="skip"/>.</summary>
    private EquatableArray<ArgumentSpec> NamedSettings(AttributeSyntax syntax, string what, params string[] skip)
    {
        var result = new List<ArgumentSpec>();
        foreach (var argument in syntax.ArgumentList?.Arguments ?? default)
        {
            if (argument.NameEquals is not { } nameEquals || Array.IndexOf(skip, nameEquals.Name.Identifier.ValueText) >= 0) continue;
            if (ReadConstantValue(argument.Expression, what) is { } value)
                result.Add(new ArgumentSpec(SnakeCase(nameEquals.Name.Identifier.ValueText), At(nameEquals.Name), value));
        }
        return result.ToEquatableArray();
    }

    // ---- values ----------------------------------------------------------------------------------

    /// <summary>A reference, a list of references or constants, or a constant; otherwise reports DSL036.</summary>
    private ValueSpec? ReadValue(ExpressionSyntax expression, string what)
    {
        if (Reference(expression) is { } reference) return ValueSpec.Scalar(ValueKind.String, reference, At(expression));
        if (Elements(expression) is { } elements)
        {
            var items = new List<ValueSpec>();
            foreach (var e in elements)
                if (ReadValue(e, what) is { } item) items.Add(item);
            return new ValueSpec(ValueKind.List, "", items.ToEquatableArray(), At(expression));
        }
        var constant = SemanticModelOf(expression).GetConstantValue(expression, _ct);
        if (constant.HasValue && FromConstant(constant.Value, At(expression)) is { } value) return value;
        Report(UnreadableDeclaration, At(expression), $"'{expression}'",
            $"{what} is a constant or a reference: Taps.<Model>.<tap>, Batch.<field> or an [Adapter] member");
        return null;
    }

    /// <summary>A constant or an array of constants; otherwise reports DSL036.</summary>
    private ValueSpec? ReadConstantValue(ExpressionSyntax expression, string what)
    {
        if (Elements(expression) is { } elements)
        {
            var items = new List<ValueSpec>();
            foreach (var e in elements)
                if (ReadConstantValue(e, what) is { } item) items.Add(item);
            return new ValueSpec(ValueKind.List, "", items.ToEquatableArray(), At(expression));
        }
        var constant = SemanticModelOf(expression).GetConstantValue(expression, _ct);
        if (constant.HasValue && FromConstant(constant.Value, At(expression)) is { } value) return value;
        Report(UnreadableDeclaration, At(expression), $"'{expression}'", $"{what} must be a constant (a number, text, true/false) or an array of constants");
        return null;
    }

    /// <summary>The elements of <c>new[] { ... }</c>, <c>new T[] { ... }</c> or <c>[ ... ]</c>; null for anything else.</summary>
    private static IEnumerable<ExpressionSyntax>? Elements(ExpressionSyntax expression) => Unparenthesize(expression) switch
    {
        ImplicitArrayCreationExpressionSyntax a => a.Initializer.Expressions,
        ArrayCreationExpressionSyntax { Initializer: { } initializer } => initializer.Expressions,
        CollectionExpressionSyntax c when c.Elements.All(e => e is ExpressionElementSyntax) => c.Elements.Cast<ExpressionElementSyntax>().Select(e => e.Expression),
        InitializerExpressionSyntax i when i.IsKind(SyntaxKind.ArrayInitializerExpression) => i.Expressions,
        _ => null,
    };

    /// <summary>A value with the text the YAML front end gives the same scalar (integers as written, numbers round-tripping, invariant culture).</summary>
    private static ValueSpec? FromConstant(object? value, LocationInfo at) => value switch
    {
        null => ValueSpec.Scalar(ValueKind.Null, "", at),
        bool b => ValueSpec.Scalar(ValueKind.Bool, b ? "true" : "false", at),
        string s => ValueSpec.Scalar(ValueKind.String, s, at),
        char c => ValueSpec.Scalar(ValueKind.String, c.ToString(), at),
        double d => ValueSpec.Scalar(ValueKind.Float, Numbers.Format(d), at),
        float f => ValueSpec.Scalar(ValueKind.Float, Numbers.IsFinite(f) ? f.ToString("R", CultureInfo.InvariantCulture) : Numbers.Format(f), at),
        decimal m => ValueSpec.Scalar(ValueKind.Float, m.ToString(CultureInfo.InvariantCulture), at),
        sbyte or byte or short or ushort or int or uint or long or ulong => ValueSpec.Scalar(ValueKind.Integer, Convert.ToString(value, CultureInfo.InvariantCulture)!, at),
        _ => null,
    };

    /// <summary>
    /// The reference an expression names, as the YAML front end writes it: <c>Taps.Student.logits</c> →
    /// <c>student.logits</c>, <c>Batch.label</c> → <c>batch.label</c>, an [Adapter] member <c>Hint</c> →
    /// <c>hint</c>; <c>.As&lt;Kind&gt;()</c> is seen through; <c>Taps.Student.roi_logits.On(Taps.Teacher.sampled_rois)</c> →
    /// <c>student.roi_logits@teacher.sampled_rois</c>. Null when it is none of these.
    /// </summary>
    private string? Reference(ExpressionSyntax expression)
    {
        expression = Unparenthesize(expression)!;
        if (expression is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name: GenericNameSyntax { Identifier.ValueText: "As" } } cast, ArgumentList.Arguments.Count: 0 })
            return Reference(cast.Expression);
        // Taps.Student.roi_logits.On(Taps.Teacher.sampled_rois) → student.roi_logits@teacher.sampled_rois
        if (expression is InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax { Name: IdentifierNameSyntax { Identifier.ValueText: "On" } } on, ArgumentList.Arguments.Count: 1 } call)
            return Reference(on.Expression) is { } tap && Reference(call.ArgumentList.Arguments[0].Expression) is { } rois ? tap + "@" + rois : null;
        switch (expression)
        {
            case MemberAccessExpressionSyntax { Expression: MemberAccessExpressionSyntax model } tap when LastName(model.Expression) == "Taps":
                var member = model.Name.Identifier.ValueText;
                return (_modelNames.TryGetValue(member, out var modelName) ? modelName : SnakeCase(member)) + "." + tap.Name.Identifier.ValueText;
            case MemberAccessExpressionSyntax field when LastName(field.Expression) == "Batch":
                return "batch." + field.Name.Identifier.ValueText;
            case MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax } self when _adapterNames.TryGetValue(self.Name.Identifier.ValueText, out var adapter):
                return adapter;
            case IdentifierNameSyntax identifier when _adapterNames.TryGetValue(identifier.Identifier.ValueText, out var adapter):
                return adapter;
            default:
                return null;
        }
    }

    /// <summary>The last identifier of a (possibly qualified) name: <c>Lab.Kd.Taps</c> → <c>Taps</c>.</summary>
    private static string? LastName(ExpressionSyntax expression) => Unparenthesize(expression) switch
    {
        IdentifierNameSyntax id => id.Identifier.ValueText,
        MemberAccessExpressionSyntax access => access.Name.Identifier.ValueText,
        AliasQualifiedNameSyntax alias => alias.Name.Identifier.ValueText,
        QualifiedNameSyntax qualified => qualified.Right.Identifier.ValueText,
        _ => null,
    };

    private static ExpressionSyntax? Unparenthesize(ExpressionSyntax? expression)
    {
        while (expression is ParenthesizedExpressionSyntax p) expression = p.Expression;
        return expression;
    }

    /// <summary>What a property evaluates to: its initializer, its expression body, or its getter's expression body.</summary>
    private static ExpressionSyntax? ValueOf(PropertyDeclarationSyntax property) =>
        property.Initializer?.Value
        ?? property.ExpressionBody?.Expression
        ?? property.AccessorList?.Accessors.FirstOrDefault(a => a.IsKind(SyntaxKind.GetAccessorDeclaration))?.ExpressionBody?.Expression;

    private object? Constant(ExpressionSyntax expression)
    {
        var constant = SemanticModelOf(expression).GetConstantValue(expression, _ct);
        return constant.HasValue ? constant.Value : null;
    }

    /// <summary>A text property of <c>[Experiment]</c> (<c>MemoryFormat = "channels_last"</c>) with its location, or null.</summary>
    private NameSpec? ExperimentText(AttributeSyntax? attribute, string property) =>
        attribute is not null && Named(attribute, property) is { } argument && TextArgument(argument, property, "text") is { } text
            ? new NameSpec(text, At(argument.Expression))
            : null;

    private string? TextArgument(AttributeArgumentSyntax argument, string key, string expected)
    {
        if (Constant(argument.Expression) is string text && text.Length > 0) return text;
        Report(WrongValueType, At(argument.Expression), key, expected, Describe(argument.Expression));
        return null;
    }

    private bool Integer(ExpressionSyntax expression, string key, out long value)
    {
        value = 0;
        switch (Constant(expression))
        {
            case int i: value = i; return true;
            case long l: value = l; return true;
            case short s: value = s; return true;
            case byte b: value = b; return true;
        }
        Report(WrongValueType, At(expression), key, "a whole number", Describe(expression));
        return false;
    }

    private bool Number(ExpressionSyntax expression, string key, out double value)
    {
        value = 0;
        var constant = Constant(expression);
        if (constant is double or float or int or long or short or byte or decimal)
        {
            value = Convert.ToDouble(constant, CultureInfo.InvariantCulture);
            return true;
        }
        Report(WrongValueType, At(expression), key, "a number", Describe(expression));
        return false;
    }

    private string Describe(ExpressionSyntax expression) => Constant(expression) switch
    {
        string s => $"the text '{s}'",
        bool b => $"the boolean {(b ? "true" : "false")}",
        double or float or decimal => $"the number {FromConstant(Constant(expression), default)!.Text}",
        int or long or short or byte => $"the integer {Constant(expression)}",
        _ => $"'{expression}'",
    };

    private static AttributeArgumentSyntax? Named(AttributeSyntax attribute, string name) =>
        attribute.ArgumentList?.Arguments.FirstOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name);

    /// <summary>Constructor arguments (those not setting a property).</summary>
    private static IEnumerable<AttributeArgumentSyntax> Positional(AttributeSyntax attribute) =>
        attribute.ArgumentList?.Arguments.Where(a => a.NameEquals is null) ?? Enumerable.Empty<AttributeArgumentSyntax>();

    /// <summary>A namespace as C# text: keywords escaped (<c>Lab.@event</c>), no <c>global::</c>.</summary>
    private static readonly SymbolDisplayFormat NamespaceFormat = new(
        globalNamespaceStyle: SymbolDisplayGlobalNamespaceStyle.Omitted,
        typeQualificationStyle: SymbolDisplayTypeQualificationStyle.NameAndContainingTypesAndNamespaces,
        miscellaneousOptions: SymbolDisplayMiscellaneousOptions.EscapeKeywordIdentifiers);

    internal static string FullName(ITypeSymbol type) => type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);

    /// <summary>A member name as a DSL name: <c>Kd</c> → <c>kd</c>, <c>FitHint</c> → <c>fit_hint</c>, <c>ResNet110</c> → <c>res_net110</c>, <c>HTTPHint</c> → <c>http_hint</c>.</summary>
    internal static string SnakeCase(string name)
    {
        var text = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                var previous = i > 0 ? name[i - 1] : '_';
                var next = i + 1 < name.Length ? name[i + 1] : '_';
                if (previous != '_' && (char.IsLower(previous) || char.IsDigit(previous) || (char.IsUpper(previous) && char.IsLower(next))))
                    text.Append('_');
                text.Append(char.ToLowerInvariant(c));
            }
            else text.Append(c);
        }
        return text.ToString();
    }
}
