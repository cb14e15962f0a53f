namespace Distill.Data.Tests;

/// <summary><see cref="CuhkSysuScenes"/> (and so <see cref="PersonSearchScenes"/>) on <see cref="CuhkSysuTests"/>' small data set with PPM images.</summary>
public class PersonSearchScenesTests
{
    private static void WriteImages(TempDir dir, params string[] names)
    {
        var ssm = dir["cuhk/Image/SSM"];
        Directory.CreateDirectory(ssm);
        foreach (var name in names)
        {
            // 160 wide, 120 high; the pixel values name the image so a batch shows which file it read.
            var pixels = Enumerable.Repeat((byte)name[0], 3 * 120 * 160).ToArray();
            Pnm.Write(Path.Combine(ssm, Path.ChangeExtension(name, ".ppm")), pixels, 3, 120, 160);
        }
    }

    [Fact]
    public void The_training_split_gives_boxes_with_identities_and_the_test_split_its_queries()
    {
        using var dir = new TempDir();
        CuhkSysuTests.Write(dir);
        WriteImages(dir, "a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg");
        using var train = new CuhkSysuScenes(dir["cuhk"], "train", gallery_size: 2);
        Assert.Equal(2, train.Count);
        Assert.Equal(1, train.Identities);
        Assert.Empty(train.Queries);
        var a = train.Target(0);
        Assert.Equal((120, 160), (a.Height, a.Width));
        Assert.Equal([0, -1], a.Objects.Select(o => o.PersonId));
        Assert.Equal([1, 1], a.Objects.Select(o => o.Label));
        Assert.Equal(new DetectionObject(100, 20, 130, 90, 1, PersonId: -1), a.Objects[1]);
        using (var batch = train.Collate([0, 1]))
        {
            Assert.Equal(new long[] { 0, -1 }, batch.person_id[0].ToArray<long>());
            Assert.Equal(new long[] { 0 }, batch.person_id[1].ToArray<long>());
            Assert.Equal((byte)'a', batch.image.ToArray<byte>()[0]);
        }

        using var test = new CuhkSysuScenes(dir["cuhk"], "test", gallery_size: 2);
        Assert.Equal(["c.jpg", "d.jpg", "e.jpg"], Enumerable.Range(0, test.Count).Select(i => test.ImageName(i)));
        var q = Assert.Single(test.Queries);
        Assert.Equal("c.jpg", q.Image);
        Assert.Equal([-1, 0], test.Target(1).Objects.Select(o => o.PersonId));
        Assert.Equal(1, test.Identities);
    }

    [Fact]
    public void A_missing_image_an_unknown_split_and_a_box_outside_its_image_are_clear_errors()
    {
        using var dir = new TempDir();
        CuhkSysuTests.Write(dir);
        WriteImages(dir, "a.jpg", "c.jpg", "d.jpg", "e.jpg");
        var missing = Assert.Throws<DatasetException>(() => new CuhkSysuScenes(dir["cuhk"], "train", gallery_size: 2));
        Assert.Contains("b.jpg' does not exist (nor a PPM/PGM of the same stem", missing.Message);
        Assert.StartsWith("CUHK-SYSU", missing.Message);
        WriteImages(dir, "b.jpg");
        var split = Assert.Throws<ArgumentException>(() => new CuhkSysuScenes(dir["cuhk"], "val", gallery_size: 2));
        Assert.Contains("CUHK-SYSU has the splits \"train\" and \"test\", not \"val\"", split.Message);

        // a's second person spans x 100..130, y 20..90: inside 160×120; in an image of 80×60 it lies outside.
        Pnm.Write(Path.Combine(dir["cuhk/Image/SSM"], "a.ppm"), new byte[3 * 60 * 80], 3, 60, 80);
        using var train = new CuhkSysuScenes(dir["cuhk"], "train", gallery_size: 2);
        var outside = Assert.Throws<DatasetException>(() => train.Target(0));
        Assert.Contains("image 'a.jpg', person 1: the box (100, 20, 130, 90) lies outside the 80×60 image", outside.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => train.ImageName(5));
    }
}
