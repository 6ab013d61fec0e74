// The built-in backend's functions (builtin_mimalloc.c), hidden: the layer's
// own, never bound to by the program, so that calls to them are direct.
#pragma once

// mimalloc.h's C++ part needs these: included first, so that the pragma
// does not reach them.
#include <memory>
#include <type_traits>
#include <utility>
#pragma GCC visibility push(hidden)
#include <mimalloc.h>
#pragma GCC visibility pop
