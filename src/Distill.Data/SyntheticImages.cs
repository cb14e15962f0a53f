using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// A deterministic, seeded image-classification task with structure a small model cannot fully capture
/// and class similarities a teacher's soft labels can pass on.
/// <para>
/// <b>The task</b> (a function of <c>seed</c>, <c>classes</c> and <c>channels</c> only, so every split of
/// one seed is the same task): classes form groups (superclasses) of 5 (2 when there are fewer than 20
/// classes). A group has a low-frequency coloured background (a base colour and two plane waves) and two
/// shared parts; each class adds two parts of its own at the group's two slots, its siblings using the same
/// slots with other orientations (spread over 180°), frequencies and colours, plus a faint colour tint. A part
/// is a Gabor patch: a Gaussian envelope times an oriented grating.
/// </para>
/// <para>
/// <b>A sample</b> (a function of seed, split and index): the object is translated by up to 12% of the
/// image, each part jitters, may drop out (20%), is rotated, rescaled, changes amplitude and gets a
/// random grating phase (so a part's evidence is phase-invariant energy, which a linear model cannot
/// see); zero to two distractor parts of other classes appear anywhere; contrast, brightness and
/// per-channel gain vary; Gaussian pixel noise is added; values are quantised to uint8. <c>difficulty</c> scales every nuisance (1 = default).
/// Group-level cues (background, tint) are roughly linear; telling siblings apart needs phase-invariant,
/// position-aware features: capacity. Sample <c>i</c>'s true class is <c>i % classes</c> (balanced).
/// </para>
/// <para>
/// <b>Label noise</b>: on the "train" split, each label is replaced with probability <c>label_noise</c> by
/// a uniformly drawn other class (fixed per sample); every other split ("test", "val", ...) is clean.
/// </para>
/// <para>
/// Nothing is stored: each sample is generated on demand from (seed, split, index) — a few tens of µs
/// per 32×32×3 image on one core, a batch spread over <see cref="Parallelism"/> threads — so 50,000
/// samples need no memory up front.
/// </para>
/// </summary>
[DistillDataset(Task = "classification")]
[BatchField("image", TensorKind.FeatureMap, "N, channels, size, size")]
[BatchField("label", TensorKind.Labels, "N", Classes = "classes")]
public sealed class SyntheticImages : ImageDataset
{
    private const int SharedParts = 2;
    private const int OwnParts = 2;

    private readonly int _classes, _samples, _channels, _size;
    private readonly ulong _seed, _splitKey;
    private readonly bool _noisy;
    private readonly GroupSpec[] _groups;
    private readonly ClassSpec[] _classSpecs;

    [ThreadStatic] private static float[]? t_buffer;

    /// <summary>
    /// Threads that render one batch (samples are independent, so the result is the same for any value):
    /// half the cores, leaving the rest to training; 1 (serial) on machines of 2 cores or fewer.
    /// </summary>
    public static int Parallelism { get; set; } = Environment.ProcessorCount > 2 ? Environment.ProcessorCount / 2 : 1;

    /// <param name="classes">Number of classes (10 or 100 for the CIFAR-style suites; at least 2).</param>
    /// <param name="samples">Number of samples of this split.</param>
    /// <param name="channels">Image channels (3: colour).</param>
    /// <param name="size">Image height and width in pixels (at least 8).</param>
    /// <param name="seed">Chooses the task (every split of one seed shares it) and the samples.</param>
    /// <param name="split">"train" (label noise applies), "test", "val" or any other name: a different sample stream.</param>
    /// <param name="label_noise">Probability that a training label is replaced by another class, in [0, 1).</param>
    /// <param name="difficulty">Scales every per-sample nuisance; 1 is the default task, 0 removes all but the grating phase.</param>
    /// <param name="similarity">How classes resemble each other: "groups" (superclasses of equally distinct siblings) or
    /// "graded" (every class's appearance a smooth function of a point in a latent class tree, so classes resemble each
    /// other to every degree, as in real data).</param>
    public SyntheticImages([HyperParameter(Min = 2)] int classes = 10, [HyperParameter(Min = 1)] int samples = 10000,
        [HyperParameter(Min = 1)] int channels = 3, [HyperParameter(Min = 8)] int size = 32, int seed = 0, string split = "train",
        [HyperParameter(Min = 0, Max = 1, MaxExclusive = true)] double label_noise = 0.0, [HyperParameter(Min = 0, Max = 4)] double difficulty = 1.0,
        string similarity = "groups")
    {
        if (similarity is not ("groups" or "graded"))
            throw new ArgumentException($"similarity must be \"groups\" or \"graded\", got \"{similarity}\"", nameof(similarity));
        if (classes < 2) throw new ArgumentOutOfRangeException(nameof(classes), classes, "SyntheticImages needs at least 2 classes");
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), samples, "SyntheticImages needs at least 1 sample");
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels), channels, "channels must be at least 1");
        if (size < 8) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be at least 8 pixels");
        if (!(label_noise >= 0 && label_noise < 1)) throw new ArgumentOutOfRangeException(nameof(label_noise), label_noise, "label_noise must be in [0, 1)");
        if (!(difficulty >= 0 && difficulty <= 4)) throw new ArgumentOutOfRangeException(nameof(difficulty), difficulty, "difficulty must be in [0, 4]");
        if (string.IsNullOrWhiteSpace(split)) throw new ArgumentException("split must be a name such as \"train\" or \"test\"", nameof(split));
        _classes = classes;
        _samples = samples;
        _channels = channels;
        _size = size;
        _seed = unchecked((ulong)(long)seed);
        Split = split;
        _splitKey = Seeds.Name(split);
        LabelNoise = label_noise;
        _noisy = label_noise > 0 && split == "train";
        Difficulty = difficulty;
        Seed = seed;
        GroupSize = classes >= 20 ? 5 : 2;
        Similarity = similarity;
        (_groups, _classSpecs) = similarity == "graded" ? BuildGradedTask() : BuildTask();
    }

    public override int Count => _samples;
    public override int Channels => _channels;
    public override int Height => _size;
    public override int Width => _size;
    public override int Classes => _classes;

    public int Seed { get; }
    public string Split { get; }
    public double LabelNoise { get; }
    public double Difficulty { get; }

    /// <summary>"groups" or "graded": how the classes resemble each other.</summary>
    public string Similarity { get; }

    /// <summary>Classes per group (superclass): 5, or 2 below 20 classes. On the graded task, the leaves of one branch of the class tree.</summary>
    public int GroupSize { get; }

    /// <summary>The group (superclass) of class <paramref name="label"/>.</summary>
    public int Group(int label) => label / GroupSize;

    /// <summary>The true class of sample <paramref name="index"/>: index % classes.</summary>
    public int CleanLabel(int index)
    {
        CheckIndex(index);
        return index % _classes;
    }

    /// <summary>The label batches carry: the true class, or on a noisy train split possibly another.</summary>
    public override int Label(int index)
    {
        var clean = CleanLabel(index);
        if (!_noisy) return clean;
        var rng = new Rng(Seeds.Combine(_seed, _splitKey, (ulong)index, NoiseStream));
        return rng.Chance(LabelNoise) ? (clean + 1 + rng.NextInt(_classes - 1)) % _classes : clean;
    }

    private static readonly ulong NoiseStream = Seeds.Name("label-noise");
    private static readonly ulong TaskStream = Seeds.Name("task");

    public override ImageBatch Collate(ReadOnlySpan<int> indices) => CollateRendered(indices, Parallelism, Render);

    /// <summary>Sample <paramref name="index"/>'s pixels, C × H × W, into <paramref name="destination"/>.</summary>
    public void Render(int index, Span<byte> destination)
    {
        CheckIndex(index);
        var per = _channels * _size * _size;
        if (destination.Length < per) throw new ArgumentException($"the destination needs {per} bytes", nameof(destination));
        var buffer = t_buffer is { } b && b.Length >= per ? b : t_buffer = new float[per];
        var v = buffer.AsSpan(0, per);
        var rng = new Rng(Seeds.Combine(_seed, _splitKey, (ulong)index));
        var d = Difficulty;
        var s = (double)_size;
        var label = index % _classes;
        var spec = _classSpecs[label];
        var group = _groups[spec.Group];

        // The object's frame: centre plus a global translation.
        var cx = (s - 1) / 2 + rng.Uniform(-0.12, 0.12) * s * d;
        var cy = (s - 1) / 2 + rng.Uniform(-0.12, 0.12) * s * d;

        // Background: base colour and tint, plus the group's waves in the object's frame.
        for (var c = 0; c < _channels; c++) v.Slice(c * _size * _size, _size * _size).Fill(group.Base[c] + spec.Tint[c]);
        foreach (var wave in group.Waves)
        {
            var amplitude = rng.Uniform(1 - 0.3 * d, 1 + 0.3 * d);
            var phase = wave.Phase + rng.Uniform(-0.5, 0.5) * d;
            AddGrating(v, wave.Kx, wave.Ky, phase, cx, cy, wave.Color, (float)amplitude);
        }

        // The parts: the group's shared ones and the class's own, each possibly dropped.
        var keep = Math.Max(0.3, 1 - 0.2 * d);
        foreach (var part in group.Shared) DrawPart(v, part, cx, cy, keep, 1.0, ref rng);
        foreach (var part in spec.Own) DrawPart(v, part, cx, cy, keep, 1.0, ref rng);

        // Distractors: own parts of other classes, anywhere in the image.
        var distractors = (int)rng.Uniform(0, 1 + 2 * d);
        for (var k = 0; k < distractors; k++)
        {
            var other = (label + 1 + rng.NextInt(_classes - 1)) % _classes;
            var part = _classSpecs[other].Own[rng.NextInt(_classSpecs[other].Own.Length)];
            var px = (s - 1) / 2 + rng.Uniform(-0.4, 0.4) * s;
            var py = (s - 1) / 2 + rng.Uniform(-0.4, 0.4) * s;
            DrawPart(v, part, px - part.X, py - part.Y, 1.0, rng.Uniform(0.6, 1.0), ref rng);
        }

        // Photometric nuisance and quantisation.
        var contrast = (float)rng.Uniform(1 - 0.3 * d, 1 + 0.3 * d);
        var brightness = (float)rng.Uniform(-0.1 * d, 0.1 * d);
        var noise = (float)(0.04 * d);
        var plane = _size * _size;
        for (var c = 0; c < _channels; c++)
        {
            var gain = (float)rng.Uniform(1 - 0.1 * d, 1 + 0.1 * d);
            var channel = v.Slice(c * plane, plane);
            var output = destination.Slice(c * plane, plane);
            for (var i = 0; i < plane; i++)
            {
                var x = ((channel[i] - 0.5f) * contrast + 0.5f + brightness) * gain;
                if (noise > 0) x += noise * rng.FastGaussian();
                var q = MathF.Round(x * 255f);
                output[i] = (byte)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    }

    private void DrawPart(Span<float> v, Part part, double cx, double cy, double keep, double scale, ref Rng rng)
    {
        // Draw every random number first so the stream does not depend on whether the part is kept.
        var d = Difficulty;
        var kept = rng.Chance(keep);
        var jitterX = rng.Uniform(-0.04, 0.04) * _size * d;
        var jitterY = rng.Uniform(-0.04, 0.04) * _size * d;
        var turn = rng.Uniform(-0.2, 0.2) * d;
        var stretch = rng.Uniform(1 - 0.1 * d, 1 + 0.1 * d);
        var phase = rng.Uniform(0, 2 * Math.PI);
        var amplitude = part.Amplitude * scale * rng.Uniform(1 - 0.3 * d, 1 + 0.3 * d);
        if (!kept) return;
        var (sin, cos) = Math.SinCos(turn);
        var kx = (part.Kx * cos - part.Ky * sin) / stretch;
        var ky = (part.Kx * sin + part.Ky * cos) / stretch;
        AddGabor(v, cx + part.X + jitterX, cy + part.Y + jitterY, part.Sigma * stretch, kx, ky, phase, part.Color, (float)amplitude);
    }

    /// <summary>Adds amplitude · color · cos(kx (x - ox) + ky (y - oy) + phase) to every pixel (separably).</summary>
    private void AddGrating(Span<float> v, double kx, double ky, double phase, double ox, double oy, float[] color, float amplitude)
    {
        var n = _size;
        Span<float> cosX = stackalloc float[n], sinX = stackalloc float[n], cosY = stackalloc float[n], sinY = stackalloc float[n];
        for (var i = 0; i < n; i++)
        {
            var (sx, cx) = Math.SinCos(kx * (i - ox));
            (sinX[i], cosX[i]) = ((float)sx, (float)cx);
            var (sy, cy) = Math.SinCos(ky * (i - oy) + phase);
            (sinY[i], cosY[i]) = ((float)sy, (float)cy);
        }
        for (var c = 0; c < _channels; c++)
        {
            var a = amplitude * color[c];
            if (a == 0) continue;
            var plane = v.Slice(c * n * n, n * n);
            for (var y = 0; y < n; y++)
            {
                var row = plane.Slice(y * n, n);
                var (cy, sy) = (a * cosY[y], a * sinY[y]);
                for (var x = 0; x < n; x++) row[x] += cosX[x] * cy - sinX[x] * sy;
            }
        }
    }

    /// <summary>Adds a Gabor patch centred at (px, py) within 3 sigma, separably: env(x) env(y) cos(ax + by).</summary>
    private void AddGabor(Span<float> v, double px, double py, double sigma, double kx, double ky, double phase, float[] color, float amplitude)
    {
        var n = _size;
        var radius = 3 * sigma;
        int x0 = Math.Max(0, (int)Math.Ceiling(px - radius)), x1 = Math.Min(n - 1, (int)Math.Floor(px + radius));
        int y0 = Math.Max(0, (int)Math.Ceiling(py - radius)), y1 = Math.Min(n - 1, (int)Math.Floor(py + radius));
        if (x0 > x1 || y0 > y1) return;
        int w = x1 - x0 + 1, h = y1 - y0 + 1;
        Span<float> cosX = stackalloc float[w], sinX = stackalloc float[w], cosY = stackalloc float[h], sinY = stackalloc float[h];
        var inv = 1.0 / (2 * sigma * sigma);
        for (var i = 0; i < w; i++)
        {
            var dx = x0 + i - px;
            var e = Math.Exp(-dx * dx * inv);
            var (s, c) = Math.SinCos(kx * dx);
            (sinX[i], cosX[i]) = ((float)(e * s), (float)(e * c));
        }
        for (var j = 0; j < h; j++)
        {
            var dy = y0 + j - py;
            var e = Math.Exp(-dy * dy * inv);
            var (s, c) = Math.SinCos(ky * dy + phase);
            (sinY[j], cosY[j]) = ((float)(e * s), (float)(e * c));
        }
        for (var ch = 0; ch < _channels; ch++)
        {
            var a = amplitude * color[ch];
            if (a == 0) continue;
            var plane = v.Slice(ch * n * n, n * n);
            for (var j = 0; j < h; j++)
            {
                var row = plane.Slice((y0 + j) * n + x0, w);
                var (cy, sy) = (a * cosY[j], a * sinY[j]);
                for (var i = 0; i < w; i++) row[i] += cosX[i] * cy - sinX[i] * sy;
            }
        }
    }

    // ---- the task ----------------------------------------------------------------------------------

    private sealed record Wave(double Kx, double Ky, double Phase, float[] Color);

    /// <summary>A Gabor part; X, Y, Sigma in pixels relative to the object centre, K in radians per pixel.</summary>
    private sealed record Part(double X, double Y, double Sigma, double Kx, double Ky, float[] Color, double Amplitude);

    private sealed record GroupSpec(float[] Base, Wave[] Waves, Part[] Shared, (double X, double Y)[] Slots);

    private sealed record ClassSpec(int Group, Part[] Own, float[] Tint);

    private (GroupSpec[], ClassSpec[]) BuildTask()
    {
        var rng = new Rng(Seeds.Combine(_seed, TaskStream, (ulong)_classes, (ulong)_channels));
        var s = (double)_size;
        var groupCount = (_classes + GroupSize - 1) / GroupSize;
        var groups = new GroupSpec[groupCount];
        for (var g = 0; g < groupCount; g++)
        {
            var baseColor = Colour(ref rng, 0.35, 0.65);
            var waves = new Wave[2];
            for (var w = 0; w < waves.Length; w++)
            {
                var k = 2 * Math.PI * rng.Uniform(0.6, 1.6) / s;
                var angle = rng.Uniform(0, Math.PI);
                waves[w] = new Wave(k * Math.Cos(angle), k * Math.Sin(angle), rng.Uniform(0, 2 * Math.PI), Colour(ref rng, -0.12, 0.12));
            }
            var shared = new Part[SharedParts];
            for (var p = 0; p < shared.Length; p++)
                shared[p] = NewPart(ref rng, rng.Uniform(-0.28, 0.28) * s, rng.Uniform(-0.28, 0.28) * s, rng.Uniform(0, Math.PI));
            var slots = new (double, double)[OwnParts];
            for (var p = 0; p < slots.Length; p++) slots[p] = (rng.Uniform(-0.28, 0.28) * s, rng.Uniform(-0.28, 0.28) * s);
            groups[g] = new GroupSpec(baseColor, waves, shared, slots);
        }
        // Siblings share the slots; their orientations are spread over 180 degrees from a per-slot start.
        var slotAngles = new double[groupCount, OwnParts];
        for (var g = 0; g < groupCount; g++)
            for (var p = 0; p < OwnParts; p++) slotAngles[g, p] = rng.Uniform(0, Math.PI);
        var classes = new ClassSpec[_classes];
        for (var c = 0; c < _classes; c++)
        {
            var g = c / GroupSize;
            var sibling = c % GroupSize;
            var own = new Part[OwnParts];
            for (var p = 0; p < OwnParts; p++)
            {
                var (x, y) = groups[g].Slots[p];
                var angle = slotAngles[g, p] + sibling * Math.PI / GroupSize + rng.Uniform(-0.1, 0.1);
                own[p] = NewPart(ref rng, x + rng.Uniform(-0.03, 0.03) * s, y + rng.Uniform(-0.03, 0.03) * s, angle);
            }
            classes[c] = new ClassSpec(g, own, Colour(ref rng, -0.01, 0.01));
        }
        return (groups, classes);
    }

    // ---- the graded task ----------------------------------------------------------------------------------

    /// <summary>Dimensions of the latent class space of the graded task.</summary>
    private const int LatentDims = 8;

    /// <summary>Parts every class of the graded task draws, each at its own place.</summary>
    private const int GradedParts = 4;

    /// <summary>
    /// The latent point of every class: a tree of three levels (branches of <see cref="GroupSize"/> leaves, branches of
    /// those, then the root's), each level adding a Gaussian offset of decreasing scale to its parent's point, so two
    /// classes are as alike as their common ancestor is deep, plus a leaf offset of its own.
    /// </summary>
    private double[][] LatentPoints(ref Rng rng)
    {
        var leaves = GroupSize;
        var middle = Math.Max(1, (_classes + leaves - 1) / leaves);
        var branches = Math.Max(2, (int)Math.Round(Math.Sqrt(middle)));
        double[] Offset(ref Rng r, double scale)
        {
            var v = new double[LatentDims];
            for (var i = 0; i < v.Length; i++) v[i] = scale * r.Gaussian();
            return v;
        }
        var top = new double[branches][];
        for (var b = 0; b < branches; b++) top[b] = Offset(ref rng, 1.0);
        var mid = new double[middle][];
        for (var m = 0; m < middle; m++)
        {
            var offset = Offset(ref rng, 0.6);
            mid[m] = top[m % branches].Zip(offset, (a, o) => a + o).ToArray();
        }
        var points = new double[_classes][];
        for (var c = 0; c < _classes; c++)
        {
            // The leaf offset's scale varies per class too, so some siblings are near twins and others barely related.
            var offset = Offset(ref rng, rng.Uniform(0.1, 0.3));
            points[c] = mid[c / leaves].Zip(offset, (a, o) => a + o).ToArray();
        }
        return points;
    }

    /// <summary>A fixed random projection of the latent space, scaled so a latent point of unit-variance coordinates maps to about ±1.</summary>
    private static Func<double[], double> Projection(ref Rng rng)
    {
        var w = new double[LatentDims];
        for (var i = 0; i < w.Length; i++) w[i] = rng.Gaussian() / Math.Sqrt(LatentDims);
        return z =>
        {
            var sum = 0.0;
            for (var i = 0; i < w.Length; i++) sum += w[i] * z[i];
            return sum;
        };
    }

    /// <summary>
    /// Every class its own appearance, each parameter a smooth function of the class's latent point: background colour
    /// and waves, and <see cref="GradedParts"/> Gabor parts whose orientation, frequency, colour and position are fixed
    /// projections of it. Near classes in the tree look alike; under the per-sample nuisance they are confused in
    /// proportion — the graded similarity a teacher's soft labels can pass on.
    /// </summary>
    private (GroupSpec[], ClassSpec[]) BuildGradedTask()
    {
        var rng = new Rng(Seeds.Combine(_seed, TaskStream, (ulong)_classes, Seeds.Combine((ulong)_channels, GradedStream)));
        var s = (double)_size;
        var points = LatentPoints(ref rng);

        var baseColour = Colour(ref rng, 0.4, 0.6);
        var colourMaps = Enumerable.Range(0, _channels).Select(_ => Projection(ref rng)).ToArray();
        var waveBases = Enumerable.Range(0, 2).Select(_ => (k: 2 * Math.PI * rng.Uniform(0.6, 1.6) / s, angle: rng.Uniform(0, Math.PI), phase: rng.Uniform(0, 2 * Math.PI))).ToArray();
        var waveMaps = Enumerable.Range(0, 2).Select(_ => (angle: Projection(ref rng), phase: Projection(ref rng), colour: Enumerable.Range(0, _channels).Select(_ => Projection(ref rng)).ToArray())).ToArray();
        var parts = Enumerable.Range(0, GradedParts).Select(_ => (
            x: rng.Uniform(-0.25, 0.25) * s, y: rng.Uniform(-0.25, 0.25) * s, angle: rng.Uniform(0, Math.PI),
            sigma: rng.Uniform(0.08, 0.12) * s, cycles: rng.Uniform(5, 9), colour: Colour(ref rng, -1, 1), amplitude: rng.Uniform(0.2, 0.3))).ToArray();
        var partMaps = Enumerable.Range(0, GradedParts).Select(_ => (
            angle: Projection(ref rng), frequency: Projection(ref rng), x: Projection(ref rng), y: Projection(ref rng),
            colour: Enumerable.Range(0, _channels).Select(_ => Projection(ref rng)).ToArray())).ToArray();

        var groups = new GroupSpec[_classes];
        var classes = new ClassSpec[_classes];
        for (var c = 0; c < _classes; c++)
        {
            var z = points[c];
            var background = new float[_channels];
            for (var ch = 0; ch < _channels; ch++) background[ch] = (float)(baseColour[ch] + 0.1 * Math.Tanh(colourMaps[ch](z)));
            var waves = new Wave[waveBases.Length];
            for (var w = 0; w < waves.Length; w++)
            {
                var angle = waveBases[w].angle + 0.6 * waveMaps[w].angle(z);
                var colour = waveMaps[w].colour.Select(m => (float)(0.08 * Math.Tanh(m(z)))).ToArray();
                waves[w] = new Wave(waveBases[w].k * Math.Cos(angle), waveBases[w].k * Math.Sin(angle), waveBases[w].phase + waveMaps[w].phase(z), colour);
            }
            var own = new Part[GradedParts];
            for (var p = 0; p < own.Length; p++)
            {
                var (b, m) = (parts[p], partMaps[p]);
                var angle = b.angle + 0.9 * m.angle(z); // about ±50° over the classes, a few degrees between near twins
                var k = 2 * Math.PI * b.cycles * Math.Exp(0.25 * m.frequency(z)) / s;
                var colour = new float[_channels];
                for (var ch = 0; ch < _channels; ch++) colour[ch] = (float)(b.colour[ch] + 0.8 * m.colour[ch](z));
                var norm = MathF.Sqrt(colour.Sum(v => v * v));
                for (var ch = 0; ch < _channels; ch++) colour[ch] = norm > 1e-6f ? colour[ch] / norm : 1f / MathF.Sqrt(_channels);
                own[p] = new Part(b.x + 0.05 * s * m.x(z), b.y + 0.05 * s * m.y(z), b.sigma, k * Math.Cos(angle), k * Math.Sin(angle), colour, b.amplitude);
            }
            groups[c] = new GroupSpec(background, waves, [], []);
            classes[c] = new ClassSpec(c, own, new float[_channels]);
        }
        return (groups, classes);
    }

    /// <summary>How unlike two classes of the graded task are: the Euclidean distance between their latent points.</summary>
    public double LatentDistance(int a, int b)
    {
        if (Similarity != "graded") throw new InvalidOperationException("latent distances exist on the graded task only (similarity: graded)");
        var rng = new Rng(Seeds.Combine(_seed, TaskStream, (ulong)_classes, Seeds.Combine((ulong)_channels, GradedStream)));
        var points = LatentPoints(ref rng);
        return Math.Sqrt(points[a].Zip(points[b], (x, y) => (x - y) * (x - y)).Sum());
    }

    private static readonly ulong GradedStream = Seeds.Name("graded");

    private Part NewPart(ref Rng rng, double x, double y, double angle)
    {
        var s = (double)_size;
        var sigma = rng.Uniform(0.07, 0.12) * s;
        var k = 2 * Math.PI * rng.Uniform(4, 10) / s; // 4 to 10 cycles per image width
        // A random direction in colour space, unit length, so parts differ in hue as well as in shape.
        var color = Colour(ref rng, -1, 1);
        var norm = MathF.Sqrt(color.Sum(c => c * c));
        for (var i = 0; i < color.Length; i++) color[i] = norm > 1e-6f ? color[i] / norm : 1f / MathF.Sqrt(color.Length);
        return new Part(x, y, sigma, k * Math.Cos(angle), k * Math.Sin(angle), color, rng.Uniform(0.18, 0.3));
    }

    private float[] Colour(ref Rng rng, double low, double high)
    {
        var color = new float[_channels];
        for (var i = 0; i < color.Length; i++) color[i] = (float)rng.Uniform(low, high);
        return color;
    }
}
