using Distill.Torch.Modules;

namespace Distill.Runtime.Tests;

/// <summary>
/// Tests that draw from the global CPU generator (dropout, torch.randn without a generator, model
/// initialisation they compare) or read the live-tensor count run alone: xunit runs this collection
/// with nothing beside it, so no other test moves the global generator in between.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GlobalStateCollection
{
    public const string Name = "Global generator and live tensors";
}

/// <summary>A fresh directory under the system temp folder, deleted afterwards.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"distill-runtime-{Guid.NewGuid():N}"));

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now;

    public ManualClock(DateTimeOffset start) => _now = start;

    public ManualClock() : this(new DateTimeOffset(2024, 3, 5, 14, 7, 9, TimeSpan.Zero)) { }

    public void Advance(TimeSpan by) => _now += by;

    public override DateTimeOffset GetUtcNow() => _now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _now.UtcTicks;
}

/// <summary>
/// A tiny student (Linear, Dropout, ReLU, Linear) plus an adapter, SGD with momentum, a StepLR and a
/// data generator: everything a resume must restore. <see cref="Step"/> draws its batch from the data
/// generator and noise from the global generator, so both must be restored for an exact resume.
/// </summary>
public sealed class TinySetup : IDisposable
{
    public TinySetup(ulong dataSeed = 123, int hidden = 8)
    {
        Student = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Dropout(0.3), torch.nn.ReLU(), torch.nn.Linear(hidden, 3));
        Adapter = torch.nn.Linear(3, 3);
        Optimizer = torch.optim.SGD(Student.parameters().Concat(Adapter.parameters()).Cast<Tensor>(), lr: 0.1, momentum: 0.9, weight_decay: 1e-4);
        Scheduler = torch.optim.lr_scheduler.StepLR(Optimizer, step_size: 2, gamma: 0.5);
        Data = new Generator(dataSeed);
        State = new TrainingState()
            .AddModule("student", Student)
            .AddModule("adapter", Adapter)
            .AddOptimizer("main", Optimizer)
            .AddScheduler("main", Scheduler)
            .AddGenerator("loader", Data);
    }

    public Module<Tensor, Tensor> Student { get; }
    public Module<Tensor, Tensor> Adapter { get; }
    public Optimizer Optimizer { get; }
    public LRScheduler Scheduler { get; }
    public Generator Data { get; }
    public TrainingState State { get; }

    public const int BatchSize = 6;

    /// <summary>One optimizer step; the scheduler steps every third step (an "epoch" of three batches). Returns the loss.</summary>
    public double Step()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([BatchSize, 4], generator: Data);
        var y = torch.randint(0, 3, [BatchSize], generator: Data);
        var noise = torch.randn([BatchSize, 3]); // the global generator
        Optimizer.zero_grad();
        var logits = Adapter.call(Student.call(x)).add(noise.mul(0.01));
        var loss = torch.nn.functional.cross_entropy(logits, y);
        loss.backward();
        Optimizer.step();
        State.GlobalStep++;
        if (State.GlobalStep % 3 == 0)
        {
            Scheduler.step();
            State.Epoch++;
        }
        return loss.item<double>();
    }

    /// <summary>Copies of every parameter and buffer, student then adapter.</summary>
    public List<(string name, Tensor value)> Snapshot() =>
        Student.state_dict("student.").Concat(Adapter.state_dict("adapter.")).Select(kv => (kv.Key, kv.Value.clone().DetachFromDisposeScope())).ToList();

    public void Dispose()
    {
        Optimizer.Dispose();
        Student.Dispose();
        Adapter.Dispose();
        Data.Dispose();
    }
}

public static class Assertions
{
    /// <summary>Bitwise equality of two snapshots.</summary>
    public static void Identical(List<(string name, Tensor value)> expected, List<(string name, Tensor value)> actual)
    {
        Assert.Equal(expected.Select(e => e.name), actual.Select(a => a.name));
        for (var i = 0; i < expected.Count; i++)
            Assert.True(expected[i].value.equal(actual[i].value), $"'{expected[i].name}' differs");
    }

    public static bool AllIdentical(List<(string name, Tensor value)> a, List<(string name, Tensor value)> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First.name == p.Second.name && p.First.value.equal(p.Second.value));
}
