namespace Distill.Detection.Tests;

/// <summary>A CPU-scale Faster R-CNN and a synthetic batch of boxes drawn on a dark background.</summary>
internal static class Tiny
{
    public const int Classes = 2;

    public static FasterRcnn Model(int width = 8) => new(Classes, "small", width: width, fpn_channels: 16,
        anchor_sizes: [8, 16, 32, 64, 128], min_size: 64, max_size: 96,
        rpn_pre_nms_top_n_train: 300, rpn_pre_nms_top_n_test: 200, rpn_post_nms_top_n_train: 100, rpn_post_nms_top_n_test: 50,
        rpn_batch_size_per_image: 64, box_batch_size_per_image: 32, representation_size: 32, box_score_thresh: 0.0);

    /// <summary>Two 64×80 uint8 images: class 1 boxes bright in red, class 2 in green.</summary>
    public static (Tensor images, Tensor[] boxes, Tensor[] labels) Batch()
    {
        float[][] boxes = [[8, 10, 30, 40, 40, 20, 70, 50], [20, 5, 60, 30]];
        long[][] labels = [[1, 2], [2]];
        var pixels = new byte[2 * 3 * 64 * 80];
        for (var i = 0; i < 2; i++)
            for (var k = 0; k < labels[i].Length; k++)
            {
                var c = (int)labels[i][k] - 1;
                for (var y = (int)boxes[i][4 * k + 1]; y < (int)boxes[i][4 * k + 3]; y++)
                    for (var x = (int)boxes[i][4 * k]; x < (int)boxes[i][4 * k + 2]; x++)
                        pixels[((i * 3 + c) * 64 + y) * 80 + x] = 220;
            }
        var images = torch.tensor(pixels, new long[] { 2, 3, 64, 80 });
        return (images,
            boxes.Select(b => torch.tensor(b, new long[] { b.Length / 4, 4 })).ToArray(),
            labels.Select(l => torch.tensor(l)).ToArray());
    }

    public const FasterRcnn.Taps Losses = FasterRcnn.Taps.LossObjectness | FasterRcnn.Taps.LossRpnBoxReg | FasterRcnn.Taps.LossClassifier | FasterRcnn.Taps.LossBoxReg;

    public static Tensor Total(FasterRcnn.Outputs o) => o.LossObjectness! + o.LossRpnBoxReg! + o.LossClassifier! + o.LossBoxReg!;
}
