namespace Distill.Data.Tests;

/// <summary><see cref="Prw"/> on a small data set in the distributed layout, written with <see cref="MatWriter"/>.</summary>
public class PrwTests
{
    private static void Write(TempDir dir, string queries = "7 50 40 20 50 c1s1_000003\n")
    {
        var w = new MatWriter();
        var root = dir["prw"];
        Directory.CreateDirectory(Path.Combine(root, "annotations"));
        File.WriteAllBytes(Path.Combine(root, "frame_train.mat"), w.File(w.Cell("img_index_train", [2, 1], w.Text("", "c1s1_000001"), w.Text("", "c2s1_000002"))));
        File.WriteAllBytes(Path.Combine(root, "frame_test.mat"), w.File(w.Cell("img_index_test", [3, 1], w.Text("", "c1s1_000003"), w.Text("", "c2s1_000004"), w.Text("", "c3s1_000005"))));
        // n × 5 rows (identity, x, y, w, h), column-major.
        byte[] Rows(string key, params double[][] rows) => w.Matrix(key, MatWriter.MxDouble, [rows.Length, 5],
            w.Element(MatWriter.MiDouble, w.Doubles(Enumerable.Range(0, 5).SelectMany(c => rows.Select(r => r[c])).ToArray())));
        void Frame(string name, string key, params double[][] rows) => File.WriteAllBytes(Path.Combine(root, "annotations", name + ".jpg.mat"), w.File(Rows(key, rows)));
        Frame("c1s1_000001", "box_new", [12, 10, 20, 30, 60], [-2, 100, 20, 30, 70]);
        Frame("c2s1_000002", "anno_file", [3, -4, 5, 40, 80], [12, 60, 0, 20, 50]);
        Frame("c1s1_000003", "box_new", [7, 50, 40, 20, 50]);
        Frame("c2s1_000004", "anno_previous", [7, 0, 0, 25, 60], [-2, 70, 10, 25, 55]);
        Frame("c3s1_000005", "box_new", [9, 30, 30, 30, 60]);
        File.WriteAllText(Path.Combine(root, "query_info.txt"), queries);
    }

    [Fact]
    public void Reads_the_frames_their_identities_and_the_queries_over_every_other_test_frame()
    {
        using var dir = new TempDir();
        Write(dir);
        var data = new Prw(dir["prw"]);
        Assert.Equal(2, data.TrainIdentities);                              // PRW ids 3 and 12 → 0 and 1
        Assert.Equal(["c1s1_000001.jpg", "c2s1_000002.jpg"], data.Train.Select(i => i.Name));
        Assert.Equal([1, -1], data.Train[0].Identities);
        Assert.Equal([0, 1], data.Train[1].Identities);
        Assert.Equal([0, 5, 40, 85, 60, 0, 80, 50], data.Train[1].Boxes);   // x -4 clipped to 0 before x2 = x + w
        Assert.Equal([7, -1], data.Gallery[1].Identities);                  // test boxes keep PRW's id
        var q = Assert.Single(data.Queries);
        Assert.Equal(("c1s1_000003.jpg", 7), (q.Image, q.Identity));
        Assert.Equal([50, 40, 70, 90], q.Box);
        Assert.Equal(["c2s1_000004.jpg", "c3s1_000005.jpg"], q.Gallery.Select(g => g.Image)); // every test frame but its own
        Assert.Equal([0, 0, 25, 60], q.Gallery[0].Box!);
        Assert.Null(q.Gallery[1].Box);
    }

    [Fact]
    public void Bad_query_lines_and_missing_files_are_errors_naming_the_file_and_line()
    {
        using var dir = new TempDir();
        Assert.Contains("PRW directory", Assert.Throws<DatasetException>(() => new Prw(dir["nowhere"])).Message);
        Write(dir, "7 50 40 20 50 c1s1_000003\n7 50 forty 20 50 c1s1_000003\n");
        Assert.EndsWith("query_info.txt': line 2 is not 'identity x y w h frame': '7 50 forty 20 50 c1s1_000003'", Assert.Throws<DatasetException>(() => new Prw(dir["prw"])).Message);
        Write(dir, "7 50 40 20 50 c1s1_000001\n");
        Assert.EndsWith("line 1: frame 'c1s1_000001.jpg' is not a test frame (frame_test.mat)", Assert.Throws<DatasetException>(() => new Prw(dir["prw"])).Message);
        File.Delete(Path.Combine(dir["prw"], "annotations", "c3s1_000005.jpg.mat"));
        Assert.Contains("c3s1_000005.jpg.mat' does not exist", Assert.Throws<DatasetException>(() => new Prw(dir["prw"])).Message);
    }
}
