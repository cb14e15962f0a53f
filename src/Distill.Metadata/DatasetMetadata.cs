namespace Distill.Metadata;

/// <summary>
/// Marks a data set the DSL can use. Its batches carry the fields declared with
/// <see cref="BatchFieldAttribute"/>; the generator checks that every batch field a loss reads exists
/// and that image channels and class counts agree with the models.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class DistillDatasetAttribute : Attribute
{
    /// <summary>The name experiments use (<c>dataset: SyntheticImages</c>); defaults to the class name.</summary>
    public string? Name { get; set; }

    public string? Task { get; set; }
}

/// <summary>
/// A field of the data set's batches. <see cref="Shape"/> is a comma-separated list of expressions over
/// the data set's constructor parameters, with N for the batch size (e.g. <c>"N, channels, size, size"</c>);
/// <see cref="Classes"/> (for label fields) is an expression giving the number of classes.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class BatchFieldAttribute : Attribute
{
    public BatchFieldAttribute(string name, TensorKind kind, string shape)
    {
        Name = name;
        Kind = kind;
        Shape = shape;
    }

    public string Name { get; }
    public TensorKind Kind { get; }
    public string Shape { get; }
    public string? Classes { get; set; }
}
