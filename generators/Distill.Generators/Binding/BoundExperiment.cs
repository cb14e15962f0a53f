using Distill.Generators.Model;

namespace Distill.Generators.Binding;

/// <summary>
/// What the binder resolved an error-free experiment to, for the planner to lay out without looking anything up again:
/// each model's type, each adapter's channels (from the taps' evaluated shapes), each term's loss, the data sets, and
/// whether the compilation can run a training loop.
/// </summary>
internal sealed record BoundExperiment(
    ExperimentSpec Spec,
    EquatableArray<ResolvedModel> Models,
    EquatableArray<ResolvedAdapter> Adapters,
    EquatableArray<ResolvedTerm> Terms,
    DatasetInfo? TrainData,
    DatasetInfo? ValidationData,
    bool CanTrain);

/// <summary>A model and its type in the catalog.</summary>
internal sealed record ResolvedModel(ModelSpec Spec, ModelInfo Info);

/// <summary>An adapter and its channels (null where a shape is not known at compile time).</summary>
internal sealed record ResolvedAdapter(AdapterSpec Spec, long? InChannels, long? OutChannels);

/// <summary>A loss term and its loss in the catalog.</summary>
internal sealed record ResolvedTerm(LossTermSpec Spec, LossInfo Loss);
