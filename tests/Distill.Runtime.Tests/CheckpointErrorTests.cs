namespace Distill.Runtime.Tests;

/// <summary>Missing, corrupt and mismatched checkpoints fail with a message naming the file and the problem.</summary>
public class CheckpointErrorTests
{
    private static (TempDir tmp, TinySetup setup, CheckpointInfo info) Saved()
    {
        var tmp = new TempDir();
        var s = new TinySetup();
        s.Step();
        var info = new Checkpointer(tmp.Path).Save(s.State);
        return (tmp, s, info);
    }

    [Fact]
    public void No_checkpoint_to_resume_names_the_missing_pointer()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        var checkpointer = new Checkpointer(tmp.Path);
        Assert.Null(checkpointer.Latest);
        Assert.Null(checkpointer.TryRestoreLatest(s.State));
        var e = Assert.Throws<CheckpointException>(() => checkpointer.RestoreLatest(s.State));
        Assert.Equal(Path.Combine(tmp.Path, "latest.json"), e.Path);
        Assert.Contains($"'{Path.Combine(tmp.Path, "latest.json")}' does not exist", e.Message);
        var missing = Assert.Throws<CheckpointException>(() => Checkpoint.Restore(tmp["nowhere.json"], s.State));
        Assert.Contains("nowhere.json' does not exist", missing.Message);
    }

    [Fact]
    public void A_missing_tensor_file_is_named()
    {
        var (tmp, s, info) = Saved();
        using var _ = tmp;
        using var __ = s;
        File.Delete(info.TensorsPath);
        var e = Assert.Throws<CheckpointException>(() => new Checkpointer(tmp.Path).RestoreLatest(s.State));
        Assert.Equal(info.TensorsPath, e.Path);
        Assert.Contains($"checkpoint tensors '{info.TensorsPath}' (named by '{info.StatePath}') do not exist", e.Message);
    }

    [Fact]
    public void A_flipped_byte_in_the_tensor_file_is_caught_by_its_checksum()
    {
        var (tmp, s, info) = Saved();
        using var _ = tmp;
        using var __ = s;
        var bytes = File.ReadAllBytes(info.TensorsPath);
        bytes[^3] ^= 0x40;
        File.WriteAllBytes(info.TensorsPath, bytes);
        var before = s.Snapshot();
        var e = Assert.Throws<CheckpointException>(() => new Checkpointer(tmp.Path).RestoreLatest(s.State));
        Assert.Equal(info.TensorsPath, e.Path);
        Assert.Contains("are corrupt: their SHA-256", e.Message);
        Assertions.Identical(before, s.Snapshot()); // nothing was changed
    }

    [Fact]
    public void A_truncated_tensor_file_is_named_with_its_size()
    {
        var (tmp, s, info) = Saved();
        using var _ = tmp;
        using var __ = s;
        var length = new FileInfo(info.TensorsPath).Length;
        using (var f = new FileStream(info.TensorsPath, FileMode.Open)) f.SetLength(length / 2);
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Restore(info.StatePath, s.State));
        Assert.Contains($"'{info.TensorsPath}' are corrupt: {length / 2} bytes, but '{info.StatePath}' records {length}", e.Message);
    }

    [Fact]
    public void A_corrupt_json_file_is_named()
    {
        var (tmp, s, info) = Saved();
        using var _ = tmp;
        using var __ = s;
        var text = File.ReadAllText(info.StatePath);
        File.WriteAllText(info.StatePath, text[..(text.Length / 2)]);
        var e = Assert.Throws<CheckpointException>(() => new Checkpointer(tmp.Path).RestoreLatest(s.State));
        Assert.Equal(info.StatePath, e.Path);
        Assert.StartsWith($"checkpoint state '{info.StatePath}' is corrupt: not valid JSON", e.Message);
    }

    [Fact]
    public void A_pointer_to_a_deleted_pair_is_named()
    {
        var (tmp, s, info) = Saved();
        using var _ = tmp;
        using var __ = s;
        File.Delete(info.StatePath);
        var e = Assert.Throws<CheckpointException>(() => new Checkpointer(tmp.Path).RestoreLatest(s.State));
        Assert.Contains($"checkpoint pointer '{tmp["latest.json"]}' names '{Path.GetFileName(info.StatePath)}', which does not exist", e.Message);
    }

    [Fact]
    public void A_model_with_other_layers_lists_the_missing_and_unexpected_keys_by_name()
    {
        var (tmp, s, _) = Saved();
        using var __ = tmp;
        using var ___ = s;
        // The student gained a layer (index 4) and its last layer moved: keys differ by name.
        using var student = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3));
        using var adapter = torch.nn.Linear(3, 3);
        var state = new TrainingState().AddModule("student", student).AddModule("adapter", adapter);
        state.IncludeGlobalGenerator = true;
        var e = Assert.Throws<CheckpointException>(() => new Checkpointer(tmp.Path).RestoreLatest(state, strict: false));
        Assert.Contains("module 'student': missing keys (in the model, not in the checkpoint): \"2.weight\", \"2.bias\", \"4.weight\", \"4.bias\"", e.Message);
        Assert.Contains("module 'student': unexpected keys (in the checkpoint, not in the model): \"3.weight\", \"3.bias\"", e.Message);
        Assert.DoesNotContain("adapter", e.Message);
    }

    [Fact]
    public void A_layer_of_another_size_is_a_size_mismatch()
    {
        var (tmp, s, info) = Saved();
        using var __ = tmp;
        using var ___ = s;
        using var wider = new TinySetup(hidden: 16);
        var before = wider.Snapshot();
        var e = Assert.Throws<CheckpointException>(() => new Checkpointer(tmp.Path).RestoreLatest(wider.State));
        Assert.Contains($"checkpoint '{info.StatePath}' does not match the training state", e.Message);
        Assert.Contains("module 'student': size mismatch: '0.weight' is [8, 4] in the checkpoint but [16, 4] in the model", e.Message);
        Assertions.Identical(before, wider.Snapshot());
    }

    [Fact]
    public void Unregistered_and_missing_objects_are_reported_together()
    {
        var (tmp, s, _) = Saved();
        using var __ = tmp;
        using var ___ = s;
        using var teacher = torch.nn.Linear(2, 2);
        using var student = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(8, 3));
        var state = new TrainingState().AddModule("student", student).AddModule("teacher", teacher);
        var e = Assert.Throws<CheckpointException>(() => new Checkpointer(tmp.Path).RestoreLatest(state));
        Assert.Contains("the checkpoint has no module 'teacher' (it has: student, adapter)", e.Message);
        Assert.Contains("the checkpoint holds module 'adapter', which the training state does not register", e.Message);
        Assert.Contains("the checkpoint holds optimizer 'main', which the training state does not register", e.Message);
        Assert.Contains("the checkpoint holds generator 'loader', which the training state does not register", e.Message);

        // Not strict: a subset restores (here the student alone, plus the global generator).
        var subset = new TrainingState().AddModule("student", student);
        new Checkpointer(tmp.Path).RestoreLatest(subset, strict: false);
        using var x = torch.ones([1, 4]);
        student.eval();
        s.Student.eval();
        Assert.True(student.call(x).equal(s.Student.call(x)));
    }

    [Fact]
    public void Leaving_out_the_global_generator_is_explained_when_strict()
    {
        var (tmp, s, _) = Saved();
        using var __ = tmp;
        using var ___ = s;
        using var fresh = new TinySetup();
        fresh.State.IncludeGlobalGenerator = false;
        var e = Assert.Throws<CheckpointException>(() => new Checkpointer(tmp.Path).RestoreLatest(fresh.State));
        Assert.Contains("the checkpoint holds the global generator's state, which the training state leaves out (set IncludeGlobalGenerator, or restore with strict: false)", e.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_checkpoint_is_named()
    {
        using var tmp = new TempDir();
        using var s = new TinySetup();
        File.WriteAllText(tmp["other.json"], "{\"format\": \"something-else\"}");
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Restore(tmp["other.json"], s.State));
        Assert.Contains($"'{tmp["other.json"]}' is neither a checkpoint nor a checkpoint pointer", e.Message);
    }

    [Fact]
    public void Names_that_would_make_prefixes_overlap_are_refused()
    {
        using var m = torch.nn.Linear(1, 1);
        Assert.Throws<ArgumentException>(() => new TrainingState().AddModule("a.b", m));
        Assert.Throws<ArgumentException>(() => new TrainingState().AddModule("", m));
        Assert.Throws<ArgumentException>(() => new TrainingState().AddModule("m", m).AddModule("m", m));
        using var g = new Generator(1);
        Assert.Throws<ArgumentException>(() => new TrainingState().AddGenerator("global", g));
    }
}
