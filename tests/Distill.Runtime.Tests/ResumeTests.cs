namespace Distill.Runtime.Tests;

/// <summary>A resumed run continues exactly: N steps, save, fresh objects, load, M steps equals N + M steps.</summary>
[Collection(GlobalStateCollection.Name)]
public class ResumeTests
{
    private const int N = 7; // mid-"epoch" (the scheduler steps every 3): the resume point is awkward on purpose
    private const int M = 8;

    private static List<(string, Tensor)> Continuous(out double lr)
    {
        torch.manual_seed(1);
        using var a = new TinySetup();
        torch.manual_seed(7);
        for (var i = 0; i < N + M; i++) a.Step();
        lr = a.Optimizer.param_groups[0].lr;
        return a.Snapshot();
    }

    private static List<(string, Tensor)> Interrupted(string dir, bool restoreGlobalRng, out double lr, out CheckpointInfo info)
    {
        torch.manual_seed(1);
        using (var b = new TinySetup())
        {
            torch.manual_seed(7);
            for (var i = 0; i < N; i++) b.Step();
            new Checkpointer(dir).Save(b.State);
            // The interrupted run goes on drawing: a resume must not depend on where it stopped.
            for (var i = 0; i < 3; i++) b.Step();
        }

        // A "new process": other initial weights, another loader seed, the global generator elsewhere.
        torch.manual_seed(999);
        using var c = new TinySetup(dataSeed: 42);
        torch.randn([17]);
        c.State.IncludeGlobalGenerator = restoreGlobalRng;
        info = new Checkpointer(dir).RestoreLatest(c.State, strict: restoreGlobalRng);
        for (var i = 0; i < M; i++) c.Step();
        lr = c.Optimizer.param_groups[0].lr;
        return c.Snapshot();
    }

    [Fact]
    public void Resuming_from_a_checkpoint_reproduces_the_uninterrupted_run_bit_for_bit()
    {
        using var tmp = new TempDir();
        var expected = Continuous(out var expectedLr);
        var actual = Interrupted(tmp.Path, restoreGlobalRng: true, out var actualLr, out var info);
        Assert.Equal(N, info.GlobalStep);
        Assert.Equal(N / 3, info.Epoch);
        Assert.Equal(expectedLr, actualLr);
        Assertions.Identical(expected, actual);
    }

    [Fact]
    public void Without_the_global_generator_state_the_resumed_run_differs()
    {
        // The control for the test above: dropout and the noise draw from the global generator, so
        // the exactness really depends on restoring it.
        using var tmp = new TempDir();
        var expected = Continuous(out _);
        var actual = Interrupted(tmp.Path, restoreGlobalRng: false, out _, out _);
        Assert.False(Assertions.AllIdentical(expected, actual));
    }

    [Fact]
    public void Restoring_brings_back_the_optimizer_momentum_the_scheduler_and_the_loader_generator()
    {
        using var tmp = new TempDir();
        torch.manual_seed(3);
        using var a = new TinySetup();
        for (var i = 0; i < 5; i++) a.Step();
        new Checkpointer(tmp.Path).Save(a.State);

        using var b = new TinySetup(dataSeed: 9);
        new Checkpointer(tmp.Path).RestoreLatest(b.State);
        Assert.Equal(a.Scheduler.last_epoch, b.Scheduler.last_epoch);
        Assert.Equal(a.Scheduler.get_last_lr(), b.Scheduler.get_last_lr());
        Assert.Equal(a.Optimizer.param_groups[0].lr, b.Optimizer.param_groups[0].lr);
        var pa = a.Student.parameters().First();
        var pb = b.Student.parameters().First();
        Assert.True(a.Optimizer.state[pa]["momentum_buffer"].equal(b.Optimizer.state[pb]["momentum_buffer"]));
        using var da = torch.randn([5], generator: a.Data);
        using var db = torch.randn([5], generator: b.Data);
        Assert.True(da.equal(db));
        Assert.Equal(a.State.GlobalStep, b.State.GlobalStep);
    }
}
