using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// Pascal VOC detection: <c>root/ImageSets/Main/&lt;split&gt;.txt</c> (one image id a line), <c>root/Annotations/&lt;id&gt;.xml</c>
/// and <c>root/JPEGImages/&lt;id&gt;.jpg</c>. Annotations are read and checked at construction; pixels are decoded per batch.
/// <list type="bullet">
/// <item>Labels 1..20 are the 20 VOC classes in the standard order (<see cref="VocClasses"/>); <c>difficult</c> objects are
/// <c>crowd</c> (VOC's evaluation ignores them; training excludes them).</item>
/// <item>Coordinates: VOC's <c>xmin ymin xmax ymax</c> are 1-based, inclusive pixel indices; a box becomes
/// (xmin − 1, ymin − 1, xmax, ymax) — the 0-based half-open box over the same pixels, the convention of <see cref="DetectionBatch"/>
/// (width xmax − xmin + 1, as VOC's own evaluation counts it). Boxes are clipped to the image (from <c>&lt;size&gt;</c>).</item>
/// <item>Samples follow the split file's order; <c>image_id</c> is the sample index, <see cref="ImageNames"/> the VOC ids.</item>
/// <item>Errors name the file and the element (<see cref="DatasetException.Record"/> is the 1-based line): a missing split file
/// (the available splits are listed), a missing annotation file (named with the split file's line), malformed XML, a missing
/// or non-numeric <c>&lt;size&gt;</c>, <c>&lt;name&gt;</c>, <c>&lt;bndbox&gt;</c> coordinate or <c>&lt;difficult&gt;</c>, an unknown
/// class, a box with xmax &lt; xmin or ymax &lt; ymin or lying wholly outside the image, a missing or undecodable image.</item>
/// </list>
/// Images are read with the project's PPM/PGM decoder: <c>&lt;id&gt;.jpg</c> is read from <c>&lt;id&gt;.ppm</c> (or .pgm) beside it.
/// </summary>
[DistillDataset(Task = "detection")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, *, *")]
[BatchField("image_size", TensorKind.Any, "N, 2")]
[BatchField("boxes", TensorKind.Boxes, "N, *, 4")]
[BatchField("labels", TensorKind.Labels, "N, *", Classes = "20")]
[BatchField("crowd", TensorKind.Mask, "N, *")]
[BatchField("hard", TensorKind.Mask, "N, *")]
[BatchField("image_id", TensorKind.Any, "N")]
public sealed class VocDetection : DetectionDataset
{
    /// <summary>The 20 VOC classes in the standard order: label k is <c>VocClasses[k − 1]</c>.</summary>
    public static IReadOnlyList<string> VocClasses { get; } =
    [
        "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ];

    private sealed record Entry(string Name, string File, string Annotation, DetectionTarget Target);

    private readonly Entry[] _images;

    /// <param name="root">The VOC year directory (<c>VOCdevkit/VOC2007</c>) holding Annotations, ImageSets and JPEGImages.</param>
    /// <param name="split">The split file's name in <c>ImageSets/Main</c>: "train", "val", "trainval" or "test".</param>
    public VocDetection(string root = "data/VOCdevkit/VOC2007", string split = "trainval")
    {
        Root = root;
        var sets = Path.Combine(root, "ImageSets", "Main");
        var splitFile = Path.Combine(sets, split + ".txt");
        SplitFile = splitFile;
        if (!File.Exists(splitFile))
        {
            var available = Directory.Exists(sets)
                ? Directory.GetFiles(sets, "*.txt").Select(f => Path.GetFileNameWithoutExtension(f)).Where(n => !n.Contains('_')).OrderBy(n => n, StringComparer.Ordinal).ToArray()
                : [];
            throw new DatasetException($"VOC split file '{splitFile}' does not exist" +
                (available.Length > 0 ? $" (splits in '{sets}': {string.Join(", ", available)})" : Directory.Exists(root) ? "" : $" (the directory '{root}' does not exist)"), splitFile);
        }
        var lines = File.ReadAllLines(splitFile);
        var entries = new List<Entry>();
        var labelOf = VocClasses.Select((n, k) => (n, k)).ToDictionary(x => x.n, x => x.k + 1, StringComparer.Ordinal);
        for (var line = 0; line < lines.Length; line++)
        {
            var id = lines[line].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (id is null) continue;
            var annotation = Path.Combine(root, "Annotations", id + ".xml");
            if (!File.Exists(annotation))
                throw new DatasetException($"VOC split file '{splitFile}', line {line + 1}: image '{id}' has no annotation file '{annotation}'", splitFile, line + 1);
            var target = ReadAnnotation(annotation, entries.Count, labelOf);
            var (file, problem) = DetectionImageFile.Resolve(Path.Combine(root, "JPEGImages", id + ".jpg"));
            if (file is null) throw new DatasetException($"VOC split file '{splitFile}', line {line + 1}: {problem}", splitFile, line + 1);
            entries.Add(new Entry(id, file, annotation, target));
        }
        _images = entries.ToArray();
    }

    public override int Count => _images.Length;
    public override int Classes => 20;
    public override IReadOnlyList<string> ClassNames => VocClasses;
    public override bool IsVocBenchmark => true;

    public string Root { get; }
    public string SplitFile { get; }

    /// <summary>The VOC id of each sample (<c>000005</c>, <c>2008_000123</c>), in split-file order.</summary>
    public IReadOnlyList<string> ImageNames => _images.Select(e => e.Name).ToArray();

    /// <summary>The image file of each sample (the PPM/PGM actually decoded).</summary>
    public IReadOnlyList<string> Files => _images.Select(e => e.File).ToArray();

    public override DetectionTarget Target(int index)
    {
        CheckIndex(index);
        return _images[index].Target;
    }

    protected override (byte[] Pixels, DetectionTarget Target) Load(int index)
    {
        var e = _images[index];
        return (DetectionImageFile.Read(e.File, e.Target.Height, e.Target.Width, $"its annotation '{e.Annotation}'"), e.Target);
    }

    /// <summary>Reads one annotation file; <paramref name="imageId"/> becomes the target's id.</summary>
    internal static DetectionTarget ReadAnnotation(string file, long imageId, IReadOnlyDictionary<string, int> labelOf)
    {
        XDocument doc;
        try
        {
            doc = XDocument.Load(file, LoadOptions.SetLineInfo);
        }
        catch (XmlException e)
        {
            throw new DatasetException($"VOC annotation '{file}', line {e.LineNumber}: malformed XML: {e.Message}", file, e.LineNumber, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"VOC annotation '{file}' cannot be read: {e.Message}", file, inner: e);
        }
        static int LineOf(XObject x) => x is IXmlLineInfo info && info.HasLineInfo() ? info.LineNumber : 0;
        DatasetException Bad(XObject at, string what) => new($"VOC annotation '{file}', line {LineOf(at)}: {what}", file, LineOf(at));

        var root = doc.Root!;
        if (root.Name.LocalName != "annotation") throw Bad(root, $"expected the root element <annotation>, got <{root.Name.LocalName}>");
        XElement Child(XElement parent, string name, string context) =>
            parent.Element(name) ?? throw Bad(parent, $"{context}<{parent.Name.LocalName}> lacks <{name}>");
        double Number(XElement parent, string name, string context)
        {
            var e = Child(parent, name, context);
            return double.TryParse(e.Value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
                ? v : throw Bad(e, $"{context}<{name}> must be a number, got '{e.Value.Trim()}'");
        }

        var size = Child(root, "size", "");
        var width = Number(size, "width", "");
        var height = Number(size, "height", "");
        if (width < 1 || height < 1 || width != Math.Floor(width) || height != Math.Floor(height))
            throw Bad(size, $"<size> must have positive integer <width> and <height>, got {width.ToString(CultureInfo.InvariantCulture)}×{height.ToString(CultureInfo.InvariantCulture)}");
        var (w, h) = ((int)width, (int)height);

        var objects = new List<DetectionObject>();
        var k = 0;
        foreach (var o in root.Elements("object"))
        {
            k++;
            var nameElement = Child(o, "name", $"<object> {k}: ");
            var name = nameElement.Value.Trim();
            var context = $"<object> {k} ({name}): ";
            if (!labelOf.TryGetValue(name, out var label))
                throw Bad(nameElement, $"<object> {k}: unknown class '{name}' (VOC's classes: {string.Join(", ", VocClasses)})");
            var difficult = false;
            if (o.Element("difficult") is { } d)
            {
                var text = d.Value.Trim();
                difficult = text switch
                {
                    "0" => false,
                    "1" => true,
                    _ => throw Bad(d, $"{context}<difficult> must be 0 or 1, got '{text}'"),
                };
            }
            var box = Child(o, "bndbox", context);
            var (xmin, ymin, xmax, ymax) = (Number(box, "xmin", context), Number(box, "ymin", context), Number(box, "xmax", context), Number(box, "ymax", context));
            if (xmax < xmin || ymax < ymin)
                throw Bad(box, $"{context}<bndbox> has a negative {(xmax < xmin ? $"width (xmin {Inv(xmin)} > xmax {Inv(xmax)})" : $"height (ymin {Inv(ymin)} > ymax {Inv(ymax)})")}");
            var clipped = DetectionImageFile.Clip(xmin - 1, ymin - 1, xmax, ymax, w, h)
                ?? throw Bad(box, $"{context}<bndbox> ({Inv(xmin)}, {Inv(ymin)}, {Inv(xmax)}, {Inv(ymax)}) lies outside the image {w}×{h}");
            objects.Add(new DetectionObject(clipped.X1, clipped.Y1, clipped.X2, clipped.Y2, label, Crowd: difficult));
        }
        return new DetectionTarget(imageId, h, w, objects.ToArray());
    }

    private static string Inv(double v) => v.ToString(CultureInfo.InvariantCulture);
}
