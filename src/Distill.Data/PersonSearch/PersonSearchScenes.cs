using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// The scenes of a person-search data set read from disk, as training or evaluation data: the images of one split with their
/// person boxes (class 1) and identities (<see cref="DetectionBatch.person_id"/>), and for an evaluation split the protocol's
/// queries. Images are read with the project's PPM/PGM decoder: <c>s1.jpg</c> is read from <c>s1.ppm</c> beside it (convert
/// once, e.g. ImageMagick's <c>mogrify -format ppm *.jpg</c>); an image's size comes from its header, read when first needed.
/// <c>image_id</c> is the image's index in the split; <see cref="ImageName"/> its file name as the annotations give it.
/// </summary>
public abstract class PersonSearchScenes : DetectionDataset, IPersonSearchData
{
    private readonly PersonSearchImage[] _images;
    private readonly string[] _files;
    private readonly (int Height, int Width)[] _sizes;
    private readonly string _source;

    /// <param name="source">what the images come from, for errors ("CUHK-SYSU 'data/cuhk_sysu'").</param>
    /// <param name="imageDirectory">the directory holding the image files the records name.</param>
    /// <param name="images">the split's images.</param>
    /// <param name="queries">the protocol's queries (none for a training split); their images must be among <paramref name="images"/>.</param>
    /// <param name="identities">the labelled identities (person ids are below it).</param>
    protected PersonSearchScenes(string source, string imageDirectory, IReadOnlyList<PersonSearchImage> images, IReadOnlyList<PersonSearchQuery> queries, int identities)
    {
        _source = source;
        _images = images.ToArray();
        Queries = queries;
        Identities = identities;
        _files = new string[_images.Length];
        _sizes = new (int, int)[_images.Length];
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < _images.Length; i++)
        {
            var (file, problem) = DetectionImageFile.Resolve(Path.Combine(imageDirectory, _images[i].Name));
            _files[i] = file ?? throw new DatasetException($"{source}: {problem}", Path.Combine(imageDirectory, _images[i].Name));
            if (!index.TryAdd(_images[i].Name, i)) throw new DatasetException($"{source}: image '{_images[i].Name}' is listed twice", _files[i]);
            foreach (var id in _images[i].Identities)
                if (id < -1 || id >= identities)
                    throw new DatasetException($"{source}: image '{_images[i].Name}' has a person of identity {id}, outside -1..{identities - 1}", _files[i]);
        }
        foreach (var q in queries)
            if (!index.ContainsKey(q.Image))
                throw new DatasetException($"{source}: query image '{q.Image}' is not among the split's {_images.Length} images", q.Image);
        _imageIndex = index;
    }

    private readonly Dictionary<string, int> _imageIndex;

    public override int Count => _images.Length;
    public override int Classes => 1;
    public override IReadOnlyList<string> ClassNames { get; } = ["person"];
    public int Identities { get; }
    public IReadOnlyList<PersonSearchQuery> Queries { get; }

    /// <summary>The image file decoded for each sample.</summary>
    public IReadOnlyList<string> Files => _files;

    public string ImageName(long imageId) =>
        imageId >= 0 && imageId < _images.Length ? _images[imageId].Name
            : throw new ArgumentOutOfRangeException(nameof(imageId), imageId, $"{_source} has images 0..{_images.Length - 1}");

    /// <summary>The index of the image named <paramref name="name"/>, or -1.</summary>
    public int IndexOf(string name) => _imageIndex.TryGetValue(name, out var i) ? i : -1;

    protected override int LoadParallelism => Math.Max(1, Environment.ProcessorCount / 2);

    public override DetectionTarget Target(int index)
    {
        CheckIndex(index);
        var (height, width) = Size(index);
        var image = _images[index];
        var objects = new List<DetectionObject>(image.Count);
        for (var k = 0; k < image.Count; k++)
        {
            var b = image.Boxes.AsSpan(4 * k, 4);
            var clipped = DetectionImageFile.Clip(b[0], b[1], b[2], b[3], width, height)
                ?? throw new DatasetException($"{_source}: image '{image.Name}', person {k}: the box ({string.Join(", ", b.ToArray())}) lies outside the {width}×{height} image", _files[index]);
            objects.Add(new DetectionObject(clipped.X1, clipped.Y1, clipped.X2, clipped.Y2, 1, PersonId: image.Identities[k]));
        }
        return new DetectionTarget(index, height, width, objects);
    }

    protected override (byte[] Pixels, DetectionTarget Target) Load(int index)
    {
        var target = Target(index);
        return (DetectionImageFile.Read(_files[index], target.Height, target.Width, $"its header (read earlier)"), target);
    }

    private (int Height, int Width) Size(int index)
    {
        // Loader threads ask concurrently; a header read twice is harmless, a torn read of the pair is not.
        lock (_sizes)
            if (_sizes[index].Height > 0) return _sizes[index];
        var (w, h) = Pnm.ReadSize(_files[index]);
        lock (_sizes) return _sizes[index] = (h, w);
    }
}

/// <summary>
/// CUHK-SYSU as person-search scenes (<see cref="CuhkSysu"/>'s annotations; images in <c>root/Image/SSM/</c>): the training split
/// (identities 0 … 5,531) or the test split (the pool, with the queries of the gallery size's protocol).
/// </summary>
[DistillDataset(Task = "detection")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, *, *")]
[BatchField("image_size", TensorKind.Any, "N, 2")]
[BatchField("boxes", TensorKind.Boxes, "N, *, 4")]
[BatchField("labels", TensorKind.Labels, "N, *", Classes = "1")]
[BatchField("crowd", TensorKind.Mask, "N, *")]
[BatchField("hard", TensorKind.Mask, "N, *")]
[BatchField("image_id", TensorKind.Any, "N")]
[BatchField("person_id", TensorKind.Labels, "N, *")]
public sealed class CuhkSysuScenes : PersonSearchScenes
{
    /// <param name="root">the data set's directory (holding <c>annotation/</c> and <c>Image/SSM/</c>).</param>
    /// <param name="split">"train" or "test".</param>
    /// <param name="gallery_size">the test protocol's gallery size (50, 100, 500, 1000, 2000 or 4000).</param>
    public CuhkSysuScenes(string root = "data/cuhk_sysu", string split = "train", int gallery_size = 100)
        : this(new CuhkSysu(root, gallery_size), root, split)
    {
    }

    private CuhkSysuScenes(CuhkSysu annotations, string root, string split)
        : base($"CUHK-SYSU '{root}'", Path.Combine(root, "Image", "SSM"),
            split switch
            {
                "train" => annotations.Train,
                "test" => annotations.Gallery,
                _ => throw new ArgumentException($"CUHK-SYSU has the splits \"train\" and \"test\", not \"{split}\"", nameof(split)),
            },
            split == "test" ? annotations.Queries : [],
            // a test box's identity is the index of the query whose person it is
            split == "test" ? Math.Max(1, annotations.Queries.Count) : annotations.TrainIdentities)
    {
    }
}

/// <summary>
/// PRW as person-search scenes (<see cref="Prw"/>'s annotations; frames in <c>root/frames/</c>): the training split (identities
/// 0 … 481) or the test split (every test frame, with the queries; each query's gallery is every other test frame).
/// </summary>
[DistillDataset(Task = "detection")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, *, *")]
[BatchField("image_size", TensorKind.Any, "N, 2")]
[BatchField("boxes", TensorKind.Boxes, "N, *, 4")]
[BatchField("labels", TensorKind.Labels, "N, *", Classes = "1")]
[BatchField("crowd", TensorKind.Mask, "N, *")]
[BatchField("hard", TensorKind.Mask, "N, *")]
[BatchField("image_id", TensorKind.Any, "N")]
[BatchField("person_id", TensorKind.Labels, "N, *")]
public sealed class PrwScenes : PersonSearchScenes
{
    /// <param name="root">the data set's directory (holding <c>frames/</c>, <c>annotations/</c> and the frame lists).</param>
    /// <param name="split">"train" or "test".</param>
    public PrwScenes(string root = "data/PRW", string split = "train")
        : this(new Prw(root), root, split)
    {
    }

    private PrwScenes(Prw annotations, string root, string split)
        : base($"PRW '{root}'", Path.Combine(root, "frames"),
            split switch
            {
                "train" => annotations.Train,
                "test" => annotations.Gallery,
                _ => throw new ArgumentException($"PRW has the splits \"train\" and \"test\", not \"{split}\"", nameof(split)),
            },
            split == "test" ? annotations.Queries : [],
            // test boxes keep PRW's own identity numbers: the table spans the largest of them
            split == "test" ? Math.Max(1, annotations.Gallery.SelectMany(i => i.Identities).Concat(annotations.Queries.Select(q => q.Identity)).DefaultIfEmpty(0).Max() + 1)
                : annotations.TrainIdentities)
    {
    }
}
