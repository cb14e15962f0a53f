// Errors, runtime settings, tensor lifetime and properties, and moving data in and out.
#include "shim.h"
#include <torch/version.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace dst {

std::atomic<int64_t> live_tensors{0};

namespace {
thread_local std::string last_message;
thread_local int last_category = DST_OK;
}  // namespace

int set_error(int category, const char* message) noexcept {
    try {
        last_message = message != nullptr ? message : "";
    } catch (...) {
        // Out of memory while storing the message: keep the category, drop the text.
    }
    last_category = category;
    return category;
}

void write_list(const std::vector<at::Tensor>& list, dst_tensor** out, int64_t* count) {
    auto* handles = static_cast<dst_tensor*>(std::malloc(sizeof(dst_tensor) * (list.empty() ? 1 : list.size())));
    if (handles == nullptr) throw std::bad_alloc();
    for (size_t k = 0; k < list.size(); ++k) handles[k] = wrap(list[k]);
    *out = handles;
    *count = static_cast<int64_t>(list.size());
}

}  // namespace dst

using namespace dst;

// ---- errors -------------------------------------------------------------------------------------

DST_EXPORT const char* dst_last_error_message(void) { return last_message.c_str(); }
DST_EXPORT int dst_last_error_category(void) { return last_category; }

// Raises the given kind of libtorch error; lets the managed tests prove every category crosses the boundary.
DST_EXPORT int dst_debug_throw(int32_t category) {
    return guard([&] {
        switch (category) {
            case DST_ERR_INDEX: TORCH_CHECK_INDEX(false, "debug index error");
            case DST_ERR_VALUE: TORCH_CHECK_VALUE(false, "debug value error");
            case DST_ERR_TYPE: TORCH_CHECK_TYPE(false, "debug type error");
            case DST_ERR_NOT_IMPLEMENTED: TORCH_CHECK_NOT_IMPLEMENTED(false, "debug not-implemented error");
            case DST_ERR_OUT_OF_MEMORY: throw std::bad_alloc();
            case DST_ERR_UNKNOWN: throw 42;
            default: TORCH_CHECK(false, "debug runtime error");
        }
    });
}

DST_EXPORT void dst_free(void* p) { std::free(p); }

// ---- runtime ------------------------------------------------------------------------------------

DST_EXPORT int dst_set_num_threads(int32_t n) { return guard([&] { at::set_num_threads(n); }); }
DST_EXPORT int dst_get_num_threads(int32_t* n) { return guard([&] { *n = at::get_num_threads(); }); }
// Flush-to-zero / denormals-are-zero for float math, as torch.set_flush_denormal. The mode lives in each
// thread's control register, so it is set on the calling thread and on every intra-op worker (threads created
// later inherit it from theirs).
DST_EXPORT int dst_set_flush_denormal(int32_t on, int32_t* supported) {
    return guard([&] {
        const bool flush = on != 0;
        bool ok = at::globalContext().setFlushDenormal(flush);
        at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
            at::globalContext().setFlushDenormal(flush);
        });
        *supported = ok ? 1 : 0;
    });
}

// glibc's malloc serves blocks above M_MMAP_THRESHOLD (128 KiB until it adapts) with a fresh mmap and returns
// them with munmap, so every activation of a training step page-faults its memory in again; in this process
// the threshold never adapted, and a ResNet20 forward pass of batch 64 took 100-130 ms instead of 25 ms (most
// of it in the kernel). Raising the thresholds keeps tensors of up to `mmap_threshold` bytes in the heap and
// lets `trim_threshold` bytes of free heap stay mapped. Returns 0 where the C library is not glibc.
DST_EXPORT int dst_tune_allocator(int64_t mmap_threshold, int64_t trim_threshold, int32_t* applied) {
    return guard([&] {
#if defined(__GLIBC__)
        *applied = mallopt(M_MMAP_THRESHOLD, static_cast<int>(mmap_threshold)) == 1 &&
                   mallopt(M_TRIM_THRESHOLD, static_cast<int>(trim_threshold)) == 1 ? 1 : 0;
#else
        (void)mmap_threshold;
        (void)trim_threshold;
        *applied = 0;
#endif
    });
}

DST_EXPORT int dst_set_num_interop_threads(int32_t n) { return guard([&] { at::set_num_interop_threads(n); }); }
DST_EXPORT int dst_manual_seed(uint64_t seed) { return guard([&] { at::manual_seed(seed); }); }
DST_EXPORT int dst_cuda_is_available(int32_t* available) {
    return guard([&] { *available = at::hasCUDA() ? 1 : 0; });
}
DST_EXPORT int dst_cuda_device_count(int32_t* count) {
    return guard([&] { *count = at::hasCUDA() ? static_cast<int32_t>(at::detail::getCUDAHooks().getNumGPUs()) : 0; });
}
// Waits for the device's queued kernels (-1: the current device); without CUDA, libtorch's hooks say it is missing.
DST_EXPORT int dst_cuda_synchronize(int32_t device) {
    return guard([&] {
        TORCH_CHECK(at::hasCUDA(), "torch.cuda.synchronize: CUDA is not available (a CPU libtorch, or no GPU visible)");
        auto& hooks = at::detail::getCUDAHooks();
        hooks.deviceSynchronize(device < 0 ? hooks.current_device() : device);
    });
}
DST_EXPORT int dst_version(const char** version) {
    return guard([&] { *version = TORCH_VERSION; });
}
DST_EXPORT int64_t dst_live_tensor_count(void) { return live_tensors.load(std::memory_order_relaxed); }

// ---- generators ---------------------------------------------------------------------------------

DST_EXPORT int dst_generator_new(uint64_t seed, dst_generator* out) {
    return guard([&] {
        auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
        *out = reinterpret_cast<dst_generator>(new at::Generator(std::move(g)));
    });
}
DST_EXPORT void dst_generator_free(dst_generator g) { delete reinterpret_cast<at::Generator*>(g); }
DST_EXPORT int dst_generator_seed(dst_generator g, uint64_t seed) {
    return guard([&] {
        auto& gen = *reinterpret_cast<at::Generator*>(g);
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_current_seed(seed);
    });
}
DST_EXPORT int dst_generator_get_state(dst_generator g, dst_tensor* out) {
    return guard([&] {
        at::Generator gen = g != nullptr ? *reinterpret_cast<at::Generator*>(g) : at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        *out = wrap(gen.get_state());
    });
}
DST_EXPORT int dst_generator_set_state(dst_generator g, dst_tensor state) {
    return guard([&] {
        auto gen = g != nullptr ? *reinterpret_cast<at::Generator*>(g) : at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(T(state));
    });
}

// ---- grad mode ----------------------------------------------------------------------------------

DST_EXPORT int dst_grad_enabled(int32_t* enabled) { return guard([&] { *enabled = c10::GradMode::is_enabled(); }); }
DST_EXPORT int dst_set_grad_enabled(int32_t enabled) { return guard([&] { c10::GradMode::set_enabled(enabled != 0); }); }
DST_EXPORT int dst_inference_mode_enter(void** guard_out) {
    return guard([&] { *guard_out = new c10::InferenceMode(true); });
}
DST_EXPORT int dst_inference_mode_exit(void* mode) {
    return guard([&] { delete static_cast<c10::InferenceMode*>(mode); });
}
DST_EXPORT int dst_is_inference_mode(int32_t* enabled) {
    return guard([&] { *enabled = c10::InferenceMode::is_enabled(); });
}

// ---- tensor lifetime and properties -------------------------------------------------------------

DST_EXPORT void dst_tensor_free(dst_tensor t) {
    if (t == nullptr) return;
    delete reinterpret_cast<at::Tensor*>(t);
    live_tensors.fetch_sub(1, std::memory_order_relaxed);
}
// A second handle to the same tensor (shares storage and autograd identity).
DST_EXPORT int dst_tensor_alias(dst_tensor t, dst_tensor* out) { return guard([&] { *out = wrap(T(t)); }); }

DST_EXPORT int dst_tensor_dim(dst_tensor t, int64_t* out) { return guard([&] { *out = T(t).dim(); }); }
// Writes up to `capacity` sizes; `dim` receives the real rank.
DST_EXPORT int dst_tensor_sizes(dst_tensor t, int64_t* sizes, int64_t capacity, int64_t* dim) {
    return guard([&] {
        const auto& x = T(t);
        auto s = x.sizes();
        for (int64_t k = 0; k < static_cast<int64_t>(s.size()) && k < capacity; ++k) sizes[k] = s[k];
        *dim = static_cast<int64_t>(s.size());
    });
}
DST_EXPORT int dst_tensor_strides(dst_tensor t, int64_t* strides, int64_t capacity, int64_t* dim) {
    return guard([&] {
        auto s = T(t).strides();
        for (int64_t k = 0; k < static_cast<int64_t>(s.size()) && k < capacity; ++k) strides[k] = s[k];
        *dim = static_cast<int64_t>(s.size());
    });
}
DST_EXPORT int dst_tensor_numel(dst_tensor t, int64_t* out) { return guard([&] { *out = T(t).numel(); }); }
DST_EXPORT int dst_tensor_dtype(dst_tensor t, int32_t* out) {
    return guard([&] { *out = static_cast<int32_t>(T(t).scalar_type()); });
}
DST_EXPORT int dst_tensor_device(dst_tensor t, int32_t* type, int32_t* index) {
    return guard([&] {
        auto d = T(t).device();
        *type = d.is_cuda() ? 1 : 0;
        *index = d.has_index() ? d.index() : -1;
    });
}
DST_EXPORT int dst_tensor_is_contiguous(dst_tensor t, int32_t* out) { return guard([&] { *out = T(t).is_contiguous(); }); }
DST_EXPORT int dst_tensor_requires_grad(dst_tensor t, int32_t* out) { return guard([&] { *out = T(t).requires_grad(); }); }
DST_EXPORT int dst_tensor_set_requires_grad(dst_tensor t, int32_t on) {
    return guard([&] { T(t).set_requires_grad(on != 0); });
}
DST_EXPORT int dst_tensor_is_leaf(dst_tensor t, int32_t* out) { return guard([&] { *out = T(t).is_leaf(); }); }
// The in-place version counter (PyTorch's Tensor._version).
DST_EXPORT int dst_tensor_version(dst_tensor t, int64_t* out) { return guard([&] { *out = T(t)._version(); }); }
DST_EXPORT int dst_tensor_grad(dst_tensor t, dst_tensor* out) { return guard([&] { *out = wrap(T(t).grad()); }); }
DST_EXPORT int dst_tensor_set_grad(dst_tensor t, dst_tensor grad) {
    return guard([&] { T(t).mutable_grad() = grad == nullptr ? at::Tensor() : T(grad); });
}
DST_EXPORT int dst_tensor_retain_grad(dst_tensor t) { return guard([&] { T(t).retain_grad(); }); }
// zero_grad(set_to_none): PyTorch 2's default drops the gradient; the alternative zeroes it in place.
DST_EXPORT int dst_tensor_zero_grad(dst_tensor t, int32_t set_to_none) {
    return guard([&] {
        auto& g = T(t).mutable_grad();
        if (!g.defined()) return;
        if (set_to_none) {
            g = at::Tensor();
        } else {
            if (g.grad_fn()) g = g.detach(); else g.requires_grad_(false);
            g.zero_();
        }
    });
}
DST_EXPORT int dst_tensor_backward(dst_tensor t, dst_tensor gradient, int32_t retain_graph, int32_t create_graph) {
    return guard([&] {
        at::Tensor g = gradient == nullptr ? at::Tensor() : T(gradient);
        c10::optional<bool> retain = retain_graph < 0 ? c10::nullopt : c10::optional<bool>(retain_graph != 0);
        T(t).backward(g, retain, create_graph != 0);
    });
}
DST_EXPORT int dst_tensor_detach(dst_tensor t, dst_tensor* out) { return guard([&] { *out = wrap(T(t).detach()); }); }
DST_EXPORT int dst_tensor_detach_(dst_tensor t) { return guard([&] { T(t).detach_(); }); }
// Replaces the tensor's data in place while keeping its identity (what Module.to() does to parameters).
DST_EXPORT int dst_tensor_set_data(dst_tensor t, dst_tensor data) { return guard([&] { T(t).set_data(T(data)); }); }
DST_EXPORT int dst_tensor_to_string(dst_tensor t, char** out) {
    return guard([&] {
        std::ostringstream s;
        s << T(t);
        auto text = s.str();
        *out = static_cast<char*>(std::malloc(text.size() + 1));
        if (*out == nullptr) throw std::bad_alloc();
        std::memcpy(*out, text.c_str(), text.size() + 1);
    });
}

// ---- data in and out ----------------------------------------------------------------------------

// Copies `nbytes` from host memory into a new contiguous CPU tensor of the given dtype and shape.
DST_EXPORT int dst_tensor_from_data(const void* data, int64_t nbytes, int32_t dtype, const int64_t* shape, int64_t ndim,
                                    dst_tensor* out) {
    return guard([&] {
        auto t = at::empty(ints(shape, ndim), at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype)));
        int64_t expected = t.numel() * static_cast<int64_t>(t.element_size());
        TORCH_CHECK_VALUE(expected == nbytes, "data has ", nbytes, " bytes but shape ", t.sizes(), " of ",
                          t.scalar_type(), " needs ", expected);
        if (nbytes > 0) std::memcpy(t.data_ptr(), data, static_cast<size_t>(nbytes));
        *out = wrap(std::move(t));
    });
}
// Copies a tensor's elements (any device, any layout) into host memory, converted to the given dtype.
DST_EXPORT int dst_tensor_copy_to(dst_tensor t, int32_t dtype, void* data, int64_t nbytes) {
    return guard([&] {
        at::NoGradGuard no_grad;
        auto x = T(t).detach().to(at::kCPU, static_cast<at::ScalarType>(dtype)).contiguous();
        int64_t have = x.numel() * static_cast<int64_t>(x.element_size());
        TORCH_CHECK_VALUE(have == nbytes, "destination has ", nbytes, " bytes but the tensor holds ", have);
        if (nbytes > 0) std::memcpy(data, x.data_ptr(), static_cast<size_t>(nbytes));
    });
}
// Writes a tensor's single element converted to the given dtype (double or int64).
DST_EXPORT int dst_tensor_item(dst_tensor t, double* f, int64_t* i) {
    return guard([&] {
        auto s = T(t).item();
        if (s.isFloatingPoint()) {
            *f = s.toDouble();
            *i = static_cast<int64_t>(*f);
        } else if (s.isBoolean()) {
            *i = s.toBool() ? 1 : 0;
            *f = static_cast<double>(*i);
        } else {
            *i = s.toLong();
            *f = static_cast<double>(*i);
        }
    });
}
// Raw pointer to a CPU tensor's first element (for zero-copy reads of contiguous tensors).
DST_EXPORT int dst_tensor_data_ptr(dst_tensor t, void** out) { return guard([&] { *out = T(t).data_ptr(); }); }
DST_EXPORT int dst_tensor_element_size(dst_tensor t, int64_t* out) {
    return guard([&] { *out = static_cast<int64_t>(T(t).element_size()); });
}
