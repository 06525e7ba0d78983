#include "cli/commands.hpp"

namespace kvscope::cli {

void add_commands(CLI::App& app) {
  add_info_command(app);
  add_models_command(app);
  add_generate_command(app);
  add_dump_command(app);
  add_analyze_command(app);
  add_compress_command(app);
}

}  // namespace kvscope::cli
