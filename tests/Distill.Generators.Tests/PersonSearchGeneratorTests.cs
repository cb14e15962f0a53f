using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>
/// Person-search experiments on the real zoo (OimPersonSearch, SyntheticPersonSearch): evaluation by search mAP, the teacher
/// look-up table built before training from a teacher's per-box tap (DSL055 when wired to anything else), and adapters between
/// taps whose channels depend on the backbone (DSL056 without in_channels/out_channels).
/// </summary>
public class PersonSearchGeneratorTests
{
    private const string Models = """
        teacher: { model: OimPersonSearch, args: { identities: 20, embedding_dim: 16, queue_size: 10, width: 16, min_size: 96, max_size: 160 }, checkpoint: teacher.safetensors }
        student: { model: OimPersonSearch, args: { identities: 20, embedding_dim: 16, queue_size: 10, width: 8, min_size: 96, max_size: 160 } }
        """;

    private const string Data = """
        data:
          train: { dataset: SyntheticPersonSearch, args: { identities: 20, samples: 16, seed: 1 } }
          val: { dataset: SyntheticPersonSearch, args: { identities: 10, samples: 12, seed: 1, split: val, gallery_size: 5 } }
          batch: 4
        """;

    private const string Lut = """
        name: ps-lut
        {DATA}
        {MODELS}
        adapters:
          hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3, in_channels: 32, out_channels: 64 }
        losses:
          cls: { loss: model_loss, value: student.loss_classifier }
          hint_c4: { loss: hint_l2, student: hint, teacher: teacher.stage3 }
          id: { loss: lut_id_distill, embeddings: student.roi_person_embedding, labels: student.roi_person_id, teacher_lut: teacher.box_embedding, queue: student.oim_queue }
        schedule: { epochs: 2 }
        """;

    private static string Yaml(string template) => template.Replace("{DATA}", Data.TrimEnd()).Replace("{MODELS}", Models.TrimEnd());

    private static GeneratorHarness.Result Generate(string yaml) =>
        GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("ps.distill.yaml", yaml)), GeneratorHarness.DetectionCompilation("// yaml only"));

    private static void Check(Diagnostic d, string id, int line, int column, string message)
    {
        var span = d.Location.GetLineSpan();
        Assert.Equal(id, d.Id);
        Assert.Equal(message, d.GetMessage());
        Assert.Equal((line, column), (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1));
    }

    /// <summary>
    /// The teacher table is a member built before the first epoch from the teacher's box embeddings (an epoch state,
    /// checkpointed and disposed); the loss reads its Table; the teacher's per-step pass does not compute box_embedding;
    /// evaluation is person search, the best checkpoint by val_mAP. Compiles without warnings.
    /// </summary>
    [Fact]
    public void A_teacher_lut_experiment_builds_its_table_before_training_and_evaluates_by_search()
    {
        var result = Generate(Yaml(Lut));
        Assert.Empty(result.GeneratorDiagnostics);
        var problems = result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var generated = result.Run.GeneratedTrees.ToDictionary(t => Path.GetFileName(t.FilePath), t => t.ToString());
        var loss = generated["PsLutExperiment.Loss.g.cs"];
        Assert.Contains("public global::Distill.Losses.TeacherIdentityTable IdTeacherLut { get; } = new();", loss);
        Assert.Contains("teacher_lut: IdTeacherLut.Table", loss);
        Assert.DoesNotContain("BoxEmbedding", loss); // read once by the table build, never per step
        var train = generated["PsLutExperiment.Train.g.cs"];
        Assert.Contains("new(\"teacher_table_id\", request => global::Distill.Runtime.TeacherTableBuild.Run<global::Distill.Data.DetectionBatch>(IdTeacherLut, TrainData, request, "
            + "batch => Teacher.forward_taps(batch.image, global::Distill.Detection.OimPersonSearch.Taps.BoxEmbedding, batch.boxes, batch.person_id).Take(global::Distill.Detection.OimPersonSearch.Taps.BoxEmbedding), "
            + "batch => batch.person_id, [Teacher]), IdTeacherLut.StateTensors, tensors => IdTeacherLut.LoadStateTensors(tensors)),", train);
        Assert.Contains("IdTeacherLut.Dispose();", train);
        Assert.Contains("var evaluation = global::Distill.Runtime.PersonSearchEvaluation.Create(ValData);", train);
        Assert.Contains("evaluation.Add(batch, Student.search(batch.image), d => (d.boxes, d.scores, d.embeddings), (image, boxes) => Student.embed_boxes(image, boxes));", train);
        Assert.Contains("DefaultBestMetric = \"val_mAP\"", train);
        Assert.Contains("public global::System.Collections.Generic.Dictionary<string, double> EvaluateTeachers(", train);
        // The student's forward gets the identities in place of class labels.
        Assert.Matches(new Regex(@"Student\.forward_taps\(image, .*, boxes, person_id\)"), loss);
    }

    [Fact]
    public void The_code_first_lut_term_takes_the_teachers_per_box_tap()
    {
        const string source = """
            using Distill.Runtime;
            using Distill.Experiments.Dsl;
            using Distill.Data;
            using Distill.Detection;

            namespace Lab;

            [Experiment("ps-code-first")]
            [Schedule(2)]
            public partial class PsCodeFirst
            {
                [TrainData(Batch = 4)] SyntheticPersonSearch TrainData { get; } = new(identities: 20, samples: 16, seed: 1);
                [Teacher(Checkpoint = "teacher.safetensors")] OimPersonSearch Teacher { get; } = new(identities: 20, embedding_dim: 16, queue_size: 10, width: 16, min_size: 96, max_size: 160);
                [Student] OimPersonSearch Student { get; } = new(identities: 20, embedding_dim: 16, queue_size: 10, width: 8, min_size: 96, max_size: 160);
                [Adapter] TapRef<FeatureMap> Hint => Adapter.Conv1x1(Taps.Student.stage3, Taps.Teacher.stage3, in_channels: 32, out_channels: 64);
                [Loss] LossTerm Cls => Loss.model_loss(Taps.Student.loss_classifier);
                [Loss] LossTerm HintC4 => Loss.hint_l2(Hint, Taps.Teacher.stage3);
                [Loss] LossTerm Id => Loss.lut_id_distill(Taps.Student.roi_person_embedding, Taps.Student.roi_person_id, Taps.Teacher.box_embedding, Taps.Student.oim_queue);
            }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.DetectionCompilation(source));
        Assert.Empty(result.GeneratorDiagnostics);
        var problems = result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var loss = result.Run.GeneratedTrees.Single(t => t.FilePath.EndsWith("PsCodeFirst.Loss.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("teacher_lut: IdTeacherLut.Table", loss);
        Assert.Contains("HintAdapter { get; } = global::Distill.Torch.torch.nn.Conv2d(32, 64, 1, bias: false);", loss);
    }

    [Fact]
    public void DSL055_the_table_from_the_students_tap()
    {
        var yaml = Yaml(Lut).Replace("teacher_lut: teacher.box_embedding", "teacher_lut: student.box_embedding");
        var d = Assert.Single(Generate(yaml).GeneratorDiagnostics, x => x.Severity == DiagnosticSeverity.Error);
        Check(d, "DSL055", 13, 117, "Loss term 'id': lut_id_distill builds 'teacher_lut' per identity from a teacher's features of every ground-truth box; "
            + "'student.box_embedding' is the student's; the table holds a frozen teacher's features (e.g. teacher.box_embedding)");
    }

    [Fact]
    public void DSL055_the_table_from_an_image_level_tap()
    {
        var yaml = Yaml(Lut).Replace("teacher_lut: teacher.box_embedding", "teacher_lut: teacher.stage3");
        var d = Assert.Single(Generate(yaml).GeneratorDiagnostics, x => x.Severity == DiagnosticSeverity.Error);
        Check(d, "DSL055", 13, 117, "Loss term 'id': lut_id_distill builds 'teacher_lut' per identity from a teacher's features of every ground-truth box; "
            + "'teacher.stage3' is a feature map, not the teacher's features of each ground-truth box (e.g. teacher.box_embedding)");
    }

    [Fact]
    public void DSL055_the_table_from_a_tap_with_a_row_per_sampled_roi()
    {
        var yaml = Yaml(Lut).Replace("teacher_lut: teacher.box_embedding", "teacher_lut: teacher.roi_person_embedding");
        var d = Assert.Single(Generate(yaml).GeneratorDiagnostics, x => x.Severity == DiagnosticSeverity.Error);
        Check(d, "DSL055", 13, 117, "Loss term 'id': lut_id_distill builds 'teacher_lut' per identity from a teacher's features of every ground-truth box; "
            + "'teacher.roi_person_embedding' is an embedding with a row per sampled RoI, not the teacher's features of each ground-truth box (e.g. teacher.box_embedding)");
    }

    [Fact]
    public void DSL055_the_table_on_data_without_identities()
    {
        // Detection data: boxes, but no identities and no protocol (the models need person_id too: DSL039 besides).
        var yaml = Yaml(Lut).Replace("SyntheticPersonSearch, args: { identities: 20, samples: 16, seed: 1 }", "SyntheticDetection, args: { classes: 1, samples: 16, size: 96, seed: 1 }");
        var all = Generate(yaml).GeneratorDiagnostics.Where(x => x.Id == "DSL055").ToList();
        var d = Assert.Single(all);
        Assert.StartsWith("Loss term 'id': lut_id_distill builds 'teacher_lut' per identity of the training data, but SyntheticDetection is not a person-search data set with per-box batch.person_id", d.GetMessage());
        Assert.Equal(13, d.Location.GetLineSpan().StartLinePosition.Line + 1);
    }

    [Fact]
    public void DSL056_an_adapter_between_taps_whose_channels_the_backbone_decides()
    {
        var yaml = Yaml(Lut).Replace(", in_channels: 32, out_channels: 64", "");
        var all = Generate(yaml).GeneratorDiagnostics.Where(x => x.Severity == DiagnosticSeverity.Error).ToList();
        Assert.Equal(2, all.Count);
        Check(all[0], "DSL056", 9, 32, "Adapter 'hint': the channels of student.stage3 are not known before the model is built (its shape declares them as '*'); give them as in_channels: N");
        Check(all[1], "DSL056", 9, 52, "Adapter 'hint': the channels of teacher.stage3 are not known before the model is built (its shape declares them as '*'); give them as out_channels: N");
    }

    [Fact]
    public void DSL056_a_channel_count_that_contradicts_the_tap()
    {
        var yaml = Yaml(Lut).Replace("in_channels: 32, out_channels: 64 }", "in_channels: 32, out_channels: 64 }\n  proj: { kind: linear, from: student.roi_person_embedding, to: teacher.box_embedding, in_channels: 8 }")
            .Replace("  cls: { loss: model_loss, value: student.loss_classifier }", "  cls: { loss: model_loss, value: student.loss_classifier }\n  emb: { loss: fitnet_mse, student: proj, teacher: teacher.box_embedding }");
        var d = Assert.Single(Generate(yaml).GeneratorDiagnostics, x => x.Id == "DSL056");
        Check(d, "DSL056", 10, 101, "Adapter 'proj': in_channels is 8, but student.roi_person_embedding has 16 channels; remove in_channels (it is inferred from the tap)");
    }
}
