// kvscope: opens the key-value cache of a transformer language model and shows what is in it.
#include <cstdio>
#include <exception>
#include <new>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "kvscope/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"kvscope: open the KV cache of a transformer language model and show what is in it"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kvscope 0.1.0");
  kvscope::cli::add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Absurd or missing options are bad input: one line, exit 2.
    std::fprintf(stderr, "kvscope: %s\n", e.what());
    return 2;
  } catch (const kvscope::BadInput& e) {
    std::fprintf(stderr, "kvscope: error: %s\n", e.what());
    return 2;
  } catch (const kvscope::Unsupported& e) {
    std::fprintf(stderr, "kvscope: unsupported: %s\n", e.what());
    return 2;
  } catch (const kvscope::Error& e) {
    std::fprintf(stderr, "kvscope: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "kvscope: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvscope: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
