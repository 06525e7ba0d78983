#include "cli/commands.hpp"

namespace kvscope::cli {

void add_commands(CLI::App& app) { (void)app; }

}  // namespace kvscope::cli
