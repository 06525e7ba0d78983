// Fuzzes the command line: the real option set of every subcommand (src/cli), parsed by
// CLI11 from arguments made of the input split at NUL bytes, without running a command (the
// subcommands' callbacks are removed). Parsing may only ever end in a CLI11 parse error or a
// kvscope::Error, never a crash; a successful parse must have picked exactly one subcommand,
// as main() requires.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "kvscope/error.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  std::vector<std::string> args = {"kvscope"};
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty() && args.size() < 64) {
    const size_t nul = in.find('\0');
    args.emplace_back(in.substr(0, nul));
    in = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());

  CLI::App app{"kvscope"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kvscope");
  kvscope::cli::add_commands(app);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    sub->callback(std::function<void()>());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
    check(app.get_subcommands().size() == 1);
  } catch (const CLI::ParseError&) {
  } catch (const kvscope::Error&) {
  }
  return 0;
}
