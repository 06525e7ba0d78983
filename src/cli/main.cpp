// kvscope: opens the key-value cache of a transformer language model and shows what is in it.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "kvscope/error.hpp"

namespace {

// OpenMP threads that spin while they wait make every parallel region cost a scheduler time
// slice when the cores are shared with other work (measured: decode 0.5 vs 11 tokens/s on a
// loaded 2-core machine). The runtime reads OMP_WAIT_POLICY once, when it is loaded, so when
// the user has not chosen a policy we choose "passive" and start again with it set.
void prefer_passive_openmp_waits(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("KVSCOPE_NO_REEXEC") != nullptr)
    return;
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::setenv("KVSCOPE_NO_REEXEC", "1", 1);
  ::execv("/proc/self/exe", argv);
  // If that failed we simply go on with the runtime's default policy.
}

}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp_waits(argv);
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
