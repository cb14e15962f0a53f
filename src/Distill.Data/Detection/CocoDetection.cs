using System.Globalization;
using System.Text.Json;
using Distill.Metadata;

namespace Distill.Data;

/// <summary>
/// COCO object detection: an instances JSON file (<c>images</c>, <c>annotations</c>, <c>categories</c>) and a folder of
/// images. Read at construction (the JSON is checked entirely, every image file is resolved); pixels are decoded per batch.
/// <list type="bullet">
/// <item>Images are the samples in ascending <c>id</c> order (as torchvision's <c>CocoDetection</c> sorts them), images without
/// annotations included; <c>image_id</c> is COCO's id.</item>
/// <item>Categories are mapped to contiguous labels 1..K in ascending <c>id</c> order (COCO's 80 ids 1..90 become 1..80);
/// <see cref="CategoryIds"/>[label − 1] maps back, <see cref="DetectionDataset.ClassNames"/> are the categories' names.
/// K must equal <c>classes</c>.</item>
/// <item><c>bbox</c> [x, y, w, h] becomes (x, y, x + w, y + h), clipped to the image (COCO has boxes that exceed their image by
/// a rounding error); a box with w or h 0 is dropped (as torchvision's detection references do) and counted in
/// <see cref="DroppedBoxes"/>; <c>iscrowd</c> (optional, 0 or 1, default 0) becomes <c>crowd</c>. <c>segmentation</c> and
/// <c>area</c> are not read.</item>
/// <item>Errors name the file and the record (<see cref="DatasetException.Record"/> is the index in its array): missing or
/// mistyped keys, duplicate ids, a box with negative width or height or lying wholly outside its image, a category id not
/// in <c>categories</c>, an image id not in <c>images</c>, a missing or undecodable image file, an image whose size differs
/// from the declared one (when its batch is loaded).</item>
/// </list>
/// Images are read with the project's PPM/PGM decoder: a JPEG named by the file is read from a PPM/PGM of the same stem beside
/// it (see <c>docs/data.md</c>).
/// </summary>
[DistillDataset(Task = "detection")]
[BatchField("image", TensorKind.FeatureMap, "N, 3, *, *")]
[BatchField("image_size", TensorKind.Any, "N, 2")]
[BatchField("boxes", TensorKind.Boxes, "N, *, 4")]
[BatchField("labels", TensorKind.Labels, "N, *", Classes = "classes")]
[BatchField("crowd", TensorKind.Mask, "N, *")]
[BatchField("hard", TensorKind.Mask, "N, *")]
[BatchField("image_id", TensorKind.Any, "N")]
public sealed class CocoDetection : DetectionDataset
{
    private sealed record Entry(string File, DetectionTarget Target);

    private readonly Entry[] _images;
    private readonly string[] _names;

    /// <param name="root">The COCO directory: <c>root/annotations/instances_&lt;split&gt;.json</c> and <c>root/&lt;split&gt;/</c>.</param>
    /// <param name="split">The image folder under <paramref name="root"/> ("train2017", "val2017"); "" for root itself.</param>
    /// <param name="annotations">The instances file; "" for <c>annotations/instances_&lt;split&gt;.json</c>; a relative path not found as
    /// given is looked up in <paramref name="root"/>.</param>
    /// <param name="classes">The number of categories the file must have (80 for COCO).</param>
    public CocoDetection(string root = "data/coco", string split = "val2017", string annotations = "", [HyperParameter(Min = 1)] int classes = 80)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "classes must be at least 1");
        var file = annotations.Length == 0 ? Path.Combine(root, "annotations", $"instances_{split}.json")
            : Path.IsPathRooted(annotations) || File.Exists(annotations) ? annotations : Path.Combine(root, annotations);
        AnnotationFile = file;
        ImageFolder = split.Length == 0 ? root : Path.Combine(root, split);
        if (!File.Exists(file)) throw new DatasetException($"COCO annotation file '{file}' does not exist", file);

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(file), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $" (line {line + 1}, byte {e.BytePositionInLine + 1})" : "";
            throw new DatasetException($"COCO file '{file}' is not valid JSON{where}: {e.Message}", file, e.LineNumber + 1, e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"COCO file '{file}' cannot be read: {e.Message}", file, inner: e);
        }
        using (doc)
        {
            var top = doc.RootElement;
            DatasetException Bad(string what, long? record = null) => new($"COCO file '{file}': {what}", file, record);
            if (top.ValueKind != JsonValueKind.Object) throw Bad($"expected a JSON object at the top, got {Kind(top)}");
            JsonElement Array(string key)
            {
                if (!top.TryGetProperty(key, out var a)) throw Bad($"lacks the top-level key \"{key}\" (an instances file has \"images\", \"annotations\" and \"categories\")");
                if (a.ValueKind != JsonValueKind.Array) throw Bad($"\"{key}\" must be an array, got {Kind(a)}");
                return a;
            }
            var categories = Array("categories");
            var imagesJson = Array("images");
            var annotationsJson = Array("annotations");

            // Categories: contiguous labels in ascending id order.
            var cats = new List<(long Id, string Name)>();
            var index = 0;
            foreach (var c in categories.EnumerateArray())
            {
                var what = $"categories[{index}]";
                var id = Integer(c, "id", what, Bad, index);
                var name = Text(c, "name", what + $" (id {id})", Bad, index);
                if (cats.Any(x => x.Id == id)) throw Bad($"{what}: category id {id} appears twice", index);
                cats.Add((id, name));
                index++;
            }
            cats.Sort((a, b) => a.Id.CompareTo(b.Id));
            if (cats.Count != classes)
                throw Bad($"has {cats.Count} categories ({string.Join(", ", cats.Take(12).Select(c => c.Name))}{(cats.Count > 12 ? ", ..." : "")}), but classes = {classes}");
            var labelOf = new Dictionary<long, int>();
            for (var k = 0; k < cats.Count; k++) labelOf[cats[k].Id] = k + 1;
            _names = cats.Select(c => c.Name).ToArray();
            CategoryIds = cats.Select(c => c.Id).ToArray();

            // Images.
            var images = new List<(long Id, string FileName, int Width, int Height, int Record)>();
            var byId = new Dictionary<long, int>();
            index = 0;
            foreach (var im in imagesJson.EnumerateArray())
            {
                var what = $"images[{index}]";
                var id = Integer(im, "id", what, Bad, index);
                what += $" (id {id})";
                var name = Text(im, "file_name", what, Bad, index);
                var width = Integer(im, "width", what, Bad, index);
                var height = Integer(im, "height", what, Bad, index);
                if (width < 1 || height < 1 || width > int.MaxValue || height > int.MaxValue)
                    throw Bad($"{what}: width and height must be positive integers, got {width}×{height}", index);
                if (!byId.TryAdd(id, images.Count)) throw Bad($"{what}: image id {id} appears twice", index);
                images.Add((id, name, (int)width, (int)height, index));
                index++;
            }

            // Annotations, grouped by image in file order.
            var objects = images.Select(_ => new List<DetectionObject>()).ToArray();
            index = 0;
            foreach (var a in annotationsJson.EnumerateArray())
            {
                var what = $"annotations[{index}]";
                var annotationId = Integer(a, "id", what, Bad, index);
                what += $" (id {annotationId})";
                var imageId = Integer(a, "image_id", what, Bad, index);
                var categoryId = Integer(a, "category_id", what, Bad, index);
                if (!byId.TryGetValue(imageId, out var imageIndex)) throw Bad($"{what}: image_id {imageId} is not in \"images\"", index);
                if (!labelOf.TryGetValue(categoryId, out var label))
                    throw Bad($"{what}: category_id {categoryId} is not in \"categories\" (ids {string.Join(", ", CategoryIds.Take(12))}{(CategoryIds.Count > 12 ? ", ..." : "")})", index);
                if (!a.TryGetProperty("bbox", out var bbox)) throw Bad($"{what}: lacks the key \"bbox\"", index);
                if (bbox.ValueKind != JsonValueKind.Array || bbox.GetArrayLength() != 4 || bbox.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.Number))
                    throw Bad($"{what}: \"bbox\" must be [x, y, width, height] (4 numbers), got {Short(bbox)}", index);
                var v = bbox.EnumerateArray().Select(e => e.GetDouble()).ToArray();
                if (v.Any(x => !double.IsFinite(x))) throw Bad($"{what}: \"bbox\" has a value that is not finite: {Short(bbox)}", index);
                if (v[2] < 0 || v[3] < 0)
                    throw Bad($"{what}: bbox {Short(bbox)} has a negative {(v[2] < 0 ? "width" : "height")} ({(v[2] < 0 ? v[2] : v[3]).ToString(CultureInfo.InvariantCulture)})", index);
                var crowd = false;
                if (a.TryGetProperty("iscrowd", out var isCrowd))
                {
                    if (isCrowd.ValueKind != JsonValueKind.Number || !isCrowd.TryGetInt64(out var c) || c is not (0 or 1))
                        throw Bad($"{what}: \"iscrowd\" must be 0 or 1, got {Short(isCrowd)}", index);
                    crowd = c == 1;
                }
                if (v[2] == 0 || v[3] == 0)
                {
                    DroppedBoxes++;
                    index++;
                    continue;
                }
                var image = images[imageIndex];
                var clipped = DetectionImageFile.Clip(v[0], v[1], v[0] + v[2], v[1] + v[3], image.Width, image.Height)
                    ?? throw Bad($"{what}: bbox {Short(bbox)} lies outside its image {image.Width}×{image.Height} (image id {imageId})", index);
                objects[imageIndex].Add(new DetectionObject(clipped.X1, clipped.Y1, clipped.X2, clipped.Y2, label, crowd));
                index++;
            }

            // Samples in ascending image id, each with its file resolved now.
            var order = Enumerable.Range(0, images.Count).OrderBy(i => images[i].Id).ToArray();
            _images = new Entry[order.Length];
            for (var k = 0; k < order.Length; k++)
            {
                var im = images[order[k]];
                var (path, problem) = DetectionImageFile.Resolve(Path.Combine(ImageFolder, im.FileName));
                if (path is null) throw Bad($"images[{im.Record}] (id {im.Id}): {problem}", im.Record);
                _images[k] = new Entry(path, new DetectionTarget(im.Id, im.Height, im.Width, objects[order[k]].ToArray()));
            }
        }
        Classes = classes;
    }

    public override int Count => _images.Length;
    public override int Classes { get; }
    public override IReadOnlyList<string> ClassNames => _names;

    /// <summary>The COCO category id of each label: <c>CategoryIds[label − 1]</c> (ascending).</summary>
    public IReadOnlyList<long> CategoryIds { get; } = [];

    /// <summary>Boxes of zero width or height left out.</summary>
    public int DroppedBoxes { get; private set; }

    /// <summary>The annotation file read.</summary>
    public string AnnotationFile { get; }

    /// <summary>The folder the image file names are relative to.</summary>
    public string ImageFolder { get; }

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
        return (DetectionImageFile.Read(e.File, e.Target.Height, e.Target.Width, $"COCO file '{AnnotationFile}' (image id {e.Target.ImageId})"), e.Target);
    }

    // ---- JSON helpers -----------------------------------------------------------------------------------

    private static long Integer(JsonElement record, string key, string what, Func<string, long?, DatasetException> bad, int index)
    {
        if (record.ValueKind != JsonValueKind.Object) throw bad($"{what}: expected an object, got {Kind(record)}", index);
        if (!record.TryGetProperty(key, out var value)) throw bad($"{what}: lacks the key \"{key}\"", index);
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var n))
            throw bad($"{what}: \"{key}\" must be an integer, got {Short(value)}", index);
        return n;
    }

    private static string Text(JsonElement record, string key, string what, Func<string, long?, DatasetException> bad, int index)
    {
        if (!record.TryGetProperty(key, out var value)) throw bad($"{what}: lacks the key \"{key}\"", index);
        if (value.ValueKind != JsonValueKind.String) throw bad($"{what}: \"{key}\" must be a string, got {Short(value)}", index);
        return value.GetString()!;
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private static string Short(JsonElement e)
    {
        var text = e.GetRawText();
        return text.Length <= 60 ? text : text[..57] + "...";
    }
}
