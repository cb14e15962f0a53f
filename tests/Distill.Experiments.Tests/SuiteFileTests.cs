namespace Distill.Experiments.Tests;

public class SuiteFileTests
{
    private const string Path = "/suites/cifar/suite.yaml";

    private static SuiteFileException Fails(string yaml) => Assert.Throws<SuiteFileException>(() => SuiteFile.Parse(Path, yaml));

    [Fact]
    public void A_valid_suite_reads_with_its_defaults()
    {
        var suite = SuiteFile.Parse(Path, """
            title: CIFAR KD
            description: |
              Teachers, students and KD.
            seeds: [1, 2, 3]
            scale: 100
            quick: { epochs: 2, max_batches: 20 }
            entries:
              - { label: ResNet56, experiment: teacher-resnet56, group: teacher }
              - label: KD
                experiment: hinton-kd
            anchors:
              - { label: KD, value: "70.66", source: "Tian et al. 2020, Table 1" }
            """);
        Assert.Equal("CIFAR KD", suite.Title);
        Assert.Equal("cifar", suite.Name);
        Assert.Equal("Teachers, students and KD.", suite.Description);
        Assert.Equal([1L, 2L, 3L], suite.Seeds);
        Assert.Equal((2, 20), (suite.QuickEpochs, suite.QuickBatches));
        Assert.Empty(suite.QuickSeeds);
        Assert.Equal("val_top1", suite.Metric);
        Assert.Equal(MetricMode.Max, suite.Mode);
        Assert.Equal(Selection.Final, suite.Select);
        Assert.Equal(2, suite.ShownDecimals);
        Assert.Equal([new SuiteEntry("ResNet56", "teacher-resnet56", "teacher", 8), new SuiteEntry("KD", "hinton-kd", null, 9)], suite.Entries);
        Assert.Equal(70.66, suite.Anchors.Single().Number);
        Assert.Equal("/suites/cifar/report-quick", suite.ReportDirectory(quick: true));
    }

    [Fact]
    public void An_unknown_key_is_reported_with_file_line_and_a_suggestion()
    {
        var e = Fails("""
            title: t
            seed: [1]
            entries:
              - { label: a, experiment: x }
            """);
        Assert.Equal($"{Path}:2:1: unknown key 'seed' in suite. Did you mean 'seeds'? Valid keys: title, description, metric, also, mode, select, scale, decimals, seeds, quick, baseline, entries, anchors, template", e.Problems.Single());
        Assert.StartsWith($"{Path}: the suite file has 1 problem:", e.Message);
    }

    [Fact]
    public void Every_problem_is_reported_at_once_each_with_its_line()
    {
        var e = Fails("""
            title: t
            mode: maximum
            seeds: [1, two, 1]
            quick:
              epochs: 0
              batches: 3
            entries:
              - { label: a, experiment: x }
              - label: b
              - { label: a, experiment: y, grup: kd }
              - just text
            anchors:
              - { label: c, value: 1 }
            """);
        Assert.Equal(
        [
            $"{Path}:2:7: 'mode' must be one of max, min (got 'maximum')",
            $"{Path}:3:12: 'seeds' must list whole numbers (got 'two')",
            $"{Path}:3:17: the seed 1 is listed twice in 'seeds'",
            $"{Path}:6:3: unknown key 'batches' in quick. Did you mean 'max_batches'? Valid keys: epochs, max_batches, seeds",
            $"{Path}:5:11: 'epochs' must be a whole number from 1 up (got '0')",
            $"{Path}:9:5: missing 'experiment'",
            $"{Path}:10:32: unknown key 'grup' in an entry. Did you mean 'group'? Valid keys: label, experiment, group",
            $"{Path}:10:14: the label 'a' is used twice (first on line 8); labels name the report's rows",
            $"{Path}:11:5: an entry must be a mapping (key: value lines)",
            $"{Path}:13:14: the anchor's label 'c' matches no entry. Did you mean 'a'? Entry labels: a",
        ], e.Problems);
    }

    [Fact]
    public void Missing_and_empty_parts_are_problems()
    {
        Assert.Equal([$"{Path}:1:1: missing 'title'", $"{Path}:1:1: missing 'entries': the list of {{label, experiment, group}} rows the report is made of"],
            Fails("metric: val_top1\n").Problems);
        Assert.Equal([$"{Path}:2:10: 'entries' must be a non-empty list of {{label, experiment, group}} rows"], Fails("title: t\nentries: []\n").Problems);
        Assert.Equal([$"{Path}:1:1: a suite file is a mapping with at least 'title' and 'entries'"], Fails("- a\n- b\n").Problems);
    }

    [Fact]
    public void A_yaml_syntax_error_has_its_line()
    {
        var e = Fails("title: t\nentries:\n  - { label: a, experiment: x\n");
        var problem = Assert.Single(e.Problems);
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(Path)}:[34]:\d+: not valid YAML: ", problem);
    }

    [Fact]
    public void A_suite_is_found_by_name_from_below_the_repository()
    {
        using var tmp = new TempDir();
        var file = tmp.Write("experiments/cifar/suite.yaml", "title: t\nentries: [{ label: a, experiment: x }]\n");
        Directory.CreateDirectory(tmp["experiments/other"]);
        Directory.CreateDirectory(tmp["src/deep"]);
        Assert.Equal(file, SuiteFile.Locate("cifar", tmp["src/deep"]));
        Assert.Equal(file, SuiteFile.Locate("experiments/cifar", tmp.Path));
        Assert.Equal(file, SuiteFile.Locate(file, "/"));
        var e = Assert.Throws<UsageException>(() => SuiteFile.Locate("cifr", tmp.Path));
        Assert.Contains("Did you mean 'cifar'?", e.Message);
        Assert.Contains("suites in " + tmp["experiments"] + ": cifar", e.Message);
    }

    [Fact]
    public void The_repository_suite_files_parse()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Dsl.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        var suites = Directory.GetFiles(System.IO.Path.Combine(dir.FullName, "experiments"), SuiteFile.FileName, SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{System.IO.Path.DirectorySeparatorChar}bin{System.IO.Path.DirectorySeparatorChar}") && !f.Contains($"{System.IO.Path.DirectorySeparatorChar}obj{System.IO.Path.DirectorySeparatorChar}"))
            .ToList();
        Assert.NotEmpty(suites);
        foreach (var file in suites)
        {
            var suite = SuiteFile.Load(file);
            Assert.NotEmpty(suite.Entries);
        }
    }
}
