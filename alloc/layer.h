// The process's one instance of the layer: settings, the ring, the heap.
// Built on first use in static storage (the first malloc may come before
// any constructor runs) and never destroyed (frees keep arriving from exit
// handlers and other libraries' destructors).
#pragma once

#include "large_heap.h"
#include "os_pages.h"
#include "process_ring.h"
#include "settings.h"

namespace vmreclaim::alloc {

struct Layer {
  explicit Layer(const Settings& s) noexcept
      : settings(s), os(process_range(), s.huge_pages), heap(os, ring, s.cache_max) {}

  const Settings& settings;
  OsPages os;
  ProcessRing ring;
  LargeHeap heap;
};

// The layer, built if needed.
Layer& layer() noexcept;
// The layer if it has been built, else nullptr (nothing can be ours yet).
Layer* layer_if_built() noexcept;

// Registers the fork handlers (fork.cpp); called once when the layer is built.
void install_fork_handlers() noexcept;

}  // namespace vmreclaim::alloc
