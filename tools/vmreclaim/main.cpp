// The vmreclaim command. Each subcommand lives in its own file and registers
// itself on the CLI11 app; main only wires them up and runs the one chosen.
#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"vmreclaim — deferred memory reclamation rings for Linux"};
  app.require_subcommand(1);
  vmreclaim::tools::CommandSet commands;
  vmreclaim::tools::register_all(app, commands);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return commands.run_selected();
}
