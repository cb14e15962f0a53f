using System.Collections.Generic;
using System.Linq;
using System.Reflection;

namespace Distill.Generators.Model;

/// <summary>
/// The member names the emitters give an experiment class and its nested <c>LossBreakdown</c>, besides the ones
/// named after the experiment's own teachers, adapters and terms: what a name of the experiment must not become.
/// Each list belongs to the emitter named; a test compiles a generated class with every feature and checks that
/// its members are exactly these plus the per-experiment ones, so a member added to an emitter cannot be
/// forgotten here. <see cref="ObjectMembers"/> are read from <see cref="object"/> itself.
/// </summary>
internal static class GeneratedMembers
{
    /// <summary>DescriptionEmitter: the description every experiment gets.</summary>
    public static readonly string[] Description = { "ExperimentName", "Paper", "Configuration", "Models", "LossTerms", "DependsOn", "Seeds" };

    /// <summary>LossEmitter: the fused loss (adapters are <c>&lt;Name&gt;Adapter</c>).</summary>
    public static readonly string[] Loss = { "LossBreakdown", "ComputeLoss", "LossSettings", "Settings" };

    /// <summary>TrainEmitter: the training loop and the runner's registration.</summary>
    public static readonly string[] Train =
    {
        "DeclaredEpochs", "DeclaredBatchSize", "s_info", "Info", "RegisterExperiment", "Run", "Train", "Evaluate", "EvaluateTeachers", "LoadWeights",
        "CreateOptimizer", "CreateScheduler", "DisposeModules", "ConfigureHooks", "ValidationLoader",
    };

    /// <summary>LossEmitter.EmitYamlMembers: a YAML experiment's data sets (its models are named after them).</summary>
    public static readonly string[] YamlData = { "TrainData", "ValData", "_trainData", "_valData" };

    /// <summary>DslHelpersEmitter: a code-first experiment's typed helpers.</summary>
    public static readonly string[] Helpers = { "Taps", "Batch" };

    /// <summary>LossEmitter: <c>LossBreakdown</c>'s members besides one property per term.</summary>
    public static readonly string[] Breakdown = { "Total", "Dispose" };

    /// <summary>
    /// Names the generated code uses unqualified in expressions inside the class, where a member of the class with one of
    /// these names would be found instead: none, as every type and namespace is written with <c>global::</c> (Emitting/KnownTypes.cs).
    /// </summary>
    public static readonly string[] UnqualifiedNames = System.Array.Empty<string>();

    /// <summary>
    /// What every class inherits from <see cref="object"/> (a member of the same name hides or clashes with it): its public and
    /// protected methods, as the runtime the compiler runs on has them.
    /// </summary>
    public static readonly string[] ObjectMembers =
        typeof(object).GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Where(m => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly)
            .Select(m => m.Name)
            .Distinct()
            .OrderBy(n => n, System.StringComparer.Ordinal)
            .ToArray();

    /// <summary>The names a code-first class's own members must not have (DSL038): what the generator adds to it.</summary>
    public static readonly string[] ForCodeFirst = Description.Concat(Helpers).Concat(Loss).Concat(Train).Concat(UnqualifiedNames).ToArray();

    /// <summary>Every fixed member of a generated YAML class, with the emitter that adds it.</summary>
    public static IEnumerable<(string Name, string Owner)> OfYamlClass() =>
        Description.Select(n => (n, "the experiment's description"))
            .Concat(Loss.Select(n => (n, "the fused loss")))
            .Concat(Train.Select(n => (n, "the training loop")))
            .Concat(YamlData.Select(n => (n, "the data sets")))
            .Concat(UnqualifiedNames.Select(n => (n, "the generated code names without qualification")))
            .Concat(ObjectMembers.Select(n => (n, "object")));

    /// <summary>Every fixed member of a code-first class's generated parts (its own members are the user's, checked by C#).</summary>
    public static IEnumerable<(string Name, string Owner)> OfCodeFirstClass() =>
        Description.Select(n => (n, "the experiment's description"))
            .Concat(Loss.Select(n => (n, "the fused loss")))
            .Concat(Train.Select(n => (n, "the training loop")))
            .Concat(Helpers.Select(n => (n, "the typed helpers")))
            .Concat(UnqualifiedNames.Select(n => (n, "the generated code names without qualification")));

    /// <summary>Every fixed member of <c>LossBreakdown</c>.</summary>
    public static IEnumerable<(string Name, string Owner)> OfBreakdown() =>
        Breakdown.Select(n => (n, "LossBreakdown")).Concat(ObjectMembers.Select(n => (n, "object")));
}
