/*
 * vmreclaim — Mach types and macros the Darwin-compatible headers need.
 *
 * Linux has no Mach headers. This file supplies the handful of Mach names
 * that <mach/vm_reclaim.h> uses, each guarded so that it never redefines
 * something glibc (or a real Mach header) already provides.
 */
#ifndef VMRECLAIM_MACH_VM_RECLAIM_COMPAT_H
#define VMRECLAIM_MACH_VM_RECLAIM_COMPAT_H

#include <stdint.h>
#include <sys/cdefs.h> /* glibc's __BEGIN_DECLS / __END_DECLS */

#ifndef __BEGIN_DECLS
#ifdef __cplusplus
#define __BEGIN_DECLS extern "C" {
#define __END_DECLS }
#else
#define __BEGIN_DECLS
#define __END_DECLS
#endif
#endif

/* Availability annotations carry no meaning on Linux. */
#ifndef __SPI_AVAILABLE
#define __SPI_AVAILABLE(...)
#endif

/*
 * A typedef of a fixed integer type plus an anonymous enum of its values: the
 * values stay integer constants usable from C11 and C++ alike.
 */
#ifndef __enum_decl
#define __enum_decl(_name, _type, ...) \
  typedef _type _name;                 \
  enum __VA_ARGS__
#endif

#ifndef VMRECLAIM_HAVE_MACH_TYPES
#define VMRECLAIM_HAVE_MACH_TYPES 1
typedef uint64_t mach_vm_address_t;
typedef uint64_t mach_vm_size_t;
typedef int kern_return_t;
typedef kern_return_t mach_error_t;
/* On Linux a task is named by its pid. */
typedef int task_read_t;
#endif

#ifndef ERR_SUCCESS
#define ERR_SUCCESS 0
#endif
#ifndef err_system
#define err_system(x) ((mach_error_t)(((x) & 0x3f) << 26))
#endif
#ifndef err_sub
#define err_sub(x) (((x) & 0xfff) << 14)
#endif
#ifndef err_vm
#define err_vm err_system(0x8)
#endif

#endif /* VMRECLAIM_MACH_VM_RECLAIM_COMPAT_H */
