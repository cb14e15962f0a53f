namespace Distill.Data;

/// <summary>
/// A person-search data set (also a <see cref="DetectionDataset"/> of one class, "person"): its batches carry each person
/// box's identity in <see cref="DetectionBatch.person_id"/> (0 .. <see cref="Identities"/> − 1 labelled, −1 unlabelled), and
/// an evaluation split carries the protocol: <see cref="Queries"/>, each a person's box in a query image with the gallery
/// images to search. Images are named by <see cref="ImageName"/>, as the queries name them.
/// </summary>
public interface IPersonSearchData
{
    /// <summary>The labelled identities of this split: person ids are 0 .. Identities − 1 (the OIM look-up table's rows).</summary>
    int Identities { get; }

    /// <summary>The name of the image with id <paramref name="imageId"/> (the <c>image_id</c> of its batch row).</summary>
    string ImageName(long imageId);

    /// <summary>The protocol's queries with their galleries (empty for a training split).</summary>
    IReadOnlyList<PersonSearchQuery> Queries { get; }
}
