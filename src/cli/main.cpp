// kvscope: opens the key-value cache of a transformer language model and shows what is in it.
#include <pthread.h>
#include <unistd.h>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <thread>

#include <cblas.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "kvscope/atomic_file.hpp"
#include "kvscope/error.hpp"
#include "kvscope/printable.hpp"

namespace {

// One line on stderr: paths, names and values copied into a message cannot split it or send
// control characters to the terminal, and a value of megabytes copied from a file is cut.
void report(const char* kind, const char* message) {
  constexpr size_t kMaxMessage = 4000;
  std::string line = kvscope::one_line(message);
  if (line.size() > kMaxMessage) {
    size_t cut = kMaxMessage;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xc0) == 0x80) --cut;
    line = line.substr(0, cut) + "...";
  }
  std::fprintf(stderr, "kvscope: %s%s\n", kind, line.c_str());
}

// Settings that the runtime libraries read once, at start-up, so they are set here and the
// program started again with them (once: KVSCOPE_NO_REEXEC marks the second start). Each is
// left alone when the user has set it.
// - OpenMP threads that spin while they wait make every parallel region cost a scheduler time
//   slice when the cores are shared with other work (measured: decode 0.5 vs 11 tokens/s on a
//   loaded 2-core machine): OMP_WAIT_POLICY=passive.
// - Weights, caches and attention patterns are hundreds of MB; faulting them in 4 KiB pages
//   cost ~0.6 s of system time when loading the default model. glibc's malloc asks for
//   transparent huge pages for its large blocks with glibc.malloc.hugetlb=1 (measured: 0.15 s).
// - OpenBLAS picks its kernels when it loads, from the CPUs it knows: Debian's 0.3.21 does
//   not know recent Intel Xeons and falls back to its SSE3 kernels ("Prescott"), 3x slower
//   (prefill 250 against 817 tokens/s on the default model with SkylakeX kernels). When the
//   core it chose is such a fallback on a CPU with AVX2, OPENBLAS_CORETYPE names the best core
//   the CPU supports. `kvscope info` and the benchmarks print the core that runs.
const char* better_openblas_core() {
  const std::string_view chosen = openblas_get_corename();
  for (std::string_view fallback :
       {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "katmai", "coppermine",
        "northwood", "banias", "sandybridge", "unknown"}) {
    if (chosen.size() != fallback.size()) continue;
    bool same = true;
    for (size_t i = 0; i < chosen.size(); ++i)
      same = same && std::tolower(static_cast<unsigned char>(chosen[i])) == fallback[i];
    if (!same) continue;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
      return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return nullptr;
  }
  return nullptr;
}

void restart_with_runtime_settings(char** argv) {
  if (std::getenv("KVSCOPE_NO_REEXEC") != nullptr) return;
  bool changed = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    changed = true;
  }
  if (std::getenv("GLIBC_TUNABLES") == nullptr) {
    ::setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
    changed = true;
  }
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
    if (const char* core = better_openblas_core()) {
      ::setenv("OPENBLAS_CORETYPE", core, 1);
      changed = true;
    }
  }
  if (!changed) return;
  ::setenv("KVSCOPE_NO_REEXEC", "1", 1);
  ::execv("/proc/self/exe", argv);
  // If that failed we simply go on with the runtimes' defaults.
}

// SIGINT and SIGTERM end the program only after the temporary files and folders of the run
// are removed: the signals are blocked in every thread (threads started later inherit the
// mask) and one thread waits for them, removes the temporaries, and lets the signal end the
// process as it would have (exit status 128 + signal in a shell). Only signals, so a library
// call that is interrupted never sees EINTR.
void remove_temporaries_on_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    // A signal ignored by whoever started us (nohup, a background job) stays ignored.
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_IGN) sigaddset(&set, sig);
  }
  if (sigisemptyset(&set)) return;
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return;
  std::thread([set] {
    int sig = 0;
    while (::sigwait(&set, &sig) != 0) {
    }
    kvscope::remove_all_temporaries();
    std::signal(sig, SIG_DFL);
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(sig);
  }).detach();
}

}  // namespace

int main(int argc, char** argv) {
  restart_with_runtime_settings(argv);
  remove_temporaries_on_signals();
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
    report("", e.what());
    return 2;
  } catch (const kvscope::BadInput& e) {
    report("error: ", e.what());
    return 2;
  } catch (const kvscope::Unsupported& e) {
    report("unsupported: ", e.what());
    return 2;
  } catch (const kvscope::Error& e) {
    report("error: ", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "kvscope: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    report("internal error: ", e.what());
    return 1;
  }
  return 0;
}
