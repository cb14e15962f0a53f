using System.Text.Json;

namespace Distill.Runtime.Tests;

public class PersonSearchEvaluationTests
{
    private static PersonSearchEvaluator.GalleryEntry At(string image, params double[] box) => new(image, box.Length == 0 ? null : box);

    /// <summary>
    /// One query (embedding (1, 0)) and three gallery images, 2-d embeddings:
    ///   A holds the person at (0, 0, 40, 100); d1 on it exactly (score .9, similarity .8), d2 elsewhere (.9, similarity 1).
    ///   B holds the person small, (10, 10, 20, 30): its IoU threshold is min(.5, 200 / (20 · 30)) = 1/3; d3 (10, 18, 20, 38)
    ///     overlaps it by 120 / 280 = .43 (score .8, similarity .6): a match for search, not for detection (IoU .5).
    ///   C does not hold the person: d4 (score .7, similarity 0), d5 (score .3, below the detection threshold: dropped).
    /// Search, most similar first: d2 F, d1 T, d3 T, d4 F. AP = .5 · 1/2 (at .8) + .5 · 2/3 (at .6) = 7/12; recall 2/2.
    /// top-1 0 (d2), top-5 1. Detection: d1 matches A's box, nothing else; AP over d1 .9 T, d2 .9 F, d3 .8 F, d4 .7 F = 1/2
    /// (both .9s are one threshold), × recall 1/2 = 1/4.
    /// </summary>
    [Fact]
    public void A_hand_computed_query_and_gallery()
    {
        var e = new PersonSearchEvaluator(embeddingSize: 2, topK: [1, 5]);
        e.AddGalleryImage("A", [0, 0, 40, 100, 100, 0, 140, 100], [0.9, 0.9], [0.8f, 0.6f, 1f, 0f], [0, 0, 40, 100]);
        e.AddGalleryImage("B", [10, 18, 20, 38], [0.8], [0.6f, 0.8f], [10, 10, 20, 30]);
        e.AddGalleryImage("C", [50, 50, 60, 80, 0, 0, 10, 30], [0.7, 0.3], [0f, 1f, 1f, 0f], []);
        e.AddQuery("Q", [2f, 0f], [At("A", 0, 0, 40, 100), At("B", 10, 10, 20, 30), At("C")]);
        var r = e.Compute();
        Assert.Equal(7.0 / 12, r.MeanAP, 12);
        Assert.Equal([(1, 0.0), (5, 1.0)], r.TopK);
        Assert.Equal(0.25, r.DetectionAP, 12);
        Assert.Equal(0.5, r.DetectionRecall, 12);
        var values = new Dictionary<string, double>();
        r.WriteTo(values, "val_");
        Assert.Equal(["val_mAP", "val_top1", "val_top5", "val_det_AP", "val_det_recall"], values.Keys);

        // The same from tensors, as a detector gives them: the same numbers.
        var t = new PersonSearchEvaluator(embeddingSize: 2, topK: [1, 5]);
        using (var scope = torch.NewDisposeScope())
        {
            t.AddGalleryImage("A", torch.tensor(new float[] { 0, 0, 40, 100, 100, 0, 140, 100 }).reshape(2, 4), torch.tensor(new float[] { 0.9f, 0.9f }),
                torch.tensor(new float[] { 0.8f, 0.6f, 1f, 0f }).reshape(2, 2), torch.tensor(new float[] { 0, 0, 40, 100 }).reshape(1, 4));
            t.AddGalleryImage("B", torch.tensor(new float[] { 10, 18, 20, 38 }).reshape(1, 4), torch.tensor(new float[] { 0.8f }),
                torch.tensor(new float[] { 0.6f, 0.8f }).reshape(1, 2), torch.tensor(new float[] { 10, 10, 20, 30 }).reshape(1, 4));
            t.AddGalleryImage("C", torch.tensor(new float[] { 50, 50, 60, 80, 0, 0, 10, 30 }).reshape(2, 4), torch.tensor(new float[] { 0.7f, 0.3f }),
                torch.tensor(new float[] { 0f, 1f, 1f, 0f }).reshape(2, 2), torch.zeros([0, 4]));
            t.AddQuery("Q", torch.tensor(new float[] { 2f, 0f }).reshape(1, 2), [At("A", 0, 0, 40, 100), At("B", 10, 10, 20, 30), At("C")]);
            Assert.Contains("gallery image 'D': the embeddings must be a [N, 2] tensor, got shape [1, 3]", Assert.Throws<ArgumentException>(() =>
                t.AddGalleryImage("D", torch.zeros([1, 4]), torch.zeros([1]), torch.zeros([1, 3]), torch.zeros([0, 4]))).Message);
        }
        var fromTensors = t.Compute();
        Assert.Equal(r.MeanAP, fromTensors.MeanAP, 6);
        Assert.Equal(r.DetectionAP, fromTensors.DetectionAP, 12);

        // The person found in only one of the two images that hold it: AP × recall 1/2.
        var half = new PersonSearchEvaluator(embeddingSize: 2);
        half.AddGalleryImage("A", [0, 0, 40, 100], [0.9], [1f, 0f], [0, 0, 40, 100]);
        half.AddGalleryImage("B", [], [], [], [10, 10, 20, 30]);
        half.AddQuery("Q", [1f, 0f], [At("A", 0, 0, 40, 100), At("B", 10, 10, 20, 30)]);
        Assert.Equal(0.5, half.Compute().MeanAP, 12);
    }

    [Fact]
    public void The_protocol_matches_an_independent_numpy_computation()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "person_search_reference.json")));
        var cases = doc.RootElement.GetProperty("cases");
        Assert.Equal(4, cases.GetArrayLength());
        var allQueryAP = new List<double>();
        foreach (var c in cases.EnumerateArray())
        {
            var dim = c.GetProperty("dim").GetInt32();
            var e = new PersonSearchEvaluator(dim);
            foreach (var g in c.GetProperty("gallery").EnumerateArray())
            {
                var dets = g.GetProperty("detections").EnumerateArray().Select(d => d.EnumerateArray().Select(x => x.GetDouble()).ToArray()).ToArray();
                e.AddGalleryImage(g.GetProperty("name").GetString()!,
                    dets.SelectMany(d => d.Take(4)).ToArray(), dets.Select(d => d[4]).ToArray(),
                    g.GetProperty("embeddings").EnumerateArray().SelectMany(v => v.EnumerateArray().Select(x => (float)x.GetDouble())).ToArray(),
                    g.GetProperty("person_boxes").EnumerateArray().SelectMany(b => b.EnumerateArray().Select(x => x.GetDouble())).ToArray());
            }
            foreach (var q in c.GetProperty("queries").EnumerateArray())
                e.AddQuery(q.GetProperty("image").GetString()!, q.GetProperty("embedding").EnumerateArray().Select(x => (float)x.GetDouble()).ToArray(),
                    q.GetProperty("gallery").EnumerateArray().Select(x => new PersonSearchEvaluator.GalleryEntry(x[0].GetString()!,
                        x[1].ValueKind == JsonValueKind.Null ? null : x[1].EnumerateArray().Select(v => v.GetDouble()).ToArray())).ToArray());
            var r = e.Compute();
            var expected = c.GetProperty("expected");
            var seed = c.GetProperty("seed").GetInt32();
            var queryAP = expected.GetProperty("query_ap").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            Assert.Equal(queryAP.Length, r.Queries);
            // The reference's embeddings are float64, ours float32 as a model gives them: similarities agree to ~1e-7,
            // never close enough to reorder these random ones, so the ranks and counts are exact and the APs equal to 1e-9.
            for (var i = 0; i < queryAP.Length; i++) Assert.True(Math.Abs(queryAP[i] - r.QueryAP[i]) < 1e-9, $"case {seed}, query {i}: {r.QueryAP[i]}, expected {queryAP[i]}");
            allQueryAP.AddRange(queryAP);
            Assert.Equal(expected.GetProperty("mAP").GetDouble(), r.MeanAP, 9);
            foreach (var (k, accuracy) in r.TopK)
                Assert.Equal(expected.GetProperty("topk").GetProperty(k.ToString(System.Globalization.CultureInfo.InvariantCulture)).GetDouble(), accuracy, 12);
            Assert.Equal(expected.GetProperty("det_AP").GetDouble(), r.DetectionAP, 12);
            Assert.Equal(expected.GetProperty("det_recall").GetDouble(), r.DetectionRecall, 12);
        }
        // The cases reach a corner: a query whose person is never found (AP 0, not NaN). Case 4's embeddings are nearly
        // noise-free (every top-1 right); its APs stay below 1 through recall: persons undetected or scored below 0.5.
        Assert.Contains(allQueryAP, ap => ap == 0);
    }

    [Fact]
    public void Bad_queries_and_galleries_are_clear_errors()
    {
        var e = new PersonSearchEvaluator(embeddingSize: 2);
        e.AddGalleryImage("A", [0, 0, 40, 100], [0.9], [1f, 0f], [0, 0, 40, 100]);
        Assert.Contains("query 0 (image 'Q'): its gallery is empty", Assert.Throws<ArgumentException>(() => e.AddQuery("Q", [1f, 0f], [])).Message);
        Assert.Contains("its gallery holds the query's own image", Assert.Throws<ArgumentException>(() => e.AddQuery("A", [1f, 0f], [At("A", 0, 0, 40, 100)])).Message);
        Assert.Contains("no image of its gallery holds the query person", Assert.Throws<ArgumentException>(() => e.AddQuery("Q", [1f, 0f], [At("A")])).Message);
        Assert.Contains("an embedding of 3 values, not 2", Assert.Throws<ArgumentException>(() => e.AddQuery("Q", [1f, 0f, 0f], [At("A", 0, 0, 40, 100)])).Message);
        Assert.Contains("the embedding is all zeros", Assert.Throws<ArgumentException>(() => e.AddQuery("Q", [0f, 0f], [At("A", 0, 0, 40, 100)])).Message);
        Assert.Contains("the person's box in 'A' 0 is (40, 0, 0, 100): a box needs finite x1 < x2 and y1 < y2",
            Assert.Throws<ArgumentException>(() => e.AddQuery("Q", [1f, 0f], [At("A", 40, 0, 0, 100)])).Message);
        Assert.Contains("gallery image 'A' was added twice", Assert.Throws<ArgumentException>(() => e.AddGalleryImage("A", [], [], [], [])).Message);
        Assert.Contains("gallery image 'B': 2 embedding values for 0 detections", Assert.Throws<ArgumentException>(() => e.AddGalleryImage("B", [], [], [1f, 0f], [])).Message);
        // Boxes of dropped detections are not checked; an annotated person box of zero width (PRW has some) matches nothing.
        e.AddGalleryImage("Z", [5, 5, 1, 1], [0.1], [1f, 0f], [3, 3, 3, 9]);
        Assert.Contains("gallery image 'Y': detection 0 is (5, 5, 1, 1)", Assert.Throws<ArgumentException>(() => e.AddGalleryImage("Y", [5, 5, 1, 1], [0.9], [1f, 0f], [])).Message);
        Assert.Throws<InvalidOperationException>(() => e.Compute()); // no query yet
        e.AddQuery("Q", [1f, 0f], [At("A", 0, 0, 40, 100), At("missing")]);
        Assert.Contains("gallery image 'missing' was never added", Assert.Throws<InvalidOperationException>(() => e.Compute()).Message);
    }
}
