namespace Distill.Experiments.Tests;

/// <summary>
/// The person-search suites: ps-kd at smoke size through the generated loop (OIM with its own tables, the teacher's look-up
/// table built before the first epoch, detector KD on the teacher's head over the student's RoIs, search mAP over the
/// validation queries), and ps-kd-cuhk registered and skipped by <c>check</c> without CUHK-SYSU.
/// </summary>
public class PersonSearchSmokeTests
{
    [Fact]
    public void The_person_search_suite_runs_at_smoke_size_and_reports_search_map()
    {
        using var tmp = new TempDir();
        tmp.Write("experiments/ps-kd/suite.yaml", File.ReadAllText(Path.Combine(Repository.Root(), "experiments", "ps-kd", "suite.yaml")));
        var suite = SuiteFile.Load(tmp["experiments/ps-kd/suite.yaml"]);
        var experiments = ExperimentRegistry.All.Where(e => suite.Entries.Any(x => x.Experiment == e.Name)).ToList();
        Assert.Equal(suite.Entries.Count, experiments.Count);

        var r = CliResult.RunIn(tmp.Path, experiments, "report", "ps-kd", "--quick", "--out", tmp["runs"], "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error + r.Out);
        var entries = CliResult.Json(tmp["experiments/ps-kd/report-quick/results.json"])["entries"]!.AsArray();
        Assert.Equal(suite.Entries.Count, entries.Count);
        foreach (var entry in entries)
        {
            var run = entry!["runs"]!.AsArray().Single()!;
            Assert.InRange((double)run["final"]!, 0.0, 1.0);
            Assert.InRange((double)run["also"]!["val_det_recall"]!, 0.0, 1.0);
        }

        // Every term was computed, finite; the look-up-table rows built the teacher's table before the epoch.
        var terms = new Dictionary<string, string[]>
        {
            ["teacher-oim-w32"] = ["roi_cls", "oim"],
            ["oim-w8"] = ["rpn_objectness", "roi_cls", "oim"],
            ["detkd-w8"] = ["rcn", "hint_c4", "oim"],
            ["lut-w8"] = ["roi_cls", "id", "teacher_table_id_seconds"],
            ["both-w16"] = ["rcn", "hint_c4", "id", "teacher_table_id_seconds"],
        };
        foreach (var (experiment, names) in terms)
        {
            var file = Assert.Single(Directory.GetFiles(Path.Combine(tmp["runs"], experiment), "metrics.jsonl", SearchOption.AllDirectories));
            var train = File.ReadLines(file).Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!).First(n => (string)n["phase"]! == "train");
            foreach (var term in names)
                Assert.True(double.IsFinite((double)train["values"]![term]!), $"{experiment}: {term}");
        }
        Assert.Contains("| Method | val_top1 | val_top5 | val_det_AP | val_det_recall |", File.ReadAllText(tmp["experiments/ps-kd/report-quick/report.md"]));
    }

    [Fact]
    public void The_cuhk_sysu_suite_is_registered_and_check_skips_it_without_the_data()
    {
        using var tmp = new TempDir();
        var suite = SuiteFile.Load(Path.Combine(Repository.Root(), "experiments", "ps-kd-cuhk", "suite.yaml"));
        var names = suite.Entries.Select(e => e.Experiment).ToList();
        foreach (var name in names)
            Assert.True(ExperimentRegistry.Find(name) is not null, $"{name} is not registered");
        Assert.Equal(7, names.Count);
        Assert.Contains("init: { backbone.body: data/pretrained/resnet18.safetensors }", ExperimentRegistry.Find("lut-r18-cuhk")!.Configuration);
        var r = CliResult.RunIn(tmp.Path, [.. names.Select(n => ExperimentRegistry.Find(n)!)], ["check", .. names]);
        Assert.True(r.ExitCode == 0, r.Out + r.Error);
        Assert.Contains("7 checked: 0 ok, 0 failed, 7 skipped (their data is not on this machine)", r.Out);
    }
}
