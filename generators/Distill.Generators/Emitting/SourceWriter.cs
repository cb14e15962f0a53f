using System;
using System.Globalization;
using System.Text;

namespace Distill.Generators.Emitting;

/// <summary>
/// An indenting writer for generated C# (as dotnet/runtime's generators use): lines, blocks that indent
/// and close themselves (literals of values: <see cref="Model.CSharpLiteral"/>). Newlines are always "\n".
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
}
