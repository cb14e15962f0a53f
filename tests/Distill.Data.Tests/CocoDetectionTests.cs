namespace Distill.Data.Tests;

public class CocoDetectionTests
{
    private const string Images = """
        [ { "id": 42, "file_name": "b.jpg", "width": 6, "height": 4 },
          { "id": 7, "file_name": "a.ppm", "width": 5, "height": 3 },
          { "id": 9, "file_name": "c.ppm", "width": 4, "height": 4 } ]
        """;

    private const string Categories = """[ { "id": 18, "name": "dog" }, { "id": 1, "name": "person" }, { "id": 3, "name": "car" } ]""";

    /// <summary>A COCO layout with three images (one named .jpg but stored as PPM beside it) and the given annotations.</summary>
    private static string Write(TempDir dir, string annotations, string? images = null, string? categories = null)
    {
        Pnm.Write(dir.File("coco/val/a.ppm"), Enumerable.Range(0, 3 * 3 * 5).Select(i => (byte)i).ToArray(), 3, 3, 5);
        Pnm.Write(dir.File("coco/val/b.ppm"), Enumerable.Repeat((byte)200, 4 * 6).ToArray(), 1, 4, 6);
        Pnm.Write(dir.File("coco/val/c.ppm"), new byte[3 * 16], 3, 4, 4);
        var path = dir.File("coco/annotations/instances_val.json");
        File.WriteAllText(path, $$"""{ "images": {{images ?? Images}}, "annotations": {{annotations}}, "categories": {{categories ?? Categories}} }""");
        return path;
    }

    private const string Good = """
        [ { "id": 1, "image_id": 42, "category_id": 18, "bbox": [1.5, 0, 2, 3], "iscrowd": 0, "area": 6 },
          { "id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 1, 5, 2], "iscrowd": 1 },
          { "id": 3, "image_id": 42, "category_id": 3, "bbox": [4, 2, 5, 5] },
          { "id": 4, "image_id": 42, "category_id": 3, "bbox": [1, 1, 0, 2] } ]
        """;

    [Fact]
    public void Reads_images_in_id_order_with_contiguous_labels_and_clipped_boxes()
    {
        using var dir = new TempDir();
        Write(dir, Good);
        using var coco = new CocoDetection(dir["coco"], split: "val", classes: 3);
        Assert.Equal(3, coco.Count);
        Assert.Equal(["person", "car", "dog"], coco.ClassNames);        // ascending category id: 1, 3, 18 -> labels 1, 2, 3
        Assert.Equal(new long[] { 1, 3, 18 }, coco.CategoryIds);
        Assert.Equal(1, coco.DroppedBoxes);                              // annotation 4 has width 0

        var first = coco.Target(0);                                      // id 7 (ascending ids: 7, 9, 42)
        Assert.Equal((7L, 3, 5), (first.ImageId, first.Height, first.Width));
        Assert.Equal([new DetectionObject(0, 1, 5, 3, 1, Crowd: true)], first.Objects);
        Assert.Empty(coco.Target(1).Objects);                            // id 9: no annotations, still a sample
        var last = coco.Target(2);
        Assert.Equal(42, last.ImageId);
        Assert.Equal([new DetectionObject(1.5f, 0, 3.5f, 3, 3), new DetectionObject(4, 2, 6, 4, 2)], last.Objects); // [4,2,5,5] clipped to 6×4
        Assert.EndsWith("b.ppm", coco.Files[2]);

        using var batch = coco.Collate([2, 0]);
        Assert.Equal(new long[] { 2, 3, 4, 6 }, batch.image.shape);
        Assert.Equal(new long[] { 42, 7 }, batch.image_id.ToArray<long>());
        Assert.Equal(new long[] { 4, 6, 3, 5 }, batch.image_size.ToArray<long>());
        Assert.Equal(new long[] { 3, 2 }, batch.labels[0].ToArray<long>());
        Assert.Equal(new[] { true }, batch.crowd[1].ToArray<bool>());
        Assert.Equal(new[] { false }, batch.hard[1].ToArray<bool>());
        var pixels = batch.image.ToArray<byte>();
        Assert.Equal(200, pixels[2 * 4 * 6 + 3 * 6 + 5]);                // the grey PGM replicated to channel 2
        Assert.Equal(2 * 15 + 2 * 5 + 4, pixels[(1 * 3 + 2) * 24 + 2 * 6 + 4]); // a.ppm channel 2, row 2, column 4
        Assert.Equal(0, pixels[(1 * 3 + 0) * 24 + 0 * 6 + 5]);           // padding right of the 5-wide image
        Assert.Equal(0, pixels[(1 * 3 + 0) * 24 + 3 * 6 + 0]);           // padding below the 3-high image
    }

    [Fact]
    public void The_annotation_file_can_be_given_relative_to_the_root()
    {
        using var dir = new TempDir();
        var path = Write(dir, Good);
        File.Move(path, dir.File("coco/other.json"));
        using var coco = new CocoDetection(dir["coco"], split: "val", annotations: "other.json", classes: 3);
        Assert.Equal(dir["coco/other.json"], coco.AnnotationFile);
        Assert.Equal(3, coco.Count);
    }

    public static TheoryData<string, string?, string?, string, int?> Errors() => new()
    {
        // annotations, images, categories, expected message (after "COCO file '<path>': "), record
        { """[ { "image_id": 42, "category_id": 18, "bbox": [0, 0, 1, 1] } ]""", null, null, "annotations[0]: lacks the key \"id\"", 0 },
        { """[ { "id": 5, "image_id": 42, "category_id": 18, "bbox": [0, 0, 1, 1] }, { "id": 6, "image_id": 42, "category_id": 18 } ]""", null, null,
            "annotations[1] (id 6): lacks the key \"bbox\"", 1 },
        { """[ { "id": 5, "image_id": 42, "category_id": 18, "bbox": [0, 0, -1, 1] } ]""", null, null, "annotations[0] (id 5): bbox [0, 0, -1, 1] has a negative width (-1)", 0 },
        { """[ { "id": 5, "image_id": 42, "category_id": 18, "bbox": [0, 0, 1, -2.5] } ]""", null, null, "annotations[0] (id 5): bbox [0, 0, 1, -2.5] has a negative height (-2.5)", 0 },
        { """[ { "id": 5, "image_id": 42, "category_id": 2, "bbox": [0, 0, 1, 1] } ]""", null, null, "annotations[0] (id 5): category_id 2 is not in \"categories\" (ids 1, 3, 18)", 0 },
        { """[ { "id": 5, "image_id": 43, "category_id": 1, "bbox": [0, 0, 1, 1] } ]""", null, null, "annotations[0] (id 5): image_id 43 is not in \"images\"", 0 },
        { """[ { "id": 5, "image_id": 42, "category_id": 1, "bbox": [7, 0, 1, 1] } ]""", null, null, "annotations[0] (id 5): bbox [7, 0, 1, 1] lies outside its image 6×4 (image id 42)", 0 },
        { """[ { "id": 5, "image_id": 42, "category_id": 1, "bbox": [0, 0, 1] } ]""", null, null, "annotations[0] (id 5): \"bbox\" must be [x, y, width, height] (4 numbers), got [0, 0, 1]", 0 },
        { """[ { "id": 5, "image_id": 42, "category_id": 1, "bbox": [0, 0, 1, 1], "iscrowd": 2 } ]""", null, null, "annotations[0] (id 5): \"iscrowd\" must be 0 or 1, got 2", 0 },
        { """[ { "id": "5", "image_id": 42, "category_id": 1, "bbox": [0, 0, 1, 1] } ]""", null, null, "annotations[0]: \"id\" must be an integer, got \"5\"", 0 },
        { "[]", """[ { "id": 1, "file_name": "a.ppm", "width": 5 } ]""", null, "images[0] (id 1): lacks the key \"height\"", 0 },
        { "[]", """[ { "id": 1, "file_name": "a.ppm", "width": 5, "height": 3 }, { "id": 1, "file_name": "c.ppm", "width": 4, "height": 4 } ]""", null,
            "images[1] (id 1): image id 1 appears twice", 1 },
        { "[]", """[ { "id": 1, "file_name": "a.ppm", "width": 0, "height": 3 } ]""", null, "images[0] (id 1): width and height must be positive integers, got 0×3", 0 },
        { "[]", null, """[ { "id": 1, "name": "person" }, { "id": 1, "name": "dog" }, { "id": 2, "name": "car" } ]""", "categories[1]: category id 1 appears twice", 1 },
        { "[]", null, """[ { "id": 1 } ]""", "categories[0] (id 1): lacks the key \"name\"", 0 },
        { "[]", null, """[ { "id": 1, "name": "person" } ]""", "has 1 categories (person), but classes = 3", null },
        { "[]", """[ { "id": 1, "file_name": "missing.jpg", "width": 5, "height": 3 } ]""", null, "images[0] (id 1): image '", 0 },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Errors_name_the_file_and_the_record(string annotations, string? images, string? categories, string message, int? record)
    {
        using var dir = new TempDir();
        var path = Write(dir, annotations, images, categories);
        var e = Assert.Throws<DatasetException>(() => new CocoDetection(dir["coco"], split: "val", classes: 3));
        Assert.StartsWith($"COCO file '{path}': {message}", e.Message);
        Assert.Equal(path, e.Path);
        Assert.Equal(record, e.Record);
    }

    [Fact]
    public void Structural_and_image_errors_say_what_is_wrong()
    {
        using var dir = new TempDir();
        var path = Write(dir, "[]");
        var e = Assert.Throws<DatasetException>(() => new CocoDetection(dir["coco"], split: "other", classes: 3));
        Assert.Equal($"COCO annotation file '{dir["coco/annotations/instances_other.json"]}' does not exist", e.Message);

        File.WriteAllText(path, """{ "images": [], "categories": [] }""");
        e = Assert.Throws<DatasetException>(() => new CocoDetection(dir["coco"], split: "val", classes: 3));
        Assert.Equal($"COCO file '{path}': lacks the top-level key \"annotations\" (an instances file has \"images\", \"annotations\" and \"categories\")", e.Message);

        File.WriteAllText(path, "{ \"images\": [\n  { \"id\": 1, }\n] }");
        e = Assert.Throws<DatasetException>(() => new CocoDetection(dir["coco"], split: "val", classes: 3));
        Assert.StartsWith($"COCO file '{path}' is not valid JSON (line 2,", e.Message);
        Assert.Equal(2, e.Record);

        // A JPEG with no PPM beside it: named, with what to do.
        Write(dir, "[]", """[ { "id": 1, "file_name": "real.jpg", "width": 5, "height": 3 } ]""");
        File.WriteAllBytes(dir.File("coco/val/real.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0, 0]);
        e = Assert.Throws<DatasetException>(() => new CocoDetection(dir["coco"], split: "val", classes: 3));
        Assert.Equal($"COCO file '{path}': images[0] (id 1): image '{dir["coco/val/real.jpg"]}' is a JPEG file; Distill decodes binary PPM/PGM only: " +
            $"convert it to '{dir["coco/val/real.ppm"]}' (e.g. ImageMagick's 'mogrify -format ppm'), which is then read in its place", e.Message);

        // An image whose size differs from the declared one: reported when its batch is loaded, naming the file.
        Write(dir, "[]", """[ { "id": 1, "file_name": "a.ppm", "width": 6, "height": 3 } ]""");
        using var coco = new CocoDetection(dir["coco"], split: "val", classes: 3);
        e = Assert.Throws<DatasetException>(() => coco.Collate([0]));
        Assert.Equal($"image '{dir["coco/val/a.ppm"]}' is 5×3 (width × height), but COCO file '{path}' (image id 1) says 6×3", e.Message);
        Assert.Equal(dir["coco/val/a.ppm"], e.Path);
    }
}
