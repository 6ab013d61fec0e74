// The process's control endpoint (control/server.h) as a service of the
// engine thread's event loop: opened when the engine thread runs, closed
// when it stops, opened anew in a forked child (the inherited one answers to
// the parent's name) and when the program takes its descriptors. The C API
// installs it into the process's registry (capi/vm_reclaim.cpp); the process
// layer below knows it only as a process::LoopService.
#pragma once

#include <memory>
#include <vector>

#include "control/server.h"
#include "platform/linux/event_loop.h"
#include "process/registry.h"

namespace vmreclaim::control {

class Endpoint final : public process::LoopService {
 public:
  // The process's one endpoint: never destroyed (the engine thread may
  // still serve it while static destructors run), in the library's image,
  // which ring entries may not cover.
  static Endpoint& get() noexcept;

  void open(platform::EventLoop& loop) noexcept override;
  void close(platform::EventLoop& loop) noexcept override;
  void after_fork_child(platform::EventLoop& loop) noexcept override;

 private:
  Endpoint() = default;
  ~Endpoint() = default;
  static void on_readable(void* server) noexcept;
  static void on_lost(void* self) noexcept;

  std::unique_ptr<Server> server_;
  platform::EventLoop* loop_ = nullptr;
  // Servers whose descriptors the program took: let go, not destroyed.
  std::vector<Server*> lost_;
};

}  // namespace vmreclaim::control
