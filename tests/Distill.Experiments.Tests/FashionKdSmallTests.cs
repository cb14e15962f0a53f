using Distill.Data;
using Distill.Models;

namespace Distill.Experiments.Tests;

/// <summary>
/// The main job's suite (experiments/fashion-kd-small): its committed teacher is the network its suite file says,
/// and the suite runs end to end at smoke size from the real experiments.
/// </summary>
public class FashionKdSmallTests
{

    [Fact]
    public void The_committed_teacher_is_the_fashion_kd_ResNet20_with_its_test_accuracy()
    {
        // Fashion-MNIST comes from Debian's dataset-fashion-mnist, which scripts/install-deps.sh installs.
        using var test = new FashionMnist(split: "test");
        using var teacher = new CifarResNet(20, 10, in_channels: 1);
        TeacherWeights.LoadFromFile(teacher, "teacher", Path.Combine(Repository.Root(), "experiments", "fashion-kd-small", "teacher-resnet20.safetensors"));
        teacher.eval();
        var transform = ImageTransform.Eval(FashionMnist.TrainMean, FashionMnist.TrainStd);
        long correct = 0;
        using (torch.no_grad())
            for (var start = 0; start < test.Count; start += 500)
            {
                using var scope = torch.NewDisposeScope();
                using var batch = test.Collate(Enumerable.Range(start, Math.Min(500, test.Count - start)).ToArray());
                var logits = teacher.call(transform.Apply(batch.image, null));
                correct += logits.argmax(1).eq(batch.label).sum().item<long>();
            }
        // 92.94 % is what the teacher's run logged (runs/fashion-teacher-resnet20/s1) and what PyTorch computes from the file.
        Assert.Equal(9294, correct);
    }

    [Fact]
    public void The_suite_runs_at_smoke_size_with_its_committed_teacher()
    {
        using var tmp = new TempDir();
        tmp.Write("experiments/fashion-kd-small/suite.yaml", File.ReadAllText(Path.Combine(Repository.Root(), "experiments", "fashion-kd-small", "suite.yaml")));
        var suite = SuiteFile.Load(tmp["experiments/fashion-kd-small/suite.yaml"]);
        var experiments = ExperimentRegistry.All.Where(e => suite.Entries.Any(x => x.Experiment == e.Name)).ToList();
        Assert.Equal(suite.Entries.Count, experiments.Count);

        var r = CliResult.RunIn(tmp.Path, experiments, "report", "fashion-kd-small", "--quick", "--out", tmp["runs"], "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error + r.Out);
        var md = File.ReadAllText(tmp["experiments/fashion-kd-small/report-quick/report.md"]);
        Assert.Contains("**Quick run**", md);
        Assert.Contains("No ordering against the published numbers: a quick run's numbers cannot rank the methods.", md);
        // The KD run evaluated the committed teacher (on the quick run's 5 batches) before training: the file was
        // found from the test's directory, loaded, and is no degenerate network.
        var kdRun = Directory.GetDirectories(tmp["runs/fashion-small-hinton-resnet20-resnet8"]).Single();
        var teacher = RunDirectory.ReadMetrics(Path.Combine(kdRun, RunDirectory.MetricsFile)).First(m => m.Phase == "teacher");
        Assert.InRange(teacher.Values["teacher_top1"], 0.85, 1.0);
    }
}
