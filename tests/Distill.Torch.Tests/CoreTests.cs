namespace Distill.Torch.Tests;

public class CoreTests
{
    [Fact]
    public void Factories_make_the_requested_shape_dtype_and_values()
    {
        using var scope = torch.NewDisposeScope();
        var z = torch.zeros([2, 3]);
        TensorAssert.Equal([2, 3], z.shape);
        Assert.Equal(ScalarType.Float32, z.dtype);
        Assert.All(z.ToArray<float>(), v => Assert.Equal(0f, v));
        Assert.All(torch.ones([4], ScalarType.Int64).ToArray<long>(), v => Assert.Equal(1L, v));
        Assert.Equal([2.5, 2.5], torch.full([2], 2.5, ScalarType.Float64).ToArray<double>());
        Assert.Equal(ScalarType.Int64, torch.full([1], 3).dtype);
        Assert.Equal([0L, 1, 2, 3, 4], torch.arange(5).ToArray<long>());
        Assert.Equal([1f, 1.5f, 2f], torch.arange(1.0, 2.1, 0.5).ToArray<float>());
        Assert.Equal([0f, 0.25f, 0.5f, 0.75f, 1f], torch.linspace(0, 1, 5).ToArray<float>());
        Assert.Equal(Device.CPU, z.device);
        Assert.Equal(0, torch.scalar_tensor(7).dim());
        Assert.Equal(7L, torch.scalar_tensor(7).item<long>());
    }

    [Fact]
    public void Data_round_trips_through_every_dtype()
    {
        using var scope = torch.NewDisposeScope();
        Assert.Equal([1.5f, -2f], torch.tensor(new[] { 1.5f, -2f }).ToArray<float>());
        Assert.Equal([1.5, -2], torch.tensor(new[] { 1.5, -2 }).ToArray<double>());
        Assert.Equal([1, -2], torch.tensor(new[] { 1, -2 }).ToArray<int>());
        Assert.Equal([1L, -2], torch.tensor(new[] { 1L, -2 }).ToArray<long>());
        Assert.Equal([true, false], torch.tensor(new[] { true, false }).ToArray<bool>());
        Assert.Equal(new byte[] { 1, 255 }, torch.tensor(new byte[] { 1, 255 }).ToArray<byte>());
        Assert.Equal([(Half)1.5, (Half)(-2)], torch.tensor(new[] { (Half)1.5, (Half)(-2) }).ToArray<Half>());
        var bf = torch.tensor(new[] { 1.5f, -2f }).to(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, bf.dtype);
        Assert.Equal([1.5f, -2f], bf.ToArray<BFloat16>().Select(v => (float)v));
        var m = torch.tensor(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        TensorAssert.Equal([2, 3], m.shape);
        Assert.Equal(6f, m.ToArray<float>()[5]);
        Assert.Equal(2.5f, torch.tensor(2.5f).item<float>());
    }

    [Fact]
    public void A_literal_zero_dim_is_a_dim_not_a_dtype()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.arange(6, ScalarType.Float32).reshape(2, 3);
        Assert.Equal([3f, 5f, 7f], x.sum(0).ToArray<float>());
        Assert.Equal([0f, 4f, 10f], x.prod(0).ToArray<float>());
        Assert.Equal([3f, 12f], x.sum(1).ToArray<float>());
        Assert.Equal(ScalarType.Float64, x.sum(dtype: ScalarType.Float64).dtype);
    }

    [Fact]
    public void Generators_are_reproducible_and_independent_of_the_global_one()
    {
        using var scope = torch.NewDisposeScope();
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        var a = torch.randn([5], generator: g1).ToArray<float>();
        torch.manual_seed(123);
        var b = torch.randn([5], generator: g2).ToArray<float>();
        Assert.Equal(a, b);
        var perm = torch.randperm(10, generator: g1).ToArray<long>();
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), perm.Order());
        var ints = torch.randint(3, 5, [1000], generator: g1).ToArray<long>();
        Assert.All(ints, v => Assert.InRange(v, 3, 4));
    }

    [Fact]
    public void Generator_state_restores_the_random_stream()
    {
        using var scope = torch.NewDisposeScope();
        using var g = new Generator(11);
        var state = g.get_state();
        var first = torch.rand([4], generator: g).ToArray<float>();
        g.set_state(state);
        Assert.Equal(first, torch.rand([4], generator: g).ToArray<float>());
    }

    [Fact]
    public void Intra_op_threads_default_to_the_core_count()
    {
        var configured = Environment.GetEnvironmentVariable("DISTILL_NUM_THREADS") ?? Environment.GetEnvironmentVariable("OMP_NUM_THREADS");
        if (configured is null) Assert.Equal(Environment.ProcessorCount, torch.get_num_threads());
        Assert.StartsWith("1.", torch.version.Length > 0 ? torch.version : "?");
    }

    [Fact]
    public void Grad_mode_scopes_nest_and_restore()
    {
        Assert.True(torch.is_grad_enabled());
        using (torch.no_grad())
        {
            Assert.False(torch.is_grad_enabled());
            using (torch.enable_grad()) Assert.True(torch.is_grad_enabled());
            Assert.False(torch.is_grad_enabled());
        }
        Assert.True(torch.is_grad_enabled());
        using (torch.inference_mode()) Assert.True(torch.is_inference_mode_enabled());
        Assert.False(torch.is_inference_mode_enabled());
    }

    [Fact]
    public void No_grad_stops_recording()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.ones([3], requires_grad: true);
        using (torch.no_grad()) Assert.False((x * 2).requires_grad);
        Assert.True((x * 2).requires_grad);
    }

    [Fact]
    public void Backward_accumulates_gradients_and_zero_grad_clears_them()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.tensor(new[] { 1f, 2f, 3f }, requires_grad: true);
        ((x * x).sum()).backward();
        Assert.Equal([2f, 4f, 6f], x.grad!.ToArray<float>());
        ((x * 3).sum()).backward();
        Assert.Equal([5f, 7f, 9f], x.grad!.ToArray<float>());
        x.zero_grad(set_to_none: false);
        Assert.Equal([0f, 0f, 0f], x.grad!.ToArray<float>());
        x.zero_grad();
        Assert.Null(x.grad);
        // A gradient argument for a non-scalar output.
        var y = x * 2;
        y.backward(torch.tensor(new[] { 1f, 0.5f, 0f }));
        Assert.Equal([2f, 1f, 0f], x.grad!.ToArray<float>());
        Assert.True(x.is_leaf);
        Assert.False(y.is_leaf);
        Assert.False(y.detach().requires_grad);
    }

    [Fact]
    public void Version_counter_and_data_pointer_follow_in_place_changes_and_set_data()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.zeros([4]);
        var v0 = x._version;
        var p0 = x.data_ptr();
        Assert.NotEqual(0, p0);
        x.add_(1);
        Assert.Equal(v0 + 1, x._version);
        x.narrow(0, 1, 2).mul_(3); // through a view: the counter is shared
        Assert.Equal(v0 + 2, x._version);
        Assert.Equal(p0, x.data_ptr());
        _ = x + 1; // out of place: unchanged
        Assert.Equal(v0 + 2, x._version);
        x.set_data(torch.ones([4])); // as PyTorch: new storage, same version
        Assert.Equal(v0 + 2, x._version);
        Assert.NotEqual(p0, x.data_ptr());
        Assert.Equal(4, x.sum().item<float>());
    }
}

/// <summary>Tests of the global generator run alone: any parallel test drawing from it would shift its stream.</summary>
[Collection(SequentialCollection.Name)]
public class GlobalGeneratorTests
{
    [Fact]
    public void Manual_seed_restarts_the_global_stream()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5);
        var c = torch.rand([3]).ToArray<float>();
        torch.manual_seed(5);
        Assert.Equal(c, torch.rand([3]).ToArray<float>());
        var state = Generator.get_default_state();
        var d = torch.randn([4]).ToArray<float>();
        Generator.set_default_state(state);
        Assert.Equal(d, torch.randn([4]).ToArray<float>());
    }
}

/// <summary>Process-wide settings of the engine: run alone, each restores what it changed.</summary>
[Collection(SequentialCollection.Name)]
public class EngineSettingsTests
{
    [Fact]
    public void Flush_denormal_reads_and_writes_denormals_as_zero_until_turned_off()
    {
        using var scope = torch.NewDisposeScope();
        var tiny = torch.tensor(new[] { 1e-39f, 1f });
        Assert.Equal(1e-39f, (tiny * 1f).ToArray<float>()[0]);
        try
        {
            Assert.True(torch.set_flush_denormal(true)); // x86-64 has FTZ/DAZ
            Assert.Equal(new[] { 0f, 1f }, (tiny * 1f).ToArray<float>());
        }
        finally
        {
            torch.set_flush_denormal(false);
        }
        Assert.Equal(1e-39f, (tiny * 1f).ToArray<float>()[0]);
    }

    [Fact]
    public void Tensors_reuse_heap_memory_instead_of_faulting_pages_in_at_every_step()
    {
        // Off on request (DISTILL_MALLOC_TUNING=0, or glibc's own MALLOC_MMAP_THRESHOLD_): then there is nothing to check.
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("DISTILL_MALLOC_TUNING") == "0" ||
            Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null) return;
        // A conv net whose activations (64×16×28×28 floats, 3.2 MB each) are far above glibc's default 128 KiB mmap
        // threshold: untuned, every forward pass maps and unmaps them (~800 page faults each, tens of thousands a pass).
        using var net = torch.nn.Sequential(torch.nn.Conv2d(1, 16, 3, padding: 1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding: 1), torch.nn.ReLU());
        using var x = torch.randn([64, 1, 28, 28]);
        void Passes(int n)
        {
            using var _ = torch.no_grad();
            for (var i = 0; i < n; i++)
                using (torch.NewDisposeScope()) net.call(x);
        }
        Passes(5);
        var before = MinorFaults();
        Passes(20);
        var faults = MinorFaults() - before;
        Assert.True(faults < 5000, $"{faults} minor page faults in 20 forward passes");
    }

    /// <summary>The process's minor page faults so far (/proc/self/stat, field 10).</summary>
    private static long MinorFaults()
    {
        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
    }
}
