using System.Reflection;
using System.Runtime.Loader;
using Distill.Torch;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>
/// The generated ComputeLoss against the real model zoo and loss library: it compiles, reads each model
/// once, and its total equals the weighted sum of the library's losses called one by one.
/// </summary>
public class FusedLossTests
{
    private const string Data = """
        using Distill.Metadata;
        namespace Lab
        {
            [DistillDataset]
            [BatchField("image", TensorKind.FeatureMap, "N, 3, size, size")]
            [BatchField("label", TensorKind.Labels, "N", Classes = "classes")]
            public sealed class Images { public Images(int classes = 10, int size = 32) { } }
        }
        """;

    private const string Yaml = """
        name: fused-kd
        data:
          train: { dataset: Images, args: { classes: 10, size: 16 } }
          batch: 4
        teacher: { model: CifarResNet, args: { depth: 8, classes: 10, width: 8, stem: 8 } }
        student: { model: CifarResNet, args: { depth: 8, classes: 10, width: 4, stem: 4 } }
        adapters:
          hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3 }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label, weight: 0.1 }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.9, schedule: { warmup: 10 } }
          fit: { loss: fitnet_mse, student: hint, teacher: teacher.stage3, weight: 2 }
        schedule: { epochs: 20 }
        """;

    private static GeneratorHarness.Result Generate() =>
        GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("fused.distill.yaml", Yaml)), GeneratorHarness.Compilation(withTestZoo: false, Data));

    [Fact]
    public void The_generated_loss_compiles_and_reads_each_model_once()
    {
        var result = Generate();
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
        var loss = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("FusedKdExperiment.Loss.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Equal(1, Count(loss, "Teacher.forward_taps("));
        Assert.Equal(1, Count(loss, "Student.forward_taps("));
        Assert.Contains("using (global::Distill.Torch.torch.no_grad())", loss);
        Assert.Contains("public LossBreakdown ComputeLoss(global::Distill.Torch.Tensor image, global::Distill.Torch.Tensor label, double epoch)", loss);
        Assert.Contains("global::Distill.Torch.torch.nn.Conv2d(16, 32, 1, bias: false)", loss); // 4·4 → 4·8 channels, inferred from the taps
        Assert.Contains("teacher_stage3.Dispose(); // last use", loss);
        Snapshot.Verify(loss, nameof(FusedLossTests), nameof(The_generated_loss_compiles_and_reads_each_model_once), "FusedKdExperiment.Loss.g.cs");
    }

    [Fact]
    public void The_fused_total_equals_the_weighted_sum_of_the_library_losses()
    {
        var result = Generate();
        using var pe = new MemoryStream();
        var emit = result.Output.Emit(pe);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        var context = new AssemblyLoadContext("fused-" + Guid.NewGuid(), isCollectible: true);
        try
        {
            pe.Position = 0;
            var assembly = context.LoadFromStream(pe);
            var type = assembly.GetType("Distill.Experiments.Generated.FusedKdExperiment")!;
            torch.manual_seed(3);
            var experiment = Activator.CreateInstance(type)!;
            var teacher = (Distill.Models.CifarResNet)type.GetProperty("Teacher")!.GetValue(experiment)!;
            var student = (Distill.Models.CifarResNet)type.GetProperty("Student")!.GetValue(experiment)!;
            var hint = (Distill.Torch.Modules.Conv2d)type.GetProperty("HintAdapter")!.GetValue(experiment)!;
            teacher.eval();
            student.eval(); // deterministic batch norm for the comparison

            using var scope = torch.NewDisposeScope();
            var image = torch.randn([4, 3, 16, 16]);
            var label = torch.tensor(new long[] { 1, 3, 5, 7 });
            const double epoch = 5;
            var terms = (IDisposable)type.GetMethod("ComputeLoss")!.Invoke(experiment, new object[] { image, label, epoch })!;
            var total = (Tensor)terms.GetType().GetProperty("Total")!.GetValue(terms)!;
            total.backward();
            var fusedGrad = student.parameters().First().grad!.clone();
            student.zero_grad();

            // The same terms, called one by one from the library.
            Tensor tLogits, tStage3;
            using (torch.no_grad())
            {
                var t = teacher.forward_taps(image, Distill.Models.CifarResNet.Taps.Stage3 | Distill.Models.CifarResNet.Taps.Logits);
                tLogits = t.Logits!;
                tStage3 = t.Stage3!;
            }
            var s = student.forward_taps(image, Distill.Models.CifarResNet.Taps.Stage3 | Distill.Models.CifarResNet.Taps.Logits);
            var ce = Distill.Losses.Classic.cross_entropy(s.Logits!, label);
            var kd = Distill.Losses.Classic.hinton_kd(s.Logits!, tLogits, 4.0);
            var fit = Distill.Losses.Classic.fitnet_mse(hint.call(s.Stage3!), tStage3);
            var expected = ce * 0.1 + kd * (0.9 * Math.Min(1.0, epoch / 10)) + fit * 2.0;
            expected.backward();

            TensorAssert.Close(expected.detach(), total.detach(), 1e-6, 1e-7, "total");
            TensorAssert.Close(student.parameters().First().grad!, fusedGrad, 1e-5, 1e-7, "student gradient");
            TensorAssert.Close(kd.detach(), (Tensor)terms.GetType().GetProperty("Kd")!.GetValue(terms)!, 1e-6, 1e-7, "kd term");
            terms.Dispose();
            ((IDisposable)teacher).Dispose();
            ((IDisposable)student).Dispose();
            ((IDisposable)hint).Dispose();
        }
        finally
        {
            context.Unload();
        }
    }

    [Fact]
    public void Terms_that_need_the_same_quantity_share_one_tensor()
    {
        const string yaml = """
            name: two-teacher-kd
            data:
              train: { dataset: Images, args: { classes: 10, size: 16 } }
              batch: 4
            teachers:
              big: { model: CifarResNet, args: { depth: 8, classes: 10, width: 8, stem: 8 } }
              wide: { model: CifarResNet, args: { depth: 8, classes: 10, width: 6, stem: 8 } }
            student: { model: CifarResNet, args: { depth: 8, classes: 10, width: 4, stem: 4 } }
            losses:
              ce: { loss: cross_entropy, input: student.logits, target: batch.label }
              kd_big: { loss: hinton_kd, student: student.logits, teacher: big.logits, temperature: 4 }
              kd_wide: { loss: hinton_kd, student: student.logits, teacher: wide.logits }
              kd_plain: { loss: hinton_kd, student: student.logits, teacher: big.logits, temperature: 1 }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("shared.distill.yaml", yaml)), GeneratorHarness.Compilation(withTestZoo: false, Data));
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
        var loss = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("TwoTeacherKdExperiment.Loss.g.cs", StringComparison.Ordinal)).ToString();
        // kd_wide's temperature is hinton_kd's default 4: the same log_softmax(student / T) as kd_big's, computed once, and the two
        // temperatures are tied (a run overrides them together).
        Assert.Equal(1, Count(loss, "Classic.log_softmax_t(student_logits, temperature: Settings.KdBigTemperature)"));
        Assert.Contains("// shared by kd_big, kd_wide: log_softmax_t(student_logits, temperature: Settings.KdBigTemperature)", loss);
        Assert.Equal(0, Count(loss, "log_softmax_t(student_logits, temperature: Settings.KdWideTemperature)"));
        // cross-entropy's log_softmax has a fixed T = 1; kd_plain's T = 1 is a setting a run may change, so they are not shared.
        Assert.Equal(1, Count(loss, "Classic.log_softmax_t(student_logits, temperature: 1.0)"));
        Assert.Equal(1, Count(loss, "Classic.log_softmax_t(student_logits, temperature: Settings.KdPlainTemperature)"));
        Assert.Equal(1, Count(loss, "Classic.log_softmax_t(big_logits, temperature: Settings.KdBigTemperature)"));
        Assert.Equal(1, Count(loss, "Classic.log_softmax_t(big_logits, temperature: Settings.KdPlainTemperature)"));
        Assert.Equal(1, Count(loss, "student_logits_log_softmax_t_4.Dispose(); // last use"));
        Snapshot.Verify(loss, nameof(FusedLossTests), nameof(Terms_that_need_the_same_quantity_share_one_tensor), "TwoTeacherKdExperiment.Loss.g.cs");
    }

    private static int Count(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
