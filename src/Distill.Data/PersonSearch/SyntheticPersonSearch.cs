using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// A deterministic, seeded person-search task (detection of one class, "person", plus re-identification), generated
/// lazily per index: the stand-in for CUHK-SYSU / PRW where no such data can be downloaded.
/// <para>
/// <b>Identities.</b> A person is a vector of traits — skin tone, hair colour and style (short, long, cap), shirt colour,
/// second colour and pattern (plain, stripes, two-tone, checker, band), sleeves, trouser colour, shorts, shoe colour, bag
/// (none, backpack, shoulder bag) with its colour and side, and body proportions (shoulder width, head size, leg length) —
/// drawn as a cartoon pedestrian of anti-aliased ellipses, rounded boxes and capsules. Identities come in look-alike
/// families of <c>family_size</c>: a family draws every trait, each member changes one or two subtle ones (the shirt's
/// pattern, a shade, the bag, the sleeves, the shoes …), and no two members are equal, so re-identification needs fine
/// detail. Identity j's traits are a function of (<c>seed</c>, <c>split</c>, j): every split has its own people (a
/// disjoint stream, as SyntheticFaces' evaluation splits).
/// </para>
/// <para>
/// <b>A scene</b> (a function of seed, split and index, and of the split's identity plan): a street — sky, building blocks
/// with window grids, a ground plane with a kerb, paving lines, soft shadows, texture and pixel noise — with 1..<c>max_persons</c>
/// persons and 0..<c>distractors</c> person-sized non-persons (poles, signs, headless mannequins, bins, bollards), drawn far
/// to near. A person's height is log-uniform over [0.25, 0.83]·<c>height</c> (24–80 px at 96), its feet lower in the image
/// the taller it is (a rough perspective); each appearance varies in position, leg and arm spread, brightness (×0.8–1.15),
/// colour jitter (±0.03) and edge softness. A person is hard (<see cref="DetectionObject.Hard"/>) with probability
/// <c>hard_fraction</c>, of one of four kinds equally often: <b>small</b> (height in [0.17, 0.25)·height), <b>blurred</b>
/// (edges spread over 4–7% of its height), <b>occluded</b> (a barrier over its lower 35–60% or a panel over one side, in
/// front of it) and <b>low contrast</b> (colours pulled to 30–50% of their distance from the background under it).
/// </para>
/// <para>
/// <b>Boxes</b> are exact: the tight box of the pixels whose centre lies inside one of the person's shapes (bag included),
/// clipped to the image; an occluded person's box is its whole body's (amodal). <see cref="Target"/> and <see cref="Persons"/>
/// compute them from the geometry without rendering.
/// </para>
/// <para>
/// <b>Identity plan.</b> Each person is labelled with probability 1 − <c>unlabelled_fraction</c>; the labelled slots of
/// the split share the identities evenly (each identity appears ⌊S / identities⌋ or one more times, S the labelled slots;
/// where S &lt; 2·identities, identities get two appearances each in a seeded order until the slots run out), at most once
/// per image. Person ids are 0 .. identities − 1, −1 for unlabelled persons (strangers drawn afresh per appearance).
/// </para>
/// <para>
/// <b>Protocol.</b> In a split other than "train", <see cref="Queries"/> holds up to <c>queries</c> queries (−1: as many as
/// possible), one per identity, in identity order, for the identities that appear in at least two images: one of its
/// appearances (a seeded choice, not hard where one is not) and a gallery of <c>gallery_size</c> other images of the split —
/// every other image that shows the person (a seeded subset where there are more), with its box, then seeded images
/// without it (box null), in index order. Images are named <c>&lt;split&gt;-&lt;index:D6&gt;</c>; image ids are indices.
/// </para>
/// </summary>
[DistillDataset(Task = "detection")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, height, width")]
[BatchField("image_size", TensorKind.Any, "N, 2")]
[BatchField("boxes", TensorKind.Boxes, "N, *, 4")]
[BatchField("labels", TensorKind.Labels, "N, *", Classes = "1")]
[BatchField("crowd", TensorKind.Mask, "N, *")]
[BatchField("hard", TensorKind.Mask, "N, *")]
[BatchField("image_id", TensorKind.Any, "N")]
[BatchField("person_id", TensorKind.Labels, "N, *")]
public sealed class SyntheticPersonSearch : DetectionDataset, IPersonSearchData
{
    /// <summary>Why a person is hard.</summary>
    public enum HardKind { None, Small, Blurred, Occluded, LowContrast }

    public enum ShirtPattern { Plain, Stripes, TwoTone, Checker, Band }

    public enum HairStyle { Short, Long, Cap }

    public enum BagKind { None, Backpack, ShoulderBag }

    /// <summary>One person of a scene: its box (with <see cref="DetectionObject.PersonId"/>), why it is hard, and its height in pixels.</summary>
    public sealed record SyntheticPerson(DetectionObject Box, HardKind Hard, double Height)
    {
        public int PersonId => Box.PersonId;
    }

    /// <summary>The traits, in the order of <see cref="Traits"/>, with the numbers each takes (colours: r, g, b).</summary>
    public static IReadOnlyList<(string Name, int Width)> TraitNames { get; } =
    [
        ("skin", 3), ("hair colour", 3), ("hair style", 1), ("shirt colour", 3), ("shirt second colour", 3), ("shirt pattern", 1),
        ("long sleeves", 1), ("trouser colour", 3), ("shorts", 1), ("shoe colour", 3), ("bag", 1), ("bag colour", 3), ("bag side", 1),
        ("build", 1), ("head size", 1), ("leg length", 1),
    ];

    private const double MinPerson = 0.25, MaxPerson = 5.0 / 6, MinSmall = 0.17, MaxOverlap = 0.3;

    private static readonly ulong PeopleStream = Seeds.Name("person-search-people");
    private static readonly ulong FamilyStream = Seeds.Name("person-family");
    private static readonly ulong MemberStream = Seeds.Name("person-member");
    private static readonly ulong PlanStream = Seeds.Name("person-plan");
    private static readonly ulong AssignStream = Seeds.Name("person-assign");
    private static readonly ulong QueryStream = Seeds.Name("person-query");
    private static readonly ulong NoiseStream = Seeds.Name("pixel-noise");

    private readonly int _identities, _samples, _height, _width, _maxPersons, _familySize, _distractors, _gallerySize, _queries;
    private readonly double _unlabelled, _hardFraction;
    private readonly ulong _seed, _splitKey;
    private readonly Look[] _people;
    private readonly int[][] _slots;
    private readonly int[][] _appearances;
    private readonly Lazy<IReadOnlyList<PersonSearchQuery>> _protocol;

    [ThreadStatic] private static float[]? t_buffer;

    /// <summary>Threads that render one batch (scenes are independent, so the result is the same for any value):
    /// half the cores; 1 (serial) on machines of 2 cores or fewer.</summary>
    public static int Parallelism { get; set; } = Environment.ProcessorCount > 2 ? Environment.ProcessorCount / 2 : 1;

    /// <param name="identities">Labelled identities of this split (person ids 0 .. identities − 1).</param>
    /// <param name="samples">Images in this split.</param>
    /// <param name="height">Image height in pixels (at least 48).</param>
    /// <param name="width">Image width in pixels (at least height / 2).</param>
    /// <param name="seed">Chooses the people of every split and the scenes.</param>
    /// <param name="split">"train" (no queries) or an evaluation split ("val", "test", any name): each split has its own people.</param>
    /// <param name="max_persons">Persons per image are drawn uniformly from 1..max_persons.</param>
    /// <param name="unlabelled_fraction">Share of persons who are none of the split's identities (person id −1).</param>
    /// <param name="family_size">Identities per look-alike family (1: unrelated people).</param>
    /// <param name="distractors">Person-sized non-persons per image are drawn uniformly from 0..distractors.</param>
    /// <param name="hard_fraction">Probability that a person is hard (small, blurred, occluded or low contrast).</param>
    /// <param name="gallery_size">Images in each query's gallery (evaluation splits; at most samples − 1).</param>
    /// <param name="queries">Queries of an evaluation split, at most one per identity; −1: one per identity seen in two images or more.</param>
    public SyntheticPersonSearch([HyperParameter(Min = 1)] int identities = 200, [HyperParameter(Min = 1)] int samples = 1000,
        [HyperParameter(Min = 48)] int height = 96, [HyperParameter(Min = 24)] int width = 160, int seed = 0, string split = "train",
        [HyperParameter(Min = 1, Max = 32)] int max_persons = 5, [HyperParameter(Min = 0, Max = 1)] double unlabelled_fraction = 0.3,
        [HyperParameter(Min = 1, Max = 16)] int family_size = 4, [HyperParameter(Min = 0, Max = 16)] int distractors = 2,
        [HyperParameter(Min = 0, Max = 1)] double hard_fraction = 0.2, [HyperParameter(Min = 1)] int gallery_size = 50,
        [HyperParameter(Min = -1)] int queries = -1)
    {
        if (identities < 1) throw new ArgumentOutOfRangeException(nameof(identities), identities, "identities must be at least 1");
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), samples, "samples must be at least 1");
        if (height < 48) throw new ArgumentOutOfRangeException(nameof(height), height, "height must be at least 48 pixels");
        if (width < (height + 1) / 2) throw new ArgumentOutOfRangeException(nameof(width), width, $"width must be at least height / 2 ({(height + 1) / 2} pixels) to hold the tallest persons");
        if (string.IsNullOrWhiteSpace(split)) throw new ArgumentException("split must be a name such as \"train\" or \"val\"", nameof(split));
        if (max_persons is < 1 or > 32) throw new ArgumentOutOfRangeException(nameof(max_persons), max_persons, "max_persons must be in 1..32");
        if (!(unlabelled_fraction >= 0 && unlabelled_fraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(unlabelled_fraction), unlabelled_fraction, "unlabelled_fraction must be in [0, 1]");
        if (family_size is < 1 or > 16) throw new ArgumentOutOfRangeException(nameof(family_size), family_size, "family_size must be in 1..16");
        if (distractors is < 0 or > 16) throw new ArgumentOutOfRangeException(nameof(distractors), distractors, "distractors must be in 0..16");
        if (!(hard_fraction >= 0 && hard_fraction <= 1)) throw new ArgumentOutOfRangeException(nameof(hard_fraction), hard_fraction, "hard_fraction must be in [0, 1]");
        if (gallery_size < 1) throw new ArgumentOutOfRangeException(nameof(gallery_size), gallery_size, "gallery_size must be at least 1");
        if (split != "train" && gallery_size > samples - 1)
            throw new ArgumentOutOfRangeException(nameof(gallery_size), gallery_size, $"gallery_size must be at most samples − 1 = {samples - 1} (the gallery excludes the query's image)");
        if (queries < -1) throw new ArgumentOutOfRangeException(nameof(queries), queries, "queries must be −1 (one per identity) or at least 0");
        if (queries > identities) throw new ArgumentOutOfRangeException(nameof(queries), queries, $"queries must be at most identities = {identities} (one per identity)");
        (_identities, _samples, _height, _width, _maxPersons, _familySize, _distractors, _gallerySize) =
            (identities, samples, height, width, max_persons, family_size, distractors, gallery_size);
        _queries = queries < 0 ? identities : queries;
        (_unlabelled, _hardFraction) = (unlabelled_fraction, hard_fraction);
        Seed = seed;
        Split = split;
        _seed = unchecked((ulong)(long)seed);
        _splitKey = Seeds.Name(split);
        _people = DrawPeople();
        (_slots, _appearances) = Plan();
        _protocol = new Lazy<IReadOnlyList<PersonSearchQuery>>(BuildProtocol);
    }

    public override int Count => _samples;
    public override int Classes => 1;
    public override IReadOnlyList<string> ClassNames { get; } = ["person"];
    public override bool MarksHardInstances => _hardFraction > 0;
    protected override int LoadParallelism => Parallelism;

    public int Identities => _identities;
    public int ImageHeight => _height;
    public int ImageWidth => _width;
    public int Seed { get; }
    public string Split { get; }
    public int FamilySize => _familySize;
    public int MaxPersons => _maxPersons;
    public int Distractors => _distractors;
    public double UnlabelledFraction => _unlabelled;
    public double HardFraction => _hardFraction;
    public int GallerySize => _gallerySize;

    /// <summary>The look-alike family of identity <paramref name="identity"/>: identity / FamilySize.</summary>
    public int Family(int identity)
    {
        CheckIdentity(identity);
        return identity / _familySize;
    }

    /// <summary>Identity <paramref name="identity"/>'s traits as numbers, in the order of <see cref="TraitNames"/>.</summary>
    public double[] Traits(int identity)
    {
        CheckIdentity(identity);
        return _people[identity].Vector();
    }

    /// <summary>The names of the traits in which two identities of this split differ.</summary>
    public IReadOnlyList<string> DifferingTraits(int a, int b)
    {
        CheckIdentity(a);
        CheckIdentity(b);
        return Look.Differences(_people[a], _people[b]);
    }

    /// <summary>The images (ascending) in which identity <paramref name="identity"/> appears, once each.</summary>
    public IReadOnlyList<int> Appearances(int identity)
    {
        CheckIdentity(identity);
        return _appearances[identity];
    }

    /// <summary>The image name, <c>&lt;split&gt;-&lt;index:D6&gt;</c>.</summary>
    public string ImageName(long imageId)
    {
        if (imageId < 0 || imageId >= _samples)
            throw new ArgumentOutOfRangeException(nameof(imageId), imageId, $"SyntheticPersonSearch split '{Split}' has image ids 0 .. {_samples - 1}");
        return $"{Split}-{imageId:D6}";
    }

    /// <summary>The queries with their galleries (empty for "train"); built on first use.</summary>
    public IReadOnlyList<PersonSearchQuery> Queries => _protocol.Value;

    /// <summary>Image <paramref name="index"/>'s persons (no pixels rendered), in the order of its batch rows.</summary>
    public IReadOnlyList<SyntheticPerson> Persons(int index)
    {
        CheckIndex(index);
        return Describe(BuildScene(index));
    }

    public override DetectionTarget Target(int index) => new(index, _height, _width, Persons(index).Select(p => p.Box).ToArray());

    protected override (byte[] Pixels, DetectionTarget Target) Load(int index)
    {
        var scene = BuildScene(index);
        var pixels = new byte[3 * _height * _width];
        Render(index, scene, pixels);
        return (pixels, new DetectionTarget(index, _height, _width, Describe(scene).Select(p => p.Box).ToArray()));
    }

    /// <summary>Image <paramref name="index"/>'s pixels, 3 × height × width, into <paramref name="destination"/>.</summary>
    public void Render(int index, Span<byte> destination)
    {
        CheckIndex(index);
        if (destination.Length < 3 * _height * _width) throw new ArgumentException($"the destination needs {3 * _height * _width} bytes", nameof(destination));
        Render(index, BuildScene(index), destination);
    }

    private void CheckIdentity(int identity)
    {
        if ((uint)identity >= (uint)_identities)
            throw new ArgumentOutOfRangeException(nameof(identity), identity, $"the split has identities 0 .. {_identities - 1}");
    }

    // ---- people ------------------------------------------------------------------------------------

    /// <summary>One person's traits.</summary>
    private sealed class Look
    {
        public float[] Skin = [], Hair = [], ShirtA = [], ShirtB = [], Trousers = [], Shoes = [], BagColour = [];
        public HairStyle Style;
        public ShirtPattern Pattern;
        public bool LongSleeves, Shorts;
        public BagKind Bag;
        public int BagSide;
        public double Build, Head, Legs;

        public Look Copy() => new()
        {
            Skin = Skin, Hair = Hair, ShirtA = ShirtA, ShirtB = ShirtB, Trousers = Trousers, Shoes = Shoes, BagColour = BagColour,
            Style = Style, Pattern = Pattern, LongSleeves = LongSleeves, Shorts = Shorts, Bag = Bag, BagSide = BagSide,
            Build = Build, Head = Head, Legs = Legs,
        };

        public double[] Vector() =>
        [
            .. Skin, .. Hair, (double)Style, .. ShirtA, .. ShirtB, (double)Pattern, LongSleeves ? 1 : 0, .. Trousers, Shorts ? 1 : 0,
            .. Shoes, (double)Bag, .. BagColour, BagSide, Build, Head, Legs,
        ];

        public static IReadOnlyList<string> Differences(Look a, Look b)
        {
            var (va, vb) = (a.Vector(), b.Vector());
            var result = new List<string>();
            var at = 0;
            foreach (var (name, width) in TraitNames)
            {
                for (var k = at; k < at + width; k++)
                    if (va[k] != vb[k]) { result.Add(name); break; }
                at += width;
            }
            return result;
        }

        /// <summary>A person drawn afresh: every trait from its range.</summary>
        public static Look Draw(ref Rng rng)
        {
            var tone = rng.NextDouble();
            float[] skin = [(float)(0.93 + (0.36 - 0.93) * tone), (float)(0.78 + (0.23 - 0.78) * tone), (float)(0.67 + (0.16 - 0.67) * tone)];
            var look = new Look { Skin = skin, Style = rng.NextDouble() switch { < 0.5 => HairStyle.Short, < 0.8 => HairStyle.Long, _ => HairStyle.Cap } };
            look.Hair = look.Style == HairStyle.Cap ? SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0.4, 0.9), rng.Uniform(0.3, 0.9)) : NaturalHair(ref rng);
            var hueA = rng.Uniform(0, 360);
            var valueA = rng.Uniform(0.25, 0.95);
            look.ShirtA = SyntheticDetection.Hsv(hueA, rng.Uniform(0.15, 0.9), valueA);
            look.ShirtB = SyntheticDetection.Hsv(hueA + (rng.Chance(0.5) ? 180 : rng.Uniform(-40, 40)), rng.Uniform(0.15, 0.9),
                valueA > 0.6 ? rng.Uniform(0.12, 0.4) : rng.Uniform(0.7, 1.0));
            look.Pattern = (ShirtPattern)rng.NextInt(5);
            look.LongSleeves = rng.Chance(0.5);
            look.Trousers = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0, 0.6), rng.Uniform(0.12, 0.75));
            look.Shorts = rng.Chance(0.25);
            look.Shoes = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0, 0.5), rng.Uniform(0.05, 0.95));
            look.Bag = rng.NextDouble() switch { < 0.45 => BagKind.None, < 0.75 => BagKind.Backpack, _ => BagKind.ShoulderBag };
            look.BagColour = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0.3, 0.9), rng.Uniform(0.2, 0.9));
            look.BagSide = rng.Chance(0.5) ? 1 : -1;
            look.Build = rng.Uniform(0.24, 0.32);
            look.Head = rng.Uniform(0.12, 0.15);
            look.Legs = rng.Uniform(0.44, 0.5);
            return look;
        }

        private static float[] NaturalHair(ref Rng rng)
        {
            var light = rng.NextDouble();
            light *= light;
            var red = rng.NextDouble();
            return
            [
                Math.Clamp((float)(0.12 + 0.7 * light + 0.3 * red * (1 - 0.5 * light)), 0f, 1f),
                Math.Clamp((float)(0.09 + 0.6 * light + 0.06 * red), 0f, 1f),
                Math.Clamp((float)(0.07 + 0.38 * light), 0f, 1f),
            ];
        }

        /// <summary>A family member: the family's look with one or two subtle traits changed.</summary>
        public Look Mutate(ref Rng rng)
        {
            var m = Copy();
            var changes = rng.Chance(0.55) ? 1 : 2;
            var done = new HashSet<int>();
            while (done.Count < changes)
            {
                var kind = rng.NextInt(9);
                if (!done.Add(kind)) continue;
                switch (kind)
                {
                    case 0:
                        m.Pattern = (ShirtPattern)(((int)m.Pattern + 1 + rng.NextInt(4)) % 5);
                        break;
                    case 1:
                        if (m.Pattern == ShirtPattern.Plain) m.ShirtA = Shade(ref rng, m.ShirtA);
                        else m.ShirtB = Shade(ref rng, m.ShirtB);
                        break;
                    case 2:
                        m.ShirtA = Shade(ref rng, m.ShirtA);
                        break;
                    case 3:
                        m.Trousers = Shade(ref rng, m.Trousers);
                        break;
                    case 4:
                        m.Bag = m.Bag == BagKind.None ? (rng.Chance(0.5) ? BagKind.Backpack : BagKind.ShoulderBag)
                            : rng.Chance(0.5) ? BagKind.None : m.Bag == BagKind.Backpack ? BagKind.ShoulderBag : BagKind.Backpack;
                        break;
                    case 5:
                        // Short and long hair swap; a cap keeps its style and changes colour (one trait either way).
                        if (m.Style == HairStyle.Cap) m.Hair = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0.4, 0.9), rng.Uniform(0.3, 0.9));
                        else m.Style = m.Style == HairStyle.Short ? HairStyle.Long : HairStyle.Short;
                        break;
                    case 6:
                        m.LongSleeves = !m.LongSleeves;
                        break;
                    case 7:
                        m.Shorts = !m.Shorts;
                        break;
                    default:
                        m.Shoes = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0, 0.6), rng.Uniform(0.05, 0.95));
                        break;
                }
            }
            return m;
        }

        /// <summary>The same colour a visible step lighter or darker (0.12–0.22 on every channel, towards the middle).</summary>
        private static float[] Shade(ref Rng rng, float[] c)
        {
            var step = rng.Uniform(0.12, 0.22) * ((c[0] + c[1] + c[2]) / 3 > 0.5 ? -1 : 1);
            return [Math.Clamp((float)(c[0] + step), 0f, 1f), Math.Clamp((float)(c[1] + step), 0f, 1f), Math.Clamp((float)(c[2] + step), 0f, 1f)];
        }
    }

    /// <summary>The split's identities, family by family: members drawn in order, each redrawn until it differs from its elder siblings.</summary>
    private Look[] DrawPeople()
    {
        var people = new Look[_identities];
        var stream = Seeds.Combine(PeopleStream, _splitKey);
        for (var f = 0; f * _familySize < _identities; f++)
        {
            var familyRng = new Rng(Seeds.Combine(_seed, stream, FamilyStream, (ulong)f));
            var family = Look.Draw(ref familyRng);
            for (var m = 0; m < _familySize && f * _familySize + m < _identities; m++)
            {
                var j = f * _familySize + m;
                if (_familySize == 1)
                {
                    people[j] = family;
                    continue;
                }
                var rng = new Rng(Seeds.Combine(_seed, stream, MemberStream, (ulong)j));
                Look member;
                var tries = 0;
                do member = family.Mutate(ref rng);
                while (++tries < 100 && Enumerable.Range(f * _familySize, m).Any(k => Look.Differences(people[k], member).Count == 0));
                people[j] = member;
            }
        }
        return people;
    }

    // ---- the identity plan ---------------------------------------------------------------------------

    /// <summary>Each image's person slots (identity or −1, in scene order) and each identity's images.</summary>
    private (int[][] Slots, int[][] Appearances) Plan()
    {
        var slots = new int[_samples][];
        var labelledSlots = new List<(int Image, int Slot)>();
        for (var i = 0; i < _samples; i++)
        {
            var rng = new Rng(Seeds.Combine(_seed, _splitKey, (ulong)i, PlanStream));
            var n = 1 + rng.NextInt(_maxPersons);
            slots[i] = new int[n];
            var labelled = 0;
            for (var k = 0; k < n; k++)
            {
                var isLabelled = rng.Chance(1 - _unlabelled) && labelled < _identities;
                slots[i][k] = isLabelled ? 0 : -1;
                if (!isLabelled) continue;
                labelled++;
                labelledSlots.Add((i, k));
            }
        }

        // How often each identity appears: evenly, or twice each while the slots last.
        var assign = new Rng(Seeds.Combine(_seed, _splitKey, AssignStream));
        var order = Shuffled(ref assign, Enumerable.Range(0, _identities).ToArray());
        var total = labelledSlots.Count;
        var copies = new int[_identities];
        if (total >= 2 * _identities)
            for (var r = 0; r < _identities; r++) copies[order[r]] = total / _identities + (r < total % _identities ? 1 : 0);
        else
            for (int r = 0, left = total; r < _identities && left > 0; r++, left -= 2) copies[order[r]] = Math.Min(2, left);
        var pool = new int[total];
        for (int id = 0, at = 0; id < _identities; id++)
            for (var c = 0; c < copies[id]; c++) pool[at++] = id;
        pool = Shuffled(ref assign, pool);
        for (var s = 0; s < total; s++) slots[labelledSlots[s].Image][labelledSlots[s].Slot] = pool[s];

        // Repair: an identity twice in an image swaps with a slot elsewhere whose identity neither image has.
        for (var s = 0; s < total; s++)
        {
            var (image, slot) = labelledSlots[s];
            var id = slots[image][slot];
            if (Array.IndexOf(slots[image], id) == slot) continue; // the first occurrence stays
            var fixedIt = false;
            for (var tries = 0; tries < 10_000 && !fixedIt; tries++)
            {
                var (other, otherSlot) = labelledSlots[assign.NextInt(total)];
                var e = slots[other][otherSlot];
                if (other == image || e < 0 || slots[image].Contains(e) || slots[other].Contains(id)) continue;
                (slots[image][slot], slots[other][otherSlot]) = (e, id);
                fixedIt = true;
            }
            if (!fixedIt) slots[image][slot] = -1; // no swap exists (too few identities): an unlabelled person instead
        }
        var appearances = Enumerable.Range(0, _identities).Select(_ => new List<int>()).ToArray();
        for (var i = 0; i < _samples; i++)
            foreach (var id in slots[i])
                if (id >= 0) appearances[id].Add(i);
        return (slots, appearances.Select(a => a.ToArray()).ToArray());
    }

    private static T[] Shuffled<T>(ref Rng rng, T[] items)
    {
        var a = (T[])items.Clone();
        for (var i = a.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (a[i], a[j]) = (a[j], a[i]);
        }
        return a;
    }

    // ---- the protocol --------------------------------------------------------------------------------

    private IReadOnlyList<PersonSearchQuery> BuildProtocol()
    {
        if (Split == "train" || _queries == 0) return [];
        var cache = new Dictionary<int, IReadOnlyList<SyntheticPerson>>();
        IReadOnlyList<SyntheticPerson> PersonsOf(int image) => cache.TryGetValue(image, out var p) ? p : cache[image] = Persons(image);
        double[] BoxOf(int image, int id)
        {
            var b = PersonsOf(image).First(p => p.PersonId == id).Box;
            return [b.X1, b.Y1, b.X2, b.Y2];
        }
        var result = new List<PersonSearchQuery>();
        for (var id = 0; id < _identities && result.Count < _queries; id++)
        {
            var seen = _appearances[id];
            if (seen.Length < 2) continue;
            var rng = new Rng(Seeds.Combine(_seed, _splitKey, QueryStream, (ulong)id));
            var easy = seen.Where(i => !PersonsOf(i).First(p => p.PersonId == id).Box.Hard).ToArray();
            var candidates = easy.Length > 0 ? easy : seen;
            var queryImage = candidates[rng.NextInt(candidates.Length)];
            var positives = seen.Where(i => i != queryImage).ToArray();
            if (positives.Length > _gallerySize) positives = Shuffled(ref rng, positives)[.._gallerySize];
            var shows = seen.ToHashSet();
            var negatives = Enumerable.Range(0, _samples).Where(i => i != queryImage && !shows.Contains(i)).ToArray();
            // A seeded partial Fisher-Yates: the first (gallery_size − positives) of a shuffle.
            var need = Math.Min(negatives.Length, _gallerySize - positives.Length);
            for (var k = 0; k < need; k++)
            {
                var j = k + rng.NextInt(negatives.Length - k);
                (negatives[k], negatives[j]) = (negatives[j], negatives[k]);
            }
            var gallery = positives.Select(i => (i, (double[]?)BoxOf(i, id)))
                .Concat(negatives.Take(need).Select(i => (i, (double[]?)null)))
                .OrderBy(e => e.i).Select(e => (ImageName(e.i), e.Item2)).ToArray();
            result.Add(new PersonSearchQuery(ImageName(queryImage), BoxOf(queryImage, id), id, gallery));
        }
        return result;
    }

    // ---- a scene -------------------------------------------------------------------------------------

    private enum Primitive : byte { Ellipse, Box, Capsule }

    /// <summary>One anti-aliased shape of a drawn thing, with its paint (a colour, or the shirt's pattern over a frame).</summary>
    private sealed class Part
    {
        public Primitive Shape;
        public double P0, P1, P2, P3, P4; // ellipse: cx, cy, rx, ry; box: cx, cy, hw, hh, corner r; capsule: ax, ay, bx, by, r
        public float[] Colour = [];
        public float[]? Second;
        public ShirtPattern Pattern;
        public double Fx, Fy, Fw, Fh; // the pattern's frame in pixels

        public static Part Ellipse(double cx, double cy, double rx, double ry, float[] colour) =>
            new() { Shape = Primitive.Ellipse, P0 = cx, P1 = cy, P2 = Math.Max(rx, 0.3), P3 = Math.Max(ry, 0.3), Colour = colour };

        public static Part Box(double cx, double cy, double hw, double hh, double r, float[] colour)
        {
            hw = Math.Max(hw, 0.3);
            hh = Math.Max(hh, 0.3);
            return new() { Shape = Primitive.Box, P0 = cx, P1 = cy, P2 = hw, P3 = hh, P4 = Math.Clamp(r, 0, Math.Min(hw, hh)), Colour = colour };
        }

        public static Part Capsule(double ax, double ay, double bx, double by, double r, float[] colour) =>
            new() { Shape = Primitive.Capsule, P0 = ax, P1 = ay, P2 = bx, P3 = by, P4 = Math.Max(r, 0.3), Colour = colour };

        /// <summary>The shape's extent (x0, y0, x1, y1) in pixel coordinates.</summary>
        public (double X0, double Y0, double X1, double Y1) Bounds() => Shape switch
        {
            Primitive.Capsule => (Math.Min(P0, P2) - P4, Math.Min(P1, P3) - P4, Math.Max(P0, P2) + P4, Math.Max(P1, P3) + P4),
            _ => (P0 - P2, P1 - P3, P0 + P2, P1 + P3),
        };

        /// <summary>Signed distance (approximately, in pixels; negative inside) of the point (x, y).</summary>
        public double Distance(double x, double y)
        {
            switch (Shape)
            {
                case Primitive.Ellipse:
                {
                    var dx = (x - P0) / P2;
                    var dy = (y - P1) / P3;
                    return (Math.Sqrt(dx * dx + dy * dy) - 1) * Math.Min(P2, P3);
                }
                case Primitive.Box:
                {
                    var qx = Math.Abs(x - P0) - (P2 - P4);
                    var qy = Math.Abs(y - P1) - (P3 - P4);
                    var ox = Math.Max(qx, 0);
                    var oy = Math.Max(qy, 0);
                    return Math.Sqrt(ox * ox + oy * oy) + Math.Min(Math.Max(qx, qy), 0) - P4;
                }
                default:
                {
                    double pax = x - P0, pay = y - P1, bax = P2 - P0, bay = P3 - P1;
                    var len = bax * bax + bay * bay;
                    var h = len > 0 ? Math.Clamp((pax * bax + pay * bay) / len, 0, 1) : 0;
                    var dx = pax - bax * h;
                    var dy = pay - bay * h;
                    return Math.Sqrt(dx * dx + dy * dy) - P4;
                }
            }
        }
    }

    /// <summary>A drawn thing — a person or a distractor — with its depth (feet y) and parts back to front.</summary>
    private sealed class Item
    {
        public double FootY;
        public int Order;
        public readonly List<Part> Parts = [];
        public double Softness = 0.7, Contrast = 1, CentreX, CentreY;
        public int Person = -1; // index into the scene's persons, −1 for a distractor
    }

    private sealed class PersonSlot
    {
        public int Identity;
        public HardKind Hard;
        public double Height;
        public Item Item = null!;
    }

    private sealed class Background
    {
        public double Horizon;
        public float[] Sky = [], GroundFar = [], GroundNear = [], Kerb = [];
        public double KerbY, TileSpacing, Texture;
        public (double X0, double X1, double Top, float[] Colour, double Spacing, double Fill, float[] Window)[] Buildings = [];
        public (double X, double Y, double Rx, double Ry, float Strength)[] Shadows = [];
        public ulong TextureSeed;
        public float Noise, Contrast, Brightness;
    }

    private sealed record Scene(Background Background, List<Item> Items, List<PersonSlot> Persons);

    private Scene BuildScene(int index)
    {
        var rng = new Rng(Seeds.Combine(_seed, _splitKey, (ulong)index));
        double h = _height, w = _width;
        var bg = new Background { Horizon = rng.Uniform(0.3, 0.5) * h };
        bg.Sky = SyntheticDetection.Hsv(rng.Uniform(190, 230), rng.Uniform(0.05, 0.4), rng.Uniform(0.6, 0.95));
        var groundHue = rng.Uniform(0, 360);
        var groundSat = rng.Uniform(0, 0.15);
        var groundValue = rng.Uniform(0.3, 0.6);
        bg.GroundFar = SyntheticDetection.Hsv(groundHue, groundSat, groundValue);
        bg.GroundNear = SyntheticDetection.Hsv(groundHue, groundSat, Math.Min(1, groundValue + rng.Uniform(-0.1, 0.2)));
        bg.Kerb = SyntheticDetection.Hsv(groundHue, groundSat, rng.Uniform(0.2, 0.8));
        bg.KerbY = bg.Horizon + rng.Uniform(0.05, 0.25) * (h - bg.Horizon);
        bg.TileSpacing = rng.Uniform(0.08, 0.16) * h;
        bg.Texture = rng.Uniform(0.02, 0.06);
        var buildings = new List<(double, double, double, float[], double, double, float[])>();
        for (var x = -rng.Uniform(0, 0.1) * w; x < w;)
        {
            var bw = rng.Uniform(0.15, 0.45) * w;
            var top = rng.Uniform(0, Math.Max(0.01, bg.Horizon - 0.12 * h));
            var colour = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0, 0.35), rng.Uniform(0.3, 0.85));
            var window = SyntheticDetection.Hsv(rng.Uniform(180, 240), rng.Uniform(0, 0.3), rng.Chance(0.5) ? rng.Uniform(0.1, 0.3) : rng.Uniform(0.75, 0.95));
            buildings.Add((x, x + bw, top, colour, rng.Uniform(0.07, 0.13) * h, rng.Uniform(0.35, 0.65), window));
            x += bw + (rng.Chance(0.3) ? rng.Uniform(0.02, 0.1) * w : 0);
        }
        bg.Buildings = buildings.ToArray();
        var shadows = 1 + rng.NextInt(3);
        bg.Shadows = new (double, double, double, double, float)[shadows];
        for (var k = 0; k < shadows; k++)
            bg.Shadows[k] = (rng.Uniform(0, w), rng.Uniform(bg.Horizon, h), rng.Uniform(0.1, 0.3) * w, rng.Uniform(0.03, 0.1) * h, (float)rng.Uniform(-0.12, 0.08));
        bg.TextureSeed = rng.Next();
        bg.Noise = (float)rng.Uniform(0.01, 0.035);
        bg.Contrast = (float)rng.Uniform(0.85, 1.15);
        bg.Brightness = (float)rng.Uniform(-0.06, 0.06);

        var items = new List<Item>();
        var distractorCount = rng.NextInt(_distractors + 1);
        for (var k = 0; k < distractorCount; k++)
        {
            var kind = rng.NextInt(5);
            var size = SyntheticDetection.LogUniform(ref rng, MinPerson * h, MaxPerson * h);
            var foot = Foot(ref rng, size, bg.Horizon);
            var item = Distractor(ref rng, kind, rng.Uniform(0.05 * w, 0.95 * w), foot, size);
            item.Order = items.Count;
            items.Add(item);
        }

        var persons = new List<PersonSlot>();
        var placed = new List<(double X0, double Y0, double X1, double Y1)>();
        foreach (var identity in _slots[index])
        {
            var hard = rng.Chance(_hardFraction) ? (HardKind)(1 + rng.NextInt(4)) : HardKind.None;
            var ph = hard == HardKind.Small ? SyntheticDetection.LogUniform(ref rng, MinSmall * h, MinPerson * h) : SyntheticDetection.LogUniform(ref rng, MinPerson * h, MaxPerson * h);
            var look = identity >= 0 ? _people[identity] : Look.Draw(ref rng);
            var foot = Foot(ref rng, ph, bg.Horizon);
            var half = (look.Build / 2 + 0.12) * ph;
            // The centre: the least overlapping of up to 20 tries.
            double best = double.MaxValue, cx = w / 2;
            for (var t = 0; t < 20 && best > MaxOverlap; t++)
            {
                var x = rng.Uniform(half, Math.Max(half, w - half));
                var overlap = placed.Count == 0 ? 0 : placed.Max(p => Overlap(p, (x - half, foot - ph, x + half, foot)));
                if (overlap < best) (best, cx) = (overlap, x);
            }
            placed.Add((cx - half, foot - ph, cx + half, foot));
            var pose = (Legs: rng.Uniform(0, 0.07), Arms: rng.Uniform(0, 0.06));
            var brightness = rng.Uniform(0.8, 1.15);
            float[] jitter = [(float)rng.Uniform(-0.03, 0.03), (float)rng.Uniform(-0.03, 0.03), (float)rng.Uniform(-0.03, 0.03)];
            var softness = rng.Uniform(0.5, 0.9);
            // Every number of the hard kinds is drawn, so the stream does not depend on which one applies.
            var blur = rng.Uniform(0.04, 0.07) * ph;
            var contrast = rng.Uniform(0.3, 0.5);
            var occluder = Occluder(ref rng, cx, foot, ph, look.Build);
            var item = new Item { FootY = foot, Order = items.Count, Person = persons.Count, CentreX = cx, CentreY = foot - ph / 2 };
            item.Softness = hard == HardKind.Blurred ? Math.Max(softness, blur) : softness;
            if (hard == HardKind.LowContrast) item.Contrast = contrast;
            float[] Tone(float[] c) =>
                [Math.Clamp((float)(c[0] * brightness) + jitter[0], 0f, 1f), Math.Clamp((float)(c[1] * brightness) + jitter[1], 0f, 1f),
                    Math.Clamp((float)(c[2] * brightness) + jitter[2], 0f, 1f)];
            AddBody(item.Parts, look, cx, foot, ph, pose.Legs, pose.Arms, head: true, Tone);
            items.Add(item);
            persons.Add(new PersonSlot { Identity = identity, Hard = hard, Height = ph, Item = item });
            if (hard == HardKind.Occluded)
            {
                occluder.Order = items.Count;
                items.Add(occluder);
            }
        }
        // Far to near (feet higher in the image first); ties in creation order.
        items.Sort((a, b) => a.FootY != b.FootY ? a.FootY.CompareTo(b.FootY) : a.Order.CompareTo(b.Order));
        return new Scene(bg, items, persons);
    }

    /// <summary>The feet's y for a thing of height <paramref name="size"/>: lower in the image the taller it is, kept inside.</summary>
    private double Foot(ref Rng rng, double size, double horizon)
    {
        double h = _height;
        var t = Math.Clamp(Math.Log(size / (MinPerson * h)) / Math.Log(MaxPerson / MinPerson), 0, 1);
        var foot = horizon + (0.2 + 0.8 * t) * (h - horizon) + rng.Uniform(-0.04, 0.04) * h;
        return Math.Clamp(foot, size + 1, h + 0.02 * size);
    }

    private static double Overlap((double X0, double Y0, double X1, double Y1) p, (double X0, double Y0, double X1, double Y1) q)
    {
        var ix = Math.Min(p.X1, q.X1) - Math.Max(p.X0, q.X0);
        var iy = Math.Min(p.Y1, q.Y1) - Math.Max(p.Y0, q.Y0);
        if (ix <= 0 || iy <= 0) return 0;
        return ix * iy / Math.Min((p.X1 - p.X0) * (p.Y1 - p.Y0), (q.X1 - q.X0) * (q.Y1 - q.Y0));
    }

    /// <summary>
    /// A cartoon body with its feet centred at (<paramref name="fx"/>, <paramref name="fy"/>), <paramref name="h"/> pixels tall, back to
    /// front: long hair, backpack, legs, shoes, torso, straps, arms, hands, shoulder bag, hair, face, cap (no head: a mannequin).
    /// </summary>
    private static void AddBody(List<Part> parts, Look look, double fx, double fy, double h, double legSpread, double armSpread, bool head, Func<float[], float[]> tone)
    {
        var skin = tone(look.Skin);
        var hair = tone(look.Hair);
        var shirtA = tone(look.ShirtA);
        var shirtB = tone(look.ShirtB);
        var trousers = tone(look.Trousers);
        var shoes = tone(look.Shoes);
        var bag = tone(look.BagColour);
        var headRy = look.Head * h / 2;
        var headRx = 0.78 * headRy;
        var headCy = fy - h + headRy;
        var shoulderY = fy - h + 2 * headRy + 0.02 * h;
        var hipY = fy - look.Legs * h;
        var hw = look.Build * h / 2;
        var torsoCy = (shoulderY + hipY) / 2 + 0.01 * h;
        var torsoHh = (hipY - shoulderY) / 2 + 0.02 * h;
        var side = look.BagSide;

        if (head && look.Style == HairStyle.Long)
            parts.Add(Part.Ellipse(fx, headCy + 0.55 * headRy, headRx * 1.25, headRy * 1.5, hair));
        if (look.Bag == BagKind.Backpack)
            parts.Add(Part.Box(fx + side * hw * 0.85, torsoCy - 0.02 * h, 0.42 * hw, 0.65 * torsoHh, 0.15 * hw, bag));

        var legR = 0.19 * look.Build * h;
        var shoeRy = 0.028 * h;
        for (var s = -1; s <= 1; s += 2)
        {
            double hx = fx + s * 0.5 * hw, hy = hipY - 0.3 * legR;
            double footX = fx + s * (0.5 * hw + legSpread * h), footY = fy - shoeRy - 0.5 * legR;
            if (look.Shorts)
            {
                parts.Add(Part.Capsule(hx, hy, footX, footY, legR * 0.8, skin));
                parts.Add(Part.Capsule(hx, hy, hx + 0.4 * (footX - hx), hy + 0.4 * (footY - hy), legR, trousers));
            }
            else parts.Add(Part.Capsule(hx, hy, footX, footY, legR, trousers));
            parts.Add(Part.Ellipse(footX + s * 0.2 * legR, fy - shoeRy, legR * 1.3, shoeRy, shoes));
        }

        var torso = Part.Box(fx, torsoCy, hw, torsoHh, 0.35 * hw, shirtA);
        (torso.Second, torso.Pattern, torso.Fx, torso.Fy, torso.Fw, torso.Fh) = (shirtB, look.Pattern, fx - hw, torsoCy - torsoHh, 2 * hw, 2 * torsoHh);
        parts.Add(torso);
        var strapR = Math.Max(0.35, 0.012 * h);
        if (look.Bag == BagKind.Backpack)
            for (var s = -1; s <= 1; s += 2)
                parts.Add(Part.Capsule(fx + s * 0.5 * hw, shoulderY + 0.01 * h, fx + s * 0.55 * hw, torsoCy + 0.2 * torsoHh, strapR, bag));
        if (look.Bag == BagKind.ShoulderBag)
            parts.Add(Part.Capsule(fx - side * 0.6 * hw, shoulderY + 0.01 * h, fx + side * 0.8 * hw, hipY - 0.03 * h, strapR, bag));

        var armR = 0.12 * look.Build * h;
        for (var s = -1; s <= 1; s += 2)
        {
            double sx = fx + s * (hw - 0.6 * armR), sy = shoulderY + armR;
            double handX = fx + s * (hw + armSpread * h + 0.3 * armR), handY = hipY + 0.02 * h;
            if (look.LongSleeves) parts.Add(Part.Capsule(sx, sy, handX, handY, armR, shirtA));
            else
            {
                parts.Add(Part.Capsule(sx, sy, handX, handY, armR * 0.85, skin));
                parts.Add(Part.Capsule(sx, sy, sx + 0.38 * (handX - sx), sy + 0.38 * (handY - sy), armR, shirtA));
            }
            parts.Add(Part.Ellipse(handX, handY + 0.5 * armR, armR * 1.05, armR * 1.2, skin));
        }
        if (look.Bag == BagKind.ShoulderBag)
            parts.Add(Part.Box(fx + side * (hw + 0.05 * h), hipY - 0.02 * h, 0.07 * h, 0.055 * h, 0.01 * h, bag));

        if (!head)
        {
            parts.Add(Part.Box(fx, shoulderY - 0.015 * h, 0.35 * headRx, 0.025 * h, 0.1 * headRx, skin)); // a neck stub
            return;
        }
        if (look.Style != HairStyle.Cap) parts.Add(Part.Ellipse(fx, headCy - 0.2 * headRy, headRx * 1.08, headRy * 0.85, hair));
        parts.Add(Part.Ellipse(fx, headCy + 0.12 * headRy, headRx * 0.92, headRy * 0.88, skin));
        if (look.Style == HairStyle.Cap)
        {
            parts.Add(Part.Ellipse(fx, headCy - 0.45 * headRy, headRx * 1.05, headRy * 0.6, hair));
            parts.Add(Part.Box(fx + side * 0.35 * headRx, headCy - 0.2 * headRy, headRx * 0.85, Math.Max(0.4, 0.12 * headRy), 0.05 * headRy, hair));
        }
    }

    /// <summary>A person-sized non-person: 0 a pole, 1 a sign, 2 a headless mannequin, 3 a bin, 4 a bollard.</summary>
    private static Item Distractor(ref Rng rng, int kind, double fx, double fy, double size)
    {
        var item = new Item { FootY = fy, Softness = rng.Uniform(0.5, 1.0), CentreX = fx, CentreY = fy - size / 2 };
        var metal = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0, 0.3), rng.Uniform(0.15, 0.7));
        var paint = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0.4, 0.95), rng.Uniform(0.3, 0.95));
        var r = Math.Max(0.6, rng.Uniform(0.02, 0.04) * size);
        switch (kind)
        {
            case 0:
                item.Parts.Add(Part.Capsule(fx, fy - r, fx, fy - size * 1.1 + r, r, metal));
                item.Parts.Add(Part.Ellipse(fx, fy - size * 1.1 + 2 * r, 2.5 * r, 1.5 * r, paint));
                break;
            case 1:
                item.Parts.Add(Part.Capsule(fx, fy - r, fx, fy - size + r, r, metal));
                item.Parts.Add(Part.Box(fx, fy - 0.82 * size, rng.Uniform(0.12, 0.2) * size, rng.Uniform(0.08, 0.14) * size, 0.02 * size, paint));
                break;
            case 2:
            {
                var look = Look.Draw(ref rng);
                if (rng.Chance(0.5))
                {
                    // A plastic mannequin: one colour all over.
                    var plastic = SyntheticDetection.Hsv(rng.Uniform(20, 50), rng.Uniform(0, 0.3), rng.Uniform(0.6, 0.95));
                    (look.Skin, look.ShirtA, look.ShirtB, look.Trousers, look.Shoes, look.Pattern, look.Bag) =
                        (plastic, plastic, plastic, plastic, plastic, ShirtPattern.Plain, BagKind.None);
                }
                AddBody(item.Parts, look, fx, fy, size, rng.Uniform(0, 0.05), rng.Uniform(0, 0.05), head: false, c => c);
                break;
            }
            case 3:
            {
                var bh = rng.Uniform(0.3, 0.5) * size;
                var bw = rng.Uniform(0.35, 0.6) * bh;
                item.Parts.Add(Part.Box(fx, fy - bh / 2, bw, bh / 2, 0.15 * bw, paint));
                item.Parts.Add(Part.Box(fx, fy - bh, bw * 1.1, Math.Max(0.5, 0.06 * bh), 0.05 * bw, metal));
                break;
            }
            default:
            {
                var bh = rng.Uniform(0.25, 0.4) * size;
                var br = rng.Uniform(0.12, 0.2) * bh;
                item.Parts.Add(Part.Capsule(fx, fy - br, fx, fy - bh + br, br, metal));
                item.Parts.Add(Part.Box(fx, fy - 0.75 * bh, br * 1.05, Math.Max(0.5, 0.06 * bh), 0, paint));
                break;
            }
        }
        return item;
    }

    /// <summary>What occludes an occluded person: a barrier over its lower 35–60% (65%) or a panel over one side; always drawn, used only when it applies.</summary>
    private static Item Occluder(ref Rng rng, double cx, double fy, double h, double build)
    {
        var colour = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0.1, 0.8), rng.Uniform(0.2, 0.85));
        var stripe = SyntheticDetection.Hsv(rng.Uniform(0, 360), rng.Uniform(0.1, 0.8), rng.Uniform(0.2, 0.85));
        var barrier = rng.Chance(0.65);
        var cover = rng.Uniform(0.35, 0.6);
        var width = rng.Uniform(1.3, 2.2) * build * h;
        var shift = rng.Uniform(-0.2, 0.2) * build * h;
        var panelSide = rng.Chance(0.5) ? 1 : -1;
        var panelCover = rng.Uniform(0.35, 0.55);
        var panelHeight = rng.Uniform(0.6, 1.05) * h;
        var near = fy + rng.Uniform(0.5, 3);
        var item = new Item { FootY = fy + 0.01, Softness = rng.Uniform(0.5, 0.9), CentreX = cx };
        if (barrier)
        {
            var top = fy - cover * h;
            item.Parts.Add(Part.Box(cx + shift, (top + near) / 2, width / 2, (near - top) / 2, 0.03 * h, colour));
            item.Parts.Add(Part.Box(cx + shift, top + 0.25 * (near - top), width / 2, 0.08 * (near - top), 0, stripe));
            item.CentreY = (top + near) / 2;
        }
        else
        {
            // The panel's inner edge covers panelCover of the body's width from one side.
            var bodyHalf = build * h / 2;
            var inner = cx + panelSide * bodyHalf * (1 - 2 * panelCover);
            var outer = cx + panelSide * (bodyHalf + 0.25 * h);
            var top = fy - panelHeight;
            item.Parts.Add(Part.Box((inner + outer) / 2, (top + near) / 2, Math.Abs(outer - inner) / 2, (near - top) / 2, 0.02 * h, colour));
            item.CentreY = (top + near) / 2;
        }
        return item;
    }

    /// <summary>The persons with exact boxes: the tight box of the pixels whose centre lies inside one of the person's parts.</summary>
    private List<SyntheticPerson> Describe(Scene scene)
    {
        var result = new List<SyntheticPerson>(scene.Persons.Count);
        foreach (var p in scene.Persons)
        {
            int minX = int.MaxValue, minY = int.MaxValue, maxX = -1, maxY = -1;
            foreach (var part in p.Item.Parts)
            {
                var (x0, y0, x1, y1) = PixelRange(part, 0);
                for (var y = y0; y <= y1; y++)
                {
                    // Only pixels that could widen the box need testing on rows already inside it.
                    for (var x = x0; x <= x1; x++)
                    {
                        if (y >= minY && y <= maxY && x >= minX && x <= maxX) { x = Math.Max(x, maxX); continue; }
                        if (part.Distance(x + 0.5, y + 0.5) > 0) continue;
                        (minX, minY, maxX, maxY) = (Math.Min(minX, x), Math.Min(minY, y), Math.Max(maxX, x), Math.Max(maxY, y));
                    }
                }
            }
            if (maxX < 0) continue; // never: a placed person always covers pixels inside the image
            var box = new DetectionObject(minX, minY, maxX + 1, maxY + 1, 1, Crowd: false, Hard: p.Hard != HardKind.None, PersonId: p.Identity);
            result.Add(new SyntheticPerson(box, p.Hard, p.Height));
        }
        return result;
    }

    /// <summary>The pixels (clipped to the image) that a part, grown by <paramref name="grow"/> pixels, can touch; empty when x0 &gt; x1.</summary>
    private (int X0, int Y0, int X1, int Y1) PixelRange(Part part, double grow)
    {
        var (bx0, by0, bx1, by1) = part.Bounds();
        return (Math.Max(0, (int)Math.Floor(bx0 - grow - 0.5)), Math.Max(0, (int)Math.Floor(by0 - grow - 0.5)),
            Math.Min(_width - 1, (int)Math.Ceiling(bx1 + grow)), Math.Min(_height - 1, (int)Math.Ceiling(by1 + grow)));
    }

    // ---- rendering -----------------------------------------------------------------------------------

    private void Render(int index, Scene scene, Span<byte> destination)
    {
        var (hh, ww) = (_height, _width);
        var plane = hh * ww;
        var buffer = t_buffer is { } b && b.Length >= 3 * plane ? b : t_buffer = new float[3 * plane];
        var v = buffer.AsSpan(0, 3 * plane);
        DrawBackground(v, scene.Background);
        foreach (var item in scene.Items)
        {
            var fade = item.Contrast < 1 ? Under(v, item) : null;
            foreach (var part in item.Parts) Draw(v, part, item.Softness, fade, (float)item.Contrast);
        }

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

    /// <summary>The colour under an item's centre (what a low-contrast person fades into).</summary>
    private float[] Under(Span<float> v, Item item)
    {
        var x = Math.Clamp((int)item.CentreX, 0, _width - 1);
        var y = Math.Clamp((int)item.CentreY, 0, _height - 1);
        var plane = _height * _width;
        return [v[y * _width + x], v[plane + y * _width + x], v[2 * plane + y * _width + x]];
    }

    private void Draw(Span<float> v, Part part, double softness, float[]? fade, float contrast)
    {
        var w = _width;
        var plane = _height * w;
        var (x0, y0, x1, y1) = PixelRange(part, softness + 1);
        var a = part.Colour;
        var second = part.Second ?? a;
        if (fade is not null)
        {
            a = [fade[0] + (a[0] - fade[0]) * contrast, fade[1] + (a[1] - fade[1]) * contrast, fade[2] + (a[2] - fade[2]) * contrast];
            second = [fade[0] + (second[0] - fade[0]) * contrast, fade[1] + (second[1] - fade[1]) * contrast, fade[2] + (second[2] - fade[2]) * contrast];
        }
        var patterned = part.Second is not null && part.Pattern != ShirtPattern.Plain;
        var shaded = part.Second is not null;
        for (var y = y0; y <= y1; y++)
            for (var x = x0; x <= x1; x++)
            {
                var px = x + 0.5;
                var py = y + 0.5;
                var alpha = 0.5 - part.Distance(px, py) / softness;
                if (alpha <= 0) continue;
                if (alpha > 1) alpha = 1;
                double t = 0, light = 1;
                if (shaded)
                {
                    var vv = (py - part.Fy) / part.Fh;
                    light = 1.06 - 0.12 * Math.Clamp(vv, 0, 1);
                    if (patterned) t = Pattern(part, px, py);
                }
                var al = (float)alpha;
                var k = y * w + x;
                for (var c = 0; c < 3; c++)
                {
                    var colour = (float)((a[c] + (second[c] - a[c]) * t) * light);
                    ref var dst = ref v[c * plane + k];
                    dst += (colour - dst) * al;
                }
            }
    }

    /// <summary>The shirt pattern's mix (0: first colour, 1: second) at pixel centre (x, y), anti-aliased over about a pixel.</summary>
    private static double Pattern(Part part, double x, double y)
    {
        var u = x - part.Fx;
        var v = y - part.Fy;
        switch (part.Pattern)
        {
            case ShirtPattern.Stripes:
            {
                var period = part.Fh / 4.5;
                return Step(period / Math.PI * Math.Sin(2 * Math.PI * v / period));
            }
            case ShirtPattern.TwoTone:
                return Step(u - part.Fw / 2);
            case ShirtPattern.Checker:
            {
                var cell = part.Fw / 3;
                return Step(cell / Math.PI * Math.Sin(Math.PI * u / cell) * Math.Sin(Math.PI * v / cell));
            }
            case ShirtPattern.Band:
                return Step(Math.Min(v - 0.3 * part.Fh, 0.55 * part.Fh - v));
            default:
                return 0;
        }
    }

    private static double Step(double d) => d <= -0.5 ? 0 : d >= 0.5 ? 1 : d + 0.5;

    private void DrawBackground(Span<float> v, Background bg)
    {
        var (h, w) = (_height, _width);
        var plane = h * w;
        Span<float> pixel = stackalloc float[3];
        for (var y = 0; y < h; y++)
        {
            var py = y + 0.5;
            for (var x = 0; x < w; x++)
            {
                var px = x + 0.5;
                if (py < bg.Horizon)
                {
                    bg.Sky.CopyTo(pixel);
                    foreach (var (x0, x1, top, colour, spacing, fill, window) in bg.Buildings)
                    {
                        if (px < x0 || px >= x1 || py < top) continue;
                        colour.CopyTo(pixel);
                        // A grid of windows: cells of `spacing`, the window `fill` of each cell, a margin at the building's edges.
                        var cu = (px - x0) / spacing;
                        var cv = (py - top) / spacing;
                        if (px - x0 > 0.3 * spacing && x1 - px > 0.3 * spacing && py - top > 0.3 * spacing && bg.Horizon - py > 0.5 * spacing)
                        {
                            var fu = cu - Math.Floor(cu);
                            var fv = cv - Math.Floor(cv);
                            if (Math.Abs(fu - 0.5) < fill / 2 && Math.Abs(fv - 0.5) < fill / 2) window.CopyTo(pixel);
                        }
                    }
                }
                else
                {
                    var depth = (float)((py - bg.Horizon) / (h - bg.Horizon));
                    for (var c = 0; c < 3; c++) pixel[c] = bg.GroundFar[c] + (bg.GroundNear[c] - bg.GroundFar[c]) * depth;
                    if (Math.Abs(py - bg.KerbY) < 0.012 * h + 0.5) bg.Kerb.CopyTo(pixel);
                    else if (py > bg.KerbY)
                    {
                        // Paving lines, closer together towards the horizon.
                        var spacing = bg.TileSpacing * (0.3 + depth);
                        var f = (py - bg.KerbY) / spacing;
                        if (f - Math.Floor(f) < 0.08) for (var c = 0; c < 3; c++) pixel[c] *= 0.9f;
                    }
                    foreach (var (sx, sy, rx, ry, strength) in bg.Shadows)
                    {
                        var dx = (px - sx) / rx;
                        var dy = (py - sy) / ry;
                        var g = (float)Math.Exp(-(dx * dx + dy * dy));
                        for (var c = 0; c < 3; c++) pixel[c] += strength * g;
                    }
                }
                // Texture: a per-pixel hash, the same on every channel.
                var texture = (float)(((Seeds.Combine(bg.TextureSeed, (ulong)(y * w + x)) >> 40) * (1.0 / (1 << 24)) - 0.5) * bg.Texture);
                var k = y * w + x;
                for (var c = 0; c < 3; c++) v[c * plane + k] = pixel[c] + texture;
            }
        }
    }
}
