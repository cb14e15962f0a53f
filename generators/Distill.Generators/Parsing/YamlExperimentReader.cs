using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Distill.Generators.Model;
using static Distill.Generators.Diagnostics.DiagnosticDescriptors;

namespace Distill.Generators.Parsing;

/// <summary>
/// Turns a <c>*.distill.yaml</c> file into an <see cref="ExperimentSpec"/>: checks every key against the
/// schema (unknown keys with "did you mean", missing required keys, value types) and reports each problem
/// at its exact line and column. What it cannot know without the compilation (model types, taps, loss
/// parameters) is left to the binder.
/// </summary>
internal sealed class YamlExperimentReader
{
    private static readonly string[] RootKeys = { "extends", "name", "paper", "description", "seeds", "data", "teacher", "teachers", "student", "adapters", "losses", "optimizer", "schedule", "eval", "memory_format", "precision" };

    /// <summary>The file name ending of a base file, which experiments extend and which is not an experiment itself.</summary>
    public const string BaseFileSuffix = ".distill-base.yaml";

    /// <summary>How many bases may stand behind an experiment (a base may extend another).</summary>
    public const int MaxBaseDepth = 8;
    private static readonly string[] DataKeys = { "train", "val", "batch" };
    private static readonly string[] DatasetKeys = { "dataset", "args", "transforms" };
    private static readonly string[] TrainTransformKeys = { "crop", "flip", "normalize" };
    private static readonly string[] ValTransformKeys = { "normalize" };
    private static readonly string[] ModelKeys = { "model", "args", "from", "checkpoint", "taps" };
    private static readonly string[] StudentKeys = { "model", "args", "from", "checkpoint", "taps", "freeze", "init" };
    private static readonly string[] AdapterKeys = { "kind", "from", "to", "norm", "act", "in_channels", "out_channels" };
    private static readonly string[] AdapterNorms = { "bn", "none" };
    private static readonly string[] AdapterActivations = { "relu", "none" };
    private static readonly string[] AdapterKinds = { "conv1x1", "conv3x3", "linear" };
    private static readonly string[] LossReservedKeys = { "loss", "weight", "schedule" };
    private static readonly string[] WeightScheduleKeys = { "warmup", "decay" };
    private static readonly string[] OptimizerKinds = { "sgd", "adam", "adamw" };
    private static readonly string[] GroupKeys = { "params", "lr", "momentum", "weight_decay", "betas", "eps", "nesterov", "dampening", "amsgrad" };
    private static readonly string[] ScheduleKeys = { "epochs", "multistep", "cosine", "step", "constant", "warmup", "clip_grad_norm" };
    private static readonly string[] EvalKeys = { "metrics", "every", "flip" };

    private readonly string _path;
    private readonly List<DiagnosticInfo> _diagnostics;

    private YamlExperimentReader(string path, List<DiagnosticInfo> diagnostics)
    {
        _path = path;
        _diagnostics = diagnostics;
    }

    /// <summary>
    /// Reads a file's text; returns null when it is too broken to describe an experiment. <paramref name="bases"/> are the
    /// project's base files (<see cref="BaseFileSuffix"/>), their path and text by <see cref="FullPath"/>, for <c>extends:</c>.
    /// </summary>
    public static ExperimentSpec? Read(string path, string text, List<DiagnosticInfo> diagnostics, IReadOnlyDictionary<string, (string Path, string Text)>? bases = null)
    {
        var root = YamlTreeReader.Read(path, text, diagnostics);
        if (root is null) return null;
        var reader = new YamlExperimentReader(path, diagnostics);
        root = reader.Extend(root, path, bases ?? new Dictionary<string, (string, string)>(), new List<string> { FullPath(path) });
        return root is null ? null : reader.ReadRoot(root);
    }

    // ---- extends ---------------------------------------------------------------------------------

    /// <summary>
    /// The file's tree with its <c>extends:</c> base merged in: the base's keys first, each mapping merged key by key (the
    /// extending file's values win), anything else (scalars, lists) replaced. Every node keeps its own file's location,
    /// so a diagnostic about a value from a base points into the base. Null when the base cannot be read.
    /// </summary>
    private YamlNode? Extend(YamlNode root, string path, IReadOnlyDictionary<string, (string Path, string Text)> bases, List<string> chain)
    {
        if (root.Kind != YamlNodeKind.Mapping) return root;
        var index = root.Entries.FindIndex(e => e.Key == "extends");
        if (index < 0) return root;
        var (_, keyLocation, value) = root.Entries[index];
        var own = YamlNode.Mapping(root.Location);
        foreach (var entry in root.Entries)
            if (entry.Key != "extends") own.Entries.Add(entry);
        if (!ExpectScalar(value, "extends", $"the path of a {BaseFileSuffix} file, relative to this file")) return own;
        var target = FullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path) ?? "", value.Value));
        if (!value.Value.EndsWith(BaseFileSuffix, StringComparison.OrdinalIgnoreCase))
        {
            Report(BaseFileProblem, value.Location, UserText.Shorten(value.Value), $"a base file's name ends in {BaseFileSuffix} (an experiment file is not a base)");
            return null;
        }
        if (chain.Contains(target, StringComparer.Ordinal))
        {
            Report(BaseFileProblem, value.Location, UserText.Shorten(value.Value), "it extends itself: " + string.Join(" → ", chain.Select(System.IO.Path.GetFileName)) + " → " + System.IO.Path.GetFileName(target));
            return null;
        }
        if (chain.Count > MaxBaseDepth)
        {
            Report(BaseFileProblem, value.Location, UserText.Shorten(value.Value), $"more than {MaxBaseDepth} bases stand behind the experiment");
            return null;
        }
        if (!bases.TryGetValue(target, out var baseFile))
        {
            Report(BaseFileProblem, value.Location, UserText.Shorten(value.Value),
                $"'{target}' is not among the project's base files (the {BaseFileSuffix} files the build passes to the generator)");
            return null;
        }
        var baseRoot = YamlTreeReader.Read(baseFile.Path, baseFile.Text, _diagnostics);
        if (baseRoot is null) return null;
        if (!ExpectMapping(baseRoot, "the base file")) return null;
        chain.Add(target);
        var merged = Extend(baseRoot, baseFile.Path, bases, chain);
        return merged is null ? null : Merge(merged, own);
    }

    private static YamlNode Merge(YamlNode baseNode, YamlNode over)
    {
        if (baseNode.Kind != YamlNodeKind.Mapping || over.Kind != YamlNodeKind.Mapping) return over;
        var result = YamlNode.Mapping(over.Location);
        foreach (var (key, keyLocation, value) in baseNode.Entries)
        {
            var i = over.Entries.FindIndex(e => e.Key == key);
            if (i < 0) result.Entries.Add((key, keyLocation, value));
            else result.Entries.Add((key, over.Entries[i].KeyLocation, Merge(value, over.Entries[i].Value)));
        }
        foreach (var entry in over.Entries)
            if (!baseNode.Entries.Any(e => e.Key == entry.Key)) result.Entries.Add(entry);
        return result;
    }

    /// <summary>
    /// A path with '/' separators and its '.' and '..' segments resolved (without the file system, which a generator
    /// must not touch): how base files are looked up, relative to the file that extends them.
    /// </summary>
    public static string FullPath(string path)
    {
        var normal = path.Replace('\\', '/');
        var rooted = normal.StartsWith("/", StringComparison.Ordinal);
        var parts = new List<string>();
        foreach (var part in normal.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == ".." && parts.Count > 0 && parts[parts.Count - 1] != "..") parts.RemoveAt(parts.Count - 1);
            else parts.Add(part);
        }
        return (rooted ? "/" : "") + string.Join("/", parts);
    }

    private void Report(Microsoft.CodeAnalysis.DiagnosticDescriptor d, LocationInfo at, params string[] args) =>
        _diagnostics.Add(DiagnosticInfo.Create(d, at, args));

    private void ReportInvalidName(LocationInfo at, string name, string what) =>
        Report(InvalidName, at, UserText.Shorten(name), what, NameRule(name));

    /// <summary>What an invalid name breaks beyond the characters: "" or the length limit.</summary>
    internal static string NameRule(string name) => name.Length > MaxNameLength ? $", at most {MaxNameLength} characters long" : "";

    // ---- root ------------------------------------------------------------------------------------

    private ExperimentSpec? ReadRoot(YamlNode root)
    {
        if (!ExpectMapping(root, "the experiment file")) return null;
        var keys = Keys(root, "the experiment", RootKeys);

        string? name = null;
        var nameLocation = root.Location;
        if (keys.TryGetValue("name", out var nameNode) && ExpectScalar(nameNode, "name", "a name"))
        {
            name = nameNode.Value;
            nameLocation = nameNode.Location;
            if (!IsValidName(name)) ReportInvalidName(nameNode.Location, name, "experiment");
        }
        else if (nameNode is null) Report(MissingKey, FirstLine(root), "The experiment", "name", "the name runs and reports use, e.g. hinton-resnet56-resnet20");

        var paper = keys.TryGetValue("paper", out var paperNode) && ExpectScalar(paperNode, "paper", "text") ? paperNode.Value : null;
        if (keys.TryGetValue("description", out var descriptionNode)) ExpectScalar(descriptionNode, "description", "text");

        var models = new List<ModelSpec>();
        if (keys.TryGetValue("teacher", out var teacher))
        {
            if (keys.ContainsKey("teachers"))
                Report(DuplicateName, teacher.Location, "teacher declaration", "teacher/teachers");
            var m = ReadModel(teacher, "teacher", ModelRole.Teacher);
            if (m is not null) models.Add(m);
        }
        if (keys.TryGetValue("teachers", out var teachers) && ExpectMapping(teachers, "teachers"))
        {
            foreach (var (key, keyLocation, value) in teachers.Entries)
            {
                if (!IsValidName(key)) { ReportInvalidName(keyLocation, key, "teacher"); continue; }
                if (key == "student" || key == "batch") { Report(DuplicateName, keyLocation, "model", key); continue; }
                var m = ReadModel(value, key, ModelRole.Teacher, keyLocation);
                if (m is not null) models.Add(m);
            }
        }
        if (keys.TryGetValue("student", out var student))
        {
            var m = ReadModel(student, "student", ModelRole.Student);
            if (m is not null) models.Add(m);
        }
        else Report(MissingKey, FirstLine(root), "The experiment", "student", "the model being trained: { model: <Type>, args: { ... } }");

        var adapters = new List<AdapterSpec>();
        if (keys.TryGetValue("adapters", out var adaptersNode) && ExpectMapping(adaptersNode, "adapters"))
            foreach (var (key, keyLocation, value) in adaptersNode.Entries)
            {
                if (!IsValidName(key)) { ReportInvalidName(keyLocation, key, "adapter"); continue; }
                // References name models, adapters and the batch alike (and parameter groups 'adapters'): one name, one thing.
                if (key is "student" or "batch" or "adapters" || models.Any(m => m.Name == key)) { Report(DuplicateName, keyLocation, "name", key); continue; }
                var a = ReadAdapter(key, keyLocation, value);
                if (a is not null) adapters.Add(a);
            }

        var losses = new List<LossTermSpec>();
        if (keys.TryGetValue("losses", out var lossesNode))
        {
            if (lossesNode.Kind == YamlNodeKind.Mapping && lossesNode.Entries.Count == 0)
                Report(WrongValueType, lossesNode.Location, "losses", "at least one loss term, e.g. { ce: { loss: cross_entropy, input: student.logits } }", lossesNode.Describe());
            else if (ExpectMapping(lossesNode, "losses"))
                foreach (var (key, keyLocation, value) in lossesNode.Entries)
                {
                    if (!IsValidName(key)) { ReportInvalidName(keyLocation, key, "loss term"); continue; }
                    var l = ReadLoss(key, keyLocation, value);
                    if (l is not null) losses.Add(l);
                }
        }
        else Report(MissingKey, FirstLine(root), "The experiment", "losses", "the loss terms: { <name>: { loss: <loss>, ... } }");

        var seeds = new List<long>();
        if (keys.TryGetValue("seeds", out var seedsNode))
        {
            if (seedsNode.Kind == YamlNodeKind.Sequence)
            {
                foreach (var item in seedsNode.Items)
                    if (ExpectInteger(item, "seeds", out var s)) seeds.Add(s);
            }
            else if (ExpectInteger(seedsNode, "seeds", out var s)) seeds.Add(s);
        }

        var data = keys.TryGetValue("data", out var dataNode) ? ReadData(dataNode) : null;
        var optimizer = keys.TryGetValue("optimizer", out var optNode) ? ReadOptimizer(optNode) : null;
        var schedule = keys.TryGetValue("schedule", out var schedNode) ? ReadSchedule(schedNode) : null;
        var eval = keys.TryGetValue("eval", out var evalNode) ? ReadEval(evalNode) : null;

        var memoryFormat = keys.TryGetValue("memory_format", out var formatNode) && ExpectScalar(formatNode, "memory_format", "contiguous or channels_last")
            ? new NameSpec(formatNode.Value, formatNode.Location) : null;
        var precision = keys.TryGetValue("precision", out var precisionNode) && ExpectScalar(precisionNode, "precision", "fp32, bf16 or fp16")
            ? new NameSpec(precisionNode.Value, precisionNode.Location) : null;

        if (name is null) return null;
        return new ExperimentSpec(name, nameLocation, FrontEnd.Yaml, _path, null, ClassNameOf(name), paper, data,
            models.ToEquatableArray(), adapters.ToEquatableArray(), losses.ToEquatableArray(), optimizer, schedule, eval,
            seeds.ToEquatableArray(), root.Location) { MemoryFormat = memoryFormat, Precision = precision };
    }

    // ---- parts -----------------------------------------------------------------------------------

    private ModelSpec? ReadModel(YamlNode node, string name, ModelRole role, LocationInfo? nameLocation = null)
    {
        if (!ExpectMapping(node, name)) return null;
        var keys = Keys(node, $"'{name}'", role == ModelRole.Student ? StudentKeys : ModelKeys);
        if (!keys.TryGetValue("model", out var typeNode))
        {
            Report(MissingKey, FirstLine(node), $"'{name}'", "model", "the model type, e.g. CifarResNet");
            return null;
        }
        if (!ExpectScalar(typeNode, "model", "a model type name")) return null;
        var args = keys.TryGetValue("args", out var argsNode) ? ReadArguments(argsNode, "args") : EquatableArray<ArgumentSpec>.Empty;

        CheckpointSpec? checkpoint = null;
        if (keys.TryGetValue("from", out var fromNode) && ExpectScalar(fromNode, "from", "the name of the experiment that trains this model"))
            checkpoint = new CheckpointSpec(fromNode.Value, null, fromNode.Location);
        if (keys.TryGetValue("checkpoint", out var ckNode) && ExpectScalar(ckNode, "checkpoint", "a .safetensors path"))
        {
            if (checkpoint is not null) Report(DuplicateName, ckNode.Location, "weight source", "from/checkpoint");
            else checkpoint = new CheckpointSpec(null, ckNode.Value, ckNode.Location);
        }
        var taps = new List<NameSpec>();
        if (keys.TryGetValue("taps", out var tapsNode) && ExpectSequence(tapsNode, "taps", "a list of tap names"))
            foreach (var t in tapsNode.Items)
                if (ExpectScalar(t, "taps", "a tap name")) taps.Add(new NameSpec(t.Value, t.Location));
        // Submodules that do not train: PyTorch module paths of the student (conv1, layer1.0), checked when a run starts.
        var freeze = new List<NameSpec>();
        if (keys.TryGetValue("freeze", out var freezeNode) && ExpectSequence(freezeNode, "freeze", "a list of module paths such as [conv1, layer1]"))
            foreach (var f in freezeNode.Items)
                if (ExpectScalar(f, "freeze", "a module path such as layer1 or layer1.0.conv1"))
                {
                    if (IsModulePath(f.Value)) freeze.Add(new NameSpec(f.Value, f.Location));
                    else Report(WrongValueType, f.Location, "freeze", "a module path: names of letters, digits and '_' joined by '.', such as layer1.0.conv1", f.Describe());
                }
        // Submodules loaded from state dicts before training: module path → .safetensors file.
        var init = new List<ModuleInitSpec>();
        if (keys.TryGetValue("init", out var initNode) && ExpectMapping(initNode, "init"))
            foreach (var (modulePath, pathLocation, fileNode) in initNode.Entries)
            {
                if (!IsModulePath(modulePath))
                    Report(WrongValueType, pathLocation, "init", "a module path: names of letters, digits and '_' joined by '.', such as backbone.body", $"'{UserText.Shorten(modulePath)}'");
                else if (init.Any(i => i.ModulePath == modulePath))
                    Report(DuplicateName, pathLocation, "init module path", UserText.Shorten(modulePath));
                else if (ExpectScalar(fileNode, modulePath, "the .safetensors file its weights come from"))
                    init.Add(new ModuleInitSpec(modulePath, fileNode.Value, pathLocation));
            }
        if (init.Count > 0 && checkpoint is not null)
            Report(InitOverwritten, init[0].Location, name, init[0].ModulePath, checkpoint.FromExperiment is { } e ? $"experiment '{e}'" : $"'{checkpoint.Path}'");
        return new ModelSpec(name, role, typeNode.Value, typeNode.Location, args, checkpoint, taps.ToEquatableArray(), node.Location, CSharpNames.Pascal(name), nameLocation,
            freeze.ToEquatableArray(), init.ToEquatableArray());
    }

    /// <summary>A PyTorch module path: identifiers (or indices) joined by '.', at most 256 characters.</summary>
    internal static bool IsModulePath(string path) =>
        path.Length is > 0 and <= 256 && path.Split('.').All(part => part.Length > 0 && part.All(c => c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_'));

    private AdapterSpec? ReadAdapter(string name, LocationInfo nameLocation, YamlNode node)
    {
        if (!ExpectMapping(node, name)) return null;
        var keys = Keys(node, $"adapter '{name}'", AdapterKeys);
        AdapterKind? kind = null;
        if (keys.TryGetValue("kind", out var kindNode) && ExpectScalar(kindNode, "kind", "conv1x1, conv3x3 or linear"))
        {
            kind = kindNode.Value switch { "conv1x1" => AdapterKind.Conv1x1, "conv3x3" => AdapterKind.Conv3x3, "linear" => AdapterKind.Linear, _ => null };
            if (kind is null) Report(WrongValueType, kindNode.Location, "kind", "one of conv1x1, conv3x3, linear" + NameSuggestions.DidYouMean(kindNode.Value, AdapterKinds), kindNode.Describe());
        }
        else if (kindNode is null) Report(MissingKey, FirstLine(node), $"adapter '{name}'", "kind", "conv1x1, conv3x3 or linear");
        var from = RequiredRef(keys, node, $"adapter '{name}'", "from", "the student tap it reads, e.g. student.stage3");
        var to = RequiredRef(keys, node, $"adapter '{name}'", "to", "the teacher tap whose shape it produces, e.g. teacher.stage3");
        var norm = AdapterNorm.None;
        if (keys.TryGetValue("norm", out var normNode) && ExpectScalar(normNode, "norm", "bn or none"))
        {
            if (normNode.Value == "bn") norm = AdapterNorm.BatchNorm;
            else if (normNode.Value != "none")
                Report(WrongValueType, normNode.Location, "norm", "one of bn (batch normalisation), none" + NameSuggestions.DidYouMean(normNode.Value, AdapterNorms), normNode.Describe());
        }
        var act = AdapterActivation.None;
        if (keys.TryGetValue("act", out var actNode) && ExpectScalar(actNode, "act", "relu or none"))
        {
            if (actNode.Value == "relu") act = AdapterActivation.ReLU;
            else if (actNode.Value != "none")
                Report(WrongValueType, actNode.Location, "act", "one of relu, none" + NameSuggestions.DidYouMean(actNode.Value, AdapterActivations), actNode.Describe());
        }
        // For taps whose channels depend on what the model is built with (a backbone chosen by name): the experiment says.
        DeclaredChannels? Channels(string key) =>
            keys.TryGetValue(key, out var n) && ExpectInteger(n, key, out var c, 1, 1 << 20, "a channel count") ? new DeclaredChannels(c, n.Location) : null;
        var inChannels = Channels("in_channels");
        var outChannels = Channels("out_channels");
        return kind is null || from is null || to is null ? null : new AdapterSpec(name, kind.Value, from, to, node.Location, nameLocation, norm, act, inChannels, outChannels);
    }

    private void AddLossArgument(List<ArgumentSpec> arguments, string key, LocationInfo keyLocation, YamlNode value)
    {
        if (arguments.Any(a => a.Name == key))
        {
            Report(DuplicateName, keyLocation, "argument (given beside args: and in it)", UserText.Shorten(key));
            return;
        }
        var v = ReadValue(value, key);
        if (v is not null) arguments.Add(new ArgumentSpec(key, keyLocation, v));
    }

    private LossTermSpec? ReadLoss(string name, LocationInfo nameLocation, YamlNode node)
    {
        if (!ExpectMapping(node, name)) return null;
        YamlNode? lossNode = null, weightNode = null, scheduleNode = null;
        var arguments = new List<ArgumentSpec>();
        foreach (var (key, keyLocation, value) in node.Entries)
        {
            switch (key)
            {
                case "loss": lossNode = value; break;
                case "weight": weightNode = value; break;
                case "schedule": scheduleNode = value; break;
                case "args":
                    // The loss's own arguments, nested: a hyper-parameter may then be named like a reserved key (weight, schedule, ...).
                    if (ExpectMapping(value, "args"))
                        foreach (var (argKey, argLocation, argValue) in value.Entries)
                            AddLossArgument(arguments, argKey, argLocation, argValue);
                    break;
                default:
                    // Inputs and hyper-parameters: checked against the loss's metadata by the binder.
                    AddLossArgument(arguments, key, keyLocation, value);
                    break;
            }
        }
        if (lossNode is null)
        {
            Report(MissingKey, FirstLine(node), $"loss term '{name}'", "loss", "the loss function, e.g. hinton_kd");
            return null;
        }
        if (!ExpectScalar(lossNode, "loss", "a loss name")) return null;
        var weight = 1.0;
        if (weightNode is not null && ExpectNumber(weightNode, "weight", out var w)) weight = w;
        WeightScheduleSpec? schedule = null;
        if (scheduleNode is not null && ExpectMapping(scheduleNode, "schedule"))
        {
            var keys = Keys(scheduleNode, $"the schedule of '{name}'", WeightScheduleKeys);
            var warmup = 0.0;
            if (keys.TryGetValue("warmup", out var warmNode)) ExpectNumber(warmNode, "warmup", out warmup);
            var decay = false;
            if (keys.TryGetValue("decay", out var decayNode) && ExpectScalar(decayNode, "decay", "linear"))
            {
                if (decayNode.Value == "linear") decay = true;
                else Report(WrongValueType, decayNode.Location, "decay", "'linear' (the factor 1 - epoch/epochs)", decayNode.Describe());
            }
            var kind = (warmup > 0, decay) switch
            {
                (true, true) => WeightScheduleKind.WarmupThenDecay,
                (true, false) => WeightScheduleKind.LinearWarmup,
                (false, true) => WeightScheduleKind.LinearDecay,
                _ => WeightScheduleKind.Constant,
            };
            schedule = new WeightScheduleSpec(kind, warmup, scheduleNode.Location);
        }
        return new LossTermSpec(name, nameLocation, lossNode.Value, lossNode.Location, arguments.ToEquatableArray(),
            weight, weightNode?.Location, schedule, node.Location);
    }

    private DataSpec? ReadData(YamlNode node)
    {
        if (!ExpectMapping(node, "data")) return null;
        var keys = Keys(node, "data", DataKeys);
        var train = keys.TryGetValue("train", out var trainNode) ? ReadDataset(trainNode, "train") : null;
        if (trainNode is null) Report(MissingKey, FirstLine(node), "data", "train", "{ dataset: <Type>, args: { ... } }");
        var val = keys.TryGetValue("val", out var valNode) ? ReadDataset(valNode, "val") : null;
        long batch = 0;
        var batchLocation = node.Location;
        if (keys.TryGetValue("batch", out var batchNode))
        {
            batchLocation = batchNode.Location;
            ExpectInteger(batchNode, "batch", out batch, 1, int.MaxValue, "a positive batch size");
        }
        else Report(MissingKey, FirstLine(node), "data", "batch", "the batch size");
        return new DataSpec(train, val, batch, batchLocation, node.Location);
    }

    private DatasetSpec? ReadDataset(YamlNode node, string what)
    {
        if (!ExpectMapping(node, what)) return null;
        var keys = Keys(node, $"data.{what}", DatasetKeys);
        if (!keys.TryGetValue("dataset", out var typeNode))
        {
            Report(MissingKey, FirstLine(node), $"data.{what}", "dataset", "the data set type, e.g. SyntheticImages");
            return null;
        }
        if (!ExpectScalar(typeNode, "dataset", "a data set type name")) return null;
        var args = keys.TryGetValue("args", out var argsNode) ? ReadArguments(argsNode, "args") : EquatableArray<ArgumentSpec>.Empty;
        var transforms = keys.TryGetValue("transforms", out var transformsNode) ? ReadTransforms(transformsNode, what) : null;
        // The generated class holds the data sets as TrainData and ValData (what a code-first twin names them).
        return new DatasetSpec(typeNode.Value, typeNode.Location, args, node.Location, what == "train" ? "TrainData" : "ValData", transforms);
    }

    /// <summary><c>transforms: { crop: 4, flip: true, normalize: true }</c>; evaluation data is never augmented, so val takes normalize only.</summary>
    private TransformSpec? ReadTransforms(YamlNode node, string what)
    {
        if (!ExpectMapping(node, "transforms")) return null;
        var keys = Keys(node, $"the transforms of data.{what}", what == "train" ? TrainTransformKeys : ValTransformKeys);
        long? crop = null;
        if (keys.TryGetValue("crop", out var cropNode) && ExpectInteger(cropNode, "crop", out var padding, 0, 1024, "the zero padding of the random crop in pixels (0: no crop)"))
            crop = padding;
        bool? flip = null, normalize = null;
        if (keys.TryGetValue("flip", out var flipNode) && ExpectBool(flipNode, "flip", out var f)) flip = f;
        if (keys.TryGetValue("normalize", out var normNode) && ExpectBool(normNode, "normalize", out var n)) normalize = n;
        return new TransformSpec(crop, flip, normalize, node.Location);
    }

    private OptimizerSpec? ReadOptimizer(YamlNode node)
    {
        if (!ExpectMapping(node, "optimizer")) return null;
        string? kind = null;
        var kindLocation = node.Location;
        var args = EquatableArray<ArgumentSpec>.Empty;
        var groups = new List<ParamGroupSpec>();
        foreach (var (key, keyLocation, value) in node.Entries)
        {
            if (key == "groups")
            {
                if (!ExpectSequence(value, "groups", "a list of { params: [...], lr: ... }")) continue;
                foreach (var g in value.Items)
                {
                    if (!ExpectMapping(g, "groups")) continue;
                    var modules = new List<NameSpec>();
                    var groupArgs = new List<ArgumentSpec>();
                    var gKeys = Keys(g, "a parameter group", GroupKeys);
                    foreach (var (gk, gkLocation, gv) in g.Entries)
                    {
                        if (!gKeys.ContainsKey(gk)) continue;
                        if (gk == "params")
                        {
                            if (gv.Kind == YamlNodeKind.Sequence)
                            {
                                foreach (var m in gv.Items)
                                    if (ExpectScalar(m, "params", "a module name")) modules.Add(new NameSpec(m.Value, m.Location));
                            }
                            else if (ExpectScalar(gv, "params", "module names")) modules.Add(new NameSpec(gv.Value, gv.Location));
                        }
                        else if (ReadValue(gv, gk) is { } v) groupArgs.Add(new ArgumentSpec(gk, gkLocation, v));
                    }
                    if (modules.Count == 0) Report(MissingKey, FirstLine(g), "a parameter group", "params", "the modules it holds: student, adapters, or an adapter's name");
                    groups.Add(new ParamGroupSpec(modules.ToEquatableArray(), groupArgs.ToEquatableArray(), g.Location));
                }
                continue;
            }
            if (Array.IndexOf(OptimizerKinds, key) < 0)
            {
                Report(UnknownKey, keyLocation, UserText.Shorten(key), "optimizer", NameSuggestions.DidYouMean(key, OptimizerKinds.Concat(new[] { "groups" })), "sgd, adam, adamw, groups");
                continue;
            }
            if (kind is not null)
            {
                Report(DuplicateName, keyLocation, "optimizer", key + " (an experiment has one optimizer)");
                continue;
            }
            kind = key;
            kindLocation = keyLocation;
            args = value.Kind == YamlNodeKind.Scalar && value.ScalarKind() == ValueKind.Null ? EquatableArray<ArgumentSpec>.Empty : ReadArguments(value, key);
        }
        if (kind is null)
        {
            Report(MissingKey, FirstLine(node), "optimizer", "sgd", "one of sgd, adam, adamw with its settings");
            return null;
        }
        return new OptimizerSpec(kind, kindLocation, args, groups.ToEquatableArray(), node.Location);
    }

    private ScheduleSpec? ReadSchedule(YamlNode node)
    {
        if (!ExpectMapping(node, "schedule")) return null;
        var keys = Keys(node, "schedule", ScheduleKeys);
        long epochs = 0;
        var epochsLocation = node.Location;
        if (keys.TryGetValue("epochs", out var epochsNode))
        {
            epochsLocation = epochsNode.Location;
            ExpectInteger(epochsNode, "epochs", out epochs, 1, int.MaxValue, "a positive number of epochs");
        }
        else Report(MissingKey, FirstLine(node), "schedule", "epochs", "the number of training epochs");
        string? kind = null;
        LocationInfo? kindLocation = null;
        var args = EquatableArray<ArgumentSpec>.Empty;
        foreach (var (key, keyLocation, value) in node.Entries)
        {
            if (key is not ("multistep" or "cosine" or "step" or "constant")) continue;
            if (kind is not null) { Report(DuplicateName, keyLocation, "LR schedule", key + " (choose one)"); continue; }
            kind = key;
            kindLocation = keyLocation;
            args = value.Kind == YamlNodeKind.Scalar && value.ScalarKind() == ValueKind.Null ? EquatableArray<ArgumentSpec>.Empty : ReadArguments(value, key);
        }
        long warmup = 0;
        if (keys.TryGetValue("warmup", out var warmupNode)) ExpectInteger(warmupNode, "warmup", out warmup, 0, int.MaxValue, "a number of warm-up epochs >= 0");
        var clip = 0.0;
        if (keys.TryGetValue("clip_grad_norm", out var clipNode)) ExpectNumber(clipNode, "clip_grad_norm", out clip);
        return new ScheduleSpec(epochs, epochsLocation, kind, kindLocation, args, warmup, clip, node.Location, warmupNode?.Location, clipNode?.Location);
    }

    private EvalSpec? ReadEval(YamlNode node)
    {
        if (!ExpectMapping(node, "eval")) return null;
        var keys = Keys(node, "eval", EvalKeys);
        var metrics = new List<NameSpec>();
        if (keys.TryGetValue("metrics", out var metricsNode) && ExpectSequence(metricsNode, "metrics", "a list such as [top1, top5]"))
            foreach (var m in metricsNode.Items)
                if (ExpectScalar(m, "metrics", "a metric name")) metrics.Add(new NameSpec(m.Value, m.Location));
        long every = 1;
        if (keys.TryGetValue("every", out var everyNode) && !ExpectInteger(everyNode, "every", out every, 1, int.MaxValue, "a positive number of epochs")) every = 1;
        var flip = false;
        if (keys.TryGetValue("flip", out var flipNode)) ExpectBool(flipNode, "flip", out flip);
        return new EvalSpec(metrics.ToEquatableArray(), every, node.Location, flip);
    }

    // ---- values ----------------------------------------------------------------------------------

    private EquatableArray<ArgumentSpec> ReadArguments(YamlNode node, string what)
    {
        if (!ExpectMapping(node, what)) return EquatableArray<ArgumentSpec>.Empty;
        var args = new List<ArgumentSpec>();
        foreach (var (key, keyLocation, value) in node.Entries)
            if (ReadValue(value, key) is { } v) args.Add(new ArgumentSpec(key, keyLocation, v));
        return args.ToEquatableArray();
    }

    private ValueSpec? ReadValue(YamlNode node, string key)
    {
        switch (node.Kind)
        {
            case YamlNodeKind.Scalar:
                var kind = node.ScalarKind();
                var text = kind switch
                {
                    ValueKind.Bool => node.Value.ToLowerInvariant(),
                    ValueKind.Integer => Numbers.NormalizeInteger(node.Value),
                    ValueKind.Float => Numbers.NormalizeFloat(node.Value),
                    _ => node.Value,
                };
                return ValueSpec.Scalar(kind, text, node.Location);
            case YamlNodeKind.Sequence:
                var items = new List<ValueSpec>();
                foreach (var item in node.Items)
                    if (ReadValue(item, key) is { } v) items.Add(v);
                return new ValueSpec(ValueKind.List, "", items.ToEquatableArray(), node.Location);
            default:
                Report(WrongValueType, node.Location, key, "a number, text, a reference or a list", "a mapping");
                return null;
        }
    }

    private TapRef? RequiredRef(Dictionary<string, YamlNode> keys, YamlNode owner, string what, string key, string meaning)
    {
        if (!keys.TryGetValue(key, out var node))
        {
            Report(MissingKey, FirstLine(owner), what, key, meaning);
            return null;
        }
        if (!ExpectScalar(node, key, "a reference model.tap")) return null;
        var dot = node.Value.IndexOf('.');
        if (dot <= 0 || dot == node.Value.Length - 1)
        {
            Report(WrongValueType, node.Location, key, "a reference model.tap (e.g. student.stage3)", node.Describe());
            return null;
        }
        return new TapRef(node.Value.Substring(0, dot), node.Value.Substring(dot + 1), node.Location);
    }

    /// <summary>The mapping's entries by key, reporting keys outside <paramref name="allowed"/>.</summary>
    private Dictionary<string, YamlNode> Keys(YamlNode mapping, string where, string[] allowed)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        foreach (var (key, keyLocation, value) in mapping.Entries)
        {
            if (Array.IndexOf(allowed, key) < 0)
            {
                Report(UnknownKey, keyLocation, UserText.Shorten(key), where, NameSuggestions.DidYouMean(key, allowed), string.Join(", ", allowed));
                continue;
            }
            result[key] = value;
        }
        return result;
    }

    private bool ExpectMapping(YamlNode node, string key)
    {
        if (node.Kind == YamlNodeKind.Mapping) return true;
        Report(WrongValueType, node.Location, key, "a mapping of keys to values", node.Describe());
        return false;
    }

    private bool ExpectSequence(YamlNode node, string key, string expected)
    {
        if (node.Kind == YamlNodeKind.Sequence) return true;
        Report(WrongValueType, node.Location, key, expected, node.Describe());
        return false;
    }

    private bool ExpectScalar(YamlNode node, string key, string expected)
    {
        if (node.Kind == YamlNodeKind.Scalar && node.ScalarKind() != ValueKind.Null) return true;
        Report(WrongValueType, node.Location, key, expected, node.Describe());
        return false;
    }

    /// <summary>
    /// A whole number in [<paramref name="min"/>, <paramref name="max"/>]: one below the minimum is the wrong value (DSL004, saying
    /// <paramref name="meaning"/>), one above the maximum or outside a long out of range (DSL044).
    /// </summary>
    private bool ExpectInteger(YamlNode node, string key, out long value, long min = long.MinValue, long max = long.MaxValue, string? meaning = null)
    {
        value = 0;
        if (node.Kind != YamlNodeKind.Scalar || node.ScalarKind() != ValueKind.Integer)
        {
            Report(WrongValueType, node.Location, key, "a whole number", node.Describe());
            return false;
        }
        var fits = Numbers.TryParseLong(node.Value, out value);
        if (fits && value >= min && value <= max) return true;
        if (fits && value < min && meaning is not null)
            Report(WrongValueType, node.Location, key, meaning, node.Describe());
        else
            Report(ValueOutOfRange, node.Location, $"'{key}'", $"a whole number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}",
                UserText.Shorten(Numbers.NormalizeInteger(node.Value)));
        value = 0;
        return false;
    }

    private bool ExpectBool(YamlNode node, string key, out bool value)
    {
        value = false;
        if (node.Kind == YamlNodeKind.Scalar && node.ScalarKind() == ValueKind.Bool)
            return bool.TryParse(node.Value, out value);
        Report(WrongValueType, node.Location, key, "true or false", node.Describe());
        return false;
    }

    /// <summary>A number (NaN and the infinities included: the binder checks ranges, for both front ends).</summary>
    private bool ExpectNumber(YamlNode node, string key, out double value)
    {
        value = 0;
        if (node.Kind == YamlNodeKind.Scalar && node.ScalarKind() is ValueKind.Integer or ValueKind.Float)
            return Numbers.TryParseDouble(node.Value, out value);
        Report(WrongValueType, node.Location, key, "a number", node.Describe());
        return false;
    }

    /// <summary>Where to report a missing key: the first line of the mapping that should hold it.</summary>
    private static LocationInfo FirstLine(YamlNode node) =>
        node.Location with { Length = 0, EndLine = node.Location.StartLine, EndColumn = node.Location.StartColumn };

    /// <summary>The longest name of an experiment, model, adapter or term (names become class, member, file and directory names).</summary>
    public const int MaxNameLength = 100;

    internal static bool IsValidName(string name) =>
        name.Length > 0 && name.Length <= MaxNameLength && char.IsLetter(name[0]) && name.All(c => char.IsLetterOrDigit(c) || c == '-' || c == '_');

    /// <summary>The generated class's name: hinton-resnet56-resnet20 → HintonResnet56Resnet20Experiment.</summary>
    internal static string ClassNameOf(string name)
    {
        var parts = name.Split(new[] { '-', '_' }, StringSplitOptions.RemoveEmptyEntries);
        var pascal = string.Concat(parts.Select(p => char.ToUpperInvariant(p[0]) + p.Substring(1)));
        return pascal.Length == 0 ? "Experiment" : pascal + "Experiment";
    }
}
