using System.Collections.Immutable;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>
/// The detection wiring the generator checks: per-level inputs of different lengths or strides (DSL047, DSL021, DSL022), a
/// detector on data without boxes (DSL048), per-RoI rows on different RoIs (DSL050) or not per RoI at all (DSL051), and
/// <c>model.tap@other.rois</c> references (DSL049). Models and data sets come from a test zoo, losses from the real library.
/// </summary>
public class DetectionDiagnosticsTests
{
    /// <summary>
    /// A detector in the shape of Distill.Detection's (FPN levels p2..p6 at strides 4..64 over the padded input, sampled RoIs,
    /// per-RoI taps, RoI head on given RoIs), a detection data set whose boxes are per image, and a classification one.
    /// </summary>
    private const string DetZoo = """
        using Distill.Metadata;
        namespace Distill.Data
        {
            public interface IBatch { }
            public interface IBatchDataset<TBatch> where TBatch : IBatch { }
        }
        namespace DetZoo
        {
            [DistillModel(Task = "detection")]
            [Tap("p2", TensorKind.FeatureMap, "N, channels, (H+3)/4, (W+3)/4")]
            [Tap("p3", TensorKind.FeatureMap, "N, channels, (H+7)/8, (W+7)/8")]
            [Tap("p4", TensorKind.FeatureMap, "N, channels, (H+15)/16, (W+15)/16")]
            [Tap("p5", TensorKind.FeatureMap, "N, channels, (H+31)/32, (W+31)/32")]
            [Tap("p6", TensorKind.FeatureMap, "N, channels, (H+63)/64, (W+63)/64")]
            [Tap("objectness_map", TensorKind.Mask, "N, (H+3)/4, (W+3)/4")]
            [Tap("sampled_rois", TensorKind.Boxes, "R, 5", Needs = "boxes,labels")]
            [Tap("roi_positive", TensorKind.Mask, "R", Needs = "boxes,labels", Rois = "sampled_rois")]
            [Tap("roi_labels", TensorKind.Labels, "R", Needs = "boxes,labels", Rois = "sampled_rois")]
            [Tap("roi_logits", TensorKind.Logits, "R, classes+1", Needs = "boxes,labels", Rois = "sampled_rois", OnGivenRois = true)]
            [Tap("loss_classifier", TensorKind.Any, "1", Needs = "boxes,labels")]
            public sealed class Detector
            {
                public Detector(int classes = 6, int channels = 64) { }
                public enum Taps : long { None = 0 }
                public sealed class Outputs { }
                public Outputs forward_taps(object image, Taps taps, object? boxes = null, object? labels = null) => new();
                public Outputs roi_head_on(Outputs outputs, object rois, Taps taps) => new();
            }

            public sealed class DetectionBatch : Distill.Data.IBatch
            {
                public object image => new();
                public System.Collections.Generic.IReadOnlyList<object> boxes => new object[0];
                public System.Collections.Generic.IReadOnlyList<object> labels => new object[0];
            }

            [DistillDataset(Task = "detection")]
            [BatchField("image", TensorKind.FeatureMap, "N, 3, size, size")]
            [BatchField("boxes", TensorKind.Boxes, "N, *, 4")]
            [BatchField("labels", TensorKind.Labels, "N, *", Classes = "classes")]
            public sealed class Scenes : Distill.Data.IBatchDataset<DetectionBatch> { public Scenes(int classes = 6, int size = 128) { } }

            [DistillDataset]
            [BatchField("image", TensorKind.FeatureMap, "N, 3, size, size")]
            [BatchField("label", TensorKind.Labels, "N", Classes = "classes")]
            public sealed class Pictures { public Pictures(int classes = 6, int size = 128) { } }
        }
        """;

    private const string Valid = """
        name: det-test
        data:
          train: { dataset: Scenes, args: { classes: 6 } }
          batch: 8
        teacher: { model: Detector, args: { classes: 6, channels: 64 } }
        student: { model: Detector, args: { classes: 6, channels: 32 } }
        adapters:
          a2: { kind: conv3x3, from: student.p2, to: teacher.p2 }
          a3: { kind: conv3x3, from: student.p3, to: teacher.p3 }
          a4: { kind: conv3x3, from: student.p4, to: teacher.p4 }
        losses:
          det: { loss: fitnet_mse, student: student.loss_classifier, teacher: teacher.loss_classifier, weight: 0 }
          feat: { loss: gk_point_kd, student: [a2, a3, a4], teacher: [teacher.p2, teacher.p3, teacher.p4], weight_masks: [student.objectness_map, student.objectness_map, student.objectness_map] }
          cls: { loss: defeat_cls, student: student.roi_logits@teacher.sampled_rois, teacher: teacher.roi_logits, positive: teacher.roi_positive }
        """;

    /// <summary>Global Knowledge's three terms: two read one prototype table (the same taps), the soft term on the teacher's RoIs.</summary>
    private const string GlobalKnowledge = """
        name: gk-test
        data:
          train: { dataset: Scenes, args: { classes: 6 } }
          batch: 8
        teacher: { model: Detector, args: { classes: 6, channels: 64 } }
        student: { model: Detector, args: { classes: 6, channels: 32 } }
        adapters:
          a2: { kind: conv3x3, from: student.p2, to: teacher.p2 }
          a3: { kind: conv3x3, from: student.p3, to: teacher.p3 }
        losses:
          point: { loss: gk_feature_gt, student: [a2, a3], teacher: [teacher.p2, teacher.p3], student_features: [student.p2, student.p3] }
          global: { loss: gk_global_gt, student_features: [student.p2, student.p3], teacher: [teacher.p2, teacher.p3] }
          soft: { loss: gk_soft_kd_rois, student: student.roi_logits@teacher.sampled_rois, teacher: teacher.roi_logits, positive: teacher.roi_positive, rois: teacher.sampled_rois, roi_labels: teacher.roi_labels, student_features: [student.p2, student.p3], teacher_features: [teacher.p2, teacher.p3] }
        """;

    private static ImmutableArray<Diagnostic> Diagnose(string yaml) =>
        GeneratorHarness.Run(new[] { ("experiments/det.distill.yaml", yaml) }, DetZoo).GeneratorDiagnostics;

    private static void Check(Diagnostic d, string id, int line, int column, string message)
    {
        var span = d.Location.GetLineSpan();
        Assert.Equal(id, d.Id);
        Assert.Equal(message, d.GetMessage());
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
    }

    [Fact]
    public void The_detection_experiment_binds_without_errors() =>
        Assert.DoesNotContain(Diagnose(Valid), d => d.Severity == DiagnosticSeverity.Error);

    [Fact]
    public void DSL047_per_level_lists_of_different_lengths()
    {
        var yaml = Valid.Replace("teacher: [teacher.p2, teacher.p3, teacher.p4]", "teacher: [teacher.p2, teacher.p3]");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL047");
        Check(d, "DSL047", 13, 62, "Loss term 'feat': 'student' lists 3 levels but 'teacher' lists 2; pair every level with one of the same stride (e.g. student.p2..p6 with teacher.p2..p6)");
    }

    [Fact]
    public void DSL022_a_student_level_paired_with_a_teacher_level_of_another_stride()
    {
        var yaml = Valid.Replace("teacher: [teacher.p2, teacher.p3, teacher.p4]", "teacher: [teacher.p3, teacher.p4, teacher.p5]")
            .Replace("to: teacher.p2", "to: teacher.p3").Replace("to: teacher.p3 }\n  a4", "to: teacher.p4 }\n  a4").Replace("to: teacher.p4 }\nlosses", "to: teacher.p5 }\nlosses");
        var all = Diagnose(yaml).Where(x => x.Id == "DSL022").ToList();
        Assert.Equal(3, all.Count);
        Check(all[0], "DSL022", 13, 40, "Loss term 'feat': teacher.p3 is 16×16 but adapter 'a2' is 32×32; read taps of the same resolution");
    }

    [Fact]
    public void DSL021_a_student_level_with_other_channels_than_its_teacher_level()
    {
        var yaml = Valid.Replace("student: [a2, a3, a4]", "student: [a2, student.p3, a4]");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL021");
        Assert.StartsWith("Loss term 'feat': student.p3 has 32 channels but teacher.p3 has 64; add an adapter 32→64", d.GetMessage());
        Assert.Equal((13, 44), (d.Location.GetLineSpan().StartLinePosition.Line + 1, d.Location.GetLineSpan().StartLinePosition.Character + 1));
    }

    [Fact]
    public void DSL048_a_detector_on_data_without_boxes()
    {
        var yaml = Valid.Replace("train: { dataset: Scenes, args: { classes: 6 } }", "train: { dataset: Pictures, args: { classes: 6 } }");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL048");
        Check(d, "DSL048", 3, 21, "The student (Detector) is a detector: it trains on each image's boxes and labels, but data set Pictures has no per-image boxes (its fields: image, label); use a detection data set: Scenes");
    }

    [Fact]
    public void DSL048_a_detector_validated_on_data_without_boxes()
    {
        var yaml = Valid.Replace("  batch: 8\n", "  val: { dataset: Pictures, args: { classes: 6 } }\n  batch: 8\n");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL048");
        Assert.Equal((4, 19), (d.Location.GetLineSpan().StartLinePosition.Line + 1, d.Location.GetLineSpan().StartLinePosition.Character + 1));
        Assert.StartsWith("The student (Detector) is a detector: it trains on each image's boxes and labels, but data set Pictures has no per-image boxes", d.GetMessage());
    }

    [Fact]
    public void DSL028_a_detectors_classes_count_its_background_column()
    {
        var yaml = Valid.Replace("train: { dataset: Scenes, args: { classes: 6 } }", "train: { dataset: Scenes, args: { classes: 5 } }");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL028");
        Check(d, "DSL028", 3, 21, "Data set Scenes has 5 classes but the student (Detector) expects 6 classes (and the background)");
    }

    [Fact]
    public void DSL050_each_models_rows_on_its_own_rois()
    {
        var yaml = Valid.Replace("student: student.roi_logits@teacher.sampled_rois", "student: student.roi_logits");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL050");
        Check(d, "DSL050", 14, 66, "Loss term 'cls' pairs student.roi_logits (rows on student.sampled_rois) with teacher.roi_logits (rows on teacher.sampled_rois); "
            + "per-RoI rows compare only on the same RoIs: run one model's head on the other's, e.g. student.roi_logits@teacher.sampled_rois");
    }

    [Fact]
    public void DSL051_a_roi_input_fed_an_image_level_tap()
    {
        var yaml = Valid.Replace("positive: teacher.roi_positive", "positive: student.objectness_map");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL051");
        Check(d, "DSL051", 14, 117, "Loss term 'cls': 'positive' takes one row per sampled RoI, but student.objectness_map is not computed per RoI; read a per-RoI tap such as student.roi_positive");
    }

    [Theory]
    [InlineData("student.p2@teacher.sampled_rois", "'student.p2@teacher.sampled_rois': student.p2 is not computed per RoI, so it cannot run on other RoIs; taps of Detector that can: roi_logits")]
    [InlineData("student.roi_positive@teacher.sampled_rois", "'student.roi_positive@teacher.sampled_rois': student.roi_positive comes from student's own sampling of sampled_rois, so it cannot run on other RoIs; taps of Detector that can: roi_logits")]
    [InlineData("student.roi_logits@teacher.p2", "'student.roi_logits@teacher.p2': teacher.p2 is a feature map, not RoIs (a tap of boxes such as teacher.sampled_rois)")]
    [InlineData("student.roi_logits@teacher", "'student.roi_logits@teacher': after '@' comes a model's tap of RoIs, such as teacher.sampled_rois")]
    public void DSL049_a_tap_that_cannot_run_on_those_rois(string reference, string message)
    {
        var yaml = Valid.Replace("student: student.roi_logits@teacher.sampled_rois", "student: " + reference);
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL049");
        Check(d, "DSL049", 14, 37, message);
    }

    [Fact]
    public void DSL049_a_model_without_a_roi_head_on_given_rois()
    {
        var zoo = DetZoo.Replace("public Outputs roi_head_on(Outputs outputs, object rois, Taps taps) => new();", "");
        var d = Assert.Single(GeneratorHarness.Run(new[] { ("experiments/det.distill.yaml", Valid) }, zoo).GeneratorDiagnostics, x => x.Id == "DSL049");
        Check(d, "DSL049", 14, 37, "'student.roi_logits@teacher.sampled_rois': Detector has no roi_head_on method to run its RoI head on given RoIs");
    }

    [Fact]
    public void Global_knowledge_terms_bind_with_the_teachers_rois_as_an_input_of_their_rows() =>
        Assert.DoesNotContain(Diagnose(GlobalKnowledge), d => d.Severity == DiagnosticSeverity.Error);

    [Fact]
    public void DSL052_a_prototype_table_wired_by_hand()
    {
        var yaml = GlobalKnowledge.Replace("student_features: [student.p2, student.p3] }\n  global", "student_features: [student.p2, student.p3], prototypes: teacher.p2 }\n  global");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL052");
        Check(d, "DSL052", 11, 131, "Loss term 'point': 'prototypes' of gk_feature_gt is the prototype table the training loop builds before every epoch from the taps given as 'student_features' and 'teacher'; remove 'prototypes'");
    }

    [Fact]
    public void DSL053_a_prototype_table_built_from_an_adapter_or_a_teachers_tap_on_the_student_side()
    {
        var yaml = GlobalKnowledge.Replace("student_features: [student.p2, student.p3] }\n  global", "student_features: [a2, teacher.p3] }\n  global");
        var all = Diagnose(yaml).Where(x => x.Id == "DSL053").ToList();
        Assert.Equal(2, all.Count);
        Check(all[0], "DSL053", 11, 106, "Loss term 'point': gk_feature_gt builds its prototype table from 'student_features', 'a2' is not a model's tap; the loop reads those taps over the training data before every epoch (e.g. student.p2)");
        Check(all[1], "DSL053", 11, 110, "Loss term 'point': gk_feature_gt builds its prototype table from 'student_features', 'teacher.p3' is a teacher's tap, but 'student_features' is the student side; the loop reads those taps over the training data before every epoch (e.g. student.p2)");
    }

    [Fact]
    public void DSL053_a_prototype_table_built_from_a_tap_that_needs_the_ground_truth()
    {
        var yaml = GlobalKnowledge.Replace("teacher_features: [teacher.p2, teacher.p3] }", "teacher_features: [teacher.p2, teacher.roi_logits] }");
        var d = Assert.Single(Diagnose(yaml), x => x.Id == "DSL053");
        Assert.Equal("Loss term 'soft': gk_soft_kd_rois builds its prototype table from 'teacher_features', 'teacher.roi_logits' needs the batch's boxes,labels, so it is not computed from the image alone; "
            + "the loop reads those taps over the training data before every epoch (e.g. teacher.p2)", d.GetMessage());
    }

    [Fact]
    public void DSL053_prototypes_need_data_with_boxes()
    {
        var yaml = GlobalKnowledge.Replace("train: { dataset: Scenes, args: { classes: 6 } }", "train: { dataset: Pictures, args: { classes: 6 } }");
        var all = Diagnose(yaml).Where(x => x.Id == "DSL053").ToList();
        Assert.Equal(3, all.Count);
        Check(all[0], "DSL053", 11, 18, "Loss term 'point': gk_feature_gt builds its prototypes from the ground-truth boxes of the training data, but Pictures has no per-image boxes and labels (its fields: image, label)");
    }
}
