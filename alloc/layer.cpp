#include "layer.h"

#include <sched.h>
#include <vmreclaim/vmreclaim.h>

#include <atomic>
#include <new>

namespace vmreclaim::alloc {
namespace {

alignas(Layer) unsigned char g_storage[sizeof(Layer)];
std::atomic<Layer*> g_layer{nullptr};
std::atomic<bool> g_building{false};

}  // namespace

Layer* layer_if_built() noexcept { return g_layer.load(std::memory_order_acquire); }

Layer& layer() noexcept {
  if (Layer* l = g_layer.load(std::memory_order_acquire)) [[likely]]
    return *l;
  bool expected = false;
  if (g_building.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
    // A program that knows nothing of the library gets no control endpoint
    // (descriptors it did not open) unless VMRECLAIM_CONTROL=1 asks for it,
    // as `vmreclaim run` does (docs/allocator.md). Set before the ring
    // exists: it is allocated at the first large request, after this.
    vmreclaim_set_control_default(0);
    Layer* l = new (g_storage) Layer(settings());
    g_layer.store(l, std::memory_order_release);
    install_fork_handlers();
    return *l;
  }
  Layer* l;
  while ((l = g_layer.load(std::memory_order_acquire)) == nullptr) ::sched_yield();
  return *l;
}

}  // namespace vmreclaim::alloc
