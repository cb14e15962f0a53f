using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Distill.Generators.Model;
using Distill.Generators.Parsing;
using Microsoft.CodeAnalysis;
using static Distill.Generators.Diagnostics.DiagnosticDescriptors;

namespace Distill.Generators.Binding;

/// <summary>
/// Checks an experiment against the compilation's catalog: model types and their constructor arguments,
/// taps, adapters, losses with their inputs (kind, role, symbolic shapes) and hyper-parameter ranges, the
/// data set's batch fields, and the optimisation schedule. Every problem is a diagnostic at the exact
/// location of the offending value, with a message that says how to fix it.
/// </summary>
internal sealed partial class Binder
{
    private readonly ExperimentSpec _spec;
    private readonly Catalog _catalog;
    private readonly List<DiagnosticInfo> _diagnostics = new();
    private readonly Dictionary<string, BoundModel> _models = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BoundAdapter> _adapters = new(StringComparer.Ordinal);
    private readonly HashSet<string> _usedAdapters = new(StringComparer.Ordinal);
    private readonly HashSet<(string Model, string Tap)> _usedTaps = new();
    private DatasetInfo? _dataset;
    private DatasetInfo? _validationDataset;
    private readonly List<ResolvedTerm> _terms = new();
    private string? _currentTerm;
    private Dictionary<string, long> _datasetEnv = new(StringComparer.Ordinal);

    private Binder(ExperimentSpec spec, Catalog catalog)
    {
        _spec = spec;
        _catalog = catalog;
    }

    /// <summary>The experiment's diagnostics, and what it resolved to (null when it has an error).</summary>
    public static (EquatableArray<DiagnosticInfo> Diagnostics, BoundExperiment? Bound) Bind(ExperimentSpec spec, Catalog catalog)
    {
        var binder = new Binder(spec, catalog);
        binder.Run();
        var diagnostics = binder._diagnostics.ToEquatableArray();
        if (diagnostics.Any(d => Diagnostics.DiagnosticDescriptors.ById(d.Id).DefaultSeverity == DiagnosticSeverity.Error)) return (diagnostics, null);
        var bound = new BoundExperiment(spec,
            spec.Models.Select(m => new ResolvedModel(m, binder._models[m.Name].Info)).ToEquatableArray(),
            spec.Adapters.Select(a => binder._adapters[a.Name].Resolved).ToEquatableArray(),
            binder._terms.ToEquatableArray(),
            binder._dataset, binder._validationDataset, catalog.CanTrain);
        return (diagnostics, bound);
    }

    private void Report(DiagnosticDescriptor d, LocationInfo? at, params string[] args) => _diagnostics.Add(DiagnosticInfo.Create(d, at, args));

    /// <summary>A model with its resolved type and the values of its integer constructor arguments.</summary>
    private sealed record BoundModel(ModelSpec Spec, ModelInfo Info, Dictionary<string, long> Env);

    /// <summary>
    /// What a reference resolved to: a description for messages, kind, role and evaluated shape; whether it is a per-sample list
    /// (a detection batch's boxes); for per-RoI rows, the tap holding their RoIs (<see cref="RoiSet"/>) and, when the rows are
    /// computed on another tap's RoIs (<c>@</c>), that tap (<see cref="OnRois"/>).
    /// </summary>
    private sealed record Source(string Text, string Kind, string Role, long?[]? Shape, string? StudentRoot, bool IsList = false, string? RoiSet = null, string? OnRois = null);

    private sealed record BoundAdapter(AdapterSpec Spec, Source? Output, ResolvedAdapter Resolved);

    private void Run()
    {
        BindData();
        foreach (var m in _spec.Models) BindModel(m);
        foreach (var a in _spec.Adapters) BindAdapter(a);
        var reachesStudent = false;
        foreach (var term in _spec.Losses)
            reachesStudent |= BindLoss(term);
        if (!reachesStudent && _spec.Losses.Count > 0 && _models.Values.Any(m => m.Spec.Role == ModelRole.Student))
            Report(NothingReachesStudent, _spec.NameLocation);
        CheckDatasetAgainstStudent();
        ReportUnused();
        BindOptimizer();
        BindSchedule();
        BindEval();
        BindExecution();
        CheckGeneratedNames();
        ExplainMissingLoop();
    }

    /// <summary>The layout and precision a run computes in: names the runtime knows, DSL044 at the value otherwise.</summary>
    private void BindExecution()
    {
        if (_spec.MemoryFormat is { } format && ExecutionNames.MemoryFormat(format.Name) is null)
            Report(ValueOutOfRange, format.Location, "memory_format", "contiguous or channels_last", UserText.Shorten(format.Name));
        if (_spec.Precision is { } precision && ExecutionNames.Precision(precision.Name) is null)
            Report(ValueOutOfRange, precision.Location, "precision", "fp32, bf16 or fp16", UserText.Shorten(precision.Name));
    }

    /// <summary>DSL045 where the training loop's planner will emit nothing although the experiment has no errors.</summary>
    private void ExplainMissingLoop()
    {
        if (!_catalog.CanTrain || !_models.Values.Any(m => m.Spec.Role == ModelRole.Student)) return;
        if (_spec.Data?.Train is null)
            Report(NoTrainingLoop, _spec.NameLocation, _spec.Name, "it declares no training data (data: { train: ... })");
        else if (_dataset is { BatchType: null } d)
            Report(NoTrainingLoop, _spec.Data.Train.TypeLocation, _spec.Name, $"its training data set {d.Name} does not make batches (it is not an IBatchDataset<TBatch>)");
    }

    // ---- data ------------------------------------------------------------------------------------

    private void BindData()
    {
        if (_spec.Data is { } data && data.BatchSize > int.MaxValue)
            Report(ValueOutOfRange, data.BatchLocation, "The batch size", "a whole number from 1 to 2147483647", N(data.BatchSize));
        var train = _spec.Data?.Train;
        if (train is not null)
        {
            _dataset = ResolveDataset(train);
            if (_dataset is not null)
            {
                _datasetEnv = BindArguments($"data set {_dataset.Name}", _dataset.Constructor, train.Arguments, train.TypeLocation);
                if (_spec.Data is { BatchSize: > 0 } d) _datasetEnv["N"] = d.BatchSize;
            }
        }
        // The validation data is built by the generated code exactly as the training data is: bound the same way.
        if (_spec.Data?.Validation is { } validation && (_validationDataset = ResolveDataset(validation)) is { } valInfo)
        {
            BindArguments($"data set {valInfo.Name}", valInfo.Constructor, validation.Arguments, validation.TypeLocation);
            CheckTransforms(validation, valInfo);
        }
        if (train is not null && _dataset is not null) CheckTransforms(train, _dataset);
    }

    /// <summary>Image processing applies to image data sets only (their batches are images the loop crops, flips and normalises).</summary>
    private void CheckTransforms(DatasetSpec spec, DatasetInfo info)
    {
        if (spec.Transforms is { } t && !info.IsImageDataset)
            Report(WrongValueType, t.Location, "transforms", "image processing, which applies to image data sets (an ImageDataset) only", $"given for data set {info.Name}");
    }

    private DatasetInfo? ResolveDataset(DatasetSpec spec)
    {
        var info = _catalog.Datasets.FirstOrDefault(d => d.Name == spec.Type);
        if (info is null)
            Report(UnknownDataset, spec.TypeLocation, UserText.Shorten(spec.Type), NameSuggestions.DidYouMean(spec.Type, _catalog.Datasets.Select(d => d.Name)),
                List(_catalog.Datasets.Select(d => d.Name)));
        return info;
    }

    // ---- models ----------------------------------------------------------------------------------

    private void BindModel(ModelSpec m)
    {
        var info = _catalog.Models.FirstOrDefault(x => x.Name == m.Type);
        if (info is null)
        {
            Report(UnknownModelType, m.TypeLocation, UserText.Shorten(m.Type), NameSuggestions.DidYouMean(m.Type, _catalog.Models.Select(x => x.Name)), List(_catalog.Models.Select(x => x.Name)));
            return;
        }
        var env = BindArguments($"model {info.Name}", info.Constructor, m.Arguments, m.TypeLocation);
        // The model's input symbols (N, C, H, W, ...) take the data set's image dims when they are known.
        if (ImageShape() is { } image)
        {
            var inputDims = ShapeExpression.Dims(info.InputShape);
            for (var i = 0; i < inputDims.Length && i < image.Length; i++)
                if (IsIdentifier(inputDims[i]) && image[i] is long v && !env.ContainsKey(inputDims[i])) env[inputDims[i]] = v;
        }
        _models[m.Name] = new BoundModel(m, info, env);
        foreach (var tap in m.DeclaredTaps)
            if (!info.Taps.Any(t => t.Name == tap.Name))
                Report(UnknownTap, tap.Location, m.Name, info.Name, UserText.Shorten(tap.Name), NameSuggestions.DidYouMean(tap.Name, info.Taps.Select(t => t.Name)), List(info.Taps.Select(t => t.Name)));
    }

    /// <summary>Checks named arguments against a constructor and returns the integer environment (arguments and defaults).</summary>
    private Dictionary<string, long> BindArguments(string owner, EquatableArray<ParameterInfo> ctor, EquatableArray<ArgumentSpec> args, LocationInfo ownerLocation)
    {
        var env = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var p in ctor)
            if (p.HasDefault && IsIntegral(p.Type) && long.TryParse(p.DefaultText?.TrimEnd('L'), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var d))
                env[p.Name] = d;
        foreach (var arg in args)
        {
            var p = ctor.FirstOrDefault(c => c.Name == arg.Name);
            if (p is null)
            {
                Report(UnknownModelArgument, arg.NameLocation, owner, UserText.Shorten(arg.Name), NameSuggestions.DidYouMean(arg.Name, ctor.Select(c => c.Name)), List(ctor.Select(c => c.Name)));
                continue;
            }
            if (!CheckLiteral(p.Type, arg.Value, arg.Name, owner)) continue;
            // The constructor's own range: what it would reject at run time is an error at the value's line.
            if (p.HasRange && Numbers.TryParseDouble(arg.Value.Text, out var number) && !p.Contains(number))
            {
                Report(ValueOutOfRange, arg.Value.Location, $"'{arg.Name}' of {owner}", p.RangeText(), UserText.Shorten(arg.Value.Text));
                continue;
            }
            if (IsIntegral(p.Type) && Numbers.TryParseLong(arg.Value.Text, out var v)) env[p.Name] = v;
        }
        foreach (var p in ctor)
            if (!p.HasDefault && !args.Any(a => a.Name == p.Name))
                Report(MissingModelArgument, ownerLocation, owner, p.Name, p.Type,
                    _spec.FrontEnd == FrontEnd.Yaml ? "add it under args" : $"add {p.Name}: <value> to the constructor call");
        return env;
    }

    // ---- adapters --------------------------------------------------------------------------------

    private void BindAdapter(AdapterSpec a)
    {
        var from = ResolveTap(a.From);
        var to = ResolveTap(a.To);
        Source? output = null;
        if (from is not null && to is not null)
        {
            // The adapter keeps the source's spatial size and produces the target's channels.
            long?[]? shape = null;
            if (from.Shape is { } fs && to.Shape is { } ts && fs.Length >= 2 && ts.Length >= 2)
            {
                shape = (long?[])fs.Clone();
                shape[1] = ts[1];
            }
            output = new Source($"adapter '{a.Name}'", from.Kind, from.Role, shape, from.StudentRoot);
        }
        var inChannels = AdapterChannels(a, from, a.InChannels, "in_channels", a.From);
        var outChannels = AdapterChannels(a, to, a.OutChannels, "out_channels", a.To);
        if (output?.Shape is { Length: >= 2 } outShape && outShape[1] is null && outChannels is not null) outShape[1] = outChannels;
        _adapters[a.Name] = new BoundAdapter(a, output, new ResolvedAdapter(a, inChannels, outChannels));
    }

    /// <summary>
    /// An adapter's channels on one side: the tap's when it declares them (a declared count must agree), else the experiment's
    /// <paramref name="key"/>; neither is DSL056 (the adapter cannot be built).
    /// </summary>
    private long? AdapterChannels(AdapterSpec a, Source? tap, DeclaredChannels? declared, string key, TapRef reference)
    {
        if (tap is null) return declared?.Value; // the unknown tap is reported where it was resolved
        var known = Channels(tap);
        if (known is { } k && declared is { } d && k != d.Value)
            Report(AdapterChannelsUnknown, d.Location, a.Name, $"{key} is {d.Value}, but {reference} has {k} channels; remove {key} (it is inferred from the tap)");
        else if (known is null && declared is null)
            Report(AdapterChannelsUnknown, reference.Location, a.Name,
                $"the channels of {reference} are not known before the model is built (its shape declares them as '*'); give them as {key}: N{(_spec.FrontEnd == FrontEnd.Yaml ? "" : $" ({key}: N in the Adapter call)")}");
        return known ?? declared?.Value;
    }

    /// <summary>The channels (dimension 1) of a resolved tap's shape, when it is known at compile time.</summary>
    private static long? Channels(Source? s) => s?.Shape is { Length: >= 2 } shape ? shape[1] : null;

    // ---- loss terms ------------------------------------------------------------------------------

    /// <summary>Binds one term; returns whether it reads the student with a positive weight.</summary>
    private bool BindLoss(LossTermSpec term)
    {
        if (!Numbers.IsFinite(term.Weight))
            Report(ValueOutOfRange, term.WeightLocation ?? term.NameLocation, $"The weight of loss term '{term.Name}'", "a finite number >= 0", Numbers.Format(term.Weight));
        else if (term.Weight < 0)
            Report(NegativeWeight, term.WeightLocation ?? term.NameLocation, term.Name, term.Weight.ToString("R", CultureInfo.InvariantCulture));
        if (term.Schedule is { } ws && !(Numbers.IsFinite(ws.WarmupEpochs) && ws.WarmupEpochs >= 0))
            Report(ValueOutOfRange, ws.Location, $"The warm-up of loss term '{term.Name}'", "a finite number of epochs >= 0", Numbers.Format(ws.WarmupEpochs));
        var loss = _catalog.Losses.FirstOrDefault(l => l.Name == term.Loss);
        if (loss is null)
        {
            Report(UnknownLoss, term.LossLocation, UserText.Shorten(term.Loss), NameSuggestions.DidYouMean(term.Loss, _catalog.Losses.Select(l => l.Name)), List(_catalog.Losses.Select(l => l.Name)));
            return term.Arguments.Any(a => a.Value.Text.StartsWith("student.", StringComparison.Ordinal)) && term.Weight > 0;
        }
        _terms.Add(new ResolvedTerm(term, loss));

        _currentTerm = term.Name;
        var sources = new Dictionary<string, (Source Source, LocationInfo Location)>(StringComparer.Ordinal);
        var lists = new List<(LossInputInfo Input, List<(Source Source, LocationInfo Location)> Items, LocationInfo Location)>();
        foreach (var arg in term.Arguments)
        {
            var input = loss.Inputs.FirstOrDefault(i => i.Name == arg.Name);
            var hyper = loss.HyperParameters.FirstOrDefault(h => h.Name == arg.Name);
            if (input?.PrototypeSources is { } built)
            {
                Report(PrototypesWiredByHand, arg.NameLocation, term.Name, input.Name, loss.Name, $"'{built.Student}' and '{built.Teacher}'");
                continue;
            }
            if (input?.IdentityTable is { } identityField)
            {
                CheckIdentityTableSource(term, loss, input, arg.Value, identityField);
                continue;
            }
            if (input is not null)
            {
                if (input.IsList)
                {
                    var items = new List<(Source, LocationInfo)>();
                    foreach (var item in arg.Value.Kind == ValueKind.List ? arg.Value.Items.ToArray() : new[] { arg.Value })
                        if (ResolveValue(item) is { } s)
                        {
                            CheckKind(term, loss, input, s, item.Location);
                            items.Add((s, item.Location));
                        }
                    // a per-sample batch field (a detection batch's boxes) is the whole list, not one item of it
                    if (arg.Value.Kind != ValueKind.List && items.Count == 1 && items[0].Item1.IsList) continue;
                    lists.Add((input, items, arg.Value.Location));
                    continue;
                }
                if (ResolveValue(arg.Value) is { } source)
                {
                    CheckKind(term, loss, input, source, arg.Value.Location);
                    sources[input.Name] = (source, arg.Value.Location);
                }
            }
            else if (hyper is not null) CheckHyperParameter(loss, hyper, arg);
            else
                Report(UnknownLossArgument, arg.NameLocation, loss.Name, UserText.Shorten(arg.Name),
                    NameSuggestions.DidYouMean(arg.Name, loss.Inputs.Select(i => i.Name).Concat(loss.HyperParameters.Select(h => h.Name))),
                    List(loss.Inputs.Select(i => i.Name)), List(loss.HyperParameters.Select(h => h.Name)));
        }

        foreach (var input in loss.Inputs)
        {
            if (input.PrototypeSources is { } sides)
            {
                CheckPrototypeSources(term, loss, sides.Student, "student");
                CheckPrototypeSources(term, loss, sides.Teacher, "teacher");
                continue;
            }
            if (term.Arguments.Any(a => a.Name == input.Name)) continue;
            if (input.BatchField is { } field)
            {
                // A ground-truth input defaults to its batch field (target: batch.label).
                var implicitRef = ValueSpec.Scalar(ValueKind.String, "batch." + field, term.LossLocation);
                if (ResolveBatchField(field, implicitRef.Location, term.Name) is { } s) sources[input.Name] = (s, term.LossLocation);
                continue;
            }
            var example = input.Role == "Teacher" ? "teacher.logits" : input.Role == "Target" ? "batch.label" : "student.logits";
            Report(MissingLossInput, term.LossLocation, term.Name, loss.Name, input.Name, $"{input.Role} {KindText(input.Kind)}",
                _spec.FrontEnd == FrontEnd.Yaml ? example : CodeReference(example));
        }

        CheckShapes(term, loss, sources);
        CheckLevels(term, lists);
        CheckRois(term, loss, sources);
        return term.Weight > 0 && (sources.Values.Any(s => s.Source.StudentRoot is not null) || lists.Any(l => l.Items.Any(i => i.Source.StudentRoot is not null)));
    }

    /// <summary>
    /// The taps a prototype table is built from (the loss's input <paramref name="inputName"/>): each must be a tap of a
    /// <paramref name="role"/> model that its forward computes from the image alone, since the loop reads them over the
    /// training data before every epoch; and that data must hold per-image boxes and labels. Missing inputs are reported
    /// with the loss's other inputs.
    /// </summary>
    private void CheckPrototypeSources(LossTermSpec term, LossInfo loss, string inputName, string role)
    {
        if (term.Arguments.FirstOrDefault(a => a.Name == inputName) is not { } arg) return;
        foreach (var item in arg.Value.Kind == ValueKind.List ? arg.Value.Items.ToArray() : new[] { arg.Value })
        {
            var text = item.Text;
            var dot = text.IndexOf('.');
            var model = dot < 0 ? null : _models.TryGetValue(text.Substring(0, dot), out var m) ? m : null;
            var tap = model?.Info.Taps.FirstOrDefault(t => t.Name == text.Substring(dot + 1));
            string? why =
                dot < 0 ? $"'{UserText.Shorten(text)}' is not a model's tap"
                : text.StartsWith("batch.", StringComparison.Ordinal) ? $"'{UserText.Shorten(text)}' is a batch field, not a model's tap"
                : text.IndexOf('@') >= 0 ? $"'{UserText.Shorten(text)}' is computed on other RoIs, not from the image alone"
                : model is null || tap is null ? null // reported where the reference is resolved
                : (model.Spec.Role == ModelRole.Student ? "student" : "teacher") != role ? $"'{text}' is a {(role == "student" ? "teacher" : "student")}'s tap, but '{inputName}' is the {role} side"
                : tap.NeededFields.Any() ? $"'{text}' needs the batch's {tap.Needs}, so it is not computed from the image alone"
                : null;
            if (why is not null)
                Report(BadPrototypeSource, item.Location, term.Name,
                    $"{loss.Name} builds its prototype table from '{inputName}', {why}; the loop reads those taps over the training data before every epoch (e.g. {role}.p2)");
        }
        if (role == "student" && _dataset is not null && !(_dataset.Fields.Any(f => f.Name == "boxes" && f.IsList) && _dataset.Fields.Any(f => f.Name == "labels" && f.IsList)))
            Report(BadPrototypeSource, term.LossLocation, term.Name,
                $"{loss.Name} builds its prototypes from the ground-truth boxes of the training data, but {_dataset.Name} has no per-image boxes and labels (its fields: {List(_dataset.Fields.Select(f => f.Name))})");
    }

    /// <summary>
    /// The per-box tap a teacher look-up table is built from (the loss's input marked IdentityTable): a teacher's tap with one
    /// row per ground-truth box (it needs the batch's boxes), read over the training data before training; the data must carry
    /// the identities (<paramref name="field"/>) and be a person-search data set (its identity count sizes the table).
    /// </summary>
    private void CheckIdentityTableSource(LossTermSpec term, LossInfo loss, LossInputInfo input, ValueSpec value, string field)
    {
        var text = value.Text;
        var dot = text.IndexOf('.');
        var model = dot < 0 ? null : _models.TryGetValue(text.Substring(0, dot), out var m) ? m : null;
        var tap = model?.Info.Taps.FirstOrDefault(t => t.Name == text.Substring(dot + 1));
        if (model is not null && tap is null && text.IndexOf('@') < 0)
        {
            ResolveValue(value); // reports the unknown tap with the model's taps
            return;
        }
        var example = _spec.FrontEnd == FrontEnd.Yaml ? "teacher.box_embedding" : CodeReference("teacher.box_embedding");
        string? why =
            value.Kind == ValueKind.List ? "is a list; give one tap"
            : dot < 0 || text.StartsWith("batch.", StringComparison.Ordinal) ? $"'{UserText.Shorten(text)}' is not a teacher's tap"
            : text.IndexOf('@') >= 0 ? $"'{UserText.Shorten(text)}' is computed on other RoIs, not on the ground-truth boxes"
            : model is null ? $"'{UserText.Shorten(text)}' is not a teacher's tap"
            : model.Spec.Role != ModelRole.Teacher ? $"'{text}' is the student's; the table holds a frozen teacher's features"
            : tap!.Kind != "Embedding" || !tap.NeededFields.Contains("boxes") || tap.Rois is not null || ShapeExpression.Dims(tap.Shape).FirstOrDefault()?.Trim() is "R" or "N" or "1" or null
                ? $"'{text}' is {KindText(tap!.Kind)}{(tap.Rois is not null ? " with a row per sampled RoI" : "")}, not the teacher's features of each ground-truth box"
            : null;
        if (model is not null && tap is not null) _usedTaps.Add((model.Spec.Name, tap.Name));
        if (why is not null)
        {
            Report(BadIdentityTableSource, value.Location, term.Name,
                $"{loss.Name} builds '{input.Name}' per identity from a teacher's features of every ground-truth box; {why} (e.g. {example})");
            return;
        }
        if (_dataset is not null && (!_dataset.IsPersonSearch || !_dataset.Fields.Any(f => f.Name == field && f.IsList)))
            Report(BadIdentityTableSource, term.LossLocation, term.Name,
                $"{loss.Name} builds '{input.Name}' per identity of the training data, but {_dataset.Name} is not a person-search data set with per-box batch.{field} (its fields: {List(_dataset.Fields.Select(f => f.Name))})");
        else if (_dataset is not null && tap!.NeededFields.FirstOrDefault(f => !_dataset.Fields.Any(d => d.Name == f)) is { } missing)
            Report(TapNeedsBatchField, value.Location, text, model!.Info.Name, missing, _dataset.Name, List(_dataset.Fields.Select(f => f.Name)));
    }

    private void CheckKind(LossTermSpec term, LossInfo loss, LossInputInfo input, Source source, LocationInfo at)
    {
        var kindOk = input.Kind == "Any" || source.Kind == "Any" || input.Kind == source.Kind;
        var roleOk = input.Role switch
        {
            "Student" => source.Role == "Student",
            "Teacher" => source.Role == "Teacher",
            "Target" => source.Role == "Target",
            _ => true,
        };
        if (!kindOk || !roleOk)
            Report(WrongInputKind, at, input.Name, loss.Name, $"{input.Role.ToLowerInvariant()} {KindText(input.Kind)}", source.Text,
                $"{source.Role.ToLowerInvariant()} {KindText(source.Kind)}");
    }

    private void CheckHyperParameter(LossInfo loss, HyperParameterInfo h, ArgumentSpec arg)
    {
        if (!CheckLiteral(h.Type, arg.Value, arg.Name, $"loss {loss.Name}")) return;
        if (arg.Value.Kind is ValueKind.Integer or ValueKind.Float && Numbers.TryParseDouble(arg.Value.Text, out var v) && !h.Contains(v))
            Report(HyperParameterOutOfRange, arg.Value.Location, arg.Name, loss.Name, h.RangeText(), arg.Value.Text);
    }

    /// <summary>
    /// Whether the value can be passed to a parameter of the type, as the C# literal generated code will hold; reports why not
    /// (the wrong kind of value: DSL012; outside the type's range or not finite: DSL044).
    /// </summary>
    private bool CheckLiteral(string type, ValueSpec value, string name, string owner)
    {
        switch (CSharpLiteral.Problem(type, value, out var range))
        {
            case CSharpLiteral.Failure.None:
                return true;
            case CSharpLiteral.Failure.OutOfRange:
                Report(ValueOutOfRange, value.Location, $"'{name}' of {owner}", range, Show(value));
                return false;
            case CSharpLiteral.Failure.UnsupportedType:
                Report(IllTypedArgument, value.Location, name, owner, Describe(value), type + ", which an experiment cannot set (it takes int, long, float, double, bool, string and arrays of them)");
                return false;
            default:
                Report(IllTypedArgument, value.Location, name, owner, Describe(value), type);
                return false;
        }
    }

    /// <summary>Unifies the symbolic dims of the inputs; a conflict is a class-count, channel or spatial mismatch.</summary>
    private void CheckShapes(LossTermSpec term, LossInfo loss, Dictionary<string, (Source Source, LocationInfo Location)> sources)
    {
        var bound = new Dictionary<string, (long Value, string From, string Kind, long?[] Shape)>(StringComparer.Ordinal);
        foreach (var input in loss.Inputs)
        {
            if (input.Shape is null || !sources.TryGetValue(input.Name, out var s) || s.Source.Shape is null) continue;
            var dims = ShapeExpression.Dims(input.Shape);
            var actual = s.Source.Shape;
            if (dims.Contains("...")) continue;
            if (dims.Length != actual.Length) continue; // rank problems are the loss's run-time check
            for (var i = 0; i < dims.Length; i++)
            {
                if (!IsIdentifier(dims[i]) || actual[i] is not long value) continue;
                if (!bound.TryGetValue(dims[i], out var previous))
                {
                    bound[dims[i]] = (value, s.Source.Text, s.Source.Kind, actual);
                    continue;
                }
                if (previous.Value == value) continue;
                if (i == 0 && dims[i] is "B" or "N") continue; // the batch is the same at run time
                var at = s.Location;
                if (s.Source.Kind == "Logits" || previous.Kind == "Logits")
                    Report(ClassCountMismatch, at, term.Name, previous.From, N(previous.Value), s.Source.Text, N(value));
                else if (i == 1)
                {
                    var studentText = s.Source.StudentRoot is not null ? s.Source.Text : previous.From;
                    var teacherText = s.Source.StudentRoot is not null ? previous.From : s.Source.Text;
                    var studentChannels = s.Source.StudentRoot is not null ? value : previous.Value;
                    var teacherChannels = s.Source.StudentRoot is not null ? previous.Value : value;
                    Report(ChannelMismatch, at, term.Name, studentText, N(studentChannels), teacherText, N(teacherChannels), AdapterSuggestion(term.Name + "_adapter", studentText, teacherText));
                }
                else
                    Report(SpatialMismatch, at, term.Name, previous.From, Dim(previous.Shape, 2), Dim(previous.Shape, 3), s.Source.Text, Dim(actual, 2), Dim(actual, 3));
                break;
            }
        }
    }

    /// <summary>
    /// List inputs are per-level features (FPN levels and their masks): the student's, the teacher's and any other list of one
    /// term pair up level by level, so they must have as many entries (DSL047), and a student level must have the channels
    /// (DSL021) and resolution (DSL022: the same stride) of the teacher level it is compared with.
    /// </summary>
    private void CheckLevels(LossTermSpec term, List<(LossInputInfo Input, List<(Source Source, LocationInfo Location)> Items, LocationInfo Location)> lists)
    {
        if (lists.Count < 2) return;
        var first = lists[0];
        foreach (var other in lists.Skip(1))
            if (other.Items.Count != first.Items.Count)
            {
                Report(LevelCountMismatch, other.Location, term.Name, first.Input.Name, N(first.Items.Count), other.Input.Name, N(other.Items.Count));
                return;
            }
        var student = lists.FirstOrDefault(l => l.Input.Role == "Student");
        var teacher = lists.FirstOrDefault(l => l.Input.Role == "Teacher");
        if (student.Input is null || teacher.Input is null) return;
        // Channels must agree only where the loss says so (the same symbol, "N,C,*,*" on both); the strides always must.
        var sameChannels = student.Input.Shape is { } sShape && teacher.Input.Shape is { } tShape
            && ShapeExpression.Dims(sShape) is { Length: > 1 } sDims && ShapeExpression.Dims(tShape) is { Length: > 1 } tDims && sDims[1] == tDims[1];
        for (var i = 0; i < student.Items.Count; i++)
        {
            var (s, sAt) = student.Items[i];
            var (t, _) = teacher.Items[i];
            if (s.Shape is not { Length: 4 } ss || t.Shape is not { Length: 4 } ts) continue;
            if (sameChannels && ss[1] is long sc && ts[1] is long tc && sc != tc)
            {
                Report(ChannelMismatch, sAt, term.Name, s.Text, N(sc), t.Text, N(tc), AdapterSuggestion($"{term.Name}_adapter_{i}", s.Text, t.Text));
                continue;
            }
            if ((ss[2] is long sh && ts[2] is long th && sh != th) || (ss[3] is long sw && ts[3] is long tw && sw != tw))
                Report(SpatialMismatch, sAt, term.Name, t.Text, Dim(ts, 2), Dim(ts, 3), s.Text, Dim(ss, 2), Dim(ss, 3));
        }
    }

    /// <summary>
    /// Per-RoI inputs (a loss input whose shape starts with R) must be per-RoI rows of a model (DSL051), and rows of one term
    /// must all be on the same RoIs (DSL050): each model's rows on its own sampled RoIs pair up nothing.
    /// </summary>
    private void CheckRois(LossTermSpec term, LossInfo loss, Dictionary<string, (Source Source, LocationInfo Location)> sources)
    {
        foreach (var input in loss.Inputs)
        {
            if (input.Shape is null || !sources.TryGetValue(input.Name, out var s)) continue;
            var dims = ShapeExpression.Dims(input.Shape);
            if (dims.Length > 0 && dims[0] == "R" && s.Source.Role is "Student" or "Teacher" && s.Source.RoiSet is null)
                Report(NeedsPerRoiRows, s.Location, term.Name, input.Name, s.Source.Text, RoiExample(s.Source.Text));
        }
        var rows = loss.Inputs.Where(i => sources.ContainsKey(i.Name) && sources[i.Name].Source.RoiSet is not null).Select(i => sources[i.Name]).ToList();
        var firstRows = rows.FirstOrDefault();
        foreach (var other in rows.Skip(1))
            if (other.Source.RoiSet != firstRows.Source.RoiSet)
            {
                var (student, teacher) = other.Source.Role == "Student" ? (other.Source, firstRows.Source) : (firstRows.Source, other.Source);
                var suggestion = $"{student.Text.Split('@')[0]}@{teacher.RoiSet}";
                Report(RoisDiffer, other.Location, term.Name, firstRows.Source.Text, firstRows.Source.RoiSet!, other.Source.Text, other.Source.RoiSet!,
                    _spec.FrontEnd == FrontEnd.Yaml ? suggestion : CodeReference(suggestion));
                return;
            }
    }

    /// <summary>A per-RoI tap of the model a reference names, for messages (<c>student.roi_logits</c>).</summary>
    private string RoiExample(string reference)
    {
        var model = reference.Split('.')[0];
        var tap = _models.TryGetValue(model, out var m) ? m.Info.Taps.FirstOrDefault(t => t.Rois is not null)?.Name : null;
        return tap is null ? "a detector's roi_logits" : $"{model}.{tap}";
    }

    // ---- references ------------------------------------------------------------------------------

    private Source? ResolveValue(ValueSpec value)
    {
        if (value.Kind != ValueKind.String)
        {
            Report(UnknownReference, value.Location, Show(value), KnownNames(), "");
            return null;
        }
        var text = value.Text;
        var dot = text.IndexOf('.');
        if (dot < 0)
        {
            if (_adapters.TryGetValue(text, out var adapter))
            {
                _usedAdapters.Add(text);
                return adapter.Output;
            }
            Report(UnknownReference, value.Location, UserText.Shorten(text), KnownNames(), NameSuggestions.DidYouMean(text, _adapters.Keys.Concat(_models.Keys)));
            return null;
        }
        return ResolveTap(new TapRef(text.Substring(0, dot), text.Substring(dot + 1), value.Location));
    }

    private Source? ResolveTap(TapRef r)
    {
        if (r.Model == "batch") return ResolveBatchField(r.Tap, r.Location, _currentTerm);
        var at = r.Tap.IndexOf('@');
        if (at >= 0) return ResolveTapOnRois(r, r.Tap.Substring(0, at), r.Tap.Substring(at + 1));
        if (!_models.TryGetValue(r.Model, out var model))
        {
            // A declared model whose type is unknown, or a missing student, was already reported.
            if (!_spec.Models.Any(m => m.Name == r.Model) && r.Model != "student")
                Report(UnknownReference, r.Location, UserText.Shorten(r.ToString()), KnownNames(), NameSuggestions.DidYouMean(r.Model, _spec.Models.Select(m => m.Name).Concat(new[] { "batch" })));
            return null;
        }
        var tap = model.Info.Taps.FirstOrDefault(t => t.Name == r.Tap);
        if (tap is null)
        {
            Report(UnknownTap, r.Location, r.Model, model.Info.Name, UserText.Shorten(r.Tap), NameSuggestions.DidYouMean(r.Tap, model.Info.Taps.Select(t => t.Name)), List(model.Info.Taps.Select(t => t.Name)));
            return null;
        }
        // Reported, but the tap still binds: the wiring is otherwise fine, and one missing field should not cascade.
        if (_dataset is not null)
            foreach (var needed in tap.NeededFields.Where(f => !_dataset.Fields.Any(x => x.Name == f)))
                Report(TapNeedsBatchField, r.Location, r.ToString(), model.Info.Name, needed, _dataset.Name, List(_dataset.Fields.Select(x => x.Name)));
        _usedTaps.Add((r.Model, r.Tap));
        var shape = ShapeExpression.EvaluateAll(tap.Shape, model.Env);
        // Labels a model derives from the batch's ground truth (the classes or identities of the RoIs it sampled) are targets.
        var role = tap.Kind == "Labels" && tap.NeededFields.Any() ? "Target" : model.Spec.Role == ModelRole.Student ? "Student" : "Teacher";
        // Per-RoI rows are on their model's RoIs; a tap of RoIs that other taps' rows are on is its own rows' set.
        var roiSet = tap.Rois is not null ? r.Model + "." + tap.Rois
            : model.Info.Taps.Any(t => t.Rois == tap.Name) ? r.ToString()
            : null;
        return new Source(r.ToString(), tap.Kind, role, shape, model.Spec.Role == ModelRole.Student ? model.Spec.Name : null, RoiSet: roiSet);
    }

    /// <summary>
    /// <c>model.tap@other.rois</c>: a per-RoI tap of <c>model</c> computed on another tap's RoIs (the student's RoI head on the
    /// teacher's sampled RoIs). The tap must be per-RoI, its model must run its RoI head on given boxes, and the RoIs must be a
    /// tap of kind Boxes (rows: batch index, x1, y1, x2, y2).
    /// </summary>
    private Source? ResolveTapOnRois(TapRef r, string tapName, string roisText)
    {
        var source = ResolveTap(r with { Tap = tapName });
        if (source is null) return null;
        var model = _models[r.Model];
        var tap = model.Info.Taps.First(t => t.Name == tapName);
        if (!tap.OnGivenRois)
        {
            var why = tap.Rois is null ? "is not computed per RoI" : $"comes from {r.Model}'s own sampling of {tap.Rois}";
            Report(BadRoiReference, r.Location, UserText.Shorten(r.ToString()), $"{r.Model}.{tapName} {why}, so it cannot run on other RoIs; taps of {model.Info.Name} that can: "
                + List(model.Info.Taps.Where(t => t.OnGivenRois).Select(t => t.Name)));
            return null;
        }
        if (!model.Info.RunsRoiHead)
        {
            Report(BadRoiReference, r.Location, UserText.Shorten(r.ToString()), $"{model.Info.Name} has no roi_head_on method to run its RoI head on given RoIs");
            return null;
        }
        var dot = roisText.IndexOf('.');
        var rois = dot < 0 ? null : ResolveTap(new TapRef(roisText.Substring(0, dot), roisText.Substring(dot + 1), r.Location));
        if (dot < 0 || roisText.IndexOf('@') >= 0)
        {
            Report(BadRoiReference, r.Location, UserText.Shorten(r.ToString()), $"after '@' comes a model's tap of RoIs, such as {OtherModel(r.Model)}.{tap.Rois}");
            return null;
        }
        if (rois is null) return null;
        if (rois.Kind != "Boxes" || rois.IsList)
        {
            Report(BadRoiReference, r.Location, UserText.Shorten(r.ToString()), $"{rois.Text} is {KindText(rois.Kind)}, not RoIs (a tap of boxes such as {OtherModel(r.Model)}.{tap.Rois})");
            return null;
        }
        return source with { Text = r.ToString(), RoiSet = rois.Text, OnRois = rois.Text };
    }

    /// <summary>Some other declared model's name, for examples in messages.</summary>
    private string OtherModel(string model) => _spec.Models.Select(m => m.Name).FirstOrDefault(n => n != model) ?? "teacher";

    private Source? ResolveBatchField(string field, LocationInfo at, string? term)
    {
        if (_dataset is null) return new Source("batch." + field, "Any", "Target", null, null);
        var f = _dataset.Fields.FirstOrDefault(x => x.Name == field);
        if (f is null)
        {
            Report(MissingBatchField, at, term ?? "?", UserText.Shorten(field), _dataset.Name, List(_dataset.Fields.Select(x => x.Name)));
            return null;
        }
        return new Source("batch." + field, f.Kind, "Target", ShapeExpression.EvaluateAll(f.Shape, _datasetEnv), null, f.IsList);
    }

    // ---- cross-checks ----------------------------------------------------------------------------

    private long?[]? ImageShape()
    {
        var image = _dataset?.Fields.FirstOrDefault(f => f.Kind == "FeatureMap" || f.Name == "image");
        return image is null ? null : ShapeExpression.EvaluateAll(image.Shape, _datasetEnv);
    }

    private void CheckDatasetAgainstStudent()
    {
        var student = _models.Values.FirstOrDefault(m => m.Spec.Role == ModelRole.Student);
        if (student is not null && _spec.Data?.Validation is { } validation &&
            _catalog.Datasets.FirstOrDefault(d => d.Name == validation.Type) is { HasPairs: true } pairs &&
            student.Info.EmbeddingTap() is null)
            Report(VerificationNeedsEmbedding, validation.TypeLocation, pairs.Name, student.Info.Name, List(student.Info.Taps.Select(t => t.Name)));
        if (student is null || _dataset is null) return;
        var train = _spec.Data!.Train!;
        // A detector trains on per-image boxes and labels: data without them cannot train it (whatever taps the terms read).
        // It is evaluated on them too (box AP of its detections).
        static bool HasBoxes(DatasetInfo d) => d.Fields.Any(f => f.Name == "boxes" && f.IsList);
        foreach (var detector in _models.Values.Where(m => m.Info.Task == "detection" && m.Spec.Role == ModelRole.Student))
            foreach (var (data, location) in new[] { (_dataset, train.TypeLocation), (_validationDataset, _spec.Data.Validation?.TypeLocation ?? train.TypeLocation) })
                if (data is not null && !HasBoxes(data))
                    Report(DetectorNeedsBoxes, location, detector.Spec.Name, detector.Info.Name, data.Name, List(data.Fields.Select(f => f.Name)),
                        List(_catalog.Datasets.Where(HasBoxes).Select(d => d.Name)));
        if (ImageShape() is { Length: >= 2 } image && image[1] is long channels)
        {
            var inputDims = ShapeExpression.Dims(student.Info.InputShape);
            if (inputDims.Length >= 2 && ShapeExpression.Evaluate(inputDims[1], student.Env) is long expected && expected != channels)
                Report(DatasetModelMismatch, train.TypeLocation, _dataset.Name, N(channels), "image channels", student.Info.Name, $"{expected} channels");
        }
        var labels = _dataset.Fields.FirstOrDefault(f => f.Classes is not null);
        var logits = student.Info.Taps.FirstOrDefault(t => t.Kind == "Logits");
        // A detector's logits have a column for the background besides the data set's classes (labels 1..K, 0 = background).
        var background = student.Info.Task == "detection" ? 1 : 0;
        if (labels?.Classes is { } classesExpr && logits is not null &&
            ShapeExpression.Evaluate(classesExpr, _datasetEnv) is long classes &&
            ShapeExpression.EvaluateAll(logits.Shape, student.Env) is { Length: > 0 } shape && shape[shape.Length - 1] is long k && k - background != classes)
            Report(DatasetModelMismatch, train.TypeLocation, _dataset.Name, N(classes), "classes", student.Info.Name,
                background == 0 ? $"{k} classes" : $"{k - background} classes (and the background)");
    }

    private void ReportUnused()
    {
        foreach (var a in _spec.Adapters)
            if (!_usedAdapters.Contains(a.Name)) Report(Unused, a.Location, "Adapter", a.Name);
        foreach (var m in _spec.Models)
            foreach (var tap in m.DeclaredTaps)
                if (!_usedTaps.Contains((m.Name, tap.Name)) && _models.TryGetValue(m.Name, out var bm) && bm.Info.Taps.Any(t => t.Name == tap.Name))
                    Report(Unused, tap.Location, "Tap", $"{m.Name}.{tap.Name}");
    }

    // ---- helpers ---------------------------------------------------------------------------------

    /// <summary>The adapter that would fix a channel mismatch, written the way the experiment is written.</summary>
    private string AdapterSuggestion(string name, string from, string to)
    {
        if (_spec.FrontEnd == FrontEnd.Yaml)
            return $"adapters: {{ {name}: {{ kind: conv1x1, from: {from}, to: {to} }} }} and use {name} as the input";
        var member = PascalCase(name);
        return $"[Adapter] TapRef<FeatureMap> {member} => Adapter.Conv1x1({CodeReference(from)}, {CodeReference(to)}); and use {member} as the input";
    }

    /// <summary>
    /// student.stage3 → Taps.Student.stage3, wide_teacher.logits → Taps.WideTeacher.logits, batch.label → Batch.label:
    /// the members of the code-first helpers (a model's member is its name in PascalCase, as the reader's snake_case undone).
    /// </summary>
    private static string CodeReference(string reference)
    {
        var dot = reference.IndexOf('.');
        if (dot <= 0) return reference;
        var at = reference.IndexOf('@');
        if (at > 0) return $"{CodeReference(reference.Substring(0, at))}.On({CodeReference(reference.Substring(at + 1))})";
        var model = reference.Substring(0, dot);
        var tap = reference.Substring(dot + 1);
        return model == "batch" ? "Batch." + tap : $"Taps.{PascalCase(model)}.{tap}";
    }

    private static string PascalCase(string name) =>
        string.Concat(name.Split(new[] { '_', '-' }, StringSplitOptions.RemoveEmptyEntries).Select(p => char.ToUpperInvariant(p[0]) + p.Substring(1)));

    private string KnownNames() =>
        List(_spec.Models.Select(m => m.Name).Concat(_spec.Adapters.Select(a => a.Name)).Concat(new[] { "batch" }));

    private static string List(IEnumerable<string> names)
    {
        var list = names.ToList();
        return list.Count == 0 ? "(none)" : string.Join(", ", list);
    }

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Dim(long?[] shape, int i) => i < shape.Length && shape[i] is long v ? N(v) : "?";

    private static bool IsIdentifier(string s) => s.Length > 0 && (char.IsLetter(s[0]) || s[0] == '_') && s.All(c => char.IsLetterOrDigit(c) || c == '_');

    private static bool IsIntegral(string type) => type is "int" or "long";

    /// <summary>A value as a message quotes it: a scalar's text (shortened), a list in brackets.</summary>
    private static string Show(ValueSpec v) =>
        v.Kind == ValueKind.List ? "[" + string.Join(", ", v.Items.Take(8).Select(Show)) + (v.Items.Count > 8 ? ", ..." : "") + "]" : UserText.Shorten(v.Text);

    private static string Describe(ValueSpec v) => v.Kind switch
    {
        ValueKind.String => $"the text '{UserText.Shorten(v.Text)}'",
        ValueKind.Integer => $"the integer {UserText.Shorten(v.Text)}",
        ValueKind.Float => $"the number {UserText.Shorten(v.Text)}",
        ValueKind.Bool => $"the boolean {v.Text}",
        ValueKind.List => "a list",
        _ => "null",
    };

    private static string KindText(string kind) => kind switch
    {
        "Logits" => "logits",
        "FeatureMap" => "a feature map",
        "Embedding" => "an embedding",
        "Labels" => "labels",
        "Boxes" => "boxes",
        "Mask" => "a mask",
        "Weights" => "weights",
        "Table" => "a table",
        "Probabilities" => "probabilities",
        _ => "a tensor",
    };
}
