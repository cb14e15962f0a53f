using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Distill.Generators.Model;
using static Distill.Generators.Diagnostics.DiagnosticDescriptors;

namespace Distill.Generators.Binding;

/// <summary>Checks across all experiments of a project: unique names and no cycle of <c>from:</c> dependencies.</summary>
internal static class StageChecker
{
    public static IEnumerable<DiagnosticInfo> Check(ImmutableArray<ExperimentGenerator.StageInfo> all)
    {
        var byName = new Dictionary<string, ExperimentGenerator.StageInfo>(StringComparer.Ordinal);
        foreach (var e in all.OrderBy(e => e.Location.FilePath, StringComparer.Ordinal).ThenBy(e => e.Location.Start))
        {
            if (byName.TryGetValue(e.Name, out var first))
            {
                yield return DiagnosticInfo.Create(DuplicateExperiment, e.Location, e.Name, first.Location.ToString());
                continue;
            }
            byName[e.Name] = e;
        }
        foreach (var e in byName.Values)
        {
            var path = FindCycle(e.Name, byName);
            if (path is not null) yield return DiagnosticInfo.Create(StageCycle, e.Location, e.Name, string.Join(" → ", path));
        }
    }

    /// <summary>The chain of experiments from <paramref name="start"/> back to itself, or null.</summary>
    private static List<string>? FindCycle(string start, Dictionary<string, ExperimentGenerator.StageInfo> byName)
    {
        var stack = new Stack<(string Name, List<string> Path)>();
        stack.Push((start, new List<string>()));
        var visited = new HashSet<string>(StringComparer.Ordinal);
        while (stack.Count > 0)
        {
            var (name, path) = stack.Pop();
            if (!byName.TryGetValue(name, out var e)) continue;
            foreach (var dep in e.DependsOn)
            {
                var next = new List<string>(path) { dep };
                if (dep == start) return next;
                if (visited.Add(dep)) stack.Push((dep, next));
            }
        }
        return null;
    }
}
