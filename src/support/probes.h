// USDT probes (provider "vmreclaim"), named after Darwin's dtrace probes.
// Each compiles to a nop plus an ELF note when systemtap's sys/sdt.h is
// present, and to nothing otherwise.
#pragma once

#if __has_include(<sys/sdt.h>)
#include <sys/sdt.h>
#define VMR_PROBE1(name, a) DTRACE_PROBE1(vmreclaim, name, a)
#define VMR_PROBE2(name, a, b) DTRACE_PROBE2(vmreclaim, name, a, b)
#define VMR_PROBE3(name, a, b, c) DTRACE_PROBE3(vmreclaim, name, a, b, c)
#define VMR_PROBE4(name, a, b, c, d) DTRACE_PROBE4(vmreclaim, name, a, b, c, d)
#define VMR_PROBE5(name, a, b, c, d, e) DTRACE_PROBE5(vmreclaim, name, a, b, c, d, e)
#define VMR_HAVE_PROBES 1
#else
#define VMR_PROBE1(name, a) ((void)0)
#define VMR_PROBE2(name, a, b) ((void)0)
#define VMR_PROBE3(name, a, b, c) ((void)0)
#define VMR_PROBE4(name, a, b, c, d) ((void)0)
#define VMR_PROBE5(name, a, b, c, d, e) ((void)0)
#define VMR_HAVE_PROBES 0
#endif
