// torch.nn.functional: layers, activations, pooling, resampling and losses. Each entry point is the
// ATen call that PyTorch's Python wrapper (torch/nn/functional.py, 1.13) makes, with the argument
// checks that wrapper does before the call, so results, gradients and error messages match PyTorch.
#include "shim.h"

using namespace dst;

namespace {

// An optional int list: a null pointer is None.
inline at::OptionalIntArrayRef opt_ints(const int64_t* values, int64_t count) {
    if (values == nullptr) return c10::nullopt;
    return ints(values, count);
}

inline c10::optional<at::ArrayRef<double>> opt_doubles(const double* values, int64_t count) {
    if (values == nullptr) return c10::nullopt;
    return at::ArrayRef<double>(values, static_cast<size_t>(count));
}

inline c10::optional<at::ScalarType> opt_dtype(int32_t dtype) {
    if (dtype < 0) return c10::nullopt;
    return static_cast<at::ScalarType>(dtype);
}

std::string shape_string(at::IntArrayRef sizes) {
    std::ostringstream s;
    s << "torch.Size([";
    for (size_t k = 0; k < sizes.size(); ++k) s << (k ? ", " : "") << sizes[k];
    s << "])";
    return s.str();
}

// Reduction codes: at::Reduction's none = 0, mean = 1, sum = 2; kl_div's "batchmean" = 3.
constexpr int64_t kBatchMean = 3;

}  // namespace

// ---- linear layers and convolutions -------------------------------------------------------------

DST_EXPORT int dst_linear(dst_tensor input, dst_tensor weight, dst_tensor bias, dst_tensor* out) {
    return guard([&] { *out = wrap(at::linear(T(input), T(weight), opt(bias))); });
}

DST_EXPORT int dst_conv2d(dst_tensor input, dst_tensor weight, dst_tensor bias, const int64_t* stride, int64_t nstride,
                          const int64_t* padding, int64_t npadding, const int64_t* dilation, int64_t ndilation,
                          int64_t groups, dst_tensor* out) {
    return guard([&] {
        *out = wrap(at::conv2d(T(input), T(weight), opt(bias), ints(stride, nstride), ints(padding, npadding),
                               ints(dilation, ndilation), groups));
    });
}

DST_EXPORT int dst_conv_transpose2d(dst_tensor input, dst_tensor weight, dst_tensor bias, const int64_t* stride,
                                    int64_t nstride, const int64_t* padding, int64_t npadding,
                                    const int64_t* output_padding, int64_t noutput_padding, int64_t groups,
                                    const int64_t* dilation, int64_t ndilation, dst_tensor* out) {
    return guard([&] {
        *out = wrap(at::conv_transpose2d(T(input), T(weight), opt(bias), ints(stride, nstride), ints(padding, npadding),
                                         ints(output_padding, noutput_padding), groups, ints(dilation, ndilation)));
    });
}

// ---- normalization ------------------------------------------------------------------------------

// Running statistics (when given) are updated in place in training mode, as in PyTorch.
DST_EXPORT int dst_batch_norm(dst_tensor input, dst_tensor running_mean, dst_tensor running_var, dst_tensor weight,
                              dst_tensor bias, int32_t training, double momentum, double eps, dst_tensor* out) {
    return guard([&] {
        const auto& x = T(input);
        if (training != 0) {
            TORCH_CHECK(x.dim() >= 2, "batch_norm: expected at least 2D input (got ", x.dim(), "D input)");
            int64_t per_channel = x.size(0);
            for (int64_t d = 2; d < x.dim(); ++d) per_channel *= x.size(d);
            TORCH_CHECK_VALUE(per_channel != 1, "Expected more than 1 value per channel when training, got input size ",
                              shape_string(x.sizes()));
        }
        *out = wrap(at::batch_norm(x, opt(weight), opt(bias), opt(running_mean), opt(running_var), training != 0,
                                   momentum, eps, /*cudnn_enabled=*/true));
    });
}

DST_EXPORT int dst_layer_norm(dst_tensor input, const int64_t* shape, int64_t nshape, dst_tensor weight, dst_tensor bias,
                              double eps, dst_tensor* out) {
    return guard([&] { *out = wrap(at::layer_norm(T(input), ints(shape, nshape), opt(weight), opt(bias), eps, true)); });
}

DST_EXPORT int dst_group_norm(dst_tensor input, int64_t num_groups, dst_tensor weight, dst_tensor bias, double eps,
                              dst_tensor* out) {
    return guard([&] {
        const auto& x = T(input);
        TORCH_CHECK(x.dim() >= 2, "Expected at least 2 dimensions for input tensor but received ", x.dim());
        *out = wrap(at::group_norm(x, num_groups, opt(weight), opt(bias), eps, true));
    });
}

// ---- activations ----------------------------------------------------------------------------------

DST_EXPORT int dst_gelu(dst_tensor input, const char* approximate, dst_tensor* out) {
    return guard([&] { *out = wrap(at::gelu(T(input), approximate)); });
}

DST_EXPORT int dst_silu(dst_tensor input, dst_tensor* out) { return guard([&] { *out = wrap(at::silu(T(input))); }); }
DST_EXPORT int dst_silu_(dst_tensor input) {
    return guard([&] {
        auto x = T(input);
        at::silu_(x);
    });
}

DST_EXPORT int dst_leaky_relu(dst_tensor input, double negative_slope, int32_t inplace, dst_tensor* out) {
    return guard([&] {
        auto x = T(input);
        if (inplace != 0) at::leaky_relu_(x, negative_slope);  // the caller keeps using its own handle
        else *out = wrap(at::leaky_relu(x, negative_slope));
    });
}

// PReLU: max(0, x) + weight * min(0, x), weight of one element or one per channel (dim 1).
DST_EXPORT int dst_prelu(dst_tensor input, dst_tensor weight, dst_tensor* out) {
    return guard([&] { *out = wrap(at::prelu(T(input), T(weight))); });
}

DST_EXPORT int dst_softmax(dst_tensor input, int64_t dim, int32_t dtype, int32_t log, dst_tensor* out) {
    return guard([&] {
        *out = wrap(log != 0 ? at::log_softmax(T(input), dim, opt_dtype(dtype)) : at::softmax(T(input), dim, opt_dtype(dtype)));
    });
}

DST_EXPORT int dst_dropout(dst_tensor input, double p, int32_t training, int32_t inplace, dst_tensor* out) {
    return guard([&] {
        TORCH_CHECK_VALUE(p >= 0.0 && p <= 1.0, "dropout probability has to be between 0 and 1, but got ", p);
        auto x = T(input);
        if (inplace != 0) at::dropout_(x, p, training != 0);  // the caller keeps using its own handle
        else *out = wrap(at::dropout(x, p, training != 0));
    });
}

// ---- pooling --------------------------------------------------------------------------------------

// An empty stride means "the kernel size", as PyTorch's stride=None.
DST_EXPORT int dst_max_pool2d(dst_tensor input, const int64_t* kernel, int64_t nkernel, const int64_t* stride,
                              int64_t nstride, const int64_t* padding, int64_t npadding, const int64_t* dilation,
                              int64_t ndilation, int32_t ceil_mode, dst_tensor* out, dst_tensor* indices) {
    return guard([&] {
        if (indices == nullptr) {
            *out = wrap(at::max_pool2d(T(input), ints(kernel, nkernel), ints(stride, nstride), ints(padding, npadding),
                                       ints(dilation, ndilation), ceil_mode != 0));
            return;
        }
        auto r = at::max_pool2d_with_indices(T(input), ints(kernel, nkernel), ints(stride, nstride),
                                             ints(padding, npadding), ints(dilation, ndilation), ceil_mode != 0);
        auto values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
        *out = values;
    });
}

// divisor_override <= 0 is None (ATen rejects an explicit zero itself, so 0 cannot be passed anyway).
DST_EXPORT int dst_avg_pool2d(dst_tensor input, const int64_t* kernel, int64_t nkernel, const int64_t* stride,
                              int64_t nstride, const int64_t* padding, int64_t npadding, int32_t ceil_mode,
                              int32_t count_include_pad, int64_t divisor_override, dst_tensor* out) {
    return guard([&] {
        c10::optional<int64_t> divisor = divisor_override == 0 ? c10::nullopt : c10::optional<int64_t>(divisor_override);
        *out = wrap(at::avg_pool2d(T(input), ints(kernel, nkernel), ints(stride, nstride), ints(padding, npadding),
                                   ceil_mode != 0, count_include_pad != 0, divisor));
    });
}

DST_EXPORT int dst_adaptive_avg_pool2d(dst_tensor input, const int64_t* size, int64_t nsize, dst_tensor* out) {
    return guard([&] { *out = wrap(at::adaptive_avg_pool2d(T(input), ints(size, nsize))); });
}

DST_EXPORT int dst_adaptive_max_pool2d(dst_tensor input, const int64_t* size, int64_t nsize, dst_tensor* out,
                                       dst_tensor* indices) {
    return guard([&] {
        auto r = at::adaptive_max_pool2d(T(input), ints(size, nsize));
        auto values = wrap(std::get<0>(r));
        if (indices != nullptr) *indices = wrap(std::get<1>(r));
        *out = values;
    });
}

// ---- resampling and padding -----------------------------------------------------------------------

// F.interpolate: exactly one of size (nsize values) and scale_factor (nscale values) is non-null; a single
// value applies to every spatial dimension. align_corners and recompute_scale_factor: -1 = None.
DST_EXPORT int dst_interpolate(dst_tensor input, const int64_t* size, int64_t nsize, const double* scale, int64_t nscale,
                               const char* mode_text, int32_t align_corners, int32_t recompute_scale_factor,
                               int32_t antialias, dst_tensor* out) {
    return guard([&] {
        const auto& x = T(input);
        const std::string mode = mode_text;
        const bool resizing_mode = mode == "nearest" || mode == "area" || mode == "nearest-exact";
        if (resizing_mode) {
            TORCH_CHECK_VALUE(align_corners < 0,
                              "align_corners option can only be set with the interpolating modes: linear | bilinear | "
                              "bicubic | trilinear");
        }
        const bool align = align_corners > 0;
        const int64_t dim = x.dim() - 2;
        TORCH_CHECK_VALUE(!(size != nullptr && scale != nullptr), "only one of size or scale_factor should be defined");
        TORCH_CHECK_VALUE(size != nullptr || scale != nullptr, "either size or scale_factor should be defined");
        std::vector<int64_t> output_size;
        std::vector<double> scale_factors;
        bool have_size = false, have_scales = false;
        if (size != nullptr) {
            if (nsize == 1) {
                output_size.assign(static_cast<size_t>(std::max<int64_t>(dim, 0)), size[0]);
            } else {
                TORCH_CHECK_VALUE(nsize == dim, "Input and output must have the same number of spatial dimensions, but got "
                                  "input with spatial dimensions of ", x.sizes().slice(2), " and output size of ",
                                  ints(size, nsize), ". Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                                  "output size in (o1, o2, ...,oK) format.");
                output_size.assign(size, size + nsize);
            }
            have_size = true;
        } else {
            if (nscale == 1) {
                scale_factors.assign(static_cast<size_t>(std::max<int64_t>(dim, 0)), scale[0]);
            } else {
                TORCH_CHECK_VALUE(nscale == dim, "Input and scale_factor must have the same number of spatial dimensions, but "
                                  "got input with spatial dimensions of ", x.sizes().slice(2), " and scale_factor of shape ",
                                  at::ArrayRef<double>(scale, static_cast<size_t>(nscale)),
                                  ". Please provide input tensor in (N, C, d1, d2, ...,dK) format and scale_factor in "
                                  "(s1, s2, ...,sK) format.");
                scale_factors.assign(scale, scale + nscale);
            }
            have_scales = true;
        }
        TORCH_CHECK_VALUE(!(recompute_scale_factor > 0 && have_size),
                          "recompute_scale_factor is not meaningful with an explicit size.");
        bool recompute = recompute_scale_factor > 0;
        // "area" needs an explicit size: it takes the recompute path.
        if (mode == "area" && !have_size) recompute = true;
        if (recompute && have_scales) {
            output_size.clear();
            for (int64_t i = 0; i < dim; ++i)
                output_size.push_back(static_cast<int64_t>(std::floor(static_cast<double>(x.size(i + 2)) * scale_factors[i])));
            have_size = true;
            have_scales = false;
        }
        TORCH_CHECK_VALUE(antialias == 0 || ((mode == "bilinear" || mode == "bicubic") && x.dim() == 4),
                          "Anti-alias option is only supported for bilinear and bicubic modes");
        at::OptionalIntArrayRef osize = have_size ? at::OptionalIntArrayRef(output_size) : c10::nullopt;
        c10::optional<at::ArrayRef<double>> scales =
            have_scales ? c10::optional<at::ArrayRef<double>>(scale_factors) : c10::nullopt;
        const auto n = x.dim();
        at::Tensor r;
        if (mode == "nearest") {
            if (n == 3) r = at::upsample_nearest1d(x, osize, scales);
            else if (n == 4) r = at::upsample_nearest2d(x, osize, scales);
            else if (n == 5) r = at::upsample_nearest3d(x, osize, scales);
        } else if (mode == "nearest-exact") {
            if (n == 3) r = at::_upsample_nearest_exact1d(x, osize, scales);
            else if (n == 4) r = at::_upsample_nearest_exact2d(x, osize, scales);
            else if (n == 5) r = at::_upsample_nearest_exact3d(x, osize, scales);
        } else if (mode == "area") {
            if (n == 3) r = at::adaptive_avg_pool1d(x, output_size);
            else if (n == 4) r = at::adaptive_avg_pool2d(x, output_size);
            else if (n == 5) r = at::adaptive_avg_pool3d(x, output_size);
        } else if (mode == "linear") {
            // A 3-D, 4-D or 5-D input of the wrong rank for the mode gets PyTorch's specific message;
            // other ranks fall through to the general one below.
            TORCH_CHECK_NOT_IMPLEMENTED(n != 4 && n != 5, "Got ", n, "D input, but linear mode needs 3D input");
            if (n == 3) r = at::upsample_linear1d(x, osize, align, scales);
        } else if (mode == "bilinear") {
            TORCH_CHECK_NOT_IMPLEMENTED(n != 3 && n != 5, "Got ", n, "D input, but bilinear mode needs 4D input");
            if (n == 4) r = antialias != 0 ? at::_upsample_bilinear2d_aa(x, osize, align, scales)
                                           : at::upsample_bilinear2d(x, osize, align, scales);
        } else if (mode == "bicubic") {
            TORCH_CHECK_NOT_IMPLEMENTED(n != 3 && n != 5, "Got ", n, "D input, but bicubic mode needs 4D input");
            if (n == 4) r = antialias != 0 ? at::_upsample_bicubic2d_aa(x, osize, align, scales)
                                           : at::upsample_bicubic2d(x, osize, align, scales);
        } else if (mode == "trilinear") {
            TORCH_CHECK_NOT_IMPLEMENTED(n != 3 && n != 4, "Got ", n, "D input, but trilinear mode needs 5D input");
            if (n == 5) r = at::upsample_trilinear3d(x, osize, align, scales);
        }
        TORCH_CHECK_NOT_IMPLEMENTED(r.defined(), "Input Error: Only 3D, 4D and 5D input Tensors supported (got ", n,
                                    "D) for the modes: nearest | linear | bilinear | bicubic | trilinear | area | "
                                    "nearest-exact (got ", mode, ")");
        *out = wrap(std::move(r));
    });
}

// F.pad: has_value = 0 is value=None.
DST_EXPORT int dst_pad(dst_tensor input, const int64_t* pad, int64_t npad, const char* mode, int32_t has_value,
                       double value, dst_tensor* out) {
    return guard([&] {
        c10::optional<double> v = has_value != 0 ? c10::optional<double>(value) : c10::nullopt;
        *out = wrap(at::pad(T(input), ints(pad, npad), mode, v));
    });
}

DST_EXPORT int dst_grid_sample(dst_tensor input, dst_tensor grid, const char* mode_text, const char* padding_text,
                               int32_t align_corners, dst_tensor* out) {
    return guard([&] {
        const std::string mode = mode_text, padding = padding_text;
        int64_t mode_enum = 0, padding_enum = 0;
        if (mode == "bilinear") mode_enum = 0;
        else if (mode == "nearest") mode_enum = 1;
        else if (mode == "bicubic") mode_enum = 2;
        else
            TORCH_CHECK_VALUE(false, "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or 'bicubic', "
                              "but got: '", mode, "'");
        if (padding == "zeros") padding_enum = 0;
        else if (padding == "border") padding_enum = 1;
        else if (padding == "reflection") padding_enum = 2;
        else
            TORCH_CHECK_VALUE(false, "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
                              "'reflection', but got: '", padding, "'");
        *out = wrap(at::grid_sampler(T(input), T(grid), mode_enum, padding_enum, align_corners != 0));
    });
}

// ---- distances, embeddings ------------------------------------------------------------------------

DST_EXPORT int dst_normalize(dst_tensor input, double p, int64_t dim, double eps, dst_tensor* out) {
    return guard([&] {
        const auto& x = T(input);
        // p = 2 with a gradient to compute: the same forward values through a node with a fused backward
        // (normalize.cpp); otherwise the composite PyTorch's F.normalize runs.
        if (p == 2.0 && x.requires_grad() && c10::GradMode::is_enabled() && !c10::InferenceMode::is_enabled()) {
            *out = wrap(l2_normalize(x, dim, eps));
            return;
        }
        int64_t dims[1] = {dim};
        auto denom = at::norm(x, at::Scalar(p), at::IntArrayRef(dims, 1), /*keepdim=*/true).clamp_min(eps).expand_as(x);
        *out = wrap(x / denom);
    });
}

DST_EXPORT int dst_cosine_similarity(dst_tensor x1, dst_tensor x2, int64_t dim, double eps, dst_tensor* out) {
    return guard([&] { *out = wrap(at::cosine_similarity(T(x1), T(x2), dim, eps)); });
}

DST_EXPORT int dst_pairwise_distance(dst_tensor x1, dst_tensor x2, double p, double eps, int32_t keepdim, dst_tensor* out) {
    return guard([&] { *out = wrap(at::pairwise_distance(T(x1), T(x2), p, eps, keepdim != 0)); });
}

DST_EXPORT int dst_one_hot(dst_tensor input, int64_t num_classes, dst_tensor* out) {
    return guard([&] { *out = wrap(at::one_hot(T(input), num_classes)); });
}

// padding_idx: has_padding_idx = 0 is None; max_norm <= 0 with has_max_norm = 0 is None.
DST_EXPORT int dst_embedding(dst_tensor input, dst_tensor weight, int32_t has_padding_idx, int64_t padding_idx,
                             int32_t has_max_norm, double max_norm, double norm_type, int32_t scale_grad_by_freq,
                             int32_t sparse, dst_tensor* out) {
    return guard([&] {
        const auto& w = T(weight);
        auto idx = T(input);
        int64_t pad = -1;
        if (has_padding_idx != 0) {
            pad = padding_idx;
            if (pad > 0) {
                TORCH_CHECK(pad < w.size(0), "Padding_idx must be within num_embeddings");
            } else if (pad < 0) {
                TORCH_CHECK(pad >= -w.size(0), "Padding_idx must be within num_embeddings");
                pad = w.size(0) + pad;
            }
        }
        if (has_max_norm != 0) {
            // Renormalises the looked-up rows of the weight in place, outside autograd (as PyTorch does).
            idx = idx.contiguous();
            at::NoGradGuard no_grad;
            auto detached = w.detach();
            at::embedding_renorm_(detached, idx, max_norm, norm_type);
        }
        *out = wrap(at::embedding(w, idx, pad, scale_grad_by_freq != 0, sparse != 0));
    });
}

// ---- losses -------------------------------------------------------------------------------------------

DST_EXPORT int dst_cross_entropy(dst_tensor input, dst_tensor target, dst_tensor weight, int64_t reduction,
                                 int64_t ignore_index, double label_smoothing, dst_tensor* out) {
    return guard([&] {
        *out = wrap(at::cross_entropy_loss(T(input), T(target), opt(weight), reduction, ignore_index, label_smoothing));
    });
}

DST_EXPORT int dst_nll_loss(dst_tensor input, dst_tensor target, dst_tensor weight, int64_t reduction,
                            int64_t ignore_index, dst_tensor* out) {
    return guard([&] { *out = wrap(at::nll_loss_nd(T(input), T(target), opt(weight), reduction, ignore_index)); });
}

DST_EXPORT int dst_kl_div(dst_tensor input, dst_tensor target, int64_t reduction, int32_t log_target, dst_tensor* out) {
    return guard([&] {
        const auto& x = T(input);
        const int64_t r = reduction == kBatchMean ? at::Reduction::Sum : reduction;
        auto reduced = at::kl_div(x, T(target), r, log_target != 0);
        if (reduction == kBatchMean && x.dim() != 0) reduced = reduced / x.size(0);
        *out = wrap(std::move(reduced));
    });
}

// mse/l1/smooth_l1/huber broadcast input against target first, as PyTorch's wrappers do.
// kind: 0 = mse, 1 = l1, 2 = smooth_l1 (beta), 3 = huber (delta = beta).
DST_EXPORT int dst_regression_loss(int32_t kind, dst_tensor input, dst_tensor target, int64_t reduction, double beta,
                                   dst_tensor* out) {
    return guard([&] {
        auto expanded = at::broadcast_tensors({T(input), T(target)});
        const auto& x = expanded[0];
        const auto& t = expanded[1];
        switch (kind) {
            case 0: *out = wrap(at::mse_loss(x, t, reduction)); break;
            case 1: *out = wrap(at::l1_loss(x, t, reduction)); break;
            case 2: *out = wrap(beta == 0.0 ? at::l1_loss(x, t, reduction) : at::smooth_l1_loss(x, t, reduction, beta)); break;
            case 3: *out = wrap(at::huber_loss(x, t, reduction, beta)); break;
            default: TORCH_CHECK_VALUE(false, "unknown regression loss kind ", kind);
        }
    });
}

DST_EXPORT int dst_binary_cross_entropy_with_logits(dst_tensor input, dst_tensor target, dst_tensor weight,
                                                    dst_tensor pos_weight, int64_t reduction, dst_tensor* out) {
    return guard([&] {
        const auto& x = T(input);
        const auto& t = T(target);
        TORCH_CHECK_VALUE(t.sizes() == x.sizes(), "Target size (", shape_string(t.sizes()),
                          ") must be the same as input size (", shape_string(x.sizes()), ")");
        *out = wrap(at::binary_cross_entropy_with_logits(x, t, opt(weight), opt(pos_weight), reduction));
    });
}

DST_EXPORT int dst_binary_cross_entropy(dst_tensor input, dst_tensor target, dst_tensor weight, int64_t reduction,
                                        dst_tensor* out) {
    return guard([&] {
        const auto& x = T(input);
        const auto& t = T(target);
        TORCH_CHECK_VALUE(t.sizes() == x.sizes(), "Using a target size (", shape_string(t.sizes()),
                          ") that is different to the input size (", shape_string(x.sizes()),
                          ") is deprecated. Please ensure they have the same size.");
        c10::optional<at::Tensor> w = opt(weight);
        if (w.has_value()) {
            // PyTorch broadcasts the weight to the input's shape before the call.
            w = w->expand(x.sizes());
        }
        *out = wrap(at::binary_cross_entropy(x, t, w, reduction));
    });
}
