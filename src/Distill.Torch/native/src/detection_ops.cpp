// Detection ops (torchvision.ops semantics, 0.14): nms, batched_nms, roi_align, roi_pool.
//
// Debian's libtorch has none of them (they live in torchvision's own library), so the shim has its own:
//   * CPU kernels written here (nms's greedy loop; roi_align's and roi_pool's per-RoI loops and their backward
//     passes), used for CPU tensors;
//   * ATen compositions for every other device, with the same values (nms: a pairwise-IoU matrix and a
//     fixed-point iteration of the greedy rule; roi_align: separable bilinear weight matrices applied with two
//     matrix products; roi_pool: a two-stage masked argmax). They are device-generic, so the tests also run them
//     on the CPU (path = kComposite) and compare them with the same fixtures as the kernels.
// roi_align's kernel and roi_pool (either path) are torch::autograd::Functions, so a backward() reaches the
// features; roi_align's composition is differentiable through ATen's own autograd. None differentiates the RoI
// coordinates (as torchvision). Unlike torchvision's, both also have a double backward: their backward is linear in
// the incoming gradient (roi_align's adjoint is the forward op again; roi_pool's runs as a scatter_add under
// create_graph).
//
// The semantics, restated here because every path must follow them exactly:
//   nms: visit boxes by score, descending (equal scores keep their input order); keep a box unless its IoU with
//     an already kept box is > iou_threshold. IoU = inter / (area_a + area_b - inter), areas (x2-x1)(y2-y1),
//     no +1. Returns the kept indices in visiting order.
//   batched_nms: nms per category. Small inputs (<= 4000 box coordinates on the CPU, 20000 elsewhere) shift each
//     category's boxes by idx * (max coordinate + 1) and run one nms; larger ones run nms per category and sort
//     the union by score.
//   roi_align: a RoI (b, x1, y1, x2, y2) maps to [x1*s - o, x2*s - o] with o = 0.5 when aligned, else 0 and
//     the extent clamped to >= 1. Each of the PH x PW bins averages a grid of gh x gw bilinear samples at the
//     sub-cell centres, gh = sampling_ratio > 0 ? sampling_ratio : ceil(roi_h / PH) (likewise gw), divided by
//     max(gh*gw, 1). A sample outside [-1, H] x [-1, W] is 0; otherwise coordinates below 0 read at 0 and
//     samples past the last row/column read the last one.
//   roi_pool: the RoI is rounded (half away from zero) to whole cells [x1*s, x2*s] inclusive; each bin is
//     [floor(p*bin), ceil((p+1)*bin)) shifted by the RoI's start and clipped to the map; the output is the bin's
//     maximum (the first in row-major order among equal values, NaN never chosen), 0 for an empty bin.
#include "shim.h"
#include <torch/csrc/autograd/custom_function.h>
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

using namespace dst;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// Which implementation runs: by the tensors' device (CPU: the kernel, anything else: the composition), or one
// chosen explicitly (the tests run the compositions on the CPU).
enum Path : int32_t { kAuto = 0, kKernel = 1, kComposite = 2 };

bool runs_kernel(const char* op, const at::Tensor& t, int32_t path) {
    TORCH_CHECK_VALUE(path >= kAuto && path <= kComposite, op, ": unknown implementation path code ", path);
    if (path == kAuto) return t.device().is_cpu();
    TORCH_CHECK(path != kKernel || t.device().is_cpu(), op, ": the kernel runs on CPU tensors only, got a tensor on ",
                t.device());
    return path == kKernel;
}

void check_same_device(const char* op, const at::Tensor& a, const char* a_name, const at::Tensor& b, const char* b_name) {
    TORCH_CHECK(a.device() == b.device(), op, ": ", a_name, " and ", b_name, " must be on the same device, got ",
                a.device(), " and ", b.device());
}

// The kernels compute in float or double; other floating inputs (half, bfloat16) run in float and are rounded back.
bool needs_float_upcast(const at::Tensor& t) {
    return t.scalar_type() != at::kFloat && t.scalar_type() != at::kDouble;
}

// ---- nms ------------------------------------------------------------------------------------------

void check_boxes(const char* op, const at::Tensor& boxes) {
    TORCH_CHECK_VALUE(boxes.dim() == 2 && boxes.size(1) == 4, op,
                      ": boxes must be a Tensor[N, 4] of (x1, y1, x2, y2), got shape ", boxes.sizes());
    TORCH_CHECK_TYPE(boxes.is_floating_point(), op, ": boxes must be floating point, got ", boxes.scalar_type());
}

void check_scores(const char* op, const at::Tensor& boxes, const at::Tensor& scores) {
    TORCH_CHECK_VALUE(scores.dim() == 1 && scores.size(0) == boxes.size(0), op,
                      ": scores must be a Tensor[N] with one score per box (N = ", boxes.size(0), "), got shape ",
                      scores.sizes());
    check_same_device(op, boxes, "boxes", scores, "scores");
}

// IoU > threshold with the IoU in float equals IoU > the largest float not above the threshold (no float lies
// strictly between the two), so float IoUs are compared with that float as they would be in double.
template <typename T>
T threshold_below(double threshold) {
    T t = static_cast<T>(threshold);
    if (static_cast<double>(t) > threshold) t = std::nextafter(t, -std::numeric_limits<T>::infinity());
    return t;
}

at::Tensor score_order(const at::Tensor& scores) {
    return std::get<1>(at::sort(scores, /*stable=*/true, /*dim=*/0, /*descending=*/true));
}

template <typename T>
at::Tensor nms_kernel(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
    const int64_t n = boxes.size(0);
    const auto order_t = score_order(scores).contiguous();
    const auto boxes_t = boxes.contiguous();
    const int64_t* order = order_t.data_ptr<int64_t>();
    const T* b = boxes_t.data_ptr<T>();
    const T threshold = threshold_below<T>(iou_threshold);
    std::vector<T> area(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) area[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
    std::vector<char> suppressed(static_cast<size_t>(n), 0);
    std::vector<int64_t> kept;
    for (int64_t a = 0; a < n; ++a) {
        const int64_t i = order[a];
        if (suppressed[i]) continue;
        kept.push_back(i);
        const T* bi = b + 4 * i;
        for (int64_t c = a + 1; c < n; ++c) {
            const int64_t j = order[c];
            if (suppressed[j]) continue;
            const T* bj = b + 4 * j;
            const T w = std::max(T(0), std::min(bi[2], bj[2]) - std::max(bi[0], bj[0]));
            const T h = std::max(T(0), std::min(bi[3], bj[3]) - std::max(bi[1], bj[1]));
            const T inter = w * h;
            if (inter / (area[i] + area[j] - inter) > threshold) suppressed[j] = 1;
        }
    }
    return at::tensor(kept, at::TensorOptions().dtype(at::kLong));
}

// The greedy rule as a fixed point: in score order, keep[i] = no kept j < i overlaps i. Starting from "keep all",
// each round of keep = !any_j(keep[j] & overlaps[j, i]) makes one more leading entry final, and the rounds stop at
// the first repeat, which is the rule's unique solution (usually after a few rounds).
at::Tensor nms_composite(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
    const int64_t n = boxes.size(0);
    const auto order = score_order(scores);
    const auto b = boxes.index_select(0, order);
    const auto x1 = b.select(1, 0), y1 = b.select(1, 1), x2 = b.select(1, 2), y2 = b.select(1, 3);
    const auto area = (x2 - x1) * (y2 - y1);
    const auto w = (at::minimum(x2.unsqueeze(1), x2.unsqueeze(0)) - at::maximum(x1.unsqueeze(1), x1.unsqueeze(0))).clamp_min(0);
    const auto h = (at::minimum(y2.unsqueeze(1), y2.unsqueeze(0)) - at::maximum(y1.unsqueeze(1), y1.unsqueeze(0))).clamp_min(0);
    const auto inter = w * h;
    const auto iou = inter / (area.unsqueeze(1) + area.unsqueeze(0) - inter);
    const double threshold = b.scalar_type() == at::kDouble ? iou_threshold : threshold_below<float>(iou_threshold);
    const auto overlaps = iou.gt(threshold).triu(1);  // [j, i]: j comes before i and suppresses it if kept
    auto keep = at::ones({n}, b.options().dtype(at::kBool));
    for (int64_t round = 0; round < n; ++round) {
        auto next = overlaps.logical_and(keep.unsqueeze(1)).any(0).logical_not();
        if (at::equal(next, keep)) break;
        keep = next;
    }
    return order.masked_select(keep);
}

at::Tensor nms(const at::Tensor& boxes_in, const at::Tensor& scores, double iou_threshold, int32_t path) {
    check_boxes("nms", boxes_in);
    check_scores("nms", boxes_in, scores);
    const bool kernel = runs_kernel("nms", boxes_in, path);
    if (boxes_in.size(0) == 0) return at::empty({0}, boxes_in.options().dtype(at::kLong));
    const auto boxes = needs_float_upcast(boxes_in) ? boxes_in.to(at::kFloat) : boxes_in;
    if (!kernel) return nms_composite(boxes, scores, iou_threshold);
    return boxes.scalar_type() == at::kDouble ? nms_kernel<double>(boxes, scores, iou_threshold)
                                              : nms_kernel<float>(boxes, scores, iou_threshold);
}

at::Tensor batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs, double iou_threshold,
                       int32_t path) {
    check_boxes("batched_nms", boxes);
    check_scores("batched_nms", boxes, scores);
    TORCH_CHECK_VALUE(idxs.dim() == 1 && idxs.size(0) == boxes.size(0),
                      "batched_nms: idxs must be a Tensor[N] with one category per box (N = ", boxes.size(0),
                      "), got shape ", idxs.sizes());
    TORCH_CHECK_TYPE(!idxs.is_floating_point() && !idxs.is_complex() && idxs.scalar_type() != at::kBool,
                     "batched_nms: idxs must hold integers, got ", idxs.scalar_type());
    check_same_device("batched_nms", boxes, "boxes", idxs, "idxs");
    runs_kernel("batched_nms", boxes, path);
    if (boxes.size(0) == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
    if (boxes.numel() <= (boxes.device().is_cpu() ? 4000 : 20000)) {
        // one nms over boxes moved apart per category, so boxes of different categories never overlap
        const auto offsets = idxs.to(boxes.scalar_type()) * (boxes.max() + 1);
        return nms(boxes + offsets.unsqueeze(1), scores, iou_threshold, path);
    }
    auto keep = at::zeros({boxes.size(0)}, boxes.options().dtype(at::kBool));
    const auto categories = std::get<0>(at::_unique(idxs, /*sorted=*/true)).cpu().to(at::kLong);
    const int64_t* category = categories.data_ptr<int64_t>();
    for (int64_t c = 0; c < categories.numel(); ++c) {
        const auto members = idxs.eq(category[c]).nonzero().squeeze(1);
        const auto kept = nms(boxes.index_select(0, members), scores.index_select(0, members), iou_threshold, path);
        keep.index_fill_(0, members.index_select(0, kept), true);
    }
    const auto kept = keep.nonzero().squeeze(1);
    return kept.index_select(0, score_order(scores.index_select(0, kept)));
}

// ---- RoI checks -----------------------------------------------------------------------------------

void check_rois(const char* op, const at::Tensor& input, const at::Tensor& rois, int64_t pooled_h, int64_t pooled_w) {
    TORCH_CHECK_VALUE(input.dim() == 4, op, ": input must be a Tensor[N, C, H, W], got shape ", input.sizes());
    TORCH_CHECK_TYPE(input.is_floating_point(), op, ": input must be floating point, got ", input.scalar_type());
    TORCH_CHECK_VALUE(rois.dim() == 2 && rois.size(1) == 5, op,
                      ": rois must be a Tensor[K, 5] of (batch index, x1, y1, x2, y2), got shape ", rois.sizes());
    TORCH_CHECK_TYPE(rois.scalar_type() == input.scalar_type(), op, ": rois must have the input's dtype (",
                     input.scalar_type(), "), got ", rois.scalar_type());
    check_same_device(op, input, "input", rois, "rois");
    TORCH_CHECK_VALUE(pooled_h > 0 && pooled_w > 0, op, ": output_size must be positive, got (", pooled_h, ", ",
                      pooled_w, ")");
    if (rois.size(0) == 0) return;
    TORCH_CHECK_VALUE(input.size(2) > 0 && input.size(3) > 0, op, ": input has an empty feature map, shape ",
                      input.sizes());
    TORCH_CHECK_VALUE(at::isfinite(rois).all().item<bool>(), op, ": rois hold a NaN or infinite value");
    const auto batch = rois.select(1, 0);
    const double lo = batch.min().item<double>(), hi = batch.max().item<double>();
    TORCH_CHECK_INDEX(lo >= 0 && hi < static_cast<double>(input.size(0)), op,
                      ": rois[:, 0] must be batch indices in [0, ", input.size(0), ") for the input's N = ",
                      input.size(0), ", got values in [", lo, ", ", hi, "]");
}

// The rois of each image, for the compositions: (image index, positions of its rois in the K rows).
std::vector<std::pair<int64_t, at::Tensor>> rois_by_image(const at::Tensor& batch_index) {
    std::vector<std::pair<int64_t, at::Tensor>> out;
    const auto present = std::get<0>(at::_unique(batch_index, /*sorted=*/true)).cpu();
    const int64_t* image = present.data_ptr<int64_t>();
    for (int64_t k = 0; k < present.numel(); ++k)
        out.emplace_back(image[k], batch_index.eq(image[k]).nonzero().squeeze(1));
    return out;
}

// Puts per-image results (rows of `parts`, for the roi positions `where`) back into roi order.
at::Tensor in_roi_order(const std::vector<at::Tensor>& parts, const std::vector<at::Tensor>& where) {
    const auto positions = at::cat(where);
    return at::cat(parts).index_select(0, at::argsort(positions));
}

// ---- roi_align: the kernel --------------------------------------------------------------------------

// One bilinear sample along one axis: rows (or columns) lo and hi with their weights; an out-of-range sample has
// both weights 0 (and reads row 0).
template <typename T>
struct Tap {
    int64_t lo, hi;
    T wlo, whi;
};

template <typename T>
Tap<T> tap(T pos, int64_t size) {
    if (pos < -1.0 || pos > static_cast<double>(size)) return {0, 0, T(0), T(0)};
    if (pos <= 0) pos = 0;
    int64_t lo = static_cast<int64_t>(pos);
    if (lo >= size - 1) return {size - 1, size - 1, T(1), T(0)};
    const T frac = pos - static_cast<T>(lo);
    return {lo, lo + 1, T(1) - frac, frac};
}

struct AlignParams {
    double spatial_scale;
    int64_t pooled_h, pooled_w, sampling_ratio;
    bool aligned;
};

// A RoI's sampling plan: its image, the taps of its sample rows (pooled_h x gy) and columns (pooled_w x gx), and
// 1 / max(gy*gx, 1).
template <typename T>
struct RoiPlan {
    int64_t image = 0, gy = 0, gx = 0;
    T scale = T(1);
    std::vector<Tap<T>> rows, cols;
};

template <typename T>
void plan_axis(T start, T extent, int64_t pooled, int64_t sampling_ratio, int64_t size, int64_t& grid,
               std::vector<Tap<T>>& taps) {
    const T bin = extent / static_cast<T>(pooled);
    grid = sampling_ratio > 0 ? sampling_ratio : static_cast<int64_t>(std::ceil(extent / static_cast<T>(pooled)));
    if (grid < 0) grid = 0;
    taps.resize(static_cast<size_t>(pooled * grid));
    for (int64_t p = 0; p < pooled; ++p)
        for (int64_t i = 0; i < grid; ++i)
            taps[p * grid + i] = tap<T>(start + static_cast<T>(p) * bin + (static_cast<T>(i) + T(0.5)) * bin / static_cast<T>(grid), size);
}

template <typename T>
RoiPlan<T> plan_roi(const T* roi, int64_t height, int64_t width, const AlignParams& a) {
    RoiPlan<T> plan;
    plan.image = static_cast<int64_t>(roi[0]);
    const double offset = a.aligned ? 0.5 : 0.0;
    const T x1 = static_cast<T>(roi[1] * a.spatial_scale - offset), y1 = static_cast<T>(roi[2] * a.spatial_scale - offset);
    const T x2 = static_cast<T>(roi[3] * a.spatial_scale - offset), y2 = static_cast<T>(roi[4] * a.spatial_scale - offset);
    T w = x2 - x1, h = y2 - y1;
    if (!a.aligned) {
        w = std::max(w, T(1));
        h = std::max(h, T(1));
    }
    plan_axis<T>(y1, h, a.pooled_h, a.sampling_ratio, height, plan.gy, plan.rows);
    plan_axis<T>(x1, w, a.pooled_w, a.sampling_ratio, width, plan.gx, plan.cols);
    plan.scale = T(1) / static_cast<T>(std::max<int64_t>(plan.gy * plan.gx, 1));
    return plan;
}

// One bilinear sample of a RoI's plan as four plane offsets with their combined weights (row weight x column
// weight), laid out bin by bin, so the loop over channels reads them in order.
template <typename T>
struct Sample {
    int64_t at[4];
    T w[4];
};

template <typename T>
void flatten_samples(const RoiPlan<T>& plan, int64_t pooled_h, int64_t pooled_w, int64_t width, std::vector<Sample<T>>& out) {
    out.clear();
    for (int64_t ph = 0; ph < pooled_h; ++ph)
        for (int64_t pw = 0; pw < pooled_w; ++pw)
            for (int64_t iy = 0; iy < plan.gy; ++iy) {
                const auto& ty = plan.rows[ph * plan.gy + iy];
                for (int64_t ix = 0; ix < plan.gx; ++ix) {
                    const auto& tx = plan.cols[pw * plan.gx + ix];
                    out.push_back({{ty.lo * width + tx.lo, ty.lo * width + tx.hi, ty.hi * width + tx.lo, ty.hi * width + tx.hi},
                                   {ty.wlo * tx.wlo, ty.wlo * tx.whi, ty.whi * tx.wlo, ty.whi * tx.whi}});
                }
            }
}

template <typename T>
at::Tensor roi_align_forward_kernel(const at::Tensor& input_in, const at::Tensor& rois_in, const AlignParams& a) {
    const auto input = input_in.contiguous();
    const auto rois = rois_in.contiguous();
    const int64_t channels = input.size(1), height = input.size(2), width = input.size(3), k_count = rois.size(0);
    auto output = at::empty({k_count, channels, a.pooled_h, a.pooled_w}, input.options());  // every cell is written below
    const T* x = input.data_ptr<T>();
    const T* r = rois.data_ptr<T>();
    T* out = output.data_ptr<T>();
    const int64_t bins = a.pooled_h * a.pooled_w;
    at::parallel_for(0, k_count, 1, [&](int64_t begin, int64_t end) {
        std::vector<Sample<T>> samples;
        for (int64_t k = begin; k < end; ++k) {
            const auto plan = plan_roi<T>(r + 5 * k, height, width, a);
            flatten_samples(plan, a.pooled_h, a.pooled_w, width, samples);
            const int64_t per_bin = plan.gy * plan.gx;
            for (int64_t c = 0; c < channels; ++c) {
                const T* f = x + (plan.image * channels + c) * height * width;
                T* o = out + (k * channels + c) * bins;
                const Sample<T>* sample = samples.data();
                for (int64_t bin = 0; bin < bins; ++bin) {
                    T sum = 0;
                    for (int64_t j = 0; j < per_bin; ++j, ++sample)
                        sum += sample->w[0] * f[sample->at[0]] + sample->w[1] * f[sample->at[1]] +
                               sample->w[2] * f[sample->at[2]] + sample->w[3] * f[sample->at[3]];
                    o[bin] = sum * plan.scale;
                }
            }
        }
    });
    return output;
}

// The adjoint of the forward: each output cell's gradient spread over the input cells its samples read. Channels
// run in parallel (RoIs may share input cells, channels never do).
template <typename T>
at::Tensor roi_align_backward_kernel(const at::Tensor& grad_in, const at::Tensor& rois_in, at::IntArrayRef input_sizes,
                                     const AlignParams& a) {
    const auto grad = grad_in.contiguous();
    const auto rois = rois_in.contiguous();
    const int64_t channels = input_sizes[1], height = input_sizes[2], width = input_sizes[3], k_count = rois.size(0);
    auto grad_input = at::zeros(input_sizes, grad.options());
    const T* r = rois.data_ptr<T>();
    std::vector<RoiPlan<T>> plans(static_cast<size_t>(k_count));
    at::parallel_for(0, k_count, 1, [&](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k) plans[k] = plan_roi<T>(r + 5 * k, height, width, a);
    });
    const T* g = grad.data_ptr<T>();
    T* gx_data = grad_input.data_ptr<T>();
    at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c)
            for (int64_t k = 0; k < k_count; ++k) {
                const auto& plan = plans[k];
                T* f = gx_data + (plan.image * channels + c) * height * width;
                const T* go = g + (k * channels + c) * a.pooled_h * a.pooled_w;
                for (int64_t ph = 0; ph < a.pooled_h; ++ph)
                    for (int64_t pw = 0; pw < a.pooled_w; ++pw) {
                        const T v = go[ph * a.pooled_w + pw] * plan.scale;
                        for (int64_t iy = 0; iy < plan.gy; ++iy) {
                            const auto& ty = plan.rows[ph * plan.gy + iy];
                            T* row_lo = f + ty.lo * width;
                            T* row_hi = f + ty.hi * width;
                            for (int64_t ix = 0; ix < plan.gx; ++ix) {
                                const auto& tx = plan.cols[pw * plan.gx + ix];
                                row_lo[tx.lo] += v * ty.wlo * tx.wlo;
                                row_lo[tx.hi] += v * ty.wlo * tx.whi;
                                row_hi[tx.lo] += v * ty.whi * tx.wlo;
                                row_hi[tx.hi] += v * ty.whi * tx.whi;
                            }
                        }
                    }
            }
    });
    return grad_input;
}

at::Tensor align_forward(const at::Tensor& input, const at::Tensor& rois, const AlignParams& a) {
    return input.scalar_type() == at::kDouble ? roi_align_forward_kernel<double>(input, rois, a)
                                              : roi_align_forward_kernel<float>(input, rois, a);
}

at::Tensor align_backward(const at::Tensor& grad, const at::Tensor& rois, at::IntArrayRef sizes, const AlignParams& a) {
    return grad.scalar_type() == at::kDouble ? roi_align_backward_kernel<double>(grad, rois, sizes, a)
                                             : roi_align_backward_kernel<float>(grad, rois, sizes, a);
}

void save_params(AutogradContext* ctx, const AlignParams& a) {
    ctx->saved_data["spatial_scale"] = a.spatial_scale;
    ctx->saved_data["pooled_h"] = a.pooled_h;
    ctx->saved_data["pooled_w"] = a.pooled_w;
    ctx->saved_data["sampling_ratio"] = a.sampling_ratio;
    ctx->saved_data["aligned"] = a.aligned;
}

AlignParams saved_params(AutogradContext* ctx) {
    return {ctx->saved_data["spatial_scale"].toDouble(), ctx->saved_data["pooled_h"].toInt(),
            ctx->saved_data["pooled_w"].toInt(), ctx->saved_data["sampling_ratio"].toInt(),
            ctx->saved_data["aligned"].toBool()};
}

struct RoiAlignBackward;

// roi_align's kernel as an autograd node: the gradient reaches the input, never the rois.
struct RoiAlign : public torch::autograd::Function<RoiAlign> {
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                              int64_t pooled_h, int64_t pooled_w, int64_t sampling_ratio, bool aligned) {
        const AlignParams a{spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned};
        save_params(ctx, a);
        ctx->save_for_backward({rois});
        ctx->saved_data["sizes"] = input.sizes().vec();
        return align_forward(input, rois, a);
    }
    static variable_list backward(AutogradContext* ctx, variable_list grads);
};

// The backward as a node of its own, so that a double backward differentiates it (it is linear in the gradient;
// its adjoint is the forward).
struct RoiAlignBackward : public torch::autograd::Function<RoiAlignBackward> {
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& grad, const at::Tensor& rois,
                              std::vector<int64_t> sizes, double spatial_scale, int64_t pooled_h, int64_t pooled_w,
                              int64_t sampling_ratio, bool aligned) {
        const AlignParams a{spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned};
        save_params(ctx, a);
        ctx->save_for_backward({rois});
        return align_backward(grad, rois, sizes, a);
    }
    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const auto a = saved_params(ctx);
        const auto rois = ctx->get_saved_variables()[0];
        auto gg = RoiAlign::apply(grads[0], rois, a.spatial_scale, a.pooled_h, a.pooled_w, a.sampling_ratio, a.aligned);
        return {gg, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

variable_list RoiAlign::backward(AutogradContext* ctx, variable_list grads) {
    const auto a = saved_params(ctx);
    const auto rois = ctx->get_saved_variables()[0];
    auto grad_input = RoiAlignBackward::apply(grads[0], rois, ctx->saved_data["sizes"].toIntVector(), a.spatial_scale,
                                              a.pooled_h, a.pooled_w, a.sampling_ratio, a.aligned);
    return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
}

// ---- roi_align: the composition ---------------------------------------------------------------------

// The sampling weights of one axis for every RoI, as a [K, pooled, size] matrix: row p holds, for each input row
// (or column), the summed bilinear weights of bin p's samples, divided by the sample count of that axis. The
// output is then rows · feature · colsᵀ per RoI and channel; with both axes' counts >= 1 that is the kernel's
// sum / (gy*gx), and with either count 0 it is 0, as in the kernel. Computed from detached rois.
at::Tensor axis_weights(const at::Tensor& lo_coord, const at::Tensor& hi_coord, const AlignParams& a, int64_t pooled,
                        int64_t size) {
    const auto opts = lo_coord.options();
    const double offset = a.aligned ? 0.5 : 0.0;
    // in double, then rounded to the input's dtype, as the kernel does
    const auto start = (lo_coord.to(at::kDouble) * a.spatial_scale - offset).to(opts.dtype());
    auto extent = (hi_coord.to(at::kDouble) * a.spatial_scale - offset).to(opts.dtype()) - start;
    if (!a.aligned) extent = extent.clamp_min(1);
    const auto bin = extent / static_cast<double>(pooled);
    const auto grid = a.sampling_ratio > 0 ? at::full_like(extent, static_cast<double>(a.sampling_ratio))
                                           : (extent / static_cast<double>(pooled)).ceil().clamp_min(0);
    const int64_t k_count = lo_coord.size(0);
    const int64_t most = grid.numel() == 0 ? 0 : static_cast<int64_t>(grid.max().item<double>());
    auto weights = at::zeros({k_count, pooled, size}, opts);
    if (most == 0) return weights;
    const auto p = at::arange(pooled, opts).view({1, pooled, 1});
    const auto i = at::arange(most, opts).view({1, 1, most});
    const auto g = grid.view({k_count, 1, 1});
    const auto pos = (start.view({k_count, 1, 1}) + p * bin.view({k_count, 1, 1})) + (i + 0.5) * bin.view({k_count, 1, 1}) / g;
    const auto valid = i.lt(g).logical_and(pos.ge(-1).logical_and(pos.le(static_cast<double>(size))));
    const auto clamped = pos.clamp_min(0);
    auto lo = clamped.to(at::kLong);
    const auto at_end = lo.ge(size - 1);
    lo = at::where(at_end, at::full_like(lo, size - 1), lo);
    const auto hi = at::where(at_end, lo, lo + 1);
    const auto frac = at::where(at_end, at::zeros_like(clamped), clamped - lo.to(opts.dtype()));
    const auto per_sample = valid.to(opts.dtype()) / g.clamp_min(1);
    const auto keep_index = [&](const at::Tensor& index) { return at::where(valid, index, at::zeros_like(index)); };
    weights.scatter_add_(2, keep_index(lo), (1 - frac) * per_sample);
    weights.scatter_add_(2, keep_index(hi), frac * per_sample);
    return weights;
}

at::Tensor roi_align_composite(const at::Tensor& input, const at::Tensor& rois_in, const AlignParams& a) {
    const int64_t channels = input.size(1), height = input.size(2), width = input.size(3);
    const auto rois = rois_in.detach();
    if (rois.size(0) == 0) return at::zeros({0, channels, a.pooled_h, a.pooled_w}, input.options());
    std::vector<at::Tensor> parts, where;
    for (const auto& [image, members] : rois_by_image(rois.select(1, 0).to(at::kLong))) {
        const auto r = rois.index_select(0, members);
        const int64_t k_count = r.size(0);
        const auto rows = axis_weights(r.select(1, 2), r.select(1, 4), a, a.pooled_h, height);  // [K, PH, H]
        const auto cols = axis_weights(r.select(1, 1), r.select(1, 3), a, a.pooled_w, width);   // [K, PW, W]
        // [C*H, W] x [W, K*PW] -> [C, H, K, PW] -> [K, C*PW, H] x [K, H, PH] -> [K, C, PW, PH] -> [K, C, PH, PW]
        const auto across = input.select(0, image).reshape({channels * height, width})
                                .matmul(cols.reshape({k_count * a.pooled_w, width}).t())
                                .view({channels, height, k_count, a.pooled_w});
        const auto down = across.permute({2, 0, 3, 1}).reshape({k_count, channels * a.pooled_w, height})
                              .bmm(rows.transpose(1, 2));
        parts.push_back(down.view({k_count, channels, a.pooled_w, a.pooled_h}).transpose(2, 3));
        where.push_back(members);
    }
    return in_roi_order(parts, where).contiguous();
}

at::Tensor roi_align(const at::Tensor& input_in, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
                     int64_t pooled_w, int64_t sampling_ratio, bool aligned, int32_t path) {
    check_rois("roi_align", input_in, rois, pooled_h, pooled_w);
    const AlignParams a{spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned};
    if (!runs_kernel("roi_align", input_in, path)) return roi_align_composite(input_in, rois, a);
    if (!needs_float_upcast(input_in))
        return RoiAlign::apply(input_in, rois, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned);
    const auto out = RoiAlign::apply(input_in.to(at::kFloat), rois.to(at::kFloat), spatial_scale, pooled_h, pooled_w,
                                     sampling_ratio, aligned);
    return out.to(input_in.scalar_type());
}

// ---- roi_pool -----------------------------------------------------------------------------------------

// Half away from zero, as C's round (at::round rounds half to even).
inline int64_t round_half_away(double v) { return static_cast<int64_t>(std::round(v)); }

// A RoI's bin edges along one axis, clipped to [0, size]: bin p covers [start[p], end[p]).
template <typename T>
void pool_bins(double lo, double hi, int64_t pooled, int64_t size, std::vector<int64_t>& start, std::vector<int64_t>& end) {
    const int64_t first = round_half_away(lo), last = round_half_away(hi);
    const int64_t extent = std::max<int64_t>(last - first + 1, 1);
    const T bin = static_cast<T>(extent) / static_cast<T>(pooled);
    start.resize(static_cast<size_t>(pooled));
    end.resize(static_cast<size_t>(pooled));
    for (int64_t p = 0; p < pooled; ++p) {
        const int64_t s = static_cast<int64_t>(std::floor(static_cast<T>(p) * bin)) + first;
        const int64_t e = static_cast<int64_t>(std::ceil(static_cast<T>(p + 1) * bin)) + first;
        start[p] = std::min(std::max<int64_t>(s, 0), size);
        end[p] = std::min(std::max<int64_t>(e, 0), size);
    }
}

// The output and, per output cell, the cell of its feature plane (h * W + w) whose value it took, -1 for none.
// The cell indices are int32 (a plane of 2^31 cells is refused): half the memory of int64, which at a detector's
// sizes (K x C x 7 x 7) is tens of megabytes.
template <typename T>
std::pair<at::Tensor, at::Tensor> roi_pool_kernel(const at::Tensor& input_in, const at::Tensor& rois_in, double spatial_scale,
                                                  int64_t pooled_h, int64_t pooled_w) {
    const auto input = input_in.contiguous();
    const auto rois = rois_in.contiguous();
    const int64_t channels = input.size(1), height = input.size(2), width = input.size(3), k_count = rois.size(0);
    // every cell is written below
    auto output = at::empty({k_count, channels, pooled_h, pooled_w}, input.options());
    auto argmax = at::empty({k_count, channels, pooled_h, pooled_w}, input.options().dtype(at::kInt));
    const T* x = input.data_ptr<T>();
    const T* r = rois.data_ptr<T>();
    T* out = output.data_ptr<T>();
    int32_t* arg = argmax.data_ptr<int32_t>();
    at::parallel_for(0, k_count, 1, [&](int64_t begin, int64_t end) {
        std::vector<int64_t> hs, he, ws, we;
        for (int64_t k = begin; k < end; ++k) {
            const T* roi = r + 5 * k;
            const int64_t image = static_cast<int64_t>(roi[0]);
            pool_bins<T>(roi[2] * spatial_scale, roi[4] * spatial_scale, pooled_h, height, hs, he);
            pool_bins<T>(roi[1] * spatial_scale, roi[3] * spatial_scale, pooled_w, width, ws, we);
            for (int64_t c = 0; c < channels; ++c) {
                const T* plane = x + (image * channels + c) * height * width;
                const int64_t cell0 = (k * channels + c) * pooled_h * pooled_w;
                for (int64_t ph = 0; ph < pooled_h; ++ph)
                    for (int64_t pw = 0; pw < pooled_w; ++pw) {
                        const int64_t h0 = hs[ph], h1 = he[ph], w0 = ws[pw], w1 = we[pw];
                        T best = h1 <= h0 || w1 <= w0 ? T(0) : static_cast<T>(-FLT_MAX);
                        int64_t best_at = -1;
                        for (int64_t h = h0; h < h1; ++h)
                            for (int64_t w = w0; w < w1; ++w)
                                if (plane[h * width + w] > best) {
                                    best = plane[h * width + w];
                                    best_at = h * width + w;
                                }
                        out[cell0 + ph * pooled_w + pw] = best;
                        arg[cell0 + ph * pooled_w + pw] = static_cast<int32_t>(best_at);
                    }
            }
        }
    });
    return {output, argmax};
}

// The backward kernel: each output cell's gradient added to the cell it took. Channels run in parallel (RoIs may
// share cells, channels never do).
template <typename T>
at::Tensor roi_pool_backward_kernel(const at::Tensor& grad_in, const at::Tensor& argmax, const at::Tensor& image_of,
                                    at::IntArrayRef input_sizes) {
    const auto grad = grad_in.contiguous();
    const int64_t channels = input_sizes[1], plane = input_sizes[2] * input_sizes[3];
    const int64_t k_count = argmax.size(0), cells = argmax.size(2) * argmax.size(3);
    auto grad_input = at::zeros(input_sizes, grad.options());
    const T* g = grad.data_ptr<T>();
    const int32_t* arg = argmax.data_ptr<int32_t>();
    const int64_t* image = image_of.data_ptr<int64_t>();
    T* gi = grad_input.data_ptr<T>();
    at::parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
        for (int64_t c = begin; c < end; ++c)
            for (int64_t k = 0; k < k_count; ++k) {
                T* target = gi + (image[k] * channels + c) * plane;
                const int64_t cell0 = (k * channels + c) * cells;
                for (int64_t j = 0; j < cells; ++j)
                    if (arg[cell0 + j] >= 0) target[arg[cell0 + j]] += g[cell0 + j];
            }
    });
    return grad_input;
}

// The same bins as tensors: [K, pooled] starts and ends, computed as the kernel computes them.
std::pair<at::Tensor, at::Tensor> pool_bins_tensor(const at::Tensor& lo, const at::Tensor& hi, double spatial_scale,
                                                   int64_t pooled, int64_t size) {
    const auto round = [&](const at::Tensor& v) {
        const auto scaled = v.to(at::kDouble) * spatial_scale;
        const auto whole = scaled.trunc();
        return (whole + at::where((scaled - whole).abs().ge(0.5), scaled.sign(), at::zeros_like(scaled))).to(at::kLong);
    };
    const auto first = round(lo);
    const auto extent = (round(hi) - first + 1).clamp_min(1);
    const auto bin = (extent.to(lo.scalar_type()) / static_cast<double>(pooled)).unsqueeze(1);
    const auto p = at::arange(pooled, lo.options()).unsqueeze(0);
    const auto start = (p * bin).floor().to(at::kLong) + first.unsqueeze(1);
    const auto end = ((p + 1) * bin).ceil().to(at::kLong) + first.unsqueeze(1);
    return {start.clamp(0, size), end.clamp(0, size)};
}

// roi_pool's composition: per image, the maximum over each bin's columns (for every row), then over its rows. The
// first maximum (torch.argmax's documented choice) of the row-wise firsts is the first maximum in row-major order.
// Returns what the kernel returns.
std::pair<at::Tensor, at::Tensor> roi_pool_composite(const at::Tensor& input, const at::Tensor& rois_in,
                                                     double spatial_scale, int64_t pooled_h, int64_t pooled_w) {
    const int64_t channels = input.size(1), height = input.size(2), width = input.size(3);
    const auto rois = rois_in.detach();
    const auto long_opts = input.options().dtype(at::kLong);
    if (rois.size(0) == 0)
        return {at::zeros({0, channels, pooled_h, pooled_w}, input.options()),
                at::zeros({0, channels, pooled_h, pooled_w}, input.options().dtype(at::kInt))};
    const double lowest = -FLT_MAX;
    const double ninf = -std::numeric_limits<double>::infinity();
    std::vector<at::Tensor> values, indices, where;
    for (const auto& [image, members] : rois_by_image(rois.select(1, 0).to(at::kLong))) {
        const auto r = rois.index_select(0, members);
        const int64_t k_count = r.size(0);
        const auto [hs, he] = pool_bins_tensor(r.select(1, 2), r.select(1, 4), spatial_scale, pooled_h, height);
        const auto [ws, we] = pool_bins_tensor(r.select(1, 1), r.select(1, 3), spatial_scale, pooled_w, width);
        const auto col = at::arange(width, long_opts).view({1, 1, width});
        const auto row = at::arange(height, long_opts).view({1, 1, height});
        const auto in_cols = col.ge(ws.unsqueeze(2)).logical_and(col.lt(we.unsqueeze(2)));  // [K, PW, W]
        const auto in_rows = row.ge(hs.unsqueeze(2)).logical_and(row.lt(he.unsqueeze(2)));  // [K, PH, H]
        // values the kernel never takes (NaN; nothing above -FLT_MAX) become -inf, like cells outside the bin
        auto f = input.select(0, image);
        f = f.masked_fill(f.isnan().logical_or(f.le(lowest)), ninf);
        // [K, C, H, PW, W] -> first maximum over W
        const auto by_cols = f.view({1, channels, height, 1, width})
                                 .masked_fill(in_cols.logical_not().view({k_count, 1, 1, pooled_w, width}), ninf);
        const auto w_at = by_cols.argmax(4);                                               // [K, C, H, PW]
        const auto row_max = by_cols.gather(4, w_at.unsqueeze(4)).squeeze(4);
        // [K, C, PH, H, PW] -> first maximum over H
        const auto by_rows = row_max.unsqueeze(2).masked_fill(
            in_rows.logical_not().view({k_count, 1, pooled_h, height, 1}), ninf);
        const auto h_at = by_rows.argmax(3);                                               // [K, C, PH, PW]
        const auto best = by_rows.gather(3, h_at.unsqueeze(3)).squeeze(3);
        const auto w_best = w_at.unsqueeze(2).expand({k_count, channels, pooled_h, height, pooled_w})
                                .gather(3, h_at.unsqueeze(3)).squeeze(3);
        const auto found = best.gt(ninf);
        const auto empty = he.le(hs).unsqueeze(2).logical_or(we.le(ws).unsqueeze(1)).unsqueeze(1);  // [K, 1, PH, PW]
        const auto none = at::where(empty, at::zeros_like(best), at::full_like(best, lowest));
        values.push_back(at::where(found, best, none));
        indices.push_back(at::where(found, h_at * width + w_best, at::full_like(h_at, -1)).to(at::kInt));
        where.push_back(members);
    }
    return {in_roi_order(values, where), in_roi_order(indices, where)};
}

// The backward as ATen calls, for other devices and for a double backward (scatter_add is differentiable in its
// source): the cells taken, as flat indices into the input.
at::Tensor roi_pool_backward_composite(const at::Tensor& grad, const at::Tensor& argmax, const at::Tensor& image_of,
                                       at::IntArrayRef input_sizes) {
    const int64_t channels = input_sizes[1], plane = input_sizes[2] * input_sizes[3];
    const auto taken = argmax.ge(0);
    const auto channel = at::arange(channels, image_of.options()).view({1, channels, 1, 1});
    const auto flat = (image_of.view({-1, 1, 1, 1}) * channels + channel) * plane + argmax.to(at::kLong).clamp_min(0);
    return at::zeros({c10::multiply_integers(input_sizes)}, grad.options())
        .scatter_add(0, flat.reshape({-1}), at::where(taken, grad, at::zeros_like(grad)).reshape({-1}))
        .view(input_sizes);
}

// roi_pool as an autograd node over either path: the gradient of an output cell goes to the input cell it took.
struct RoiPool : public torch::autograd::Function<RoiPool> {
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                              int64_t pooled_h, int64_t pooled_w, bool kernel) {
        std::pair<at::Tensor, at::Tensor> result;
        if (!kernel)
            result = roi_pool_composite(input, rois, spatial_scale, pooled_h, pooled_w);
        else if (input.scalar_type() == at::kDouble)
            result = roi_pool_kernel<double>(input, rois, spatial_scale, pooled_h, pooled_w);
        else
            result = roi_pool_kernel<float>(input, rois, spatial_scale, pooled_h, pooled_w);
        ctx->save_for_backward({result.second, rois.select(1, 0).to(at::kLong)});
        ctx->saved_data["sizes"] = input.sizes().vec();
        ctx->saved_data["kernel"] = kernel;
        return result.first;
    }
    static variable_list backward(AutogradContext* ctx, variable_list grads) {
        const auto saved = ctx->get_saved_variables();
        const auto sizes = ctx->saved_data["sizes"].toIntVector();
        const auto& g = grads[0];
        at::Tensor grad_input;
        if (!ctx->saved_data["kernel"].toBool() || c10::GradMode::is_enabled())
            grad_input = roi_pool_backward_composite(g, saved[0], saved[1], sizes);
        else if (g.scalar_type() == at::kDouble)
            grad_input = roi_pool_backward_kernel<double>(g, saved[0].contiguous(), saved[1].contiguous(), sizes);
        else
            grad_input = roi_pool_backward_kernel<float>(g, saved[0].contiguous(), saved[1].contiguous(), sizes);
        return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

at::Tensor roi_pool(const at::Tensor& input_in, const at::Tensor& rois, double spatial_scale, int64_t pooled_h,
                    int64_t pooled_w, int32_t path) {
    check_rois("roi_pool", input_in, rois, pooled_h, pooled_w);
    TORCH_CHECK_VALUE(input_in.size(2) * input_in.size(3) <= std::numeric_limits<int32_t>::max(),
                      "roi_pool: feature maps of 2^31 cells or more are not supported, got shape ", input_in.sizes());
    const bool kernel = runs_kernel("roi_pool", input_in, path);
    if (!kernel || !needs_float_upcast(input_in))
        return RoiPool::apply(input_in, rois, spatial_scale, pooled_h, pooled_w, kernel);
    return RoiPool::apply(input_in.to(at::kFloat), rois.to(at::kFloat), spatial_scale, pooled_h, pooled_w, kernel)
        .to(input_in.scalar_type());
}

}  // namespace

// ---- C ABI ----------------------------------------------------------------------------------------------
// `path`: 0 = by device (CPU: the kernel, other devices: the ATen composition), 1 = the CPU kernel,
// 2 = the composition (any device).

DST_EXPORT int dst_nms(dst_tensor boxes, dst_tensor scores, double iou_threshold, int32_t path, dst_tensor* out) {
    return guard([&] { *out = wrap(nms(T(boxes), T(scores), iou_threshold, path)); });
}

DST_EXPORT int dst_batched_nms(dst_tensor boxes, dst_tensor scores, dst_tensor idxs, double iou_threshold, int32_t path,
                               dst_tensor* out) {
    return guard([&] { *out = wrap(batched_nms(T(boxes), T(scores), T(idxs), iou_threshold, path)); });
}

DST_EXPORT int dst_roi_align(dst_tensor input, dst_tensor rois, double spatial_scale, int64_t pooled_h, int64_t pooled_w,
                             int64_t sampling_ratio, int32_t aligned, int32_t path, dst_tensor* out) {
    return guard([&] {
        *out = wrap(roi_align(T(input), T(rois), spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned != 0, path));
    });
}

DST_EXPORT int dst_roi_pool(dst_tensor input, dst_tensor rois, double spatial_scale, int64_t pooled_h, int64_t pooled_w,
                            int32_t path, dst_tensor* out) {
    return guard([&] { *out = wrap(roi_pool(T(input), T(rois), spatial_scale, pooled_h, pooled_w, path)); });
}
