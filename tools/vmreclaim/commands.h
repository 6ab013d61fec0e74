// Registration of the vmreclaim subcommands. A subcommand adds itself to the
// CLI11 app and returns the function that runs it once parsed; the function's
// return value is the exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <utility>
#include <vector>

namespace vmreclaim::tools {

class CommandSet {
 public:
  void add(CLI::App* sub, std::function<int()> run) { commands_.emplace_back(sub, std::move(run)); }
  int run_selected() const {
    for (const auto& [sub, run] : commands_) {
      if (sub->parsed()) return run();
    }
    return 2;
  }

 private:
  std::vector<std::pair<CLI::App*, std::function<int()>>> commands_;
};

// One per file: demo.cpp, ...
void register_demo(CLI::App& app, CommandSet& set);
void register_list(CLI::App& app, CommandSet& set);
void register_show(CLI::App& app, CommandSet& set);
void register_drain(CLI::App& app, CommandSet& set);
void register_trim(CLI::App& app, CommandSet& set);
void register_watch(CLI::App& app, CommandSet& set);
void register_run(CLI::App& app, CommandSet& set);
void register_status(CLI::App& app, CommandSet& set);
void register_top(CLI::App& app, CommandSet& set);

inline void register_all(CLI::App& app, CommandSet& set) {
  register_demo(app, set);
  register_list(app, set);
  register_show(app, set);
  register_drain(app, set);
  register_trim(app, set);
  register_watch(app, set);
  register_run(app, set);
  register_status(app, set);
  register_top(app, set);
}

}  // namespace vmreclaim::tools
