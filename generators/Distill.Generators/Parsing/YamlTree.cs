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

    /// <summary>What a plain scalar means: null, bool, integer, float or string (YAML 1.2 core schema; see <see cref="Numbers"/>).</summary>
    public ValueKind ScalarKind()
    {
        if (Kind != YamlNodeKind.Scalar) return Kind == YamlNodeKind.Sequence ? ValueKind.List : ValueKind.String;
        if (Quoted) return ValueKind.String;
        var v = Value;
        if (v.Length == 0 || v == "~" || v == "null" || v == "Null" || v == "NULL") return ValueKind.Null;
        if (v is "true" or "True" or "TRUE" or "false" or "False" or "FALSE") return ValueKind.Bool;
        if (Numbers.IsInteger(v)) return ValueKind.Integer;
        if (Numbers.IsFloat(v)) return ValueKind.Float;
        return ValueKind.String;
    }

    public string Describe() => Kind switch
    {
        YamlNodeKind.Mapping => Entries.Count == 0 ? "an empty mapping" : "a mapping",
        YamlNodeKind.Sequence => Items.Count == 0 ? "an empty list" : "a list",
        _ => ScalarKind() switch
        {
            ValueKind.Null => "null",
            ValueKind.Bool => $"the boolean {Value}",
            ValueKind.Integer => $"the number {UserText.Shorten(Value)}",
            ValueKind.Float => $"the number {UserText.Shorten(Value)}",
            _ => $"'{UserText.Shorten(Value)}'",
        },
    };
}

/// <summary>
/// Reads one YAML document into a <see cref="YamlNode"/> tree with exact locations. Syntax errors,
/// anchors/aliases, duplicate keys, non-scalar keys, extra documents and nesting deeper than
/// <see cref="MaxDepth"/> become diagnostics; the tree is null when the document could not be read.
/// The tree is built without recursion (an explicit stack), so no input can exhaust the compiler's stack,
/// and reading stops at the first value nested too deeply, so the time is linear in the text's length.
/// A leading byte-order mark is not content. Locations come from character offsets, with lines and columns
/// counted as Roslyn counts them (CR, LF, CRLF, NEL, U+2028 and U+2029 end a line), and always lie inside the text.
/// </summary>
internal static class YamlTreeReader
{
    /// <summary>The deepest nesting a file may use; an experiment needs five or six levels.</summary>
    public const int MaxDepth = 64;

    public static YamlNode? Read(string path, string text, List<DiagnosticInfo> diagnostics)
    {
        var lines = new LineMap(path, text);
        var offset = text.Length > 0 && text[0] == '\uFEFF' ? 1 : 0;
        LocationInfo At(Mark start, Mark end) => lines.Locate(offset + (int)Math.Min(int.MaxValue, Math.Max(0, start.Index)), offset + (int)Math.Min(int.MaxValue, Math.Max(0, end.Index)));
        // YAML's character set (c-printable): binary content is an error where it starts, not something the parser half-reads
        // (YamlDotNet takes U+0000 for the end of the text and other control characters for content).
        if (FirstNonPrintable(text, offset) is { } bad)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, lines.Locate(bad, bad + 1),
                $"the character U+{(int)text[bad]:X4} is not allowed in a YAML file (is it binary content?)"));
            return null;
        }
        Parser? parser = null;
        try
        {
            parser = new Parser(new System.IO.StringReader(offset == 0 ? text : text.Substring(offset)));
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, lines.Locate(0, 0), "the file is empty"));
                return null;
            }
            parser.Consume<DocumentStart>();
            var root = ReadNode(parser, At, diagnostics);
            if (root is null) return null;
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

    /// <summary>A collection being read: its node and, in a mapping, the key waiting for its value and the keys seen.</summary>
    private sealed class Frame(YamlNode node)
    {
        public YamlNode Node { get; } = node;
        public YamlNode? PendingKey { get; set; }
        public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>Reads one node (with everything under it) iteratively; null when it nests deeper than <see cref="MaxDepth"/> (reported).</summary>
    private static YamlNode? ReadNode(IParser parser, Func<Mark, Mark, LocationInfo> at, List<DiagnosticInfo> diagnostics)
    {
        var stack = new Stack<Frame>();
        while (true)
        {
            YamlNode? complete = null;
            if (stack.Count > 0 && stack.Peek().Node.Kind == YamlNodeKind.Sequence && parser.TryConsume<SequenceEnd>(out var seqEnd))
            {
                complete = stack.Pop().Node;
                complete.ExtendTo(at(seqEnd.Start, seqEnd.End));
            }
            else if (stack.Count > 0 && stack.Peek().Node.Kind == YamlNodeKind.Mapping && parser.TryConsume<MappingEnd>(out var mapEnd))
            {
                complete = stack.Pop().Node;
                complete.ExtendTo(at(mapEnd.Start, mapEnd.End));
            }
            else if (parser.TryConsume<Scalar>(out var scalar))
            {
                if (!scalar.Anchor.IsEmpty) Anchor(scalar.Start, scalar.End);
                complete = YamlNode.Scalar(scalar.Value, scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded, at(scalar.Start, scalar.End));
            }
            else if (parser.TryConsume<AnchorAlias>(out var alias))
            {
                Anchor(alias.Start, alias.End);
                complete = YamlNode.Scalar("", false, at(alias.Start, alias.End));
            }
            else if (parser.Accept<NodeEvent>(out var start) && start is SequenceStart or MappingStart)
            {
                if (stack.Count >= MaxDepth)
                {
                    diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.NestingTooDeep, at(start.Start, start.End),
                        (stack.Count + 1).ToString(CultureInfo.InvariantCulture), MaxDepth.ToString(CultureInfo.InvariantCulture)));
                    return null;
                }
                parser.MoveNext();
                if (!start.Anchor.IsEmpty) Anchor(start.Start, start.End);
                var location = at(start.Start, start.End);
                stack.Push(new Frame(start is SequenceStart ? YamlNode.Sequence(location) : YamlNode.Mapping(location)));
                continue;
            }
            else
            {
                var unexpected = parser.Current!;
                throw new YamlException(unexpected.Start, unexpected.End, $"unexpected {unexpected.GetType().Name}");
            }

            if (stack.Count == 0) return complete;
            var parent = stack.Peek();
            if (parent.Node.Kind == YamlNodeKind.Sequence)
            {
                parent.Node.Items.Add(complete);
                continue;
            }
            if (parent.PendingKey is null)
            {
                parent.PendingKey = complete;
                continue;
            }
            var key = parent.PendingKey;
            parent.PendingKey = null;
            if (key.Kind != YamlNodeKind.Scalar)
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, key.Location, "mapping keys must be plain names"));
            else if (!parent.Seen.Add(key.Value))
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.DuplicateName, key.Location, "key", UserText.Shorten(key.Value)));
            else
                parent.Node.Entries.Add((key.Value, key.Location, complete));
        }

        void Anchor(Mark start, Mark end) =>
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DiagnosticDescriptors.YamlSyntax, at(start, end), "anchors and aliases are not supported: write the value out"));
    }

    /// <summary>
    /// The offset of the first character outside YAML's printable set (tab, LF, CR, U+0020-U+007E, NEL, U+00A0-U+D7FF,
    /// U+E000-U+FFFD and surrogate pairs), or null.
    /// </summary>
    private static int? FirstNonPrintable(string text, int from)
    {
        for (var i = from; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\t' or '\n' or '\r' or '\u0085' || (c >= ' ' && c <= '~') || (c >= '\u00A0' && c <= '\uD7FF') || (c >= '\uE000' && c <= '\uFFFD')) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            return i;
        }
        return null;
    }

    private static string CleanMessage(string message)
    {
        // YamlDotNet prefixes "(Line: 3, Col: 5, Idx: 20) - (Line: ...): "; the diagnostic has the location already.
        var i = message.LastIndexOf("): ", StringComparison.Ordinal);
        return i >= 0 && message.StartsWith("(Line", StringComparison.Ordinal) ? message.Substring(i + 3) : message;
    }
}

/// <summary>
/// Character offsets of a text to locations: lines and columns counted as Roslyn's <c>SourceText</c> counts them (a line
/// ends at CR, LF, CRLF, NEL, U+2028 or U+2029), offsets clamped to the text, so every location lies inside the file.
/// </summary>
internal sealed class LineMap
{
    private readonly string _path;
    private readonly int _length;
    private readonly int[] _starts;

    public LineMap(string path, string text)
    {
        _path = path;
        _length = text.Length;
        var starts = new List<int> { 0 };
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') continue;
            if (c is '\n' or '\r' or '\u0085' or '\u2028' or '\u2029') starts.Add(i + 1);
        }
        _starts = starts.ToArray();
    }

    public LocationInfo Locate(int start, int end)
    {
        start = Math.Min(Math.Max(0, start), _length);
        end = Math.Min(Math.Max(start, end), _length);
        var (sl, sc) = Position(start);
        var (el, ec) = Position(end);
        return new LocationInfo(_path, start, end - start, sl, sc, el, ec);
    }

    private (int Line, int Column) Position(int offset)
    {
        var line = Array.BinarySearch(_starts, offset);
        if (line < 0) line = ~line - 1;
        return (line, offset - _starts[line]);
    }
}
