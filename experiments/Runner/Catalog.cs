using System.Globalization;
using System.Text;

namespace Distill.Experiments.Runner;

/// <summary>
/// The experiments the runner knows, by name. The program passes the registry's; tests pass their own,
/// so the runner never depends on what happens to be registered in the process.
/// </summary>
public sealed class ExperimentCatalog
{
    private readonly Dictionary<string, ExperimentInfo> _byName;

    public ExperimentCatalog(IEnumerable<ExperimentInfo> experiments)
    {
        ArgumentNullException.ThrowIfNull(experiments);
        _byName = new Dictionary<string, ExperimentInfo>(StringComparer.Ordinal);
        foreach (var e in experiments)
            if (!_byName.TryAdd(e.Name, e) && !ReferenceEquals(_byName[e.Name], e))
                throw new ArgumentException($"two experiments are named '{e.Name}' ({_byName[e.Name].SourcePath} and {e.SourcePath})", nameof(experiments));
        All = _byName.Values.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
    }

    public IReadOnlyList<ExperimentInfo> All { get; }

    public ExperimentInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The named experiment; a <see cref="UsageException"/> with the closest names and the list when there is none.</summary>
    public ExperimentInfo Require(string name, string? command = null) =>
        Find(name) ?? throw new UsageException(UnknownMessage(name), command);

    public string UnknownMessage(string name)
    {
        if (All.Count == 0)
            return $"unknown experiment '{name}': no experiments are registered (add experiments/<suite>/*.distill.yaml or an [Experiment] class to the experiments project)";
        var names = All.Select(e => e.Name).ToList();
        return $"unknown experiment '{name}'.{Suggestions.DidYouMean(name, names)} Registered experiments: {string.Join(", ", names)}";
    }
}

/// <summary>How the runner writes an experiment's models and terms (list and describe share it).</summary>
public static class ExperimentText
{
    public static bool IsTeacher(ExperimentModel m) => m.Role.StartsWith("teacher", StringComparison.OrdinalIgnoreCase);

    public static bool IsStudent(ExperimentModel m) => m.Role.Equals("student", StringComparison.OrdinalIgnoreCase);

    /// <summary>"Type(args)", or "Type" without arguments.</summary>
    public static string Model(ExperimentModel m) =>
        string.IsNullOrWhiteSpace(m.Arguments) ? m.Type : $"{m.Type}({m.Arguments.Trim()})";

    /// <summary>"T1 + T2 → S" (other roles, such as adapters, follow in brackets).</summary>
    public static string ModelChain(ExperimentInfo info)
    {
        var teachers = info.Models.Where(IsTeacher).Select(Model).ToList();
        var students = info.Models.Where(IsStudent).Select(Model).ToList();
        var others = info.Models.Where(m => !IsTeacher(m) && !IsStudent(m)).Select(m => $"{m.Role} {Model(m)}").ToList();
        var sb = new StringBuilder();
        if (teachers.Count > 0) sb.Append(string.Join(" + ", teachers)).Append(" → ");
        sb.Append(students.Count > 0 ? string.Join(" + ", students) : "(no student)");
        if (others.Count > 0) sb.Append(" [").Append(string.Join(", ", others)).Append(']');
        return sb.ToString();
    }

    /// <summary>A weight as written: shortest round-trip form, invariant culture.</summary>
    public static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>"0.9 · hinton_kd(args)".</summary>
    public static string Term(ExperimentTerm t) =>
        $"{Number(t.Weight)} · {t.Loss}({t.Arguments.Trim()})";

    /// <summary>Where a model's weights come from, in words.</summary>
    public static string Weights(ExperimentInfo info, ExperimentModel m)
    {
        if (m.Weights is not { } w || string.IsNullOrWhiteSpace(w))
            return IsStudent(m) ? "trained by this experiment" : "initialised from the seed";
        var text = w.Trim();
        var bare = text.StartsWith("from:", StringComparison.Ordinal) ? text[5..].Trim() : text;
        return info.DependsOn.Contains(bare, StringComparer.Ordinal) ? $"from experiment '{bare}' (its best checkpoint)" : $"from {text}";
    }
}
