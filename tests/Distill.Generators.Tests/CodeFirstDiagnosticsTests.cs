using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>
/// Diagnostics of code-first experiments: the C# compiler checks the typed helpers (unknown taps, wrong
/// kinds), the binder's diagnostics land on the attribute or call argument, and the attribute front end's
/// own diagnostics (DSL033-037) say how to write what the generator reads.
/// </summary>
public class CodeFirstDiagnosticsTests
{
    private const string Valid = CodeFirstSources.KdClass;
    private const string Path = "Source1.cs";

    private static GeneratorHarness.Result Run(params string[] sources) => GeneratorHarness.Run(Array.Empty<(string, string)>(), sources);

    private static ImmutableArray<Diagnostic> Diagnose(string source) =>
        Run(source).GeneratorDiagnostics.OrderBy(d => d.Location.SourceSpan.Start).ThenBy(d => d.Id).ToImmutableArray();

    /// <summary>Where <paramref name="inner"/> sits inside the first <paramref name="context"/> of the source.</summary>
    private static (int Start, int Length) Span(string source, string context, string? inner = null)
    {
        var at = source.IndexOf(context, StringComparison.Ordinal);
        Assert.True(at >= 0, $"'{context}' is not in the source");
        if (inner is null) return (at, context.Length);
        var offset = context.IndexOf(inner, StringComparison.Ordinal);
        Assert.True(offset >= 0, $"'{inner}' is not in '{context}'");
        return (at + offset, inner.Length);
    }

    private static void AssertAt(Diagnostic d, string source, string context, string? inner = null)
    {
        Assert.Equal(Path, d.Location.GetLineSpan().Path);
        var (start, length) = Span(source, context, inner);
        Assert.Equal((start, length), (d.Location.SourceSpan.Start, d.Location.SourceSpan.Length));
    }

    /// <summary>The only generator diagnostic: id, message, and the exact span of <paramref name="inner"/> within <paramref name="context"/>.</summary>
    private static Diagnostic Only(string source, string id, string message, string context, string? inner = null)
    {
        var d = Assert.Single(Diagnose(source));
        Assert.Equal(id, d.Id);
        Assert.Equal(message, d.GetMessage());
        AssertAt(d, source, context, inner);
        return d;
    }

    /// <summary>The diagnostic with this id among others the same edit causes.</summary>
    private static Diagnostic Among(string source, string id, string message, string context, string? inner = null)
    {
        var d = Assert.Single(Diagnose(source), x => x.Id == id);
        Assert.Equal(message, d.GetMessage());
        AssertAt(d, source, context, inner);
        return d;
    }

    private static string Edit(string from, string to)
    {
        Assert.Contains(from, Valid);
        return Valid.Replace(from, to);
    }

    [Fact]
    public void The_valid_class_has_no_diagnostics_and_compiles()
    {
        var result = Run(Valid);
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
    }

    // ---- what the C# compiler checks through the generated helpers ----------------------------------

    [Fact]
    public void An_unknown_tap_is_a_CSharp_error_CS0117_and_the_binder_lists_the_taps()
    {
        var source = Edit("Loss.hinton_kd(Taps.Student.logits", "Loss.hinton_kd(Taps.Student.logit");
        var result = Run(source);
        var error = Assert.Single(result.Errors);
        Assert.Equal("CS0117", error.Id);
        Assert.Equal("'KdTest.Taps.Student' does not contain a definition for 'logit'", error.GetMessage());
        AssertAt(error, source, "Loss.hinton_kd(Taps.Student.logit", "logit");
        Among(source, "DSL014",
            "student (CifarResNet) has no tap 'logit' (did you mean 'logits'?); available taps: stem, stage1, stage2, stage3, pooled, logits",
            "Loss.hinton_kd(Taps.Student.logit", "Taps.Student.logit");
    }

    [Fact]
    public void Features_where_logits_are_expected_is_a_CSharp_type_error()
    {
        var source = Edit("Loss.hinton_kd(Taps.Student.logits", "Loss.hinton_kd(Taps.Student.stage3");
        var result = Run(source);
        var error = Assert.Single(result.Errors);
        Assert.Equal("CS1503", error.Id);
        Assert.Equal("Argument 1: cannot convert from 'Distill.Runtime.TapRef<Distill.Runtime.FeatureMap>' to 'Distill.Runtime.TapRef<Distill.Runtime.Logits>'", error.GetMessage());
        AssertAt(error, source, "Loss.hinton_kd(Taps.Student.stage3", "Taps.Student.stage3");
        Among(source, "DSL018", "Input 'student' of 'hinton_kd' expects student logits, but student.stage3 is student a feature map",
            "Loss.hinton_kd(Taps.Student.stage3", "Taps.Student.stage3");
    }

    [Fact]
    public void An_unknown_loss_is_a_CSharp_error_and_DSL015()
    {
        var source = Edit("Loss.hinton_kd(", "Loss.hinton_k(");
        Assert.Equal("CS0117", Assert.Single(Run(source).Errors).Id);
        var d = Assert.Single(Diagnose(source));
        Assert.Equal("DSL015", d.Id);
        Assert.StartsWith("Unknown loss 'hinton_k' (did you mean 'hinton_kd'?); available losses: ", d.GetMessage());
        AssertAt(d, source, "Loss.hinton_k(", "hinton_k");
    }

    [Fact]
    public void An_unknown_loss_argument_is_a_CSharp_error_and_DSL016_at_its_name()
    {
        var source = Edit("temperature: 4", "temprature: 4");
        Assert.Equal("CS1739", Assert.Single(Run(source).Errors).Id);
        Only(source, "DSL016",
            "Loss 'hinton_kd' has no input or hyper-parameter 'temprature' (did you mean 'temperature'?); inputs: student, teacher; hyper-parameters: temperature",
            "temprature: 4", "temprature");
    }

    // ---- binder diagnostics on attribute and call arguments -----------------------------------------

    [Fact]
    public void DSL018_a_teacher_tap_for_the_student_compiles_but_the_binder_rejects_it()
    {
        var source = Edit("Loss.hinton_kd(Taps.Student.logits", "Loss.hinton_kd(Taps.Teacher.logits");
        Assert.Empty(Run(source).Errors);
        Only(source, "DSL018", "Input 'student' of 'hinton_kd' expects student logits, but teacher.logits is teacher logits",
            "Loss.hinton_kd(Taps.Teacher.logits", "Taps.Teacher.logits");
    }

    [Fact]
    public void DSL019_temperature_zero_at_the_call_argument() =>
        Only(Edit("temperature: 4", "temperature: 0"), "DSL019", "'temperature' of loss 'hinton_kd' must be in (0, inf), but is 0",
            "temperature: 0", "0");

    [Fact]
    public void DSL019_a_positional_hyper_parameter_out_of_range() =>
        Only(Edit("Loss.cross_entropy(Taps.Student.logits, Batch.label)", "Loss.cross_entropy(Taps.Student.logits, Batch.label, 1.5)"), "DSL019",
            "'label_smoothing' of loss 'cross_entropy' must be in [0, 1], but is 1.5", "Batch.label, 1.5", "1.5");

    [Fact]
    public void DSL020_class_count_mismatch_at_the_teacher_argument() =>
        Only(Edit("new(depth: 56, classes: 100, width: 4)", "new(depth: 56, classes: 10, width: 4)"), "DSL020",
            "Loss term 'kd': student.logits has 100 classes but teacher.logits has 10; give both models the same number of classes",
            "Taps.Student.logits, Taps.Teacher.logits, temperature", "Taps.Teacher.logits");

    [Fact]
    public void DSL021_channel_mismatch_suggests_an_adapter_member()
    {
        var source = Edit("Loss.fitnet_mse(Hint, Taps.Teacher.stage3)", "Loss.fitnet_mse(Taps.Student.stage3, Taps.Teacher.stage3)");
        Among(source, "DSL021",
            "Loss term 'fit': student.stage3 has 64 channels but teacher.stage3 has 256; add an adapter 64→256, e.g. [Adapter] TapRef<FeatureMap> FitAdapter => Adapter.Conv1x1(Taps.Student.stage3, Taps.Teacher.stage3); and use FitAdapter as the input",
            "Loss.fitnet_mse(Taps.Student.stage3, Taps.Teacher.stage3)", "Taps.Teacher.stage3");
        // The adapter the term no longer reads is reported on its member.
        var unused = Among(source, "DSL029", "Adapter 'hint' is declared but no loss term uses it", "TapRef<FeatureMap> Hint", "Hint");
        Assert.Equal(DiagnosticSeverity.Warning, unused.Severity);
    }

    [Fact]
    public void DSL023_negative_weight_at_the_attribute_argument() =>
        Only(Edit("[Loss(Weight = 0.9, ", "[Loss(Weight = -0.9, "), "DSL023", "Loss term 'kd' has the negative weight -0.9; weights must be >= 0",
            "Weight = -0.9", "-0.9");

    [Fact]
    public void DSL024_no_term_reaches_the_student_at_the_experiment_name() =>
        Only(Valid.Replace("Weight = 0.1", "Weight = 0").Replace("Weight = 0.9", "Weight = 0").Replace("Weight = 1)", "Weight = 0)"), "DSL024",
            "No loss term with a positive weight reads the student: the student would not learn", "[Experiment(\"kd-test\"", "\"kd-test\"");

    [Fact]
    public void DSL025_an_unknown_model_in_Taps_is_a_CSharp_error_and_DSL025()
    {
        var source = Edit("Taps.Teacher.logits, temperature", "Taps.Teachr.logits, temperature");
        Assert.Equal("CS0117", Assert.Single(Run(source).Errors).Id);
        Only(source, "DSL025",
            "'teachr.logits' names no model, adapter or batch: known names are teacher, student, hint, batch (did you mean 'teacher'?)",
            "Taps.Teachr.logits");
    }

    [Fact]
    public void DSL028_data_set_classes_disagree_with_the_student_at_its_constructor() =>
        Only(Edit("new(classes: 100, samples: 2000)", "new(classes: 10, samples: 2000)"), "DSL028",
            "Data set SyntheticImages has 10 classes but the student (CifarResNet) expects 100 classes", "new(classes: 10, samples: 2000)");

    [Fact]
    public void DSL030_a_milestone_beyond_the_epochs_at_the_array_element() =>
        Only(Edit("new[] { 150, 180, 210 }", "new[] { 150, 180, 250 }"), "DSL030",
            "The milestone 250 is not before the last epoch (240 epochs): it would never apply", "new[] { 150, 180, 250 }", "250");

    [Fact]
    public void DSL013_a_missing_constructor_argument_is_also_a_CSharp_error()
    {
        var source = Edit("new(20, 100)", "new(classes: 100)");
        Assert.Equal("CS7036", Assert.Single(Run(source).Errors).Id);
        Only(source, "DSL013", "model CifarResNet needs the argument 'depth' (int): add depth: <value> to the constructor call", "new(classes: 100)");
    }

    [Fact]
    public void DSL031_and_DSL032_span_both_front_ends()
    {
        var yaml = CodeFirstSources.KdYaml.Replace("name: kd-test", "name: teacher-run").Replace("from: teacher-run", "from: kd-test");
        var cycle = GeneratorHarness.Run(new[] { ("teacher.distill.yaml", yaml) }, Valid);
        var d = Assert.Single(cycle.GeneratorDiagnostics, x => x.Id == "DSL031" && x.Location.GetLineSpan().Path == Path);
        Assert.Equal("Experiment 'kd-test' depends on itself through teachers trained by: teacher-run → kd-test", d.GetMessage());
        AssertAt(d, Valid, "[Experiment(\"kd-test\"", "\"kd-test\"");

        var duplicate = GeneratorHarness.Run(new[] { ("a.distill.yaml", CodeFirstSources.KdYaml) }, Valid);
        var dup = Assert.Single(duplicate.GeneratorDiagnostics, x => x.Id == "DSL032");
        Assert.Equal("Another experiment is also named 'kd-test' (Source1.cs(7,13)); experiment names must be unique", dup.GetMessage());
        Assert.Equal("a.distill.yaml", dup.Location.GetLineSpan().Path);
    }

    // ---- reading the class ------------------------------------------------------------------------

    [Fact]
    public void DSL005_two_students() =>
        Only(Edit("[Student] CifarResNet Student { get; } = new(20, 100);", "[Student] CifarResNet Student { get; } = new(20, 100);\n    [Student] CifarResNet Other { get; } = new(20, 100);"),
            "DSL005", "Duplicate model 'student (an experiment trains one student)': names must be unique", "CifarResNet Other", "Other");

    [Fact]
    public void DSL005_two_optimizers() =>
        Only(Edit("[ParamGroup(", "[Adam(Lr = 1e-3)]\n[ParamGroup("), "DSL005", "Duplicate optimizer 'adam (an experiment has one optimizer)': names must be unique",
            "Adam(Lr = 1e-3)");

    [Fact]
    public void DSL005_a_checkpoint_and_a_producing_experiment() =>
        Only(Edit("[Teacher(From = \"teacher-run\")]", "[Teacher(From = \"teacher-run\", Checkpoint = \"t.safetensors\")]"), "DSL005",
            "Duplicate weight source 'From/Checkpoint': names must be unique", "Checkpoint = \"t.safetensors\"");

    [Fact]
    public void DSL006_invalid_experiment_name() =>
        Only(Edit("[Experiment(\"kd-test\"", "[Experiment(\"56 layers\""), "DSL006",
            "'56 layers' is not a valid experiment name: use letters, digits, '-' and '_', starting with a letter", "\"56 layers\"");

    [Fact]
    public void DSL004_a_batch_size_of_zero() =>
        Only(Edit("Batch = 64", "Batch = 0"), "DSL004", "'Batch' expects a positive batch size, but the value is the integer 0", "Batch = 0", "0");

    [Fact]
    public void DSL033_the_class_must_be_partial()
    {
        var source = Edit("public partial class KdTest", "public class KdTest");
        var result = Run(source);
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal("DSL033", d.Id);
        Assert.Equal("The [Experiment] class 'KdTest' must be a top-level, non-generic partial class: add the 'partial' modifier", d.GetMessage());
        AssertAt(d, source, "public class KdTest", "KdTest");
        // Nothing is added to a class that cannot receive it.
        Assert.DoesNotContain(result.Run.GeneratedTrees, t => t.FilePath.Contains("KdTest", StringComparison.Ordinal));
    }

    [Fact]
    public void DSL033_the_class_must_not_be_nested()
    {
        var source = Edit("[Experiment(", "public static partial class Outer\n{\n[Experiment(") + "\n}";
        var d = Assert.Single(Diagnose(source));
        Assert.Equal("DSL033", d.Id);
        Assert.Equal("The [Experiment] class 'KdTest' must be a top-level, non-generic partial class: move it out of 'Outer'", d.GetMessage());
    }

    [Fact]
    public void DSL033_the_class_must_not_be_generic() =>
        Assert.Equal("The [Experiment] class 'KdTest' must be a top-level, non-generic partial class: remove its type parameters",
            Assert.Single(Diagnose(Edit("public partial class KdTest", "public partial class KdTest<T>"))).GetMessage());

    [Fact]
    public void DSL034_a_missing_student() =>
        Among(Edit("[Student] CifarResNet Student { get; } = new(20, 100);", ""), "DSL034",
            "The experiment class 'KdTest' needs a [Student] member (the model being trained), e.g. [Student] CifarResNet Student { get; } = new(depth: 20, classes: 100);",
            "public partial class KdTest", "KdTest");

    [Fact]
    public void DSL034_no_loss_term()
    {
        var source = Valid.Split('\n').Where(l => !l.Contains("[Loss", StringComparison.Ordinal)).Aggregate((a, b) => a + "\n" + b);
        Among(source, "DSL034",
            "The experiment class 'KdTest' needs a [Loss] member (a weighted loss term), e.g. [Loss(Weight = 0.9)] LossTerm Kd => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4);",
            "public partial class KdTest", "KdTest");
    }

    [Fact]
    public void DSL034_train_data_without_a_batch_size() =>
        Only(Edit("[TrainData(Batch = 64)]", "[TrainData]"), "DSL034", "[TrainData] needs the batch size, e.g. [TrainData(Batch = 64)]", "[TrainData]", "TrainData");

    [Fact]
    public void DSL034_validation_data_without_training_data() =>
        Only(Edit("[TrainData(Batch = 64)] SyntheticImages TrainData { get; } = new(classes: 100, samples: 2000);", ""), "DSL034",
            "The experiment class 'KdTest' needs a [TrainData] member besides [ValData] (the training data), e.g. [TrainData(Batch = 64)] SyntheticImages TrainData { get; } = new(classes: 100);",
            "SyntheticImages ValData", "ValData");

    [Fact]
    public void DSL034_a_parameter_group_without_an_optimizer() =>
        Only(Edit("[Sgd(Lr = 0.05, Momentum = 0.9, WeightDecay = 5e-4)]\n", ""), "DSL034",
            "[ParamGroup] needs an optimizer attribute ([Sgd], [Adam] or [AdamW]), e.g. [Sgd(Lr = 0.05, Momentum = 0.9)]",
            "ParamGroup(\"adapters\", Lr = 0.1)");

    [Fact]
    public void DSL035_a_student_that_is_not_a_model() =>
        Among(Edit("[Student] CifarResNet Student { get; } = new(20, 100);", "[Student] SyntheticImages Student { get; } = new(classes: 100);"), "DSL035",
            "The [Student] member 'Student' has the type 'SyntheticImages', which is not a model: use a class marked [DistillModel]",
            "[Student] SyntheticImages Student", "SyntheticImages");

    [Fact]
    public void DSL036_a_loss_term_that_is_not_a_Loss_call()
    {
        var source = Edit("LossTerm Kd => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4);",
            "LossTerm Kd => Make();\n    static LossTerm Make() => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits);");
        Only(source, "DSL036",
            "The generator cannot read the loss term 'Kd': write it as a call Loss.<name>(...), e.g. => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4)",
            "LossTerm Kd => Make();", "Make()");
    }

    [Fact]
    public void DSL036_an_argument_that_is_not_a_constant()
    {
        var source = Edit("temperature: 4);", "temperature: T);\n    static double T = 4;");
        Only(source, "DSL036",
            "The generator cannot read 'T': a loss argument is a constant or a reference: Taps.<Model>.<tap>, Batch.<field> or an [Adapter] member",
            "temperature: T", "T");
    }

    [Fact]
    public void DSL036_a_model_without_an_initializer()
    {
        var source = Edit("[Student] CifarResNet Student { get; } = new(20, 100);", "[Student] CifarResNet Student { get; }");
        Among(source, "DSL036",
            "The generator cannot read the model 'Student': construct it in the property, e.g. { get; } = new(depth: 20, classes: 100)",
            "CifarResNet Student { get; }", "Student");
    }

    [Fact]
    public void DSL036_an_adapter_that_is_not_an_Adapter_call() =>
        Among(Edit("Adapter.Conv1x1(Taps.Student.stage3, Taps.Teacher.stage3)", "new TapRef<FeatureMap>(\"student.stage3\")"), "DSL036",
            "The generator cannot read the adapter 'Hint': write it as Adapter.Conv1x1(from, to), Adapter.Conv3x3(from, to) or Adapter.Linear(from, to), e.g. => Adapter.Conv1x1(Taps.Student.stage3, Taps.Teacher.stage3)",
            "new TapRef<FeatureMap>(\"student.stage3\")");

    [Fact]
    public void DSL038_a_member_named_like_the_generated_code()
    {
        var source = Edit("[Loss(Weight = 1)] LossTerm Fit", "string Paper => \"mine\";\n    [Loss(Weight = 1)] LossTerm Fit");
        var result = Run(source);
        Only(source, "DSL038", "The member 'Paper' has a name the generated code gives the class (ExperimentName, Paper, Configuration, Models, LossTerms, DependsOn, Seeds, Taps, Batch, LossBreakdown, ComputeLoss, LossSettings, Settings, DeclaredEpochs, DeclaredBatchSize, s_info, Info, RegisterExperiment, Run, Train, Evaluate, EvaluateTeachers, LoadWeights, CreateOptimizer, CreateScheduler, DisposeModules, ConfigureHooks, ValidationLoader): rename it",
            "string Paper", "Paper");
        // The experiment has an error, so no description clashes with the member; the helpers still compile.
        Assert.DoesNotContain(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("Lab.KdTest.Experiment.g.cs", StringComparison.Ordinal));
        Assert.Empty(result.Errors);
    }

    [Fact]
    public void DSL038_a_model_named_Taps_gets_no_Taps_helpers()
    {
        var source = Edit("[Student] CifarResNet Student { get; } = new(20, 100);", "[Student] CifarResNet Taps { get; } = new(20, 100);");
        var result = Run(source);
        Among(source, "DSL038", "The member 'Taps' has a name the generated code gives the class (ExperimentName, Paper, Configuration, Models, LossTerms, DependsOn, Seeds, Taps, Batch, LossBreakdown, ComputeLoss, LossSettings, Settings, DeclaredEpochs, DeclaredBatchSize, s_info, Info, RegisterExperiment, Run, Train, Evaluate, EvaluateTeachers, LoadWeights, CreateOptimizer, CreateScheduler, DisposeModules, ConfigureHooks, ValidationLoader): rename it",
            "CifarResNet Taps", "Taps");
        Assert.DoesNotContain(result.Errors, e => e.Location.SourceTree?.FilePath.StartsWith("Distill.Generators", StringComparison.Ordinal) == true);
    }

    [Fact]
    public void DSL042_a_member_named_like_an_adapter_module() =>
        Among(Edit("[Loss(Weight = 1)] LossTerm Fit", "int HintAdapter => 0;\n    [Loss(Weight = 1)] LossTerm Fit"), "DSL042",
            "Adapter 'hint' becomes the member HintAdapter in the generated code, which the class 'KdTest' already has: rename it",
            "TapRef<FeatureMap> Hint =>", "Hint");

    [Fact]
    public void DSL042_a_term_named_like_a_member_of_LossBreakdown() =>
        Only(Edit("LossTerm Fit =>", "LossTerm Total =>"), "DSL042",
            "Loss term 'total' becomes the property LossBreakdown.Total in the generated code, which LossBreakdown already has: rename it",
            "LossTerm Total =>", "Total");

    [Fact]
    public void DSL037_a_member_with_two_roles() =>
        Only(Edit("[Loss(Weight = 1)] LossTerm Fit", "[Loss(Weight = 1), Adapter] LossTerm Fit"), "DSL037",
            "The member 'Fit' is marked both [Loss] and [Adapter]: a member is one of a teacher, the student, an adapter, a loss term or data",
            "[Loss(Weight = 1), Adapter]", "Adapter");
}
