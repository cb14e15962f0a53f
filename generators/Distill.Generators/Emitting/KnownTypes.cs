namespace Distill.Generators.Emitting;

/// <summary>
/// Every type and namespace the emitters name, fully qualified in one place: generated code binds no name through a
/// <c>using</c>, so a type of the user's namespace named <c>Tensor</c> or <c>Optimizer</c> can never capture it.
/// </summary>
internal static class KnownTypes
{
    public const string Torch = "global::Distill.Torch.";
    public const string Runtime = "global::Distill.Runtime.";
    public const string Data = "global::Distill.Data.";

    public const string Tensor = Torch + "Tensor";
    public const string TorchApi = Torch + "torch";
    public const string Device = Torch + "Device";
    public const string Optimizer = Torch + "Optimizer";
    public const string ParamGroup = Torch + "ParamGroup";
    public const string LRScheduler = Torch + "LRScheduler";
    public const string Modules = Torch + "Modules.";

    public const string Math = "global::System.Math";
    public const string Array = "global::System.Array";
    public const string Dictionary = "global::System.Collections.Generic.Dictionary";
    public const string IReadOnlyList = "global::System.Collections.Generic.IReadOnlyList";
    public const string IDisposable = "global::System.IDisposable";
    public const string InvalidOperationException = "global::System.InvalidOperationException";

    public const string TrainOptions = Runtime + "TrainOptions";
    public const string TrainResult = Runtime + "TrainResult";
    public const string ExperimentInfo = Runtime + "ExperimentInfo";
    public const string ExperimentSetting = Runtime + "ExperimentSetting";
    public const string SettingKind = Runtime + "SettingKind";
    public const string IStepLoss = Runtime + "IStepLoss";
    public const string PrototypeBank = "global::Distill.Losses.PrototypeBank";
    public const string TeacherIdentityTable = "global::Distill.Losses.TeacherIdentityTable";
}
