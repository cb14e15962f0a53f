using System;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace Distill.Generators.Model;

/// <summary>How the experiment's names become C# names in the generated code (the contract every stage shares).</summary>
internal static class CSharpNames
{
    /// <summary>student → Student, pre_stage3 → PreStage3: the member a model, adapter or term becomes.</summary>
    public static string Pascal(string name) =>
        string.Concat(name.Split(new[] { '_', '-', '.' }, StringSplitOptions.RemoveEmptyEntries).Select(p => char.ToUpperInvariant(p[0]) + p.Substring(1)));

    /// <summary>snake/kebab case → a C# local identifier (keywords escaped).</summary>
    public static string Local(string name)
    {
        var s = new string(name.Select(c => char.IsLetterOrDigit(c) ? c : '_').ToArray());
        return SyntaxFacts.GetKeywordKind(s) != SyntaxKind.None ? "@" + s : s;
    }

    /// <summary>A C# identifier for a name: keywords escaped with '@', other characters replaced by '_'.</summary>
    public static string Identifier(string name)
    {
        if (SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None) return "@" + name;
        if (SyntaxFacts.IsValidIdentifier(name)) return name;
        var text = new StringBuilder();
        foreach (var c in name) text.Append(SyntaxFacts.IsIdentifierPartCharacter(c) ? c : '_');
        if (text.Length == 0 || !SyntaxFacts.IsIdentifierStartCharacter(text[0])) text.Insert(0, '_');
        return text.ToString();
    }
}
