// The backend compiled into the layer: mimalloc, as released
// (third_party/mimalloc/README.md), as one translation unit. Being part of
// the layer, its functions are reached from the shims with a direct jump
// (backend.h, HotPath::direct).
//
// MI_MALLOC_OVERRIDE stays undefined: mimalloc defines only its mi_*
// functions, never malloc or operator new (those are the layer's), and with
// -fvisibility=hidden none of them leaves the layer: a program that links
// libmimalloc itself keeps its own copy.
//
// mimalloc reads its MIMALLOC_* options from the environment. Through
// secure_getenv, a privileged process (set-user-ID, file capabilities: glibc's
// AT_SECURE) reads none, as with every setting of the layer
// (support/environment.h); MI_USE_ENVIRON=0 makes mimalloc call getenv, and
// only once the C library is initialised.
#define _GNU_SOURCE
#include <stdlib.h>

#define MI_USE_ENVIRON 0
#define getenv secure_getenv

// mi_free is inlined wherever its body is in sight: here, and through
// link-time optimisation in the layer's free() and operator delete, whose
// fast path is then mimalloc's own with no jump between them (fast_paths.h,
// builtin_free). GCC warns that an always_inline function with external
// linkage "might not be inlinable": it is also called from elsewhere.
#include "mimalloc.h"
void mi_free(void* p) mi_attr_noexcept __attribute__((always_inline));

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"
#include "static.c"
#pragma GCC diagnostic pop
