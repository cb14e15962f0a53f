namespace Distill.Data.Tests;

/// <summary><see cref="CuhkSysu"/> on a small data set in the distributed layout, written with <see cref="MatWriter"/>.</summary>
public class CuhkSysuTests
{
    private static byte[] Box(MatWriter w, params double[] xywh) => w.Row("", xywh);

    /// <summary>
    /// Images a, b (training) and c, d, e (the test pool): a has p0 and an unlabelled person, b has p0 and a box of width 0
    /// (dropped); c has the query's person, d has it too beside someone unlabelled, e has nobody the query looks for.
    /// </summary>
    internal static void Write(TempDir dir, double[]? trainBoxInB = null)
    {
        var w = new MatWriter();
        var root = dir["cuhk/annotation"];
        Directory.CreateDirectory(Path.Combine(root, "test", "train_test"));
        byte[] Person(params double[] xywh) => [.. Box(w, xywh), .. w.Row("", 0)]; // idlocate, ishard
        string[] boxFields = ["idlocate", "ishard"];
        byte[] Image(string name, params double[][] people) =>
            [.. w.Text("", name), .. w.Row("", people.Length), .. w.Struct("", [1, people.Length], boxFields, people.Select(p => new[] { Person(p) }).ToArray())];
        File.WriteAllBytes(Path.Combine(root, "Images.mat"), w.File(w.Struct("Img", [1, 5], ["imname", "nAppear", "box"],
            [Image("a.jpg", [10, 20, 30, 60], [100, 20, 30, 70])],
            [Image("b.jpg", [5, 5, 40, 80], [60, 0, 0, 50])],
            [Image("c.jpg", [50, 40, 20, 50])],
            [Image("d.jpg", [0, 0, 25, 60], [70, 10, 25, 55])],
            [Image("e.jpg", [30, 30, 30, 60])])));
        File.WriteAllBytes(Path.Combine(root, "pool.mat"), w.File(w.Cell("pool", [3, 1], w.Text("", "c.jpg"), w.Text("", "d.jpg"), w.Text("", "e.jpg"))));
        string[] sceneFields = ["imname", "idlocate", "ishard"];
        // The third entry points at b's zero-width box, which Images.mat's reading dropped: it labels nothing.
        var scene = w.Struct("", [1, 3], sceneFields,
            [w.Text("", "a.jpg"), Box(w, 10, 20, 30, 60), w.Row("", 0)],
            [w.Text("", "b.jpg"), Box(w, trainBoxInB ?? [5, 5, 40, 80]), w.Row("", 0)],
            [w.Text("", "b.jpg"), Box(w, 60, 0, 0, 50), w.Row("", 0)]);
        File.WriteAllBytes(Path.Combine(root, "test", "train_test", "Train.mat"), w.File(w.Cell("Train", [1, 1],
            w.Struct("", [1, 1], ["idname", "nAppear", "scene"], [w.Text("", "p00001"), w.Row("", 2), scene]))));
        var query = w.Struct("", [1, 1], ["imname", "idlocate", "ishard", "idname"], [w.Text("", "c.jpg"), Box(w, 50, 40, 20, 50), w.Row("", 0), w.Text("", "p00002")]);
        var gallery = w.Struct("", [1, 2], sceneFields,
            [w.Text("", "d.jpg"), Box(w, 70, 10, 25, 55), w.Row("", 0)],
            [w.Text("", "e.jpg"), w.Row(""), w.Row("", 0)]);
        File.WriteAllBytes(Path.Combine(root, "test", "train_test", "TestG2.mat"), w.File(w.Struct("TestG2", [1, 1], ["Query", "Gallery"], [query, gallery])));
    }

    [Fact]
    public void Reads_the_training_identities_the_pool_and_the_queries_with_their_galleries()
    {
        using var dir = new TempDir();
        Write(dir);
        var data = new CuhkSysu(dir["cuhk"], gallerySize: 2);
        Assert.Equal(1, data.TrainIdentities);
        Assert.Equal(["a.jpg", "b.jpg"], data.Train.Select(i => i.Name));
        Assert.Equal([0, -1], data.Train[0].Identities);
        Assert.Equal([10, 20, 40, 80, 100, 20, 130, 90], data.Train[0].Boxes); // x, y, w, h → x1, y1, x2, y2
        Assert.Equal([0], data.Train[1].Identities);                           // the zero-width box is dropped
        Assert.Equal(["c.jpg", "d.jpg", "e.jpg"], data.Gallery.Select(i => i.Name));
        Assert.Equal([-1, 0], data.Gallery[1].Identities);                     // the query's person in d, someone unlabelled
        var q = Assert.Single(data.Queries);
        Assert.Equal("c.jpg", q.Image);
        Assert.Equal([50, 40, 70, 90], q.Box);
        Assert.Equal(0, q.Identity);
        Assert.Equal(["d.jpg", "e.jpg"], q.Gallery.Select(g => g.Image));
        Assert.Equal([70, 10, 95, 65], q.Gallery[0].Box!);
        Assert.Null(q.Gallery[1].Box);
    }

    [Fact]
    public void Missing_files_and_inconsistent_annotations_are_errors_naming_the_file_and_record()
    {
        using var dir = new TempDir();
        Assert.Contains("CUHK-SYSU directory", Assert.Throws<DatasetException>(() => new CuhkSysu(dir["nowhere"])).Message);
        Write(dir);
        var missing = Assert.Throws<DatasetException>(() => new CuhkSysu(dir["cuhk"], gallerySize: 100));
        Assert.Contains("TestG100.mat' does not exist", missing.Message);
        Write(dir, trainBoxInB: [5, 5, 41, 80]);
        var e = Assert.Throws<DatasetException>(() => new CuhkSysu(dir["cuhk"], gallerySize: 2));
        Assert.EndsWith("Train.mat': Train{1}.scene(2): box (5, 5, 41, 80) is not one of the 1 boxes Images.mat lists for 'b.jpg'", e.Message);
    }
}
