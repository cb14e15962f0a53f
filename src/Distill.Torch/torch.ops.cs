using Distill.Torch.Native;
using static Distill.Torch.Native.NativeMethods;

namespace Distill.Torch;

public static partial class torch
{
    /// <summary>
    /// The detection ops of <c>torchvision.ops</c> (0.14), with torchvision's names, arguments and values:
    /// <c>nms</c>, <c>batched_nms</c>, <c>roi_align</c>, <c>roi_pool</c>, <c>box_area</c>, <c>box_iou</c>,
    /// <c>clip_boxes_to_image</c>, <c>remove_small_boxes</c>, <c>sigmoid_focal_loss</c>. Boxes are (x1, y1, x2, y2).
    /// </summary>
    /// <remarks>
    /// libtorch has no nms/RoI kernels (torchvision ships them), so the shim has its own
    /// (native/src/detection_ops.cpp): CPU tensors run its CPU kernels (roi_align's and roi_pool's with their own
    /// autograd nodes); tensors on any other device run ATen compositions that give the same values (nms: a
    /// pairwise-IoU matrix and a fixed-point form of the greedy rule; roi_align: separable bilinear weight matrices
    /// and two matrix products; roi_pool: a two-stage masked argmax), differentiable through ATen's autograd.
    /// Gradients reach the features, never the box coordinates (as in torchvision). The box functions and the
    /// focal loss are ATen compositions on every device.
    /// </remarks>
    public static partial class ops
    {
        /// <summary>Which implementation a detection op runs (the tests pick one; users get <see cref="ByDevice"/>).</summary>
        internal enum OpPath
        {
            /// <summary>The CPU kernel for CPU tensors, the ATen composition on other devices.</summary>
            ByDevice = 0,
            /// <summary>The CPU kernel (CPU tensors only).</summary>
            Kernel = 1,
            /// <summary>The ATen composition, on any device.</summary>
            Composite = 2,
        }

        // ---- non-maximum suppression -------------------------------------------------------------

        /// <summary>
        /// Greedy non-maximum suppression: boxes are visited by score, descending (equal scores in their input
        /// order), and a box is dropped when its IoU with a box already kept is above <paramref name="iou_threshold"/>.
        /// </summary>
        /// <param name="boxes">Tensor[N, 4], floating point.</param>
        /// <param name="scores">Tensor[N].</param>
        /// <returns>int64 indices of the kept boxes, by decreasing score.</returns>
        public static Tensor nms(Tensor boxes, Tensor scores, double iou_threshold) => nms(boxes, scores, iou_threshold, OpPath.ByDevice);

        internal static Tensor nms(Tensor boxes, Tensor scores, double iou_threshold, OpPath path)
        {
            Check(dst_nms(boxes.Handle, scores.Handle, iou_threshold, (int)path, out var r));
            return new Tensor(r);
        }

        /// <summary>
        /// <see cref="nms"/> within each category: boxes of different <paramref name="idxs"/> never suppress each
        /// other. Up to 1000 boxes on the CPU (5000 elsewhere) run as one nms with each category's boxes moved
        /// apart by idx · (max coordinate + 1), more boxes run one nms per category (torchvision's two strategies).
        /// </summary>
        /// <param name="idxs">Tensor[N] of integer categories.</param>
        /// <returns>int64 indices of the kept boxes, by decreasing score.</returns>
        public static Tensor batched_nms(Tensor boxes, Tensor scores, Tensor idxs, double iou_threshold) =>
            batched_nms(boxes, scores, idxs, iou_threshold, OpPath.ByDevice);

        internal static Tensor batched_nms(Tensor boxes, Tensor scores, Tensor idxs, double iou_threshold, OpPath path)
        {
            Check(dst_batched_nms(boxes.Handle, scores.Handle, idxs.Handle, iou_threshold, (int)path, out var r));
            return new Tensor(r);
        }

        // ---- RoI pooling ------------------------------------------------------------------------------

        /// <summary>
        /// RoIAlign (Mask R-CNN): each RoI is split into <paramref name="output_size"/> bins and each bin averages
        /// bilinear samples of the features on a regular grid, <paramref name="sampling_ratio"/> per bin side
        /// (≤ 0: ceil(RoI size / output size), adaptive per RoI).
        /// </summary>
        /// <param name="input">Tensor[N, C, H, W] features.</param>
        /// <param name="boxes">Tensor[K, 5] rows (batch index, x1, y1, x2, y2) in image coordinates, the input's dtype.</param>
        /// <param name="output_size">(height, width) of each RoI's output, or one value for both.</param>
        /// <param name="spatial_scale">feature cells per image pixel (1/stride).</param>
        /// <param name="aligned">shift the RoI by half a cell, so that a pixel's centre maps to a cell's centre.</param>
        /// <returns>Tensor[K, C, output height, output width].</returns>
        public static Tensor roi_align(Tensor input, Tensor boxes, IntOrTuple output_size, double spatial_scale = 1.0,
            long sampling_ratio = -1, bool aligned = false) =>
            roi_align(input, boxes, output_size, spatial_scale, sampling_ratio, aligned, OpPath.ByDevice);

        /// <summary><see cref="roi_align(Tensor, Tensor, IntOrTuple, double, long, bool)"/> with one Tensor[L, 4] of boxes per image.</summary>
        public static Tensor roi_align(Tensor input, IReadOnlyList<Tensor> boxes, IntOrTuple output_size, double spatial_scale = 1.0,
            long sampling_ratio = -1, bool aligned = false)
        {
            using var rois = RoisOfImages("roi_align", boxes);
            return roi_align(input, rois, output_size, spatial_scale, sampling_ratio, aligned, OpPath.ByDevice);
        }

        internal static Tensor roi_align(Tensor input, Tensor boxes, IntOrTuple output_size, double spatial_scale,
            long sampling_ratio, bool aligned, OpPath path)
        {
            var (height, width) = OutputSize("roi_align", output_size);
            Check(dst_roi_align(input.Handle, boxes.Handle, spatial_scale, height, width, sampling_ratio, aligned ? 1 : 0, (int)path, out var r));
            return new Tensor(r);
        }

        /// <summary>
        /// RoI max pooling (Fast R-CNN): each RoI, rounded to whole cells, is split into <paramref name="output_size"/>
        /// bins and each bin takes its maximum (0 for an empty bin); the gradient goes to the cell each bin took.
        /// </summary>
        /// <param name="boxes">Tensor[K, 5] rows (batch index, x1, y1, x2, y2), the input's dtype.</param>
        public static Tensor roi_pool(Tensor input, Tensor boxes, IntOrTuple output_size, double spatial_scale = 1.0) =>
            roi_pool(input, boxes, output_size, spatial_scale, OpPath.ByDevice);

        /// <summary><see cref="roi_pool(Tensor, Tensor, IntOrTuple, double)"/> with one Tensor[L, 4] of boxes per image.</summary>
        public static Tensor roi_pool(Tensor input, IReadOnlyList<Tensor> boxes, IntOrTuple output_size, double spatial_scale = 1.0)
        {
            using var rois = RoisOfImages("roi_pool", boxes);
            return roi_pool(input, rois, output_size, spatial_scale, OpPath.ByDevice);
        }

        internal static Tensor roi_pool(Tensor input, Tensor boxes, IntOrTuple output_size, double spatial_scale, OpPath path)
        {
            var (height, width) = OutputSize("roi_pool", output_size);
            Check(dst_roi_pool(input.Handle, boxes.Handle, spatial_scale, height, width, (int)path, out var r));
            return new Tensor(r);
        }

        private static (long Height, long Width) OutputSize(string op, IntOrTuple size)
        {
            var values = size.Expand(2);
            if (values.Length != 2)
                throw new TorchException($"{op}: output_size must be one value or (height, width), got {size}", ErrorCategory.Value);
            return (values[0], values[1]);
        }

        /// <summary>Per-image Tensor[L, 4] boxes as one Tensor[K, 5] of (image index, x1, y1, x2, y2) rows.</summary>
        private static Tensor RoisOfImages(string op, IReadOnlyList<Tensor> boxes)
        {
            if (boxes.Count == 0)
                throw new TorchException($"{op}: the list of boxes is empty; pass one Tensor[L, 4] per image", ErrorCategory.Value);
            for (var i = 0; i < boxes.Count; i++)
                if (boxes[i].dim() != 2 || boxes[i].size(1) != 4)
                    throw new TorchException($"{op}: boxes[{i}] must be a Tensor[L, 4] of (x1, y1, x2, y2), got shape {Shape(boxes[i])}", ErrorCategory.Value);
            using var scope = NewDisposeScope();
            var image = new Tensor[boxes.Count];
            for (var i = 0; i < boxes.Count; i++) image[i] = full_like(boxes[i].narrow(1, 0, 1), i);
            return scope.MoveToOuter(cat([cat(image), cat(boxes)], 1));
        }

        // ---- boxes ------------------------------------------------------------------------------------

        /// <summary>(x2 − x1)·(y2 − y1) of Tensor[N, 4] boxes; half precision is computed in float32, small integers in int32.</summary>
        public static Tensor box_area(Tensor boxes)
        {
            CheckBoxes("box_area", "boxes", boxes);
            using var scope = NewDisposeScope();
            var b = Upcast(boxes);
            return scope.MoveToOuter((b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1)));
        }

        /// <summary>The pairwise IoU of Tensor[N, 4] and Tensor[M, 4] boxes, Tensor[N, M].</summary>
        public static Tensor box_iou(Tensor boxes1, Tensor boxes2)
        {
            CheckBoxes("box_iou", "boxes1", boxes1);
            CheckBoxes("box_iou", "boxes2", boxes2);
            using var scope = NewDisposeScope();
            var area1 = box_area(boxes1);
            var area2 = box_area(boxes2);
            var topLeft = boxes1.narrow(1, 0, 2).unsqueeze(1).maximum(boxes2.narrow(1, 0, 2));
            var bottomRight = boxes1.narrow(1, 2, 2).unsqueeze(1).minimum(boxes2.narrow(1, 2, 2));
            var wh = Upcast(bottomRight - topLeft).clamp_min(0);
            var inter = wh.select(2, 0) * wh.select(2, 1);
            var union = area1.unsqueeze(1) + area2 - inter;
            return scope.MoveToOuter(inter / union);
        }

        /// <summary>Clips (..., 4) boxes to an image of <paramref name="size"/> = (height, width): x into [0, width], y into [0, height].</summary>
        public static Tensor clip_boxes_to_image(Tensor boxes, (long Height, long Width) size)
        {
            if (boxes.dim() < 1 || boxes.size(-1) != 4)
                throw new TorchException($"clip_boxes_to_image: boxes must be a Tensor[..., 4] of (x1, y1, x2, y2), got shape {Shape(boxes)}", ErrorCategory.Value);
            using var scope = NewDisposeScope();
            var corners = boxes.unflatten(-1, 2, 2);   // (..., corner, x/y)
            var x = corners.select(-1, 0).clamp(0, size.Width);
            var y = corners.select(-1, 1).clamp(0, size.Height);
            return scope.MoveToOuter(stack([x, y], -1).reshape(boxes.shape));
        }

        /// <summary>int64 indices of the Tensor[N, 4] boxes whose width and height are both at least <paramref name="min_size"/>.</summary>
        public static Tensor remove_small_boxes(Tensor boxes, double min_size)
        {
            CheckBoxes("remove_small_boxes", "boxes", boxes);
            using var scope = NewDisposeScope();
            var wide = (boxes.select(1, 2) - boxes.select(1, 0)) >= min_size;
            var tall = (boxes.select(1, 3) - boxes.select(1, 1)) >= min_size;
            return scope.MoveToOuter(wide.logical_and(tall).nonzero().select(1, 0));
        }

        // ---- losses -----------------------------------------------------------------------------------

        /// <summary>
        /// The focal loss of RetinaNet (Lin et al. 2017): BCE-with-logits(x, t)·(1 − p_t)^γ, weighted by
        /// α·t + (1 − α)(1 − t) when α ≥ 0, where p = sigmoid(x) and p_t = p·t + (1 − p)(1 − t).
        /// </summary>
        /// <param name="inputs">logits of any shape.</param>
        /// <param name="targets">0/1 (or soft) targets of the same shape.</param>
        /// <param name="alpha">weight of the positives in [0, 1]; negative for no weighting.</param>
        /// <param name="gamma">focusing exponent.</param>
        /// <param name="reduction">"none", "mean" or "sum".</param>
        public static Tensor sigmoid_focal_loss(Tensor inputs, Tensor targets, double alpha = 0.25, double gamma = 2, string reduction = "none")
        {
            if (reduction is not ("none" or "mean" or "sum"))
                throw new TorchException($"sigmoid_focal_loss: invalid reduction '{reduction}'; supported: 'none', 'mean', 'sum'", ErrorCategory.Value);
            using var scope = NewDisposeScope();
            var p = inputs.sigmoid();
            var ce = nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction: "none");
            var pt = p * targets + (1 - p) * (1 - targets);
            var loss = ce * (1 - pt).pow(gamma);
            if (alpha >= 0) loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss;
            loss = reduction switch { "mean" => loss.mean(), "sum" => loss.sum(), _ => loss };
            return scope.MoveToOuter(loss);
        }

        // ---- helpers ----------------------------------------------------------------------------------

        private static void CheckBoxes(string op, string name, Tensor boxes)
        {
            if (boxes.dim() != 2 || boxes.size(1) != 4)
                throw new TorchException($"{op}: {name} must be a Tensor[N, 4] of (x1, y1, x2, y2), got shape {Shape(boxes)}", ErrorCategory.Value);
        }

        private static string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";

        /// <summary>torchvision's <c>_upcast</c>: products of box sides must not overflow (half → float32, int8/16 → int32).</summary>
        private static Tensor Upcast(Tensor t)
        {
            var dtype = t.dtype;
            if (t.is_floating_point()) return dtype is ScalarType.Float32 or ScalarType.Float64 ? t.alias() : t.to(ScalarType.Float32);
            return dtype is ScalarType.Int32 or ScalarType.Int64 ? t.alias() : t.to(ScalarType.Int32);
        }
    }
}
