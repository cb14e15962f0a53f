using System;
using System.Globalization;
using System.Text;

namespace Distill.Generators.Emitting;

/// <summary>
/// An indenting writer for generated C# (as dotnet/runtime's generators use): lines, blocks that indent
/// and close themselves, invariant-culture numbers and escaped string literals. Newlines are always "\n".
/// </summary>
internal sealed class SourceWriter
{
    /// <summary>What marks every generated member (and the generated helper types) as tool-written, for analyzers and coverage.</summary>
    public static readonly string GeneratedCode =
        $"[global::System.CodeDom.Compiler.GeneratedCode(\"Distill.Generators\", \"{typeof(SourceWriter).Assembly.GetName().Version}\")]";

    private readonly StringBuilder _text = new();
    private int _indent;

    public SourceWriter Line(string line = "")
    {
        if (line.Length > 0) _text.Append(' ', _indent * 4).Append(line);
        _text.Append('\n');
        return this;
    }

    /// <summary>Writes <paramref name="header"/>, an opening brace, and indents until the returned scope is disposed.</summary>
    public Block Open(string header, string close = "}")
    {
        Line(header);
        Line("{");
        _indent++;
        return new Block(this, close);
    }

    /// <summary>A bare block (<c>{ ... }</c>) that scopes its locals.</summary>
    public Block OpenBlock()
    {
        Line("{");
        _indent++;
        return new Block(this, "}");
    }

    /// <summary>The indentation level, for hand-laid lists.</summary>
    public int Indent
    {
        get => _indent;
        set => _indent = value;
    }

    public readonly struct Block : IDisposable
    {
        private readonly SourceWriter _writer;
        private readonly string _close;

        internal Block(SourceWriter writer, string close)
        {
            _writer = writer;
            _close = close;
        }

        public void Dispose()
        {
            _writer._indent--;
            _writer.Line(_close);
        }
    }

    public override string ToString() => _text.ToString();

    /// <summary>
    /// A C# string literal of any text: quotes and backslashes escaped, and every character that could end the line
    /// or hide or reorder text as <c>\uXXXX</c> (controls, CR/LF, NEL, U+2028/U+2029, format characters such as bidi
    /// overrides, unpaired surrogates, private-use and unassigned characters, U+FFFE/U+FFFF; see <see cref="Model.UserText.NeedsEscape"/>).
    /// Surrogate pairs stay as they are. The literal denotes exactly the given UTF-16 string.
    /// </summary>
    public static string Literal(string? value)
    {
        if (value is null) return "null";
        var sb = new StringBuilder(value.Length + 2).Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                sb.Append(c).Append(value[++i]);
                continue;
            }
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (Model.UserText.NeedsEscape(c)) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>A float literal (with the <c>f</c> suffix) that round-trips, in invariant culture.</summary>
    public static string Literal(float value)
    {
        var s = value.ToString("R", CultureInfo.InvariantCulture);
        return (s.IndexOfAny(new[] { '.', 'E', 'e' }) < 0 ? s + ".0" : s) + "f";
    }

    /// <summary>A double literal that round-trips, in invariant culture.</summary>
    public static string Literal(double value)
    {
        if (double.IsNaN(value)) return "double.NaN";
        if (double.IsPositiveInfinity(value)) return "double.PositiveInfinity";
        if (double.IsNegativeInfinity(value)) return "double.NegativeInfinity";
        var s = value.ToString("R", CultureInfo.InvariantCulture);
        return s.IndexOfAny(new[] { '.', 'E', 'e' }) < 0 ? s + ".0" : s;
    }

    public static string Literal(long value) => value.ToString(CultureInfo.InvariantCulture) + "L";
}
