using Distill.Losses;

namespace Distill.Losses.Tests;

public class PersonSearchTests
{
    private static readonly Fixture Fx = Fixture.Load("person");

    /// <summary>The fixture's cases whose names start with <paramref name="prefix"/> (never none).</summary>
    public static TheoryData<string> Cases(string prefix)
    {
        var data = new TheoryData<string>();
        foreach (var c in Fx.Cases.Where(c => c.StartsWith(prefix, StringComparison.Ordinal))) data.Add(c);
        if (data.Count == 0) throw new InvalidOperationException($"fixture person has no '{prefix}' cases");
        return data;
    }

    private static double P(string c, string name) => Fx[c, name].item<double>();

    private static void AssertLossAndGrad(Tensor loss, Tensor student, string c, string gradName)
    {
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        loss.backward();
        Fx.AssertClose(student.grad!, c, gradName, 1e-4, 1e-6);
    }

    // ---- OIM and the teacher-LUT distillation -----------------------------------------------------

    [Theory]
    [MemberData(nameof(Cases), "oim_")]
    public void Oim_loss_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var x = Fx.Input(c, "embeddings", requiresGrad: true);
        var lut = Fx.Input(c, "lut");
        var queue = Fx.Input(c, "queue");
        var loss = PersonSearch.oim_loss(x, Fx.Input(c, "labels"), lut, queue, P(c, "scale"));
        AssertLossAndGrad(loss, x, c, "grad_embeddings");
        Assert.Null(lut.grad);
        Assert.False(lut.requires_grad);
    }

    [Fact]
    public void Oim_loss_without_a_labelled_RoI_is_zero_with_a_finite_zero_gradient()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "oim_none_labelled";
        var x = Fx.Input(c, "embeddings", requiresGrad: true);
        var loss = PersonSearch.oim_loss(x, Fx.Input(c, "labels"), Fx.Input(c, "lut"), Fx.Input(c, "queue"));
        Assert.Equal(0.0, loss.item<double>());
        loss.backward();
        Assert.All(x.grad!.ToArray<float>(), g => Assert.Equal(0f, g));
    }

    [Theory]
    [MemberData(nameof(Cases), "lut_id_distill_")]
    public void Lut_id_distill_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var x = Fx.Input(c, "embeddings", requiresGrad: true);
        var teacher = Fx.Input(c, "teacher_lut", requiresGrad: true);
        var loss = PersonSearch.lut_id_distill(x, Fx.Input(c, "labels"), teacher, Fx.Input(c, "queue"), P(c, "scale"));
        AssertLossAndGrad(loss, x, c, "grad_embeddings");
        Assert.Null(teacher.grad); // the teacher table is detached
    }

    [Fact]
    public void Build_teacher_lut_averages_per_identity_and_normalises()
    {
        using var scope = torch.NewDisposeScope();
        var lut = PersonSearch.build_teacher_lut(Fx.Input("teacher_lut", "features"), Fx.Input("teacher_lut", "labels"), 5);
        Fx.AssertClose(lut, "teacher_lut", "lut", 1e-5, 1e-6);
        // The distillation cases were made with this table.
        Fx.AssertClose(lut, "lut_id_distill_n9_q7_s10.0", "teacher_lut", 1e-5, 1e-6);
    }

    [Theory]
    [MemberData(nameof(Cases), "lut_update_")]
    public void Oim_lut_update_matches_the_sequential_update(string c)
    {
        using var scope = torch.NewDisposeScope();
        var lut = Fx.Input(c, "lut");
        var x = Fx.Input(c, "embeddings", requiresGrad: true);
        PersonSearch.oim_lut_update(lut, x, Fx.Input(c, "labels"), P(c, "momentum"));
        Fx.AssertClose(lut, c, "lut_after", 1e-5, 1e-6);
        Assert.False(lut.requires_grad);
    }

    [Theory]
    [MemberData(nameof(Cases), "queue_")]
    public void Oim_queue_push_matches_the_sequential_push(string c)
    {
        using var scope = torch.NewDisposeScope();
        var queue = Fx.Input(c, "queue");
        var head = PersonSearch.oim_queue_push(queue, Fx.Input(c, "embeddings"), Fx.Input(c, "labels"), Fx[c, "head"].item<long>());
        Assert.Equal(Fx[c, "head_after"].item<long>(), head);
        Fx.AssertClose(queue, c, "queue_after", 1e-5, 1e-6);
    }

    [Fact]
    public void Oim_table_runs_loss_then_update_and_frees_its_tensors()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "oim_n8_d16_l10_q6_s10.0";
        var labels = Fx.Input(c, "labels");
        var table = new OimTable(Fx.Input(c, "lut"), Fx.Input(c, "queue"), head: 4);
        var x = Fx.Input(c, "embeddings", requiresGrad: true);
        var loss = table.Loss(x, labels, P(c, "scale"));
        Fx.AssertClose(loss, c, "loss", 1e-4, 1e-6);
        table.Update(x, labels);

        var expectedLut = Fx.Input(c, "lut");
        PersonSearch.oim_lut_update(expectedLut, x, labels);
        TensorAssert.Close(expectedLut, table.Lut, 0, 0, "lut");
        Assert.False(expectedLut.equal(Fx[c, "lut"])); // the case has labelled RoIs: the table moved
        var expectedQueue = Fx.Input(c, "queue");
        var head = PersonSearch.oim_queue_push(expectedQueue, x, labels, 4);
        TensorAssert.Close(expectedQueue, table.Queue, 0, 0, "queue");
        Assert.Equal(head, table.Head);

        scope.DisposeEverything();
        Assert.False(table.Lut.IsDisposed); // owned by the table, not by the scope
        table.Dispose();
        Assert.True(table.Lut.IsDisposed && table.Queue.IsDisposed);
    }

    [Fact]
    public void Oim_table_from_teacher_keeps_the_lut_fixed_and_fills_the_queue()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "lut_id_distill_n9_q7_s10.0";
        var teacher = Fx.Input(c, "teacher_lut");
        using var table = OimTable.FromTeacher(teacher, 7);
        Assert.True(table.LutFrozen);
        var x = Fx.Input(c, "embeddings", requiresGrad: true);
        var labels = Fx.Input(c, "labels");
        // An empty (zero) queue of the case's size differs from the case's queue, so compare with oim_loss.
        var loss = table.Loss(x, labels);
        TensorAssert.Close(PersonSearch.oim_loss(x, labels, teacher, torch.zeros([7, 6])), loss, 1e-6, 1e-7, "loss");
        table.Update(x, labels);
        TensorAssert.Close(teacher, table.Lut, 0, 0, "frozen lut");
        var unlabelled = labels.ToArray<long>().Count(l => l == PersonSearch.Unlabelled);
        Assert.True(unlabelled > 0);
        Assert.Equal(unlabelled % 7, table.Head);
    }

    // ---- Chen et al. detector KD --------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Cases), "chen_soft_ce_")]
    public void Chen_soft_ce_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var t = Fx.Input(c, "teacher", requiresGrad: true);
        var loss = PersonSearch.chen_soft_ce(s, t, P(c, "background_weight"), (int)P(c, "background_index"), P(c, "temperature"));
        AssertLossAndGrad(loss, s, c, "grad_student");
        Assert.Null(t.grad);
    }

    [Theory]
    [MemberData(nameof(Cases), "chen_cls_")]
    public void Chen_cls_distill_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var loss = PersonSearch.chen_cls_distill(s, Fx.Input(c, "teacher"), Fx.Input(c, "labels"), P(c, "mu"),
            P(c, "background_weight"), (int)P(c, "background_index"), P(c, "temperature"));
        AssertLossAndGrad(loss, s, c, "grad_student");
    }

    [Theory]
    [MemberData(nameof(Cases), "bounded_")]
    public void Teacher_bounded_l2_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var t = Fx.Input(c, "teacher", requiresGrad: true);
        var loss = PersonSearch.teacher_bounded_l2(s, t, Fx.Input(c, "targets"), P(c, "margin"));
        AssertLossAndGrad(loss, s, c, "grad_student");
        Assert.Null(t.grad);
    }

    [Fact]
    public void Teacher_bounded_l2_is_zero_when_the_student_beats_the_teacher_everywhere()
    {
        using var scope = torch.NewDisposeScope();
        const string c = "bounded_all_off";
        var s = Fx.Input(c, "student", requiresGrad: true);
        var loss = PersonSearch.teacher_bounded_l2(s, Fx.Input(c, "teacher"), Fx.Input(c, "targets"));
        Assert.Equal(0.0, loss.item<double>());
        loss.backward();
        Assert.All(s.grad!.ToArray<float>(), g => Assert.Equal(0f, g));
    }

    [Theory]
    [MemberData(nameof(Cases), "hint_")]
    public void Hint_l2_matches_PyTorch_value_and_gradient(string c)
    {
        using var scope = torch.NewDisposeScope();
        var s = Fx.Input(c, "student", requiresGrad: true);
        var loss = PersonSearch.hint_l2(s, Fx.Input(c, "teacher"));
        AssertLossAndGrad(loss, s, c, "grad_student");
    }

    // ---- bad input ----------------------------------------------------------------------------------

    private static LossArgumentException Bad(Func<object> call) => Assert.Throws<LossArgumentException>(() => { call(); });

    [Fact]
    public void Oim_rejects_an_embedding_dim_different_from_the_tables()
    {
        using var scope = torch.NewDisposeScope();
        var e = Bad(() => PersonSearch.oim_loss(torch.zeros([4, 8]), torch.zeros([4], ScalarType.Int64), torch.zeros([5, 16]), torch.zeros([3, 8])));
        Assert.Equal("oim_loss: embeddings [4, 8] and lut [5, 16] must have the same embedding dim (Parameter 'lut')", e.Message);
        e = Bad(() => PersonSearch.lut_id_distill(torch.zeros([4, 8]), torch.zeros([4], ScalarType.Int64), torch.zeros([5, 8]), torch.zeros([3, 6])));
        Assert.Equal("lut_id_distill: embeddings [4, 8] and queue [3, 6] must have the same embedding dim (Parameter 'queue')", e.Message);
    }

    [Fact]
    public void Oim_rejects_labels_out_of_range()
    {
        using var scope = torch.NewDisposeScope();
        var e = Bad(() => PersonSearch.oim_loss(torch.zeros([3, 8]), torch.tensor(new long[] { 0, 5, -1 }), torch.zeros([5, 8]), torch.zeros([3, 8])));
        Assert.Equal("oim_loss: label 5 is outside [-2, 4] (Parameter 'labels')", e.Message);
        e = Bad(() => PersonSearch.lut_id_distill(torch.zeros([3, 8]), torch.tensor(new long[] { 0, -3, 1 }), torch.zeros([5, 8]), torch.zeros([3, 8])));
        Assert.Equal("lut_id_distill: label -3 is outside [-2, 4] (Parameter 'labels')", e.Message);
        e = Bad(() => PersonSearch.oim_loss(torch.zeros([3, 8]), torch.zeros([3]), torch.zeros([5, 8]), torch.zeros([3, 8])));
        Assert.Equal("oim_loss: labels must be int64, got float32 (Parameter 'labels')", e.Message);
        e = Bad(() => PersonSearch.oim_loss(torch.zeros([3, 8]), torch.zeros([4], ScalarType.Int64), torch.zeros([5, 8]), torch.zeros([3, 8])));
        Assert.Equal("oim_loss: labels [4] must have one entry per row of [3, 8] (Parameter 'labels')", e.Message);
        e = Bad(() => PersonSearch.chen_cls_distill(torch.zeros([2, 4]), torch.zeros([2, 4]), torch.tensor(new long[] { 4, 0 })));
        Assert.Equal("chen_cls_distill: label 4 is outside [0, 3] (Parameter 'labels')", e.Message);
        e = Bad(() => PersonSearch.chen_cls_distill(torch.zeros([2, 4]), torch.zeros([2, 4]), torch.tensor(new long[] { 1, -1 })));
        Assert.Equal("chen_cls_distill: label -1 is outside [0, 3] (Parameter 'labels')", e.Message);
    }

    [Fact]
    public void Oim_rejects_a_scale_that_is_not_positive()
    {
        using var scope = torch.NewDisposeScope();
        var labels = torch.zeros([2], ScalarType.Int64);
        var e = Bad(() => PersonSearch.oim_loss(torch.ones([2, 8]), labels, torch.ones([5, 8]), torch.ones([3, 8]), 0));
        Assert.Equal("oim_loss: scale must be > 0, got 0 (Parameter 'scale')", e.Message);
        e = Bad(() => PersonSearch.lut_id_distill(torch.ones([2, 8]), labels, torch.ones([5, 8]), torch.ones([3, 8]), -10));
        Assert.Equal("lut_id_distill: scale must be > 0, got -10 (Parameter 'scale')", e.Message);
    }

    [Fact]
    public void Losses_reject_an_empty_batch()
    {
        using var scope = torch.NewDisposeScope();
        var e = Bad(() => PersonSearch.oim_loss(torch.zeros([0, 8]), torch.zeros([0], ScalarType.Int64), torch.zeros([5, 8]), torch.zeros([3, 8])));
        Assert.Equal("oim_loss: embeddings is an empty batch [0, 8] (Parameter 'embeddings')", e.Message);
        e = Bad(() => PersonSearch.chen_soft_ce(torch.zeros([0, 5]), torch.zeros([0, 5])));
        Assert.Equal("chen_soft_ce: student is an empty batch [0, 5] (Parameter 'student')", e.Message);
        e = Bad(() => PersonSearch.teacher_bounded_l2(torch.zeros([0, 4]), torch.zeros([0, 4]), torch.zeros([0, 4])));
        Assert.Equal("teacher_bounded_l2: student is an empty batch [0, 4] (Parameter 'student')", e.Message);
        e = Bad(() => PersonSearch.hint_l2(torch.zeros([0, 2, 3, 3]), torch.zeros([0, 2, 3, 3])));
        Assert.Equal("hint_l2: student is an empty batch [0, 2, 3, 3] (Parameter 'student')", e.Message);
    }

    [Fact]
    public void Chen_losses_reject_mismatched_shapes_and_bad_hyper_parameters()
    {
        using var scope = torch.NewDisposeScope();
        var e = Bad(() => PersonSearch.chen_soft_ce(torch.zeros([4, 81]), torch.zeros([4, 21])));
        Assert.Equal("chen_soft_ce: student [4, 81] and teacher [4, 21] must have the same shape (Parameter 'teacher')", e.Message);
        e = Bad(() => PersonSearch.chen_soft_ce(torch.zeros([4, 5]), torch.zeros([4, 5]), temperature: 0));
        Assert.Equal("chen_soft_ce: temperature must be > 0, got 0 (Parameter 'temperature')", e.Message);
        e = Bad(() => PersonSearch.chen_soft_ce(torch.zeros([4, 5]), torch.zeros([4, 5]), background_index: 5));
        Assert.Equal("chen_soft_ce: background_index must be -1 (last) or in [0, 4] for student [4, 5], got 5 (Parameter 'background_index')", e.Message);
        e = Bad(() => PersonSearch.chen_cls_distill(torch.zeros([2, 4]), torch.zeros([2, 4]), torch.zeros([2], ScalarType.Int64), mu: 1.5));
        Assert.Equal("chen_cls_distill: mu must be in [0, 1], got 1.5 (Parameter 'mu')", e.Message);
        e = Bad(() => PersonSearch.teacher_bounded_l2(torch.zeros([3, 4]), torch.zeros([3, 4]), torch.zeros([3, 8])));
        Assert.Equal("teacher_bounded_l2: student [3, 4] and targets [3, 8] must have the same shape (Parameter 'targets')", e.Message);
        e = Bad(() => PersonSearch.teacher_bounded_l2(torch.zeros([3, 4]), torch.zeros([3, 4]), torch.zeros([3, 4]), margin: -1));
        Assert.Equal("teacher_bounded_l2: margin must be >= 0, got -1 (Parameter 'margin')", e.Message);
        e = Bad(() => PersonSearch.hint_l2(torch.zeros([2, 8, 4, 4]), torch.zeros([2, 16, 4, 4])));
        Assert.Equal("hint_l2: student [2, 8, 4, 4] and teacher [2, 16, 4, 4] must have the same shape (Parameter 'teacher')", e.Message);
        e = Bad(() => PersonSearch.hint_l2(torch.zeros([2, 8]), torch.zeros([2, 8])));
        Assert.Equal("hint_l2: student must be 4-D (N, C, H, W), got [2, 8] (Parameter 'student')", e.Message);
    }

    [Fact]
    public void Table_updates_reject_bad_arguments()
    {
        using var scope = torch.NewDisposeScope();
        var labels = torch.tensor(new long[] { -1, 0 });
        var e = Assert.Throws<LossArgumentException>(() => PersonSearch.oim_queue_push(torch.zeros([4, 8]), torch.ones([2, 8]), labels, 4));
        Assert.Equal("oim_queue_push: head must be in [0, 4) for queue [4, 8], got 4 (Parameter 'head')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => PersonSearch.oim_lut_update(torch.zeros([3, 8]), torch.ones([2, 8]), labels, 1.5));
        Assert.Equal("oim_lut_update: momentum must be in [0, 1], got 1.5 (Parameter 'momentum')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => PersonSearch.oim_lut_update(torch.zeros([3, 4]), torch.ones([2, 8]), labels));
        Assert.Equal("oim_lut_update: embeddings [2, 8] and lut [3, 4] must have the same embedding dim (Parameter 'lut')", e.Message);
        e = Assert.Throws<LossArgumentException>(() => PersonSearch.build_teacher_lut(torch.ones([2, 8]), torch.tensor(new long[] { 0, 3 }), 3));
        Assert.Equal("build_teacher_lut: label 3 is outside [-2, 2] (Parameter 'labels')", e.Message);
    }
}
