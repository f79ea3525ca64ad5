// dari: one executable, one subcommand per job (run, chat, serve, bench, inspect, tokenize, ...).
#include <algorithm>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

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
  // llama.cpp's multi-letter short options -ngl and -dev (CLI11 takes one letter after a single
  // dash).
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::string& a : args) {
    for (const auto& [short_name, long_name] :
         {std::pair<std::string, std::string>{"-ngl", "--n-gpu-layers"}, {"-dev", "--device"}}) {
      if (a == short_name) {
        a = long_name;
      } else if (a.rfind(short_name + "=", 0) == 0) {
        a = long_name + a.substr(short_name.size());
      }
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
  if (argc > 0) app.name(argv[0]);         // as parse(argc, argv) would (usage lines)
  try {
    app.parse(args);
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
