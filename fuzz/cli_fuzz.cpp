// Fuzzes the command line: the real option set of every subcommand (src/cli), parsed by
// CLI11 from arguments made of the input split at NUL bytes, without running a command (the
// subcommands stop when their parse completes). Parsing may only ever end in a CLI11 parse error or
// a kvscope::Error, never a crash or another exception.
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
struct Parsed {};
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

  // The option set is built once (hundreds of options: building it took most of each run);
  // CLI11 clears every parse result when parse() is called again, so each input starts from
  // an unparsed app, as a fresh process does.
  static CLI::App& app = [] -> CLI::App& {
    static CLI::App a{"kvscope"};
    a.require_subcommand(1);
    a.set_version_flag("--version", "kvscope");
    kvscope::cli::add_commands(a);
    // A parsed subcommand stops here, before its callback would run the command. (The
    // callbacks stay in place: the options they own are what CLI11 writes into.)
    for (CLI::App* sub : a.get_subcommands([](CLI::App*) { return true; }))
      sub->parse_complete_callback([] { throw Parsed{}; });
    return a;
  }();
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const Parsed&) {
  } catch (const CLI::ParseError&) {
  } catch (const kvscope::Error&) {
  }
  return 0;
}
