namespace Distill.Experiments.Tests;

public class DependencyTests
{
    [Fact]
    public void A_missing_teacher_is_trained_once_before_its_student_and_reused_after()
    {
        using var tmp = new TempDir();
        var log = new List<string>();
        var teacher = new FakeExperiment { Name = "teacher", Epochs = 2, SharedLog = log };
        var student = new FakeExperiment { Name = "student", DependsOn = ["teacher"], Epochs = 4, SharedLog = log };
        ExperimentInfo[] all = [teacher.Info, student.Info];

        var first = CliResult.Run(all, "run", "student", "--out", tmp.Path, "--seed", "7", "--epochs", "3", "--progress", "none");
        Assert.True(first.ExitCode == 0, first.Error);
        Assert.Equal(["teacher", "student"], log);
        Assert.Contains("student: teacher from 'teacher': no finished run under", first.Out);
        Assert.Contains("training 'teacher' first (seed 7)", first.Out);
        // The teacher: the student's seed, its own declared epochs (--epochs is the student's).
        Assert.Equal(7, teacher.Calls[0].Seed);
        Assert.Null(teacher.Calls[0].Epochs);
        Assert.Equal(3, student.Calls[0].Epochs);
        Assert.Equal(Path.GetFullPath(tmp.Path), teacher.Calls[0].OutputRoot);
        Assert.Contains("run:     " + Path.Combine(tmp.Path, "student"), first.Out);
        Assert.Contains("val_top1", first.Out);

        var second = CliResult.Run(all, "run", "student", "--out", tmp.Path, "--progress", "none");
        Assert.True(second.ExitCode == 0, second.Error);
        Assert.Equal(["teacher", "student", "student"], log);
        Assert.Contains("student: teacher from 'teacher': reusing " + Path.Combine(tmp.Path, "teacher"), second.Out);

        // Every run carries the runner's note of its settings.
        var note = RunRecord.Read(Path.GetDirectoryName(Path.GetDirectoryName(TeacherWeights.FindRun("teacher", tmp.Path)!)!)!)!;
        Assert.Equal(new RunSettings("teacher", 7, false, 2, null, null, null), note.Settings);
        Assert.Equal(RunRecord.Done, note.Status);
        // ... and which teacher run the student loaded.
        var studentRun = Directory.GetDirectories(tmp["student"]).Order().First();
        Assert.Equal(Path.Combine(tmp.Path, "teacher", Path.GetFileName(Directory.GetDirectories(tmp["teacher"]).Single())), RunRecord.Read(studentRun)!.Teachers!["teacher"]);
    }

    [Fact]
    public void A_chain_of_teachers_trains_depth_first_and_quick_goes_down_the_chain()
    {
        using var tmp = new TempDir();
        var log = new List<string>();
        var a = new FakeExperiment { Name = "a", SharedLog = log };
        var b = new FakeExperiment { Name = "b", DependsOn = ["a"], SharedLog = log };
        var c = new FakeExperiment { Name = "c", DependsOn = ["b", "a"], SharedLog = log };
        var r = CliResult.Run([c.Info, b.Info, a.Info], "run", "c", "--out", tmp.Path, "--quick", "--max-batches", "2", "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.Equal(["a", "b", "c"], log);
        Assert.All([a, b, c], x => Assert.True(x.Calls.Single().Quick));
        Assert.Null(a.Calls[0].MaxBatchesPerEpoch); // a cap of the student's batches is the student's
        Assert.Equal(2, c.Calls[0].MaxBatchesPerEpoch);
        Assert.Contains("c: teacher from 'a': reusing", r.Out); // trained for b, reused for c
    }

    [Fact]
    public void Quick_runs_default_to_their_own_root_so_a_smoke_test_teacher_never_feeds_a_real_student()
    {
        using var tmp = new TempDir();
        var teacher = new FakeExperiment { Name = "teacher" };
        var r = CliResult.RunIn(tmp.Path, [teacher.Info], "run", "teacher", "--quick", "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.NotNull(TeacherWeights.FindRun("teacher", tmp["runs-quick"], quick: true));
        Assert.Null(TeacherWeights.FindRun("teacher", tmp["runs"]));
        // Even in the same root, a full student never takes a quick teacher run.
        Assert.Null(TeacherWeights.FindRun("teacher", tmp["runs-quick"], quick: false));
    }

    [Fact]
    public void A_teacher_run_trained_with_other_settings_is_passed_over_and_the_teacher_trained_as_declared()
    {
        using var tmp = new TempDir();
        var log = new List<string>();
        var teacher = new FakeExperiment { Name = "teacher", Epochs = 4, SharedLog = log };
        var student = new FakeExperiment { Name = "student", DependsOn = ["teacher"], SharedLog = log };
        ExperimentInfo[] all = [teacher.Info, student.Info];

        // A short trial of the teacher, newer than nothing: it must not become the student's teacher.
        var trial = CliResult.Run(all, "run", "teacher", "--out", tmp.Path, "--epochs", "1", "--batch-size", "8", "--progress", "none");
        Assert.True(trial.ExitCode == 0, trial.Error);
        var trialRun = Directory.GetDirectories(tmp["teacher"]).Single();
        Assert.Equal(new RunRequest(0, false, 1, 8, null, null), RunRequest.Read(trialRun));
        Assert.Null(TeacherWeights.FindRun("teacher", tmp.Path));
        Assert.Equal([$"{Path.GetFileName(trialRun)}: --epochs 1, --batch-size 8"], TeacherWeights.RejectedRuns("teacher", new TrainOptions { OutputRoot = tmp.Path }));

        var r = CliResult.Run(all, "run", "student", "--out", tmp.Path, "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.Contains($"no run under {Path.GetFullPath(tmp.Path)} trained it as declared ({Path.GetFileName(trialRun)}: --epochs 1, --batch-size 8); training 'teacher' first", r.Out);
        Assert.Equal(["teacher", "teacher", "student"], log);
        Assert.Null(teacher.Calls[1].Epochs);
        var declaredRun = Path.GetDirectoryName(Path.GetDirectoryName(TeacherWeights.FindRun("teacher", tmp.Path)))!;
        Assert.NotEqual(trialRun, declaredRun);
        var studentRun = Directory.GetDirectories(tmp["student"]).Single();
        Assert.Equal(declaredRun, RunRecord.Read(studentRun)!.Teachers!["teacher"]);

        // The loop's own error, without the runner, names the runs it passed over.
        using var empty = new TempDir();
        CliResult.Run(all, "run", "teacher", "--out", empty.Path, "--max-batches", "2", "--progress", "none");
        var e = Assert.Throws<DistillRuntimeException>(() => TeacherWeights.LoadFromExperiment(new Distill.Torch.Modules.Linear(1, 1), "teacher", "teacher", new TrainOptions { OutputRoot = empty.Path }));
        Assert.Contains("has no finished run trained as declared", e.Message);
        Assert.Contains(": --max-batches 2", e.Message);
    }

    [Fact]
    public void Export_needs_a_destination_and_a_run_trained_as_declared()
    {
        using var tmp = new TempDir();
        var teacher = new FakeExperiment { Name = "teacher" };
        var noTo = CliResult.Run([teacher.Info], "export", "teacher", "--out", tmp.Path);
        Assert.Equal(2, noTo.ExitCode);
        Assert.Contains("export needs --to FILE", noTo.Error);
        var noRun = CliResult.Run([teacher.Info], "export", "teacher", "--out", tmp.Path, "--to", tmp["t.safetensors"]);
        Assert.Equal(1, noRun.ExitCode);
        Assert.Contains("experiment 'teacher' has no finished run trained as declared", noRun.Error);
        // The fake loop checkpoints no modules: the checkpoint's own message says what it has.
        Assert.Equal(0, CliResult.Run([teacher.Info], "run", "teacher", "--out", tmp.Path, "--progress", "none").ExitCode);
        var noModule = CliResult.Run([teacher.Info], "export", "teacher", "--out", tmp.Path, "--to", tmp["t.safetensors"]);
        Assert.Equal(1, noModule.ExitCode);
        Assert.Contains("has no module 'student'", noModule.Error);
        Assert.False(File.Exists(tmp["t.safetensors"]));
    }

    [Fact]
    public void A_dependency_cycle_or_an_unregistered_teacher_is_an_error_not_a_crash()
    {
        using var tmp = new TempDir();
        var x = new FakeExperiment { Name = "x", DependsOn = ["y"] };
        var y = new FakeExperiment { Name = "y", DependsOn = ["x"] };
        var cycle = CliResult.Run([x.Info, y.Info], "run", "x", "--out", tmp.Path);
        Assert.Equal(1, cycle.ExitCode);
        Assert.Contains("cycle: x → y → x", cycle.Error);
        Assert.Empty(x.Calls);

        var orphan = new FakeExperiment { Name = "orphan", DependsOn = ["teacher-resnet56"] };
        var other = new FakeExperiment { Name = "teacher-resnet65" };
        var r = CliResult.Run([orphan.Info, other.Info], "run", "orphan", "--out", tmp.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("takes a teacher from experiment 'teacher-resnet56', which is not registered. Did you mean 'teacher-resnet65'?", r.Error);
    }

    [Fact]
    public void Several_seeds_give_several_runs_and_a_failed_run_exits_with_1()
    {
        using var tmp = new TempDir();
        var e = new FakeExperiment { Name = "e" };
        var r = CliResult.Run([e.Info], "run", "e", "--out", tmp.Path, "--seeds", "3,4", "--run-name", "try", "--progress", "none");
        Assert.True(r.ExitCode == 0, r.Error);
        Assert.Equal([3L, 4L], e.Calls.Select(c => c.Seed));
        Assert.True(Directory.Exists(tmp["e/try-s3"]) && Directory.Exists(tmp["e/try-s4"]));

        var broken = new FakeExperiment { Name = "broken", Failure = new CheckpointException("/x/ckpt.json", "checkpoint '/x/ckpt.json' is corrupt") };
        var f = CliResult.Run([broken.Info], "run", "broken", "--out", tmp.Path);
        Assert.Equal(1, f.ExitCode);
        Assert.Equal("error: checkpoint '/x/ckpt.json' is corrupt", f.Error.Trim());
    }

    [Fact]
    public void Resume_continues_the_named_run()
    {
        using var tmp = new TempDir();
        var e = new FakeExperiment { Name = "e", Epochs = 4, CrashAfterEpochs = 2 };
        var crashed = CliResult.Run([e.Info], "run", "e", "--out", tmp.Path, "--run-name", "long");
        Assert.Equal(1, crashed.ExitCode);
        Assert.Contains("simulated crash after epoch 2", crashed.Error);

        var resumed = CliResult.Run([e.Info], "run", "e", "--out", tmp.Path, "--run-name", "long", "--resume");
        Assert.True(resumed.ExitCode == 0, resumed.Error);
        Assert.Equal(ResumeOption.Latest, e.Calls[1].Resume);
        var records = RunDirectory.ReadMetrics(tmp["e/long"]);
        Assert.Equal([1, 2, 2, 3, 4], records.Where(x => x.Phase is "val" or "resume").Select(x => x.Epoch!.Value));
    }
}
