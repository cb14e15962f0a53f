namespace Distill.Generators.Tests;

/// <summary>Experiments written both ways: each C# class declares exactly what its YAML twin does.</summary>
internal static class CodeFirstSources
{
    /// <summary>The binder tests' experiment (without <c>taps:</c>) plus optimizer, schedule, seeds, evaluation and a weight warm-up.</summary>
    public const string KdYaml = """
        name: kd-test
        paper: Hinton et al. 2015
        seeds: [1, 2, 3]
        data:
          train: { dataset: SyntheticImages, args: { classes: 100, samples: 2000 } }
          val: { dataset: SyntheticImages, args: { classes: 100, samples: 500, seed: 2 } }
          batch: 64
        teacher: { model: CifarResNet, args: { depth: 56, classes: 100, width: 4 }, from: teacher-run }
        student: { model: CifarResNet, args: { depth: 20, classes: 100 } }
        adapters:
          hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3 }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label, weight: 0.1 }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.9, schedule: { warmup: 10 } }
          fit: { loss: fitnet_mse, student: hint, teacher: teacher.stage3, weight: 1 }
        optimizer:
          sgd: { lr: 0.05, momentum: 0.9, weight_decay: 5e-4 }
          groups: [ { params: [adapters], lr: 0.1 } ]
        schedule: { epochs: 240, multistep: { milestones: [150, 180, 210], gamma: 0.1 }, warmup: 5 }
        eval: { metrics: [top1, top5], every: 1 }
        """;

    /// <summary>
    /// <see cref="KdYaml"/> as a class. The student's constructor arguments and the loss calls are positional:
    /// the reader names them through the constructor and the loss's parameters.
    /// </summary>
    public const string KdClass = """
        using Distill.Runtime;
        using Distill.Experiments.Dsl;
        using TestZoo;

        namespace Lab;

        [Experiment("kd-test", Paper = "Hinton et al. 2015")]
        [Seeds(1, 2, 3)]
        [Sgd(Lr = 0.05, Momentum = 0.9, WeightDecay = 5e-4)]
        [ParamGroup("adapters", Lr = 0.1)]
        [MultiStep(240, Milestones = new[] { 150, 180, 210 }, Gamma = 0.1, Warmup = 5)]
        [Eval("top1", "top5", Every = 1)]
        public partial class KdTest
        {
            [TrainData(Batch = 64)] SyntheticImages TrainData { get; } = new(classes: 100, samples: 2000);
            [ValData] SyntheticImages ValData { get; } = new(classes: 100, samples: 500, seed: 2);
            [Teacher(From = "teacher-run")] CifarResNet Teacher { get; } = new(depth: 56, classes: 100, width: 4);
            [Student] CifarResNet Student { get; } = new(20, 100);
            [Adapter] TapRef<FeatureMap> Hint => Adapter.Conv1x1(Taps.Student.stage3, Taps.Teacher.stage3);
            [Loss(Weight = 0.1)] LossTerm Ce => Loss.cross_entropy(Taps.Student.logits, Batch.label);
            [Loss(Weight = 0.9, WarmupEpochs = 10)] LossTerm Kd => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4);
            [Loss(Weight = 1)] LossTerm Fit => Loss.fitnet_mse(Hint, Taps.Teacher.stage3);
        }
        """;

    /// <summary>Two teachers (a weighted KD term each), a user-defined model, data set and loss, a decaying weight, collection expressions.</summary>
    public const string MultiYaml = """
        name: two-teachers
        data:
          train: { dataset: MaskedImages, args: { classes: 10 } }
          batch: 32
        teachers:
          teacher: { model: CifarResNet, args: { depth: 56, classes: 10 }, checkpoint: teachers/resnet56.safetensors }
          wide_teacher: { model: CifarResNet, args: { depth: 20, classes: 10, width: 4 }, from: wide-run }
        student: { model: EmbedNet, args: { dim: 64 } }
        adapters:
          embed: { kind: linear, from: student.embedding, to: teacher.pooled }
        losses:
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 2.5, weight: 0.5 }
          kd_wide: { loss: hinton_kd, teacher: wide_teacher.logits, student: student.logits, weight: 0.5, schedule: { warmup: 5, decay: linear } }
          emb: { loss: scaled_l1, student: embed, teacher: teacher.pooled, scale: 2 }
          masked: { loss: masked_fit, student: [student.features, student.features], teacher: [teacher.stage3, teacher.stage3], masks: [batch.mask, batch.mask] }
        optimizer: { adamw: { lr: 1e-3, betas: [0.9, 0.999] } }
        schedule: { epochs: 30, cosine: { eta_min: 0 } }
        """;

    /// <summary>The user's own model, data set and losses, marked with Distill.Metadata's attributes.</summary>
    public const string UserTypes = """
        using Distill.Metadata;
        using Distill.Torch;

        namespace Lab.Zoo
        {
            [DistillModel]
            [Tap("features", TensorKind.FeatureMap, "N, 64, H/4, W/4")]
            [Tap("embedding", TensorKind.Embedding, "N, dim")]
            [Tap("logits", TensorKind.Logits, "N, classes")]
            public sealed class EmbedNet { public EmbedNet(int dim, int classes = 10) { } }

            [DistillDataset]
            [BatchField("image", TensorKind.FeatureMap, "N, 3, 32, 32")]
            [BatchField("label", TensorKind.Labels, "N", Classes = "classes")]
            [BatchField("mask", TensorKind.Mask, "N, 8, 8")]
            public sealed class MaskedImages { public MaskedImages(int classes = 10) { } }

            public static class MyLosses
            {
                [DistillLoss("scaled_l1", Formula = "scale * mean |s - t|")]
                public static Tensor scaled_l1(
                    [Input(InputRole.Student, TensorKind.Embedding, Shape = "B,D")] Tensor student,
                    [Input(InputRole.Teacher, TensorKind.Embedding, Shape = "B,D")] Tensor teacher,
                    [HyperParameter(Min = 0, MinExclusive = true, Description = "scale")] double scale = 1.0) => throw new System.NotSupportedException();

                [DistillLoss("masked_fit")]
                public static Tensor masked_fit(
                    [Input(InputRole.Student, TensorKind.FeatureMap)] Tensor[] student,
                    [Input(InputRole.Teacher, TensorKind.FeatureMap)] Tensor[] teacher,
                    [Input(InputRole.Auxiliary, TensorKind.Mask)] Tensor[] masks) => throw new System.NotSupportedException();
            }
        }
        """;

    public const string MultiClass = """
        using Distill.Runtime;
        using Distill.Experiments.Dsl;
        using Lab.Zoo;
        using TestZoo;

        namespace Lab.Multi
        {
            [Experiment("two-teachers")]
            [AdamW(Lr = 1e-3, Betas = [0.9, 0.999])]
            [Cosine(30, EtaMin = 0)]
            partial class TwoTeachers
            {
                [TrainData(Batch = 32)] MaskedImages TrainData => new(classes: 10);
                [Student] EmbedNet Student { get; } = new EmbedNet(dim: 64);
                [Teacher(Checkpoint = "teachers/resnet56.safetensors")] CifarResNet Teacher { get; } = new(depth: 56, classes: 10);
                [Teacher(From = "wide-run")] CifarResNet WideTeacher { get; } = new(20, 10, width: 4);
                [Adapter] TapRef<Embedding> Embed => Adapter.Linear(Taps.Student.embedding, Taps.Teacher.pooled);
                [Loss(Weight = 0.5)] LossTerm Kd => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 2.5);
                [Loss(Weight = 0.5, WarmupEpochs = 5, Decay = Decay.Linear)] LossTerm KdWide => Loss.hinton_kd(teacher: Taps.WideTeacher.logits, student: Taps.Student.logits);
                [Loss] LossTerm Emb => Loss.scaled_l1(Embed, Taps.Teacher.pooled, 2);
                [Loss] LossTerm Masked => Loss.masked_fit([Taps.Student.features, Taps.Student.features], new[] { Taps.Teacher.stage3, Taps.Teacher.stage3 }, [Batch.mask, Batch.mask]);
            }
        }
        """;
}
