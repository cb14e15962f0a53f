namespace Distill.Runtime;

// The code-first front end of the DSL. These attributes only describe an experiment: the Distill
// generator reads them (and the initializers and loss calls of the members they mark) from the syntax
// at compile time, into the same experiment model as a *.distill.yaml file. Property-valued settings
// that are left out are "not set" (the generator reads which arguments are written, not the defaults
// below), exactly as a key left out of the YAML file.

/// <summary>
/// Marks a top-level <c>partial class</c> as an experiment. The generator adds its description, and the
/// typed helpers its members use (<c>Taps.&lt;Model&gt;.&lt;tap&gt;</c>, <c>Batch.&lt;field&gt;</c>), to the class.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ExperimentAttribute : Attribute
{
    /// <param name="name">The name runs, checkpoints and reports use, e.g. <c>hinton-resnet56-resnet20</c>: letters, digits, '-' and '_', starting with a letter.</param>
    public ExperimentAttribute(string name) => Name = name;

    public string Name { get; }

    /// <summary>The paper the experiment reproduces.</summary>
    public string? Paper { get; set; }

    /// <summary>A free-text description.</summary>
    public string? Description { get; set; }

    /// <summary>The layout of the models' 4-D weights and of the images: "contiguous" (the default) or "channels_last".</summary>
    public string? MemoryFormat { get; set; }

    /// <summary>The precision of the forward pass and the loss: "fp32" (the default), "bf16" (autocast) or "fp16" (autocast with loss scaling, CUDA only).</summary>
    public string? Precision { get; set; }
}

/// <summary>
/// A teacher model: <c>[Teacher(From = "teacher-resnet56")] CifarResNet Teacher { get; } = new(depth: 56, classes: 100);</c>.
/// The property's type is a <c>[DistillModel]</c> class; its initializer's arguments are the model's
/// constructor arguments. A teacher named <c>Teacher</c> is <c>teacher</c> in references and messages;
/// any other is its property name in snake_case (<c>ResNet110</c> → <c>res_net110</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TeacherAttribute : Attribute
{
    /// <summary>The experiment whose run trains this teacher (a stage dependency).</summary>
    public string? From { get; set; }

    /// <summary>A <c>.safetensors</c> file with the teacher's weights.</summary>
    public string? Checkpoint { get; set; }
}

/// <summary>
/// The model being trained: <c>[Student] CifarResNet Student { get; } = new(depth: 20, classes: 100);</c>.
/// It is <c>student</c> in references and messages, whatever the property's name. It starts from its
/// initializer's random weights, or from <see cref="From"/>'s or <see cref="Checkpoint"/>'s.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class StudentAttribute : Attribute
{
    /// <summary>The experiment whose finished run's trained student this student starts from (a stage dependency).</summary>
    public string? From { get; set; }

    /// <summary>A <c>.safetensors</c> file with the weights this student starts from.</summary>
    public string? Checkpoint { get; set; }

    /// <summary>Submodules that do not train, by PyTorch module path (<c>["conv1", "layer1"]</c>): no gradient, not in the optimizer.</summary>
    public string[]? Freeze { get; set; }

    /// <summary>
    /// Submodules loaded from state dicts before training, each <c>"module.path=file.safetensors"</c>
    /// (<c>["backbone.body=data/pretrained/resnet50.safetensors"]</c>: an ImageNet ResNet into a detector's backbone). The file's
    /// names are relative to the submodule; tensors it has that the submodule does not (<c>fc.*</c>) are left out.
    /// </summary>
    public string[]? Init { get; set; }
}

/// <summary>
/// An adapter joining a student tap to a teacher tap's channels:
/// <c>[Adapter] TapRef&lt;FeatureMap&gt; Hint =&gt; Adapter.Conv1x1(Taps.Student.stage3, Taps.Teacher.stage3);</c>.
/// Loss terms read it by its property (<c>Loss.fitnet_mse(Hint, Taps.Teacher.stage3)</c>); its name is the
/// property name in snake_case.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class AdapterAttribute : Attribute
{
}

/// <summary>How a loss term's weight changes after its warm-up.</summary>
public enum Decay
{
    /// <summary>The weight stays as it is.</summary>
    None,

    /// <summary>The weight falls linearly to 0 at the last epoch (factor 1 - epoch/epochs).</summary>
    Linear,
}

/// <summary>
/// A weighted loss term: <c>[Loss(Weight = 0.9)] LossTerm Kd =&gt; Loss.hinton_kd(Taps.Student.logits, Taps.Teacher.logits, temperature: 4);</c>.
/// Its name is the property name in snake_case.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class LossAttribute : Attribute
{
    /// <summary>The term's weight in the total loss (1 when not set).</summary>
    public double Weight { get; set; } = 1.0;

    /// <summary>Epochs over which the weight rises linearly from 0 (as GKD does).</summary>
    public double WarmupEpochs { get; set; }

    /// <summary>A decay of the weight towards the last epoch (as Global Knowledge does).</summary>
    public Decay Decay { get; set; }
}

/// <summary>
/// The training data: <c>[TrainData(Batch = 64)] SyntheticImages TrainData { get; } = new(classes: 100, samples: 20000);</c>.
/// The property's type is a <c>[DistillDataset]</c> class; its initializer's arguments are the data set's
/// constructor arguments. <see cref="Batch"/> must be set.
/// </summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class TrainDataAttribute : Attribute
{
    /// <summary>The batch size.</summary>
    public int Batch { get; set; }

    /// <summary>The zero padding of the random crop, in pixels (0: no crop; default 4) — YAML <c>transforms: { crop }</c>.</summary>
    public int Crop { get; set; }

    /// <summary>The random horizontal flip (default true) — YAML <c>transforms: { flip }</c>.</summary>
    public bool Flip { get; set; }

    /// <summary>Normalisation with the data set's statistics (default true) — YAML <c>transforms: { normalize }</c>.</summary>
    public bool Normalize { get; set; }
}

/// <summary>The validation data, declared as <see cref="TrainDataAttribute"/> without a batch size; never augmented.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
public sealed class ValDataAttribute : Attribute
{
    /// <summary>Normalisation with the training data's statistics (default true) — YAML <c>transforms: { normalize }</c>.</summary>
    public bool Normalize { get; set; }
}

/// <summary>The optimizer; the settings that are written are the ones the experiment sets.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public abstract class OptimizerAttribute : Attribute
{
    /// <summary>The learning rate (<c>lr</c>).</summary>
    public double Lr { get; set; }

    /// <summary>L2 weight decay (<c>weight_decay</c>).</summary>
    public double WeightDecay { get; set; }
}

/// <summary>SGD: <c>[Sgd(Lr = 0.05, Momentum = 0.9, WeightDecay = 5e-4)]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class SgdAttribute : OptimizerAttribute
{
    public double Momentum { get; set; }

    public double Dampening { get; set; }

    public bool Nesterov { get; set; }
}

/// <summary>Adam: <c>[Adam(Lr = 1e-3, Betas = new[] { 0.9, 0.999 })]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class AdamAttribute : OptimizerAttribute
{
    public double[]? Betas { get; set; }

    public double Eps { get; set; }
}

/// <summary>AdamW (decoupled weight decay), with the settings of <see cref="AdamAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class AdamWAttribute : OptimizerAttribute
{
    public double[]? Betas { get; set; }

    public double Eps { get; set; }
}

/// <summary>
/// A parameter group of the optimizer with its own settings: <c>[ParamGroup("adapters", Lr = 0.1)]</c>.
/// The modules are <c>student</c>, <c>adapters</c> or an adapter's name.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class ParamGroupAttribute : Attribute
{
    public ParamGroupAttribute(params string[] modules) => Modules = modules;

    public string[] Modules { get; }

    public double Lr { get; set; }

    public double Momentum { get; set; }

    public double WeightDecay { get; set; }

    public double Dampening { get; set; }

    public bool Nesterov { get; set; }

    public double[]? Betas { get; set; }

    public double Eps { get; set; }
}

/// <summary>
/// The training length without a learning-rate schedule: <c>[Schedule(240)]</c>. The subclasses add one:
/// <see cref="MultiStepAttribute"/>, <see cref="CosineAttribute"/>, <see cref="StepLrAttribute"/>, <see cref="ConstantLrAttribute"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public class ScheduleAttribute : Attribute
{
    public ScheduleAttribute(int epochs) => Epochs = epochs;

    public int Epochs { get; }

    /// <summary>Epochs of linear learning-rate warm-up.</summary>
    public int Warmup { get; set; }

    /// <summary>Clip the gradient norm to this value (0: no clipping).</summary>
    public double ClipGradNorm { get; set; }
}

/// <summary>Multiply the learning rate by <see cref="Gamma"/> at each milestone: <c>[MultiStep(240, Milestones = new[] { 150, 180, 210 }, Gamma = 0.1)]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class MultiStepAttribute(int epochs) : ScheduleAttribute(epochs)
{
    public int[]? Milestones { get; set; }

    public double Gamma { get; set; }
}

/// <summary>Cosine annealing to <see cref="EtaMin"/> over the epochs: <c>[Cosine(200)]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class CosineAttribute(int epochs) : ScheduleAttribute(epochs)
{
    public double EtaMin { get; set; }
}

/// <summary>Multiply the learning rate by <see cref="Gamma"/> every <see cref="StepSize"/> epochs: <c>[StepLr(90, StepSize = 30, Gamma = 0.1)]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class StepLrAttribute(int epochs) : ScheduleAttribute(epochs)
{
    public int StepSize { get; set; }

    public double Gamma { get; set; }
}

/// <summary>A constant learning rate: <c>[ConstantLr(100)]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ConstantLrAttribute(int epochs) : ScheduleAttribute(epochs)
{
}

/// <summary>The seeds of the repeated runs: <c>[Seeds(1, 2, 3)]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class SeedsAttribute : Attribute
{
    public SeedsAttribute(params long[] seeds) => Seeds = seeds;

    public long[] Seeds { get; }
}

/// <summary>Evaluation metrics and how often to evaluate: <c>[Eval("top1", "top5", Every = 1)]</c>.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class EvalAttribute : Attribute
{
    public EvalAttribute(params string[] metrics) => Metrics = metrics;

    public string[] Metrics { get; }

    /// <summary>Evaluate every this many epochs.</summary>
    public int Every { get; set; } = 1;

    /// <summary>Verification: each embedding adds the horizontally flipped image's (the flip test).</summary>
    public bool Flip { get; set; }
}
