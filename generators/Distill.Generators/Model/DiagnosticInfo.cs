using System.Linq;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Model;

/// <summary>A diagnostic as a plain value: the descriptor's id, where, and the message arguments.</summary>
internal sealed record DiagnosticInfo(string Id, LocationInfo? Location, EquatableArray<string> Arguments)
{
    /// <summary>The longest message argument kept whole (user text is shortened where it is quoted; this bounds everything else).</summary>
    private const int MaxArgument = 2000;

    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, LocationInfo? location, params string[] arguments) =>
        new(descriptor.Id, location, arguments.Select(a => a.Length > MaxArgument ? a.Substring(0, MaxArgument) + "…" : a).ToEquatableArray());

    public Diagnostic ToDiagnostic() =>
        Diagnostic.Create(Diagnostics.DiagnosticDescriptors.ById(Id), Location?.ToLocation() ?? Microsoft.CodeAnalysis.Location.None,
            System.Linq.Enumerable.ToArray<object>(Arguments));
}
