// The same with the C++ API: an owning Ring, typed actions and states, and
// results that carry a std::error_code instead of throwing.
#include <sys/mman.h>
#include <vmreclaim/ring.hpp>

#include <cstdio>

int main() {
  auto ring = vmreclaim::Ring::allocate(1, 1024);
  if (!ring) {
    std::fprintf(stderr, "no ring: %s\n", ring.error().message().c_str());
    return 1;
  }
  constexpr size_t size = 1 << 20;
  void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) return 1;

  auto entered = ring->try_enter(block, size, vmreclaim::Action::free);  // free()
  if (!entered || !entered->entered()) return 1;                         // error, or the ring is full
  if (entered->update_accounting) (void)ring->update_accounting();

  auto cancelled = ring->try_cancel(entered->id, block, size, vmreclaim::Action::free);  // malloc()
  if (!cancelled || !cancelled->reusable()) return 1;
  std::printf("taken back %s\n", cancelled->state == vmreclaim::State::unreclaimed ? "untouched" : "after a reclaim");

  entered = ring->try_enter(block, size, vmreclaim::Action::free, entered->id);  // free() into the same slot
  auto drained = ring->drain();                                                  // Linux extension
  auto stats = ring->stats();
  if (!entered || !drained || !stats) return 1;
  std::printf("drained %llu bytes; %llu entered, %llu cancelled\n", static_cast<unsigned long long>(*drained),
              static_cast<unsigned long long>(stats->entered_entries),
              static_cast<unsigned long long>(stats->cancelled_unreclaimed));
  return *drained == size ? 0 : 1;
}  // ~Ring drains what is left and unmaps the ring
