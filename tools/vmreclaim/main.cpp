// The vmreclaim command. Each subcommand lives in its own file and registers
// itself on the CLI11 app; main only wires them up and runs the one chosen.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "observe.h"

namespace {

// A command-line error: one line on stderr and, with --json, one JSON
// document on stdout, like every other outcome.
int usage_error(const std::string& message, int exit_code, bool json) {
  std::fprintf(stderr, "vmreclaim: %s (see --help)\n", message.c_str());
  if (json) {
    vmreclaim::tools::print_json(
        {{"pid", nullptr}, {"error", "usage"}, {"message", message}, {"exit_code", exit_code}});
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vmreclaim — deferred memory reclamation rings for Linux"};
  app.require_subcommand(1);
  vmreclaim::tools::CommandSet commands;
  vmreclaim::tools::register_all(app, commands);
  bool json = false;
  for (int i = 1; i < argc; i++) json = json || std::strcmp(argv[i], "--json") == 0;
  // The first word names the subcommand: say which, if it names none.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known = known || sub->check_name(argv[1]);
    if (!known) {
      std::string names;
      for (const CLI::App* sub : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
      return usage_error(std::string("unknown subcommand '") + argv[1] + "' (one of: " + names + ")",
                         static_cast<int>(CLI::ExitCodes::ExtrasError), json);
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return app.exit(CLI::CallForHelp());
  } catch (const CLI::CallForAllHelp&) {
    return app.exit(CLI::CallForAllHelp());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    return usage_error(e.what(), e.get_exit_code(), json);
  }
  return commands.run_selected();
}
