#include "control/endpoint.h"

#include <new>

#include "support/log.h"

namespace vmreclaim::control {

Endpoint& Endpoint::get() noexcept {
  alignas(Endpoint) static unsigned char storage[sizeof(Endpoint)];
  static Endpoint* e = new (storage) Endpoint();
  return *e;
}

void Endpoint::open(platform::EventLoop& loop) noexcept {
  auto server = Server::open();
  if (!server) {
    support::log(support::LogLevel::info, "no control endpoint: %s", server.error().message().c_str());
    return;
  }
  server_ = std::move(*server);
  loop_ = &loop;
  if (!loop.watch(server_->fd(), &Endpoint::on_readable, server_.get(), &Endpoint::on_lost)) server_.reset();
}

void Endpoint::close(platform::EventLoop& loop) noexcept {
  if (!server_) return;
  loop.unwatch(server_->fd());
  server_.reset();
}

void Endpoint::after_fork_child(platform::EventLoop& loop) noexcept {
  if (!server_) return;
  close(loop);
  open(loop);
}

void Endpoint::on_readable(void* server) noexcept { static_cast<Server*>(server)->on_readable(); }

void Endpoint::on_lost(void*) noexcept {
  // On the engine thread, which has unwatched the endpoint: the program
  // closed its descriptors (and may have opened its own files there). The
  // server is let go without being destroyed — destroying it would close
  // numbers that are the program's now — and a new endpoint is opened.
  // Safe without the registry's lock: destroy() and the fork handlers, the
  // only other users of the endpoint once the thread runs, first stop or
  // park this thread.
  Endpoint& e = get();
  // Kept, never destroyed (reachable, so leak checkers stay quiet); at most
  // a few per process, one for each time the program closes our descriptors.
  Server* lost = e.server_.release();
  try {
    e.lost_.push_back(lost);
  } catch (...) {  // out of memory: the object is simply lost
  }
  support::log(support::LogLevel::info, "control endpoint lost to the program's descriptors; opening a new one");
  if (e.loop_ != nullptr) e.open(*e.loop_);
}

}  // namespace vmreclaim::control
