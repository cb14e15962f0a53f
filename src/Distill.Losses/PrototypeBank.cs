using System.Globalization;
using Distill.Torch;

namespace Distill.Losses;

/// <summary>
/// Global Knowledge's prototypes (PGM) of one student feature space and one teacher feature space, for every FPN
/// level: per class, <see cref="Count"/> prototypes picked by <see cref="GlobalKnowledge.pgm_select_prototypes"/> from
/// the ground-truth boxes of the training set, each box average-pooled on every level in both detectors
/// (<see cref="GlobalKnowledge.gk_roi_avg_pool"/>). The released code rebuilds them before every epoch from the current
/// student (its <c>PGMHook</c>); a generated training loop does the same when a loss term reads a bank: it calls
/// <see cref="BeginCollect"/>, feeds <see cref="Collect"/> batches in data-set order until it returns false, then
/// <see cref="Build"/>.
/// </summary>
/// <remarks>
/// Level <c>l</c> holds <see cref="PrototypeLevel.Student"/> (P, D_s), <see cref="PrototypeLevel.Teacher"/> (P, D_t) and
/// <see cref="PrototypeLevel.ClassStarts"/> (C + 1): class c owns rows [starts[c], starts[c+1]) — the released code's
/// <c>cls_start_index</c>. C is one more than the largest label collected; a class without instances owns no row.
/// The collected instances are held on the CPU in float32 until <see cref="Build"/>; the tables then live on the
/// features' device. The bank owns its tensors (none is left to the caller's dispose scope) and frees them on
/// <see cref="Dispose"/>. A bank is part of a run's checkpoint (<see cref="StateTensors"/>), so a run resumed within an
/// epoch uses the prototypes that epoch started with.
/// </remarks>
public sealed class PrototypeBank : IDisposable
{
    /// <summary>The released code's cap: up to 800 ground-truth boxes per class.</summary>
    public const int DefaultInstancesPerClass = 800;

    private readonly List<PrototypeLevel> _levels = [];
    private List<List<Tensor>[]>? _pendingStudent, _pendingTeacher; // [class][level] → chunks
    private List<List<Tensor>[]>? _teacherCache; // the last collection's teacher chunks, owned here
    private bool _pendingFromCache; // _pendingTeacher's chunks are _teacherCache's (not owned by the collection)
    private int[] _pendingCount = [];
    private int _pendingLevels;
    private Device? _device;

    /// <param name="instances_per_class">boxes collected per class (800 in the released code).</param>
    /// <param name="count">K, the prototypes picked per class and level (10).</param>
    /// <param name="alpha">α of the pursuit (10).</param>
    /// <param name="sigma">σ of the density kernel (0.1).</param>
    /// <param name="quantile">the density quantile below which instances are not candidates (0.4).</param>
    /// <param name="min_box_side">boxes narrower or lower than this (image pixels) are not collected (the released code
    /// keeps boxes of at least 30 × 30 on COCO-sized images; 0 keeps every box).</param>
    public PrototypeBank(int instances_per_class = DefaultInstancesPerClass, int count = 10, double alpha = 10, double sigma = 0.1,
        double quantile = 0.4, double min_box_side = 0)
    {
        if (instances_per_class < 1) throw new ArgumentOutOfRangeException(nameof(instances_per_class), instances_per_class, "must be >= 1");
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "must be >= 1");
        if (!(min_box_side >= 0)) throw new ArgumentOutOfRangeException(nameof(min_box_side), min_box_side, "must be >= 0");
        InstancesPerClass = instances_per_class;
        Count = count;
        Alpha = alpha;
        Sigma = sigma;
        Quantile = quantile;
        MinBoxSide = min_box_side;
    }

    public int InstancesPerClass { get; }
    public int Count { get; }
    public double Alpha { get; }
    public double Sigma { get; }
    public double Quantile { get; }
    public double MinBoxSide { get; }

    /// <summary>The number of levels of the current tables (0 before the first <see cref="Build"/>).</summary>
    public int Levels => _levels.Count;

    /// <summary>No table yet: the losses that read the bank then treat every instance as agreeing (robust weight 1).</summary>
    public bool IsEmpty => _levels.Count == 0;

    /// <summary>How many times the tables were built (or restored).</summary>
    public int Builds { get; private set; }

    /// <summary>The instances collected per class since <see cref="BeginCollect"/> (index = label).</summary>
    public IReadOnlyList<int> Collected => _pendingCount;

    /// <summary>Level <paramref name="level"/>'s tables.</summary>
    public PrototypeLevel Level(int level)
    {
        if (level < 0 || level >= _levels.Count)
            throw new ArgumentOutOfRangeException(nameof(level), level, IsEmpty ? "the prototype bank has no table yet" : $"the prototype bank has {_levels.Count} levels");
        return _levels[level];
    }

    /// <summary>
    /// Whether the teacher's pooled features of the last collection are kept, so that a collection over the same boxes can
    /// pass no teacher maps to <see cref="Collect"/> (a frozen teacher pools the same features every epoch). The cache is
    /// the bank's (one per experiment instance); a caller that changes the teacher's weights calls <see cref="ClearTeacherCache"/>.
    /// It checks each chunk's box count and that a collection uses every chunk, not the boxes themselves.
    /// </summary>
    public bool HasTeacherCache => _teacherCache is not null;

    /// <summary>Starts a new collection; the current tables stay in use until <see cref="Build"/>.</summary>
    public void BeginCollect()
    {
        DisposePending();
        _pendingStudent = [];
        _pendingTeacher = [];
        _pendingFromCache = false;
        _pendingCount = [];
        _pendingLevels = 0;
        _device = null;
    }

    /// <summary>Forgets the teacher's cached features (the teacher or the data changed): the next collection needs teacher maps.</summary>
    public void ClearTeacherCache()
    {
        DisposeChunks(_teacherCache);
        _teacherCache = null;
    }

    /// <summary>
    /// Adds one batch's ground-truth boxes: each box average-pooled on every level of <paramref name="student"/> and
    /// <paramref name="teacher"/>, kept while its class has fewer than <see cref="InstancesPerClass"/> (in batch order).
    /// </summary>
    /// <param name="student">per level, the student's (N, D_s, H_l, W_l) map.</param>
    /// <param name="teacher">per level, the teacher's (N, D_t, H_l, W_l) map; null: the last collection's pooled teacher
    /// features of the same boxes (<see cref="HasTeacherCache"/>; a whole collection either passes maps or not). The boxes
    /// kept must be the last collection's, in its order — the same data, order and caps; a count that differs is an error.</param>
    /// <param name="boxes">per image, (n_i, 4) boxes (x1, y1, x2, y2) in the maps' input pixels.</param>
    /// <param name="labels">per image, (n_i) class labels (≥ 0).</param>
    /// <param name="strides">the stride of each level; default 4·2^l (P2, P3, ...).</param>
    /// <returns>whether some class seen so far still wants instances (false: every class seen is full; a label never kept,
    /// such as torchvision's background 0, counts as not seen).</returns>
    public bool Collect(IReadOnlyList<Tensor> student, IReadOnlyList<Tensor>? teacher, IReadOnlyList<Tensor> boxes, IReadOnlyList<Tensor> labels,
        IReadOnlyList<int>? strides = null)
    {
        const string fn = "PrototypeBank.Collect";
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(boxes);
        ArgumentNullException.ThrowIfNull(labels);
        if (_pendingStudent is null) throw new InvalidOperationException("call BeginCollect before Collect");
        if (student.Count == 0) throw new LossArgumentException(fn, nameof(student), "student has no level");
        var fromCache = teacher is null;
        if (fromCache && _teacherCache is null)
            throw new InvalidOperationException("Collect without teacher maps needs the teacher features of an earlier collection (HasTeacherCache)");
        if (_pendingLevels != 0 && fromCache != _pendingFromCache)
            throw new InvalidOperationException("a collection either passes the teacher's maps with every batch or with none");
        _pendingFromCache = fromCache;
        if (teacher is not null && teacher.Count != student.Count)
            throw new LossArgumentException(fn, nameof(teacher), $"teacher has {teacher.Count} levels but student has {student.Count}");
        if (_pendingLevels != 0 && _pendingLevels != student.Count)
            throw new LossArgumentException(fn, nameof(student), $"student has {student.Count} levels but earlier batches had {_pendingLevels}");
        var images = student[0].size(0);
        if (boxes.Count != images || labels.Count != images)
            throw new LossArgumentException(fn, nameof(boxes), $"boxes ({boxes.Count}) and labels ({labels.Count}) must have one entry per image of the batch ({images})");
        strides ??= Enumerable.Range(0, student.Count).Select(l => 4 << l).ToArray();
        if (strides.Count != student.Count)
            throw new LossArgumentException(fn, nameof(strides), $"strides has {strides.Count} entries but there are {student.Count} levels");
        _pendingLevels = student.Count;
        _device ??= student[0].device;

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // The kept boxes of the batch as mmdet RoI rows (image, x1, y1, x2, y2), in batch order, within the quotas.
        var rows = new List<float>();
        var kept = new List<long>();
        for (var i = 0; i < images; i++)
        {
            if (boxes[i].dim() != 2 || boxes[i].size(1) != 4)
                throw new LossArgumentException(fn, nameof(boxes), $"boxes[{i}] must be (n, 4), got {Guard.Shape(boxes[i])}");
            if (labels[i].dim() != 1 || labels[i].size(0) != boxes[i].size(0))
                throw new LossArgumentException(fn, nameof(labels), $"labels[{i}] must have one label per box ({boxes[i].size(0)}), got {Guard.Shape(labels[i])}");
            var b = boxes[i].detach().to(ScalarType.Float32).cpu().ToArray<float>();
            var c = labels[i].to(ScalarType.Int64).cpu().ToArray<long>();
            for (var j = 0; j < c.Length; j++)
            {
                if (c[j] < 0) throw new LossArgumentException(fn, nameof(labels), $"labels[{i}] has a negative label {c[j]}");
                var (x1, y1, x2, y2) = (b[4 * j], b[4 * j + 1], b[4 * j + 2], b[4 * j + 3]);
                if (x2 - x1 < MinBoxSide || y2 - y1 < MinBoxSide) continue;
                EnsureClass(c[j]);
                if (_pendingCount[c[j]] >= InstancesPerClass) continue;
                _pendingCount[c[j]]++;
                rows.AddRange([i, x1, y1, x2, y2]);
                kept.Add(c[j]);
            }
        }
        if (kept.Count > 0)
        {
            var rois = torch.tensor(rows.ToArray()).reshape(kept.Count, 5).to(student[0].device);
            var classes = kept.ToArray();
            for (var l = 0; l < student.Count; l++)
            {
                var s = GlobalKnowledge.gk_roi_avg_pool(student[l].detach(), rois, strides[l]).to(ScalarType.Float32).cpu();
                var t = teacher is null ? null : GlobalKnowledge.gk_roi_avg_pool(teacher[l].detach(), rois, strides[l]).to(ScalarType.Float32).cpu();
                foreach (var c in classes.Distinct())
                {
                    var rowsOfClass = Enumerable.Range(0, classes.Length).Where(k => classes[k] == c).Select(k => (long)k).ToArray();
                    var at = torch.tensor(rowsOfClass);
                    // the bank owns its chunks: out of every dispose scope (a caller's per-batch scope would free them)
                    _pendingStudent![(int)c][l].Add(s.index_select(0, at).DetachFromDisposeScope());
                    _pendingTeacher![(int)c][l].Add(t is null ? CachedChunk((int)c, l, rowsOfClass.Length) : t.index_select(0, at).DetachFromDisposeScope());
                }
            }
        }
        // A class is seen once one of its boxes was kept (a count of 0 below the largest label is a class never seen, such
        // as torchvision's background 0).
        return !_pendingCount.Any(n => n > 0) || _pendingCount.Any(n => n > 0 && n < InstancesPerClass);
    }

    /// <summary>
    /// Replaces the tables with prototypes picked from the collected instances (per level and class, on the CPU in
    /// float64, then moved to the features' device). Nothing collected leaves the bank empty.
    /// </summary>
    public void Build()
    {
        if (_pendingStudent is null) throw new InvalidOperationException("call BeginCollect and Collect before Build");
        if (_pendingFromCache)
            for (var c = 0; c < _teacherCache!.Count; c++)
                for (var l = 0; l < _teacherCache[c].Length; l++)
                    if ((c < _pendingTeacher!.Count ? _pendingTeacher[c][l].Count : 0) != _teacherCache[c][l].Count)
                        throw new InvalidOperationException($"the cached teacher features do not match this collection (class {c}, level {l}: " +
                            $"it stopped after {(c < _pendingTeacher!.Count ? _pendingTeacher[c][l].Count : 0)} of the {_teacherCache[c][l].Count} batch chunks cached): the data, its order or the caps changed; ClearTeacherCache and pass teacher maps");
        var built = new List<PrototypeLevel>();
        if (_pendingCount.Any(n => n > 0))
        {
            using var scope = torch.NewDisposeScope();
            for (var l = 0; l < _pendingLevels; l++)
            {
                var student = new List<Tensor>();
                var teacher = new List<Tensor>();
                var starts = new long[_pendingCount.Length + 1];
                for (var c = 0; c < _pendingCount.Length; c++)
                {
                    starts[c + 1] = starts[c];
                    if (_pendingCount[c] == 0) continue;
                    var xs = torch.cat(_pendingStudent[c][l], 0);
                    var xt = torch.cat(_pendingTeacher![c][l], 0);
                    var (_, ps, pt) = GlobalKnowledge.pgm_select_prototypes(xs, xt, Count, Alpha, Sigma, Quantile);
                    student.Add(ps.to(ScalarType.Float32));
                    teacher.Add(pt.to(ScalarType.Float32));
                    starts[c + 1] += ps.size(0);
                }
                var device = _device ?? Device.CPU;
                // the bank owns its tables: out of every dispose scope
                built.Add(new PrototypeLevel(
                    torch.cat(student, 0).to(device).DetachFromDisposeScope(),
                    torch.cat(teacher, 0).to(device).DetachFromDisposeScope(),
                    torch.tensor(starts).to(device).DetachFromDisposeScope()));
            }
        }
        Replace(built);
        if (!_pendingFromCache)
        {
            // This collection's teacher features become the cache the next one may reuse.
            ClearTeacherCache();
            _teacherCache = _pendingTeacher;
            _pendingTeacher = null;
        }
        DisposePending();
        _pendingStudent = null;
        _pendingTeacher = null;
    }

    /// <summary>The cached teacher chunk at the position the collection has reached for class <paramref name="c"/> and level <paramref name="l"/>.</summary>
    private Tensor CachedChunk(int c, int l, int rows)
    {
        var index = _pendingTeacher![c][l].Count;
        var chunks = c < _teacherCache!.Count && l < _teacherCache[c].Length ? _teacherCache[c][l] : [];
        if (index >= chunks.Count || chunks[index].size(0) != rows)
            throw new InvalidOperationException(
                $"the cached teacher features do not match this collection (class {c}, level {l}, batch chunk {index}: {rows} boxes kept now, " +
                $"{(index < chunks.Count ? chunks[index].size(0).ToString(CultureInfo.InvariantCulture) : "none")} before): the data, its order or the caps changed; ClearTeacherCache and pass teacher maps");
        return chunks[index];
    }

    /// <summary>The tables as named tensors (<c>l&lt;level&gt;.student</c>, <c>.teacher</c>, <c>.class_starts</c>), for a checkpoint.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateTensors()
    {
        for (var l = 0; l < _levels.Count; l++)
        {
            var level = _levels[l];
            yield return new(Key(l, "student"), level.Student);
            yield return new(Key(l, "teacher"), level.Teacher);
            yield return new(Key(l, "class_starts"), level.ClassStarts);
        }
    }

    /// <summary>Restores tables saved by <see cref="StateTensors"/> (copies them; none: the bank becomes empty).</summary>
    public void LoadStateTensors(IReadOnlyDictionary<string, Tensor> tensors, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var count = 0;
        for (; tensors.ContainsKey(Key(count, "student")); count++)
            if (!tensors.ContainsKey(Key(count, "teacher")) || !tensors.ContainsKey(Key(count, "class_starts")))
                throw new ArgumentException($"the saved prototype bank has '{Key(count, "student")}' without '{Key(count, "teacher")}' and '{Key(count, "class_starts")}'", nameof(tensors));
        var unknown = tensors.Keys.Where(k => !IsKey(k, count)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"the saved prototype bank has entries this bank does not know: {string.Join(", ", unknown)}", nameof(tensors));
        var levels = new List<PrototypeLevel>();
        using (var scope = torch.NewDisposeScope())
        {
            // copies the bank owns: out of every dispose scope (the intermediate moves are freed with this one)
            Tensor Copy(string key, Device to) => tensors[key].to(to).clone().DetachFromDisposeScope();
            for (var l = 0; l < count; l++)
            {
                var target = device ?? tensors[Key(l, "student")].device;
                levels.Add(new PrototypeLevel(Copy(Key(l, "student"), target), Copy(Key(l, "teacher"), target), Copy(Key(l, "class_starts"), target)));
            }
        }
        Replace(levels);
    }

    public void Dispose()
    {
        Replace([]);
        DisposePending();
        ClearTeacherCache();
    }

    private static string Key(int level, string part) => string.Create(CultureInfo.InvariantCulture, $"l{level}.{part}");

    private static bool IsKey(string key, int levels) =>
        Enumerable.Range(0, levels).Any(l => key == Key(l, "student") || key == Key(l, "teacher") || key == Key(l, "class_starts"));

    private void EnsureClass(long label)
    {
        if (label < _pendingCount.Length) return;
        var old = _pendingCount.Length;
        Array.Resize(ref _pendingCount, (int)label + 1);
        for (var c = old; c <= label; c++)
        {
            _pendingStudent!.Add(Enumerable.Range(0, _pendingLevels).Select(_ => new List<Tensor>()).ToArray());
            _pendingTeacher!.Add(Enumerable.Range(0, _pendingLevels).Select(_ => new List<Tensor>()).ToArray());
        }
    }

    private void Replace(List<PrototypeLevel> levels)
    {
        foreach (var level in _levels) level.Dispose();
        _levels.Clear();
        _levels.AddRange(levels);
        if (levels.Count > 0) Builds++;
    }

    private void DisposePending()
    {
        DisposeChunks(_pendingStudent);
        // Chunks taken from the cache stay the cache's.
        if (!_pendingFromCache) DisposeChunks(_pendingTeacher);
    }

    private static void DisposeChunks(List<List<Tensor>[]>? table)
    {
        if (table is null) return;
        foreach (var byLevel in table)
            foreach (var chunks in byLevel)
                foreach (var t in chunks) t.Dispose();
    }
}

/// <summary>One level's prototype tables: student (P, D_s), teacher (P, D_t), class start indices (C + 1, int64).</summary>
public sealed record PrototypeLevel(Tensor Student, Tensor Teacher, Tensor ClassStarts) : IDisposable
{
    public void Dispose()
    {
        Student.Dispose();
        Teacher.Dispose();
        ClassStarts.Dispose();
    }
}
