// kvscope subcommands. Each lives in its own cmd_*.cpp and adds itself to the app; the
// callback it installs does the work and may throw kvscope errors, which main() turns into
// one line on stderr and an exit code.
#pragma once

#include <CLI/CLI.hpp>

namespace kvscope::cli {

// Adds every subcommand (commands.cpp lists them).
void add_commands(CLI::App& app);

void add_info_command(CLI::App& app);
void add_models_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_dump_command(CLI::App& app);
void add_analyze_command(CLI::App& app);
void add_compress_command(CLI::App& app);

}  // namespace kvscope::cli
