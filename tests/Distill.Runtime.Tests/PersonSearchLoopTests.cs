using Distill.Data;
using Distill.Losses;

namespace Distill.Runtime.Tests;

/// <summary>
/// The loop's person-search pieces over a four-image data set written here: <see cref="PersonSearchEvaluation"/> (gallery and
/// queries from batches, what a cut-short pass scores) and <see cref="TeacherTableBuild"/> (the per-identity table, built once).
/// </summary>
public class PersonSearchLoopTests
{
    /// <summary>
    /// Four 32×32 images; identities 0, 1, 2 and unlabelled persons (−1). Queries: identity 0 from image 0 (also in images 1
    /// and 3), identity 1 from image 1 (also in image 2).
    /// </summary>
    private sealed class Tiny : DetectionDataset, IPersonSearchData
    {
        public static readonly DetectionObject[][] Objects =
        [
            [new(2, 2, 10, 20, 1, PersonId: 0), new(14, 4, 22, 24, 1, PersonId: -1)],
            [new(1, 1, 9, 21, 1, PersonId: 0), new(20, 5, 28, 25, 1, PersonId: 1)],
            [new(4, 6, 12, 26, 1, PersonId: 1), new(16, 2, 24, 22, 1, PersonId: 2)],
            [new(10, 8, 18, 28, 1, PersonId: 0)],
        ];

        public override int Count => Objects.Length;
        public override int Classes => 1;
        public override IReadOnlyList<string> ClassNames => ["person"];
        public int Identities => 3;
        public string ImageName(long imageId) => $"img{imageId}";

        public IReadOnlyList<PersonSearchQuery> Queries { get; } =
        [
            new("img0", [2, 2, 10, 20], 0, [("img1", [1, 1, 9, 21]), ("img2", null), ("img3", [10, 8, 18, 28])]),
            new("img1", [20, 5, 28, 25], 1, [("img0", null), ("img2", [4, 6, 12, 26]), ("img3", null)]),
        ];

        public override DetectionTarget Target(int index) => new(index, 32, 32, Objects[index]);
        protected override (byte[] Pixels, DetectionTarget Target) Load(int index) => (new byte[3 * 32 * 32], Target(index));
    }

    /// <summary>A stand-in model: it "detects" each ground-truth box and embeds it by its identity (or a scrambled one).</summary>
    private static float[] Embed(long id, bool scramble) => id switch
    {
        _ when scramble => [1, 1, 1, 1],
        0 => [1, 0, 0, 0],
        1 => [0, 1, 0, 0],
        2 => [0, 0, 1, 0],
        _ => [0, 0, 0, 1],
    };

    private static Dictionary<string, double> Evaluate(Tiny data, bool scramble, long? batchLimit)
    {
        var evaluation = PersonSearchEvaluation.Create(data);
        var loader = new DataLoader<DetectionBatch>(data, new DataLoaderOptions { BatchSize = 2, Shuffle = false }, null);
        long batches = 0;
        foreach (var batch in loader.Epoch(0))
        {
            using (batch)
            {
                var detections = Enumerable.Range(0, (int)batch.Count).Select(i =>
                {
                    var ids = batch.person_id[i].ToArray<long>();
                    var e = ids.SelectMany(id => Embed(id, scramble)).ToArray();
                    return (Boxes: batch.boxes[i], Scores: torch.ones([ids.Length]), Embeddings: torch.tensor(e, new long[] { ids.Length, 4 }));
                }).ToList();
                // A query box is embedded by the identity of the ground-truth box it equals.
                IReadOnlyList<Tensor> EmbedBoxes(Tensor image, IReadOnlyList<Tensor> boxes)
                {
                    var index = Array.FindIndex(Tiny.Objects, objects => objects.Any(o => boxes[0].ToArray<float>().Take(4).SequenceEqual(new[] { o.X1, o.Y1, o.X2, o.Y2 })));
                    var q = boxes[0].ToArray<float>();
                    var rows = Enumerable.Range(0, q.Length / 4).SelectMany(k => Embed(Tiny.Objects[index].Single(o => o.X1 == q[4 * k] && o.Y1 == q[4 * k + 1]).PersonId, false)).ToArray();
                    return [torch.tensor(rows, new long[] { q.Length / 4, 4 })];
                }
                evaluation.Add(batch, detections, d => d, EmbedBoxes);
            }
            if (++batches >= (batchLimit ?? long.MaxValue)) break;
        }
        var values = new Dictionary<string, double>();
        evaluation.WriteTo(values, "val_");
        return values;
    }

    [Fact]
    public void A_model_whose_embeddings_name_the_identity_finds_every_query()
    {
        using var data = new Tiny();
        var values = Evaluate(data, scramble: false, batchLimit: null);
        Assert.Equal(2, values["val_queries"]);
        Assert.Equal(1.0, values["val_mAP"], 9);
        Assert.Equal(1.0, values["val_top1"], 9);
        Assert.Equal(1.0, values["val_det_AP"], 9);
        Assert.Equal(1.0, values["val_det_recall"], 9);
    }

    [Fact]
    public void Indistinguishable_embeddings_rank_by_chance_and_score_lower()
    {
        using var data = new Tiny();
        var values = Evaluate(data, scramble: true, batchLimit: null);
        Assert.Equal(2, values["val_queries"]);
        Assert.True(values["val_mAP"] < 0.9, $"mAP {values["val_mAP"]}");
        Assert.Equal(1.0, values["val_det_AP"], 9); // detection does not depend on the embeddings
    }

    [Fact]
    public void A_pass_cut_short_scores_the_queries_it_can_over_the_images_it_searched()
    {
        using var data = new Tiny();
        // One batch: images 0 and 1. Query 0 (img0) has img1 holding the person; query 1 (img1) has only img0, without it.
        var values = Evaluate(data, scramble: false, batchLimit: 1);
        Assert.Equal(1, values["val_queries"]);
        Assert.Equal(1.0, values["val_mAP"], 9);
    }

    [Fact]
    public void Data_without_a_protocol_is_refused_with_a_clear_error()
    {
        using var detection = new SyntheticDetection(classes: 2, samples: 2, size: 64);
        var e = Assert.Throws<ArgumentException>(() => PersonSearchEvaluation.Create(detection));
        Assert.Contains("SyntheticDetection is not a person-search data set", e.Message);
    }

    [Fact]
    public void The_teacher_table_is_the_mean_feature_per_identity_built_once()
    {
        using var data = new Tiny();
        var request = new EpochStateRequest(0, Device.CPU, 2, null, new NullProgressReporter());
        var passes = 0;
        // The "teacher feature" of a box: (x1, y1) of the box, so each identity's mean is known.
        Tensor Features(DetectionBatch batch)
        {
            passes++;
            return torch.cat(batch.boxes.Select(b => b.narrow(1, 0, 2)).ToList(), 0);
        }
        using var table = new TeacherIdentityTable();
        TeacherTableBuild.Run<DetectionBatch>(table, data, request, Features, b => b.person_id, []);
        Assert.True(table.IsBuilt);
        Assert.Equal(new long[] { 3, 2 }, table.Table.shape);
        // identity 0: boxes at (2, 2), (1, 1), (10, 8) → mean (13/3, 11/3); identity 1: (20, 5), (4, 6) → (12, 5.5); identity 2: (16, 2).
        var expected = torch.tensor(new float[] { 13f / 3, 11f / 3, 12, 5.5f, 16, 2 }, new long[] { 3, 2 });
        expected = expected / expected.norm(2, 1, keepdim: true);
        Assert.True((table.Table - expected).abs().max().item<float>() < 1e-6);

        var before = passes;
        TeacherTableBuild.Run<DetectionBatch>(table, data, request with { Epoch = 1 }, Features, b => b.person_id, []);
        Assert.Equal(before, passes); // the teacher is frozen: the table is kept

        // Saved and restored as a checkpoint does.
        using var restored = new TeacherIdentityTable();
        restored.LoadStateTensors(table.StateTensors().ToDictionary(kv => kv.Key, kv => kv.Value));
        Assert.True(restored.Table.equal(table.Table));
    }

    [Fact]
    public void A_teacher_table_needs_identities_and_one_row_per_box()
    {
        using var detection = new SyntheticDetection(classes: 2, samples: 4, size: 64);
        var request = new EpochStateRequest(0, Device.CPU, 2, null, new NullProgressReporter());
        using var table = new TeacherIdentityTable();
        var e = Assert.Throws<ArgumentException>(() => TeacherTableBuild.Run<DetectionBatch>(table, detection, request, b => torch.zeros([1, 2]), b => b.person_id, []));
        Assert.Contains("SyntheticDetection has no identities", e.Message);
        using var data = new Tiny();
        var wrong = Assert.Throws<InvalidOperationException>(() => TeacherTableBuild.Run<DetectionBatch>(table, data, request, b => torch.zeros([1, 2]), b => b.person_id, []));
        Assert.Contains("one row per box", wrong.Message);
        Assert.False(table.IsBuilt);
        Assert.Throws<InvalidOperationException>(() => table.Table);
    }
}
