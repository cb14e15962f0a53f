// Data-parallel training on libtorch's c10d: a Gloo or NCCL process group over a TCP store, collectives, a
// gradient reducer that all-reduces buckets of gradients while the backward pass is still running, and
// the differentiable all-reduce that synchronised batch normalisation is built on.
//
// The reducer does what c10d's own Reducer does (Debian's libtorch ships it compiled, but not the
// distributed-autograd headers its declaration needs): gradients are grouped in reverse registration order
// into buckets of a byte cap, a post hook on each parameter's gradient accumulator counts a bucket down, and a
// bucket that is complete is flattened, divided by the world size and handed to an asynchronous all-reduce —
// in bucket order on every rank, because Gloo and NCCL pair collectives by the order they are issued.
//
// libtorch 2.x splits a c10d process group into per-device backends (ProcessGroupGloo and ProcessGroupNCCL became
// c10d::Backend subclasses); the shim drives the backend itself, which both versions expose with the same calls.
#include "shim.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <unordered_map>

#include <torch/version.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifndef DISTILL_WITH_GLOO
#define DISTILL_WITH_GLOO 0
#endif
#ifndef DISTILL_WITH_NCCL
#define DISTILL_WITH_NCCL 0
#endif
// Gloo's headers come with Debian's libgloo-dev; a libtorch found without them (some wheels) builds a shim whose
// process groups report that they are missing instead of failing the build.
#if DISTILL_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
// NCCL (GPU collectives) comes with a CUDA libtorch built with it and NCCL's header (CMakeLists.txt detects both).
#if DISTILL_WITH_NCCL
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

using namespace dst;

namespace {

#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

// Two c10d groups over one store: `group` for the collectives callers issue (and synchronised batch norm's, in the
// forward and backward passes), `gradients` for the reducer's buckets alone — so a bucket launched mid-backward on
// one rank and at finish() on another (a graph that differs between ranks) can never be paired with a batch-norm
// all-reduce, since each group's collectives are paired by issue order.
struct ProcessGroup {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<Collectives> group;
    c10::intrusive_ptr<Collectives> gradients;
    int rank = 0;
    int size = 1;
    int64_t id = 0;
    // NCCL reduces tensors on this rank's GPU only; Gloo takes tensors anywhere (device stays the CPU).
    bool nccl = false;
    at::Device device = at::kCPU;
};

// The live groups by id: an autograd graph built with a group's differentiable all-reduce finds it here when its
// backward runs, and fails with a message instead of touching freed memory when the group is gone.
std::mutex registry_mutex;
std::unordered_map<int64_t, std::weak_ptr<ProcessGroup>> registry;
int64_t next_id = 1;

std::shared_ptr<ProcessGroup> lookup(int64_t id) {
    std::lock_guard<std::mutex> lock(registry_mutex);
    auto found = registry.find(id);
    auto pg = found == registry.end() ? nullptr : found->second.lock();
    if (!pg) throw std::runtime_error("the process group this autograd graph was recorded with has been destroyed");
    return pg;
}

// A handle owns one reference to its group.
struct Handle {
    std::shared_ptr<ProcessGroup> pg;
};

ProcessGroup& PG(void* h) {
    if (h == nullptr) throw std::invalid_argument("null process group handle passed to the libtorch shim");
    return *static_cast<Handle*>(h)->pg;
}

// Runs `collective` on t, through a contiguous copy when t is laid out otherwise (a channels_last weight) or, under
// NCCL, lives elsewhere than the group's GPU (a CPU scalar being averaged).
template <class F>
void on_group_device(const ProcessGroup& pg, at::Tensor t, F&& collective) {
    bool moved = pg.nccl && t.device() != pg.device;
    if (t.is_contiguous() && !moved) {
        collective(t);
        return;
    }
    auto staged = moved ? t.to(pg.device, t.scalar_type(), /*non_blocking=*/false, /*copy=*/true, at::MemoryFormat::Contiguous)
                        : t.contiguous();
    collective(staged);
    t.copy_(staged);
}

// Waits for a collective; c10d reports a peer that went away or a timeout as an exception, rethrown with
// the group's coordinates so the message says which rank saw it.
void wait(ProcessGroup& pg, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
    try {
        work->wait();
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(pg.rank) + " of " +
                                 std::to_string(pg.size) + ": " + e.what());
    }
}

void all_reduce_sum(ProcessGroup& pg, at::Tensor& t, const char* what) {
    on_group_device(pg, t, [&](at::Tensor& dense) {
        std::vector<at::Tensor> list{dense};
        wait(pg, pg.group->allreduce(list), what);
    });
}

// sum over ranks, whose gradient is the sum over ranks of the gradients: the building block of synchronised
// batch normalisation (every rank's statistics are the global batch's, and so are their gradients).
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t group) {
        ctx->saved_data["group"] = group;
        auto y = x.clone(at::MemoryFormat::Contiguous);
        all_reduce_sum(*lookup(group), y, "all_reduce (forward)");
        return y;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads) {
        auto pg = lookup(ctx->saved_data["group"].toInt());
        auto g = grads[0].clone(at::MemoryFormat::Contiguous);
        all_reduce_sum(*pg, g, "all_reduce (backward)");
        return {g, at::Tensor()};
    }
};

class GradReducer {
public:
    GradReducer(std::shared_ptr<ProcessGroup> pg, std::vector<at::Tensor> params, int64_t bucket_bytes, int64_t first_bucket_bytes)
        : owner_(std::move(pg)), pg_(*owner_), params_(std::move(params)), bucket_of_(params_.size()), offset_of_(params_.size()) {
        // Every parameter is checked before the first hook goes in: a hook left behind by a failed constructor would
        // call into freed memory.
        for (size_t i = 0; i < params_.size(); ++i) {
            const auto& p = params_[i];
            TORCH_CHECK_VALUE(p.requires_grad(), "data-parallel parameter ", i, " does not require grad");
            TORCH_CHECK_VALUE(p.is_leaf(), "data-parallel parameter ", i, " is not a leaf tensor");
            TORCH_CHECK_VALUE(!pg_.nccl || p.device() == pg_.device, "NCCL reduces gradients on ", pg_.device,
                              ", this rank's GPU, but data-parallel parameter ", i, " is on ", p.device());
        }
        assign_buckets(bucket_bytes, first_bucket_bytes);
        for (size_t i = 0; i < params_.size(); ++i) {
            auto accumulator = torch::autograd::impl::grad_accumulator(params_[i]);
            hooks_.push_back(accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
                [this, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
                    on_gradient(i);
                    return outputs;
                })));
            accumulators_.push_back(std::move(accumulator));
        }
    }

    GradReducer(const GradReducer&) = delete;
    GradReducer& operator=(const GradReducer&) = delete;

    ~GradReducer() {
        // Hooks hold `this`: remove them with the accumulators' last owner gone, and never leave a collective
        // pending on a freed buffer.
        for (auto& b : buckets_)
            if (b.work) try { b.work->wait(); } catch (...) {}
        for (size_t k = 0; k < accumulators_.size(); ++k) accumulators_[k]->del_post_hook(hooks_[k]);
    }

    // Arms the hooks for the next backward pass (the last of an accumulation group), or disarms them.
    void prepare(bool sync) {
        std::lock_guard<std::mutex> lock(mutex_);
        TORCH_CHECK(!in_flight(), "a data-parallel step is still in flight: finish() was not called after backward");
        armed_ = sync;
        next_launch_ = 0;
        for (auto& b : buckets_) {
            b.pending = b.members.size();
            b.launched = false;
            b.work.reset();
        }
    }

    // After backward: launches what the hooks could not (buckets with a parameter that got no gradient),
    // waits for every bucket and writes the averaged gradients back.
    void finish() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            TORCH_CHECK(armed_, "finish() without prepare(sync: true) before the backward pass");
            while (next_launch_ < buckets_.size()) launch(next_launch_++);
            armed_ = false;
        }
        at::NoGradGuard no_grad;
        for (auto& b : buckets_) {
            wait(pg_, b.work, "gradient all_reduce");
            b.work.reset();
            auto seen = b.flat.narrow(0, b.numel, static_cast<int64_t>(b.members.size())).to(at::kCPU, at::kDouble).contiguous();
            const double* computed = seen.data_ptr<double>();
            for (size_t m = 0; m < b.members.size(); ++m) {
                auto& p = params_[b.members[m]];
                // A parameter that no rank computed a gradient for keeps none, as in one process.
                if (computed[m] == 0) continue;
                auto slice = b.flat.narrow(0, offset_of_[b.members[m]], p.numel()).view(p.sizes());
                auto& grad = p.mutable_grad();
                if (grad.defined()) grad.copy_(slice);
                else grad = slice.clone();
            }
        }
    }

    int64_t bucket_count() const { return static_cast<int64_t>(buckets_.size()); }

private:
    struct Bucket {
        std::vector<size_t> members;
        int64_t numel = 0;  // gradient elements; `members.size()` flags follow them (1: this rank has the gradient)
        at::Tensor flat;
        at::Tensor host_flags;  // the flags staged on the host: pinned when `flat` is on a GPU, so their copy does not block
        size_t pending = 0;
        bool launched = false;
        c10::intrusive_ptr<c10d::Work> work;
    };

    bool in_flight() const {
        for (const auto& b : buckets_)
            if (b.work) return true;
        return false;
    }

    void assign_buckets(int64_t bucket_bytes, int64_t first_bucket_bytes) {
        // Reverse registration order: the backward pass produces the last layers' gradients first.
        Bucket current;
        int64_t bytes = 0;
        auto close = [&] {
            if (current.members.empty()) return;
            buckets_.push_back(std::move(current));
            current = Bucket{};
            bytes = 0;
        };
        for (size_t k = params_.size(); k-- > 0;) {
            const auto& p = params_[k];
            if (!current.members.empty()) {
                const auto& first = params_[current.members.front()];
                auto cap = buckets_.empty() ? first_bucket_bytes : bucket_bytes;
                if (first.scalar_type() != p.scalar_type() || first.device() != p.device() || bytes >= cap) close();
            }
            bucket_of_[k] = buckets_.size();
            offset_of_[k] = current.numel;
            current.members.push_back(k);
            current.numel += p.numel();
            bytes += p.numel() * static_cast<int64_t>(p.element_size());
        }
        close();
        for (auto& b : buckets_) {
            const auto& first = params_[b.members.front()];
            b.flat = at::zeros({b.numel + static_cast<int64_t>(b.members.size())}, first.options().requires_grad(false));
            b.host_flags = at::empty({static_cast<int64_t>(b.members.size())},
                                     at::TensorOptions().dtype(first.scalar_type()).pinned_memory(first.is_cuda()));
        }
    }

    void on_gradient(size_t index) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!armed_) return;
        auto& b = buckets_[bucket_of_[index]];
        if (b.pending > 0) --b.pending;
        while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) launch(next_launch_++);
    }

    void launch(size_t index) {
        auto& b = buckets_[index];
        at::NoGradGuard no_grad;
        // Every slice is written (the gradient, or zeros where this rank has none), so the bucket is not cleared first;
        // the flags go in with one copy, from pinned memory on a GPU so that the autograd thread does not wait for the
        // stream (the previous step's copy out of `host_flags` finished before its finish() returned: finish() reads
        // the flags back).
        std::vector<float> computed(b.members.size(), 0.0f);
        for (size_t m = 0; m < b.members.size(); ++m) {
            const auto& p = params_[b.members[m]];
            const auto& grad = p.grad();
            auto slice = b.flat.narrow(0, offset_of_[b.members[m]], p.numel());
            if (!grad.defined()) {
                slice.zero_();
                continue;
            }
            slice.view(p.sizes()).copy_(grad);
            computed[m] = 1.0f;
        }
        b.host_flags.copy_(at::from_blob(computed.data(), {static_cast<int64_t>(computed.size())}, at::kFloat));
        b.flat.narrow(0, b.numel, static_cast<int64_t>(computed.size())).copy_(b.host_flags, /*non_blocking=*/true);
        b.flat.narrow(0, 0, b.numel).div_(pg_.size);
        std::vector<at::Tensor> list{b.flat};
        b.work = pg_.gradients->allreduce(list);
        b.launched = true;
    }

    std::shared_ptr<ProcessGroup> owner_;  // kept alive while buckets may be in flight
    ProcessGroup& pg_;
    std::vector<at::Tensor> params_;
    // A shared_ptr to the accumulator node up to libtorch 2.13, an intrusive_ptr from 2.14.
    std::vector<decltype(torch::autograd::impl::grad_accumulator(std::declval<const at::Tensor&>()))> accumulators_;
    std::vector<uintptr_t> hooks_;
    std::vector<Bucket> buckets_;
    std::vector<size_t> bucket_of_;
    std::vector<int64_t> offset_of_;
    std::mutex mutex_;
    bool armed_ = false;
    size_t next_launch_ = 0;
};

GradReducer& R(void* h) {
    if (h == nullptr) throw std::invalid_argument("null gradient reducer handle passed to the libtorch shim");
    return *static_cast<GradReducer*>(h);
}

#if DISTILL_WITH_GLOO
auto gloo_options(const std::string& host, std::chrono::milliseconds timeout) {
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // GLOO_SOCKET_IFNAME names the interface, as in PyTorch; a loopback rendezvous stays on loopback.
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != 0)
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (host == "127.0.0.1" || host == "localhost")
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    return options;
}
#endif

#if DISTILL_WITH_NCCL
auto nccl_options(std::chrono::milliseconds timeout) {
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    return options;
}
#endif

// The backend a build of the shim can create: Gloo with Gloo's headers, NCCL with a CUDA libtorch that has it.
bool backend_built(const std::string& name) {
    if (name == "gloo") return DISTILL_WITH_GLOO != 0;
    if (name == "nccl") return DISTILL_WITH_NCCL != 0;
    throw std::invalid_argument("unknown process-group backend '" + name + "': expected gloo or nccl");
}

}  // namespace

// 1 when this build of the shim can create process groups of `backend` ("gloo", "nccl"), else 0.
DST_EXPORT int dst_pg_backend_built(const char* backend, int32_t* out) {
    return guard([&] { *out = backend_built(backend) ? 1 : 0; });
}

// Joins (rank 0: hosts) the TCP store at host:port and builds a process group of `size` ranks on it, whose collectives
// run on `backend`: "gloo" (tensors anywhere) or "nccl" (tensors on CUDA device `device_index`, made this thread's
// current device as torch.cuda.set_device does). `timeout_ms` bounds the rendezvous and every collective: a rank that
// never arrives or dies fails the others.
DST_EXPORT int dst_pg_new(const char* host, int32_t port, int32_t rank, int32_t size, int64_t timeout_ms,
                          const char* backend, int32_t device_index, void** out) {
    return guard([&] {
        TORCH_CHECK_VALUE(size >= 1, "the world size must be at least 1, got ", size);
        TORCH_CHECK_VALUE(rank >= 0 && rank < size, "rank ", rank, " is outside 0..", size - 1);
        TORCH_CHECK_VALUE(port > 0 && port < 65536, "port ", port, " is outside 1..65535");
        std::string address(host);
        std::string kind(backend);
        auto timeout = std::chrono::milliseconds(timeout_ms);
        if (!backend_built(kind)) {
            if (kind == "gloo")
                throw std::runtime_error("this build of the libtorch shim has no Gloo (its headers were not found when it was built): "
                                         "multi-process training is unavailable; install libgloo-dev (scripts/install-deps.sh) and rebuild");
            throw std::runtime_error("this build of the libtorch shim has no NCCL (it was built against a libtorch without CUDA, or NCCL's "
                                     "nccl.h was not found): build it against PyTorch's CUDA libtorch with scripts/gpu-build.sh, or use the gloo backend");
        }
        auto pg = std::make_shared<ProcessGroup>();
        pg->rank = rank;
        pg->size = size;
        if (kind == "nccl") {
            auto gpus = at::detail::getCUDAHooks().getNumGPUs();
            TORCH_CHECK_VALUE(device_index >= 0 && device_index < gpus, "the nccl backend needs this rank's CUDA device: got index ",
                              device_index, " and ", gpus, " visible GPU(s) (LOCAL_RANK chooses it)");
            pg->nccl = true;
            pg->device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_index));
        }
        c10d::TCPStoreOptions store_options;
        store_options.port = static_cast<std::uint16_t>(port);
        store_options.isServer = rank == 0;
        store_options.numWorkers = size;
        store_options.timeout = timeout;
        pg->store = c10::make_intrusive<c10d::TCPStore>(address, store_options);
        auto create = [&](const std::string& prefix) -> c10::intrusive_ptr<Collectives> {
            auto store = c10::make_intrusive<c10d::PrefixStore>("distill/" + kind + prefix, pg->store);
#if DISTILL_WITH_NCCL
            if (pg->nccl) {
                c10::impl::getDeviceGuardImpl(at::kCUDA)->setDevice(pg->device);
                return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, nccl_options(timeout));
            }
#endif
#if DISTILL_WITH_GLOO
            return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, gloo_options(address, timeout));
#else
            throw std::logic_error("no process-group backend compiled for '" + kind + "'");
#endif
        };
        pg->group = create("");
        pg->gradients = create("-gradients");
        {
            std::lock_guard<std::mutex> lock(registry_mutex);
            for (auto it = registry.begin(); it != registry.end();) it = it->second.expired() ? registry.erase(it) : std::next(it);
            pg->id = next_id++;
            registry[pg->id] = pg;
        }
        *out = new Handle{std::move(pg)};
    });
}

DST_EXPORT void dst_pg_free(void* pg) { delete static_cast<Handle*>(pg); }

// Sums each tensor over the ranks, in place (one collective per tensor, in order).
DST_EXPORT int dst_pg_all_reduce_sum(void* pg, const dst_tensor* tensors, int64_t n) {
    return guard([&] {
        auto& group = PG(pg);
        at::NoGradGuard no_grad;
        for (int64_t k = 0; k < n; ++k) {
            auto t = T(tensors[k]);
            all_reduce_sum(group, t, "all_reduce");
        }
    });
}

// Copies each tensor from rank `root` to every other rank, in place.
DST_EXPORT int dst_pg_broadcast(void* pg, const dst_tensor* tensors, int64_t n, int32_t root) {
    return guard([&] {
        auto& group = PG(pg);
        TORCH_CHECK_VALUE(root >= 0 && root < group.size, "broadcast root ", root, " is outside 0..", group.size - 1);
        at::NoGradGuard no_grad;
        for (int64_t k = 0; k < n; ++k)
            on_group_device(group, T(tensors[k]), [&](at::Tensor& dense) {
                std::vector<at::Tensor> list{dense};
                c10d::BroadcastOptions options;
                options.rootRank = root;
                wait(group, group.group->broadcast(list, options), "broadcast");
            });
    });
}

// Returns when every rank has called it, within the group's timeout (neither backend takes a per-call one: a longer
// wait goes through the store, dst_pg_store_get).
DST_EXPORT int dst_pg_barrier(void* pg) {
    return guard([&] {
        auto& group = PG(pg);
        c10d::BarrierOptions options;
        // NCCL's barrier is an all-reduce on a GPU: this rank's, not one guessed from the rank.
        if (group.nccl) options.device_ids = {group.device.index()};
        wait(group, group.group->barrier(options), "barrier");
    });
}

// The store's value under `key` into a malloc'd buffer (dst_free), waiting for it up to `timeout_ms` (0: the group's
// timeout). A long wait polls the store (a check a second) rather than blocking in one wait: it involves no collective,
// so it is the same under every backend; it never holds the store client's lock for long (libtorch's NCCL watchdog
// uses the same store); and each check is bounded by the group's timeout, so a rank 0 that dies or vanishes (the
// store's host) fails it.
DST_EXPORT int dst_pg_store_get(void* pg, const char* key, int64_t timeout_ms, uint8_t** out, int64_t* length) {
    return guard([&] {
        auto& group = PG(pg);
        std::string name = std::string("distill/user/") + key;
        if (timeout_ms > 0) {
            auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
            auto pause = std::chrono::milliseconds(10);
            try {
                while (!group.store->check({name})) {
                    if (std::chrono::steady_clock::now() >= deadline)
                        throw std::runtime_error("timed out after " + std::to_string(timeout_ms) + " ms");
                    std::this_thread::sleep_for(pause);
                    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
                }
            } catch (const std::exception& e) {
                throw std::runtime_error("waiting for '" + std::string(key) + "' in the store failed on rank " + std::to_string(group.rank) +
                                         " of " + std::to_string(group.size) + ": " + e.what());
            }
        }
        auto value = group.store->get(name);
        auto* buffer = static_cast<uint8_t*>(std::malloc(value.empty() ? 1 : value.size()));
        if (buffer == nullptr) throw std::bad_alloc();
        std::memcpy(buffer, value.data(), value.size());
        *out = buffer;
        *length = static_cast<int64_t>(value.size());
    });
}

DST_EXPORT int dst_pg_store_set(void* pg, const char* key, const uint8_t* value, int64_t length) {
    return guard([&] {
        PG(pg).store->set(std::string("distill/user/") + key, std::vector<uint8_t>(value, value + length));
    });
}

// sum over ranks with autograd: the gradient of each rank's input is the sum over ranks of the output's gradients.
DST_EXPORT int dst_pg_all_reduce_sum_autograd(void* pg, dst_tensor x, dst_tensor* out) {
    return guard([&] {
        *out = wrap(AllReduceSum::apply(T(x), PG(pg).id));
    });
}

// A gradient reducer over `params` (the trained parameters, the same list in the same order on every rank).
DST_EXPORT int dst_grad_reducer_new(void* pg, const dst_tensor* params, int64_t n, int64_t bucket_bytes,
                                    int64_t first_bucket_bytes, void** out) {
    return guard([&] {
        TORCH_CHECK_VALUE(bucket_bytes > 0 && first_bucket_bytes > 0, "bucket sizes must be positive");
        PG(pg);
        *out = new GradReducer(static_cast<Handle*>(pg)->pg, tensors(params, n), bucket_bytes, first_bucket_bytes);
    });
}

DST_EXPORT void dst_grad_reducer_free(void* r) { delete static_cast<GradReducer*>(r); }

DST_EXPORT int dst_grad_reducer_prepare(void* r, int32_t sync) {
    return guard([&] { R(r).prepare(sync != 0); });
}

DST_EXPORT int dst_grad_reducer_finish(void* r) {
    return guard([&] { R(r).finish(); });
}

DST_EXPORT int dst_grad_reducer_buckets(void* r, int64_t* count) {
    return guard([&] { *count = R(r).bucket_count(); });
}
