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

#include "static.c"
