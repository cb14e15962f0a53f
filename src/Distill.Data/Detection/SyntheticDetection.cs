using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// A deterministic, seeded object-detection task, generated lazily per index: textured scenes with objects of
/// <c>classes</c> shape classes (each with <c>subtypes</c> looks), object-like distractors that belong to no class,
/// and a controlled share of hard instances (tiny, blurred, occluded, low contrast), at sizes spread over the
/// pyramid levels of a detector. Made so that detection-distillation effects show at CPU scale: the background
/// carries object-like clutter (what a teacher's background knowledge is about), small and hard instances need
/// capacity, and several looks per class need more than a template per class.
/// <para>
/// <b>The task</b> (a function of <c>seed</c>, <c>classes</c> and <c>subtypes</c>, so every split of one seed is
/// the same task): class c (label c + 1) has the shape <c>ellipse, rectangle, triangle, diamond, cross, ring,
/// hexagon, star</c>[c mod 8] and a base hue (classes spread round the colour wheel); classes 8..15 repeat the
/// shapes with other patterns. Each class has <c>subtypes</c> looks: a fill pattern (solid, stripes, two-tone for
/// classes 0..7; checker, dots, concentric rings for 8..15), an aspect ratio, a tilt and a two-colour palette
/// whose hue strays up to ±40° from the class's (so colour is a hint, never the answer).
/// </para>
/// <para>
/// <b>A scene</b> (a function of seed, split and index): a background of a two-colour gradient, 2–5 soft colour
/// blobs, stripes in half the images and pixel noise (all scaled by <c>clutter</c>); 0..<c>distractors</c>
/// distractors behind the objects — a shape of no class (the class shapes the task does not use, crescent, L,
/// bar, half-disc) or a class shape filled with a pattern no class uses (speckle, radial gradient); 1..<c>max_objects</c>
/// objects (none in 3% of the images) of uniformly drawn classes and looks, whose sizes (the geometric mean of the
/// box's sides) are log-uniform over [1.5·<c>min_object</c>, <c>max_object</c>], placed so two objects share at
/// most 20% of the smaller one's box. Each object is hard with probability <c>hard_fraction</c>, of one of four
/// kinds (equally likely): <b>tiny</b> (size in [<c>min_object</c>, 1.5·<c>min_object</c>)), <b>blurred</b>
/// (edges spread over 12–25% of its size, pattern contrast 40%), <b>occluded</b> (another object, 35%, or a
/// distractor of 70–110% of its size drawn over it, its centre 35–60% of the object's size away), <b>low contrast</b> (colours pulled
/// to 20–35% of their distance from the background under it). Pixel noise, brightness and contrast vary per image.
/// </para>
/// <para>
/// <b>Boxes</b> are exact: the tight box of the pixels whose centre lies inside the object's shape (its alpha
/// ≥ ½), clipped to the image, in the (x1, y1, x2, y2) convention of <see cref="DetectionBatch"/>; an occluded
/// object's box is its whole shape's (amodal). <see cref="Target"/> and <see cref="Objects"/> compute them from
/// the scene's geometry without rendering pixels.
/// </para>
/// </summary>
[DistillDataset(Task = "detection")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, size, size")]
[BatchField("image_size", TensorKind.Any, "N, 2")]
[BatchField("boxes", TensorKind.Boxes, "N, *, 4")]
[BatchField("labels", TensorKind.Labels, "N, *", Classes = "classes")]
[BatchField("crowd", TensorKind.Mask, "N, *")]
[BatchField("hard", TensorKind.Mask, "N, *")]
[BatchField("image_id", TensorKind.Any, "N")]
public sealed class SyntheticDetection : DetectionDataset
{
    /// <summary>Why an instance is hard.</summary>
    public enum HardKind { None, Tiny, Blurred, Occluded, LowContrast }

    /// <summary>One labelled object of a scene, with what made it (its box is <see cref="Box"/>).</summary>
    public sealed record SyntheticObject(DetectionObject Box, int Subtype, HardKind Hard, double Size, double Visible)
    {
        /// <summary>The label, 1 .. classes.</summary>
        public int Label => Box.Label;
    }

    internal enum ShapeKind { Ellipse, Rectangle, Triangle, Diamond, Cross, Ring, Hexagon, Star, Crescent, LShape, Bar, HalfDisc }

    internal enum PatternKind { Solid, Stripes, TwoTone, Checker, Dots, Concentric, Speckle, Radial }

    private const int ClassShapes = 8;
    private const double EmptyImages = 0.03;
    private const double MaxOverlap = 0.2;

    private static readonly string[] ShapeNames = ["ellipse", "rectangle", "triangle", "diamond", "cross", "ring", "hexagon", "star"];
    private static readonly ulong TaskStream = Seeds.Name("detection-task");
    private static readonly ulong NoiseStream = Seeds.Name("pixel-noise");

    private readonly int _classes, _samples, _size, _maxObjects, _subtypes, _distractors, _minObject, _maxObject;
    private readonly ulong _seed, _splitKey;
    private readonly double _hardFraction, _clutter;
    private readonly ClassSpec[] _task;
    private readonly ShapeKind[] _distractorShapes;
    private readonly string[] _names;

    [ThreadStatic] private static float[]? t_buffer;

    /// <summary>Threads that render one batch (scenes are independent, so the result is the same for any value):
    /// half the cores; 1 (serial) on machines of 2 cores or fewer.</summary>
    public static int Parallelism { get; set; } = Environment.ProcessorCount > 2 ? Environment.ProcessorCount / 2 : 1;

    /// <param name="classes">Object classes, 1..16 (labels 1 .. classes).</param>
    /// <param name="samples">Images in this split.</param>
    /// <param name="size">Image height and width in pixels.</param>
    /// <param name="seed">Chooses the task (shared by every split of the seed) and the scenes.</param>
    /// <param name="split">"train", "val", "test" or any name: a disjoint stream of scenes of the same task.</param>
    /// <param name="hard_fraction">Probability that an object is a hard instance (tiny, blurred, occluded or low contrast).</param>
    /// <param name="max_objects">Objects per image are drawn uniformly from 1..max_objects (3% of the images have none).</param>
    /// <param name="subtypes">Looks per class (pattern, aspect, tilt, palette).</param>
    /// <param name="distractors">Distractors per image are drawn uniformly from 0..distractors.</param>
    /// <param name="min_object">Smallest object size in pixels (tiny hard instances are min_object..1.5·min_object).</param>
    /// <param name="max_object">Largest object size in pixels.</param>
    /// <param name="clutter">Scales the background's blobs, stripes and noise (0: flat gradient; 1: default; at most 3).</param>
    public SyntheticDetection([HyperParameter(Min = 1, Max = 16)] int classes = 6, [HyperParameter(Min = 1)] int samples = 2000,
        [HyperParameter(Min = 32)] int size = 128, int seed = 0, string split = "train",
        [HyperParameter(Min = 0, Max = 1)] double hard_fraction = 0.25, [HyperParameter(Min = 1, Max = 64)] int max_objects = 6,
        [HyperParameter(Min = 1, Max = 16)] int subtypes = 3, [HyperParameter(Min = 0, Max = 32)] int distractors = 3,
        [HyperParameter(Min = 4)] int min_object = 8, [HyperParameter(Min = 8)] int max_object = 64,
        [HyperParameter(Min = 0, Max = 3)] double clutter = 1.0)
    {
        if (classes is < 1 or > 16) throw new ArgumentOutOfRangeException(nameof(classes), classes, "SyntheticDetection has 1..16 classes");
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), samples, "samples must be at least 1");
        if (size < 32) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be at least 32 pixels");
        if (!(hard_fraction >= 0 && hard_fraction <= 1)) throw new ArgumentOutOfRangeException(nameof(hard_fraction), hard_fraction, "hard_fraction must be in [0, 1]");
        if (max_objects is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(max_objects), max_objects, "max_objects must be in 1..64");
        if (subtypes is < 1 or > 16) throw new ArgumentOutOfRangeException(nameof(subtypes), subtypes, "subtypes must be in 1..16");
        if (distractors is < 0 or > 32) throw new ArgumentOutOfRangeException(nameof(distractors), distractors, "distractors must be in 0..32");
        if (min_object < 4) throw new ArgumentOutOfRangeException(nameof(min_object), min_object, "min_object must be at least 4 pixels");
        if (max_object < 2 * min_object || max_object > size)
            throw new ArgumentOutOfRangeException(nameof(max_object), max_object, $"max_object must be in 2·min_object .. size ({2 * min_object}..{size})");
        if (!(clutter >= 0 && clutter <= 3)) throw new ArgumentOutOfRangeException(nameof(clutter), clutter, "clutter must be in [0, 3]");
        if (string.IsNullOrWhiteSpace(split)) throw new ArgumentException("split must be a name such as \"train\" or \"val\"", nameof(split));
        (_classes, _samples, _size, _maxObjects, _subtypes, _distractors, _minObject, _maxObject) =
            (classes, samples, size, max_objects, subtypes, distractors, min_object, max_object);
        (_hardFraction, _clutter) = (hard_fraction, clutter);
        Seed = seed;
        Split = split;
        _seed = unchecked((ulong)(long)seed);
        _splitKey = Seeds.Name(split);
        _task = BuildTask();
        _distractorShapes = Enumerable.Range(Math.Min(classes, ClassShapes), Math.Max(0, ClassShapes - classes)).Select(s => (ShapeKind)s)
            .Concat([ShapeKind.Crescent, ShapeKind.LShape, ShapeKind.Bar, ShapeKind.HalfDisc]).ToArray();
        _names = Enumerable.Range(0, classes).Select(c => c < ClassShapes ? ShapeNames[c] : ShapeNames[c % ClassShapes] + "-patterned").ToArray();
    }

    public override int Count => _samples;
    public override int Classes => _classes;

    /// <summary>"ellipse", "rectangle", "triangle", "diamond", "cross", "ring", "hexagon", "star", then "ellipse-patterned", ...</summary>
    public override IReadOnlyList<string> ClassNames => _names;

    /// <summary>The images' height and width in pixels.</summary>
    public int ImageSize => _size;

    public override int? UniformImageSide => _size;

    public override bool MarksHardInstances => _hardFraction > 0;

    public int Seed { get; }
    public string Split { get; }
    public double HardFraction => _hardFraction;
    public int MaxObjects => _maxObjects;
    public int Subtypes => _subtypes;
    public int Distractors => _distractors;
    public int MinObject => _minObject;
    public int MaxObject => _maxObject;
    public double Clutter => _clutter;

    protected override int LoadParallelism => Parallelism;

    /// <summary>Image <paramref name="index"/>'s objects with their sub-type, hard kind, size and visible share (no pixels rendered).</summary>
    public IReadOnlyList<SyntheticObject> Objects(int index)
    {
        CheckIndex(index);
        return Describe(BuildScene(index));
    }

    public override DetectionTarget Target(int index) =>
        new(index, _size, _size, Objects(index).Select(o => o.Box).ToArray());

    protected override (byte[] Pixels, DetectionTarget Target) Load(int index)
    {
        var scene = BuildScene(index);
        var pixels = new byte[3 * _size * _size];
        Render(index, scene, pixels);
        return (pixels, new DetectionTarget(index, _size, _size, Describe(scene).Select(o => o.Box).ToArray()));
    }

    /// <summary>Image <paramref name="index"/>'s pixels, 3 × size × size, into <paramref name="destination"/>.</summary>
    public void Render(int index, Span<byte> destination)
    {
        CheckIndex(index);
        if (destination.Length < 3 * _size * _size) throw new ArgumentException($"the destination needs {3 * _size * _size} bytes", nameof(destination));
        Render(index, BuildScene(index), destination);
    }

    // ---- the task ----------------------------------------------------------------------------------

    private sealed record Look(PatternKind Pattern, double Aspect, double Angle, float[] ColourA, float[] ColourB, double Frequency, double PatternAngle);

    private sealed record ClassSpec(ShapeKind Shape, Look[] Looks);

    private ClassSpec[] BuildTask()
    {
        var rng = new Rng(Seeds.Combine(_seed, TaskStream, (ulong)_classes, (ulong)_subtypes));
        // Base hues spread evenly round the wheel, in a seeded order (so neighbouring shapes need not have neighbouring hues).
        var order = Enumerable.Range(0, _classes).ToArray();
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var offset = rng.Uniform(0, 360);
        var task = new ClassSpec[_classes];
        for (var c = 0; c < _classes; c++)
        {
            var shape = (ShapeKind)(c % ClassShapes);
            PatternKind[] patterns = c < ClassShapes
                ? [PatternKind.Solid, PatternKind.Stripes, PatternKind.TwoTone]
                : [PatternKind.Checker, PatternKind.Dots, PatternKind.Concentric];
            var hue = offset + 360.0 * order[c] / _classes;
            var (lowAspect, highAspect) = shape switch
            {
                ShapeKind.Rectangle => (0.5, 2.0),
                ShapeKind.Diamond => (0.6, 1.6),
                _ => (0.7, 1.4),
            };
            var looks = new Look[_subtypes];
            for (var j = 0; j < _subtypes; j++)
            {
                var aspect = Math.Exp(rng.Uniform(Math.Log(lowAspect), Math.Log(highAspect)));
                var angle = rng.Uniform(-0.25, 0.25) + (shape == ShapeKind.Triangle && rng.Chance(0.5) ? Math.PI : 0);
                var hueA = hue + rng.Uniform(-40, 40);
                var a = Hsv(hueA, rng.Uniform(0.55, 0.95), rng.Uniform(0.55, 0.95));
                // The second colour: a darker or lighter tone of a nearby or opposite hue.
                var hueB = hueA + (rng.Chance(0.5) ? 180 : rng.Uniform(-30, 30));
                var b = Hsv(hueB, rng.Uniform(0.3, 0.9), rng.Chance(0.5) ? rng.Uniform(0.15, 0.4) : rng.Uniform(0.85, 1.0));
                looks[j] = new Look(patterns[(j + c) % patterns.Length], aspect, angle, a, b, rng.Uniform(2.0, 3.5), rng.Uniform(0, Math.PI));
            }
            task[c] = new ClassSpec(shape, looks);
        }
        return task;
    }

    // ---- a scene -------------------------------------------------------------------------------------

    /// <summary>A drawn shape: a labelled object (Label ≥ 1) or a distractor (Label 0), in draw order.</summary>
    private sealed class Item
    {
        public ShapeKind Shape;
        public PatternKind Pattern;
        public double Cx, Cy, A, B, Angle, Softness, Frequency, PatternAngle, PatternStrength = 1, Contrast = 1, Size;
        public float[] ColourA = [], ColourB = [];
        public int Label, Subtype;
        public HardKind Hard;
        public ulong SpeckleSeed;
    }

    private sealed class Background
    {
        public float[] From = [], To = [];
        public double GradientAngle;
        public (double X, double Y, double Sigma, float[] Colour)[] Blobs = [];
        public (double Kx, double Ky, double Phase, float[] Colour)? Stripes;
        public float Noise, Contrast, Brightness;
    }

    private sealed record Scene(Background Background, List<Item> Items);

    private Scene BuildScene(int index)
    {
        var rng = new Rng(Seeds.Combine(_seed, _splitKey, (ulong)index));
        var s = (double)_size;
        var k = _clutter;
        var bg = new Background
        {
            From = Hsv(rng.Uniform(0, 360), rng.Uniform(0, 0.45), rng.Uniform(0.3, 0.8)),
            To = Hsv(rng.Uniform(0, 360), rng.Uniform(0, 0.45), rng.Uniform(0.3, 0.8)),
            GradientAngle = rng.Uniform(0, 2 * Math.PI),
        };
        var blobs = 2 + rng.NextInt(4);
        bg.Blobs = new (double, double, double, float[])[blobs];
        for (var i = 0; i < blobs; i++)
            bg.Blobs[i] = (rng.Uniform(0, s), rng.Uniform(0, s), rng.Uniform(0.08, 0.3) * s, Offset(ref rng, 0.2 * k));
        if (rng.Chance(0.5))
        {
            var kk = 2 * Math.PI / rng.Uniform(5, 20);
            var angle = rng.Uniform(0, Math.PI);
            bg.Stripes = (kk * Math.Cos(angle), kk * Math.Sin(angle), rng.Uniform(0, 2 * Math.PI), Offset(ref rng, rng.Uniform(0.03, 0.1) * k));
        }
        bg.Noise = (float)(rng.Uniform(0.015, 0.05) * k);
        bg.Contrast = (float)rng.Uniform(0.85, 1.15);
        bg.Brightness = (float)rng.Uniform(-0.05, 0.05);

        var items = new List<Item>();
        var distractorCount = rng.NextInt(_distractors + 1);
        for (var i = 0; i < distractorCount; i++)
        {
            var d = NewDistractor(ref rng, LogUniform(ref rng, _minObject, _maxObject));
            d.Cx = rng.Uniform(0, s);
            d.Cy = rng.Uniform(0, s);
            items.Add(d);
        }

        var count = rng.Chance(EmptyImages) ? 0 : 1 + rng.NextInt(_maxObjects);
        var placed = new List<Item>();
        for (var i = 0; i < count; i++)
        {
            var hard = rng.Chance(_hardFraction) ? (HardKind)(1 + rng.NextInt(4)) : HardKind.None;
            var size = hard == HardKind.Tiny ? LogUniform(ref rng, _minObject, 1.5 * _minObject) : LogUniform(ref rng, 1.5 * _minObject, _maxObject);
            var item = NewObject(ref rng, 1 + rng.NextInt(_classes), size, hard);
            if (!Place(ref rng, item, placed, 30)) continue;
            items.Add(item);
            placed.Add(item);
            if (hard != HardKind.Occluded) continue;

            // The occluder: 70-110% of the object's size, its centre 35-60% of the object's size away, in a random direction.
            var occluderSize = item.Size * rng.Uniform(0.7, 1.1);
            var direction = rng.Uniform(0, 2 * Math.PI);
            var distance = item.Size * rng.Uniform(0.35, 0.6);
            var byObject = rng.Chance(0.35);
            var occluder = byObject
                ? NewObject(ref rng, 1 + rng.NextInt(_classes), Math.Max(occluderSize, 1.5 * _minObject), HardKind.None)
                : NewDistractor(ref rng, occluderSize);
            occluder.Cx = item.Cx + distance * Math.Cos(direction);
            occluder.Cy = item.Cy + distance * Math.Sin(direction);
            if (byObject && (!Inside(occluder) || placed.Any(p => p != item && Overlap(p, occluder) > MaxOverlap)))
            {
                // No room for a labelled occluder: a distractor occludes instead.
                var (cx, cy) = (occluder.Cx, occluder.Cy);
                occluder = NewDistractor(ref rng, occluderSize);
                (occluder.Cx, occluder.Cy) = (cx, cy);
                byObject = false;
            }
            items.Add(occluder);
            if (byObject) placed.Add(occluder);
        }
        return new Scene(bg, items);
    }

    private Item NewObject(ref Rng rng, int label, double size, HardKind hard)
    {
        var spec = _task[label - 1];
        var subtype = rng.NextInt(_subtypes);
        var look = spec.Looks[subtype];
        var aspect = look.Aspect * Math.Exp(rng.Uniform(-0.12, 0.12));
        var item = new Item
        {
            Shape = spec.Shape, Pattern = look.Pattern, Label = label, Subtype = subtype, Hard = hard, Size = size,
            A = size * Math.Sqrt(aspect) / 2, B = size / Math.Sqrt(aspect) / 2,
            Angle = look.Angle + rng.Uniform(-0.1, 0.1),
            Softness = rng.Uniform(0.6, 1.0),
            Frequency = look.Frequency, PatternAngle = look.PatternAngle + rng.Uniform(-0.2, 0.2),
            ColourA = Jitter(ref rng, look.ColourA), ColourB = Jitter(ref rng, look.ColourB),
            SpeckleSeed = rng.Next(),
        };
        // Draw every number of the hard kinds, so the stream does not depend on which one applies.
        var blur = rng.Uniform(0.12, 0.25) * size;
        var contrast = rng.Uniform(0.2, 0.35);
        if (hard == HardKind.Blurred) (item.Softness, item.PatternStrength) = (Math.Max(item.Softness, blur), 0.4);
        if (hard == HardKind.LowContrast) item.Contrast = contrast;
        return item;
    }

    private Item NewDistractor(ref Rng rng, double size)
    {
        var item = new Item { Size = size, Softness = rng.Uniform(0.6, 1.5), SpeckleSeed = rng.Next(), Frequency = rng.Uniform(2, 4), PatternAngle = rng.Uniform(0, Math.PI) };
        double aspect;
        if (rng.Chance(0.55))
        {
            item.Shape = _distractorShapes[rng.NextInt(_distractorShapes.Length)];
            item.Pattern = (PatternKind)rng.NextInt(8);
            aspect = item.Shape == ShapeKind.Bar ? rng.Uniform(4, 7) : Math.Exp(rng.Uniform(-0.5, 0.5));
        }
        else
        {
            // A class's shape in a pattern no class uses.
            item.Shape = _task[rng.NextInt(_classes)].Shape;
            item.Pattern = rng.Chance(0.5) ? PatternKind.Speckle : PatternKind.Radial;
            aspect = Math.Exp(rng.Uniform(-0.4, 0.4));
        }
        item.A = size * Math.Sqrt(aspect) / 2;
        item.B = size / Math.Sqrt(aspect) / 2;
        item.Angle = rng.Uniform(0, 2 * Math.PI);
        item.ColourA = Hsv(rng.Uniform(0, 360), rng.Uniform(0.3, 0.95), rng.Uniform(0.3, 0.95));
        item.ColourB = Hsv(rng.Uniform(0, 360), rng.Uniform(0.3, 0.95), rng.Uniform(0.15, 1.0));
        return item;
    }

    /// <summary>Tries random centres for which at least ~70% of the object's width and height lie inside the image and it shares
    /// at most <see cref="MaxOverlap"/> of the smaller box with every placed object.</summary>
    private bool Place(ref Rng rng, Item item, List<Item> placed, int tries)
    {
        var (w, h) = Extent(item);
        for (var t = 0; t < tries; t++)
        {
            item.Cx = rng.Uniform(0.2 * w, _size - 0.2 * w);
            item.Cy = rng.Uniform(0.2 * h, _size - 0.2 * h);
            if (placed.All(p => Overlap(p, item) <= MaxOverlap)) return true;
        }
        return false;
    }

    private bool Inside(Item item)
    {
        var (w, h) = Extent(item);
        return item.Cx >= 0.2 * w && item.Cx <= _size - 0.2 * w && item.Cy >= 0.2 * h && item.Cy <= _size - 0.2 * h;
    }

    /// <summary>The full width and height of the item's rotated bounding rectangle (of its A × B frame).</summary>
    private static (double W, double H) Extent(Item item)
    {
        var (sin, cos) = Math.SinCos(item.Angle);
        return (2 * (Math.Abs(item.A * cos) + Math.Abs(item.B * sin)), 2 * (Math.Abs(item.A * sin) + Math.Abs(item.B * cos)));
    }

    /// <summary>Intersection of two items' frames over the smaller frame's area.</summary>
    private static double Overlap(Item p, Item q)
    {
        var (pw, ph) = Extent(p);
        var (qw, qh) = Extent(q);
        var ix = Math.Min(p.Cx + pw / 2, q.Cx + qw / 2) - Math.Max(p.Cx - pw / 2, q.Cx - qw / 2);
        var iy = Math.Min(p.Cy + ph / 2, q.Cy + qh / 2) - Math.Max(p.Cy - ph / 2, q.Cy - qh / 2);
        if (ix <= 0 || iy <= 0) return 0;
        return ix * iy / Math.Min(pw * ph, qw * qh);
    }

    // ---- geometry ------------------------------------------------------------------------------------

    /// <summary>The pixel rectangle that can hold any of the item's (soft) pixels, clipped to the image; empty when x0 &gt; x1.</summary>
    private (int X0, int Y0, int X1, int Y1) Reach(Item item)
    {
        var r = Math.Sqrt(item.A * item.A + item.B * item.B) + item.Softness + 1;
        return (Math.Max(0, (int)Math.Floor(item.Cx - r)), Math.Max(0, (int)Math.Floor(item.Cy - r)),
            Math.Min(_size - 1, (int)Math.Ceiling(item.Cx + r)), Math.Min(_size - 1, (int)Math.Ceiling(item.Cy + r)));
    }

    /// <summary>A frame for evaluating an item's shape at pixel centres: (u, v) in the item's rotated axes, in pixels.</summary>
    private readonly struct Frame(Item item)
    {
        private readonly double _cx = item.Cx, _cy = item.Cy;
        private readonly double _cos = Math.Cos(item.Angle), _sin = Math.Sin(item.Angle);
        private readonly double _invA = 1 / item.A, _invB = 1 / item.B, _scale = Math.Min(item.A, item.B), _a = item.A, _b = item.B;
        private readonly ShapeKind _shape = item.Shape;

        /// <summary>Signed distance (approximately, in pixels; negative inside) of pixel (x, y)'s centre, and its normalised coordinates.</summary>
        public double Distance(int x, int y, out double nu, out double nv)
        {
            var dx = x + 0.5 - _cx;
            var dy = y + 0.5 - _cy;
            var u = dx * _cos + dy * _sin;
            var v = -dx * _sin + dy * _cos;
            nu = u * _invA;
            nv = v * _invB;
            switch (_shape)
            {
                case ShapeKind.Rectangle:
                case ShapeKind.Bar:
                    return Math.Max(Math.Abs(u) - _a, Math.Abs(v) - _b);
                default:
                    return Normalised(_shape, nu, nv) * _scale;
            }
        }

        private static double Normalised(ShapeKind shape, double nu, double nv)
        {
            var au = Math.Abs(nu);
            var av = Math.Abs(nv);
            switch (shape)
            {
                case ShapeKind.Ellipse:
                    return Math.Sqrt(nu * nu + nv * nv) - 1;
                case ShapeKind.Triangle:
                    return Math.Max(nv - 1, (2 * au - nv - 1) / 2.2360679774997896);
                case ShapeKind.Diamond:
                    return (au + av - 1) / 1.4142135623730951;
                case ShapeKind.Cross:
                    return Math.Min(Math.Max(au - 1, av - 0.36), Math.Max(au - 0.36, av - 1));
                case ShapeKind.Ring:
                    return Math.Abs(Math.Sqrt(nu * nu + nv * nv) - 0.7) - 0.3;
                case ShapeKind.Hexagon:
                    return Math.Max(av - 1, (au + 0.5 * av - 1) / 1.118033988749895);
                case ShapeKind.Star:
                {
                    var r = Math.Sqrt(nu * nu + nv * nv);
                    var theta = Math.Atan2(nv, nu) + Math.PI / 2;
                    var c = Math.Abs(Math.Cos(2.5 * theta));
                    return r - (0.45 + 0.55 * c * c * c);
                }
                case ShapeKind.Crescent:
                    return Math.Max(Math.Sqrt(nu * nu + nv * nv) - 1, 0.8 - Math.Sqrt((nu - 0.45) * (nu - 0.45) + nv * nv));
                case ShapeKind.LShape:
                    return Math.Min(Math.Max(au - 1, Math.Abs(nv - 0.65) - 0.35), Math.Max(Math.Abs(nu + 0.65) - 0.35, av - 1));
                case ShapeKind.HalfDisc:
                    return Math.Max(Math.Sqrt(nu * nu + nv * nv) - 1, nv);
                default:
                    return Math.Max(au, av) - 1;
            }
        }
    }

    /// <summary>The labelled objects of a scene: exact boxes from the shapes' pixel masks, and how much of each later shapes leave visible.</summary>
    private List<SyntheticObject> Describe(Scene scene)
    {
        var items = scene.Items;
        var result = new List<SyntheticObject>();
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            if (item.Label == 0) continue;
            var frame = new Frame(item);
            var (x0, y0, x1, y1) = Reach(item);
            int minX = int.MaxValue, minY = int.MaxValue, maxX = -1, maxY = -1, inside = 0, visible = 0;
            var later = new List<(Frame Frame, (int X0, int Y0, int X1, int Y1) Reach)>();
            for (var j = i + 1; j < items.Count; j++) later.Add((new Frame(items[j]), Reach(items[j])));
            for (var y = y0; y <= y1; y++)
                for (var x = x0; x <= x1; x++)
                {
                    if (frame.Distance(x, y, out _, out _) > 0) continue;
                    inside++;
                    (minX, minY, maxX, maxY) = (Math.Min(minX, x), Math.Min(minY, y), Math.Max(maxX, x), Math.Max(maxY, y));
                    var covered = false;
                    foreach (var (f, r) in later)
                        if (x >= r.X0 && x <= r.X1 && y >= r.Y0 && y <= r.Y1 && f.Distance(x, y, out _, out _) <= 0) { covered = true; break; }
                    if (!covered) visible++;
                }
            if (inside == 0) continue; // cannot happen for a placed object; never label an invisible one
            var box = new DetectionObject(minX, minY, maxX + 1, maxY + 1, item.Label, Crowd: false, Hard: item.Hard != HardKind.None);
            result.Add(new SyntheticObject(box, item.Subtype, item.Hard, Math.Sqrt(box.Area), (double)visible / inside));
        }
        return result;
    }

    // ---- rendering -----------------------------------------------------------------------------------

    private void Render(int index, Scene scene, Span<byte> destination)
    {
        var n = _size;
        var plane = n * n;
        var buffer = t_buffer is { } b && b.Length >= 3 * plane ? b : t_buffer = new float[3 * plane];
        var v = buffer.AsSpan(0, 3 * plane);
        DrawBackground(v, scene.Background);

        // Low-contrast objects take the background under their centre as the colour they fade into.
        foreach (var item in scene.Items)
            if (item.Contrast < 1)
            {
                var (x, y) = (Math.Clamp((int)item.Cx, 0, n - 1), Math.Clamp((int)item.Cy, 0, n - 1));
                var under = new float[3];
                for (var c = 0; c < 3; c++) under[c] = v[c * plane + y * n + x];
                var k = (float)item.Contrast;
                item.ColourA = item.ColourA.Select((a, c) => under[c] + (a - under[c]) * k).ToArray();
                item.ColourB = item.ColourB.Select((a, c) => under[c] + (a - under[c]) * k).ToArray();
            }
        foreach (var item in scene.Items) Draw(v, item);

        var bg = scene.Background;
        var rng = new Rng(Seeds.Combine(_seed, _splitKey, (ulong)index, NoiseStream));
        for (var c = 0; c < 3; c++)
        {
            var channel = v.Slice(c * plane, plane);
            var output = destination.Slice(c * plane, plane);
            for (var i = 0; i < plane; i++)
            {
                var x = (channel[i] - 0.5f) * bg.Contrast + 0.5f + bg.Brightness + bg.Noise * rng.FastGaussian();
                var q = MathF.Round(x * 255f);
                output[i] = (byte)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    }

    private void DrawBackground(Span<float> v, Background bg)
    {
        var n = _size;
        var plane = n * n;
        var half = (n - 1) / 2.0;
        var (gs, gc) = Math.SinCos(bg.GradientAngle);
        Span<float> gx = stackalloc float[n], gy = stackalloc float[n];
        for (var i = 0; i < n; i++)
        {
            gx[i] = (float)(0.5 * gc * (i - half) / half);
            gy[i] = (float)(0.5 * gs * (i - half) / half);
        }
        for (var c = 0; c < 3; c++)
        {
            var (from, delta) = (bg.From[c], bg.To[c] - bg.From[c]);
            var p = v.Slice(c * plane, plane);
            for (var y = 0; y < n; y++)
            {
                var row = p.Slice(y * n, n);
                for (var x = 0; x < n; x++) row[x] = from + delta * (0.5f + gx[x] + gy[y]);
            }
        }
        Span<float> ex = stackalloc float[n], ey = stackalloc float[n];
        foreach (var (bx, by, sigma, colour) in bg.Blobs)
        {
            var inv = 1 / (2 * sigma * sigma);
            for (var i = 0; i < n; i++)
            {
                ex[i] = (float)Math.Exp(-(i + 0.5 - bx) * (i + 0.5 - bx) * inv);
                ey[i] = (float)Math.Exp(-(i + 0.5 - by) * (i + 0.5 - by) * inv);
            }
            for (var c = 0; c < 3; c++)
            {
                var p = v.Slice(c * plane, plane);
                for (var y = 0; y < n; y++)
                {
                    var a = colour[c] * ey[y];
                    if (MathF.Abs(a) < 1e-4f) continue;
                    var row = p.Slice(y * n, n);
                    for (var x = 0; x < n; x++) row[x] += a * ex[x];
                }
            }
        }
        if (bg.Stripes is var (kx, ky, phase, stripeColour))
        {
            Span<float> cx = stackalloc float[n], sx = stackalloc float[n], cy = stackalloc float[n], sy = stackalloc float[n];
            for (var i = 0; i < n; i++)
            {
                (sx[i], cx[i]) = ((float)Math.Sin(kx * i), (float)Math.Cos(kx * i));
                (sy[i], cy[i]) = ((float)Math.Sin(ky * i + phase), (float)Math.Cos(ky * i + phase));
            }
            for (var c = 0; c < 3; c++)
            {
                var p = v.Slice(c * plane, plane);
                for (var y = 0; y < n; y++)
                {
                    var row = p.Slice(y * n, n);
                    var (a, bb) = (stripeColour[c] * cy[y], stripeColour[c] * sy[y]);
                    for (var x = 0; x < n; x++) row[x] += cx[x] * a - sx[x] * bb; // cos(kx x + ky y + phase)
                }
            }
        }
    }

    private void Draw(Span<float> v, Item item)
    {
        var n = _size;
        var plane = n * n;
        var frame = new Frame(item);
        var (x0, y0, x1, y1) = Reach(item);
        var soft = item.Softness;
        var (ps, pc) = Math.SinCos(item.PatternAngle);
        var f = item.Frequency;
        var strength = item.PatternStrength;
        var (a0, a1, a2) = (item.ColourA[0], item.ColourA[1], item.ColourA[2]);
        var (d0, d1, d2) = (item.ColourB[0] - a0, item.ColourB[1] - a1, item.ColourB[2] - a2);
        for (var y = y0; y <= y1; y++)
            for (var x = x0; x <= x1; x++)
            {
                var sd = frame.Distance(x, y, out var nu, out var nv);
                var alpha = 0.5 - sd / soft;
                if (alpha <= 0) continue;
                if (alpha > 1) alpha = 1;
                double t;
                switch (item.Pattern)
                {
                    case PatternKind.Stripes:
                        t = Step(3 * Math.Sin(Math.PI * f * (nu * pc + nv * ps)));
                        break;
                    case PatternKind.TwoTone:
                        t = Step(6 * (nu * pc + nv * ps));
                        break;
                    case PatternKind.Checker:
                        t = Step(3 * Math.Sin(Math.PI * f * nu) * Math.Sin(Math.PI * f * nv));
                        break;
                    case PatternKind.Dots:
                    {
                        var du = nu * f * 0.5 + 100.5;
                        var dv = nv * f * 0.5 + 100.5;
                        du -= Math.Floor(du) + 0.5;
                        dv -= Math.Floor(dv) + 0.5;
                        t = Step(8 * (0.28 - Math.Sqrt(du * du + dv * dv)));
                        break;
                    }
                    case PatternKind.Concentric:
                        t = Step(3 * Math.Sin(Math.PI * f * Math.Sqrt(nu * nu + nv * nv)));
                        break;
                    case PatternKind.Speckle:
                        t = (Seeds.Combine(item.SpeckleSeed, (ulong)(y * n + x)) >> 40) * (1.0 / (1 << 24));
                        break;
                    case PatternKind.Radial:
                        t = Math.Min(1, Math.Sqrt(nu * nu + nv * nv));
                        break;
                    default: // solid, lightly shaded
                        t = 0.12 * (nv + 1);
                        break;
                }
                t = 0.5 + (t - 0.5) * strength;
                var al = (float)alpha;
                var tf = (float)t;
                var k = y * n + x;
                v[k] += (a0 + d0 * tf - v[k]) * al;
                v[plane + k] += (a1 + d1 * tf - v[plane + k]) * al;
                v[2 * plane + k] += (a2 + d2 * tf - v[2 * plane + k]) * al;
            }
    }

    private static double Step(double x) => x <= -0.5 ? 0 : x >= 0.5 ? 1 : x + 0.5;

    // ---- helpers -------------------------------------------------------------------------------------

    internal static double LogUniform(ref Rng rng, double low, double high) => Math.Exp(rng.Uniform(Math.Log(low), Math.Log(high)));

    private static float[] Offset(ref Rng rng, double amplitude) =>
        [(float)rng.Uniform(-amplitude, amplitude), (float)rng.Uniform(-amplitude, amplitude), (float)rng.Uniform(-amplitude, amplitude)];

    private static float[] Jitter(ref Rng rng, float[] colour)
    {
        var shift = rng.Uniform(-0.06, 0.06);
        return [Clamp01(colour[0] + shift + rng.Uniform(-0.03, 0.03)), Clamp01(colour[1] + shift + rng.Uniform(-0.03, 0.03)),
            Clamp01(colour[2] + shift + rng.Uniform(-0.03, 0.03))];
    }

    private static float Clamp01(double x) => (float)Math.Clamp(x, 0, 1);

    /// <summary>HSV (hue in degrees, saturation and value in [0, 1]) to RGB in [0, 1].</summary>
    internal static float[] Hsv(double hue, double saturation, double value)
    {
        hue = ((hue % 360) + 360) % 360 / 60;
        var sector = (int)Math.Floor(hue) % 6;
        var frac = hue - Math.Floor(hue);
        var p = value * (1 - saturation);
        var q = value * (1 - saturation * frac);
        var t = value * (1 - saturation * (1 - frac));
        var (r, g, b) = sector switch
        {
            0 => (value, t, p),
            1 => (q, value, p),
            2 => (p, value, t),
            3 => (p, q, value),
            4 => (t, p, value),
            _ => (value, p, q),
        };
        return [(float)r, (float)g, (float)b];
    }
}
