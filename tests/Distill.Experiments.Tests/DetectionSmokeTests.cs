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

    /// <summary>
    /// The two detection-distillation suites at smoke size, one after the other on one run root (gk-det reuses defeat-det's
    /// teacher, student and DeFeat runs): every distilled row trains through its terms — DeFeat's decoupled features and
    /// RoI head, FitNets on every level, Global Knowledge's three terms with the prototype table rebuilt before the epoch —
    /// and the reports carry box AP for every row.
    /// </summary>
    [Fact]
    public void The_defeat_and_global_knowledge_suites_run_at_smoke_size()
    {
        using var tmp = new TempDir();
        foreach (var name in new[] { "defeat-det", "gk-det" })
        {
            tmp.Write($"experiments/{name}/suite.yaml", File.ReadAllText(Path.Combine(Repository.Root(), "experiments", name, "suite.yaml")));
            var suite = SuiteFile.Load(tmp[$"experiments/{name}/suite.yaml"]);
            var experiments = ExperimentRegistry.All.Where(e => suite.Entries.Any(x => x.Experiment == e.Name)).ToList();
            Assert.Equal(suite.Entries.Count, experiments.Count);
            var r = CliResult.RunIn(tmp.Path, experiments, "report", name, "--quick", "--out", tmp["runs"], "--progress", "none");
            Assert.True(r.ExitCode == 0, r.Error + r.Out);
            var entries = CliResult.Json(tmp[$"experiments/{name}/report-quick/results.json"])["entries"]!.AsArray();
            Assert.Equal(suite.Entries.Count, entries.Count);
            foreach (var entry in entries)
                Assert.InRange((double)entry!["runs"]!.AsArray().Single()!["final"]!, 0.0, 1.0);
        }

        // Every distillation term was computed, finite; the GK rows rebuilt their prototype table before the epoch.
        var terms = new Dictionary<string, string[]>
        {
            ["fitnet-all-levels"] = ["hint_p2", "hint_p6"],
            ["defeat-feature"] = ["defeat"],
            ["defeat-feature-head"] = ["defeat", "head"],
            ["defeat-feature-no-bg"] = ["defeat"],
            ["gk-full"] = ["point", "soft", "global", "prototypes_point_seconds"],
            ["gk-no-rdm"] = ["point", "soft", "global", "prototypes_point_seconds"],
            ["gk-local"] = ["point", "soft", "prototypes_point_seconds"],
        };
        foreach (var (experiment, names) in terms)
        {
            var file = Assert.Single(Directory.GetFiles(Path.Combine(tmp["runs"], experiment), "metrics.jsonl", SearchOption.AllDirectories));
            var train = File.ReadLines(file).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).First(n => (string)n["phase"]! == "train");
            foreach (var term in names)
                Assert.True(double.IsFinite((double)train["values"]![term]!), $"{experiment}: {term}");
        }
    }

    [Fact]
    public void The_coco_and_voc_variants_are_registered_and_check_skips_them_without_the_files()
    {
        using var tmp = new TempDir();
        var names = new List<string>();
        foreach (var name in new[] { "defeat-det-voc", "defeat-det-coco", "gk-det-voc", "gk-det-coco" })
        {
            var suite = SuiteFile.Load(Path.Combine(Repository.Root(), "experiments", name, "suite.yaml"));
            foreach (var entry in suite.Entries)
                Assert.True(ExperimentRegistry.Find(entry.Experiment) is not null, $"{name}: {entry.Experiment} is not registered");
            names.AddRange(suite.Entries.Select(e => e.Experiment));
        }
        names = names.Distinct().ToList();
        Assert.Equal(21, names.Count); // the gk suites share their teacher, student and DeFeat rows with the defeat suites
        // The students start from ImageNet backbones (init:) or from the 1x student run (from:); the teachers too.
        Assert.Contains("init: { backbone.body: data/pretrained/resnet50.safetensors }", ExperimentRegistry.Find("student-frcnn-r50-voc")!.Configuration);
        Assert.Contains("init: { backbone.body: data/pretrained/resnet152.safetensors }", ExperimentRegistry.Find("teacher-frcnn-r152-coco")!.Configuration);
        Assert.Contains("from: student-frcnn-r50-coco", ExperimentRegistry.Find("gk-full-coco")!.Configuration);

        // Here (no data/ under the working directory) every one is skipped, none failed.
        var r = CliResult.RunIn(tmp.Path, [.. names.Select(n => ExperimentRegistry.Find(n)!)], ["check", .. names]);
        Assert.True(r.ExitCode == 0, r.Out + r.Error);
        Assert.Contains($"{names.Count} checked: 0 ok, 0 failed, {names.Count} skipped (their data is not on this machine)", r.Out);
    }
}
