using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Distill.Runtime;
using Distill.Torch;
using Microsoft.CodeAnalysis;

namespace Distill.Generators.Tests;

/// <summary>
/// End to end: two tiny YAML experiments (a teacher trained from scratch, and a student distilled from it
/// through KD, FitNets with an adapter and cross-entropy) are generated, compiled, loaded and trained by
/// their generated loops through the experiment registry. The loss falls, the run directories hold the
/// config, metrics, checkpoints and summary, and a run stopped mid-epoch and resumed ends bit-for-bit
/// where an uninterrupted run ends.
/// </summary>
[Collection(SequentialCollection.Name)]
public class TrainingLoopTests
{
    private const string Data = """
        data:
          train: { dataset: SyntheticImages, args: { classes: 4, samples: 96, size: 8, seed: 1 } }
          val: { dataset: SyntheticImages, args: { classes: 4, samples: 32, size: 8, seed: 1, split: val } }
          batch: 16
        """;

    private const string TeacherYaml = "name: e2e-teacher\n" + Data + "\n" + """
        student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 4, stem: 4 } }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label }
        optimizer: { sgd: { lr: 0.1, momentum: 0.9 } }
        schedule: { epochs: 3 }
        """;

    private const string StudentYaml = "name: e2e-student\n" + Data + "\n" + """
        teacher: { model: CifarResNet, args: { depth: 8, classes: 4, width: 4, stem: 4 }, from: e2e-teacher }
        student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 } }
        adapters:
          hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3, norm: bn, act: relu }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label, weight: 0.5 }
          kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.5 }
          fit: { loss: fitnet_mse, student: hint, teacher: teacher.stage3, weight: 0.1, schedule: { warmup: 1 } }
        optimizer:
          sgd: { lr: 0.05, momentum: 0.9, weight_decay: 5e-4 }
          groups: [ { params: [adapters], lr: 0.1 } ]
        schedule: { epochs: 4, multistep: { milestones: [3], gamma: 0.1 }, warmup: 1, clip_grad_norm: 5 }
        eval: { metrics: [top1, top2] }
        """;

    /// <summary>A student with the teacher's architecture that starts from the teacher's trained weights.</summary>
    private const string FinetuneYaml = "name: e2e-finetune\n" + Data + "\n" + """
        student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 4, stem: 4 }, from: e2e-teacher }
        losses:
          ce: { loss: cross_entropy, input: student.logits, target: batch.label }
        schedule: { epochs: 1 }
        """;

    /// <summary><see cref="StudentYaml"/> written as a class.</summary>
    private const string StudentClass = """
        using Distill.Data;
        using Distill.Experiments.Dsl;
        using Distill.Models;
        using Distill.Runtime;

        namespace Lab;

        [Experiment("e2e-student")]
        [Sgd(Lr = 0.05, Momentum = 0.9, WeightDecay = 5e-4)]
        [ParamGroup("adapters", Lr = 0.1)]
        [MultiStep(4, Milestones = [3], Gamma = 0.1, Warmup = 1, ClipGradNorm = 5)]
        [Eval("top1", "top2")]
        public partial class E2eStudentExperiment
        {
            [TrainData(Batch = 16)] SyntheticImages TrainData { get; } = new(classes: 4, samples: 96, size: 8, seed: 1);
            [ValData] SyntheticImages ValData { get; } = new(classes: 4, samples: 32, size: 8, seed: 1, split: "val");
            [Teacher(From = "e2e-teacher")] CifarResNet Teacher { get; } = new(depth: 8, classes: 4, width: 4, stem: 4);
            [Student] CifarResNet Student { get; } = new(depth: 8, classes: 4, width: 2, stem: 4);
            [Adapter] TapRef<FeatureMap> Hint => Adapter.Conv1x1(Taps.Student.stage3, Taps.Teacher.stage3, norm: AdapterNorm.BatchNorm, act: AdapterActivation.ReLU);
            [Loss(Weight = 0.5)] LossTerm Ce => Loss.cross_entropy(Taps.Student.logits, Batch.label);
            [Loss(Weight = 0.5)] LossTerm Kd => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4);
            [Loss(Weight = 0.1, WarmupEpochs = 1)] LossTerm Fit => Loss.fitnet_mse(Hint, Taps.Teacher.stage3);
        }
        """;

    private static readonly Lazy<Assembly> s_assembly = new(Build);
    private static Dictionary<string, string> s_generated = new();

    /// <summary>Generates and compiles both experiments once, and loads the assembly (its module initializer registers them).</summary>
    private static Assembly Build()
    {
        var driver = GeneratorHarness.Driver(new InMemoryAdditionalText("e2e/teacher.distill.yaml", TeacherYaml), new InMemoryAdditionalText("e2e/student.distill.yaml", StudentYaml),
            new InMemoryAdditionalText("e2e/finetune.distill.yaml", FinetuneYaml));
        var result = GeneratorHarness.RunDriver(driver, GeneratorHarness.TrainingCompilation("// the experiments are YAML only"));
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
        s_generated = result.Run.GeneratedTrees.ToDictionary(t => Path.GetFileName(t.FilePath), t => t.ToString());
        return LoadAndRegister(result);
    }

    /// <summary>Compiles a generator run's output and loads it, so its module initializer registers its experiments.</summary>
    private static Assembly LoadAndRegister(GeneratorHarness.Result result)
    {
        using var pe = new MemoryStream();
        var emit = result.Output.Emit(pe);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
        var assembly = Assembly.Load(pe.ToArray());
        RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);
        return assembly;
    }

    private static ExperimentInfo Experiment(string name)
    {
        _ = s_assembly.Value;
        return ExperimentRegistry.Find(name) ?? throw new InvalidOperationException($"'{name}' is not registered");
    }

    private static TrainOptions Options(string root, string? runName = null) =>
        new() { OutputRoot = root, Seed = 7, RunName = runName, Progress = ProgressMode.None, Device = "cpu" };

    [Fact]
    public void A_generated_teacher_and_student_train_and_a_stopped_run_resumes_exactly()
    {
        using var tmp = new TempDir();
        var before = SequentialCollection.SettledLiveCount();

        // The student needs the teacher's run: a clear error first, then the teacher.
        var missing = Assert.ThrowsAny<DistillRuntimeException>(() => Experiment("e2e-student").Run(Options(tmp.Path, "early")));
        Assert.Contains("experiment 'e2e-teacher', which has no finished run", missing.Message);
        var teacher = Experiment("e2e-teacher").Run(Options(tmp.Path));
        Assert.True(teacher.Completed);
        Assert.Equal((3, 18L), (teacher.Epochs, teacher.Steps)); // 96 samples / 16 per batch = 6 steps per epoch
        var teacherTrain = RunDirectory.ReadMetrics(teacher.RunPath).Where(r => r.Phase == "train").ToList();
        Assert.True(teacherTrain[^1].Values["ce"] < teacherTrain[0].Values["ce"], "the teacher's loss falls");
        Assert.Equal(teacher.RunPath, Path.GetDirectoryName(Path.GetDirectoryName(TeacherWeights.FindRun("e2e-teacher", tmp.Path))));

        var full = Experiment("e2e-student").Run(Options(tmp.Path, "full"));
        Assert.True(full.Completed);
        Assert.Equal((4, 24L), (full.Epochs, full.Steps));
        var records = RunDirectory.ReadMetrics(full.RunPath);
        Assert.Equal(["teacher", "train", "val", "train", "val", "train", "val", "train", "val"], records.Select(r => r.Phase));
        Assert.InRange(records[0].Values["teacher_top1"], 0.0, 1.0);
        var train = records.Where(r => r.Phase == "train").ToList();
        Assert.True(train[^1].Values["loss"] < train[0].Values["loss"], $"the student's loss falls: {train[0].Values["loss"]} → {train[^1].Values["loss"]}");
        Assert.All(train, r => Assert.Equal(["ce", "fit", "kd", "loss", "lr"], r.Values.Keys.Order()));
        // LR: one warm-up epoch from half the rate, then 0.05, then ×0.1 at epoch 3 (of 4).
        Assert.Equal([0.025, 0.05, 0.05, 0.005], train.Select(r => Math.Round(r.Values["lr"], 6)));
        Assert.Contains("val_top2", records.Last(r => r.Phase == "val").Values.Keys);
        Assert.True(File.Exists(Path.Combine(full.RunPath, "config.yaml")));
        Assert.Contains("name: e2e-student", File.ReadAllText(Path.Combine(full.RunPath, "config.yaml")));
        Assert.Contains("run: { seed: 7, epochs: 4, batch: 16, device: cpu, quick: false }", File.ReadAllText(Path.Combine(full.RunPath, "config.yaml")));
        Assert.True(File.Exists(Path.Combine(full.RunPath, "checkpoints", "latest.json")));
        Assert.True(File.Exists(Path.Combine(full.RunPath, "checkpoints", "best.json")));
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(full.RunPath, "summary.json")))!;
        Assert.Equal(24, (long)summary["steps"]!);
        Assert.True((bool)summary["completed"]!);

        // Stopped after 8 steps (in the second epoch), then resumed: the same weights, optimizer state and metrics.
        var part = Experiment("e2e-student").Run(Options(tmp.Path, "part") with { StopAfterSteps = 8 });
        Assert.False(part.Completed);
        Assert.Equal((1, 8L), (part.Epochs, part.Steps));
        Assert.Equal((1, 2L), (Checkpoint.ReadInfo(part.RunPath).Epoch, Checkpoint.ReadInfo(part.RunPath).BatchInEpoch));
        var resumed = Experiment("e2e-student").Run(Options(tmp.Path, "part") with { Resume = true });
        Assert.Equal(part.RunPath, resumed.RunPath);
        Assert.True(resumed.Completed);
        Assert.Equal((4, 24L), (resumed.Epochs, resumed.Steps));
        Assert.Equal(full.Final["val_top1"], resumed.Final["val_top1"]);
        AssertSameTensors(Checkpoint.ReadInfo(full.RunPath).TensorsPath, Checkpoint.ReadInfo(resumed.RunPath).TensorsPath);
        Assert.Contains("resume", RunDirectory.ReadMetrics(resumed.RunPath).Select(r => r.Phase));

        // Every model, batch and intermediate was released.
        Assert.Equal(before, SequentialCollection.SettledLiveCount());
    }

    [Fact]
    public void A_student_with_from_starts_from_that_runs_trained_weights_in_both_front_ends_and_may_freeze_parts()
    {
        using var tmp = new TempDir();
        Assert.Contains("e2e-teacher", Experiment("e2e-finetune").DependsOn);
        var missing = Assert.ThrowsAny<DistillRuntimeException>(() => Experiment("e2e-finetune").Run(Options(tmp.Path)));
        Assert.Contains("student 'student' takes its weights from experiment 'e2e-teacher'", missing.Message);

        Experiment("e2e-teacher").Run(Options(tmp.Path));
        // One step at a negligible rate: the checkpoint's parameters are the teacher run's, to within that step.
        var start = Experiment("e2e-finetune").Run(Options(tmp.Path) with { StopAfterSteps = 1, LearningRate = 1e-9 });
        Assert.Equal(1L, start.Steps);
        using var trained = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 4, stem: 4);
        using var started = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 4, stem: 4);
        using var fresh = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 4, stem: 4);
        Checkpoint.LoadModule(TeacherWeights.FindRun("e2e-teacher", tmp.Path)!, TeacherWeights.StudentModule, trained);
        Checkpoint.LoadModule(start.RunPath, TeacherWeights.StudentModule, started);
        var a = trained.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var b = started.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var c = fresh.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        Assert.All(a.Keys, k => Assert.True(a[k].allclose(b[k], rtol: 0, atol: 1e-6), $"{k} is not the teacher run's"));
        Assert.Contains(a.Keys, k => !a[k].allclose(c[k], rtol: 0, atol: 1e-3)); // and the teacher run's are not an initialisation

        // The same declaration in a class.
        const string source = """
            using Distill.Data;
            using Distill.Experiments.Dsl;
            using Distill.Models;
            using Distill.Runtime;

            namespace Lab;

            [Experiment("finetune-class")]
            public partial class FinetuneExperiment
            {
                [TrainData(Batch = 16)] SyntheticImages TrainData { get; } = new(classes: 4, samples: 96, size: 8, seed: 1);
                [Student(From = "e2e-teacher", Freeze = ["conv1", "layer1.0"])] CifarResNet Student { get; } = new(depth: 8, classes: 4, width: 4, stem: 4);
                [Loss] LossTerm Ce => Loss.cross_entropy(Taps.Student.logits, Batch.label);
            }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.TrainingCompilation(source));
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        var train = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith(".Train.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("global::Distill.Runtime.TeacherWeights.LoadFromExperiment(Student, \"student\", \"e2e-teacher\", options, role: \"student\");", train);
        Assert.Contains("global::Distill.Runtime.ModulePaths.Freeze(Student, \"student\", ExperimentName, [\"conv1\", \"layer1.0\"]);", train); // freeze, as in YAML
    }

    [Fact]
    public void Transforms_set_the_augmentation_and_normalisation_in_both_front_ends()
    {
        const string yaml = """
            name: plain-images
            data:
              train: { dataset: SyntheticImages, args: { classes: 4, samples: 96, size: 8, seed: 1 }, transforms: { crop: 0, flip: false, normalize: false } }
              val: { dataset: SyntheticImages, args: { classes: 4, samples: 32, size: 8, seed: 1, split: val }, transforms: { normalize: false } }
              batch: 16
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 } }
            losses:
              ce: { loss: cross_entropy, input: student.logits, target: batch.label }
            """;
        const string source = """
            using Distill.Data;
            using Distill.Experiments.Dsl;
            using Distill.Models;
            using Distill.Runtime;

            namespace Lab;

            [Experiment("plain-images")]
            public partial class PlainImagesExperiment
            {
                [TrainData(Batch = 16, Crop = 0, Flip = false, Normalize = false)] SyntheticImages TrainData { get; } = new(classes: 4, samples: 96, size: 8, seed: 1);
                [ValData(Normalize = false)] SyntheticImages ValData { get; } = new(classes: 4, samples: 32, size: 8, seed: 1, split: "val");
                [Student] CifarResNet Student { get; } = new(depth: 8, classes: 4, width: 2, stem: 4);
                [Loss] LossTerm Ce => Loss.cross_entropy(Taps.Student.logits, Batch.label);
            }
            """;
        var fromYaml = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("plain.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation("// yaml only"));
        var fromClass = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.TrainingCompilation(source));
        foreach (var result in new[] { fromYaml, fromClass })
        {
            Assert.Empty(result.GeneratorDiagnostics);
            Assert.Empty(result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
            var train = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith(".Train.g.cs", StringComparison.Ordinal)).ToString();
            Assert.Contains("TrainTransform = new global::Distill.Data.ImageTransform(padding: 0, horizontalFlip: false),", train);
            Assert.Contains("Device = request.Device }, new global::Distill.Data.ImageTransform());", train);
            // The description: PlainImagesExperiment.g.cs from YAML, Lab.PlainImagesExperiment.Experiment.g.cs from the class.
            var description = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("PlainImagesExperiment.g.cs", StringComparison.Ordinal)
                || t.FilePath.EndsWith("PlainImagesExperiment.Experiment.g.cs", StringComparison.Ordinal)).ToString();
            Assert.Contains("transforms: { crop: 0, flip: false, normalize: false }", description);
            Assert.Contains("transforms: { normalize: false }", description);
        }

        // Evaluation data is never augmented; a data set that is not an image data set takes no image processing.
        var crop = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("plain.distill.yaml", yaml.Replace("transforms: { normalize: false }", "transforms: { crop: 2 }"))),
            GeneratorHarness.TrainingCompilation("// yaml only"));
        var d = Assert.Single(crop.GeneratorDiagnostics);
        Assert.Equal("Unknown key 'crop' in the transforms of data.val; expected one of: normalize", d.GetMessage());
    }

    [Fact]
    public void Both_front_ends_offer_a_run_the_same_settings_to_override()
    {
        const string yaml = "name: settings-twins\n" + Data + "\n" + """
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 } }
            losses:
              ce: { loss: cross_entropy, weight: 0.5, args: { input: student.logits, target: batch.label, label_smoothing: 0.1 } }
            optimizer: { adamw: { lr: 0.002, weight_decay: 0.05 } }
            schedule: { epochs: 3, step: { step_size: 2, gamma: 0.5 } }
            """;
        const string source = """
            using Distill.Data;
            using Distill.Models;
            using Distill.Runtime;

            namespace Lab;

            [Experiment("settings-twins")]
            [AdamW(Lr = 0.002, WeightDecay = 0.05)]
            [StepLr(3, StepSize = 2, Gamma = 0.5)]
            public partial class SettingsTwinsExperiment
            {
                [TrainData(Batch = 16)] SyntheticImages TrainData { get; } = new(classes: 4, samples: 64, size: 8, seed: 1);
                [ValData] SyntheticImages ValData { get; } = new(classes: 4, samples: 32, size: 8, seed: 1, split: "val");
                [Student] CifarResNet Student { get; } = new(depth: 8, classes: 4, width: 2, stem: 4);
                [Loss(Weight = 0.5)] LossTerm Ce => Loss.cross_entropy(Taps.Student.logits, Batch.label, label_smoothing: 0.1);
            }
            """;
        var fromYaml = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("twins.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation("// yaml only"));
        var fromClass = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.TrainingCompilation(source));
        Assert.Empty(fromYaml.GeneratorDiagnostics);
        Assert.Empty(fromClass.GeneratorDiagnostics);
        // The loss's weights and hyper-parameters (LossSettings), and the table --set is validated against: the same keys,
        // declared values and rules, whichever way the experiment is written.
        var settings = Between(Generated(fromYaml, ".Loss.g.cs"), "public sealed class LossSettings", "public LossSettings Settings");
        Assert.Contains("public double CeLabelSmoothing { get; set; } = 0.1;", settings);
        Assert.Contains("public double CeWeight { get; set; } = 0.5;", settings);
        Assert.Equal(settings, Between(Generated(fromClass, ".Loss.g.cs"), "public sealed class LossSettings", "public LossSettings Settings"));
        var table = Between(Generated(fromYaml, ".Train.g.cs"), "Settings =", "],");
        Assert.Contains("new(\"optimizer.adamw.weight_decay\", global::Distill.Runtime.SettingKind.Number, \"0.05\"", table);
        Assert.Contains("new(\"optimizer.adamw.betas\", global::Distill.Runtime.SettingKind.NumberPair, \"[0.9, 0.999]\"", table);
        Assert.Contains("new(\"schedule.step.step_size\", global::Distill.Runtime.SettingKind.WholeNumber, \"2\"", table);
        Assert.Contains("new(\"losses.ce.args.label_smoothing\", global::Distill.Runtime.SettingKind.Number, \"0.1\", \"label smoothing epsilon\", Min: 0.0, Max: 1.0)", table);
        Assert.Equal(table, Between(Generated(fromClass, ".Train.g.cs"), "Settings =", "],"));
    }

    private static string Generated(GeneratorHarness.Result result, string suffix) =>
        Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith(suffix, StringComparison.Ordinal)).ToString();

    private static string Between(string text, string from, string to)
    {
        var start = text.IndexOf(from, StringComparison.Ordinal);
        Assert.True(start >= 0, $"'{from}' is not in the generated code");
        var end = text.IndexOf(to, start, StringComparison.Ordinal);
        Assert.True(end > start, $"'{to}' does not follow '{from}'");
        return text[start..end];
    }

    [Fact]
    public void Frozen_submodules_take_no_step_and_a_wrong_path_is_a_clear_error()
    {
        const string yaml = "name: e2e-frozen\n" + Data + "\n" + """
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 }, freeze: [conv1, layer1.0] }
            losses:
              ce: { loss: cross_entropy, input: student.logits, target: batch.label }
            optimizer: { sgd: { lr: 0.1, momentum: 0.9 } }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("frozen.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation("// yaml only"));
        Assert.Empty(result.GeneratorDiagnostics);
        var train = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith(".Train.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("global::Distill.Runtime.ModulePaths.Freeze(Student, \"student\", ExperimentName, [\"conv1\", \"layer1.0\"]);", train);
        LoadAndRegister(result);

        // Two steps: the frozen parameters keep their initial values, the others move.
        using var tmp = new TempDir();
        var run = ExperimentRegistry.Find("e2e-frozen")!.Run(Options(tmp.Path) with { StopAfterSteps = 2 });
        torch.manual_seed(7); // the run's seed: the student's initial weights
        using var initial = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 2, stem: 4);
        using var trained = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 2, stem: 4);
        Checkpoint.LoadModule(run.RunPath, TeacherWeights.StudentModule, trained);
        var before = initial.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in trained.named_parameters())
        {
            var frozen = name.StartsWith("conv1.", StringComparison.Ordinal) || name.StartsWith("layer1.0.", StringComparison.Ordinal);
            Assert.True(frozen == parameter.equal(before[name]), $"{name}: {(frozen ? "frozen but changed" : "trained but unchanged")}");
        }

        // A path the model does not have: the experiment, the path, and what is there.
        var wrong = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("frozen.distill.yaml", yaml.Replace("e2e-frozen", "e2e-frozen-wrong").Replace("layer1.0", "layer1.7"))),
            GeneratorHarness.TrainingCompilation("// yaml only"));
        LoadAndRegister(wrong);
        var e = Assert.Throws<DistillRuntimeException>(() => ExperimentRegistry.Find("e2e-frozen-wrong")!.Run(Options(tmp.Path)));
        Assert.Equal("'e2e-frozen-wrong': student has no submodule 'layer1.7' (student.layer1 has no '7'; its submodules: 0)", e.Message);
    }

    [Fact]
    public void Init_loads_a_submodule_from_a_state_dict_leaving_the_rest_and_the_files_extra_tensors_alone()
    {
        using var tmp = new TempDir();
        // "Pretrained" weights of stage layer1 of the same architecture, with a tensor the stage does not have (as an
        // ImageNet checkpoint's fc.weight beside a detector's backbone body).
        torch.manual_seed(123);
        using var donor = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 2, stem: 4);
        var file = Path.Combine(tmp.Path, "layer1.safetensors");
        var stage = ModulePaths.Find(donor, "donor", "test", "layer1").state_dict().ToDictionary(kv => kv.Key, kv => kv.Value);
        using var extra = torch.ones([3]);
        Safetensors.Save(file, stage.Append(KeyValuePair.Create("fc.weight", extra)));

        var yaml = "name: e2e-init\n" + Data + "\n" + $$"""
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 }, init: { layer1: "{{file}}" } }
            losses:
              ce: { loss: cross_entropy, input: student.logits, target: batch.label }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("init.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation("// yaml only"));
        Assert.Empty(result.GeneratorDiagnostics);
        var train = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith(".Train.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains($"global::Distill.Runtime.ModulePaths.Initialize(Student, \"student\", ExperimentName, \"layer1\", {CSharpLiteral(file)})", train);
        LoadAndRegister(result);

        // One step at a negligible rate: layer1 is the file's, the rest the run's own initialisation (seed 7).
        var run = ExperimentRegistry.Find("e2e-init")!.Run(Options(tmp["runs"]) with { StopAfterSteps = 1, LearningRate = 1e-9 });
        torch.manual_seed(7);
        using var initial = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 2, stem: 4);
        using var trained = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 2, stem: 4);
        Checkpoint.LoadModule(run.RunPath, TeacherWeights.StudentModule, trained);
        var fresh = initial.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in trained.named_parameters())
        {
            var expected = name.StartsWith("layer1.", StringComparison.Ordinal) ? stage[name["layer1.".Length..]] : fresh[name];
            Assert.True(parameter.allclose(expected, rtol: 0, atol: 1e-6), $"{name} is not {(name.StartsWith("layer1.", StringComparison.Ordinal) ? "the file's" : "the run's initialisation")}");
        }
        Assert.Contains(trained.named_parameters(), p => p.name.StartsWith("layer1.", StringComparison.Ordinal) && !p.parameter.allclose(fresh[p.name], rtol: 0, atol: 1e-3));

        // A file that does not cover the submodule: what is missing, named.
        var partial = Path.Combine(tmp.Path, "partial.safetensors");
        Safetensors.Save(partial, stage.Where(kv => !kv.Key.EndsWith("conv1.weight", StringComparison.Ordinal)));
        var wrong = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("init.distill.yaml", yaml.Replace("e2e-init", "e2e-init-partial").Replace(file, partial))),
            GeneratorHarness.TrainingCompilation("// yaml only"));
        LoadAndRegister(wrong);
        var e = Assert.Throws<DistillRuntimeException>(() => ExperimentRegistry.Find("e2e-init-partial")!.Run(Options(tmp["runs"])));
        Assert.Contains("'e2e-init-partial': init of student.layer1 from", e.Message);
        Assert.Contains("missing from the file: 0.conv1.weight", e.Message);

        // A missing file: the dry run (check) goes on from random weights; a real run stops with where it looked.
        var absent = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("init.distill.yaml", yaml.Replace("e2e-init", "e2e-init-absent").Replace(file, "no/such/backbone.safetensors"))),
            GeneratorHarness.TrainingCompilation("// yaml only"));
        LoadAndRegister(absent);
        ExperimentRegistry.Find("e2e-init-absent")!.Run(Options(tmp["dry"]) with { DryRun = true });
        var gone = Assert.Throws<DistillRuntimeException>(() => ExperimentRegistry.Find("e2e-init-absent")!.Run(Options(tmp["runs"])));
        Assert.StartsWith("'e2e-init-absent': init of student.layer1: 'no/such/backbone.safetensors' does not exist in", gone.Message);

        // The same declaration in a class.
        const string source = """
            using Distill.Data;
            using Distill.Experiments.Dsl;
            using Distill.Models;
            using Distill.Runtime;

            namespace Lab;

            [Experiment("init-class")]
            public partial class InitExperiment
            {
                [TrainData(Batch = 16)] SyntheticImages TrainData { get; } = new(classes: 4, samples: 96, size: 8, seed: 1);
                [Student(Init = ["layer1=pretrained/layer1.safetensors"])] CifarResNet Student { get; } = new(depth: 8, classes: 4, width: 2, stem: 4);
                [Loss] LossTerm Ce => Loss.cross_entropy(Taps.Student.logits, Batch.label);
            }
            """;
        var code = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.TrainingCompilation(source));
        Assert.Empty(code.GeneratorDiagnostics);
        Assert.Empty(code.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Contains("global::Distill.Runtime.ModulePaths.Initialize(Student, \"student\", ExperimentName, \"layer1\", \"pretrained/layer1.safetensors\")",
            Assert.Single(code.Run.GeneratedTrees, t => t.FilePath.EndsWith(".Train.g.cs", StringComparison.Ordinal)).ToString());
        var bad = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.TrainingCompilation(source.Replace("layer1=pretrained", "=pretrained").Replace("init-class", "init-class-bad")));
        Assert.Equal("'Init' expects \"module.path=file.safetensors\", such as \"backbone.body=data/pretrained/resnet50.safetensors\", but the value is the text '=pretrained/layer1.safetensors'",
            Assert.Single(bad.GeneratorDiagnostics, d => d.Id == "DSL004").GetMessage());
    }

    [Fact]
    public void An_imagenet_resnet_state_dict_initialises_a_detectors_backbone_body()
    {
        // The COCO/VOC suites' init: torchvision's ImageNet ResNet layout (fc, plain batch norm with num_batches_tracked)
        // into a detector's frozen-batch-norm body.
        using var tmp = new TempDir();
        torch.manual_seed(3);
        using var imagenet = Distill.Models.ResNet.resnet18();
        var file = Path.Combine(tmp.Path, "resnet18.safetensors");
        Safetensors.Save(file, imagenet.state_dict());
        using var detector = new Distill.Detection.FasterRcnn(3, backbone: "resnet18");
        var log = ModulePaths.Initialize(detector, "student", "test", "backbone.body", file);
        Assert.Contains("student.backbone.body ← '" + file + "' (", log);
        Assert.EndsWith("; not used: fc.weight, fc.bias, 20 × *.num_batches_tracked)", log);
        var body = detector.state_dict().Where(kv => kv.Key.StartsWith("backbone.body.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(body);
        var source = imagenet.state_dict();
        Assert.All(body, kv => Assert.True(kv.Value.equal(source[kv.Key["backbone.body.".Length..]]), kv.Key));
    }

    private static string CSharpLiteral(string text) => "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    [Fact]
    public void A_parameter_group_may_name_a_submodule_by_path()
    {
        const string yaml = "name: e2e-path-groups\n" + Data + "\n" + """
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 } }
            losses:
              ce: { loss: cross_entropy, input: student.logits, target: batch.label }
            optimizer:
              sgd: { lr: 0.1, momentum: 0.9 }
              groups: [ { params: [student.layer3, student.fc], lr: 0.01 } ]
            schedule: { epochs: 1 }
            """;
        const string part = """
            using Distill.Data;
            using Distill.Runtime;

            namespace Distill.Experiments.Generated;

            public sealed partial class E2ePathGroupsExperiment
            {
                partial void ConfigureHooks(ref TrainerHooks<ImageBatch>? hooks) => hooks = new Groups();

                private sealed class Groups : TrainerHooks<ImageBatch>
                {
                    public override void OnEpochEnd(TrainerContext context, System.Collections.Generic.IDictionary<string, double> values)
                    {
                        var groups = context.Optimizer.param_groups;
                        for (var i = 0; i < groups.Count; i++)
                        {
                            values[$"group{i}_lr"] = groups[i].lr;
                            values[$"group{i}_params"] = groups[i].@params.Count;
                        }
                    }
                }
            }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("groups.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation(part));
        Assert.Empty(result.GeneratorDiagnostics);
        LoadAndRegister(result);

        using var tmp = new TempDir();
        var run = ExperimentRegistry.Find("e2e-path-groups")!.Run(Options(tmp.Path) with { MaxBatchesPerEpoch = 1 });
        var values = RunDirectory.ReadMetrics(run.RunPath).Single(r => r.Phase == "train").Values;
        using var model = new Distill.Models.CifarResNet(depth: 8, classes: 4, width: 2, stem: 4);
        var all = model.parameters().Count();
        var named = model.get_submodule("layer3").parameters().Count() + model.get_submodule("fc").parameters().Count();
        // The rest of the student at the base rate, the named submodules at theirs; every parameter in exactly one group.
        Assert.Equal((0.1, all - named, 0.01, named), (values["group0_lr"], (int)values["group0_params"], values["group1_lr"], (int)values["group1_params"]));
    }

    [Fact]
    public void DSL045_an_experiment_without_training_data_is_told_it_gets_no_loop()
    {
        const string yaml = """
            name: loss-only
            teacher: { model: CifarResNet, args: { depth: 8, classes: 4, width: 4, stem: 4 } }
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 } }
            losses:
              kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4 }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("loss-only.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation("// yaml only"));
        var d = Assert.Single(result.GeneratorDiagnostics);
        Assert.Equal(("DSL045", DiagnosticSeverity.Warning), (d.Id, d.Severity));
        Assert.Equal(0, d.Location.GetLineSpan().StartLinePosition.Line); // at the name
        Assert.Equal("Experiment 'loss-only' gets no training loop: it declares no training data (data: { train: ... }); only its loss (ComputeLoss) is generated and the runner does not list it", d.GetMessage());
        Assert.Contains(result.Run.GeneratedTrees, t => t.FilePath.EndsWith(".Loss.g.cs", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Run.GeneratedTrees, t => t.FilePath.EndsWith(".Train.g.cs", StringComparison.Ordinal));
    }

    [Fact]
    public void The_experiments_own_part_of_the_class_adds_hooks_and_metrics_to_the_generated_loop()
    {
        const string yaml = "name: e2e-hooked\n" + Data + "\n" + """
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 } }
            losses:
              ce: { loss: cross_entropy, input: student.logits, target: batch.label }
            schedule: { epochs: 2 }
            """;
        const string part = """
            using Distill.Data;
            using Distill.Runtime;

            namespace Distill.Experiments.Generated;

            public sealed partial class E2eHookedExperiment
            {
                partial void ConfigureHooks(ref TrainerHooks<ImageBatch>? hooks) => hooks = new Counting();

                private sealed class Counting : TrainerHooks<ImageBatch>
                {
                    private int _batches;
                    private double _lastCe;

                    public override void OnBatchEnd(TrainerContext context, ImageBatch batch, IStepLoss loss)
                    {
                        _batches++;
                        _lastCe = loss.Terms[0].item<float>();
                    }

                    public override void OnEpochEnd(TrainerContext context, System.Collections.Generic.IDictionary<string, double> values)
                    {
                        values["batches_seen"] = _batches;
                        values["last_ce"] = _lastCe;
                    }
                }
            }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("hooked.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation(part));
        Assert.Empty(result.GeneratorDiagnostics);
        LoadAndRegister(result);

        using var tmp = new TempDir();
        var run = ExperimentRegistry.Find("e2e-hooked")!.Run(Options(tmp.Path));
        var train = RunDirectory.ReadMetrics(run.RunPath).Where(r => r.Phase == "train").ToList();
        Assert.Equal(new[] { 6.0, 12.0 }, train.Select(r => r.Values["batches_seen"])); // 96 samples in batches of 16, two epochs
        Assert.All(train, r => Assert.True(r.Values["last_ce"] > 0));
    }

    [Fact]
    public void The_run_sets_the_thread_count_it_is_given()
    {
        using var tmp = new TempDir();
        var before = torch.get_num_threads();
        var wanted = before == 1 ? 2 : 1;
        try
        {
            Experiment("e2e-student").Run(Options(tmp.Path) with { DryRun = true, Threads = wanted });
            Assert.Equal(wanted, torch.get_num_threads());
            Experiment("e2e-student").Run(Options(tmp.Path) with { DryRun = true }); // null leaves the setting alone
            Assert.Equal(wanted, torch.get_num_threads());
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    [Fact]
    public void A_dry_run_takes_one_step_with_a_missing_teacher()
    {
        using var tmp = new TempDir();
        var result = Experiment("e2e-student").Run(Options(tmp.Path) with { DryRun = true });
        Assert.True(result.Completed);
        Assert.Equal((1, 1L), (result.Epochs, result.Steps));
        Assert.InRange(result.Final["val_top1"], 0.0, 1.0);
    }

    [Fact]
    public void The_same_experiment_written_as_a_class_generates_the_same_loss_and_loop()
    {
        _ = s_assembly.Value;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.TrainingCompilation(StudentClass));
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Empty(result.Errors);
        var generated = result.Run.GeneratedTrees.ToDictionary(t => Path.GetFileName(t.FilePath), t => t.ToString());
        Assert.DoesNotContain("Lab.E2eStudentExperiment.Members.g.cs", generated.Keys); // the class declares its own models and data
        foreach (var (yamlPart, classPart) in new[] { ("Loss", "Loss"), ("Train", "Train"), ("", "Experiment") })
        {
            var fromYaml = s_generated[yamlPart.Length == 0 ? "E2eStudentExperiment.g.cs" : $"E2eStudentExperiment.{yamlPart}.g.cs"];
            var fromClass = generated[$"Lab.E2eStudentExperiment.{classPart}.g.cs"];
            // Three differences besides the namespace: DisposeModules frees a YAML class's lazily built data sets through
            // their fields (so a failed run never builds one just to free it), a code-first class's through its properties;
            // the generated YAML class is documented (a code-first class is the user's, documented by them); and the
            // registration names the file that declares the experiment.
            Assert.Equal(fromYaml.Replace("namespace Distill.Experiments.Generated;", "namespace Lab;")
                .Replace("SourcePath = \"e2e/student.distill.yaml\",", "SourcePath = \"Source0.cs\",")
                .Replace("/// <summary>The experiment <c>e2e-student</c>, generated from its YAML file.</summary>\n", "")
                .Replace("(_trainData as global::System.IDisposable)", "(TrainData as global::System.IDisposable)")
                .Replace("(_valData as global::System.IDisposable)", "(ValData as global::System.IDisposable)"), fromClass);
        }
    }

    /// <summary>Optimizers and schedules of every kind generate loops that compile without errors or warnings (user projects treat warnings as errors).</summary>
    [Theory]
    [InlineData("optimizer: { sgd: { lr: 0.1, nesterov: true, momentum: 0.9 } }\nschedule: { epochs: 5, cosine: { eta_min: 0.001 }, warmup: 2 }")]
    [InlineData("optimizer: { adam: { lr: 0.001, betas: [0.9, 0.99], eps: 1e-7 } }\nschedule: { epochs: 6, step: { step_size: 2, gamma: 0.5 } }")]
    [InlineData("optimizer: { adamw: { lr: 0.001, weight_decay: 0.05 }, groups: [ { params: [student], lr: 0.0005, weight_decay: 0 } ] }\nschedule: { epochs: 3, constant: {}, warmup: 1, clip_grad_norm: 1 }")]
    [InlineData("schedule: { epochs: 2 }")]
    [InlineData("eval: { metrics: [top1], every: 2 }")]
    public void Every_optimizer_and_schedule_compiles_cleanly(string settings)
    {
        var yaml = "name: variants\n" + Data + "\n" + """
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 4, stem: 4 } }
            losses:
              ce: { loss: cross_entropy, input: student.logits, target: batch.label }
            """ + "\n" + settings + "\n";
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("v.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation("// yaml only"));
        Assert.Empty(result.GeneratorDiagnostics);
        Assert.Contains(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("VariantsExperiment.Train.g.cs", StringComparison.Ordinal));
        var problems = result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>
    /// A detection distillation experiment in DeFeat's shape: Faster R-CNN teacher and student on SyntheticDetection, the
    /// student's own RPN and RoI losses (model_loss), DeFeat's decoupled FPN imitation through 3×3 adapters on two levels
    /// (a list input; its object masks from the batch's per-image boxes, a list batch field), and the
    /// student's RoI head on the teacher's sampled RoIs (student.roi_logits@teacher.sampled_rois) against the teacher's
    /// logits with its positive mask. The loss passes the per-image boxes and labels to every forward that needs them, runs
    /// the RoI head after both forwards, and the loop evaluates COCO box AP. Compiles with no warning.
    /// </summary>
    [Fact]
    public void A_detection_experiment_passes_boxes_runs_roi_heads_on_teacher_rois_and_evaluates_box_ap()
    {
        const string yaml = """
            name: det-defeat
            data:
              train: { dataset: SyntheticDetection, args: { classes: 3, samples: 16, size: 64, seed: 1 } }
              val: { dataset: SyntheticDetection, args: { classes: 3, samples: 8, size: 64, seed: 1, split: val } }
              batch: 4
            teacher: { model: FasterRcnn, args: { classes: 3, width: 16, fpn_channels: 32, min_size: 64, max_size: 64 }, checkpoint: teacher.safetensors }
            student: { model: FasterRcnn, args: { classes: 3, width: 8, fpn_channels: 16, min_size: 64, max_size: 64 } }
            adapters:
              a2: { kind: conv3x3, from: student.p2, to: teacher.p2 }
              a3: { kind: conv3x3, from: student.p3, to: teacher.p3 }
            losses:
              rpn: { loss: model_loss, value: student.loss_objectness }
              cls: { loss: model_loss, value: student.loss_classifier }
              feat: { loss: defeat_feature_gt, student: [a2, a3], teacher: [teacher.p2, teacher.p3], strides: [4, 8] }
              head: { loss: defeat_cls, student: student.roi_logits@teacher.sampled_rois, teacher: teacher.roi_logits, positive: teacher.roi_positive }
            schedule: { epochs: 2 }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("det.distill.yaml", yaml)), GeneratorHarness.DetectionCompilation("// yaml only"));
        Assert.Empty(result.GeneratorDiagnostics);
        var problems = result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var generated = result.Run.GeneratedTrees.ToDictionary(t => Path.GetFileName(t.FilePath), t => t.ToString());
        var loss = generated["DetDefeatExperiment.Loss.g.cs"];
        Assert.Contains("global::System.Collections.Generic.IReadOnlyList<global::Distill.Torch.Tensor> boxes", loss);
        Assert.Contains("Teacher.forward_taps(image, global::Distill.Detection.FasterRcnn.Taps.P2 | global::Distill.Detection.FasterRcnn.Taps.P3 | global::Distill.Detection.FasterRcnn.Taps.SampledRois | global::Distill.Detection.FasterRcnn.Taps.RoiPositive | global::Distill.Detection.FasterRcnn.Taps.RoiLogits, boxes, labels)", loss);
        Assert.Contains("Student.roi_head_on(student_out, teacher_sampled_rois, global::Distill.Detection.FasterRcnn.Taps.RoiLogits)", loss);
        Assert.Contains("Student.RoiHeadInputs", loss);
        Assert.Contains("global::Distill.Losses.DeFeat.defeat_feature_gt(student: new[] { a2, a3 }, teacher: new[] { teacher_p2, teacher_p3 }, boxes: boxes, strides: new int[] { 4, 8 }", loss);
        var train = generated["DetDefeatExperiment.Train.g.cs"];
        Assert.Contains("global::Distill.Runtime.DetectionEvaluation.CreateEvaluator(ValData)", train);
        Assert.Contains("TrainTransform = global::Distill.Data.DetectionTransform.Train(),", train);
        Assert.Contains("DefaultBestMetric = \"val_AP\",", train);
        Assert.DoesNotContain("TopKAccuracy", train);
        Snapshot.Verify(loss, nameof(TrainingLoopTests), nameof(A_detection_experiment_passes_boxes_runs_roi_heads_on_teacher_rois_and_evaluates_box_ap), "DetDefeatExperiment.Loss.g.cs");
        Snapshot.Verify(train, nameof(TrainingLoopTests), nameof(A_detection_experiment_passes_boxes_runs_roi_heads_on_teacher_rois_and_evaluates_box_ap), "DetDefeatExperiment.Train.g.cs");
    }

    /// <summary>
    /// Global Knowledge's terms read a prototype table the loop maintains: the three terms name the same student and teacher
    /// maps, so the experiment holds one <c>PrototypeBank</c>, passes it to each call, builds it from those maps before every
    /// epoch (<c>PrototypeRefresh.Run</c> as an epoch state, checkpointed) and disposes it with the models. The code-first
    /// factory has no parameter for the table. Compiles with no warning.
    /// </summary>
    [Fact]
    public void A_global_knowledge_experiment_shares_one_prototype_table_rebuilt_every_epoch()
    {
        const string yaml = """
            name: det-gk
            data:
              train: { dataset: SyntheticDetection, args: { classes: 3, samples: 16, size: 64, seed: 1 } }
              val: { dataset: SyntheticDetection, args: { classes: 3, samples: 8, size: 64, seed: 1, split: val } }
              batch: 4
            teacher: { model: FasterRcnn, args: { classes: 3, width: 16, fpn_channels: 32, min_size: 64, max_size: 64 }, checkpoint: teacher.safetensors }
            student: { model: FasterRcnn, args: { classes: 3, width: 8, fpn_channels: 16, min_size: 64, max_size: 64 } }
            adapters:
              a2: { kind: conv3x3, from: student.p2, to: teacher.p2 }
              a3: { kind: conv3x3, from: student.p3, to: teacher.p3 }
            losses:
              cls: { loss: model_loss, value: student.loss_classifier }
              point: { loss: gk_feature_gt, schedule: { decay: linear }, student: [a2, a3], teacher: [teacher.p2, teacher.p3], student_features: [student.p2, student.p3] }
              soft: { loss: gk_soft_kd_rois, student: student.roi_logits@teacher.sampled_rois, teacher: teacher.roi_logits, positive: teacher.roi_positive,
                      rois: teacher.sampled_rois, roi_labels: teacher.roi_labels, student_features: [student.p2, student.p3], teacher_features: [teacher.p2, teacher.p3] }
              global: { loss: gk_global_gt, student_features: [student.p2, student.p3], teacher: [teacher.p2, teacher.p3], robust: false }
            schedule: { epochs: 2 }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("gk.distill.yaml", yaml)), GeneratorHarness.DetectionCompilation("// yaml only"));
        Assert.Empty(result.GeneratorDiagnostics);
        var problems = result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var generated = result.Run.GeneratedTrees.ToDictionary(t => Path.GetFileName(t.FilePath), t => t.ToString());
        var loss = generated["DetGkExperiment.Loss.g.cs"];
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(loss, "public global::Distill.Losses.PrototypeBank "));
        Assert.Contains("public global::Distill.Losses.PrototypeBank PointPrototypes { get; } = new();", loss);
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(loss, "prototypes: PointPrototypes").Count);
        Assert.Contains("PointPrototypesMaps(global::Distill.Torch.Tensor image, bool teacher = true)", loss);
        Assert.Contains("if (!teacher) return (new[] { out0.P2!, out0.P3! }, null);", loss); // the teacher runs only for the first build
        var train = generated["DetGkExperiment.Train.g.cs"];
        Assert.Contains("global::Distill.Runtime.PrototypeRefresh.Run<global::Distill.Data.DetectionBatch>(PointPrototypes, TrainData, request, PointPrototypesMaps, batch => (batch.image, batch.boxes, batch.labels), [Student, Teacher])", train);
        Assert.Contains("PointPrototypes.Dispose();", train);
        Snapshot.Verify(loss, nameof(TrainingLoopTests), nameof(A_global_knowledge_experiment_shares_one_prototype_table_rebuilt_every_epoch), "DetGkExperiment.Loss.g.cs");
        Snapshot.Verify(train, nameof(TrainingLoopTests), nameof(A_global_knowledge_experiment_shares_one_prototype_table_rebuilt_every_epoch), "DetGkExperiment.Train.g.cs");

        const string source = """
            using Distill.Runtime;
            using Distill.Experiments.Dsl;
            using Distill.Data;
            using Distill.Detection;

            namespace Lab;

            [Experiment("gk-code-first")]
            [Schedule(2)]
            public partial class GkCodeFirst
            {
                [TrainData(Batch = 4)] SyntheticDetection TrainData { get; } = new(classes: 3, samples: 16, size: 64, seed: 1);
                [Teacher(Checkpoint = "teacher.safetensors")] FasterRcnn Teacher { get; } = new(classes: 3, width: 16, fpn_channels: 32, min_size: 64, max_size: 64);
                [Student] FasterRcnn Student { get; } = new(classes: 3, width: 8, fpn_channels: 16, min_size: 64, max_size: 64);
                [Loss] LossTerm Cls => Loss.model_loss(Taps.Student.loss_classifier);
                [Adapter] TapRef<FeatureMap> A2 => Adapter.Conv3x3(Taps.Student.p2, Taps.Teacher.p2);
                [Loss] LossTerm Point => Loss.gk_feature_gt([A2], [Taps.Teacher.p2], [Taps.Student.p2], strides: [4]);
            }
            """;
        var codeFirst = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.DetectionCompilation(source));
        Assert.Empty(codeFirst.GeneratorDiagnostics);
        var codeProblems = codeFirst.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(codeProblems.Count == 0, string.Join("\n", codeProblems));
        var codeLoss = codeFirst.Run.GeneratedTrees.Single(t => t.FilePath.EndsWith("GkCodeFirst.Loss.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("prototypes: PointPrototypes", codeLoss);
    }

    /// <summary>
    /// The code-first form of a RoI head on the teacher's RoIs, <c>Taps.Student.roi_logits.On(Taps.Teacher.sampled_rois)</c>,
    /// reads as the YAML front end's <c>student.roi_logits@teacher.sampled_rois</c>: the same roi_head_on call, compiling
    /// cleanly; each model's rows on its own RoIs is DSL050 with the code-first suggestion.
    /// </summary>
    [Fact]
    public void A_code_first_detection_experiment_runs_the_students_head_on_the_teachers_rois()
    {
        const string source = """
            using Distill.Runtime;
            using Distill.Experiments.Dsl;
            using Distill.Data;
            using Distill.Detection;

            namespace Lab;

            [Experiment("det-code-first")]
            [Schedule(2)]
            public partial class DetCodeFirst
            {
                [TrainData(Batch = 4)] SyntheticDetection TrainData { get; } = new(classes: 3, samples: 16, size: 64, seed: 1);
                [Teacher(Checkpoint = "teacher.safetensors")] FasterRcnn Teacher { get; } = new(classes: 3, width: 16, fpn_channels: 32, min_size: 64, max_size: 64);
                [Student] FasterRcnn Student { get; } = new(classes: 3, width: 8, fpn_channels: 16, min_size: 64, max_size: 64);
                [Loss] LossTerm Cls => Loss.model_loss(Taps.Student.loss_classifier);
                [Adapter] TapRef<FeatureMap> A2 => Adapter.Conv3x3(Taps.Student.p2, Taps.Teacher.p2);
                [Loss] LossTerm Feat => Loss.defeat_feature_gt([A2], [Taps.Teacher.p2], strides: [4]);
                [Loss] LossTerm Head => Loss.defeat_cls(Taps.Student.roi_logits.On(Taps.Teacher.sampled_rois), Taps.Teacher.roi_logits, Taps.Teacher.roi_positive);
            }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.DetectionCompilation(source));
        Assert.Empty(result.GeneratorDiagnostics);
        var problems = result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var loss = result.Run.GeneratedTrees.Single(t => t.FilePath.EndsWith("DetCodeFirst.Loss.g.cs", StringComparison.Ordinal)).ToString();
        Assert.Contains("Student.roi_head_on(student_out, teacher_sampled_rois, global::Distill.Detection.FasterRcnn.Taps.RoiLogits)", loss);
        // the boxes default to the batch's per-sample list, passed whole
        Assert.Contains("global::Distill.Losses.DeFeat.defeat_feature_gt(student: new[] { a2 }, teacher: new[] { teacher_p2 }, boxes: boxes, strides: new int[] { 4 }", loss);

        var wrong = GeneratorHarness.RunDriver(GeneratorHarness.Driver(),
            GeneratorHarness.DetectionCompilation(source.Replace("Taps.Student.roi_logits.On(Taps.Teacher.sampled_rois)", "Taps.Student.roi_logits")));
        var d = Assert.Single(wrong.GeneratorDiagnostics, x => x.Id == "DSL050");
        Assert.EndsWith("e.g. Taps.Student.roi_logits.On(Taps.Teacher.sampled_rois)", d.GetMessage());
    }

    /// <summary>
    /// A face experiment: margin logits (which need the labels) feed CE and GKD, and a validation set of verification
    /// pairs makes Evaluate a verification of the embeddings with the flip test. Compiles with no warning.
    /// </summary>
    [Fact]
    public void A_face_experiment_passes_labels_to_margin_taps_and_evaluates_by_verification()
    {
        const string yaml = """
            name: face-gkd
            data:
              train: { dataset: SyntheticFaces, args: { identities: 50, samples_per_identity: 4, size: 16, seed: 1 } }
              val: { dataset: SyntheticFaces, args: { identities: 20, samples_per_identity: 4, size: 16, seed: 1, split: val, pairs: 40 } }
              batch: 16
            teacher: { model: IResNet, args: { depth: 18, classes: 50, embedding: 32, width: 8, size: 16 }, checkpoint: teacher.safetensors }
            student: { model: MobileFaceNet, args: { classes: 50, embedding: 32, scale: 1, size: 16 } }
            losses:
              ce: { loss: cross_entropy, input: student.margin_logits, target: batch.label }
              gkd: { loss: gkd_loss, student: student.margin_logits, teacher: teacher.margin_logits, target: batch.label, n: 6, schedule: { warmup: 2 } }
            schedule: { epochs: 4, cosine: {}, warmup: 1 }
            eval: { flip: true }
            """;
        var result = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("face.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation("// yaml only"));
        Assert.Empty(result.GeneratorDiagnostics);
        var problems = result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
        var generated = result.Run.GeneratedTrees.ToDictionary(t => Path.GetFileName(t.FilePath), t => t.ToString());
        var loss = generated["FaceGkdExperiment.Loss.g.cs"];
        Assert.Contains("Teacher.forward_taps(image, global::Distill.Models.IResNet.Taps.MarginLogits, label)", loss);
        Assert.Contains("Student.forward_taps(image, global::Distill.Models.MobileFaceNet.Taps.MarginLogits, label)", loss);
        var train = generated["FaceGkdExperiment.Train.g.cs"];
        Assert.Contains("new global::Distill.Runtime.EmbeddingCollector(flip: true)", train);
        Assert.Contains("DefaultBestMetric = \"val_verify_acc\",", train);
        Assert.DoesNotContain("TopKAccuracy", train);
        Snapshot.Verify(train, nameof(TrainingLoopTests), nameof(A_face_experiment_passes_labels_to_margin_taps_and_evaluates_by_verification), "FaceGkdExperiment.Train.g.cs");
    }

    [Fact]
    public void The_generated_loop_is_snapshotted()
    {
        _ = s_assembly.Value;
        foreach (var part in new[] { "E2eStudentExperiment.Train.g.cs", "E2eStudentExperiment.Members.g.cs", "E2eStudentExperiment.g.cs" })
            Snapshot.Verify(s_generated[part], nameof(TrainingLoopTests), nameof(The_generated_loop_is_snapshotted), part);
    }

    [Fact]
    public void The_registry_describes_the_experiment_as_declared()
    {
        var info = Experiment("e2e-student");
        Assert.Equal(["e2e-teacher"], info.DependsOn);
        Assert.Equal(4, info.Epochs);
        Assert.Equal(["teacher", "student"], info.Models.Select(m => m.Name));
        Assert.Equal("from: e2e-teacher", info.Models[0].Weights);
        Assert.Equal(["ce", "kd", "fit"], info.LossTerms.Select(t => t.Name));
        Assert.Equal("{ warmup: 1 }", info.LossTerms[2].Schedule);
        Assert.Contains("  kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4, weight: 0.5 }", info.Configuration);
        Assert.Contains("  hint: { kind: conv1x1, from: student.stage3, to: teacher.stage3, norm: bn, act: relu }", info.Configuration);
        // The adapter is the sequence it declares: a 1×1 convolution, batch norm, ReLU (state-dict names 0, 1, 2).
        Assert.Contains("public global::Distill.Torch.Modules.Sequential HintAdapter { get; } = global::Distill.Torch.torch.nn.Sequential(" +
            "global::Distill.Torch.torch.nn.Conv2d(8, 16, 1, bias: false), global::Distill.Torch.torch.nn.BatchNorm2d(16), global::Distill.Torch.torch.nn.ReLU());",
            s_generated["E2eStudentExperiment.Loss.g.cs"]);
    }

    private static void AssertSameTensors(string expectedPath, string actualPath)
    {
        using var expected = Safetensors.Read(expectedPath);
        using var actual = Safetensors.Read(actualPath);
        Assert.Equal(expected.Tensors.Select(t => t.Key), actual.Tensors.Select(t => t.Key));
        foreach (var (name, tensor) in expected.Tensors)
            Assert.True(tensor.equal(actual[name]), $"tensor '{name}' differs between the uninterrupted and the resumed run");
    }

    [Fact]
    public void Memory_format_and_precision_reach_the_loop_in_both_front_ends()
    {
        const string yaml = """
            name: fast-kd
            data:
              train: { dataset: SyntheticImages, args: { classes: 4, samples: 96, size: 8, seed: 1 } }
              batch: 16
            teacher: { model: CifarResNet, args: { depth: 8, classes: 4, width: 4, stem: 4 } }
            student: { model: CifarResNet, args: { depth: 8, classes: 4, width: 2, stem: 4 } }
            losses:
              kd: { loss: hinton_kd, student: student.logits, teacher: teacher.logits, temperature: 4 }
            memory_format: channels_last
            precision: bf16
            """;
        const string source = """
            using Distill.Data;
            using Distill.Experiments.Dsl;
            using Distill.Models;
            using Distill.Runtime;

            namespace Lab;

            [Experiment("fast-kd", MemoryFormat = "channels_last", Precision = "bf16")]
            public partial class FastKdExperiment
            {
                [TrainData(Batch = 16)] SyntheticImages TrainData { get; } = new(classes: 4, samples: 96, size: 8, seed: 1);
                [Teacher] CifarResNet Teacher { get; } = new(depth: 8, classes: 4, width: 4, stem: 4);
                [Student] CifarResNet Student { get; } = new(depth: 8, classes: 4, width: 2, stem: 4);
                [Loss] LossTerm Kd => Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4);
            }
            """;
        var fromYaml = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("fast.distill.yaml", yaml)), GeneratorHarness.TrainingCompilation("// yaml only"));
        var fromClass = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.TrainingCompilation(source));
        foreach (var result in new[] { fromYaml, fromClass })
        {
            Assert.Empty(result.GeneratorDiagnostics);
            Assert.Empty(result.Output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
            var train = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith(".Train.g.cs", StringComparison.Ordinal)).ToString();
            Assert.Contains("DeclaredMemoryFormat = global::Distill.Torch.MemoryFormat.ChannelsLast,", train);
            Assert.Contains("DeclaredPrecision = global::Distill.Runtime.Precision.BFloat16,", train);
            // The teachers go to the loop too, so they take the run's layout.
            Assert.Contains("Others = [Teacher],", train);
            var description = Assert.Single(result.Run.GeneratedTrees, t => t.FilePath.EndsWith("FastKdExperiment.g.cs", StringComparison.Ordinal)
                || t.FilePath.EndsWith("FastKdExperiment.Experiment.g.cs", StringComparison.Ordinal)).ToString();
            Assert.Contains("memory_format: channels_last", description);
            Assert.Contains("precision: bf16", description);
        }

        // Values the runtime does not know: DSL044 at the value, in both front ends.
        var badYaml = GeneratorHarness.RunDriver(GeneratorHarness.Driver(new InMemoryAdditionalText("fast.distill.yaml", yaml.Replace("precision: bf16", "precision: fp8"))),
            GeneratorHarness.TrainingCompilation("// yaml only"));
        var d = Assert.Single(badYaml.GeneratorDiagnostics);
        Assert.Equal(("DSL044", "precision must be fp32, bf16 or fp16, but is fp8"), (d.Id, d.GetMessage()));
        Assert.Equal((10, 12), (d.Location.GetLineSpan().StartLinePosition.Line + 1, d.Location.GetLineSpan().StartLinePosition.Character + 1));
        var badClass = GeneratorHarness.RunDriver(GeneratorHarness.Driver(), GeneratorHarness.TrainingCompilation(source.Replace("\"channels_last\"", "\"nhwc\"")));
        d = Assert.Single(badClass.GeneratorDiagnostics);
        Assert.Equal(("DSL044", "memory_format must be contiguous or channels_last, but is nhwc"), (d.Id, d.GetMessage()));
        var bad = source.Replace("\"channels_last\"", "\"nhwc\"");
        var lines = bad.Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains("\"nhwc\""));
        Assert.Equal((line, lines[line].IndexOf("\"nhwc\"", StringComparison.Ordinal)), (d.Location.GetLineSpan().StartLinePosition.Line, d.Location.GetLineSpan().StartLinePosition.Character));
    }
}

/// <summary>A fresh directory under the system temp folder, deleted afterwards.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"distill-gen-{Guid.NewGuid():N}"));

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
