// Who may talk to a process's control endpoint: the one place that decides
// it (docs/control-protocol.md, "Who is answered").
//
// A peer is answered when
//  1. it is this process's user in this process's user namespace: its uid,
//     as SO_PEERCRED gives it in our namespace, is our effective uid, that
//     uid is not the overflow uid (what any unmapped uid reads as), and the
//     peer's user namespace is ours; or
//  2. it shows that the kernel lets it open /proc/<our pid>/mem, i.e. it
//     holds CAP_SYS_PTRACE over us (in our user namespace or an ancestor of
//     it) or passes the kernel's same-user test: it sends, with its first
//     request, a descriptor of that file, which we check names our own
//     process (same procfs inode as our /proc/self/mem) and reads our
//     current memory (a random secret at a known address).
// Anyone else gets one permission_denied reply, or, past a per-second
// budget of refused peers, the connection closed without one.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>

#include "vmreclaim/result.hpp"

namespace vmreclaim::control {

class Authoriser {
 public:
  // Reads what does not change while the endpoint lives: our user
  // namespace, the overflow uid, and a fresh secret.
  static Result<Authoriser> create();

  // Rule 1, at accept time: true if the peer of connected socket `conn` is
  // our user in our user namespace. Also returns the peer's uid as we see it.
  bool same_user(int conn, uid_t* peer_uid) const noexcept;

  // Rule 2: true if `fd` (received from the peer) is an open
  // /proc/<our pid>/mem of this very process.
  bool proves_ptrace_access(int fd) const noexcept;

  uid_t overflow_uid() const noexcept { return overflow_uid_; }

  // Empty: matches nobody until create() fills it.
  Authoriser() = default;

 private:
  dev_t userns_dev_ = 0;
  ino_t userns_ino_ = 0;
  uid_t overflow_uid_ = 65534;
  // Read back through the peer's descriptor: only our own memory holds it
  // (at the address of this member; the Server keeps its Authoriser in place).
  std::array<unsigned char, 16> secret_{};
};

// The same two rules judged by a third party that answers about processes
// (vmreclaimd's `status`, docs/control-protocol.md "Who is answered"):
// whether the peer of connected socket `conn` could drain process `target`
// itself. Rule 1 as above, with the target's effective uid and user
// namespace in place of ours; rule 2 approximated without a descriptor from
// the peer: it holds CAP_SYS_PTRACE (effective) in the target's user
// namespace or in the initial one. Needs to read /proc of both processes (a
// daemon running as root can; one running as a user sees only its user's
// processes anyway); anything unreadable counts as "no".
bool peer_could_drain(int conn, pid_t target) noexcept;

}  // namespace vmreclaim::control
