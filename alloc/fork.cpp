// fork() safety: the heap's and the address range's locks are held across fork, so the child never
// inherits it locked by a thread that does not exist there. The child keeps
// the parent's blocks, cache and (a private copy of) the ring.
#include <pthread.h>

#include "layer.h"

namespace vmreclaim::alloc {
namespace {

// The heap's lock before the range's: the heap maps under its lock at times
// (address_range.h's lock is taken inside OsPages), never the other way.
void prepare() noexcept {
  if (Layer* l = layer_if_built()) l->heap.lock_for_fork();
  if (AddressRange* r = process_range()) r->lock();
}
void parent() noexcept {
  if (AddressRange* r = process_range()) r->unlock();
  if (Layer* l = layer_if_built()) l->heap.unlock_after_fork_parent();
}
void child() noexcept {
  if (AddressRange* r = process_range()) r->unlock();
  if (Layer* l = layer_if_built()) l->heap.reset_after_fork_child();
}

}  // namespace

void install_fork_handlers() noexcept { ::pthread_atfork(prepare, parent, child); }

}  // namespace vmreclaim::alloc
