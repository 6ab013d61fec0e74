// fork() safety: the heap's lock is held across fork, so the child never
// inherits it locked by a thread that does not exist there. The child keeps
// the parent's blocks, cache and (a private copy of) the ring.
#include <pthread.h>

#include "layer.h"

namespace vmreclaim::alloc {
namespace {

void prepare() noexcept {
  if (Layer* l = layer_if_built()) l->heap.lock_for_fork();
}
void parent() noexcept {
  if (Layer* l = layer_if_built()) l->heap.unlock_after_fork_parent();
}
void child() noexcept {
  if (Layer* l = layer_if_built()) l->heap.reset_after_fork_child();
}

}  // namespace

void install_fork_handlers() noexcept { ::pthread_atfork(prepare, parent, child); }

}  // namespace vmreclaim::alloc
