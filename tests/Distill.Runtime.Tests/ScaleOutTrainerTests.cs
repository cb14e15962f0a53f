using Distill.Data;
using Distill.Torch.Modules;
using static Distill.Torch.torch.nn.functional;

namespace Distill.Runtime.Tests;

/// <summary>
/// The loop's scale-out levers on a conv net with batch norm, augmented batches and SGD with momentum. Data-parallel
/// training: ranks on threads of this process joined over loopback c10d, against one process on the same global
/// batches (the same parameters at the end, rank 0 alone writing the run, resume on another world size, a failing rank
/// failing the others). channels_last against the default layout; bf16 autocast against float32.
/// </summary>
[Collection(GlobalStateCollection.Name)]
public class ScaleOutTrainerTests
{
    private static readonly object Gate = new();

    /// <summary>64 random 3×8×8 images; the label is the brighter third of the image (3 classes).</summary>
    private sealed class Images : IBatchDataset<ImageBatch>
    {
        private readonly Tensor _x;
        private readonly Tensor _y;

        public Images()
        {
            using var g = new Generator(21);
            _x = torch.randn([64, 3, 8, 8], generator: g).DetachFromDisposeScope();
            using var scope = torch.NewDisposeScope();
            var bands = torch.cat([_x.narrow(3, 0, 3).mean([1L, 2, 3], keepdim: true), _x.narrow(3, 3, 2).mean([1L, 2, 3], keepdim: true),
                _x.narrow(3, 5, 3).mean([1L, 2, 3], keepdim: true)], 1);
            _y = bands.flatten(1).argmax(1).DetachFromDisposeScope();
        }

        public int Count => 64;

        public ImageBatch Collate(ReadOnlySpan<int> indices)
        {
            var longs = new long[indices.Length];
            for (var i = 0; i < longs.Length; i++) longs[i] = indices[i];
            using var index = torch.tensor(longs);
            return new ImageBatch(_x.index_select(0, index), _y.index_select(0, index));
        }
    }

    private sealed class Loss(Tensor total) : IStepLoss
    {
        public Tensor Total { get; } = total;
        public IReadOnlyList<Tensor> Terms => [Total];
        public void Dispose() => Total.Dispose();
    }

    private static Sequential Net()
    {
        lock (Gate)
        {
            torch.manual_seed(4);
            return new Sequential(new Conv2d(3, 4, 3, padding: 1), new BatchNorm2d(4), new ReLU(), new Flatten(), new Linear(256, 3));
        }
    }

    private static (Sequential Model, Trainer<ImageBatch> Trainer) Build(Images data, int accumulation = 1, Action<int>? onStep = null, Action? onEvaluate = null)
    {
        var model = Net();
        var steps = 0;
        var trainer = new Trainer<ImageBatch>
        {
            Experiment = "ddp",
            Terms = ["ce"],
            Step = (b, _) =>
            {
                onStep?.Invoke(steps++);
                return new Loss(cross_entropy(model.call(b.image), b.label));
            },
            Trained = [new("student", model)],
            TrainData = data,
            TrainTransform = new ImageTransform(padding: 1, horizontalFlip: true),
            CreateOptimizer = _ => torch.optim.SGD(model.parameters(), lr: 0.1, momentum: 0.9),
            CreateScheduler = (o, _, _) => new ConstantLR(o, factor: 1.0, total_iters: 0),
            Evaluate = _ =>
            {
                onEvaluate?.Invoke();
                using var scope = torch.NewDisposeScope();
                model.eval();
                using var b = data.Collate(Enumerable.Range(0, 64).ToArray());
                var accuracy = model.call(b.image).argmax(1).eq(b.label).to(torch.float32).mean().item<float>();
                return new Dictionary<string, double> { ["val_top1"] = accuracy };
            },
            DeclaredEpochs = 2,
            DeclaredBatchSize = 16,
            DeclaredAccumulationSteps = accumulation,
        };
        return (model, trainer);
    }

    private static TrainOptions Options(string root, string run) =>
        new() { OutputRoot = root, RunName = run, Seed = 3, Progress = ProgressMode.None, Device = "cpu", LogInterval = 2 };

    private static float[] Parameters(Module model) =>
        model.parameters().SelectMany(p => p.ToArray<float>()).Concat(model.buffers().Where(b => b.dtype == ScalarType.Float32).SelectMany(b => b.ToArray<float>())).ToArray();


    /// <summary>Trains <paramref name="size"/> ranks on threads, each with its own replica and trainer.</summary>
    private static (float[] Parameters, TrainResult Result)[] OnRanks(int size, Images data, Func<int, TrainOptions> options, int accumulation = 1,
        Func<int, Action<int>?>? onStep = null, TimeSpan? timeout = null, Action? onEvaluate = null)
    {
        var port = torch.distributed.free_loopback_port();
        var results = new (float[], TrainResult)[size];
        var errors = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try
            {
                var (model, trainer) = Build(data, accumulation, onStep?.Invoke(rank), onEvaluate);
                var result = trainer.Fit(options(rank) with
                {
                    Distributed = new torch.distributed.Environment(rank, size, rank, "127.0.0.1", port),
                    DistributedTimeout = timeout ?? TimeSpan.FromSeconds(60),
                });
                results[rank] = (Parameters(model), result);
            }
            catch (Exception e) { errors[rank] = e; }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(3)), "a rank did not finish");
        if (errors.Any(e => e is not null)) throw new AggregateException(errors.Where(e => e is not null)!);
        return results;
    }

    private static void AssertClose(float[] expected, float[] actual, float tolerance = 2e-4f)
    {
        Assert.Equal(expected.Length, actual.Length);
        var worst = expected.Zip(actual, (e, a) => Math.Abs(e - a) / Math.Max(1f, Math.Abs(e))).Max();
        Assert.True(worst < tolerance, $"largest relative difference {worst}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Two_ranks_on_halves_of_each_batch_end_where_one_process_does(int accumulation)
    {
        using var tmp = new TempDir();
        var data = new Images();
        var (single, trainer) = Build(data, accumulation);
        trainer.Fit(Options(tmp.Path, "one"));
        var expected = Parameters(single);

        var ranks = OnRanks(2, data, _ => Options(tmp.Path, "two"), accumulation);
        AssertClose(expected, ranks[0].Parameters);
        AssertClose(ranks[0].Parameters, ranks[1].Parameters, 1e-6f);

        // Rank 0 wrote the run: the loss averaged over both ranks' shares, the evaluation, the checkpoints.
        var records = RunDirectory.ReadMetrics(Path.Combine(tmp.Path, "ddp", "two", RunDirectory.MetricsFile));
        var oneRecords = RunDirectory.ReadMetrics(Path.Combine(tmp.Path, "ddp", "one", RunDirectory.MetricsFile));
        Assert.Equal(oneRecords.Select(r => r.Phase), records.Select(r => r.Phase));
        var train = records.Where(r => r.Phase == "train").Select(r => r.Values["loss"]).ToArray();
        var oneTrain = oneRecords.Where(r => r.Phase == "train").Select(r => r.Values["loss"]).ToArray();
        for (var e = 0; e < train.Length; e++) Assert.Equal(oneTrain[e], train[e], 1e-4);
        Assert.Contains("world: 2, backend: gloo", File.ReadAllText(Path.Combine(tmp.Path, "ddp", "two", "config.yaml")));
        Assert.Equal(ranks[0].Result.Best, ranks[0].Result.Final["val_top1"]);
        Assert.False(ranks[1].Result.Final.ContainsKey("val_top1"));
    }

    [Fact]
    public void A_run_stopped_in_one_process_resumes_on_two_ranks_and_ends_where_an_uninterrupted_one_does()
    {
        using var tmp = new TempDir();
        var data = new Images();
        var (single, trainer) = Build(data);
        trainer.Fit(Options(tmp.Path, "whole"));
        var expected = Parameters(single);

        var (_, first) = Build(data);
        var stopped = first.Fit(Options(tmp.Path, "part") with { StopAfterSteps = 3 });
        Assert.False(stopped.Completed);
        var ranks = OnRanks(2, data, _ => Options(tmp.Path, "part") with { Resume = true });
        Assert.Equal(8, ranks[0].Result.Steps);
        AssertClose(expected, ranks[0].Parameters);
    }

    [Fact]
    public void A_batch_that_does_not_split_over_the_ranks_is_refused_by_name()
    {
        using var tmp = new TempDir();
        var error = Assert.Throws<AggregateException>(() => OnRanks(3, new Images(), _ => Options(tmp.Path, "three")));
        Assert.All(error.InnerExceptions, e => Assert.Contains("the batch of 16 does not split evenly over 3 data-parallel ranks", e.Message));
    }

    [Fact]
    public void A_rank_that_fails_fails_the_others_instead_of_leaving_them_waiting()
    {
        using var tmp = new TempDir();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<AggregateException>(() => OnRanks(2, new Images(), _ => Options(tmp.Path, "fail"),
            onStep: rank => rank == 1 ? step => { if (step == 2) throw new InvalidOperationException("rank 1 broke"); } : null,
            timeout: TimeSpan.FromSeconds(20)));
        Assert.Equal(2, error.InnerExceptions.Count);
        Assert.Contains(error.InnerExceptions, e => e.Message == "rank 1 broke");
        Assert.Contains(error.InnerExceptions, e => e is TorchException && e.Message.Contains("failed on rank 0 of 2"));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(20), $"took {started.Elapsed}");
    }

    [Fact]
    public void Channels_last_trains_to_the_parameters_of_the_default_layout()
    {
        using var tmp = new TempDir();
        var data = new Images();
        var (reference, trainer) = Build(data);
        trainer.Fit(Options(tmp.Path, "nchw"));
        var (model, channelsLast) = Build(data);
        var result = channelsLast.Fit(Options(tmp.Path, "nhwc") with { MemoryFormat = MemoryFormat.ChannelsLast });
        Assert.True(((Conv2d)model[0]).weight.is_contiguous(MemoryFormat.ChannelsLast));
        AssertClose(Parameters(reference), Parameters(model), 1e-3f);
        Assert.Contains("memory_format: channels_last", File.ReadAllText(Path.Combine(result.RunPath, "config.yaml")));
    }

    [Fact]
    public void Two_ranks_in_channels_last_end_where_one_process_in_the_default_layout_does()
    {
        using var tmp = new TempDir();
        var data = new Images();
        var (single, trainer) = Build(data);
        trainer.Fit(Options(tmp.Path, "one"));
        var ranks = OnRanks(2, data, _ => Options(tmp.Path, "two-nhwc") with { MemoryFormat = MemoryFormat.ChannelsLast });
        AssertClose(Parameters(single), ranks[0].Parameters, 1e-3f);
        AssertClose(ranks[0].Parameters, ranks[1].Parameters, 1e-6f);
    }

    [Fact]
    public void A_bfloat16_run_tracks_the_float32_loss()
    {
        using var tmp = new TempDir();
        var data = new Images();
        var (_, trainer) = Build(data);
        trainer.Fit(Options(tmp.Path, "fp32") with { Epochs = 4 });
        var (_, bf16) = Build(data);
        var result = bf16.Fit(Options(tmp.Path, "bf16") with { Epochs = 4, Precision = Precision.BFloat16 });
        Assert.Contains("precision: bf16", File.ReadAllText(Path.Combine(result.RunPath, "config.yaml")));
        double[] Losses(string run) => RunDirectory.ReadMetrics(Path.Combine(tmp.Path, "ddp", run, RunDirectory.MetricsFile))
            .Where(r => r.Phase == "train").Select(r => r.Values["loss"]).ToArray();
        var fp32 = Losses("fp32");
        var half = Losses("bf16");
        // bfloat16 keeps 8 bits of mantissa: every epoch's mean loss within 3% of float32's, and it falls as float32's does.
        Assert.Equal(4, half.Length);
        for (var e = 0; e < fp32.Length; e++) Assert.True(Math.Abs(half[e] - fp32[e]) <= 0.03 * fp32[e], $"epoch {e + 1}: bf16 {half[e]} vs fp32 {fp32[e]}");
        Assert.True(fp32[0] - fp32[^1] > 0.1, $"fp32 loss {fp32[0]} -> {fp32[^1]}");
        Assert.True(half[0] - half[^1] > 0.8 * (fp32[0] - fp32[^1]), $"bf16 loss {half[0]} -> {half[^1]}, fp32 {fp32[0]} -> {fp32[^1]}");
    }

    [Fact]
    public void The_other_ranks_wait_out_an_evaluation_longer_than_the_collective_timeout()
    {
        using var tmp = new TempDir();
        var data = new Images();
        var (single, trainer) = Build(data);
        trainer.Fit(Options(tmp.Path, "one"));
        // Rank 0 alone evaluates, each epoch, for longer than a collective may wait.
        var ranks = OnRanks(2, data, _ => Options(tmp.Path, "slow"), timeout: TimeSpan.FromSeconds(5), onEvaluate: () => Thread.Sleep(6500));
        AssertClose(Parameters(single), ranks[0].Parameters);
        Assert.True(ranks[1].Result.Completed);
    }

    [Fact]
    public void The_nccl_backend_on_the_cpu_is_refused_before_the_rendezvous()
    {
        using var tmp = new TempDir();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<AggregateException>(() =>
            OnRanks(2, new Images(), _ => Options(tmp.Path, "nccl") with { DistributedBackend = torch.distributed.Backend.Nccl }));
        Assert.All(error.InnerExceptions, e => Assert.Contains("the nccl backend reduces tensors on GPUs, but the run is on cpu", e.Message));
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"took {started.Elapsed}");
        Assert.Equal(torch.distributed.Backend.Gloo, DataParallel.ChooseBackend(null, Device.CPU, "x"));
        // A GPU run takes NCCL when the shim has it, and Gloo (which carries CUDA tensors) when it does not.
        Assert.Equal(torch.distributed.is_nccl_available() ? torch.distributed.Backend.Nccl : torch.distributed.Backend.Gloo,
            DataParallel.ChooseBackend(null, new Device(DeviceType.CUDA, 0), "x"));
        // A GPU the run names may be shared by its local ranks, which NCCL refuses: Gloo, unless NCCL is asked for.
        Assert.Equal(torch.distributed.Backend.Gloo, DataParallel.ChooseBackend(null, new Device(DeviceType.CUDA, 0), "x", namedGpu: true));
        if (!torch.distributed.is_nccl_available())
            Assert.Contains("scripts/gpu-build.sh", Assert.Throws<DistillRuntimeException>(() =>
                DataParallel.ChooseBackend(torch.distributed.Backend.Nccl, new Device(DeviceType.CUDA, 0), "x")).Message);
    }

    [Fact]
    public void Float16_on_the_cpu_is_refused_with_the_alternative()
    {
        using var tmp = new TempDir();
        var (_, trainer) = Build(new Images());
        var error = Assert.Throws<DistillRuntimeException>(() => trainer.Fit(Options(tmp.Path, "fp16") with { Precision = Precision.Float16 }));
        Assert.Contains("precision fp16 needs a CUDA device", error.Message);
        Assert.Contains("use precision bf16", error.Message);
    }
}
