using System;
using System.Collections.Generic;
using System.Linq;
using Distill.Generators.Model;

namespace Distill.Generators.Planning;

/// <summary>
/// Collects the values of the fused loss a run may override (each term's weight, each scalar hyper-parameter): the
/// <c>LossSettings</c> property that holds each one, and its entry in the experiment's table of settings (key, type,
/// declared value, the rule the binder checked it with). Settings that feed one shared quantity are tied.
/// </summary>
internal sealed class LossSettingsBuilder
{
    private readonly List<PlannedLossSetting> _settings = new();
    private readonly List<PlannedSetting> _table = new();
    private readonly Planner.Locals _properties = new(new[] { "Apply" }.Concat(GeneratedMembers.ObjectMembers));
    private readonly Dictionary<string, SortedSet<string>> _ties = new(StringComparer.Ordinal);

    /// <summary>The hyper-parameter types a run may override (others stay literals of the call).</summary>
    public static bool IsScalar(string type) => type is "double" or "float" or "int" or "long" or "bool";

    /// <summary>A term's weight: a number >= 0.</summary>
    public string AddWeight(string term, string property, double weight) =>
        Add($"losses.{term}.weight", property, "double", CSharpLiteral.Literal(weight), SettingRules.TermWeight, $"the weight of loss term '{term}'");

    /// <summary>A hyper-parameter of a term, with the loss's declared range.</summary>
    public string AddHyperParameter(string term, string property, HyperParameterInfo hyper, string literal)
    {
        var type = hyper.Type switch
        {
            "bool" => SettingType.Bool,
            "int" or "long" => SettingType.WholeNumber,
            _ => SettingType.Number,
        };
        var min = hyper.Min;
        var max = hyper.Max;
        if (hyper.Type == "int")
        {
            if (double.IsNaN(min) || min < int.MinValue) min = int.MinValue;
            if (double.IsNaN(max) || max > int.MaxValue) max = int.MaxValue;
        }
        var rule = new SettingRule(hyper.Name, type, min, max, hyper.MinExclusive, hyper.MaxExclusive);
        return Add($"losses.{term}.args.{hyper.Name}", property, hyper.Type, literal, rule, hyper.Description ?? $"'{hyper.Name}' of loss term '{term}'");
    }

    private string Add(string key, string property, string type, string literal, SettingRule rule, string meaning)
    {
        var name = _properties.Take(property);
        _settings.Add(new PlannedLossSetting(key, name, type, literal));
        _table.Add(new PlannedSetting(key, rule.Type, YamlValue(literal), meaning, rule.Min, rule.Max, rule.MinExclusive, rule.MaxExclusive));
        return name;
    }

    /// <summary>The setting a property holds.</summary>
    public PlannedLossSetting Find(string property) => _settings.First(s => s.Property == property);

    /// <summary>Ties the settings at the same positions of <paramref name="first"/> and <paramref name="second"/> (one quantity's values).</summary>
    public void Tie(IReadOnlyList<string> first, IReadOnlyList<string> second)
    {
        for (var i = 0; i < Math.Min(first.Count, second.Count); i++)
        {
            if (first[i] == second[i]) continue;
            var group = new SortedSet<string>(StringComparer.Ordinal) { first[i], second[i] };
            foreach (var key in group.ToList())
                if (_ties.TryGetValue(key, out var existing)) group.UnionWith(existing);
            foreach (var key in group) _ties[key] = group;
        }
    }

    public EquatableArray<PlannedLossSetting> Settings => _settings.ToEquatableArray();

    /// <summary>The table entries, each with the keys tied to it.</summary>
    public IEnumerable<PlannedSetting> Table() =>
        _table.Select(t => _ties.TryGetValue(t.Key, out var group) ? t with { TiedTo = group.Where(k => k != t.Key).ToEquatableArray() } : t);

    /// <summary>A C# literal as the experiment file writes the value (4.0 → 4.0, 3L → 3, 0.5f → 0.5).</summary>
    private static string YamlValue(string literal) => literal.TrimEnd('L', 'f');
}
