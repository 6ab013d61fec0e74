// A control Server run on a thread of the test process, as the engine thread
// will run it: poll its fd, call on_readable(). Each endpoint gets a unique
// abstract name, so it never collides with the process's real endpoint.
#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "control/server.h"

namespace vmreclaim::test {

class ServedEndpoint {
 public:
  ServedEndpoint() {
    static std::atomic<int> serial{0};
    name_ = std::string(1, '\0') + "vmreclaim-test/" + std::to_string(::getpid()) + "/" + std::to_string(serial++);
    auto s = control::Server::open(name_);
    if (!s) return;
    server_ = std::move(*s);
    stop_ = ::eventfd(0, EFD_CLOEXEC);
    if (stop_ >= 0) thread_ = std::thread([this] { loop(); });
  }
  ~ServedEndpoint() {
    if (thread_.joinable()) {
      uint64_t one = 1;
      (void)!::write(stop_, &one, sizeof one);
      thread_.join();
    }
    if (stop_ >= 0) ::close(stop_);
  }
  ServedEndpoint(const ServedEndpoint&) = delete;
  ServedEndpoint& operator=(const ServedEndpoint&) = delete;

  bool ok() const { return server_ != nullptr && stop_ >= 0; }
  const std::string& name() const { return name_; }
  uint64_t wakeups() const { return wakeups_.load(); }

 private:
  void loop() {
    pollfd fds[2] = {{server_->fd(), POLLIN, 0}, {stop_, POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      if (fds[0].revents != 0) {
        wakeups_++;
        server_->on_readable();
      }
    }
  }

  std::string name_;
  std::unique_ptr<control::Server> server_;
  int stop_ = -1;
  std::thread thread_;
  std::atomic<uint64_t> wakeups_{0};
};

}  // namespace vmreclaim::test
