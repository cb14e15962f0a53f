namespace Distill.Runtime.Tests;

public class MetricsTests
{
    [Fact]
    public void Top1_and_top5_match_a_hand_computed_case()
    {
        using var acc = new TopKAccuracy(1, 5);
        // Six classes. The label's rank among the logits: 0, 1, 5, 3 (first batch); 0, 5 (second).
        using var logits1 = torch.tensor(new float[,]
        {
            { 0.1f, 0.9f, 0.3f, 0.2f, 0.05f, 0.0f }, // label 1: rank 0
            { 0.5f, 0.1f, 0.4f, 0.3f, 0.2f, 0.6f },  // label 0: rank 1 (5 is higher)
            { 0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.1f },  // label 5: rank 5
            { 0.2f, 0.3f, 0.1f, 0.9f, 0.4f, 0.35f }, // label 1: rank 3 (3, 4, 5 are higher)
        });
        using var labels1 = torch.tensor(new long[] { 1, 0, 5, 1 });
        acc.Update(logits1, labels1);
        var first = acc.Compute();
        Assert.Equal(1.0 / 4, first[1]);
        Assert.Equal(3.0 / 4, first[5]);

        using var logits2 = torch.tensor(new float[,]
        {
            { 1.0f, 0.0f, 0.1f, 0.2f, 0.3f, 0.4f },  // label 0: rank 0
            { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f },  // label 0: rank 5
        });
        using var labels2 = torch.tensor(new long[] { 0, 0 });
        acc.Update(logits2, labels2);
        var values = new Dictionary<string, double>();
        acc.WriteTo(values, "val/");
        Assert.Equal(2.0 / 6, values["val/top1"]);
        Assert.Equal(4.0 / 6, values["val/top5"]);
        Assert.Equal(6, acc.Count);

        acc.Reset();
        Assert.True(double.IsNaN(acc.Compute()[1]));
    }

    [Fact]
    public void With_fewer_classes_than_k_every_sample_is_correct_at_k()
    {
        using var acc = new TopKAccuracy(1, 2, 5);
        using var logits = torch.tensor(new float[,] { { 0.2f, 0.5f, 0.3f }, { 0.6f, 0.3f, 0.1f }, { 0.1f, 0.2f, 0.7f } });
        using var labels = torch.tensor(new long[] { 2, 0, 0 }); // ranks 1, 0, 2
        acc.Update(logits, labels);
        var r = acc.Compute();
        Assert.Equal(1.0 / 3, r[1]);
        Assert.Equal(2.0 / 3, r[2]);
        Assert.Equal(1.0, r[5]);
    }

    [Fact]
    public void Dense_predictions_count_every_position_as_a_sample()
    {
        using var acc = new TopKAccuracy(1);
        // [N=1, C=2, H=1, W=3]: the argmax over C at the three positions is 1, 0, 1.
        using var logits = torch.tensor(new float[] { 0.1f, 0.9f, 0.2f, 0.8f, 0.3f, 0.7f }, new long[] { 1, 2, 1, 3 });
        using var labels = torch.tensor(new long[] { 1, 1, 1 }, new long[] { 1, 1, 3 });
        acc.Update(logits, labels);
        Assert.Equal(2.0 / 3, acc.Compute()[1]);
    }

    [Fact]
    public void Mismatched_labels_are_rejected_with_the_shapes()
    {
        using var acc = new TopKAccuracy();
        using var logits = torch.zeros([4, 10]);
        using var labels = torch.zeros([3], ScalarType.Int64);
        var e = Assert.Throws<ArgumentException>(() => acc.Update(logits, labels));
        Assert.Contains("3 labels for 4 samples", e.Message);
        using var soft = torch.zeros([4]);
        Assert.Throws<ArgumentException>(() => acc.Update(logits, soft));
    }

    [Fact]
    public void Mean_is_weighted_by_batch_size()
    {
        using var mean = new Mean("loss");
        using var a = torch.tensor(1.0f);
        using var b = torch.tensor(new float[] { 4.0f });
        mean.Add(a, 2);
        mean.Add(b, 1);
        mean.Add(10.0, 1); // a host value
        Assert.Equal((2 * 1.0 + 4.0 + 10.0) / 4, mean.Value, 12);
        Assert.Equal(4, mean.Count);
        mean.Reset();
        Assert.True(double.IsNaN(mean.Value));
        using var vector = torch.ones([3]);
        Assert.Throws<ArgumentException>(() => mean.Add(vector, 3));
    }

    [Fact]
    public void Loss_averages_are_kept_per_term_and_weighted_by_batch_size()
    {
        using var losses = new LossAverages(["loss", "ce", "kd"]);
        void Batch(double total, double ce, double kd, long n)
        {
            using var scope = torch.NewDisposeScope();
            losses.Add([new("loss", torch.tensor(total)), new("ce", torch.tensor((float)ce)), new("kd", torch.tensor(kd))], n);
        }
        Batch(1.5, 1.0, 0.5, 2);
        Batch(2.25, 2.0, 0.25, 6);
        var r = losses.Compute();
        Assert.Equal(["loss", "ce", "kd"], r.Keys);
        Assert.Equal((2 * 1.5 + 6 * 2.25) / 8, r["loss"], 12);
        Assert.Equal((2 * 1.0 + 6 * 2.0) / 8, r["ce"], 6);
        Assert.Equal((2 * 0.5 + 6 * 0.25) / 8, r["kd"], 12);

        // A term that shows up later joins the report.
        using (var late = torch.tensor(3.0)) losses.Add("at", late, 4);
        Assert.Equal(3.0, losses.Compute()["at"]);
        Assert.Equal((2 * 1.5 + 6 * 2.25) / 8, losses.Compute()["loss"], 12);

        losses.Reset();
        Assert.All(losses.Compute().Values, v => Assert.True(double.IsNaN(v)));
        Assert.Equal(["loss", "ce", "kd", "at"], losses.Names);
    }

    [Fact]
    public void A_metric_set_snapshots_every_metric_into_one_dictionary()
    {
        var losses = new LossAverages();
        var acc = new TopKAccuracy(1);
        using var set = new MetricSet(losses, acc);
        using (var scope = torch.NewDisposeScope())
        {
            losses.Add("loss", torch.tensor(0.5), 2);
            acc.Update(torch.tensor(new float[,] { { 1, 0 }, { 0, 1 } }), torch.tensor(new long[] { 0, 0 }));
        }
        var snapshot = set.Snapshot("train/");
        Assert.Equal(["train/loss", "train/top1"], snapshot.Keys);
        Assert.Equal(0.5, snapshot["train/loss"]);
        Assert.Equal(0.5, snapshot["train/top1"]);
        set.Reset();
        Assert.Equal(0, acc.Count);
    }

    [Fact]
    public void Accumulating_does_not_track_gradients()
    {
        using var mean = new Mean();
        using var x = torch.ones([2], requires_grad: true);
        using var loss = x.sum();
        mean.Add(loss, 2);
        Assert.Equal(2.0, mean.Value);
    }
}

[Collection(GlobalStateCollection.Name)]
public class MetricsLeakTests
{
    [Fact]
    public void Accumulating_many_batches_holds_a_constant_number_of_tensors()
    {
        using var losses = new LossAverages();
        using var acc = new TopKAccuracy(1, 5);
        using var mean = new Mean();
        using var logits = torch.randn([8, 10]);
        using var labels = torch.randint(0, 10, [8]);
        using var value = torch.tensor(0.5f);
        void Batch()
        {
            losses.Add("ce", value, 8);
            acc.Update(logits, labels);
            mean.Add(value, 8);
        }
        Batch();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var before = Tensor.LiveCount;
        for (var i = 0; i < 200; i++) Batch();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(before, Tensor.LiveCount);
        Assert.Equal(201 * 8, acc.Count);
    }
}
