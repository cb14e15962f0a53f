using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>One test per binder diagnostic: id, exact line/column, message. Models and data sets come from the test zoo, losses from the real library.</summary>
public class BinderDiagnosticsTests
{
    private const string Valid = """
        name: kd-test
        data:
          train: { dataset: SyntheticImages, args: { classes: 100, samples: 2000 } }
          batch: 64
        teacher: { model: CifarResNet, args: { depth: 56, classes: 100, width: 4 } }
        student: { model: CifarResNet, args: { depth: 20, classes: 100 }, taps: [logits] }
        adapters:
          hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3 }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label, weight: 0.1 }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.9 }
          fit: { loss: fitnet_mse, student: hint, teacher: teacher.stage3, weight: 1 }
        optimizer: { sgd: { lr: 0.05, momentum: 0.9 } }
        schedule: { epochs: 240, multistep: { milestones: [150, 180, 210], gamma: 0.1 } }
        """;

    private static Diagnostic Only(string yaml, string id, int line, int column, string message)
    {
        var all = GeneratorHarness.Diagnose(yaml);
        var d = Assert.Single(all);
        Assert.Equal(id, d.Id);
        Check(d, line, column, message);
        return d;
    }

    /// <summary>The diagnostic with this id among others that the same edit causes (e.g. an adapter left unused).</summary>
    private static Diagnostic Among(string yaml, string id, int line, int column, string message)
    {
        var d = Assert.Single(GeneratorHarness.Diagnose(yaml), x => x.Id == id);
        Check(d, line, column, message);
        return d;
    }

    private static void Check(Diagnostic d, int line, int column, string message)
    {
        var span = d.Location.GetLineSpan();
        Assert.Equal(message, d.GetMessage());
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
    }

    [Fact]
    public void The_valid_experiment_binds_without_diagnostics()
    {
        var result = GeneratorHarness.Run(new[] { ("kd.distill.yaml", Valid) });
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Single(result.Run.GeneratedTrees);
    }

    [Fact]
    public void DSL010_unknown_model_type() =>
        Only(Valid.Replace("student: { model: CifarResNet", "student: { model: CifarResNt"), "DSL010", 6, 19,
            "Unknown model type 'CifarResNt' (did you mean 'CifarResNet'?); available models: CifarResNet, TinyNet");

    [Fact]
    public void DSL011_unknown_model_argument()
    {
        var all = GeneratorHarness.Diagnose(Valid.Replace("depth: 20", "depth: 20, widht: 2"));
        Check(Assert.Single(all), 6, 51, "model CifarResNet has no constructor parameter 'widht' (did you mean 'width'?); its parameters are: depth, classes, width");
    }

    [Fact]
    public void DSL012_ill_typed_model_argument() =>
        Only(Valid.Replace("depth: 20", "depth: twenty"), "DSL012", 6, 47,
            "'depth' of model CifarResNet is the text 'twenty', but the parameter is of type int");

    [Fact]
    public void DSL013_missing_constructor_argument() =>
        Only(Valid.Replace("args: { depth: 20, classes: 100 }", "args: { classes: 100 }"), "DSL013", 6, 19,
            "model CifarResNet needs the argument 'depth' (int): add it under args");

    [Fact]
    public void DSL014_unknown_tap_lists_the_available_ones() =>
        Only(Valid.Replace("student: student.logits, teacher", "student: student.logit, teacher"), "DSL014", 11, 35,
            "student (CifarResNet) has no tap 'logit' (did you mean 'logits'?); available taps: stem, stage1, stage2, stage3, pooled, logits");

    [Fact]
    public void DSL015_unknown_loss() =>
        Assert.Contains("Unknown loss 'hinton_k' (did you mean 'hinton_kd'?); available losses: ",
            Only2(Valid.Replace("loss: hinton_kd", "loss: hinton_k"), "DSL015", 11, 15).GetMessage());

    private static Diagnostic Only2(string yaml, string id, int line, int column)
    {
        var d = Assert.Single(GeneratorHarness.Diagnose(yaml));
        Assert.Equal(id, d.Id);
        var span = d.Location.GetLineSpan();
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
        return d;
    }

    [Fact]
    public void DSL016_unknown_loss_argument() =>
        Only(Valid.Replace("temperature: 4", "temprature: 4"), "DSL016", 11, 76,
            "Loss 'hinton_kd' has no input or hyper-parameter 'temprature' (did you mean 'temperature'?); inputs: student, teacher; hyper-parameters: temperature");

    [Fact]
    public void DSL017_missing_loss_input() =>
        Only(Valid.Replace("teacher: teacher.logits, ", ""), "DSL017", 11, 15,
            "Loss term 'kd' (hinton_kd) needs the input 'teacher' (Teacher logits), e.g. teacher: teacher.logits");

    [Fact]
    public void DSL018_features_where_logits_are_expected() =>
        Only(Valid.Replace("student: student.logits, teacher: teacher.logits", "student: student.stage3, teacher: teacher.logits"), "DSL018", 11, 35,
            "Input 'student' of 'hinton_kd' expects student logits, but student.stage3 is student a feature map");

    [Fact]
    public void DSL018_a_teacher_tap_where_the_student_is_expected() =>
        Only(Valid.Replace("student: student.logits, teacher: teacher.logits", "student: teacher.logits, teacher: teacher.logits"), "DSL018", 11, 35,
            "Input 'student' of 'hinton_kd' expects student logits, but teacher.logits is teacher logits");

    [Fact]
    public void DSL019_temperature_out_of_range() =>
        Only(Valid.Replace("temperature: 4", "temperature: 0"), "DSL019", 11, 89,
            "'temperature' of loss 'hinton_kd' must be in (0, inf), but is 0");

    [Fact]
    public void DSL019_label_smoothing_out_of_range() =>
        Only(Valid.Replace("target: batch.label, weight: 0.1", "target: batch.label, label_smoothing: 1.5, weight: 0.1"), "DSL019", 10, 91,
            "'label_smoothing' of loss 'cross_entropy' must be in [0, 1], but is 1.5");

    [Fact]
    public void DSL020_class_count_mismatch() =>
        Only(Valid.Replace("depth: 56, classes: 100", "depth: 56, classes: 10"), "DSL020", 11, 60,
            "Loss term 'kd': student.logits has 100 classes but teacher.logits has 10; give both models the same number of classes");

    [Fact]
    public void DSL021_channel_mismatch_names_the_adapter_that_fixes_it()
    {
        var d = Among(Valid.Replace("student: hint, teacher: teacher.stage3", "student: student.stage3, teacher: teacher.stage3"), "DSL021", 12, 62,
            "Loss term 'fit': student.stage3 has 64 channels but teacher.stage3 has 256; add an adapter 64→256, e.g. adapters: { fit_adapter: { kind: conv1x1, from: student.stage3, to: teacher.stage3 } } and use fit_adapter as the input");
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
    }

    [Fact]
    public void DSL022_spatial_size_mismatch() =>
        Among(Valid.Replace("fit: { loss: fitnet_mse, student: hint, teacher: teacher.stage3", "fit: { loss: attention_transfer, student: student.stage3, teacher: teacher.stage2"), "DSL022", 12, 70,
            "Loss term 'fit': student.stage3 is 8×8 but teacher.stage2 is 16×16; read taps of the same resolution");

    [Fact]
    public void DSL023_negative_weight() =>
        Only(Valid.Replace("weight: 0.9", "weight: -0.9"), "DSL023", 11, 100,
            "Loss term 'kd' has the negative weight -0.9; weights must be >= 0");

    [Fact]
    public void DSL024_no_term_reaches_the_student() =>
        Only(Valid.Replace("weight: 0.1", "weight: 0").Replace("weight: 0.9", "weight: 0").Replace("weight: 1 }", "weight: 0 }"), "DSL024", 1, 7,
            "No loss term with a positive weight reads the student: the student would not learn");

    [Fact]
    public void DSL025_unknown_model_in_a_reference() =>
        Only(Valid.Replace("teacher: teacher.logits, temperature", "teacher: teachr.logits, temperature"), "DSL025", 11, 60,
            "'teachr.logits' names no model, adapter or batch: known names are teacher, student, hint, batch (did you mean 'teacher'?)");

    [Fact]
    public void DSL026_a_batch_field_the_data_set_does_not_provide() =>
        Only(Valid.Replace("target: batch.label", "target: batch.boxes"), "DSL026", 10, 61,
            "Loss term 'ce' reads batch.boxes, but data set SyntheticImages provides only: image, label");

    [Fact]
    public void DSL027_unknown_data_set() =>
        Only(Valid.Replace("dataset: SyntheticImages", "dataset: SynthImages"), "DSL027", 3, 21,
            "Unknown data set 'SynthImages' (did you mean 'SyntheticImages'?); available data sets: SyntheticImages");

    [Fact]
    public void DSL028_data_set_classes_disagree_with_the_student() =>
        Only(Valid.Replace("args: { classes: 100, samples: 2000 }", "args: { classes: 10, samples: 2000 }"), "DSL028", 3, 21,
            "Data set SyntheticImages has 10 classes but the student (CifarResNet) expects 100 classes");

    [Fact]
    public void DSL028_data_set_channels_disagree_with_the_student() =>
        Only(Valid.Replace("args: { classes: 100, samples: 2000 }", "args: { classes: 100, samples: 2000, channels: 1 }"), "DSL028", 3, 21,
            "Data set SyntheticImages has 1 image channels but the student (CifarResNet) expects 3 channels");

    [Fact]
    public void DSL029_an_unused_adapter_is_a_warning()
    {
        var d = Only(Valid.Replace("  fit: { loss: fitnet_mse, student: hint, teacher: teacher.stage3, weight: 1 }\n", ""), "DSL029", 8, 9,
            "Adapter 'hint' is declared but no loss term uses it");
        Assert.Equal(DiagnosticSeverity.Warning, d.Severity);
    }

    [Fact]
    public void DSL029_an_unused_tap_is_a_warning() =>
        Only(Valid.Replace("taps: [logits]", "taps: [logits, pooled]"), "DSL029", 6, 82,
            "Tap 'student.pooled' is declared but no loss term uses it");

    [Fact]
    public void DSL030_a_milestone_beyond_the_epochs() =>
        Only(Valid.Replace("[150, 180, 210]", "[150, 180, 250]"), "DSL030", 14, 62,
            "The milestone 250 is not before the last epoch (240 epochs): it would never apply");

    [Fact]
    public void DSL031_a_stage_dependency_cycle()
    {
        var a = Valid.Replace("name: kd-test", "name: stage-a").Replace("width: 4 } }", "width: 4 }, from: stage-b }");
        var b = Valid.Replace("name: kd-test", "name: stage-b").Replace("width: 4 } }", "width: 4 }, from: stage-a }");
        var result = GeneratorHarness.Run(new[] { ("a.distill.yaml", a), ("b.distill.yaml", b) });
        var cycles = result.GeneratorDiagnostics.Where(d => d.Id == "DSL031").OrderBy(d => d.Location.GetLineSpan().Path).ToList();
        Assert.Equal(2, cycles.Count);
        Assert.Equal("Experiment 'stage-a' depends on itself through teachers trained by: stage-b → stage-a", cycles[0].GetMessage());
        Assert.Equal((0, 6), (cycles[0].Location.GetLineSpan().StartLinePosition.Line, cycles[0].Location.GetLineSpan().StartLinePosition.Character));
    }

    [Fact]
    public void DSL032_duplicate_experiment_names()
    {
        var result = GeneratorHarness.Run(new[] { ("a.distill.yaml", Valid), ("b.distill.yaml", Valid) });
        var d = Assert.Single(result.GeneratorDiagnostics, x => x.Id == "DSL032");
        Assert.Equal("b.distill.yaml", d.Location.GetLineSpan().Path);
        Assert.Equal("Another experiment is also named 'kd-test' (a.distill.yaml(1,7)); experiment names must be unique", d.GetMessage());
    }

    /// <summary>A face model whose margin logits need the labels, an unlabelled data set, and a data set of verification pairs.</summary>
    private const string FaceZoo = """
        using Distill.Metadata;
        namespace Distill.Data { public interface IVerificationPairs { } }
        namespace FaceZoo
        {
            [DistillModel(Task = "face")]
            [Tap("embedding", TensorKind.Embedding, "N, embedding")]
            [Tap("logits", TensorKind.Logits, "N, classes")]
            [Tap("margin_logits", TensorKind.Logits, "N, classes", Needs = "label")]
            public sealed class FaceNet { public FaceNet(int classes = 100, int embedding = 64) { } }

            [DistillDataset]
            [BatchField("image", TensorKind.FeatureMap, "N, 3, size, size")]
            public sealed class UnlabelledImages { public UnlabelledImages(int size = 32) { } }

            [DistillDataset]
            [BatchField("image", TensorKind.FeatureMap, "N, 3, size, size")]
            [BatchField("label", TensorKind.Labels, "N", Classes = "identities")]
            public sealed class FacePairs : Distill.Data.IVerificationPairs { public FacePairs(int identities = 100, int size = 32) { } }
        }
        """;

    private const string Face = """
        name: face-test
        data:
          train: { dataset: FacePairs, args: { identities: 100 } }
          val: { dataset: FacePairs, args: { identities: 20 } }
          batch: 64
        teacher: { model: FaceNet, args: { classes: 100 } }
        student: { model: FaceNet, args: { classes: 100 } }
        losses:
          ce: { loss: cross_entropy, input: student.margin_logits, target: batch.label }
          kd: { loss: hinton_kd, student: student.margin_logits, teacher: teacher.margin_logits, temperature: 4 }
        eval: { flip: true }
        """;

    private static ImmutableArray<Diagnostic> DiagnoseFace(string yaml) =>
        GeneratorHarness.Run(new[] { ("experiments/face.distill.yaml", yaml) }, FaceZoo).GeneratorDiagnostics;

    [Fact]
    public void The_face_experiment_binds_without_diagnostics() => Assert.Empty(DiagnoseFace(Face));

    [Fact]
    public void DSL039_a_tap_that_needs_labels_the_data_set_lacks()
    {
        var yaml = Face.Replace("train: { dataset: FacePairs, args: { identities: 100 } }", "train: { dataset: UnlabelledImages }")
            .Replace("  ce: { loss: cross_entropy, input: student.margin_logits, target: batch.label }\n", "");
        var all = DiagnoseFace(yaml).OrderBy(d => d.Location.SourceSpan.Start).ToList();
        Assert.Equal(new[] { "DSL039", "DSL039" }, all.Select(d => d.Id));
        Check(all[1], 9, 67, "Tap teacher.margin_logits of FaceNet needs batch.label besides the image (its forward pass reads it), but data set UnlabelledImages provides only: image");
        Check(all[0], 9, 35, "Tap student.margin_logits of FaceNet needs batch.label besides the image (its forward pass reads it), but data set UnlabelledImages provides only: image");
    }

    [Fact]
    public void DSL040_verification_pairs_need_a_student_embedding()
    {
        var zoo = FaceZoo.Replace("[Tap(\"embedding\", TensorKind.Embedding, \"N, embedding\")]", "");
        var d = Assert.Single(GeneratorHarness.Run(new[] { ("experiments/face.distill.yaml", Face) }, zoo).GeneratorDiagnostics);
        Assert.Equal("DSL040", d.Id);
        Check(d, 4, 19, "Validation data set FacePairs lists verification pairs, but the student FaceNet has no embedding tap to compare them with (taps: logits, margin_logits)");
    }
}
