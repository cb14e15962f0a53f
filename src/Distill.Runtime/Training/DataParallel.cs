using System.Globalization;
using Distill.Torch.Modules;

namespace Distill.Runtime;

/// <summary>
/// One rank's part in data-parallel training, for <see cref="Trainer{TBatch}"/>: the c10d process group, the replicas
/// made equal at the start (rank 0's parameters and buffers broadcast), the gradient reducer, batch norms synchronised,
/// and the few values the ranks agree on (the run directory, the logged loss averages).
/// </summary>
internal sealed class DataParallel : IDisposable
{
    /// <summary>How long the other ranks wait for rank 0's evaluation and checkpoint (on the store: a dead rank 0 fails them).</summary>
    public static readonly TimeSpan LeaderWork = TimeSpan.FromHours(24);

    private const string RunPathKey = "run_path";
    private const string ResumeKey = "resume_checkpoint";

    private readonly string _experiment;
    private GradientReducer? _reducer;
    private long _leaderRounds;
    private IReadOnlyList<Module> _synchronised = [];

    private DataParallel(ProcessGroup group, string experiment)
    {
        Group = group;
        _experiment = experiment;
    }

    public ProcessGroup Group { get; }

    public int Rank => Group.Rank;

    public int Size => Group.Size;

    /// <summary>Rank 0: evaluates, logs, checkpoints.</summary>
    public bool IsLeader => Group.Rank == 0;

    /// <summary>
    /// Joins the group <see cref="TrainOptions.Distributed"/> describes, its collectives on <see cref="TrainOptions.DistributedBackend"/>
    /// (by default NCCL for a GPU run when the shim has it, else Gloo); null for one process.
    /// </summary>
    public static DataParallel? Join(TrainOptions options, string experiment, Device device, bool namedGpu)
    {
        if (options.Distributed is not { WorldSize: > 1 } environment) return null;
        var backend = ChooseBackend(options.DistributedBackend, device, experiment, namedGpu);
        try
        {
            return new DataParallel(torch.distributed.init_process_group(environment, options.DistributedTimeout, backend, device), experiment);
        }
        catch (TorchException e)
        {
            throw new DistillRuntimeException(string.Create(CultureInfo.InvariantCulture,
                $"'{experiment}': rank {environment.Rank} of {environment.WorldSize} could not join the process group at {environment.MasterAddress}:{environment.MasterPort} within {options.DistributedTimeout}: {e.Message}"), e);
        }
    }

    /// <summary>The backend a run on <paramref name="device"/> uses when it asked for <paramref name="requested"/> (null: choose).</summary>
    /// <param name="namedGpu">The run named its GPU (cuda:N) rather than taking cuda:LOCAL_RANK: local ranks may share it,
    /// which NCCL refuses, so the choice is Gloo unless NCCL is asked for (one rank per machine on a named GPU).</param>
    public static torch.distributed.Backend ChooseBackend(torch.distributed.Backend? requested, Device device, string experiment, bool namedGpu = false)
    {
        var onGpu = device.Type == DeviceType.CUDA;
        if (requested is not torch.distributed.Backend.Nccl)
            return requested ?? (onGpu && !namedGpu && torch.distributed.is_nccl_available() ? torch.distributed.Backend.Nccl : torch.distributed.Backend.Gloo);
        if (!onGpu)
            throw new DistillRuntimeException($"'{experiment}': the nccl backend reduces tensors on GPUs, but the run is on {device}: use --dist-backend gloo (TrainOptions.DistributedBackend = Gloo; the default on the CPU) or a CUDA device");
        if (!torch.distributed.is_nccl_available())
            throw new DistillRuntimeException($"'{experiment}': this build of the libtorch shim has no NCCL (it was built against a libtorch without CUDA or without nccl.h): build it with scripts/gpu-build.sh, or use --dist-backend gloo (TrainOptions.DistributedBackend = Gloo)");
        return torch.distributed.Backend.Nccl;
    }

    /// <summary>Rank 0 tells the others its run directory and the checkpoint it resumes from (null: a new run).</summary>
    public RunDirectory Share(RunDirectory? leaders)
    {
        if (IsLeader)
        {
            var run = leaders ?? throw new ArgumentNullException(nameof(leaders));
            Group.SetValue(ResumeKey, run.ResumeCheckpoint ?? "");
            Group.SetValue(RunPathKey, run.Path);
            return run;
        }
        var resume = Group.GetValue(ResumeKey);
        return RunDirectory.Follow(Group.GetValue(RunPathKey), resume.Length == 0 ? null : resume);
    }

    /// <summary>
    /// Makes the replicas one: rank 0's parameters and buffers go to every rank, batch norms share statistics when
    /// <paramref name="syncBatchNorm"/>, and the trained parameters' gradients are averaged from now on.
    /// </summary>
    public void Attach(IReadOnlyList<Module> trained, IReadOnlyList<Tensor> trainable, bool syncBatchNorm)
    {
        var state = trained.SelectMany(m => m.parameters().Cast<Tensor>().Concat(m.buffers())).ToList();
        Group.broadcast(state, src: 0);
        if (syncBatchNorm)
            foreach (var module in trained) SyncBatchNorm.convert_sync_batchnorm(module, Group);
        _synchronised = syncBatchNorm ? trained : [];
        _reducer = new GradientReducer(Group, trainable);
    }

    /// <summary>Before a batch's backward pass: <paramref name="sync"/> for the last batch of an optimizer step.</summary>
    public void BeforeBackward(bool sync) => _reducer!.Prepare(sync);

    /// <summary>After the backward pass of the last batch of an optimizer step: every rank holds the mean gradient.</summary>
    public void AfterBackward() => _reducer!.Finish();

    /// <summary>
    /// Where the ranks meet after work rank 0 does alone (evaluation, checkpoints): the others wait here, up to
    /// <see cref="LeaderWork"/>, rather than inside their next collective with its shorter timeout. Rank 0 posts a
    /// numbered key in the store and the others poll for it there: no collective is pending meanwhile, so no backend's
    /// own timeout applies (neither Gloo's barrier nor NCCL's watchdog would wait longer than the group's timeout), and a
    /// rank 0 that dies (the store's host) fails the wait. A barrier follows, quick with every rank there, so rank 0 never goes on (and
    /// at the end, takes the store down) before the others have read the key.
    /// </summary>
    public void WaitForLeader()
    {
        var key = string.Create(CultureInfo.InvariantCulture, $"leader-done/{_leaderRounds++}");
        if (IsLeader) Group.SetValue(key, "");
        else Group.GetValue(key, LeaderWork);
        Group.barrier();
    }

    /// <summary>The mean over the ranks of each value (every rank passes the same names).</summary>
    public Dictionary<string, double> Mean(IReadOnlyDictionary<string, double> values)
    {
        var names = values.Keys.Order(StringComparer.Ordinal).ToArray();
        using var packed = torch.tensor(names.Select(n => values[n]).ToArray());
        Group.all_reduce(packed);
        var sums = packed.ToArray<double>();
        return names.Select((n, k) => (n, v: sums[k] / Size)).ToDictionary(x => x.n, x => x.v);
    }

    public void Dispose()
    {
        _reducer?.Dispose();
        foreach (var module in _synchronised) SyncBatchNorm.convert_sync_batchnorm(module, null);
        Group.Dispose();
    }
}
