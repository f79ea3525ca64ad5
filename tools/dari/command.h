// Subcommand registry of the `dari` executable.
//
// Each tools/dari/cmd_*.cpp file registers its subcommand with DARI_COMMAND at static
// initialisation; main() builds the CLI11 app from the registry. Commands hold only argument
// handling and output: the work belongs to the libraries.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace dari::cli {

struct Command {
  std::string name;
  std::string help;
  // Adds options to `sub` and returns the function to run after parsing (exit code).
  std::function<std::function<int()>(CLI::App& sub)> setup;
};

std::vector<Command>& command_registry();

struct CommandRegistrar {
  explicit CommandRegistrar(Command c) { command_registry().push_back(std::move(c)); }
};

}  // namespace dari::cli

#define DARI_COMMAND_CONCAT_INNER_(a, b) a##b
#define DARI_COMMAND_CONCAT_(a, b) DARI_COMMAND_CONCAT_INNER_(a, b)
#define DARI_COMMAND(name, help, setup_fn)                                               \
  static ::dari::cli::CommandRegistrar DARI_COMMAND_CONCAT_(dari_cmd_reg_, __LINE__)( \
      ::dari::cli::Command{name, help, setup_fn})
