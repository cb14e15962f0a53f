using System.Globalization;
using Distill.Data;
using Distill.Losses;
using Distill.Torch;
using Distill.Torch.Modules;

namespace Distill.Runtime;

/// <summary>
/// Rebuilds a <see cref="PrototypeBank"/> before an epoch, as Global Knowledge's <c>PGMHook</c> does: the training data in
/// data-set order without augmentation, the models in evaluation mode and without gradients, each batch's ground-truth
/// boxes pooled in the maps the bank is built from, until every class has its instances (or the run's batch cap), then the
/// prototype pursuit per class and level. The teachers are frozen and the pass sees the same boxes in the same order every
/// epoch, so their pooled features are computed at a bank's first rebuild and reused (<see cref="PrototypeBank.HasTeacherCache"/>),
/// as the released PGMHook keeps them; only the student runs again. The generated loop of an experiment whose terms read
/// a bank passes one of these per bank as an <see cref="EpochState"/>.
/// </summary>
public static class PrototypeRefresh
{
    /// <param name="bank">the table to rebuild.</param>
    /// <param name="data">the training data.</param>
    /// <param name="request">the run's device, batch size and batch cap.</param>
    /// <param name="maps">the student's and the teacher's maps of a batch of images (the generated <c>…PrototypesMaps</c>);
    /// its flag says whether the teacher's are wanted (null Teacher otherwise).</param>
    /// <param name="truth">a batch's images, per-image boxes and per-image labels.</param>
    /// <param name="models">the models <paramref name="maps"/> runs: put in evaluation mode for the pass, then back in their mode.</param>
    public static void Run<TBatch>(PrototypeBank bank, IBatchDataset<TBatch> data, EpochStateRequest request,
        Func<Tensor, bool, (IReadOnlyList<Tensor> Student, IReadOnlyList<Tensor>? Teacher)> maps,
        Func<TBatch, (Tensor Image, IReadOnlyList<Tensor> Boxes, IReadOnlyList<Tensor> Labels)> truth,
        IReadOnlyList<Module> models) where TBatch : class, IBatch
    {
        ArgumentNullException.ThrowIfNull(bank);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(maps);
        ArgumentNullException.ThrowIfNull(truth);
        ArgumentNullException.ThrowIfNull(models);
        var modes = models.Select(m => m.training).ToArray();
        foreach (var m in models) m.eval();
        try
        {
            var reuse = bank.HasTeacherCache;
            bank.BeginCollect();
            var loader = new DataLoader<TBatch>(data, new DataLoaderOptions { BatchSize = request.BatchSize, Shuffle = false, Device = request.Device }, null);
            long batches = 0;
            using (torch.no_grad())
            {
                foreach (var batch in loader.Epoch(0))
                {
                    using (batch)
                    using (torch.NewDisposeScope())
                    {
                        var (image, boxes, labels) = truth(batch);
                        var (student, teacher) = maps(image, !reuse);
                        if (!reuse && teacher is null) throw new InvalidOperationException("the maps function returned no teacher maps when they were asked for");
                        var wantsMore = bank.Collect(student, reuse ? null : teacher, boxes, labels);
                        if (!wantsMore || ++batches >= (request.BatchLimit ?? long.MaxValue)) break;
                    }
                }
            }
            bank.Build();
            request.Progress.Message($"epoch {request.Epoch + 1}: prototypes rebuilt, {Describe(bank)}{(reuse ? " (the teachers' features reused)" : "")}");
        }
        finally
        {
            for (var i = 0; i < models.Count; i++) models[i].train(modes[i]);
        }
    }

    /// <summary>One line on what a bank holds (for progress messages): instances per class and prototypes per level.</summary>
    public static string Describe(PrototypeBank bank)
    {
        ArgumentNullException.ThrowIfNull(bank);
        if (bank.IsEmpty) return "no prototypes (no ground-truth box collected)";
        var level = bank.Level(0);
        return string.Create(CultureInfo.InvariantCulture,
            $"{level.Student.size(0)} prototypes per level over {bank.Levels} levels, from {string.Join("/", bank.Collected.Where(n => n > 0))} boxes per class");
    }
}
