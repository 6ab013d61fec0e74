// The "vm_reclaim" std::error_category behind vmreclaim::errc.
#include <vmreclaim/error.hpp>
#include <vmreclaim/vmreclaim.h>

namespace vmreclaim {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "vm_reclaim"; }
  std::string message(int ev) const override { return vmreclaim_strerror(static_cast<mach_vm_reclaim_error_t>(ev)); }
};

}  // namespace

__attribute__((visibility("default"))) const std::error_category& vm_reclaim_category() noexcept {
  static const Category c;
  return c;
}

}  // namespace vmreclaim
