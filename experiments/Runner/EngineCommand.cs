using System.Globalization;
using Distill.Torch;

namespace Distill.Experiments.Runner;

/// <summary>
/// <c>env</c>: what this build of the engine is and can do (libtorch, the shim file, threads, GPUs, the process-group
/// backends), and with <c>--check</c> a short exercise of each part that exists: arithmetic on every device, autocast,
/// and a process group on each backend built (one rank; two when two GPUs are visible for NCCL). On a new machine
/// (a GPU one especially) it is the first thing to run.
/// </summary>
public static class EngineCommand
{
    public static int Run(RunnerContext context, ParsedArguments args)
    {
        var o = context.Out;
        var gpus = torch.cuda.is_available() ? torch.cuda.device_count() : 0;
        o.WriteLine($"libtorch:       {torch.version}");
        o.WriteLine($"shim:           {torch.shim_path}");
        o.WriteLine($"threads:        {torch.get_num_threads()} intra-op");
        o.WriteLine($"cuda:           {(gpus > 0 ? $"{gpus} device(s)" : "not available")}");
        o.WriteLine($"process groups: gloo {Built(torch.distributed.is_gloo_available())}, nccl {Built(torch.distributed.is_nccl_available())}");
        if (!args.Has("--check")) return Cli.Ok;

        o.WriteLine();
        var failures = 0;
        void Check(string what, Action body)
        {
            try
            {
                using (torch.NewDisposeScope()) body();
                o.WriteLine($"  ok      {what}");
            }
            catch (Exception e) when (e is TorchException or InvalidOperationException or ArgumentException)
            {
                failures++;
                o.WriteLine($"  FAILED  {what}: {e.Message}");
            }
            o.Flush();
        }

        Check("matmul on cpu", () => Expect(Gram(Device.CPU), [5, 14, 14, 50], "matmul"));
        Check("bf16 autocast on cpu", () => ExpectAutocast(DeviceType.CPU, ScalarType.BFloat16));
        if (torch.distributed.is_gloo_available())
            Check("gloo process group (1 rank, cpu tensors)", () => OneRankGroup(torch.distributed.Backend.Gloo, Device.CPU));
        for (var g = 0; g < gpus; g++)
        {
            var device = new Device(DeviceType.CUDA, g);
            Check($"matmul on {device}", () =>
            {
                Expect(Gram(device), [5, 14, 14, 50], "matmul");
                torch.cuda.synchronize(g);
            });
        }
        if (gpus > 0)
        {
            Check("fp16 autocast on cuda", () => ExpectAutocast(DeviceType.CUDA, ScalarType.Float16));
            Check("bf16 autocast on cuda", () => ExpectAutocast(DeviceType.CUDA, ScalarType.BFloat16));
            if (torch.distributed.is_gloo_available())
                Check("gloo process group (1 rank, cuda tensors)", () => OneRankGroup(torch.distributed.Backend.Gloo, new Device(DeviceType.CUDA, 0)));
            if (torch.distributed.is_nccl_available())
            {
                Check("nccl process group (1 rank on cuda:0; a cpu tensor staged through it)", () => OneRankGroup(torch.distributed.Backend.Nccl, new Device(DeviceType.CUDA, 0)));
                if (gpus >= 2) Check("nccl process group (2 ranks on cuda:0 and cuda:1; a cpu tensor staged)", TwoNcclRanks);
            }
        }
        o.WriteLine(failures == 0 ? "all checks passed" : $"{failures} check(s) failed");
        return failures == 0 ? Cli.Ok : Cli.Failed;
    }

    private static string Built(bool built) => built ? "(built)" : "(not built)";

    /// <summary>[[0,1,2],[3,4,5]] times its transpose, computed on <paramref name="device"/>.</summary>
    private static float[] Gram(Device device)
    {
        var x = torch.arange(6, dtype: ScalarType.Float32).reshape([2, 3]).to(device);
        return x.matmul(x.t()).cpu().ToArray<float>();
    }

    private static void ExpectAutocast(DeviceType device, ScalarType dtype)
    {
        var x = torch.ones([4, 4]).to(new Device(device, device == DeviceType.CUDA ? 0 : -1));
        using (torch.autocast(device, dtype))
        {
            var y = x.matmul(x);
            if (y.dtype != dtype) throw new InvalidOperationException($"a matmul under autocast({device}, {dtype}) gave {y.dtype}");
            Expect(y.to(ScalarType.Float32).cpu().ToArray<float>(), Enumerable.Repeat(4f, 16).ToArray(), "autocast matmul");
        }
    }

    private static void Expect(float[] actual, float[] expected, string what)
    {
        if (!actual.SequenceEqual(expected))
            throw new InvalidOperationException($"{what} gave [{string.Join(", ", actual)}], expected [{string.Join(", ", expected)}]");
    }

    /// <summary>A one-rank group on loopback: all_reduce, broadcast and barrier on a tensor on <paramref name="device"/> and one on the CPU.</summary>
    private static void OneRankGroup(torch.distributed.Backend backend, Device device)
    {
        using var group = ProcessGroup.Create("127.0.0.1", torch.distributed.free_loopback_port(), 0, 1, TimeSpan.FromSeconds(60), backend, device.Type == DeviceType.CUDA ? device : (Device?)null);
        var onDevice = torch.full([3], 2.0).to(device);
        var onCpu = torch.full([2], 5.0);
        group.all_reduce(onDevice, onCpu);
        group.broadcast([onDevice, onCpu], src: 0);
        group.barrier();
        Expect(onDevice.cpu().ToArray<float>(), [2, 2, 2], "all_reduce");
        Expect(onCpu.ToArray<float>(), [5, 5], "all_reduce of a cpu tensor");
    }

    /// <summary>Two ranks on threads, one GPU each: the all-reduce sums both.</summary>
    private static void TwoNcclRanks()
    {
        var port = torch.distributed.free_loopback_port();
        var sums = new float[2][];
        var errors = new Exception?[2];
        var threads = Enumerable.Range(0, 2).Select(rank => new Thread(() =>
        {
            try
            {
                var gpu = new Device(DeviceType.CUDA, rank);
                using var group = ProcessGroup.Create("127.0.0.1", port, rank, 2, TimeSpan.FromSeconds(60), torch.distributed.Backend.Nccl, gpu);
                using var x = torch.full([4], rank + 1.0).to(gpu);
                using var staged = torch.full([2], 10.0 * (rank + 1));
                group.all_reduce(x, staged);
                group.barrier();
                sums[rank] = [.. x.cpu().ToArray<float>(), .. staged.ToArray<float>()];
            }
            catch (Exception e) { errors[rank] = e; }
        }) { IsBackground = true }).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads)
            if (!t.Join(TimeSpan.FromMinutes(2))) throw new InvalidOperationException("a rank did not finish within 2 minutes");
        if (errors.FirstOrDefault(e => e is not null) is { } error) throw new InvalidOperationException(error.Message, error);
        foreach (var sum in sums) Expect(sum, [3, 3, 3, 3, 30, 30], "two-rank all_reduce (a gpu tensor and a staged cpu one)");
    }

}
