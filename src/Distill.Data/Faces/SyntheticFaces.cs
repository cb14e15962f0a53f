using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// A deterministic, seeded face-recognition task with many related identities: the stand-in for
/// CASIA-WebFace / MS1M training and LFW-style verification where no face data can be downloaded.
/// <para>
/// <b>Identities.</b> An identity is a vector of face traits — skin tone and warmth, face width, height and
/// jaw, hair colour, hairline, volume, parting and length, eye position, spacing, size, tilt and iris colour,
/// brow position, size, tilt and darkness, nose length, width and shading, mouth position, width, thickness
/// and lip colour, beard density, and two marks (moles) with position, size and strength — rendered as a
/// cartoon face of soft-edged ellipses. Identities come in families of <c>family_size</c>: a family draws
/// every trait uniformly over its range, its members scatter around it (σ = 12% of the range), so an identity
/// has near neighbours — its siblings — and a teacher's softmax over identities spreads over them, the
/// structure grouped knowledge distillation works on. Identity <c>j</c>'s traits are a function of
/// (<c>seed</c>, split, j) only.
/// </para>
/// <para>
/// <b>Samples.</b> Sample <c>i</c> shows identity <c>i / samples_per_identity</c> (identity-major, like an
/// identity folder) with per-sample nuisance, all scaled by <c>difficulty</c> (1 = default, 0 = none):
/// pose — roll (±0.15 rad), scale (±8%), shift (±3.5% of the image), yaw (±0.4, moving the parts in
/// proportion to their depth: the nose most) and pitch (±0.2); expression — eye openness, brow raise,
/// mouth width and opening; hairline shift; edge sharpness (a blur stand-in); a random background colour
/// and gradient; an occluding rectangle of random colour and size with probability 0.35 (a hand, a
/// mask, sunglasses); lighting — contrast (±25%), brightness (±0.1), a linear shading gradient (up to ±25%)
/// and per-channel gain (±8%); Gaussian pixel noise (σ = 0.03); uint8 quantisation. A sample is a function
/// of (seed, split, index), so it does not depend on the batch it is collated in or the thread.
/// </para>
/// <para>
/// <b>Splits.</b> "train": identities 0 .. identities - 1, no verification pairs. "heldout": the same people
/// as "train" (same seed and family_size; with fewer identities, the first ones), other images of them —
/// identification accuracy on the training people. Any other split ("val", "test", ...) has its own people, disjoint from every other split's — like
/// LFW, verification is on unseen identities. Every split but "train" carries <c>pairs</c> verification pairs
/// in <c>folds</c> identity-disjoint, balanced folds (<see cref="VerificationPairs.Build(IReadOnlyList{int}, int, int, int)"/>,
/// seeded from seed and split). <c>identities</c> is the number of people of the split in every case, and
/// labels are 0 .. identities - 1 within the split.
/// </para>
/// <para>
/// Nothing is stored: a 32×32 sample is rendered on demand in tens of µs on one core; a batch is spread over
/// <see cref="Parallelism"/> threads.
/// </para>
/// </summary>
[DistillDataset(Task = "face")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, size, size")]
[BatchField("label", TensorKind.Labels, "N", Classes = "identities")]
public sealed class SyntheticFaces : ImageDataset, IVerificationPairs
{
    private const int Channels3 = 3;
    private const double Spread = 0.12;

    private readonly int _identities, _perIdentity, _size;
    private readonly ulong _seed, _sampleKey;
    private readonly Face[] _faces;

    [ThreadStatic] private static float[]? t_buffer;

    /// <summary>
    /// Threads that render one batch (samples are independent, so the result is the same for any value):
    /// half the cores, leaving the rest to training; 1 (serial) on machines of 2 cores or fewer.
    /// </summary>
    public static int Parallelism { get; set; } = Environment.ProcessorCount > 2 ? Environment.ProcessorCount / 2 : 1;

    /// <param name="identities">People in this split (at least 2; a split with pairs needs at least 2 × folds).</param>
    /// <param name="samples_per_identity">Images of each person (at least 1; 2 where there are pairs).</param>
    /// <param name="size">Image height and width in pixels (at least 16).</param>
    /// <param name="seed">Chooses the people of every split and the samples.</param>
    /// <param name="split">"train", "heldout" (the train people, other images) or any other name (other people).</param>
    /// <param name="pairs">Verification pairs of a split other than "train" (a multiple of 2 × folds), or 0 for none.</param>
    /// <param name="folds">The folds the pairs form (LFW: 10).</param>
    /// <param name="difficulty">Scales every per-sample nuisance (1 = default, 0 = none), at most 4.</param>
    /// <param name="family_size">People per family of similar faces (1: unrelated people).</param>
    public SyntheticFaces([HyperParameter(Min = 2)] int identities = 1000, [HyperParameter(Min = 1)] int samples_per_identity = 8,
        [HyperParameter(Min = 16)] int size = 32, int seed = 0, string split = "train", [HyperParameter(Min = 0)] int pairs = 600,
        [HyperParameter(Min = 1)] int folds = 10, [HyperParameter(Min = 0, Max = 4)] double difficulty = 1.0, [HyperParameter(Min = 1)] int family_size = 10)
    {
        if (identities < 2) throw new ArgumentOutOfRangeException(nameof(identities), identities, "SyntheticFaces needs at least 2 identities");
        if (samples_per_identity < 1) throw new ArgumentOutOfRangeException(nameof(samples_per_identity), samples_per_identity, "samples_per_identity must be at least 1");
        if ((long)identities * samples_per_identity > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(samples_per_identity), samples_per_identity, $"identities × samples_per_identity must stay below {int.MaxValue}");
        if (size < 16) throw new ArgumentOutOfRangeException(nameof(size), size, "size must be at least 16 pixels");
        if (!(difficulty >= 0 && difficulty <= 4)) throw new ArgumentOutOfRangeException(nameof(difficulty), difficulty, "difficulty must be in [0, 4]");
        if (family_size < 1) throw new ArgumentOutOfRangeException(nameof(family_size), family_size, "family_size must be at least 1");
        if (folds < 1) throw new ArgumentOutOfRangeException(nameof(folds), folds, "folds must be at least 1");
        if (pairs < 0) throw new ArgumentOutOfRangeException(nameof(pairs), pairs, "pairs must not be negative");
        if (string.IsNullOrWhiteSpace(split)) throw new ArgumentException("split must be a name such as \"train\" or \"test\"", nameof(split));
        _identities = identities;
        _perIdentity = samples_per_identity;
        _size = size;
        _seed = unchecked((ulong)(long)seed);
        Seed = seed;
        Split = split;
        Difficulty = difficulty;
        FamilySize = family_size;
        _sampleKey = Seeds.Name(split);
        var people = Seeds.Name(split == "heldout" ? "train" : split);
        _faces = new Face[identities];
        for (var j = 0; j < identities; j++) _faces[j] = Face.Draw(_seed, people, j, family_size);

        if (split != "train" && pairs > 0)
        {
            if (samples_per_identity < 2)
                throw new ArgumentOutOfRangeException(nameof(samples_per_identity), samples_per_identity, "verification pairs need at least 2 samples per identity");
            if (pairs % (2 * folds) != 0)
                throw new ArgumentOutOfRangeException(nameof(pairs), pairs, $"pairs must be a multiple of 2 × folds = {2 * folds} (each fold half same, half different pairs)");
            if (identities < 2 * folds)
                throw new ArgumentOutOfRangeException(nameof(identities), identities, $"{folds} identity-disjoint folds of pairs need at least {2 * folds} identities");
            var labels = new int[Count];
            for (var i = 0; i < labels.Length; i++) labels[i] = i / samples_per_identity;
            Pairs = VerificationPairs.Build(labels, pairs, folds, Seeds.Combine(_seed, _sampleKey, PairStream));
            Folds = folds;
        }
    }

    public override int Count => _identities * _perIdentity;
    public override int Channels => Channels3;
    public override int Height => _size;
    public override int Width => _size;
    public override int Classes => _identities;

    public int Seed { get; }
    public string Split { get; }
    public double Difficulty { get; }
    public int SamplesPerIdentity => _perIdentity;

    /// <summary>People per family of similar faces.</summary>
    public int FamilySize { get; }

    /// <summary>The family of identity <paramref name="identity"/>: identity / FamilySize.</summary>
    public int Family(int identity) => identity / FamilySize;

    /// <summary>The identity of sample <paramref name="index"/>: index / samples_per_identity.</summary>
    public override int Label(int index)
    {
        CheckIndex(index);
        return index / _perIdentity;
    }

    public IReadOnlyList<VerificationPair> Pairs { get; } = [];

    public int Folds { get; }

    private static readonly ulong PairStream = Seeds.Name("pairs");

    public override ImageBatch Collate(ReadOnlySpan<int> indices) => CollateRendered(indices, Parallelism, Render);

    /// <summary>Sample <paramref name="index"/>'s pixels, 3 × size × size, into <paramref name="destination"/>.</summary>
    public void Render(int index, Span<byte> destination)
    {
        CheckIndex(index);
        var n = _size;
        var plane = n * n;
        var per = Channels3 * plane;
        if (destination.Length < per) throw new ArgumentException($"the destination needs {per} bytes", nameof(destination));
        var buffer = t_buffer is { } b && b.Length >= per ? b : t_buffer = new float[per];
        var v = buffer.AsSpan(0, per);
        var face = _faces[index / _perIdentity];
        var rng = new Rng(Seeds.Combine(_seed, _sampleKey, (ulong)index));
        var d = Difficulty;

        // Every random number is drawn up front, in a fixed order.
        var pose = new Pose(n,
            roll: rng.Uniform(-0.15, 0.15) * d, scale: 1 + rng.Uniform(-0.08, 0.08) * d,
            shiftX: rng.Uniform(-0.07, 0.07) * d, shiftY: rng.Uniform(-0.07, 0.07) * d,
            yaw: rng.Uniform(-0.4, 0.4) * d, pitch: rng.Uniform(-0.2, 0.2) * d);
        var eyeOpen = Math.Max(0.25, 1 + rng.Uniform(-0.6, 0.1) * d);
        var browRaise = rng.Uniform(-0.02, 0.03) * d;
        var smile = 1 + rng.Uniform(-0.12, 0.15) * d;
        var mouthOpen = Math.Max(0, rng.Uniform(-0.06, 0.05)) * d;
        var hairShift = rng.Uniform(-0.04, 0.04) * d;
        var edge = 0.8 + rng.Uniform(0, 1.2) * d;
        Span<float> background = stackalloc float[3];
        for (var c = 0; c < 3; c++) background[c] = (float)(0.5 + rng.Uniform(-0.3, 0.3) * d);
        var bgSlopeX = rng.Uniform(-0.3, 0.3) * d;
        var bgSlopeY = rng.Uniform(-0.3, 0.3) * d;
        var occluded = rng.Chance(Math.Min(0.9, 0.35 * d));
        var occW = rng.Uniform(0.2, 0.55) * n;
        var occH = rng.Uniform(0.12, 0.4) * n;
        var occX = rng.Uniform(0, 1) * n;
        var occY = rng.Uniform(0, 1) * n;
        Span<float> occColor = stackalloc float[3];
        for (var c = 0; c < 3; c++) occColor[c] = (float)rng.Uniform(0.1, 0.9);
        var contrast = (float)(1 + rng.Uniform(-0.25, 0.25) * d);
        var brightness = (float)(rng.Uniform(-0.1, 0.1) * d);
        var shadeAngle = rng.Uniform(0, 2 * Math.PI);
        var shade = rng.Uniform(0, 0.5) * d;
        Span<float> gain = stackalloc float[3];
        for (var c = 0; c < 3; c++) gain[c] = (float)(1 + rng.Uniform(-0.08, 0.08) * d);
        var noise = (float)(0.03 * d);

        // Background: a colour and a gradient.
        for (var c = 0; c < 3; c++)
        {
            var p = v.Slice(c * plane, plane);
            for (var y = 0; y < n; y++)
            {
                var row = (float)(background[c] + bgSlopeY * (y / (double)n - 0.5));
                for (var x = 0; x < n; x++) p[y * n + x] = row + (float)(bgSlopeX * (x / (double)n - 0.5));
            }
        }

        // The face, back to front. Face coordinates: the image's half size is 1, y points down.
        var f = face;
        var hairTop = f.HairTop + hairShift;
        var hairBottom = f.FaceY - 0.1 + f.HairLength * 0.9;
        var hairAbove = Clip.Below(pose, hairBottom, 0, -0.2, keepAbove: true);
        Paint(v, pose, 0, f.FaceY - 0.06, -0.2, f.FaceW + f.HairVolume, f.FaceH + f.HairVolume, 0, f.Hair, 1, edge, hairAbove);
        Paint(v, pose, 0, f.FaceY, 0, f.FaceW, f.FaceH * 0.92, 0, f.Skin, 1, edge, null);
        Paint(v, pose, 0, f.FaceY + 0.3 * f.FaceH, 0, f.FaceW * f.Jaw, f.FaceH * 0.68, 0, f.Skin, 1, edge, null);
        var fringe = Clip.Below(pose, hairTop, f.HairSide, 0, keepAbove: true);
        Paint(v, pose, 0, f.FaceY - 0.02, 0, f.FaceW + 0.03, f.FaceH + 0.02, 0, f.Hair, 1, edge, fringe);
        if (f.Beard > 0)
        {
            var chin = Clip.Below(pose, f.FaceY + f.MouthY - 0.06, 0, 0.2, keepAbove: false);
            Paint(v, pose, 0, f.FaceY + 0.45 * f.FaceH, 0.1, f.FaceW * f.Jaw * 0.97, f.FaceH * 0.5, 0, f.BeardColor, 0.85 * f.Beard, edge, chin);
        }
        for (var side = -1; side <= 1; side += 2)
        {
            var ex = side * f.EyeGap;
            var ey = f.FaceY + f.EyeY;
            Paint(v, pose, ex, ey - f.BrowGap - browRaise, 0.3, f.BrowW, f.BrowH, side * f.BrowTilt, f.Brow, 1, edge, null);
            Paint(v, pose, ex, ey, 0.25, f.EyeW, f.EyeH * eyeOpen, side * f.EyeTilt, Sclera, 1, edge, null);
            Paint(v, pose, ex, ey, 0.28, f.EyeH * 0.85, f.EyeH * 0.85 * eyeOpen, 0, f.Iris, 1, edge, null);
        }
        var noseTop = f.FaceY + f.EyeY + 0.03;
        Paint(v, pose, 0, noseTop + f.NoseLen / 2, 0.45, f.NoseW, f.NoseLen / 2, 0, f.NoseShade, f.NoseDark, edge * 1.5, null);
        Paint(v, pose, 0, noseTop + f.NoseLen, 0.6, f.NoseW * 1.2, 0.025, 0, f.NoseShade, Math.Min(1, f.NoseDark * 2), edge, null);
        var my = f.FaceY + f.MouthY;
        Paint(v, pose, 0, my, 0.3, f.MouthW * smile, f.MouthH + mouthOpen, 0, f.Lips, 1, edge, null);
        if (mouthOpen > 0.004) Paint(v, pose, 0, my, 0.3, f.MouthW * smile * 0.75, mouthOpen, 0, MouthInside, 1, edge, null);
        foreach (var m in f.Marks)
            if (m.Strength > 0) Paint(v, pose, m.X, f.FaceY + m.Y, 0.3, m.Size, m.Size, 0, MarkColor, m.Strength, edge, null);

        // An occluder in front of the face.
        if (occluded)
        {
            int x0 = Math.Max(0, (int)(occX - occW / 2)), x1 = Math.Min(n, (int)(occX + occW / 2));
            int y0 = Math.Max(0, (int)(occY - occH / 2)), y1 = Math.Min(n, (int)(occY + occH / 2));
            for (var c = 0; c < 3; c++)
                for (var y = y0; y < y1; y++) v.Slice(c * plane + y * n + x0, Math.Max(0, x1 - x0)).Fill(occColor[c]);
        }

        // Lighting, noise and quantisation: x ↦ ((x - ½)·contrast + ½ + brightness) · shading · gain + noise.
        var (sin, cos) = Math.SinCos(shadeAngle);
        float shadeX = (float)(shade * cos / n), shadeY = (float)(shade * sin / n), shade0 = (float)(1 - shade * (cos + sin) * (n - 1) / (2.0 * n));
        for (var c = 0; c < 3; c++)
        {
            var p = v.Slice(c * plane, plane);
            var output = destination.Slice(c * plane, plane);
            var scale = contrast * gain[c];
            var offset = (0.5f - 0.5f * contrast + brightness) * gain[c];
            for (var y = 0; y < n; y++)
            {
                var rowLight = shade0 + shadeY * y;
                for (var x = 0; x < n; x++)
                {
                    var i = y * n + x;
                    var value = (p[i] * scale + offset) * (rowLight + shadeX * x);
                    if (noise > 0) value += noise * rng.FastGaussian();
                    var q = MathF.Round(value * 255f);
                    output[i] = (byte)(q < 0 ? 0 : q > 255 ? 255 : q);
                }
            }
        }
    }

    private static readonly float[] Sclera = [0.92f, 0.92f, 0.88f];
    private static readonly float[] MouthInside = [0.25f, 0.06f, 0.06f];
    private static readonly float[] MarkColor = [0.28f, 0.17f, 0.12f];

    /// <summary>
    /// Blends a soft-edged ellipse into the image: centre (x, y) at depth z and radii in face units, rotated
    /// by <paramref name="angle"/>, with opacity ramping from 1 to 0 over <paramref name="edge"/> pixels
    /// across its border (a first-order distance to the ellipse), optionally cut by a half-plane.
    /// </summary>
    private void Paint(Span<float> v, in Pose pose, double x, double y, double z, double rx, double ry, double angle,
        float[] color, double opacity, double edge, Clip? clip)
    {
        var n = _size;
        var (cx, cy) = pose.Map(x, y, z);
        var ax = Math.Max(0.35, rx * pose.UnitX);
        var ay = Math.Max(0.35, ry * pose.Unit);
        var (sin, cos) = Math.SinCos(angle + pose.Roll);
        var reach = Math.Max(ax, ay) + edge;
        int x0 = Math.Max(0, (int)Math.Floor(cx - reach)), x1 = Math.Min(n - 1, (int)Math.Ceiling(cx + reach));
        int y0 = Math.Max(0, (int)Math.Floor(cy - reach)), y1 = Math.Min(n - 1, (int)Math.Ceiling(cy + reach));
        if (x0 > x1 || y0 > y1) return;
        double ix = 1 / ax, iy = 1 / ay, ix2 = ix * ix, iy2 = iy * iy, inverseEdge = 1 / edge;
        // The gradient of the normalised radius is at most 1 / min radius, so the signed distance
        // (r - 1) / |∇r| is fully inside (alpha 1) below r = 1 - half an edge · that bound, and fully outside
        // (alpha 0) above r = 1 + the same: only the ring between needs the gradient.
        var band = 0.5 * edge * Math.Max(ix, iy);
        var inner = Math.Max(0, 1 - band);
        double inner2 = inner * inner, outer2 = (1 + band) * (1 + band);
        var plane = n * n;
        float c0 = color[0], c1 = color[1], c2 = color[2];
        for (var py = y0; py <= y1; py++)
        {
            var dy = py - cy;
            for (var px = x0; px <= x1; px++)
            {
                var dx = px - cx;
                var u = cos * dx + sin * dy;
                var w = -sin * dx + cos * dy;
                var r2 = u * u * ix2 + w * w * iy2;
                if (r2 >= outer2) continue;
                double alpha;
                if (r2 <= inner2) alpha = 1;
                else
                {
                    var r = Math.Sqrt(r2);
                    var gradient = Math.Sqrt(u * u * ix2 * ix2 + w * w * iy2 * iy2) / r;
                    alpha = Math.Clamp(0.5 - (r - 1) / gradient * inverseEdge, 0, 1);
                }
                if (clip is { } k) alpha *= Math.Clamp(0.5 - (k.A * px + k.B * py + k.C) * inverseEdge, 0, 1);
                alpha *= opacity;
                if (alpha <= 0) continue;
                var a = (float)alpha;
                var i = py * n + px;
                v[i] += a * (c0 - v[i]);
                v[plane + i] += a * (c1 - v[plane + i]);
                v[2 * plane + i] += a * (c2 - v[2 * plane + i]);
            }
        }
    }

    /// <summary>A sample's head pose: maps face coordinates (x, y, depth z) to pixels.</summary>
    private readonly struct Pose
    {
        private readonly double _cos, _sin, _centre, _shiftX, _shiftY, _yaw, _pitch, _squeeze;

        public Pose(int size, double roll, double scale, double shiftX, double shiftY, double yaw, double pitch)
        {
            Roll = roll;
            (_sin, _cos) = Math.SinCos(roll);
            Unit = size / 2.0 * scale;
            _squeeze = 1 - 0.15 * Math.Abs(yaw);
            UnitX = Unit * _squeeze;
            _centre = (size - 1) / 2.0;
            _shiftX = shiftX * size / 2.0;
            _shiftY = shiftY * size / 2.0;
            _yaw = yaw;
            _pitch = pitch;
        }

        public double Roll { get; }

        /// <summary>Pixels per face unit.</summary>
        public double Unit { get; }

        /// <summary>Pixels per face unit across the face (foreshortened by the yaw).</summary>
        public double UnitX { get; }

        public (double X, double Y) Map(double x, double y, double z)
        {
            var fx = x * _squeeze + _yaw * z;
            var fy = y + _pitch * z;
            return (_centre + _shiftX + Unit * (_cos * fx - _sin * fy), _centre + _shiftY + Unit * (_sin * fx + _cos * fy));
        }
    }

    /// <summary>A half-plane in pixels: a point is kept where A·x + B·y + C &lt; 0 (softly, over the edge width).</summary>
    private readonly record struct Clip(double A, double B, double C)
    {
        /// <summary>
        /// The line through (-1, y - tilt) and (1, y + tilt) in face coordinates at depth z, mapped by the pose;
        /// keeps the side above it (smaller y) or below it.
        /// </summary>
        public static Clip Below(in Pose pose, double y, double tilt, double z, bool keepAbove)
        {
            var (x1, y1) = pose.Map(-1, y - tilt, z);
            var (x2, y2) = pose.Map(1, y + tilt, z);
            // The line's normal (scaled to one pixel per pixel of distance).
            double nx = y2 - y1, ny = -(x2 - x1);
            var length = Math.Sqrt(nx * nx + ny * ny);
            nx /= length;
            ny /= length;
            var c = -(nx * x1 + ny * y1);
            var (ox, oy) = pose.Map(0, y + (keepAbove ? -1 : 1), z);
            return nx * ox + ny * oy + c < 0 ? new Clip(nx, ny, c) : new Clip(-nx, -ny, -c);
        }
    }

    // ---- identities --------------------------------------------------------------------------------

    private sealed record Mark(double X, double Y, double Size, double Strength);

    /// <summary>One identity's traits, in face units (the image's half size is 1).</summary>
    private sealed class Face
    {
        public float[] Skin = [], Hair = [], BeardColor = [], Brow = [], Iris = [], Lips = [], NoseShade = [];
        public double FaceY, FaceW, FaceH, Jaw, HairTop, HairVolume, HairSide, HairLength, Beard;
        public double EyeY, EyeGap, EyeW, EyeH, EyeTilt, BrowGap, BrowW, BrowH, BrowTilt;
        public double NoseLen, NoseW, NoseDark, MouthY, MouthW, MouthH;
        public Mark[] Marks = [];

        private static readonly ulong FamilyStream = Seeds.Name("face-family");
        private static readonly ulong PersonStream = Seeds.Name("face-person");

        /// <summary>The traits (lo, hi) in draw order; a family draws a centre in each range, its people scatter around it.</summary>
        private static readonly (double Lo, double Hi)[] Ranges =
        [
            (0, 1), (-1, 1),                     // 0 skin tone (light to dark), 1 warmth
            (0.50, 0.66), (0.66, 0.84), (0.0, 0.08), (0.68, 1.0), // 2 face width, 3 height, 4 vertical offset, 5 jaw width
            (0, 1), (0, 1),                      // 6 hair tone (dark to light), 7 hair redness
            (-0.66, -0.30), (0.02, 0.2), (-0.2, 0.2), (0, 0.9), // 8 hairline, 9 volume, 10 parting tilt, 11 length
            (-1.2, 0.8),                         // 12 beard (density where positive)
            (-0.22, -0.04), (0.20, 0.32), (0.07, 0.12), (0.035, 0.065), (-0.2, 0.2), // 13 eye height, 14 half-spacing, 15 width, 16 height, 17 tilt
            (0, 1), (0, 1),                      // 18 iris lightness, 19 iris hue (blue to green)
            (0.07, 0.15), (0.09, 0.16), (0.015, 0.04), (-0.35, 0.35), (0.2, 0.9), // 20 brow gap, 21 width, 22 height, 23 tilt, 24 darkness
            (0.12, 0.28), (0.035, 0.08), (0.1, 0.3), // 25 nose length, 26 width, 27 shading
            (0.28, 0.48), (0.11, 0.22), (0.02, 0.05), (0, 1), // 28 mouth height, 29 half-width, 30 thickness, 31 lip redness
            (-0.4, 0.4), (-0.15, 0.5), (0.02, 0.05), (-0.4, 0.6), // 32-35 mark 1: x, y, size, strength (where positive)
            (-0.4, 0.4), (-0.15, 0.5), (0.02, 0.05), (-0.4, 0.6), // 36-39 mark 2
        ];

        public static Face Draw(ulong seed, ulong people, int identity, int familySize)
        {
            var family = identity / familySize;
            var familyRng = new Rng(Seeds.Combine(seed, people, FamilyStream, (ulong)family));
            var personRng = new Rng(Seeds.Combine(seed, people, PersonStream, (ulong)identity));
            var t = new double[Ranges.Length];
            for (var k = 0; k < t.Length; k++)
            {
                var (lo, hi) = Ranges[k];
                var centre = familyRng.Uniform(lo, hi);
                t[k] = familySize == 1 ? centre : Reflect(centre + Spread * (hi - lo) * personRng.Gaussian(), lo, hi);
            }

            var tone = t[0];
            var warmth = t[1];
            float[] Mix(double a0, double a1, double a2, double b0, double b1, double b2, double m) =>
                [(float)(a0 + (b0 - a0) * m), (float)(a1 + (b1 - a1) * m), (float)(a2 + (b2 - a2) * m)];
            var skin = Mix(0.93, 0.78, 0.67, 0.36, 0.23, 0.16, tone);
            skin[0] += (float)(0.04 * warmth);
            skin[2] -= (float)(0.04 * warmth);
            var hair = Mix(0.13, 0.1, 0.08, 0.85, 0.72, 0.45, t[6] * t[6]);
            hair[0] += (float)(0.35 * t[7] * (1 - 0.5 * t[6]));
            hair[1] += (float)(0.08 * t[7]);
            for (var c = 0; c < 3; c++) hair[c] = Math.Clamp(hair[c], 0f, 1f);
            var light = Mix(0.35, 0.5, 0.75, 0.35, 0.55, 0.35, t[19]); // blue to green
            var iris = Mix(0.25, 0.15, 0.08, light[0], light[1], light[2], t[18] * t[18]); // from dark brown
            var brow = Mix(hair[0], hair[1], hair[2], 0.1, 0.08, 0.06, t[24]);
            var lips = Mix(skin[0] * 0.8, skin[1] * 0.55, skin[2] * 0.55, 0.72, 0.18, 0.22, 0.3 + 0.5 * t[31]);
            float[] noseShade = [skin[0] * 0.55f, skin[1] * 0.45f, skin[2] * 0.45f];
            float[] beard = [hair[0] * 0.8f, hair[1] * 0.8f, hair[2] * 0.8f];
            return new Face
            {
                Skin = skin, Hair = hair, Iris = iris, Brow = brow, Lips = lips, NoseShade = noseShade, BeardColor = beard,
                FaceW = t[2], FaceH = t[3], FaceY = t[4], Jaw = t[5],
                HairTop = t[8], HairVolume = t[9], HairSide = t[10], HairLength = t[11], Beard = Math.Max(0, t[12]),
                EyeY = t[13], EyeGap = t[14], EyeW = t[15], EyeH = t[16], EyeTilt = t[17],
                BrowGap = t[20], BrowW = t[21], BrowH = t[22], BrowTilt = t[23],
                NoseLen = t[25], NoseW = t[26], NoseDark = t[27],
                MouthY = t[28], MouthW = t[29], MouthH = t[30],
                Marks = [new Mark(t[32], t[33], t[34], Math.Max(0, t[35])), new Mark(t[36], t[37], t[38], Math.Max(0, t[39]))],
            };
        }

        /// <summary>Folds a value back into [lo, hi] (a mirror at each end), so a family near an end keeps its spread.</summary>
        private static double Reflect(double x, double lo, double hi)
        {
            var width = hi - lo;
            var u = (x - lo) % (2 * width);
            if (u < 0) u += 2 * width;
            return lo + (u <= width ? u : 2 * width - u);
        }
    }
}
