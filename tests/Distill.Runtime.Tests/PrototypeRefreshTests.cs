using Distill.Data;
using Distill.Losses;

namespace Distill.Runtime.Tests;

/// <summary><see cref="PrototypeRefresh"/> over a detection data set, with stand-in "detectors" (fixed poolings of the image).</summary>
public class PrototypeRefreshTests
{
    // Two levels at strides 4 and 8, three "channels" each: the student and the teacher see the image differently.
    private static IReadOnlyList<Tensor> Levels(Tensor image, double scale) =>
        [torch.nn.functional.avg_pool2d(image.to(ScalarType.Float32) * scale, 4), torch.nn.functional.avg_pool2d((image.to(ScalarType.Float32) * scale).pow(2), 8)];

    [Fact]
    public void The_teachers_features_are_pooled_once_and_later_rebuilds_run_the_student_only()
    {
        using var data = new SyntheticDetection(classes: 3, samples: 12, size: 64, seed: 1);
        var request = new EpochStateRequest(0, Device.CPU, 4, null, new NullProgressReporter());
        var teacherPasses = 0;
        var studentScale = 1.0;
        (IReadOnlyList<Tensor>, IReadOnlyList<Tensor>?) Maps(Tensor image, bool teacher)
        {
            if (teacher) teacherPasses++;
            return (Levels(image, studentScale), teacher ? Levels(image, 2.0) : null);
        }
        static (Tensor, IReadOnlyList<Tensor>, IReadOnlyList<Tensor>) Truth(DetectionBatch b) => (b.image, b.boxes, b.labels);

        using var bank = new PrototypeBank(instances_per_class: 5, count: 2);
        PrototypeRefresh.Run<DetectionBatch>(bank, data, request, Maps, Truth, []);
        var firstPasses = teacherPasses;
        Assert.True(firstPasses > 0);
        Assert.True(bank.HasTeacherCache);

        // The student moved (another scale); the teacher did not: its table must be as a full recomputation gives.
        studentScale = 1.5;
        PrototypeRefresh.Run<DetectionBatch>(bank, data, request with { Epoch = 1 }, Maps, Truth, []);
        Assert.Equal(firstPasses, teacherPasses);
        using var fresh = new PrototypeBank(instances_per_class: 5, count: 2);
        PrototypeRefresh.Run<DetectionBatch>(fresh, data, request, (image, _) => (Levels(image, 1.5), Levels(image, 2.0)), Truth, []);
        Assert.Equal(fresh.Levels, bank.Levels);
        for (var l = 0; l < bank.Levels; l++)
        {
            Assert.True(bank.Level(l).Student.equal(fresh.Level(l).Student), $"level {l}: student");
            Assert.True(bank.Level(l).Teacher.equal(fresh.Level(l).Teacher), $"level {l}: teacher");
            Assert.True(bank.Level(l).ClassStarts.equal(fresh.Level(l).ClassStarts), $"level {l}: class starts");
        }
    }
}
