namespace Distill.Detection;

/// <summary>
/// One image's detections in its ORIGINAL pixel coordinates: boxes [D, 4] (x1, y1, x2, y2), scores [D] (softmax
/// probability of the class) and labels [D] int64 in 1..classes, best score first. Dispose to free the tensors.
/// </summary>
public sealed class Detections : IDisposable
{
    public Detections(Tensor boxes, Tensor scores, Tensor labels)
    {
        this.boxes = boxes;
        this.scores = scores;
        this.labels = labels;
    }

    public Tensor boxes { get; }
    public Tensor scores { get; }
    public Tensor labels { get; }

    public void Dispose()
    {
        boxes.Dispose();
        scores.Dispose();
        labels.Dispose();
    }
}
