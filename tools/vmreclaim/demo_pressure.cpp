#include "demo_pressure.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vmreclaim/vmreclaim.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "demo_measure.h"
#include "platform/linux/cgroup.h"
#include "platform/linux/proc_file.h"
#include "policy/limits.h"

namespace vmreclaim::tools::demo {
namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool write_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(text.size());
}

// A memory cgroup made for this process under the one it runs in. A cgroup
// outlives its tasks, so the destructor leaves it and removes it.
class CgroupSqueeze final : public MemorySqueeze {
 public:
  static std::unique_ptr<CgroupSqueeze> create(std::string& why) {
    auto loc = platform::MemoryCgroup::discover();
    if (!loc) {
      why = "this process has no memory cgroup";
      return nullptr;
    }
    auto s = std::unique_ptr<CgroupSqueeze>(new CgroupSqueeze(loc->location()));
    if (!s->join(why)) return nullptr;
    return s;
  }

  ~CgroupSqueeze() override {
    if (!joined_) return;
    // Back to where we came from, then remove ours: a cgroup with no tasks
    // and no children can be removed even with pages still charged to it.
    write_file(parent_.dir + "/cgroup.procs", std::to_string(::getpid()));
    ::rmdir(dir_.c_str());
  }

  std::string describe() const override {
    return parent_.version == 1 ? "memory cgroup v1 limit (memory.limit_in_bytes)"
                                : "memory cgroup v2 limit (memory.max)";
  }

  std::string squeeze(uint64_t /*ring_bytes*/) override {
    auto usage = pressed();
    if (!usage) return errno_text("read " + dir_ + usage_file());
    // Just above what is charged: the working set is ~98 % of the limit
    // (critical), and above the high watermark (limit - limit/16).
    const uint64_t limit = *usage + *usage / 64;
    if (!write_file(dir_ + limit_file(), std::to_string(limit))) {
      return errno_text("write " + std::to_string(limit) + " to " + dir_ + limit_file());
    }
    relief_at_ = policy::high_watermark(limit);
    return {};
  }

  std::optional<uint64_t> pressed() const override {
    auto text = platform::read_text_file(dir_ + usage_file());
    return text ? platform::parse_u64_field(*text) : std::nullopt;
  }

 private:
  explicit CgroupSqueeze(platform::CgroupLocation parent) : parent_(std::move(parent)) {}

  std::string usage_file() const { return parent_.version == 1 ? "/memory.usage_in_bytes" : "/memory.current"; }
  std::string limit_file() const { return parent_.version == 1 ? "/memory.limit_in_bytes" : "/memory.max"; }

  bool join(std::string& why) {
    dir_ = parent_.dir + "/vmreclaim-demo-" + std::to_string(::getpid());
    if (::mkdir(dir_.c_str(), 0755) != 0) {
      why = errno_text("cannot create " + dir_);
      return false;
    }
    if (!write_file(dir_ + "/cgroup.procs", std::to_string(::getpid()))) {
      why = errno_text("cannot move into " + dir_);
      ::rmdir(dir_.c_str());
      return false;
    }
    joined_ = true;
    // v2 offers memory.max in a child only if the parent delegates the
    // memory controller to its subtree.
    if (::access((dir_ + limit_file()).c_str(), W_OK) != 0) {
      why = errno_text("no writable " + dir_ + limit_file());
      return false;  // the destructor moves us back and removes the directory
    }
    return true;
  }

  platform::CgroupLocation parent_;
  std::string dir_;
  bool joined_ = false;
};

class FootprintLimitSqueeze final : public MemorySqueeze {
 public:
  std::string describe() const override { return "footprint limit (vmreclaim_set_footprint_limit)"; }
  std::string squeeze(uint64_t ring_bytes) override {
    auto footprint = pressed();
    if (!footprint) return errno_text("read /proc/self/status");
    // Half of what the ring holds must go for the footprint to fit.
    const uint64_t limit = *footprint > ring_bytes / 2 ? *footprint - ring_bytes / 2 : *footprint / 2;
    vmreclaim_set_footprint_limit(limit);
    relief_at_ = policy::high_watermark(limit);
    return {};
  }

  std::optional<uint64_t> pressed() const override {
    auto st = read_memory_status();
    if (!st) return std::nullopt;
    return st->rss_anon + st->rss_shmem;
  }
};

}  // namespace

std::unique_ptr<MemorySqueeze> make_memory_squeeze(std::string& why_not_cgroup) {
  if (::geteuid() != 0) {
    why_not_cgroup = "not root: cannot create a memory cgroup";
  } else if (auto cg = CgroupSqueeze::create(why_not_cgroup)) {
    return cg;
  }
  return std::make_unique<FootprintLimitSqueeze>();
}

}  // namespace vmreclaim::tools::demo
