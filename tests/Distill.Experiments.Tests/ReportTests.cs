using System.Text.Json.Nodes;
using System.Xml.Linq;

namespace Distill.Experiments.Tests;

public class ReportTests
{
    private const string Suite = """
        title: Fake KD suite
        description: Two methods and their teacher.
        seeds: [1, 2, 3]
        scale: 100
        quick: { epochs: 2, max_batches: 4, seeds: [1] }
        entries:
          - { label: Student alone, experiment: student, group: student }
          - { label: KD, experiment: kd, group: kd }
          - { label: Teacher, experiment: teacher, group: teacher }
        anchors:
          - { label: KD, value: "55.00 ± 0.30", source: "Someone et al. 2020, Table 1" }
          - { label: Student alone, value: "57.5", source: "Someone et al. 2020, Table 1" }
          - { label: Teacher, value: "70", source: "Someone et al. 2020, Table 1" }
        """;

    private sealed class World : IDisposable
    {
        public readonly TempDir Tmp = new();
        public readonly List<string> Log = [];
        public readonly FakeExperiment Teacher, Student, Kd;

        public World()
        {
            // 2 epochs of 25 steps: enough for its BatchNorm statistics (a quick run of 4 steps per epoch is not).
            Teacher = new FakeExperiment { Name = "teacher", Epochs = 2, BatchesPerEpoch = 25, SharedLog = Log, Metric = (s, e) => 0.7 + 0.001 * s * e };
            // Final (epoch 3) values 0.57, 0.58, 0.59 for seeds 1, 2, 3: mean 0.58, sample std 0.01.
            Student = new FakeExperiment { Name = "student", SharedLog = Log, MetricKey = "val_top1" };
            // Spelled as a key of the "val" phase; peaks at epoch 2 (0.62 + 0.001 s) and falls to 0.60 + 0.001 s.
            Kd = new FakeExperiment { Name = "kd", DependsOn = ["teacher"], SharedLog = Log, MetricKey = "top1", Metric = (s, e) => (e == 2 ? 0.62 : 0.6 - 0.05 * (e == 1 ? 1 : 0)) + 0.001 * s };
            SuitePath = Tmp.Write("experiments/fake/suite.yaml", Suite);
        }

        public string SuitePath { get; }

        public ExperimentInfo[] All => [Teacher.Info, Student.Info, Kd.Info];

        public CliResult Report(params string[] extra) =>
            CliResult.RunIn(Tmp.Path, All, ["report", "fake", "--out", Tmp["runs"], "--progress", "none", .. extra]);

        public void Dispose() => Tmp.Dispose();
    }

    [Fact]
    public void Report_runs_each_entry_and_seed_teachers_first_and_writes_the_numbers()
    {
        using var w = new World();
        var r = w.Report();
        Assert.True(r.ExitCode == 0, r.Error + r.Out);
        // File order, except that the teacher entry (last in the file) moves before KD, whose runs need it.
        Assert.Equal(["student", "student", "student", "teacher", "teacher", "teacher", "kd", "kd", "kd"], w.Log);
        Assert.True(Directory.Exists(w.Tmp["runs/student/s2"]));

        var md = File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]);
        Assert.Contains("| Student alone | student | `student` | 58.00 ± 1.00 (n=3) | 57.00 (s1), 58.00 (s2), 59.00 (s3) | 3/3, 3/3, 3/3 | 57.5 |", md);
        Assert.Contains("| KD | kd | `kd` | 60.20 ± 0.10 (n=3) | 60.10 (s1), 60.20 (s2), 60.30 (s3) | 2/3, 2/3, 2/3 | 55.00 ± 0.30 |", md);
        Assert.Contains("| Teacher | teacher | `teacher` | 70.40 ± 0.20 (n=3) | 70.20 (s1), 70.40 (s2), 70.60 (s3) | 2/2, 2/2, 2/2 |", md);
        Assert.Contains("Ordering (rows with a published number): ours Teacher > KD > Student alone; published Teacher > Student alone > KD — **the order differs from the published one.**", md);
        // Against the student alone (57, 58, 59): KD's 60.1..60.3 clear the spread of seeds.
        Assert.Contains("Against Student alone (58.00 ± 1.00 (n=3))", md);
        Assert.Contains("| KD | +2.20 | 3.1 | **yes** |", md);
        Assert.DoesNotContain("| Teacher | +", md); // the teacher is not a distillation row
        Assert.DoesNotContain("Teacher checks failed", md);
        Assert.Contains("* KD: 55.00 ± 0.30 — Someone et al. 2020, Table 1", md);
        Assert.Contains("distill-experiments report fake --out " + w.Tmp["runs"] + " --progress none", md);
        Assert.Contains($"{Environment.ProcessorCount} logical cores", md);
        Assert.DoesNotContain("Quick run", md);
        // Which teacher each KD run loaded: the newest finished teacher run when it started.
        Assert.Contains("| KD | 2 | `kd/s2` | 3 | 60.20 | 62.20 |", md);
        Assert.Matches(@"\| KD \| 2 \| .* \| `teacher/s3` \|\n", md.ReplaceLineEndings("\n"));

        var json = CliResult.Json(w.Tmp["experiments/fake/report/results.json"]);
        var kd = json["entries"]!.AsArray().Single(e => (string)e!["label"]! == "KD")!;
        Assert.Equal(0.602, (double)kd["mean"]!, 12);
        Assert.Equal(0.001, (double)kd["std"]!, 12);
        Assert.Equal(3, (int)kd["n"]!);
        Assert.Equal(0.622, (double)kd["runs"]![1]!["best"]!, 12);
        Assert.Equal(0.602, (double)kd["runs"]![1]!["final"]!, 12);
        Assert.Equal(3, kd["runs"]![0]!["curve"]!.AsArray().Count);
        Assert.Equal("Student alone", (string)json["baseline"]!);
        var gain = json["gains"]!.AsArray().Single()!;
        Assert.Equal(("KD", 0.022, true), ((string)gain["label"]!, Math.Round((double)gain["delta"]!, 12), (bool)gain["beats_every_seed"]!));
        Assert.Empty(json["teacher_flags"]!.AsArray());

        // The console says the same.
        Assert.Matches(@"KD\s+60\.20 ± 0\.10 \(n=3\)\s+\(published 55\.00 ± 0\.30\)", r.Out);
        Assert.Contains("  KD vs Student alone: +2.20 (every seed beats every seed of it)", r.Out);
    }

    [Fact]
    public void A_second_report_reuses_finished_runs_and_collect_runs_nothing()
    {
        using var w = new World();
        var collectFirst = w.Report("--collect");
        Assert.Equal(0, collectFirst.ExitCode);
        Assert.Empty(w.Log);
        var md = File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]);
        Assert.Contains("| KD | kd | `kd` | — | — (s1), — (s2), — (s3) | — | 55.00 ± 0.30 |", md);
        Assert.Contains("* KD: no finished run for seeds 1, 2, 3", md);

        Assert.Equal(0, w.Report("--seeds", "1,2").ExitCode);
        Assert.Equal(6, w.Log.Count);
        Assert.Equal(0, w.Report("--seeds", "1,2,3").ExitCode);
        Assert.Equal(9, w.Log.Count); // only seed 3 was new
        Assert.Equal(0, w.Report("--collect").ExitCode);
        Assert.Equal(0, w.Report().ExitCode);
        Assert.Equal(9, w.Log.Count);
        Assert.Contains("58.00 ± 1.00 (n=3)", File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]));
    }

    [Fact]
    public void Quick_reports_are_kept_apart_from_full_ones()
    {
        using var w = new World();
        var r = w.Report("--quick", "--out", w.Tmp["runs"]);
        Assert.Equal(2, r.ExitCode); // --out twice
        r = CliResult.RunIn(w.Tmp.Path, w.All, "report", "fake", "--quick", "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.Equal(["student", "teacher", "kd"], w.Log); // the quick seeds: [1]
        Assert.All(w.Student.Calls, c => Assert.Equal((true, 2, 4), (c.Quick, c.QuickEpochs, c.QuickBatches)));
        Assert.True(Directory.Exists(w.Tmp["runs-quick/student/quick-s1"]));
        var md = File.ReadAllText(w.Tmp["experiments/fake/report-quick/report.md"]);
        Assert.Contains("**Quick run** (2 epochs of at most 4 batches)", md);
        Assert.Contains("| Student alone | student | `student` | 55.00 (n=1) | 55.00 (s1) | 2/2 | 57.5 |", md);
        Assert.False(File.Exists(w.Tmp["experiments/fake/report/report.md"]));
        // A smoke run ranks nothing against the papers, and its 8-step teacher is named for what it is.
        Assert.DoesNotContain("Ordering (rows with a published number)", md);
        Assert.Contains("No ordering against the published numbers: a quick run's numbers cannot rank the methods.", md);
        Assert.Contains("* KD: teacher run `teacher/quick-s1`: trained 8 optimizer steps, too few to carry knowledge (a BatchNorm network's running statistics still hold 43% of their initial values", md);

        // A full report finds none of the quick runs.
        var full = CliResult.RunIn(w.Tmp.Path, w.All, "report", "fake", "--collect", "--out", w.Tmp["runs-quick"]);
        Assert.Equal(0, full.ExitCode);
        Assert.Contains("Student alone (seed 1): no finished run", full.Out);
    }

    [Fact]
    public void An_interrupted_run_is_resumed_and_a_failed_one_is_reported_with_exit_code_1()
    {
        using var w = new World();
        w.Student.CrashAfterEpochs = 1;
        var first = w.Report("--seeds", "1");
        Assert.Equal(1, first.ExitCode);
        Assert.Contains("Student alone (seed 1): FAILED: simulated crash after epoch 1", first.Error);
        Assert.Contains("* Student alone, seed 1: failed: simulated crash after epoch 1", File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]));
        Assert.Equal(RunRecord.Running, RunRecord.Read(w.Tmp["runs/student/s1"])!.Status);

        var second = w.Report("--seeds", "1");
        Assert.True(second.ExitCode == 0, second.Error);
        Assert.Contains("Student alone (seed 1): resuming the unfinished run s1", second.Out);
        Assert.Equal([1, 1, 2, 3], RunDirectory.ReadMetrics(w.Tmp["runs/student/s1"]).Where(x => x.Phase is "val" or "resume").Select(x => x.Epoch!.Value));
        Assert.Equal(RunRecord.Done, RunRecord.Read(w.Tmp["runs/student/s1"])!.Status);
        Assert.Contains("| Student alone | student | `student` | 57.00 (n=1) |", File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]));
    }

    [Fact]
    public void A_run_with_other_settings_is_not_taken_and_its_name_is_not_reused()
    {
        using var w = new World();
        // A hand-made run called s1 that trained 1 epoch: not the suite's measurement.
        Assert.Equal(0, CliResult.Run(w.All, "run", "student", "--out", w.Tmp["runs"], "--epochs", "1", "--seed", "1", "--run-name", "s1", "--progress", "none").ExitCode);
        Assert.Equal(0, w.Report("--seeds", "1").ExitCode);
        Assert.True(Directory.Exists(w.Tmp["runs/student/s1-2"]));
        Assert.Contains("57.00 (s1)", File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]));
    }

    [Fact]
    public void A_run_with_set_overrides_is_not_taken_for_the_declared_experiment()
    {
        using var w = new World();
        // A diagnostic run of seed 1 at another loss weight: a different measurement, however it is named.
        var diagnostic = CliResult.Run(w.All, "run", "student", "--out", w.Tmp["runs"], "--seed", "1", "--run-name", "s1", "--set", "losses.ce.weight=0.5", "--progress", "none");
        Assert.True(diagnostic.ExitCode == 0, diagnostic.Error);
        Assert.Equal("losses.ce.weight=0.5", RunRecord.Read(w.Tmp["runs/student/s1"])!.Settings.Overrides);
        Assert.Equal("0.5", (string)CliResult.Json(w.Tmp["runs/student/s1/runner.json"])["set"]!["losses.ce.weight"]!);

        var collected = w.Report("--seeds", "1", "--collect");
        Assert.Contains("Student alone (seed 1): no finished run", collected.Out);
        Assert.Equal(0, w.Report("--seeds", "1").ExitCode);
        Assert.True(Directory.Exists(w.Tmp["runs/student/s1-2"]), "the declared run is trained beside the diagnostic one");
        Assert.Contains("57.00 (s1)", File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]));

        // A note written before runner.json recorded overrides: they are read from the loop's options.json.
        var note = CliResult.Json(w.Tmp["runs/student/s1/runner.json"]);
        note.Remove("set");
        File.WriteAllText(w.Tmp["runs/student/s1/runner.json"], note.ToJsonString());
        Assert.Equal("losses.ce.weight=0.5", RunRecord.Read(w.Tmp["runs/student/s1"])!.Settings.Overrides);
    }

    [Fact]
    public void A_teacher_no_better_than_the_student_alone_is_flagged_and_no_ordering_is_claimed()
    {
        using var w = new World();
        var kd = new FakeExperiment
        {
            Name = "kd", DependsOn = ["teacher"], SharedLog = w.Log, MetricKey = "top1", Metric = (s, e) => 0.5 + 0.001 * s,
            TeacherEvaluation = _ => new Dictionary<string, double> { ["teacher_top1"] = 0.55 },
        };
        var r = CliResult.RunIn(w.Tmp.Path, [w.Teacher.Info, w.Student.Info, kd.Info], "report", "fake", "--out", w.Tmp["runs"], "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error);
        var md = File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]);
        Assert.Contains("**Teacher checks failed**", md);
        Assert.Matches(@"\* KD: teacher run `teacher/s\d`: its teacher_top1 55\.00 \(seed 1's evaluation\) is no better than Student alone's mean 58\.00", md);
        Assert.Contains("No ordering against the published numbers: a teacher check failed (above).", md);
        Assert.Contains("| KD | −7.80 |", md);
        Assert.Contains("no: every seed is worse", md);
    }

    [Fact]
    public void Unknown_experiments_in_a_suite_are_usage_errors_with_their_lines()
    {
        using var w = new World();
        var r = CliResult.RunIn(w.Tmp.Path, [w.Teacher.Info, w.Kd.Info], "report", "fake");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"{w.SuitePath}:7: entry 'Student alone': unknown experiment 'student'.", r.Error);
        Assert.Empty(w.Log);
    }

    [Fact]
    public void The_curves_are_well_formed_svg_with_one_line_per_entry()
    {
        using var w = new World();
        Assert.Equal(0, w.Report("--seeds", "1,2").ExitCode);
        var svg = XDocument.Parse(File.ReadAllText(w.Tmp["experiments/fake/report/curves.svg"]));
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", svg.Root!.Name);
        var series = svg.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "series").ToList();
        Assert.Equal(["Student alone", "KD", "Teacher"], series.Select(g => (string)g.Attribute("data-label")!));
        var kdPoints = ((string)series[1].Element(ns + "polyline")!.Attribute("points")!).Split(' ');
        Assert.Equal(3, kdPoints.Length);
        Assert.Equal(2, ((string)series[2].Element(ns + "polyline")!.Attribute("points")!).Split(' ').Length);
        var legend = svg.Descendants(ns + "g").Single(g => (string?)g.Attribute("class") == "legend");
        Assert.Equal(["Student alone", "KD", "Teacher"], legend.Elements(ns + "text").Select(t => t.Value));
        Assert.Contains(svg.Descendants(ns + "text"), t => t.Value == "epoch");
    }

    [Fact]
    public void Svg_escapes_labels_and_draws_nice_ticks()
    {
        var text = SvgPlot.Render("a < b & \"c\"", null, "epoch", "y", [new SvgPlot.Series("<KD> & co", [(1, 0.5), (2, 0.61)]), new SvgPlot.Series("one", [(1, 0.55)]), new SvgPlot.Series("none", [])]);
        var doc = XDocument.Parse(text);
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Contains(doc.Descendants(ns + "text"), t => t.Value == "<KD> & co");
        Assert.Contains(doc.Descendants(ns + "text"), t => t.Value == "none (no data)");
        Assert.Contains(doc.Descendants(ns + "text"), t => t.Value == "0.62");
        Assert.Equal((0.5, 0.62, 0.02), SvgPlot.Axis(0.5, 0.61, false));
        Assert.Equal((0, 250, 50), SvgPlot.Axis(1, 240, true));
        Assert.Equal((0, 2, 1), SvgPlot.Axis(1, 1, true));
        Assert.Contains("no data", SvgPlot.Render("t", null, "x", "y", []));
        XDocument.Parse(SvgPlot.Render("t", null, "x", "y", []));
    }

    [Fact]
    public void Metrics_are_found_however_the_loop_spells_them_and_resumed_epochs_count_once()
    {
        static MetricsRecord R(string phase, int epoch, string key, double v) => new(DateTimeOffset.UnixEpoch, phase, epoch, null, new Dictionary<string, double> { [key] = v });
        var records = new List<MetricsRecord>
        {
            R("val", 1, "top1", 0.1),
            R("val", 2, "val/top1", 0.2),
            R("val", 3, "val_top1", 0.3),
            R("train", 3, "top1", 0.9), // another phase's top1 is not val_top1
            new(DateTimeOffset.UnixEpoch, "resume", 2, 20, new Dictionary<string, double>(), "ckpt-2"),
            R("val", 3, "val/top1", 0.35),
        };
        var curve = MetricReader.Curve(records, "val_top1");
        Assert.Equal([(1, 0.1), (2, 0.2), (3, 0.35)], curve.Select(kv => (kv.Key, kv.Value)));
        Assert.Equal([(2, 0.2), (3, 0.35)], MetricReader.Curve(records, "val/top1").Where(kv => kv.Key > 1).Select(kv => (kv.Key, kv.Value)));
        Assert.Null(Statistics.SampleStd([0.5]));
        Assert.Equal(Math.Sqrt(2.0 / 3), Statistics.SampleStd([1, 2, 2, 3])!.Value, 12);
    }

    [Fact]
    public void Further_metrics_get_their_own_table_and_json_at_the_final_epoch()
    {
        using var w = new World();
        // train_loss is 2 / epoch: 2/3 at the students' final epoch 3, 1 at the teacher's epoch 2.
        File.WriteAllText(w.SuitePath, Suite.Replace("scale: 100", "scale: 100\nalso: [train_loss, val_missing]"));
        var r = w.Report();
        Assert.True(r.ExitCode == 0, r.Error + r.Out);
        var md = File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]);
        Assert.Contains("| Method | train_loss | val_missing |", md);
        Assert.Contains("| Student alone | 66.67 ± 0.00 | — |", md);
        Assert.Contains("| Teacher | 100.00 ± 0.00 | — |", md);
        var json = CliResult.Json(w.Tmp["experiments/fake/report/results.json"]);
        var teacher = json["entries"]!.AsArray().Single(e => (string)e!["label"]! == "Teacher")!;
        Assert.Equal(1.0, (double)teacher["also"]!["train_loss"]!["mean"]!, 12);
        Assert.Equal(3, (int)teacher["also"]!["train_loss"]!["n"]!);
        Assert.Equal(0, (int)teacher["also"]!["val_missing"]!["n"]!);
        Assert.Equal(1.0, (double)teacher["runs"]![0]!["also"]!["train_loss"]!, 12);
    }

    [Fact]
    public void A_bad_also_list_names_the_line()
    {
        using var w = new World();
        File.WriteAllText(w.SuitePath, Suite.Replace("scale: 100", "scale: 100\nalso: [train_loss, train_loss]"));
        var r = w.Report();
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("suite.yaml:5:", r.Error);
        Assert.Contains("'train_loss' is listed twice in 'also'", r.Error);
    }

    [Fact]
    public void A_suite_lays_out_its_report_with_its_own_template()
    {
        using var w = new World();
        File.WriteAllText(w.SuitePath, Suite.Replace("scale: 100", "scale: 100\ntemplate: paper.scriban"));
        w.Tmp.Write("experiments/fake/paper.scriban", """
            # {{ title }}

            | Method | Top-1 | Δ |
            |---|---|---|
            {{~ for row in rows ~}}
            | {{ row.label }}{{ if row.is_baseline }} (baseline){{ end }} | {{ row.mean_text }} ± {{ row.std_text }} | {{ row.delta_text }}{{ if row.beats_every_seed }} ✓{{ end }} |
            {{~ end ~}}

            {{ ordering }}
            """);
        var r = w.Report();
        Assert.True(r.ExitCode == 0, r.Error + r.Out);
        var md = File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]).ReplaceLineEndings("\n");
        Assert.StartsWith("# Fake KD suite\n", md);
        Assert.Contains("| Student alone (baseline) | 58.00 ± 1.00 |  |\n", md);
        Assert.Contains("| KD | 60.20 ± 0.10 | +2.20 ✓ |\n", md);
        Assert.Contains("Ordering (rows with a published number): ours Teacher > KD > Student alone", md);
        Assert.DoesNotContain("## Runs", md); // the built-in layout is not used (a template may embed it as {{ default }})

        // The built-in layout is itself a template over the same data: a suite that copies it gets the built-in report.
        var builtIn = w.Report("--collect");
        w.Tmp.Write("experiments/fake/paper.scriban", ReportTemplate.DefaultTemplate.Value);
        var copied = w.Report("--collect");
        Assert.True(builtIn.ExitCode == 0 && copied.ExitCode == 0, builtIn.Error + copied.Error);
        var fromCopy = File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]).ReplaceLineEndings("\n");
        Assert.Contains("## Runs", fromCopy);
        Assert.Contains("| Student alone | student | `student` | 58.00 ± 1.00 (n=3) |", fromCopy);
        File.WriteAllText(w.SuitePath, Suite);
        w.Report("--collect");
        var plain = File.ReadAllText(w.Tmp["experiments/fake/report/report.md"]).ReplaceLineEndings("\n");
        Assert.Equal(Without(plain, "* Generated:"), Without(fromCopy, "* Generated:"));
        File.WriteAllText(w.SuitePath, Suite.Replace("scale: 100", "scale: 100\ntemplate: paper.scriban"));

        // A template that does not parse is a problem of the suite file, at its key, before anything trains.
        w.Tmp.Write("experiments/fake/paper.scriban", "{{ for row in rows }} {{ row.label ");
        var broken = w.Report();
        Assert.Equal(2, broken.ExitCode);
        Assert.Contains("suite.yaml:5:", broken.Error);
        Assert.Contains("does not parse: line 1", broken.Error);

        // A misspelt variable is an error naming the file and line, not an empty cell.
        w.Tmp.Write("experiments/fake/paper.scriban", "# {{ title }}\n{{ rwos }}\n");
        var misspelt = w.Report("--collect");
        Assert.Equal(1, misspelt.ExitCode);
        Assert.Contains("paper.scriban' failed at line 2, column 4", misspelt.Error);
        Assert.DoesNotContain("unexpected", misspelt.Error); // the user's mistake, said plainly, not a crash
    }

    private static string Without(string text, string linePrefix) =>
        string.Join("\n", text.Split('\n').Where(l => !l.StartsWith(linePrefix, StringComparison.Ordinal)));
}
