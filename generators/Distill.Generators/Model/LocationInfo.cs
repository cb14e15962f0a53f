using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Distill.Generators.Model;

/// <summary>
/// A source location as a plain value (file, character span, line/column span), so it can sit in a
/// pipeline value without holding a <see cref="Location"/> or a syntax tree. Lines and columns are 0-based,
/// as Roslyn's <see cref="LinePosition"/>.
/// </summary>
internal readonly record struct LocationInfo(string FilePath, int Start, int Length, int StartLine, int StartColumn, int EndLine, int EndColumn)
{
    public Location ToLocation() =>
        Location.Create(FilePath, new TextSpan(Start, Length),
            new LinePositionSpan(new LinePosition(StartLine, StartColumn), new LinePosition(EndLine, EndColumn)));

    public static LocationInfo From(Location location)
    {
        var span = location.GetLineSpan();
        return new LocationInfo(span.Path ?? "", location.SourceSpan.Start, location.SourceSpan.Length,
            span.StartLinePosition.Line, span.StartLinePosition.Character, span.EndLinePosition.Line, span.EndLinePosition.Character);
    }

    /// <summary>"file(line,col)" with 1-based numbers, as compilers print locations.</summary>
    public override string ToString() => $"{FilePath}({StartLine + 1},{StartColumn + 1})";
}
