using System;
using System.Collections.Generic;
using System.Globalization;
using Distill.Generators.Model;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Distill.Generators.Parsing;

internal enum YamlNodeKind { Scalar, Sequence, Mapping }

/// <summary>A YAML node with its location; mapping entries keep their order and key locations.</summary>
internal sealed class YamlNode
{
    public YamlNodeKind Kind { get; private set; }
    public string Value { get; private set; } = "";
    public bool Quoted { get; private set; }
    public List<YamlNode> Items { get; } = new();
    public List<(string Key, LocationInfo KeyLocation, YamlNode Value)> Entries { get; } = new();
    public LocationInfo Location { get; private set; }

    public static YamlNode Scalar(string value, bool quoted, LocationInfo location) =>
        new() { Kind = YamlNodeKind.Scalar, Value = value, Quoted = quoted, Location = location };

    public static YamlNode Sequence(LocationInfo location) => new() { Kind = YamlNodeKind.Sequence, Location = location };

    public static YamlNode Mapping(LocationInfo location) => new() { Kind = YamlNodeKind.Mapping, Location = location };

    internal void ExtendTo(LocationInfo end) =>
        Location = Location with { Length = Math.Max(0, end.Start + end.Length - Location.Start), EndLine = end.EndLine, EndColumn = end.EndColumn };

    /// <summary>What a plain scalar means: null, bool, integer, float or string (YAML 1.2 core schema).</summary>
    public ValueKind ScalarKind()
    {
        if (Kind != YamlNodeKind.Scalar) return Kind == YamlNodeKind.Sequence ? ValueKind.List : ValueKind.String;
        if (Quoted) return ValueKind.String;
        var v = Value;
        if (v.Length == 0 || v == "~" || v == "null" || v == "Null" || v == "NULL") return ValueKind.Null;
        if (v is "true" or "True" or "TRUE" or "false" or "False" or "FALSE") return ValueKind.Bool;
        if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _)) return ValueKind.Integer;
        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _)) return ValueKind.Float;
        return ValueKind.String;
    }

    public string Describe() => Kind switch
    {
        YamlNodeKind.Mapping => "a mapping",
        YamlNodeKind.Sequence => "a list",
        _ => ScalarKind() switch
        {
            ValueKind.Null => "null",
            ValueKind.Bool => $"the boolean {Value}",
            ValueKind.Integer => $"the number {Value}",
            ValueKind.Float => $"the number {Value}",
            _ => $"'{Value}'",
        },
    };
}

/// <summary>
/// Reads one YAML document into a <see cref="YamlNode"/> tree with exact locations. Syntax errors,
/// anchors/aliases, duplicate keys, non-scalar keys and extra documents become diagnostics; the tree is
/// null when the document could not be read.
/// </summary>
internal static class YamlTreeReader
{
    public static YamlNode? Read(string path, string text, List<DiagnosticInfo> diagnostics)
    {
        var lineStarts = LineStarts(text);
        LocationInfo At(Mark start, Mark end) => Locate(path, lineStarts, start, end);
        Parser? parser = null;
        try
        {
            parser = new Parser(new System.IO.StringReader(text));
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, new LocationInfo(path, 0, 0, 0, 0, 0, 0), "the file is empty"));
                return null;
            }
            parser.Consume<DocumentStart>();
            var root = ReadNode(parser, path, At, diagnostics);
            parser.Consume<DocumentEnd>();
            if (parser.Accept<DocumentStart>(out var second))
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, At(second.Start, second.End), "a file holds one experiment: remove the second YAML document"));
            return root;
        }
        catch (YamlException e)
        {
            var message = e.InnerException is YamlException inner ? inner.Message : e.Message;
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, At(e.Start, e.End), CleanMessage(message)));
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or FormatException or OverflowException)
        {
            // YamlDotNet's scanner throws these (not YamlException) on some malformed input: still a syntax error,
            // reported after the last event that parsed, which is where the scanner gave up.
            var where = parser?.Current is { } last ? At(last.End, last.End) : At(Mark.Empty, Mark.Empty);
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, where, "the text after this point is not valid YAML (" + e.Message + ")"));
            return null;
        }
    }

    private static YamlNode ReadNode(IParser parser, string path, Func<Mark, Mark, LocationInfo> at, List<DiagnosticInfo> diagnostics)
    {
        if (parser.TryConsume<Scalar>(out var scalar))
        {
            if (!scalar.Anchor.IsEmpty) Anchor(scalar.Start, scalar.End);
            return YamlNode.Scalar(scalar.Value, scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded, at(scalar.Start, scalar.End));
        }
        if (parser.TryConsume<SequenceStart>(out var seqStart))
        {
            if (!seqStart.Anchor.IsEmpty) Anchor(seqStart.Start, seqStart.End);
            var node = YamlNode.Sequence(at(seqStart.Start, seqStart.End));
            SequenceEnd? seqEnd;
            while (!parser.TryConsume<SequenceEnd>(out seqEnd!))
                node.Items.Add(ReadNode(parser, path, at, diagnostics));
            node.ExtendTo(at(seqEnd!.Start, seqEnd.End));
            return node;
        }
        if (parser.TryConsume<MappingStart>(out var mapStart))
        {
            if (!mapStart.Anchor.IsEmpty) Anchor(mapStart.Start, mapStart.End);
            var node = YamlNode.Mapping(at(mapStart.Start, mapStart.End));
            var seen = new HashSet<string>(StringComparer.Ordinal);
            MappingEnd? mapEnd;
            while (!parser.TryConsume<MappingEnd>(out mapEnd!))
            {
                var keyNode = ReadNode(parser, path, at, diagnostics);
                var value = ReadNode(parser, path, at, diagnostics);
                if (keyNode.Kind != YamlNodeKind.Scalar)
                {
                    diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, keyNode.Location, "mapping keys must be plain names"));
                    continue;
                }
                if (!seen.Add(keyNode.Value))
                {
                    diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.DuplicateName, keyNode.Location, "key", keyNode.Value));
                    continue;
                }
                node.Entries.Add((keyNode.Value, keyNode.Location, value));
            }
            node.ExtendTo(at(mapEnd!.Start, mapEnd.End));
            return node;
        }
        if (parser.TryConsume<AnchorAlias>(out var alias))
        {
            Anchor(alias.Start, alias.End);
            return YamlNode.Scalar("", false, at(alias.Start, alias.End));
        }
        var unexpected = parser.Current!;
        throw new YamlException(unexpected.Start, unexpected.End, $"unexpected {unexpected.GetType().Name}");

        void Anchor(Mark start, Mark end) =>
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, at(start, end), "anchors and aliases are not supported: write the value out"));
    }

    private static string CleanMessage(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; the diagnostic has the location already.
        var i = message.LastIndexOf("): ", StringComparison.Ordinal);
        return i >= 0 && message.StartsWith("(Line", StringComparison.Ordinal) ? message.Substring(i + 3) : message;
    }

    private static int[] LineStarts(string text)
    {
        var starts = new List<int> { 0 };
        for (var i = 0; i < text.Length; i++)
            if (text[i] == '\n') starts.Add(i + 1);
        return starts.ToArray();
    }

    /// <summary>Marks are 1-based line/column with a character index; LocationInfo is 0-based.</summary>
    private static LocationInfo Locate(string path, int[] lineStarts, Mark start, Mark end)
    {
        static (int line, int col) Fix(Mark m) => ((int)Math.Max(0, m.Line - 1), (int)Math.Max(0, m.Column - 1));
        var (sl, sc) = Fix(start);
        var (el, ec) = Fix(end);
        if (el < sl || (el == sl && ec < sc)) (el, ec) = (sl, sc);
        var s = (int)Math.Max(0, start.Index);
        var e = (int)Math.Max(s, end.Index);
        return new LocationInfo(path, s, e - s, sl, sc, el, ec);
    }
}
