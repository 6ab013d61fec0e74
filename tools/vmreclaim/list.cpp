// `vmreclaim list`: every process with a ring that this user may read, with
// its capacity, entries, reclaimable bytes and footprint.
#include <memory>

#include "commands.h"
#include "observe.h"

namespace vmreclaim::tools {

void register_list(CLI::App& app, CommandSet& set) {
  auto json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("list", "List the processes that have a reclaim ring");
  sub->add_flag("--json", *json, "Print JSON");
  sub->footer(kExitCodesHelp);
  set.add(sub, [json] {
    size_t unreadable = 0;
    std::vector<RingView> rings = all_rings(&unreadable);
    if (*json) {
      nlohmann::json procs = nlohmann::json::array();
      for (const RingView& r : rings) procs.push_back(ring_json(r));
      print_json({{"processes", std::move(procs)}, {"unreadable_processes", unreadable}});
    } else {
      print_ring_table(stdout, rings);
      if (unreadable > 0) {
        std::fprintf(stderr, "vmreclaim: %zu other process(es) could not be inspected (permission denied)\n",
                     unreadable);
      }
    }
    return kExitOk;
  });
}

}  // namespace vmreclaim::tools
