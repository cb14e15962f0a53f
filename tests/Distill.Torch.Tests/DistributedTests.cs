using Distill.Torch.Modules;
using F = Distill.Torch.torch.nn.functional;

namespace Distill.Torch.Tests;

/// <summary>
/// c10d process groups on loopback, with each rank on its own thread of this process (Gloo pairs the ranks over TCP
/// exactly as it pairs processes): collectives, the gradient reducer against one process on the whole batch, and
/// synchronised batch norm against batch norm on the whole batch.
/// </summary>
[Collection(SequentialCollection.Name)]
public class DistributedTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);


    /// <summary>
    /// Runs <paramref name="body"/> as every rank of a new group of <paramref name="size"/>, each on its own thread (under
    /// NCCL, rank r on cuda:r).
    /// </summary>
    internal static T[] OnRanks<T>(int size, Func<ProcessGroup, T> body, TimeSpan? timeout = null,
                                   torch.distributed.Backend backend = torch.distributed.Backend.Gloo)
    {
        var port = torch.distributed.free_loopback_port();
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(rank => new Thread(() =>
        {
            try
            {
                var gpu = backend == torch.distributed.Backend.Nccl ? new Device(DeviceType.CUDA, rank) : (Device?)null;
                using var group = ProcessGroup.Create("127.0.0.1", port, rank, size, timeout ?? Timeout, backend, gpu);
                results[rank] = body(group);
            }
            catch (Exception e) { errors[rank] = e; }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(2)), "a rank did not finish");
        if (errors.FirstOrDefault(e => e is not null) is { } error) throw new AggregateException(errors.Where(e => e is not null)!);
        return results;
    }

    [Fact]
    public void All_reduce_broadcast_barrier_and_the_store_reach_every_rank()
    {
        var results = OnRanks(3, group =>
        {
            using var x = torch.full([2, 3], group.Rank + 1.0);
            group.all_reduce(x);
            using var b = torch.full([4], group.Rank == 2 ? 7.0 : 0.0);
            group.broadcast([b], src: 2);
            if (group.Rank == 0) group.SetValue("run", "20261207-x");
            group.barrier();
            return (Sum: x.ToArray<float>(), Broadcast: b.ToArray<float>(), Run: group.GetValue("run"), group.Size);
        });
        foreach (var r in results)
        {
            Assert.All(r.Sum, v => Assert.Equal(6f, v));
            Assert.All(r.Broadcast, v => Assert.Equal(7f, v));
            Assert.Equal("20261207-x", r.Run);
            Assert.Equal(3, r.Size);
        }
    }

    // Ranks build their replicas on their own threads from the one global generator: one at a time.
    private static readonly object Gate = new();

    private static Sequential Net()
    {
        lock (Gate)
        {
            torch.manual_seed(3);
            return new Sequential(new Linear(5, 8), new ReLU(), new Linear(8, 3));
        }
    }

    private static (Tensor X, Tensor Y) Data()
    {
        using var g = new Generator(11);
        return (torch.randn([8, 5], generator: g), torch.randn([8, 3], generator: g));
    }

    private static float[][] Gradients(Module m) => m.parameters().Select(p => p.grad!.ToArray<float>()).ToArray();

    /// <summary>The gradients one process computes on the whole batch: what every rank must end with.</summary>
    private static float[][] WholeBatchGradients(Tensor x, Tensor y)
    {
        var reference = Net();
        F.mse_loss(reference.forward(x), y).backward();
        return Gradients(reference);
    }

    [Fact]
    public void Reduced_gradients_are_the_whole_batch_gradients()
    {
        var (x, y) = Data();
        var expected = WholeBatchGradients(x, y);

        var ranks = OnRanks(2, group =>
        {
            var model = Net();
            // A tiny bucket cap: every parameter its own bucket, so the reducer launches several all-reduces mid-backward.
            using var reducer = new GradientReducer(group, model.parameters().ToList<Tensor>(), bucketCapMB: 1e-5);
            using var shardX = x.narrow(0, group.Rank * 4, 4);
            using var shardY = y.narrow(0, group.Rank * 4, 4);
            reducer.Prepare();
            F.mse_loss(model.forward(shardX), shardY).backward();
            reducer.Finish();
            return (Gradients(model), reducer.BucketCount);
        });
        foreach (var (grads, buckets) in ranks)
        {
            Assert.Equal(4, buckets);
            for (var p = 0; p < expected.Length; p++)
                for (var k = 0; k < expected[p].Length; k++) Assert.Equal(expected[p][k], grads[p][k], 5e-6f);
        }
    }

    [Fact]
    public void Accumulated_batches_are_reduced_once_on_the_last_backward()
    {
        var (x, y) = Data();
        var expected = WholeBatchGradients(x, y);

        var ranks = OnRanks(2, group =>
        {
            var model = Net();
            using var reducer = new GradientReducer(group, model.parameters().ToList<Tensor>());
            // Each rank's 4 rows in two micro-batches of 2; the loss of each scaled by 1/2, as the trainer does.
            for (var micro = 0; micro < 2; micro++)
            {
                reducer.Prepare(sync: micro == 1);
                using var mx = x.narrow(0, group.Rank * 4 + micro * 2, 2);
                using var my = y.narrow(0, group.Rank * 4 + micro * 2, 2);
                (F.mse_loss(model.forward(mx), my) / 2).backward();
            }
            reducer.Finish();
            return Gradients(model);
        });
        foreach (var grads in ranks)
            for (var p = 0; p < expected.Length; p++)
                for (var k = 0; k < expected[p].Length; k++) Assert.Equal(expected[p][k], grads[p][k], 5e-6f);
    }

    [Fact]
    public void A_parameter_no_rank_used_keeps_no_gradient_and_one_some_rank_used_gets_the_mean()
    {
        var ranks = OnRanks(2, group =>
        {
            torch.manual_seed(5);
            var used = new Linear(3, 2);
            var sometimes = new Linear(3, 2);
            var never = new Linear(3, 2);
            using var reducer = new GradientReducer(group, [.. used.parameters(), .. sometimes.parameters(), .. never.parameters()]);
            using var x = torch.ones([2, 3]);
            reducer.Prepare();
            var loss = used.forward(x).sum();
            if (group.Rank == 1) loss = loss + sometimes.forward(x).sum();
            loss.backward();
            reducer.Finish();
            return (Sometimes: sometimes.weight.grad?.ToArray<float>(), Never: never.weight.grad);
        });
        foreach (var (sometimes, never) in ranks)
        {
            Assert.Null(never);
            // d(sum)/dW = 2 (rows of ones) on rank 1 only; the mean over two ranks is 1.
            Assert.All(sometimes!, v => Assert.Equal(1f, v, 1e-6f));
        }
    }

    private static Sequential ConvBn()
    {
        lock (Gate)
        {
            torch.manual_seed(7);
            return new Sequential(new Conv2d(3, 4, 3, padding: 1), new BatchNorm2d(4));
        }
    }

    [Fact]
    public void Synchronised_batch_norm_matches_batch_norm_on_the_whole_batch()
    {
        using var g = new Generator(13);
        var x = torch.randn([6, 3, 5, 5], generator: g) * 2 + 1;
        var weights = torch.randn([6, 4, 5, 5], generator: g);
        var reference = ConvBn();
        reference.train();
        var xr = x.detach().requires_grad_();
        (reference.forward(xr) * weights).sum().backward();
        var expectedGrads = Gradients(reference);
        var expectedInput = xr.grad!.ToArray<float>();
        var bn = (BatchNorm2d)reference[1];
        var expectedMean = bn.running_mean!.ToArray<float>();
        var expectedVar = bn.running_var!.ToArray<float>();

        // Ranks of unequal shares (2 and 4 rows): the statistics are the global batch's, not a mean of the ranks'.
        var ranks = OnRanks(2, group =>
        {
            var model = SyncBatchNorm.convert_sync_batchnorm(ConvBn(), group);
            model.train();
            using var reducer = new GradientReducer(group, model.parameters().ToList<Tensor>());
            var (start, rows) = group.Rank == 0 ? (0, 2) : (2, 4);
            var shard = x.narrow(0, start, rows).detach().requires_grad_();
            reducer.Prepare();
            (model.forward(shard) * weights.narrow(0, start, rows)).sum().backward();
            reducer.Finish();
            var norm = (BatchNorm2d)model[1];
            // The reducer averages over ranks; the whole-batch loss is the sum, so the reference gradient is the mean × 2.
            return (Grads: Gradients(model), Input: shard.grad!.ToArray<float>(), start, Mean: norm.running_mean!.ToArray<float>(), Var: norm.running_var!.ToArray<float>());
        });
        foreach (var r in ranks)
        {
            for (var p = 0; p < expectedGrads.Length; p++)
                for (var k = 0; k < expectedGrads[p].Length; k++) Assert.Equal(expectedGrads[p][k], 2 * r.Grads[p][k], 2e-4f);
            var perRow = expectedInput.Length / 6;
            for (var k = 0; k < r.Input.Length; k++) Assert.Equal(expectedInput[r.start * perRow + k], r.Input[k], 2e-4f);
            for (var c = 0; c < 4; c++)
            {
                Assert.Equal(expectedMean[c], r.Mean[c], 1e-5f);
                Assert.Equal(expectedVar[c], r.Var[c], 1e-4f);
            }
        }
    }

    [Fact]
    public void A_rank_that_leaves_fails_the_others_with_a_message_instead_of_a_hang()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<AggregateException>(() => OnRanks(2, group =>
        {
            if (group.Rank == 1) return 0;   // leaves: its group is disposed and its connections close
            Thread.Sleep(500);
            using var x = torch.ones([3]);
            group.all_reduce(x);
            return 1;
        }, TimeSpan.FromSeconds(5)));
        var message = Assert.IsType<TorchException>(Assert.Single(error.InnerExceptions)).Message;
        Assert.Contains("all_reduce failed on rank 0 of 2", message);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(30), $"took {started.Elapsed}");
    }

    [Fact]
    public void A_graph_that_outlives_its_process_group_fails_its_backward_with_a_message()
    {
        var x = torch.ones([3]).requires_grad_();
        Tensor y;
        using (var group = ProcessGroup.Create("127.0.0.1", torch.distributed.free_loopback_port(), 0, 1, Timeout))
            y = group.all_reduce_with_grad(x);
        var error = Assert.Throws<TorchException>(() => y.sum().backward());
        Assert.Contains("the process group this autograd graph was recorded with has been destroyed", error.Message);
    }

    [Fact]
    public void Channels_last_tensors_are_broadcast_and_reduced_in_their_layout()
    {
        var results = OnRanks(2, group =>
        {
            using var w = (torch.arange(24, dtype: ScalarType.Float32).reshape([1, 2, 3, 4]) * (group.Rank + 1)).contiguous(MemoryFormat.ChannelsLast);
            group.all_reduce(w);
            return (Layout: w.is_contiguous(MemoryFormat.ChannelsLast), Values: w.contiguous().ToArray<float>());
        });
        foreach (var (layout, values) in results)
        {
            Assert.True(layout);
            Assert.Equal(Enumerable.Range(0, 24).Select(v => 3f * v), values);
        }
    }

    [Fact]
    public void A_rank_that_never_arrives_times_the_rendezvous_out()
    {
        var port = torch.distributed.free_loopback_port();
        var error = Assert.Throws<TorchException>(() => ProcessGroup.Create("127.0.0.1", port, 0, 2, TimeSpan.FromSeconds(2)));
        Assert.Contains("imeout", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Backends_are_named_as_in_PyTorch_and_nccl_needs_one_cuda_device()
    {
        foreach (var backend in Enum.GetValues<torch.distributed.Backend>())
            Assert.Equal(backend, torch.distributed.ParseBackend(torch.distributed.BackendName(backend).ToUpperInvariant()));
        Assert.Null(torch.distributed.ParseBackend("mpi"));
        Assert.True(torch.distributed.is_gloo_available());

        var cpu = Assert.Throws<ArgumentException>(() =>
            ProcessGroup.Create("127.0.0.1", torch.distributed.free_loopback_port(), 0, 1, Timeout, torch.distributed.Backend.Nccl, Device.CPU));
        Assert.Contains("the nccl backend runs on one CUDA device, such as cuda:0; got cpu", cpu.Message);
        Assert.Throws<ArgumentException>(() => ProcessGroup.Create("127.0.0.1", torch.distributed.free_loopback_port(), 0, 1, Timeout, torch.distributed.Backend.Nccl));
    }

    /// <summary>
    /// NCCL where the shim was built with it (scripts/gpu-build.sh on a GPU machine): two ranks on two GPUs sum a GPU tensor
    /// and a CPU one staged through each rank's GPU; with one GPU, a one-rank group runs the same calls. Built without it
    /// (a CPU libtorch, as in CI), joining says why and what to do.
    /// </summary>
    [Fact]
    public void Nccl_groups_reduce_on_the_gpu_or_say_how_to_get_them()
    {
        if (!torch.distributed.is_nccl_available())
        {
            var error = Assert.Throws<TorchException>(() =>
                ProcessGroup.Create("127.0.0.1", torch.distributed.free_loopback_port(), 0, 1, Timeout, torch.distributed.Backend.Nccl, new Device(DeviceType.CUDA, 0)));
            Assert.Contains("this build of the libtorch shim has no NCCL", error.Message);
            Assert.Contains("scripts/gpu-build.sh", error.Message);
            return;
        }
        var size = Math.Min(2, torch.cuda.device_count());
        var results = OnRanks(size, group =>
        {
            using var onGpu = torch.full([3], group.Rank + 1.0).to(group.Device);
            using var onCpu = torch.full([2, 2], 10.0 * (group.Rank + 1));
            group.all_reduce(onGpu, onCpu);
            group.broadcast([onCpu], src: 0);
            group.barrier();
            return (Gpu: onGpu.cpu().ToArray<float>(), Cpu: onCpu.ToArray<float>(), Where: onCpu.device);
        }, backend: torch.distributed.Backend.Nccl);
        var gpuSum = size == 2 ? 3f : 1f;
        var cpuSum = size == 2 ? 30f : 10f;
        foreach (var (gpuValues, cpuValues, where) in results)
        {
            Assert.Equal([gpuSum, gpuSum, gpuSum], gpuValues);
            Assert.Equal([cpuSum, cpuSum, cpuSum, cpuSum], cpuValues);
            Assert.Equal(Device.CPU, where);
        }
    }

    [Fact]
    public void The_launchers_environment_is_read_and_bad_values_are_named()
    {
        Dictionary<string, string?> env = new() { ["WORLD_SIZE"] = "2", ["RANK"] = "1", ["MASTER_ADDR"] = "127.0.0.1", ["MASTER_PORT"] = "29500" };
        var read = torch.distributed.Environment.Read(k => env.GetValueOrDefault(k));
        Assert.Equal(new torch.distributed.Environment(1, 2, 1, "127.0.0.1", 29500), read);
        Assert.Null(torch.distributed.Environment.Read(_ => null));

        env["RANK"] = "2";
        env.Remove("MASTER_PORT");
        var error = Assert.Throws<ArgumentException>(() => torch.distributed.Environment.Read(k => env.GetValueOrDefault(k)));
        Assert.Contains("RANK=2 is not an integer in 0..1", error.Message);
        Assert.Contains("MASTER_PORT is not set", error.Message);
    }
}
