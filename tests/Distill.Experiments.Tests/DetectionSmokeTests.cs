namespace Distill.Experiments.Tests;

/// <summary>
/// The real det-synthetic suite (experiments/det-synthetic: generated Faster R-CNN experiments on SyntheticDetection)
/// at smoke size: the quick report trains the teacher and the student through the generated detection loop (the
/// per-image boxes and labels into the detectors' own losses, DetectionTransform, COCO box AP on the validation scenes)
/// and writes the COCO metric columns.
/// </summary>
public class DetectionSmokeTests
{
    [Fact]
    public void The_detection_suite_runs_at_smoke_size_and_reports_box_ap()
    {
        using var tmp = new TempDir();
        tmp.Write("experiments/det-synthetic/suite.yaml", File.ReadAllText(Path.Combine(Repository.Root(), "experiments", "det-synthetic", "suite.yaml")));
        var suite = SuiteFile.Load(tmp["experiments/det-synthetic/suite.yaml"]);
        var experiments = ExperimentRegistry.All.Where(e => suite.Entries.Any(x => x.Experiment == e.Name)).ToList();
        Assert.Equal(suite.Entries.Count, experiments.Count);

        var r = CliResult.RunIn(tmp.Path, experiments, "report", "det-synthetic", "--quick", "--out", tmp["runs"], "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error + r.Out);

        var json = CliResult.Json(tmp["experiments/det-synthetic/report-quick/results.json"]);
        var entries = json["entries"]!.AsArray();
        Assert.Equal(suite.Entries.Count, entries.Count);
        foreach (var entry in entries)
        {
            var run = entry!["runs"]!.AsArray().Single()!;
            Assert.InRange((double)run["final"]!, 0.0, 1.0);
            Assert.InRange((double)run["also"]!["val_AP50"]!, 0.0, 1.0);
            Assert.InRange((double)run["also"]!["val_hard_AP"]!, 0.0, 1.0);
        }
        // Each run logged the detector's own losses as terms of their own, finite.
        var metrics = Directory.GetFiles(tmp["runs"], "metrics.jsonl", SearchOption.AllDirectories);
        Assert.Equal(2, metrics.Length);
        foreach (var file in metrics)
        {
            var train = File.ReadLines(file).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).First(n => (string)n["phase"]! == "train");
            foreach (var term in new[] { "rpn_objectness", "rpn_box", "roi_cls", "roi_box" })
                Assert.True(double.IsFinite((double)train["values"]![term]!), $"{file}: {term}");
        }
        Assert.Contains("| Method | val_AP50 | val_AP75 | val_APm | val_APl | val_hard_AP |", File.ReadAllText(tmp["experiments/det-synthetic/report-quick/report.md"]));
    }
}
