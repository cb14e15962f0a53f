using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Distill.Experiments.Runner;

/// <summary>One row of a suite: a method (an experiment) under a label.</summary>
/// <param name="Group">Free text that sorts rows into kinds ("teacher", "student", "kd").</param>
/// <param name="Line">The entry's line in the suite file, for messages about it.</param>
public sealed record SuiteEntry(string Label, string Experiment, string? Group, int Line);

/// <summary>A published number to compare with: the label of the row it belongs to, the value as written, where it comes from.</summary>
public sealed record SuiteAnchor(string Label, string Value, string? Source, int Line)
{
    /// <summary>The leading number of <see cref="Value"/> ("70.66 ± 0.2" → 70.66), or null.</summary>
    public double? Number
    {
        get
        {
            var text = Value.TrimStart();
            var end = 0;
            while (end < text.Length && (char.IsDigit(text[end]) || text[end] is '.' or '-' or '+' or 'e' or 'E')) end++;
            return double.TryParse(text.AsSpan(0, end), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
        }
    }
}

/// <summary>Whether a row's per-seed value is the last epoch's metric or the best epoch's.</summary>
public enum Selection
{
    Final,
    Best,
}

/// <summary>A suite file (<c>experiments/&lt;suite&gt;/suite.yaml</c>): which runs a report is made of and how the table reads.</summary>
public sealed record Suite
{
    public required string Path { get; init; }

    /// <summary>The suite's directory name.</summary>
    public required string Name { get; init; }

    public required string Title { get; init; }

    public string? Description { get; init; }

    public required IReadOnlyList<SuiteEntry> Entries { get; init; }

    /// <summary>The seeds of a full report; empty: each experiment's declared seeds, else 0.</summary>
    public IReadOnlyList<long> Seeds { get; init; } = [];

    /// <summary>Epochs of a quick report (caps the declared ones).</summary>
    public int QuickEpochs { get; init; } = new TrainOptions().QuickEpochs;

    /// <summary>Batches per epoch of a quick report.</summary>
    public int QuickBatches { get; init; } = new TrainOptions().QuickBatches;

    /// <summary>The seeds of a quick report; empty: <see cref="Seeds"/>.</summary>
    public IReadOnlyList<long> QuickSeeds { get; init; } = [];

    /// <summary>The metric reported, as logged (<c>val_top1</c>, <c>val/top1</c>, or a phase's key such as <c>val</c>'s <c>top1</c>).</summary>
    public string Metric { get; init; } = "val_top1";

    /// <summary>Further metrics shown in a second table, each at the final epoch (e.g. TAR@FAR next to verification accuracy).</summary>
    public IReadOnlyList<string> Also { get; init; } = [];

    public MetricMode Mode { get; init; } = MetricMode.Max;

    public Selection Select { get; init; } = Selection.Final;

    /// <summary>Multiplies every value shown (100 for percentages).</summary>
    public double Scale { get; init; } = 1;

    /// <summary>Decimals shown; null: 2 when <see cref="Scale"/> is 100 or more, else 4.</summary>
    public int? Decimals { get; init; }

    public IReadOnlyList<SuiteAnchor> Anchors { get; init; } = [];

    /// <summary>The label of the row the others are compared with (the student alone); null: the first row of group "student".</summary>
    public string? Baseline { get; init; }

    /// <summary>The full path of the suite's Scriban template for report.md; null: the built-in layout.</summary>
    public string? Template { get; init; }

    public int ShownDecimals => Decimals ?? (Scale >= 100 ? 2 : 4);

    /// <summary>The directory a report is written to: <c>report/</c> or <c>report-quick/</c> next to the suite file.</summary>
    public string ReportDirectory(bool quick) =>
        System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, quick ? "report-quick" : "report");
}

/// <summary>A suite file that cannot be read: every problem, each with the file, line and column.</summary>
public sealed class SuiteFileException(string path, IReadOnlyList<string> problems)
    : Exception($"{path}: the suite file has {problems.Count} problem{(problems.Count == 1 ? "" : "s")}:\n  " + string.Join("\n  ", problems))
{
    public string Path { get; } = path;

    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>Reads suite files (YamlDotNet's representation model, for the line of every node).</summary>
public static class SuiteFile
{
    public const string FileName = "suite.yaml";

    private static readonly string[] TopKeys = ["title", "description", "metric", "also", "mode", "select", "scale", "decimals", "seeds", "quick", "baseline", "entries", "anchors", "template"];
    private static readonly string[] QuickKeys = ["epochs", "max_batches", "seeds"];
    private static readonly string[] EntryKeys = ["label", "experiment", "group"];
    private static readonly string[] AnchorKeys = ["label", "value", "source"];

    /// <summary>
    /// The suite file <paramref name="reference"/> names: a suite file, a directory holding <c>suite.yaml</c>,
    /// or a suite's name, looked up as <c>experiments/&lt;name&gt;/suite.yaml</c> from <paramref name="workingDirectory"/>
    /// and each directory above it.
    /// </summary>
    public static string Locate(string reference, string workingDirectory)
    {
        var direct = System.IO.Path.GetFullPath(reference, workingDirectory);
        if (File.Exists(direct)) return direct;
        if (Directory.Exists(direct) && File.Exists(System.IO.Path.Combine(direct, FileName))) return System.IO.Path.Combine(direct, FileName);
        string? experiments = null;
        for (var dir = new DirectoryInfo(workingDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "experiments");
            if (!Directory.Exists(candidate)) continue;
            experiments ??= candidate;
            var file = System.IO.Path.Combine(candidate, reference, FileName);
            if (File.Exists(file)) return file;
        }
        var known = experiments is null
            ? []
            : Directory.EnumerateDirectories(experiments).Where(d => File.Exists(System.IO.Path.Combine(d, FileName))).Select(System.IO.Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        var where = experiments is null ? $"no experiments/ directory in {workingDirectory} or above it" : $"suites in {experiments}: {(known.Count == 0 ? "none" : string.Join(", ", known))}";
        throw new UsageException($"no suite '{reference}': not a suite file, nor a directory with {FileName}, nor experiments/{reference}/{FileName}.{Suggestions.DidYouMean(reference, known)} ({where})", "report");
    }

    public static Suite Load(string path)
    {
        var full = System.IO.Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SuiteFileException(full, [$"{full}: cannot be read: {e.Message}"]);
        }
        return Parse(full, text);
    }

    /// <summary>Parses suite text; <paramref name="path"/> names it in messages and places the report.</summary>
    public static Suite Parse(string path, string text)
    {
        var r = new Reader(path);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new SuiteFileException(path, [$"{path}:{e.Start.Line.ToString(CultureInfo.InvariantCulture)}:{e.Start.Column.ToString(CultureInfo.InvariantCulture)}: not valid YAML: {Inner(e).Message}"]);
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new SuiteFileException(path, [$"{path}:1:1: a suite file is a mapping with at least 'title' and 'entries'"]);

        var keys = r.Keys(root, TopKeys, "suite");
        var title = r.String(keys, "title", root, required: true) ?? "";
        var description = r.String(keys, "description", root);
        var metric = r.String(keys, "metric", root) ?? "val_top1";
        var mode = r.Choice(keys, "mode", ["max", "min"]) switch { "min" => MetricMode.Min, _ => MetricMode.Max };
        var select = r.Choice(keys, "select", ["final", "best"]) switch { "best" => Selection.Best, _ => Selection.Final };
        var scale = r.Number(keys, "scale") ?? 1;
        if (keys.TryGetValue("scale", out var scaleNode) && !(scale > 0)) r.Problem(scaleNode.Value, "'scale' must be a positive number (100 shows fractions as percentages)");
        var decimals = r.Integer(keys, "decimals", 0, 10);
        var seeds = r.Seeds(keys, "seeds");
        var also = r.Names(keys, "also");

        int? quickEpochs = null, quickBatches = null;
        IReadOnlyList<long> quickSeeds = [];
        if (keys.TryGetValue("quick", out var quickNode) && r.Mapping(quickNode.Value, "quick") is { } quickMap)
        {
            var q = r.Keys(quickMap, QuickKeys, "quick");
            quickEpochs = r.Integer(q, "epochs", 1, int.MaxValue);
            quickBatches = r.Integer(q, "max_batches", 1, int.MaxValue);
            quickSeeds = r.Seeds(q, "seeds");
        }

        var entries = new List<SuiteEntry>();
        if (!keys.TryGetValue("entries", out var entriesNode))
            r.Problem(root, "missing 'entries': the list of {label, experiment, group} rows the report is made of");
        else if (entriesNode.Value is not YamlSequenceNode list || list.Children.Count == 0)
            r.Problem(entriesNode.Value, "'entries' must be a non-empty list of {label, experiment, group} rows");
        else
            foreach (var item in list.Children)
            {
                if (r.Mapping(item, "an entry") is not { } map) continue;
                var e = r.Keys(map, EntryKeys, "an entry");
                var experiment = r.String(e, "experiment", map, required: true);
                var label = r.String(e, "label", map) ?? experiment;
                if (experiment is null || label is null) continue;
                if (entries.FirstOrDefault(x => x.Label == label) is { } twin)
                    r.Problem(e.TryGetValue("label", out var l) ? l.Value : map, $"the label '{label}' is used twice (first on line {twin.Line.ToString(CultureInfo.InvariantCulture)}); labels name the report's rows");
                else
                    entries.Add(new SuiteEntry(label, experiment, r.String(e, "group", map), Line(map)));
            }

        var anchors = new List<SuiteAnchor>();
        if (keys.TryGetValue("anchors", out var anchorsNode))
        {
            if (anchorsNode.Value is not YamlSequenceNode anchorList)
                r.Problem(anchorsNode.Value, "'anchors' must be a list of {label, value, source} rows");
            else
                foreach (var item in anchorList.Children)
                {
                    if (r.Mapping(item, "an anchor") is not { } map) continue;
                    var a = r.Keys(map, AnchorKeys, "an anchor");
                    var label = r.String(a, "label", map, required: true);
                    var value = r.String(a, "value", map, required: true);
                    if (label is null || value is null) continue;
                    if (entries.Count > 0 && entries.All(x => x.Label != label))
                        r.Problem(a["label"].Value, $"the anchor's label '{label}' matches no entry.{Suggestions.DidYouMean(label, entries.Select(x => x.Label))} Entry labels: {string.Join(", ", entries.Select(x => x.Label))}");
                    else if (anchors.Any(x => x.Label == label))
                        r.Problem(a["label"].Value, $"a second anchor for '{label}'; give one published value per row");
                    else
                        anchors.Add(new SuiteAnchor(label, value, r.String(a, "source", map), Line(map)));
                }
        }

        var baseline = r.String(keys, "baseline", root);
        if (baseline is not null && entries.Count > 0 && entries.All(x => x.Label != baseline))
            r.Problem(keys["baseline"].Value, $"the baseline '{baseline}' matches no entry.{Suggestions.DidYouMean(baseline, entries.Select(x => x.Label))} Entry labels: {string.Join(", ", entries.Select(x => x.Label))}");

        // A Scriban template for report.md, relative to the suite file (docs/runner.md): read and parsed now, so a broken one
        // is a problem of the suite file before anything trains.
        string? template = null;
        if (r.String(keys, "template", root) is { } templateName)
        {
            var templatePath = System.IO.Path.GetFullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path)!, templateName));
            if (!File.Exists(templatePath)) r.Problem(keys["template"].Value, $"the report template '{templateName}' does not exist (looked for '{templatePath}')");
            else if (ReportTemplate.Check(templatePath) is { } problem) r.Problem(keys["template"].Value, problem);
            else template = templatePath;
        }

        if (r.Problems.Count > 0) throw new SuiteFileException(path, r.Problems);
        var defaults = new TrainOptions();
        return new Suite
        {
            Path = path,
            Name = new DirectoryInfo(System.IO.Path.GetDirectoryName(path)!).Name,
            Title = title,
            Description = description,
            Entries = entries,
            Seeds = seeds,
            QuickEpochs = quickEpochs ?? defaults.QuickEpochs,
            QuickBatches = quickBatches ?? defaults.QuickBatches,
            QuickSeeds = quickSeeds,
            Metric = metric,
            Also = also,
            Mode = mode,
            Select = select,
            Scale = scale,
            Decimals = decimals,
            Anchors = anchors,
            Baseline = baseline,
            Template = template,
        };
    }

    private static Exception Inner(Exception e) => e.InnerException is YamlException inner ? Inner(inner) : e;

    private static int Line(YamlNode node) => (int)node.Start.Line;

    /// <summary>Collects problems with their positions; every read goes on after a problem so one pass reports them all.</summary>
    private sealed class Reader(string path)
    {
        public List<string> Problems { get; } = [];

        public void Problem(YamlNode node, string message) =>
            Problems.Add($"{path}:{node.Start.Line.ToString(CultureInfo.InvariantCulture)}:{node.Start.Column.ToString(CultureInfo.InvariantCulture)}: {message}");

        public YamlMappingNode? Mapping(YamlNode node, string what)
        {
            if (node is YamlMappingNode map) return map;
            Problem(node, $"{what} must be a mapping (key: value lines)");
            return null;
        }

        /// <summary>The mapping's keys, by name; unknown keys are problems that list the valid ones.</summary>
        public Dictionary<string, KeyValuePair<YamlNode, YamlNode>> Keys(YamlMappingNode map, string[] valid, string what)
        {
            var result = new Dictionary<string, KeyValuePair<YamlNode, YamlNode>>(StringComparer.Ordinal);
            foreach (var pair in map.Children)
            {
                if (pair.Key is not YamlScalarNode { Value: { } key })
                {
                    Problem(pair.Key, $"keys of {what} must be plain names");
                    continue;
                }
                if (!valid.Contains(key))
                    Problem(pair.Key, $"unknown key '{key}' in {what}.{Suggestions.DidYouMean(key, valid)} Valid keys: {string.Join(", ", valid)}");
                else if (!result.TryAdd(key, new KeyValuePair<YamlNode, YamlNode>(pair.Key, pair.Value)))
                    Problem(pair.Key, $"'{key}' is given twice in {what}");
            }
            return result;
        }

        private string? Scalar(Dictionary<string, KeyValuePair<YamlNode, YamlNode>> keys, string key, string expected)
        {
            if (!keys.TryGetValue(key, out var pair)) return null;
            if (pair.Value is YamlScalarNode { Value: { } v }) return v;
            Problem(pair.Value, $"'{key}' must be {expected}");
            return null;
        }

        public string? String(Dictionary<string, KeyValuePair<YamlNode, YamlNode>> keys, string key, YamlNode owner, bool required = false)
        {
            if (!keys.ContainsKey(key))
            {
                if (required) Problem(owner, $"missing '{key}'");
                return null;
            }
            var v = Scalar(keys, key, "text");
            if (v is not null && string.IsNullOrWhiteSpace(v))
            {
                Problem(keys[key].Value, $"'{key}' must not be empty");
                return null;
            }
            return v?.Trim();
        }

        public string? Choice(Dictionary<string, KeyValuePair<YamlNode, YamlNode>> keys, string key, string[] allowed)
        {
            var v = Scalar(keys, key, $"one of {string.Join(", ", allowed)}");
            if (v is null) return null;
            var lower = v.Trim().ToLowerInvariant();
            if (allowed.Contains(lower)) return lower;
            Problem(keys[key].Value, $"'{key}' must be one of {string.Join(", ", allowed)} (got '{v}')");
            return null;
        }

        public double? Number(Dictionary<string, KeyValuePair<YamlNode, YamlNode>> keys, string key)
        {
            var v = Scalar(keys, key, "a number");
            if (v is null) return null;
            if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)) return d;
            Problem(keys[key].Value, $"'{key}' must be a number (got '{v}')");
            return null;
        }

        public int? Integer(Dictionary<string, KeyValuePair<YamlNode, YamlNode>> keys, string key, int min, int max)
        {
            var v = Scalar(keys, key, "a whole number");
            if (v is null) return null;
            if (int.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i) && i >= min && i <= max) return i;
            Problem(keys[key].Value, $"'{key}' must be a whole number from {min.ToString(CultureInfo.InvariantCulture)}{(max == int.MaxValue ? " up" : " to " + max.ToString(CultureInfo.InvariantCulture))} (got '{v}')");
            return null;
        }

        /// <summary>The items of a list value (a single scalar is a list of one); null, with a problem, when it is empty or a mapping; null when absent.</summary>
        private List<YamlNode>? Items(Dictionary<string, KeyValuePair<YamlNode, YamlNode>> keys, string key, string expected)
        {
            if (!keys.TryGetValue(key, out var pair)) return null;
            var items = pair.Value switch
            {
                YamlSequenceNode s => s.Children.ToList(),
                YamlScalarNode s => [s],
                _ => null,
            };
            if (items is { Count: > 0 }) return items;
            Problem(pair.Value, $"'{key}' must be {expected}");
            return null;
        }

        /// <summary>A list of distinct names (a single name is a list of one).</summary>
        public IReadOnlyList<string> Names(Dictionary<string, KeyValuePair<YamlNode, YamlNode>> keys, string key)
        {
            var names = new List<string>();
            if (Items(keys, key, "a non-empty list of metric names, e.g. [val_tar_far1e-3]") is not { } items) return names;
            foreach (var item in items)
            {
                if (item is YamlScalarNode { Value: { Length: > 0 } text })
                {
                    if (names.Contains(text)) Problem(item, $"'{text}' is listed twice in '{key}'");
                    else names.Add(text);
                }
                else Problem(item, $"'{key}' must list metric names (got {(item is YamlScalarNode ? "an empty value" : "a " + item.NodeType.ToString().ToLowerInvariant())})");
            }
            return names;
        }

        /// <summary>A list of distinct whole numbers (a single number is a list of one).</summary>
        public IReadOnlyList<long> Seeds(Dictionary<string, KeyValuePair<YamlNode, YamlNode>> keys, string key)
        {
            var seeds = new List<long>();
            if (Items(keys, key, "a non-empty list of whole numbers, e.g. [1, 2, 3]") is not { } items) return seeds;
            foreach (var item in items)
            {
                if (item is YamlScalarNode { Value: { } text } && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seed))
                {
                    if (seeds.Contains(seed)) Problem(item, $"the seed {text} is listed twice in '{key}'");
                    else seeds.Add(seed);
                }
                else Problem(item, $"'{key}' must list whole numbers (got {(item is YamlScalarNode sc ? $"'{sc.Value}'" : "a " + item.NodeType.ToString().ToLowerInvariant())})");
            }
            return seeds;
        }
    }
}
