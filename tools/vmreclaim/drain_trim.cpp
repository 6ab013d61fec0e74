// `vmreclaim drain PID` and `vmreclaim trim PID BYTES`: ask a process's
// engine, over its control endpoint, to reclaim everything or some bytes.
#include <chrono>
#include <memory>

#include "checks.h"
#include "commands.h"
#include "control/client.h"
#include "introspect/process_info.h"
#include "observe.h"

namespace vmreclaim::tools {
namespace {

struct ReclaimOptions {
  pid_t pid = 0;
  uint64_t bytes = 0;  // 0: drain
  bool json = false;
  double timeout = 2.0;
};

Problem problem(int exit_code, const char* code, std::string message) {
  Problem p;
  p.exit_code = exit_code;
  p.code = code;
  p.message = std::move(message);
  return p;
}

// Why the endpoint could not be used: the ring's absence or our permissions
// explain it better than "connection refused", so ask introspection first.
Problem explain_unreachable(pid_t pid, const std::error_code& err) {
  Problem p;
  if (!read_ring(pid, &p)) return p;
  return problem(kExitUnreachable, "unreachable",
                 "process " + std::to_string(pid) + " does not answer on its control endpoint (" + err.message() + ")");
}

Problem from_client_error(pid_t pid, const std::error_code& err, const std::string& server_message) {
  using control::client_errc;
  if (err == client_errc::no_endpoint || err == client_errc::timed_out || err == client_errc::other_network_namespace) {
    return explain_unreachable(pid, err);
  }
  if (err == client_errc::permission_denied) {
    return problem(kExitPermissionDenied, "permission_denied",
                   "permission denied by process " + std::to_string(pid) +
                       " (it answers only its own user, and callers allowed to ptrace it)");
  }
  if (err == client_errc::no_ring) {
    return problem(kExitNoRing, "no_ring", "process " + std::to_string(pid) + " has no reclaim ring");
  }
  if (err == std::errc::no_such_process) {
    return problem(kExitNoProcess, "no_process", "no process with pid " + std::to_string(pid));
  }
  std::string detail = server_message.empty() ? err.message() : err.message() + ": " + server_message;
  return problem(kExitFailed, "failed", "process " + std::to_string(pid) + ": " + detail);
}

int run_reclaim(const ReclaimOptions& o) {
  const bool trim = o.bytes != 0;
  if (!introspect::process_command(o.pid) && errno == ENOENT) {
    return report(problem(kExitNoProcess, "no_process", "no process with pid " + std::to_string(o.pid)), o.pid, o.json);
  }
  auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout * 1000));
  auto client = control::Client::connect(o.pid, timeout);
  if (!client) return report(from_client_error(o.pid, client.error(), ""), o.pid, o.json);
  auto reply = trim ? client->trim(o.bytes) : client->drain();
  if (!reply) return report(from_client_error(o.pid, reply.error(), client->error_message()), o.pid, o.json);
  if (o.json) {
    nlohmann::json j = {
        {"pid", o.pid}, {"request", trim ? "trim" : "drain"}, {"bytes_reclaimed", reply->bytes_reclaimed}};
    if (trim) j["bytes_requested"] = o.bytes;
    print_json(j);
  } else if (trim) {
    std::printf("pid %d: trimmed %s (asked for %s)\n", o.pid, human_bytes(reply->bytes_reclaimed).c_str(),
                human_bytes(o.bytes).c_str());
  } else {
    std::printf("pid %d: drained %s\n", o.pid, human_bytes(reply->bytes_reclaimed).c_str());
  }
  return kExitOk;
}

CLI::App* add_common(CLI::App& app, const char* name, const char* help, ReclaimOptions& o) {
  CLI::App* sub = app.add_subcommand(name, help);
  sub->add_option("pid", o.pid, "Process id")->required()->check(pid_number());
  return sub;
}

void add_tail(CLI::App* sub, ReclaimOptions& o) {
  sub->add_flag("--json", o.json, "Print JSON");
  sub->add_option("--timeout", o.timeout, "Seconds to wait for the process to answer")
      ->capture_default_str()
      ->check(seconds_in(0.001, 3600.0));
  sub->footer(kExitCodesHelp);
}

}  // namespace

void register_drain(CLI::App& app, CommandSet& set) {
  auto o = std::make_shared<ReclaimOptions>();
  CLI::App* sub = add_common(app, "drain", "Ask a process to reclaim every entry of its ring now", *o);
  add_tail(sub, *o);
  set.add(sub, [o] { return run_reclaim(*o); });
}

void register_trim(CLI::App& app, CommandSet& set) {
  auto o = std::make_shared<ReclaimOptions>();
  CLI::App* sub = add_common(app, "trim", "Ask a process to reclaim its oldest entries, at least BYTES", *o);
  sub->add_option("bytes", o->bytes, "Bytes to reclaim (K, M, G suffixes: powers of 1024)")
      ->required()
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            // After the transform: a plain number of bytes.
            return s.find_first_not_of('0') == std::string::npos ? "BYTES must be more than 0" : "";
          },
          "BYTES > 0"));
  add_tail(sub, *o);
  set.add(sub, [o] { return run_reclaim(*o); });
}

}  // namespace vmreclaim::tools
