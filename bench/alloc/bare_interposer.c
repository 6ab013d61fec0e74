/* The least a preloaded layer can do: a malloc and a free that jump straight
 * to the next allocator's (the one after it in the lookup order). No test, no
 * state, nothing else interposed. Not part of the product: it is the floor
 * that bench/alloc/small_objects.sh --floor measures against (docs/benchmarks.md,
 * "What any interposer costs"). Any library placed in front of an allocator
 * loaded at run time costs at least this much: the program's call still goes
 * through its PLT, and the interposer's own jump is one more.
 *
 * Built by the script in its work directory (cc -O2 -fPIC -shared), never
 * installed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef void* (*malloc_fn)(size_t);
typedef void (*free_fn)(void*);

static void* first_malloc(size_t bytes);
static void first_free(void* p);

/* Until the first call they point at the functions that look the next
 * allocator up, so the fast paths below never test whether that happened.
 * Relaxed: every thread that looks up stores the same two values. */
static _Atomic(malloc_fn) next_malloc = first_malloc;
static _Atomic(free_fn) next_free = first_free;

static void look_up(void) {
  /* dlsym does not allocate when it finds the symbol (glibc 2.34 on), so
   * this does not come back here. */
  malloc_fn m = (malloc_fn)dlsym(RTLD_NEXT, "malloc");
  free_fn f = (free_fn)dlsym(RTLD_NEXT, "free");
  if (m == NULL || f == NULL) {
    fputs("bare_interposer: no malloc or free after this library\n", stderr);
    abort();
  }
  atomic_store_explicit(&next_malloc, m, memory_order_relaxed);
  atomic_store_explicit(&next_free, f, memory_order_relaxed);
}

static void* first_malloc(size_t bytes) {
  look_up();
  return atomic_load_explicit(&next_malloc, memory_order_relaxed)(bytes);
}

static void first_free(void* p) {
  look_up();
  atomic_load_explicit(&next_free, memory_order_relaxed)(p);
}

__attribute__((visibility("default"))) void* malloc(size_t bytes) {
  return atomic_load_explicit(&next_malloc, memory_order_relaxed)(bytes);
}

__attribute__((visibility("default"))) void free(void* p) { atomic_load_explicit(&next_free, memory_order_relaxed)(p); }
