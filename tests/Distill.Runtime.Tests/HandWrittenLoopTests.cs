using System.Text.Json.Nodes;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Runtime.Tests;

/// <summary>
/// The services together, as a hand-written loop (or the generated one) uses them: a run directory,
/// checkpoints every epoch, metrics, progress, the divergence guard; a run stopped after an epoch and
/// resumed ends exactly where an uninterrupted run does.
/// </summary>
[Collection(GlobalStateCollection.Name)]
public class HandWrittenLoopTests
{
    private const int DeclaredEpochs = 3;
    private const int BatchesPerEpoch = 4;

    private static List<(string, Tensor)> Train(TrainOptions options, int stopAfterEpochs, StringWriter output, out string runPath)
    {
        options.Validate();
        torch.manual_seed(options.Seed);
        using var run = RunDirectory.ForOptions("tiny loop", options);
        runPath = run.Path;
        run.WriteConfig($"epochs: {DeclaredEpochs}\nseed: {options.Seed}\n");
        using var s = new TinySetup(dataSeed: options.SeedFor("loader"));
        var checkpointer = run.CreateCheckpointer(options.KeepLastCheckpoints, options.BestMode);
        if (run.ResumeCheckpoint is { } resumeFrom)
        {
            var info = checkpointer.Restore(resumeFrom, s.State);
            run.LogResume(info);
            output.WriteLine($"resumed from {info.Name}");
        }
        using var progress = new PlainProgressReporter(output, TimeSpan.FromMinutes(5));
        using var guard = new DivergenceGuard(["ce"], options.DivergenceCheckInterval);
        using var metrics = new MetricSet(new LossAverages(["ce"]), new TopKAccuracy(1, 2));
        var losses = (LossAverages)metrics.Metrics[0];
        var accuracy = (TopKAccuracy)metrics.Metrics[1];
        var epochs = options.EffectiveEpochs(DeclaredEpochs);

        for (var epoch = s.State.Epoch; epoch < epochs && epoch < stopAfterEpochs; epoch++)
        {
            progress.StartEpoch(epoch + 1, epochs, BatchesPerEpoch);
            metrics.Reset();
            s.Student.train();
            for (var b = 0; b < BatchesPerEpoch; b++)
            {
                using var scope = torch.NewDisposeScope();
                var x = torch.randn([TinySetup.BatchSize, 4], generator: s.Data);
                var y = torch.randint(0, 3, [TinySetup.BatchSize], generator: s.Data);
                s.Optimizer.zero_grad();
                var logits = s.Adapter.call(s.Student.call(x));
                var ce = cross_entropy(logits, y);
                ce.backward();
                if (options.GradClipNorm is { } maxNorm)
                    torch.nn.utils.clip_grad_norm_(s.Student.parameters().Concat(s.Adapter.parameters()).Cast<Tensor>(), maxNorm);
                s.Optimizer.step();
                s.State.GlobalStep++;
                guard.Observe(ce, [ce], epoch + 1, s.State.GlobalStep);
                losses.Add("ce", ce, TinySetup.BatchSize);
                accuracy.Update(logits, y);
                progress.Advance(1, TinySetup.BatchSize);
            }
            guard.Flush();
            s.Scheduler.step();
            var values = metrics.Snapshot();
            run.Log("train", values, epoch + 1, s.State.GlobalStep);
            progress.EndEpoch(values);
            s.State.Epoch = epoch + 1;
            checkpointer.Save(s.State, metric: values["top1"]);
        }
        run.WriteSummary(new JsonObject
        {
            ["epochs"] = s.State.Epoch,
            ["steps"] = s.State.GlobalStep,
            ["best_top1"] = s.State.BestMetric,
        });
        return s.Snapshot();
    }

    [Fact]
    public void A_run_stopped_after_an_epoch_and_resumed_ends_where_the_uninterrupted_run_ends()
    {
        using var tmp = new TempDir();
        var options = new TrainOptions { OutputRoot = tmp.Path, Seed = 5, GradClipNorm = 1.0, DivergenceCheckInterval = 3, KeepLastCheckpoints = 1 };
        var log = new StringWriter();

        var full = Train(options with { RunName = "full" }, int.MaxValue, log, out _);
        var partial = Train(options with { RunName = "part" }, 1, log, out var partPath);
        Assert.Equal(1, Checkpoint.ReadInfo(partPath).Epoch);
        var resumed = Train(options with { RunName = "part", Resume = true }, int.MaxValue, log, out var resumedPath);
        Assert.Equal(partPath, resumedPath);
        Assert.False(Assertions.AllIdentical(partial, resumed)); // it did train on
        Assertions.Identical(full, resumed);

        var records = RunDirectory.ReadMetrics(partPath);
        Assert.Equal(["train", "resume", "train", "train"], records.Select(r => r.Phase));
        Assert.Equal([1, 1, 2, 3], records.Select(r => r.Epoch!.Value));
        Assert.Equal([4L, 4L, 8L, 12L], records.Select(r => r.Step!.Value));
        var fullRecords = RunDirectory.ReadMetrics(tmp["tiny-loop/full"]);
        Assert.Equal(fullRecords.Select(r => r.Values["ce"]), records.Where(r => r.Phase == "train").Select(r => r.Values["ce"]));

        var latest = Checkpoint.ReadInfo(partPath);
        Assert.Equal((3, 12L), (latest.Epoch, latest.GlobalStep));
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(partPath, "summary.json")))!;
        Assert.Equal(12, (long)summary["steps"]!);
        Assert.Contains("resumed from ckpt-000001-e1-s4", log.ToString());
        Assert.Contains("epoch 3/3 done: 4 batches, 24 samples", log.ToString());
        // keep-last 1 plus the best: never more than two pairs.
        Assert.InRange(Directory.GetFiles(Path.Combine(partPath, "checkpoints"), "ckpt-*.json").Length, 1, 2);
    }

    [Fact]
    public void Quick_runs_cap_the_epochs()
    {
        var options = new TrainOptions { Quick = true, Epochs = 10, QuickEpochs = 2, QuickBatches = 3, MaxBatchesPerEpoch = 100 };
        Assert.Equal(2, options.EffectiveEpochs(50));
        Assert.Equal(3, options.EffectiveBatchLimit);
        Assert.Equal(10, (options with { Quick = false }).EffectiveEpochs(50));
        Assert.Equal(100, (options with { Quick = false }).EffectiveBatchLimit);
    }

    [Fact]
    public void Invalid_options_are_reported_together()
    {
        var options = new TrainOptions { Epochs = 0, LogInterval = 0, GradClipNorm = -1, Device = "tpu", RunName = "a b" };
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("Epochs must be at least 1 (got 0)", e.Message);
        Assert.Contains("LogInterval must be at least 1 step (got 0)", e.Message);
        Assert.Contains("GradClipNorm must be positive (got -1)", e.Message);
        Assert.Contains("'tpu' is not a device", e.Message);
        Assert.Contains("RunName 'a b' is not a plain directory name", e.Message);
        new TrainOptions().Validate();
        Assert.Equal(Device.CPU, new TrainOptions { Device = "cpu" }.ResolveDevice());
    }

    [Fact]
    public void Derived_seeds_are_stable_and_differ_by_purpose()
    {
        var options = new TrainOptions { Seed = 42 };
        Assert.Equal(options.SeedFor("loader"), new TrainOptions { Seed = 42 }.SeedFor("loader"));
        Assert.NotEqual(options.SeedFor("loader"), options.SeedFor("augment"));
        Assert.NotEqual(options.SeedFor("loader"), new TrainOptions { Seed = 43 }.SeedFor("loader"));
        Assert.Equal(Seeds.Derive(42, "loader"), options.SeedFor("loader"));
    }
}
