/* Free a block into the ring, take it back untouched, free it again, and let
 * the engine reclaim it. Build: cc -std=c11 ring_basics.c $(pkg-config --cflags --libs vmreclaim) */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <mach/vm_reclaim.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
  mach_vm_reclaim_ring_t ring;
  if (mach_vm_reclaim_ring_allocate(&ring, 1, 1024) != VM_RECLAIM_SUCCESS) return 1;

  const size_t size = 1 << 20;
  char *block = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) return 1;
  strcpy(block, "still here");

  /* free(): enter the block instead of unmapping it; no system call */
  mach_vm_reclaim_id_t id = VM_RECLAIM_ID_NULL;
  bool update = false;
  mach_vm_reclaim_error_t err =
      mach_vm_reclaim_try_enter(ring, (mach_vm_address_t)block, size, VM_RECLAIM_FREE, &id, &update);
  if (err != VM_RECLAIM_SUCCESS || id == VM_RECLAIM_ID_NULL) return 1; /* an error, or the ring is full */
  if (update) mach_vm_reclaim_update_kernel_accounting(ring);

  /* malloc(): take it back; UNRECLAIMED means no fault and the contents kept */
  mach_vm_reclaim_state_t state;
  if (mach_vm_reclaim_try_cancel(ring, id, (mach_vm_address_t)block, size, VM_RECLAIM_FREE, &state, &update)) return 1;
  printf("cancelled: %s, \"%s\"\n", state == VM_RECLAIM_UNRECLAIMED ? "UNRECLAIMED" : "reclaimed", block);

  /* free() again into the same slot, then have the engine reclaim it now */
  if (mach_vm_reclaim_try_enter(ring, (mach_vm_address_t)block, size, VM_RECLAIM_FREE, &id, &update)) return 1;
  if (mach_vm_reclaim_ring_flush(ring, 1)) return 1;
  mach_vm_reclaim_query_state(ring, id, VM_RECLAIM_FREE, &state);
  printf("after a flush: %s\n", state == VM_RECLAIM_FREED ? "FREED (mapping kept, pages released)" : "?");
  return state == VM_RECLAIM_FREED ? 0 : 1;
}
