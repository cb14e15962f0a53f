using System.Text.Json.Nodes;

namespace Distill.Runtime.Tests;

public class CheckpointTests
{
    [Fact]
    public void A_checkpoint_is_a_safetensors_file_with_prefixed_names_and_a_json_file_with_the_rest()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        s.Step();
        s.State.BestMetric = 0.25;
        s.State.Extras["note"] = "hello";
        var info = new Checkpointer(tmp.Path).Save(s.State, metric: 0.5);

        Assert.Equal(Path.Combine(tmp.Path, "ckpt-000001-e0-s1.safetensors"), info.TensorsPath);
        Assert.Equal(Path.Combine(tmp.Path, "ckpt-000001-e0-s1.json"), info.StatePath);
        using (var content = Safetensors.Read(info.TensorsPath))
        {
            var names = content.Tensors.Select(kv => kv.Key).ToHashSet();
            Assert.Contains("model.student.0.weight", names);
            Assert.Contains("model.student.3.bias", names);
            Assert.Contains("model.adapter.weight", names);
            Assert.Contains("optim.main.state.0.momentum_buffer", names);
            Assert.Contains("rng.global", names);
            Assert.Contains("rng.loader", names);
            Assert.Equal(ScalarType.Byte, content["rng.loader"].dtype);
        }
        var json = JsonNode.Parse(File.ReadAllText(info.StatePath))!.AsObject();
        Assert.Equal("distill.checkpoint", (string?)json["format"]);
        Assert.Equal(1, (long)json["global_step"]!);
        Assert.Equal(0.5, (double)json["metric"]!);
        Assert.Equal(0.5, (double)json["best_metric"]!); // 0.5 beats 0.25 under max
        Assert.Equal(["student", "adapter"], json["modules"]!.AsArray().Select(n => (string)n!));
        Assert.Equal("SGD", (string?)json["optimizers"]!["main"]!["optimizer"]);
        Assert.NotNull(json["schedulers"]!["main"]!["last_epoch"]);
        Assert.Equal(["global", "loader"], json["generators"]!.AsArray().Select(n => (string)n!));
        Assert.Equal("hello", (string?)json["extras"]!["note"]);
        Assert.Equal(64, ((string)json["tensors"]!["sha256"]!).Length);

        var pointer = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Path, "latest.json")))!;
        Assert.Equal("ckpt-000001-e0-s1.json", (string?)pointer["state"]);
    }

    [Fact]
    public void Restore_brings_back_counters_best_metric_and_extras()
    {
        using var tmp = new TempDir();
        using var a = new TinySetup();
        a.State.Epoch = 4;
        a.State.BatchInEpoch = 17;
        a.State.GlobalStep = 1207;
        a.State.Extras["kd_weight"] = 0.75;
        new Checkpointer(tmp.Path, mode: MetricMode.Min).Save(a.State, metric: 2.5);

        using var b = new TinySetup();
        var info = new Checkpointer(tmp.Path, mode: MetricMode.Min).RestoreLatest(b.State);
        Assert.Equal((4, 17L, 1207L), (b.State.Epoch, b.State.BatchInEpoch, b.State.GlobalStep));
        Assert.Equal(2.5, b.State.BestMetric);
        Assert.Equal(0.75, (double)b.State.Extras["kd_weight"]!);
        Assert.Equal((4, 1207L, 2.5), (info.Epoch, info.GlobalStep, info.Metric));
        Assertions.Identical(a.Snapshot(), b.Snapshot());
    }

    [Fact]
    public void A_crash_after_the_pair_is_written_but_before_the_pointer_moves_leaves_latest_on_the_previous_checkpoint()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        s.Step();
        var checkpointer = new Checkpointer(tmp.Path);
        var first = checkpointer.Save(s.State);
        var atFirst = s.Snapshot();

        s.Step();
        s.Step();
        CheckpointInfo? written = null;
        checkpointer.AfterPairWritten = info =>
        {
            written = info;
            throw new IOException("simulated crash");
        };
        Assert.Throws<IOException>(() => checkpointer.Save(s.State));
        // The new pair is complete on disk...
        Assert.True(File.Exists(written!.StatePath) && File.Exists(written.TensorsPath));
        // ...and a leftover temporary file of a pointer write that never finished sits beside it.
        File.WriteAllText(Path.Combine(tmp.Path, ".tmp-latest.json.1234.deadbeef"), "{ \"trunc");

        var reopened = new Checkpointer(tmp.Path); // a new process
        Assert.Equal(first.Name, reopened.Latest!.Name);
        Assert.False(File.Exists(Path.Combine(tmp.Path, ".tmp-latest.json.1234.deadbeef")));
        using var fresh = new TinySetup();
        reopened.RestoreLatest(fresh.State);
        Assertions.Identical(atFirst, fresh.Snapshot());
        Assert.Equal(1, fresh.State.GlobalStep);

        // The next save takes a new name: the orphaned pair is never overwritten in place.
        var next = reopened.Save(fresh.State);
        Assert.NotEqual(written.Name, next.Name);
        Assert.Equal(next.Name, new Checkpointer(tmp.Path).Latest!.Name);
    }

    [Fact]
    public void A_crash_between_the_tensor_file_and_the_json_file_leaves_latest_on_the_previous_checkpoint()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        var checkpointer = new Checkpointer(tmp.Path);
        var first = checkpointer.Save(s.State);
        var atFirst = s.Snapshot();
        s.Step();
        checkpointer.AfterTensorsWritten = _ => throw new IOException("simulated crash");
        Assert.Throws<IOException>(() => checkpointer.Save(s.State));
        Assert.Single(Directory.GetFiles(tmp.Path, "ckpt-000002-*.safetensors"));
        Assert.Empty(Directory.GetFiles(tmp.Path, "ckpt-000002-*.json"));

        using var fresh = new TinySetup();
        var info = new Checkpointer(tmp.Path).RestoreLatest(fresh.State);
        Assert.Equal(first.Name, info.Name);
        Assertions.Identical(atFirst, fresh.Snapshot());
    }

    [Fact]
    public void A_failed_save_does_not_keep_the_best_metric_it_would_have_recorded()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        var checkpointer = new Checkpointer(tmp.Path);
        checkpointer.Save(s.State, metric: 0.5);
        checkpointer.AfterPairWritten = _ => throw new IOException("simulated crash");
        Assert.Throws<IOException>(() => checkpointer.Save(s.State, metric: 0.9));
        Assert.Equal(0.5, s.State.BestMetric);
        Assert.Equal(0.5, new Checkpointer(tmp.Path).Best!.Metric);
    }

    [Theory]
    [InlineData(MetricMode.Max, new[] { 0.5, 0.7, 0.6 }, 1)]
    [InlineData(MetricMode.Min, new[] { 3.0, 1.0, 2.0 }, 1)]
    [InlineData(MetricMode.Max, new[] { 0.5, double.NaN, 0.4 }, 0)]
    public void Best_follows_the_metric_while_latest_follows_time(MetricMode mode, double[] metrics, int bestIndex)
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        var checkpointer = new Checkpointer(tmp.Path, mode: mode);
        var saved = new List<CheckpointInfo>();
        var snapshots = new List<List<(string, Tensor)>>();
        foreach (var m in metrics)
        {
            s.Step();
            saved.Add(checkpointer.Save(s.State, m));
            snapshots.Add(s.Snapshot());
        }
        Assert.Equal(saved[^1].Name, checkpointer.Latest!.Name);
        Assert.Equal(saved[bestIndex].Name, checkpointer.Best!.Name);
        Assert.Equal(metrics[bestIndex], s.State.BestMetric);

        using var fresh = new TinySetup();
        checkpointer.RestoreBest(fresh.State);
        Assertions.Identical(snapshots[bestIndex], fresh.Snapshot());
        Assert.Equal(metrics[bestIndex], fresh.State.BestMetric);
    }

    [Fact]
    public void Keep_last_deletes_older_pairs_but_never_the_best()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        var checkpointer = new Checkpointer(tmp.Path, keepLast: 2, mode: MetricMode.Max);
        var saved = new[] { 0.9, 0.1, 0.2, 0.3, 0.4 }.Select(m =>
        {
            s.Step();
            return checkpointer.Save(s.State, m);
        }).ToList();
        var remaining = Directory.GetFiles(tmp.Path, "ckpt-*.json").Select(Path.GetFileNameWithoutExtension).Order().ToList();
        Assert.Equal(new[] { saved[0].Name, saved[3].Name, saved[4].Name }, remaining);
        Assert.Equal(3, Directory.GetFiles(tmp.Path, "ckpt-*.safetensors").Length);
        Assert.Equal(saved[0].Name, checkpointer.Best!.Name);
        using var fresh = new TinySetup();
        Assert.Equal(saved[0].Name, checkpointer.RestoreBest(fresh.State).Name);
    }

    [Fact]
    public void Restoring_latest_takes_the_better_best_metric_of_best_json_after_a_crash_between_the_pointers()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        var checkpointer = new Checkpointer(tmp.Path);
        var first = checkpointer.Save(s.State, metric: 0.5);
        var second = checkpointer.Save(s.State, metric: 0.8);
        // best.json moved to the second pair, latest.json did not (the crash window between the two).
        Checkpoint.WritePointer(Path.Combine(tmp.Path, "latest.json"), first);
        using var fresh = new TinySetup();
        var info = new Checkpointer(tmp.Path).RestoreLatest(fresh.State);
        Assert.Equal(first.Name, info.Name);
        Assert.Equal(0.8, fresh.State.BestMetric);
        Assert.Equal(second.Name, new Checkpointer(tmp.Path).Best!.Name);
    }

    [Fact]
    public void LoadModule_takes_one_models_weights_from_another_runs_checkpoint()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        s.Step();
        var run = RunDirectory.Create("teacher", "r1", tmp.Path);
        run.CreateCheckpointer().Save(s.State);
        run.Dispose();

        using var teacher = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(8, 3));
        Checkpoint.LoadModule(run.Path, "student", teacher);
        using var x = torch.ones([2, 4]);
        teacher.eval();
        s.Student.eval();
        Assert.True(teacher.call(x).equal(s.Student.call(x)));

        var error = Assert.Throws<CheckpointException>(() => Checkpoint.LoadModule(run.Path, "teacher", teacher));
        Assert.Contains("has no module 'teacher' (it has: student, adapter)", error.Message);
    }

    [Fact]
    public void A_relative_teacher_file_is_found_in_the_working_directory_or_the_nearest_one_above_it()
    {
        // The tests run inside the repository, below Dsl.sln and src/.
        var sln = TeacherWeights.ResolveFile("Dsl.sln");
        Assert.NotNull(sln);
        Assert.True(File.Exists(sln));
        Assert.Equal(Path.Combine(Path.GetDirectoryName(sln)!, "src", "Distill.Runtime"), TeacherWeights.ResolveFile(Path.Combine("src", "Distill.Runtime")));
        Assert.Null(TeacherWeights.ResolveFile(Path.Combine("no", "such", "teacher.safetensors")));
        Assert.Equal(sln, TeacherWeights.ResolveFile(sln!));
        Assert.Null(TeacherWeights.ResolveFile(Path.Combine(Path.GetTempPath(), "no-such-teacher.safetensors")));
        using var teacher = torch.nn.Linear(1, 1);
        var e = Assert.Throws<DistillRuntimeException>(() => TeacherWeights.LoadFromFile(teacher, "teacher", "missing/teacher.safetensors"));
        Assert.Contains("checkpoint 'missing/teacher.safetensors' does not exist in", e.Message);
        Assert.Contains("nor in any directory above it", e.Message);
    }

    [Fact]
    public void ExportModule_writes_one_model_as_a_plain_state_dict_that_loads_strictly()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        s.Step();
        var run = RunDirectory.Create("teacher", "r1", tmp.Path);
        var saved = run.CreateCheckpointer().Save(s.State);
        run.Dispose();

        var file = Path.Combine(tmp.Path, "exported", "teacher.safetensors");
        var info = Checkpoint.ExportModule(run.Path, "student", file);
        Assert.Equal(saved.GlobalStep, info.GlobalStep);
        using (var content = Safetensors.Read(file))
        {
            // PyTorch's names, no checkpoint prefixes, nothing of the other module or the optimizer.
            Assert.Equal(s.Student.state_dict().Keys.Order(StringComparer.Ordinal), content.ToDictionary().Keys.Order(StringComparer.Ordinal));
            Assert.Equal("student", content.Metadata["module"]);
            Assert.Equal(saved.GlobalStep.ToString(System.Globalization.CultureInfo.InvariantCulture), content.Metadata["step"]);
        }
        using var teacher = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(8, 3));
        TeacherWeights.LoadFromFile(teacher, "teacher", file);
        using var x = torch.ones([2, 4]);
        teacher.eval();
        s.Student.eval();
        Assert.True(teacher.call(x).equal(s.Student.call(x)));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(file)!, "*.tmp"));
        Assert.Throws<CheckpointException>(() => Checkpoint.ExportModule(run.Path, "teacher", file));
    }
}
