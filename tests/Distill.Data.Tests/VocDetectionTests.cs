namespace Distill.Data.Tests;

public class VocDetectionTests
{
    private static string Annotation(int width, int height, string objects) =>
        $"<annotation>\n  <folder>VOC2007</folder>\n  <filename>x.jpg</filename>\n  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n    <depth>3</depth>\n  </size>\n{objects}</annotation>\n";

    private static string Object(string name, string box, string difficult = "<difficult>0</difficult>") =>
        $"  <object>\n    <name>{name}</name>\n    <pose>Left</pose>\n    <truncated>0</truncated>\n    {difficult}\n    <bndbox>\n{box}    </bndbox>\n  </object>\n";

    private static string Box(string xmin, string ymin, string xmax, string ymax) =>
        $"      <xmin>{xmin}</xmin>\n      <ymin>{ymin}</ymin>\n      <xmax>{xmax}</xmax>\n      <ymax>{ymax}</ymax>\n";

    /// <summary>A VOC layout: ids 000005 (two objects, one difficult) and 000007 (no objects), as PPM beside the .jpg names.</summary>
    private static string Write(TempDir dir, string? first = null)
    {
        File.WriteAllText(dir.File("voc/ImageSets/Main/val.txt"), "000005\n\n000007\n");
        File.WriteAllText(dir.File("voc/ImageSets/Main/train.txt"), "000007\n");
        File.WriteAllText(dir.File("voc/ImageSets/Main/dog_val.txt"), "000005  1\n");
        var path = dir.File("voc/Annotations/000005.xml");
        File.WriteAllText(path, first ?? Annotation(8, 6,
            Object("dog", Box("1", "2", "4", "6")) + Object("person", Box("5.0", "1", "9", "3"), "<difficult>1</difficult>")));
        File.WriteAllText(dir.File("voc/Annotations/000007.xml"), Annotation(4, 4, ""));
        Pnm.Write(dir.File("voc/JPEGImages/000005.ppm"), Enumerable.Repeat((byte)50, 3 * 6 * 8).ToArray(), 3, 6, 8);
        Pnm.Write(dir.File("voc/JPEGImages/000007.pgm"), new byte[16], 1, 4, 4);
        return path;
    }

    [Fact]
    public void Reads_the_split_with_voc_labels_zero_based_boxes_and_difficult_as_crowd()
    {
        using var dir = new TempDir();
        Write(dir);
        using var voc = new VocDetection(dir["voc"], split: "val");
        Assert.Equal(2, voc.Count);
        Assert.Equal(["000005", "000007"], voc.ImageNames);
        Assert.Equal(20, voc.Classes);
        Assert.Equal("aeroplane", voc.ClassNames[0]);
        Assert.Equal("tvmonitor", voc.ClassNames[19]);
        var t = voc.Target(0);
        Assert.Equal((0L, 6, 8), (t.ImageId, t.Height, t.Width));
        // dog (12): (1, 2, 4, 6) -> (0, 1, 4, 6); person (15), difficult: (5, 1, 9, 3) -> (4, 0, 9, 3) clipped to width 8.
        Assert.Equal([new DetectionObject(0, 1, 4, 6, 12), new DetectionObject(4, 0, 8, 3, 15, Crowd: true)], t.Objects);
        Assert.Empty(voc.Target(1).Objects);

        using var batch = voc.Collate([1, 0]);
        Assert.Equal(new long[] { 2, 3, 6, 8 }, batch.image.shape);
        Assert.Equal(new long[] { 1, 0 }, batch.image_id.ToArray<long>());
        Assert.Equal(new long[] { 12, 15 }, batch.labels[1].ToArray<long>());
        Assert.Equal(new[] { false, true }, batch.crowd[1].ToArray<bool>());
        Assert.Equal(new long[] { 0, 4 }, batch.boxes[0].shape);
        using var train = new VocDetection(dir["voc"], split: "train");
        Assert.Equal(["000007"], train.ImageNames);
    }

    public static TheoryData<string, int, string> Errors() => new()
    {
        // the 000005.xml text, the line at fault, the message after "VOC annotation '<path>', line <n>: "
        { Annotation(8, 6, Object("dog", Box("1", "2", "4", "6")).Replace("      <xmax>4</xmax>\n", "")), 14, "<object> 1 (dog): <bndbox> lacks <xmax>" },
        { Annotation(8, 6, Object("dog", Box("1", "2", "x4", "6"))), 17, "<object> 1 (dog): <xmax> must be a number, got 'x4'" },
        { Annotation(8, 6, Object("dogg", Box("1", "2", "4", "6"))), 10, "<object> 1: unknown class 'dogg' (VOC's classes: aeroplane, bicycle," },
        { Annotation(8, 6, Object("cat", Box("1", "1", "2", "2")) + Object("dog", Box("5", "2", "4", "6"))), 26, "<object> 2 (dog): <bndbox> has a negative width (xmin 5 > xmax 4)" },
        { Annotation(8, 6, Object("dog", Box("1", "5", "4", "2"))), 14, "<object> 1 (dog): <bndbox> has a negative height (ymin 5 > ymax 2)" },
        { Annotation(8, 6, Object("dog", Box("10", "2", "12", "6"))), 14, "<object> 1 (dog): <bndbox> (10, 2, 12, 6) lies outside the image 8×6" },
        { Annotation(8, 6, Object("dog", Box("1", "2", "4", "6"), "<difficult>yes</difficult>")), 13, "<object> 1 (dog): <difficult> must be 0 or 1, got 'yes'" },
        { Annotation(8, 6, "  <object>\n    <pose>Left</pose>\n  </object>\n"), 9, "<object> 1: <object> lacks <name>" },
        { Annotation(8, 6, "").Replace("    <height>6</height>\n", ""), 4, "<size> lacks <height>" },
        { Annotation(0, 6, ""), 4, "<size> must have positive integer <width> and <height>, got 0×6" },
        { "<annotation>\n  <size><width>8</width>\n</annotation>\n", 3, "malformed XML: " },
        { "<voc>\n</voc>\n", 1, "expected the root element <annotation>, got <voc>" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Errors_name_the_file_and_the_line(string xml, int line, string message)
    {
        using var dir = new TempDir();
        var path = Write(dir, xml);
        var e = Assert.Throws<DatasetException>(() => new VocDetection(dir["voc"], split: "val"));
        Assert.StartsWith($"VOC annotation '{path}', line {line}: {message}", e.Message);
        Assert.Equal(path, e.Path);
        Assert.Equal(line, e.Record);
    }

    [Fact]
    public void Missing_files_are_named_with_the_split_line()
    {
        using var dir = new TempDir();
        Write(dir);
        var sets = dir["voc/ImageSets/Main"];
        var e = Assert.Throws<DatasetException>(() => new VocDetection(dir["voc"], split: "test"));
        Assert.Equal($"VOC split file '{Path.Combine(sets, "test.txt")}' does not exist (splits in '{sets}': train, val)", e.Message);

        File.Delete(dir["voc/Annotations/000007.xml"]);
        e = Assert.Throws<DatasetException>(() => new VocDetection(dir["voc"], split: "val"));
        Assert.Equal($"VOC split file '{Path.Combine(sets, "val.txt")}', line 3: image '000007' has no annotation file '{dir["voc/Annotations/000007.xml"]}'", e.Message);
        Assert.Equal(3, e.Record);

        Write(dir);
        File.Delete(dir["voc/JPEGImages/000007.pgm"]);
        e = Assert.Throws<DatasetException>(() => new VocDetection(dir["voc"], split: "val"));
        Assert.StartsWith($"VOC split file '{Path.Combine(sets, "val.txt")}', line 3: image '{dir["voc/JPEGImages/000007.jpg"]}' does not exist", e.Message);

        e = Assert.Throws<DatasetException>(() => new VocDetection(dir["nowhere"], split: "val"));
        Assert.EndsWith($"does not exist (the directory '{dir["nowhere"]}' does not exist)", e.Message);

        // A decoded image of another size than <size> says so when its batch loads.
        Write(dir, Annotation(7, 6, ""));
        using var voc = new VocDetection(dir["voc"], split: "val");
        e = Assert.Throws<DatasetException>(() => voc.Collate([0]));
        Assert.Equal($"image '{dir["voc/JPEGImages/000005.ppm"]}' is 8×6 (width × height), but its annotation '{dir["voc/Annotations/000005.xml"]}' says 7×6", e.Message);
    }
}
