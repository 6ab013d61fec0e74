// Fault injection for the system calls the engine makes on memory: a VmOps
// that passes every call to the real LinuxVmOps except the ones a test tells
// it to fail, which fail with the errno the test chose (and do nothing).
#pragma once

#include <cerrno>
#include <cstdint>
#include <vector>

#include "platform/linux/vm_ops.h"

namespace vmreclaim::faultinject {

enum class VmCall { release, unmap, probe, reserve, protect, discard };

class FailingVmOps final : public platform::VmOps {
 public:
  // Fails the next `times` calls of `call` (after skipping `skip` of them)
  // with `err`. For release the count is of spans, not of batches.
  void fail(VmCall call, int err, int times = 1, int skip = 0) { rules_.push_back({call, err, times, skip}); }

  void release(const platform::Span* spans, size_t n, platform::FreeAdvice advice, int* errs) noexcept override {
    // The spans that are let through still go to the kernel, batched as usual.
    std::vector<platform::Span> pass;
    std::vector<size_t> where;
    for (size_t i = 0; i < n; i++) {
      errs[i] = injected(VmCall::release);
      if (errs[i] == 0) {
        pass.push_back(spans[i]);
        where.push_back(i);
      }
    }
    std::vector<int> pass_errs(pass.size());
    if (!pass.empty()) real.release(pass.data(), pass.size(), advice, pass_errs.data());
    for (size_t j = 0; j < pass.size(); j++) errs[where[j]] = pass_errs[j];
  }
  int unmap(uint64_t addr, uint64_t len) noexcept override {
    if (int e = injected(VmCall::unmap)) return e;
    return real.unmap(addr, len);
  }
  int probe_mapped(uint64_t addr, uint64_t len) noexcept override {
    if (int e = injected(VmCall::probe)) return e;
    return real.probe_mapped(addr, len);
  }
  void* reserve(size_t len, const char* name) noexcept override {
    if (injected(VmCall::reserve) != 0) return nullptr;
    return real.reserve(len, name);
  }
  int release_reservation(void* addr, size_t len) noexcept override { return real.release_reservation(addr, len); }
  int protect(void* addr, size_t len, bool accessible) noexcept override {
    if (int e = injected(VmCall::protect)) return e;
    return real.protect(addr, len, accessible);
  }
  int discard(void* addr, size_t len) noexcept override {
    if (int e = injected(VmCall::discard)) return e;
    return real.discard(addr, len);
  }

  // How many calls of each kind were failed on purpose.
  int failed(VmCall call) const { return failed_[static_cast<int>(call)]; }

  platform::LinuxVmOps real;

 private:
  struct Rule {
    VmCall call;
    int err;
    int times;
    int skip;
  };

  int injected(VmCall call) noexcept {
    for (Rule& r : rules_) {
      if (r.call != call || r.times == 0) continue;
      if (r.skip > 0) {
        r.skip--;
        return 0;
      }
      r.times--;
      failed_[static_cast<int>(call)]++;
      return r.err;
    }
    return 0;
  }

  std::vector<Rule> rules_;
  int failed_[6] = {};
};

}  // namespace vmreclaim::faultinject
