// dari: one executable, one subcommand per job (run, chat, serve, bench, inspect, tokenize, ...).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>

#include "command.h"

namespace dari::cli {
std::vector<Command>& command_registry() {
  static std::vector<Command> registry;
  return registry;
}
}  // namespace dari::cli

int main(int argc, char** argv) {
  CLI::App app{"dari: efficient LLM inference (GGUF models on CPU, OpenAI-compatible serving)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dari 0.1.0");

  auto& registry = dari::cli::command_registry();
  std::sort(registry.begin(), registry.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::function<int()> to_run;
  for (auto& cmd : registry) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.help);
    auto fn = cmd.setup(*sub);
    sub->callback([&to_run, fn]() { to_run = fn; });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return to_run ? to_run() : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dari: error: %s\n", e.what());
    return 1;
  }
}
