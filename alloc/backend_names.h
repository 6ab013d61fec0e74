// The allocators the layer can put under itself, by name: what
// `vmreclaim run --with NAME` and VMRECLAIM_MALLOC_BACKEND=NAME accept.
// Header-only and dependency-free, so the command-line tool shares it.
#pragma once

#include <cstddef>
#include <string_view>

namespace vmreclaim::alloc {

enum class BackendKind : unsigned char { glibc, mimalloc, jemalloc, tcmalloc };

struct BackendName {
  const char* name;
  // The library to load; nullptr for glibc (the next `malloc` in the lookup
  // order, found with dlsym(RTLD_NEXT)) and for mimalloc (compiled into the
  // layer: third_party/mimalloc).
  const char* soname;
  // The library uses initial-exec TLS larger than the surplus glibc keeps
  // for dlopen ("cannot allocate memory in static TLS block"): it must be
  // loaded at start-up, i.e. listed in LD_PRELOAD after the layer.
  bool needs_preload;
  BackendKind kind;
  // The build of the layer that serves this backend best, which
  // `vmreclaim run --with NAME` preloads (alloc/CMakeLists.txt): the
  // default one goes straight into the built-in mimalloc, the generic one
  // through a pointer with nothing else to test. Both take every backend.
  const char* layer;
};

inline constexpr const char* kLayerLibrary = "libvmreclaim-malloc.so";
inline constexpr const char* kGenericLayerLibrary = "libvmreclaim-malloc-generic.so";

inline constexpr BackendName kBackendNames[] = {
    {"glibc", nullptr, false, BackendKind::glibc, kGenericLayerLibrary},
    {"mimalloc", nullptr, false, BackendKind::mimalloc, kLayerLibrary},
    {"jemalloc", "libjemalloc.so.2", true, BackendKind::jemalloc, kGenericLayerLibrary},
    {"tcmalloc", "libtcmalloc_minimal.so.4", false, BackendKind::tcmalloc, kGenericLayerLibrary},
};

// mimalloc: the fewest instructions and the least CPU on the small-object
// benchmarks of the four, it gives memory back after a churn, and being
// built in, the shims reach it with a direct jump (docs/allocator.md,
// "Which allocator underneath").
inline constexpr BackendKind kDefaultBackend = BackendKind::mimalloc;

inline constexpr const BackendName* backend_by_name(std::string_view name) noexcept {
  for (const BackendName& b : kBackendNames) {
    if (name == b.name) return &b;
  }
  return nullptr;
}

inline constexpr const BackendName& backend_name(BackendKind k) noexcept {
  return kBackendNames[static_cast<size_t>(k)];
}

}  // namespace vmreclaim::alloc
