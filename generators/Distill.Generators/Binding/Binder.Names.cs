using System.Collections.Generic;
using System.Linq;
using Distill.Generators.Model;
using static Distill.Generators.Diagnostics.DiagnosticDescriptors;

namespace Distill.Generators.Binding;

// Names of the experiment that become names in the generated code: a YAML experiment's teachers become properties of
// its class, adapters become <Name>Adapter properties (both front ends), and loss terms become properties of the
// nested LossBreakdown and keys of the logged metrics. Two names mapping to one member (teacher_a and teacher-a, ce and
// Ce), or a name mapping to a member the generated code already has (Evaluate, DependsOn, Total, Equals, ...), would
// make the generated code fail to compile or hide a member with a warning; each is reported at the name instead.
internal sealed partial class Binder
{
    private void CheckGeneratedNames()
    {
        var yaml = _spec.FrontEnd == FrontEnd.Yaml;
        var classMembers = new Dictionary<string, string>(System.StringComparer.Ordinal);
        foreach (var (name, owner) in yaml ? GeneratedMembers.OfYamlClass() : GeneratedMembers.OfCodeFirstClass())
            if (!classMembers.ContainsKey(name)) classMembers[name] = owner + " already has";
        classMembers[CSharpNames.Identifier(_spec.ClassName)] = "is the name of the class itself";

        if (yaml)
            foreach (var m in _spec.Models.Where(m => m.Role == ModelRole.Teacher))
                Claim(classMembers, m.Member, "Teacher", m.Name, $"the member {m.Member}", m.NameLocation ?? m.Location);
        foreach (var a in _spec.Adapters)
        {
            var property = CSharpNames.Pascal(a.Name) + "Adapter";
            Claim(classMembers, property, "Adapter", a.Name, $"the member {property}", a.NameLocation ?? a.Location);
        }

        var breakdown = new Dictionary<string, string>(System.StringComparer.Ordinal);
        foreach (var (name, owner) in GeneratedMembers.OfBreakdown())
            if (!breakdown.ContainsKey(name)) breakdown[name] = owner + " already has";
        breakdown["LossBreakdown"] = "is the name of the class itself";
        var metrics = new Dictionary<string, string>(System.StringComparer.Ordinal) { ["total"] = "the training loop logs already", ["lr"] = "the training loop logs already" };
        foreach (var t in _spec.Losses)
        {
            var property = CSharpNames.Pascal(t.Name);
            if (!Claim(breakdown, property, "Loss term", t.Name, $"the property LossBreakdown.{property}", t.NameLocation)) continue;
            if (t.Name.StartsWith("val_", System.StringComparison.Ordinal))
                Report(GeneratedNameCollision, t.NameLocation, "Loss term", t.Name, $"the metric '{t.Name}'", "is the prefix of the validation metrics");
            else Claim(metrics, t.Name, "Loss term", t.Name, $"the metric '{t.Name}'", t.NameLocation);
        }
    }

    /// <summary>Takes <paramref name="generated"/> for a name, or reports what already has it; returns whether it was free.</summary>
    private bool Claim(Dictionary<string, string> taken, string generated, string kind, string name, string what, LocationInfo at)
    {
        if (taken.TryGetValue(generated, out var owner))
        {
            Report(GeneratedNameCollision, at, kind, name, what, owner);
            return false;
        }
        taken[generated] = $"{kind.ToLowerInvariant()} '{name}' becomes too";
        return true;
    }
}
