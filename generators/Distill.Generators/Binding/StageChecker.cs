using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Distill.Generators.Model;
using static Distill.Generators.Diagnostics.DiagnosticDescriptors;

namespace Distill.Generators.Binding;

/// <summary>
/// Checks across all experiments of a project (both front ends): unique names (DSL032), no cycle of <c>from:</c>
/// dependencies (DSL031), and generated classes whose file names do not collide (DSL043: names differing only in
/// case, or in '-' against '_', map to one class or to file names that differ only in case, which the compiler
/// refuses). Each reported experiment is blocked: it emits nothing, and the others keep their code. Of two
/// experiments that collide the first by path keeps its name and the later is reported.
/// </summary>
internal static class StageChecker
{
    /// <summary>The diagnostics, and the keys (<see cref="ExperimentGenerator.StageInfo.Key"/>) of the experiments that must emit nothing.</summary>
    internal sealed record Result(EquatableArray<DiagnosticInfo> Diagnostics, EquatableArray<string> Blocked);

    public static Result Check(ImmutableArray<ExperimentGenerator.StageInfo> all)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var blocked = new SortedSet<string>(StringComparer.Ordinal);
        var ordered = all.OrderBy(e => e.Location.FilePath, StringComparer.Ordinal).ThenBy(e => e.Location.Start).ThenBy(e => e.Key, StringComparer.Ordinal).ToList();

        var byName = new Dictionary<string, ExperimentGenerator.StageInfo>(StringComparer.Ordinal);
        foreach (var e in ordered)
        {
            if (byName.TryGetValue(e.Name, out var first))
            {
                diagnostics.Add(DiagnosticInfo.Create(DuplicateExperiment, e.Location, e.Name, first.Location.ToString()));
                blocked.Add(e.Key);
                continue;
            }
            byName[e.Name] = e;
        }

        // File names are compared ignoring case (as the compiler compares the names of generated files).
        var byStem = new Dictionary<string, ExperimentGenerator.StageInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (var e in ordered)
        {
            if (blocked.Contains(e.Key)) continue;
            if (byStem.TryGetValue(e.HintStem, out var first))
            {
                diagnostics.Add(DiagnosticInfo.Create(ExperimentClassCollision, e.Location, e.Name, e.ClassName, first.Name, first.ClassName, first.Location.ToString()));
                blocked.Add(e.Key);
                continue;
            }
            byStem[e.HintStem] = e;
        }

        foreach (var e in byName.Values)
        {
            var path = FindCycle(e.Name, byName);
            if (path is null) continue;
            diagnostics.Add(DiagnosticInfo.Create(StageCycle, e.Location, e.Name, string.Join(" → ", path)));
            blocked.Add(e.Key);
        }
        return new Result(diagnostics.ToEquatableArray(), blocked.ToEquatableArray());
    }

    /// <summary>The chain of experiments from <paramref name="start"/> back to itself, or null (iterative: any depth).</summary>
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
