using System.Text.Json.Nodes;

namespace Distill.Experiments.Tests;

/// <summary>
/// The real gkd-face suite (experiments/gkd-face: the generated experiments and the suite file) at smoke size:
/// the quick report trains the IResNet teacher, then every student row from it, and writes the verification
/// numbers. This exercises, end to end, the margin logits that need the labels, GKD's grouping variants and the
/// generated verification evaluation (LFW protocol on the pairs a batch-limited pass embedded).
/// </summary>
public class GkdFaceSmokeTests
{

    [Fact]
    public void The_gkd_face_suite_runs_at_smoke_size_and_reports_verification()
    {
        using var tmp = new TempDir();
        tmp.Write("experiments/gkd-face/suite.yaml", File.ReadAllText(Path.Combine(Repository.Root(), "experiments", "gkd-face", "suite.yaml")));
        var suite = SuiteFile.Load(tmp["experiments/gkd-face/suite.yaml"]);
        var experiments = ExperimentRegistry.All.Where(e => suite.Entries.Any(x => x.Experiment == e.Name)).ToList();
        Assert.Equal(suite.Entries.Count, experiments.Count);

        var r = CliResult.RunIn(tmp.Path, experiments, "report", "gkd-face", "--quick", "--out", tmp["runs"], "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error + r.Out);

        var json = CliResult.Json(tmp["experiments/gkd-face/report-quick/results.json"]);
        var entries = json["entries"]!.AsArray();
        Assert.Equal(suite.Entries.Count, entries.Count);
        foreach (var entry in entries)
        {
            var run = entry!["runs"]!.AsArray().Single()!;
            var accuracy = (double)run["final"]!;
            Assert.InRange(accuracy, 0.0, 1.0);
            var tar = (double)run["also"]!["val_tar_far1e-3"]!;
            Assert.InRange(tar, 0.0, 1.0);
        }
        // Every student distilled from the teacher run the report trained first.
        var teacher = (string)entries[0]!["runs"]![0]!["run"]!;
        foreach (var entry in entries.Skip(2))
            Assert.Contains(Path.GetFileName(teacher), ((JsonObject)entry!["runs"]![0]!["teachers"]!).Single().Value!.ToString());
        Assert.Contains("| Method | val_tar_far1e-3 | val_tar_far1e-4 | val_auc |", File.ReadAllText(tmp["experiments/gkd-face/report-quick/report.md"]));
    }
}
