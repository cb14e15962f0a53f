using System.Runtime.InteropServices;

namespace Distill.Torch.Native;

// native/src/detection_ops.cpp
internal static unsafe partial class NativeMethods
{
    [LibraryImport(Lib)] internal static partial int dst_nms(TensorHandle boxes, TensorHandle scores, double iouThreshold, int path, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_batched_nms(TensorHandle boxes, TensorHandle scores, TensorHandle idxs, double iouThreshold, int path, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_roi_align(TensorHandle input, TensorHandle rois, double spatialScale, long pooledH, long pooledW, long samplingRatio, int aligned, int path, out IntPtr result);
    [LibraryImport(Lib)] internal static partial int dst_roi_pool(TensorHandle input, TensorHandle rois, double spatialScale, long pooledH, long pooledW, int path, out IntPtr result);
}
