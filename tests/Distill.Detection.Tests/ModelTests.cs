using Distill.Generators.Binding;
using Distill.Metadata;
using System.Reflection;

namespace Distill.Detection.Tests;

/// <summary>The model API: taps and their shapes, detect, roi_head_on, ground-truth errors, constructor errors.</summary>
public class ModelTests
{
    [Fact]
    public void Every_tap_has_its_declared_shape()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Tiny.Model();
        var (images, boxes, labels) = Tiny.Batch();
        using var outputs = model.forward_taps(images, FasterRcnn.Taps.All, boxes, labels);
        // 64×80 → factor min(64/64, 96/80) = 1 → padded to 64×96.
        var env = new Dictionary<string, long>
        {
            ["N"] = 2, ["H"] = 64, ["W"] = 96, ["classes"] = Tiny.Classes, ["fpn_channels"] = 16, ["representation_size"] = 32,
            ["roi_output_size"] = 7, ["width"] = 8,
        };
        var taps = typeof(FasterRcnn).GetCustomAttributes<TapAttribute>().ToList();
        Assert.Equal(25, taps.Count);
        foreach (var tap in taps)
        {
            var member = Enum.Parse<FasterRcnn.Taps>(string.Concat(tap.Name.Split('_').Select(p => char.ToUpperInvariant(p[0]) + p[1..])));
            var t = outputs.Get(member);
            Assert.True(t is not null, $"tap {tap.Name} is missing");
            var dims = ShapeExpression.EvaluateAll(tap.Shape, env);
            Assert.True(dims.Length == t!.dim(), $"{tap.Name}: rank {t.dim()}, declared '{tap.Shape}'");
            for (var d = 0; d < dims.Length; d++)
                if (dims[d] is long v) Assert.True(v == t.shape[d], $"{tap.Name}: shape [{string.Join(", ", t.shape)}], declared '{tap.Shape}'");
        }
        Assert.Equal(outputs.SampledRois!.shape[0], outputs.RoiLogits!.shape[0]);
        Assert.Equal(ScalarType.Int64, outputs.RoiLabels!.dtype);
        TensorAssert.Close(outputs.RoiLabels.gt(0).to(ScalarType.Float32), outputs.RoiPositive!, 0, 0);
        Assert.Equal(new long[] { 8, 16, 32, 64 }, new[] { outputs.Stage1!.shape[1], outputs.Stage2!.shape[1], outputs.Stage3!.shape[1], outputs.Stage4!.shape[1] });
    }

    [Fact]
    public void Detect_returns_boxes_in_original_coordinates_and_uint8_equals_float_input()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Tiny.Model();
        model.eval();
        var (images, _, _) = Tiny.Batch();
        var a = model.detect(images);
        var b = model.detect(images.to(ScalarType.Float32) / 255.0);
        Assert.Equal(2, a.Count);
        for (var i = 0; i < 2; i++)
        {
            Assert.True(a[i].boxes.shape[0] > 0);
            TensorAssert.Close(a[i].boxes, b[i].boxes, 1e-5, 1e-4);
            Assert.True(a[i].boxes.select(1, 2).max().item<float>() <= 80 && a[i].boxes.select(1, 3).max().item<float>() <= 64);
            Assert.True(a[i].labels.min().item<long>() >= 1 && a[i].labels.max().item<long>() <= Tiny.Classes);
            Assert.Equal(ScalarType.Int64, a[i].labels.dtype);
        }
        Assert.False(model.training);
        model.train();
        Assert.Equal(2, model.detect(images).Count); // detect switches to evaluation for the call, and back
        Assert.True(model.training);
    }

    [Fact]
    public void Roi_head_on_its_own_sampled_rois_reproduces_its_logits_and_runs_on_another_models_rois()
    {
        using var scope = torch.NewDisposeScope();
        using var student = Tiny.Model();
        using var teacher = Tiny.Model(width: 16);
        var (images, boxes, labels) = Tiny.Batch();
        const FasterRcnn.Taps pyramid = FasterRcnn.Taps.P2 | FasterRcnn.Taps.P3 | FasterRcnn.Taps.P4 | FasterRcnn.Taps.P5;
        using var s = student.forward_taps(images, pyramid | FasterRcnn.Taps.SampledRois | FasterRcnn.Taps.RoiLogits | FasterRcnn.Taps.RoiEmbedding, boxes, labels);
        using var head = student.roi_head_on(s, s.SampledRois!);
        TensorAssert.Close(s.RoiLogits!, head.logits, 1e-6, 1e-6);
        TensorAssert.Close(s.RoiEmbedding!, head.embedding, 1e-6, 1e-6);

        teacher.eval();
        using var t = teacher.forward_taps(images, FasterRcnn.Taps.SampledRois, boxes, labels);
        using var onTeacher = student.roi_head_on(s, t.SampledRois!);
        Assert.Equal(new[] { t.SampledRois!.shape[0], Tiny.Classes + 1L }, onTeacher.logits.shape);
        onTeacher.logits.sum().backward(); // gradients reach the student
        Assert.Contains(student.parameters(), p => p.grad is not null);

        // The typed form the generated loss calls (student.roi_logits@teacher.sampled_rois): only the requested head taps, rows on the given RoIs.
        using var keep = student.forward_taps(images, student.RoiHeadInputs, boxes, labels);
        Assert.Equal(pyramid, student.RoiHeadInputs);
        using (var typed = student.roi_head_on(keep, t.SampledRois!, FasterRcnn.Taps.RoiLogits))
        {
            Assert.Equal(FasterRcnn.Taps.RoiLogits, typed.Requested);
            Assert.Null(typed.RoiEmbedding);
            Assert.Equal(new[] { t.SampledRois!.shape[0], Tiny.Classes + 1L }, typed.RoiLogits!.shape);
        }
        var own = Assert.Throws<ArgumentException>(() => student.roi_head_on(keep, t.SampledRois!, FasterRcnn.Taps.RoiLogits | FasterRcnn.Taps.RoiLabels));
        Assert.Contains("RoiLabels cannot be computed on given RoIs", own.Message);

        using var noPyramid = student.forward_taps(images, FasterRcnn.Taps.SampledRois, boxes, labels);
        var e = Assert.Throws<ArgumentException>(() => student.roi_head_on(noPyramid, noPyramid.SampledRois!));
        Assert.Contains("P2 | P3 | P4 | P5", e.Message);
    }

    [Fact]
    public void Images_without_boxes_train_as_background()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Tiny.Model();
        var (images, boxes, labels) = Tiny.Batch();
        Tensor[] none = [torch.zeros([0, 4]), torch.zeros([0, 4])];
        Tensor[] noLabels = [torch.zeros([0], ScalarType.Int64), torch.zeros([0], ScalarType.Int64)];
        using (var o = model.forward_taps(images, Tiny.Losses | FasterRcnn.Taps.RoiLabels, none, noLabels))
        {
            Assert.Equal(0, o.RoiLabels!.abs().sum().item<long>());
            Assert.Equal(0f, o.LossBoxReg!.item<float>());
            Assert.Equal(0f, o.LossRpnBoxReg!.item<float>());
            var total = Tiny.Total(o);
            Assert.True(float.IsFinite(total.item<float>()) && total.item<float>() > 0);
            total.backward();
        }
        // One image with boxes, one without.
        using var mixed = model.forward_taps(images, Tiny.Losses | FasterRcnn.Taps.RoiLabels | FasterRcnn.Taps.SampledRois, [boxes[0], none[1]], [labels[0], noLabels[1]]);
        var second = mixed.SampledRois!.select(1, 0).eq(1);
        Assert.Equal(0, mixed.RoiLabels!.index(torch.where(second)[0]).abs().sum().item<long>());
        Assert.True(mixed.RoiLabels.gt(0).sum().item<long>() > 0);
        Assert.True(float.IsFinite(Tiny.Total(mixed).item<float>()));
    }

    [Fact]
    public void Bad_ground_truth_gives_clear_errors()
    {
        using var scope = torch.NewDisposeScope();
        using var model = Tiny.Model();
        var (images, boxes, labels) = Tiny.Batch();
        ArgumentException Fails(Tensor[]? b, Tensor[]? l) => Assert.ThrowsAny<ArgumentException>(() => model.forward_taps(images, Tiny.Losses, b, l));

        Assert.Contains("training mode", Fails(null, null).Message);
        Assert.Contains("2 images", Fails([boxes[0]], [labels[0]]).Message);
        var degenerate = Fails([boxes[0], torch.tensor(new float[] { 20, 5, 20, 30 }, new long[] { 1, 4 })], labels);
        Assert.Contains("positive height and width", degenerate.Message);
        Assert.Contains("index 1", degenerate.Message);
        Assert.Contains("NaN", Fails([boxes[0], torch.tensor(new float[] { 20, float.NaN, 60, 30 }, new long[] { 1, 4 })], labels).Message);
        var label = Fails(boxes, [labels[0], torch.tensor(new long[] { 3 })]);
        Assert.Contains("image 1", label.Message);
        Assert.Contains("label 3", label.Message);
        Assert.Contains("label 0", Fails(boxes, [labels[0], torch.tensor(new long[] { 0 })]).Message);
        Assert.Contains("outside", Fails([boxes[0], torch.tensor(new float[] { 100, 5, 120, 30 }, new long[] { 1, 4 })], labels).Message);
        Assert.Contains("[K, 4]", Fails([boxes[0], torch.zeros([2, 3])], labels).Message);
        // Partly outside: clipped to the image for the targets, and trains.
        using var o = model.forward_taps(images, Tiny.Losses | FasterRcnn.Taps.RoiMatchedBoxes, [boxes[0], torch.tensor(new float[] { -10, 5, 200, 30 }, new long[] { 1, 4 })], labels);
        Assert.True(o.RoiMatchedBoxes!.select(1, 2).max().item<float>() <= 80);
        Assert.True(float.IsFinite(Tiny.Total(o).item<float>()));
        // In evaluation, taps that need ground truth say so.
        model.eval();
        Assert.Contains("need the ground truth", Assert.Throws<ArgumentException>(() => model.forward_taps(images, FasterRcnn.Taps.LossClassifier)).Message);
    }

    [Fact]
    public void Constructor_errors_name_the_parameter_and_the_choices()
    {
        var e = Assert.Throws<ArgumentException>(() => new FasterRcnn(3, backbone: "vgg16"));
        Assert.Contains("resnet18, resnet34, resnet50, resnet101, resnet152, small", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FasterRcnn(0));
        Assert.Contains("anchor_sizes", Assert.Throws<ArgumentException>(() => new FasterRcnn(3, anchor_sizes: [8, 16])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new FasterRcnn(3, backbone: "resnet18", trainable_layers: 6));
    }

    [Theory]
    [InlineData("resnet101", 23)]
    [InlineData("resnet152", 36)]
    public void The_deep_resnets_build_torchvisions_layer3_in_every_detector(string backbone, int layer3Blocks)
    {
        // DeFeat's and Global Knowledge's teachers are ResNet-101/152 detectors: torchvision's names and block counts
        using var frcnn = new FasterRcnn(3, backbone: backbone);
        var keys = frcnn.state_dict().Select(kv => kv.Key).ToHashSet();
        Assert.Contains($"backbone.body.layer3.{layer3Blocks - 1}.conv3.weight", keys);
        Assert.DoesNotContain($"backbone.body.layer3.{layer3Blocks}.conv3.weight", keys);
        Assert.Contains("backbone.fpn.inner_blocks.3.0.weight", keys);
        using var retina = new RetinaNet(3, backbone: backbone);
        Assert.Contains($"backbone.body.layer3.{layer3Blocks - 1}.conv3.weight", retina.state_dict().Select(kv => kv.Key));
        using var c4 = new FasterRcnnC4(3, backbone: backbone);
        Assert.Contains($"backbone.body.layer3.{layer3Blocks - 1}.conv3.weight", c4.state_dict().Select(kv => kv.Key));
    }

    [Fact]
    public void Resnet_backbones_freeze_all_but_the_trainable_layers()
    {
        using var model = new FasterRcnn(3, backbone: "resnet18", trainable_layers: 2, fpn_channels: 32, representation_size: 64);
        foreach (var (name, p) in model.named_parameters())
        {
            var trainable = !name.StartsWith("backbone.body.", StringComparison.Ordinal)
                || name.StartsWith("backbone.body.layer4", StringComparison.Ordinal) || name.StartsWith("backbone.body.layer3", StringComparison.Ordinal);
            Assert.True(trainable == p.requires_grad, name);
        }
        Assert.Contains(model.state_dict().Keys, k => k == "backbone.body.bn1.running_var");
        Assert.DoesNotContain(model.state_dict().Keys, k => k.EndsWith("num_batches_tracked", StringComparison.Ordinal));
        Assert.Contains("rpn.head.conv.0.0.weight", model.state_dict().Keys);
        Assert.Contains("backbone.fpn.inner_blocks.3.0.weight", model.state_dict().Keys);
    }
}

/// <summary>Training and tensor lifetimes (seeded or counting live tensors: alone).</summary>
[Collection(SequentialCollection.Name)]
public class TrainingTests
{
    [Fact]
    public void A_tiny_faster_rcnn_trains_and_its_loss_falls()
    {
        torch.manual_seed(0);
        using var model = Tiny.Model();
        var (images, boxes, labels) = Tiny.Batch();
        var optimizer = torch.optim.SGD(model.parameters().Where(p => p.requires_grad), lr: 0.02, momentum: 0.9);
        var losses = new List<float>();
        for (var step = 0; step < 12; step++)
        {
            using var scope = torch.NewDisposeScope();
            optimizer.zero_grad();
            using var o = model.forward_taps(images, Tiny.Losses, boxes, labels);
            var total = Tiny.Total(o);
            total.backward();
            optimizer.step();
            losses.Add(total.item<float>());
        }
        Assert.All(losses, l => Assert.True(float.IsFinite(l)));
        Assert.True(losses.TakeLast(3).Average() < 0.8 * losses.Take(3).Average(), $"losses {string.Join(", ", losses)}");
    }

    [Fact]
    public void Repeated_passes_leak_no_tensors()
    {
        torch.manual_seed(1);
        using var model = Tiny.Model();
        var (images, boxes, labels) = Tiny.Batch();
        FasterRcnn.Taps[] requests = [FasterRcnn.Taps.None, Tiny.Losses, FasterRcnn.Taps.P3 | FasterRcnn.Taps.SampledRois, FasterRcnn.Taps.All];
        foreach (var training in new[] { true, false })
        {
            model.train(training);
            foreach (var request in requests)
            {
                using (model.forward_taps(images, request, boxes, labels)) { }
                var before = SequentialCollection.SettledLiveCount();
                for (var k = 0; k < 3; k++)
                {
                    var o = model.forward_taps(images, request, boxes, labels);
                    var kept = Enum.GetValues<FasterRcnn.Taps>().Count(t => t != FasterRcnn.Taps.None && t != FasterRcnn.Taps.All && (request & t) == t);
                    Assert.Equal(before + kept, SequentialCollection.SettledLiveCount());
                    o.Dispose();
                    Assert.Equal(before, SequentialCollection.SettledLiveCount());
                }
            }
        }
        model.eval();
        var start = SequentialCollection.SettledLiveCount();
        for (var k = 0; k < 3; k++)
            foreach (var d in model.detect(images)) d.Dispose();
        Assert.Equal(start, SequentialCollection.SettledLiveCount());
    }

    [Fact]
    public void RetinaNet_and_c4_passes_leak_no_tensors()
    {
        torch.manual_seed(2);
        var (images, boxes, labels) = Tiny.Batch();
        using var retina = new RetinaNet(Tiny.Classes, "small", width: 8, fpn_channels: 16, anchor_sizes: [8, 16, 32, 64, 128], min_size: 64, max_size: 96);
        using var c4 = new FasterRcnnC4(Tiny.Classes, "small", width: 8, anchor_sizes: [8, 16, 32, 64], min_size: 64, max_size: 96,
            rpn_post_nms_top_n_train: 100, rpn_post_nms_top_n_test: 50, box_batch_size_per_image: 32);
        foreach (var training in new[] { true, false })
        {
            retina.train(training);
            c4.train(training);
            using (retina.forward_taps(images, RetinaNet.Taps.All, boxes, labels)) { }
            using (c4.forward_taps(images, FasterRcnnC4.Taps.All, boxes, labels)) { }
            var before = SequentialCollection.SettledLiveCount();
            using (var o = retina.forward_taps(images, RetinaNet.Taps.All, boxes, labels))
                Assert.Equal(before + 13, SequentialCollection.SettledLiveCount());
            using (var o = c4.forward_taps(images, FasterRcnnC4.Taps.All, boxes, labels))
                Assert.Equal(before + 19, SequentialCollection.SettledLiveCount());
            Assert.Equal(before, SequentialCollection.SettledLiveCount());
        }
        var start = SequentialCollection.SettledLiveCount();
        foreach (var d in retina.detect(images).Concat(c4.detect(images))) d.Dispose();
        Assert.Equal(start, SequentialCollection.SettledLiveCount());
    }
}
