/*
 * distill_torch.h — the C ABI of the Distill libtorch shim.
 *
 * Conventions (every entry point follows them):
 *   - Objects cross the boundary as opaque handles (dst_tensor, dst_generator, ...). A handle
 *     returned through an out-parameter is owned by the caller and released with its *_free function.
 *   - Every function returns a status: DST_OK (0) or an error category below. Results are written
 *     through out-parameters, which are left untouched on error.
 *   - Every C++ exception, `catch (...)` included, is caught at the boundary. Its message is kept in a
 *     thread-local, shim-owned buffer readable with dst_last_error_message() until the next failing
 *     call on the same thread.
 *   - Dtypes are c10::ScalarType codes; devices are (type, index) pairs with type 0 = CPU, 1 = CUDA.
 *   - Shapes and dims are (const int64_t* values, int64_t count) pairs.
 *   - The undefined tensor (no gradient yet, an omitted optional input) is the null handle.
 */
#ifndef DISTILL_TORCH_H
#define DISTILL_TORCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DISTILL_TORCH_BUILDING)
#define DST_API __attribute__((visibility("default")))
#else
#define DST_API
#endif

typedef struct dst_tensor_s* dst_tensor;
typedef struct dst_generator_s* dst_generator;

enum dst_status {
    DST_OK = 0,
    DST_ERR_RUNTIME = 1,         /* any other libtorch error (c10::Error, std::exception) */
    DST_ERR_INDEX = 2,           /* c10::IndexError, std::out_of_range */
    DST_ERR_VALUE = 3,           /* c10::ValueError, std::invalid_argument */
    DST_ERR_TYPE = 4,            /* c10::TypeError */
    DST_ERR_NOT_IMPLEMENTED = 5, /* c10::NotImplementedError */
    DST_ERR_OUT_OF_MEMORY = 6,   /* c10::OutOfMemoryError, std::bad_alloc */
    DST_ERR_UNKNOWN = 7          /* an exception that is not a std::exception */
};

/* A Python-like scalar: kind 0 = floating (f), 1 = integral (i), 2 = boolean (i != 0). */
typedef struct dst_scalar {
    double f;
    int64_t i;
    int32_t kind;
} dst_scalar;

DST_API const char* dst_last_error_message(void);
DST_API int dst_last_error_category(void);

#ifdef __cplusplus
}
#endif

#endif
