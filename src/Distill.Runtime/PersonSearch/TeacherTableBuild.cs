using System.Globalization;
using Distill.Data;
using Distill.Losses;
using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.Runtime;

/// <summary>
/// Builds a <see cref="TeacherIdentityTable"/> before the first epoch: the training data in data-set order without
/// augmentation, the teachers in evaluation mode and without gradients, every ground-truth box's teacher feature and identity,
/// then the per-identity mean (<see cref="PersonSearch.build_teacher_lut"/>) over the data's identities. The teachers are
/// frozen, so a table once built (or restored from a checkpoint) is kept for the whole run. The generated loop of an experiment
/// whose terms read a teacher look-up table passes one of these per table as an <see cref="EpochState"/>.
/// </summary>
public static class TeacherTableBuild
{
    /// <param name="table">the table to build (left as it is when already built).</param>
    /// <param name="data">the training data: a person-search data set (<see cref="IPersonSearchData"/>, for the identity count).</param>
    /// <param name="request">the run's device, batch size and batch cap (a quick run builds from the batches it may read).</param>
    /// <param name="features">a batch's teacher features, one row per ground-truth box, image by image (the wired tap).</param>
    /// <param name="identities">a batch's per-image identities of those boxes (the batch field the loss names).</param>
    /// <param name="models">the models <paramref name="features"/> runs: in evaluation mode for the pass, then back in their mode.</param>
    public static void Run<TBatch>(TeacherIdentityTable table, IBatchDataset<TBatch> data, EpochStateRequest request,
        Func<TBatch, Tensor> features, Func<TBatch, IReadOnlyList<Tensor>> identities, IReadOnlyList<Module> models) where TBatch : class, IBatch
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(identities);
        ArgumentNullException.ThrowIfNull(models);
        if (table.IsBuilt)
        {
            // Built earlier in the run, or restored from a checkpoint (on the CPU): kept, on the run's device.
            table.MoveTo(request.Device);
            return;
        }
        if (data is not IPersonSearchData search)
            throw new ArgumentException($"a teacher look-up table is built per identity of the training data, but {data.GetType().Name} has no identities (it is not a person-search data set)", nameof(data));
        var modes = models.Select(m => m.training).ToArray();
        foreach (var m in models) m.eval();
        try
        {
            var rows = new List<Tensor>();
            var ids = new List<Tensor>();
            var loader = new DataLoader<TBatch>(data, new DataLoaderOptions { BatchSize = request.BatchSize, Shuffle = false, Device = request.Device }, null);
            long batches = 0;
            try
            {
                using (torch.no_grad())
                {
                    foreach (var batch in loader.Epoch(0))
                    {
                        using (batch)
                        using (var scope = torch.NewDisposeScope())
                        {
                            var f = features(batch);
                            var labels = torch.cat(identities(batch).Select(t => t.to(ScalarType.Int64).to(f.device)).ToList(), 0);
                            if (f.dim() != 2 || f.size(0) != labels.size(0))
                                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                                    $"the teacher's per-box features are [{string.Join(", ", f.shape)}] for {labels.size(0)} ground-truth boxes: the tap must give one row per box"));
                            rows.Add(scope.MoveToOuter(f.detach()));
                            ids.Add(scope.MoveToOuter(labels));
                        }
                        if (++batches >= (request.BatchLimit ?? long.MaxValue)) break;
                    }
                }
                if (rows.Count == 0) throw new InvalidOperationException("the training data gave no batch to build the teacher look-up table from");
                using var scope2 = torch.NewDisposeScope();
                var all = torch.cat(rows, 0);
                var labelsAll = torch.cat(ids, 0);
                table.Build(all, labelsAll, search.Identities);
                using var seen = labelsAll.ge(0).sum();
                using var covered = table.Table.abs().sum(1).gt(0).sum();
                request.Progress.Message(string.Create(CultureInfo.InvariantCulture,
                    $"teacher look-up table built from {seen.item<long>()} labelled boxes: {covered.item<long>()} of {search.Identities} identities"));
            }
            finally
            {
                foreach (var t in rows) t.Dispose();
                foreach (var t in ids) t.Dispose();
            }
        }
        finally
        {
            for (var i = 0; i < models.Count; i++) models[i].train(modes[i]);
        }
    }
}
