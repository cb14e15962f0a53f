using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Diagnostics;

/// <summary>
/// Every diagnostic the DSL reports. Ids are stable (DSL0xx); each message says what is wrong and how to
/// fix it; each has an entry in AnalyzerReleases.Unshipped.md and an example in docs/diagnostics.md.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "Distill.Experiment";
    private const string HelpBase = "docs/diagnostics.md#";

    private static DiagnosticDescriptor Error(string id, string title, string message, string description) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, description, HelpBase + id.ToLowerInvariant());

    private static DiagnosticDescriptor Warning(string id, string title, string message, string description) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true, description, HelpBase + id.ToLowerInvariant());

    // ---- reading the experiment (both front ends) ------------------------------------------------

    public static readonly DiagnosticDescriptor YamlSyntax = Error("DSL001", "YAML syntax error",
        "YAML syntax error: {0}",
        "The experiment file is not valid YAML. Fix the syntax at the reported position.");

    public static readonly DiagnosticDescriptor UnknownKey = Error("DSL002", "Unknown key",
        "Unknown key '{0}' in {1}{2}; expected one of: {3}",
        "Every key of an experiment has a meaning; an unknown key is never ignored (it is usually a typo).");

    public static readonly DiagnosticDescriptor MissingKey = Error("DSL003", "Missing required key",
        "{0} needs the key '{1}' ({2})",
        "A required part of the experiment is missing.");

    public static readonly DiagnosticDescriptor WrongValueType = Error("DSL004", "Value of the wrong type",
        "'{0}' expects {1}, but the value is {2}",
        "The value has the wrong YAML type (a list where a number is expected, text where a mapping is expected, ...).");

    public static readonly DiagnosticDescriptor DuplicateName = Error("DSL005", "Duplicate name",
        "Duplicate {0} '{1}': names must be unique",
        "Two keys, models, adapters or loss terms share a name.");

    public static readonly DiagnosticDescriptor InvalidName = Error("DSL006", "Invalid name",
        "'{0}' is not a valid {1} name: use letters, digits, '-' and '_', starting with a letter",
        "Names become C# identifiers and file names.");

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId =
        typeof(DiagnosticDescriptors).GetFields()
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToDictionary(d => d.Id);

    public static DiagnosticDescriptor ById(string id) => s_byId[id];

    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values.OrderBy(d => d.Id);
}
