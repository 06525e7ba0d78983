// Parallel loops for analyses that may run side by side. report::build_bundle runs independent
// analyses as OpenMP tasks of one parallel region; a loop inside one of them then hands its
// items to that region's threads as tasks (a nested parallel region would get one thread).
// Called on its own, the loop opens a parallel region of its own.
//
// Exceptions never cross an OpenMP region: the first one thrown by an item is kept and
// rethrown once every item has finished.
#pragma once

#include <omp.h>

#include <cstdint>
#include <exception>

namespace kvscope::analysis {

// Runs body(i) for i in [0, n), the items in any order and possibly at once; in parallel only
// when `worth` (see worth_threads) or when already inside a parallel region.
template <typename Body>
void parallel_for(int64_t n, bool worth, const Body& body) {
  if (n <= 0) return;
  std::exception_ptr error;
  auto run = [&](int64_t i) {
    try {
      body(i);
    } catch (...) {
#pragma omp critical(kvscope_analysis_parallel_error)
      if (!error) error = std::current_exception();
    }
  };
  if (omp_in_parallel()) {
    // The taskloop's implicit taskgroup waits for every item; while it waits, this thread
    // runs other tasks (of this loop or of another analysis).
    // (An unsigned index: clang's taskloop compares it with an unsigned count and warns.)
    const auto count = static_cast<uint64_t>(n);
#pragma omp taskloop grainsize(1) shared(run)
    for (uint64_t i = 0; i < count; ++i) run(static_cast<int64_t>(i));
  } else {
#pragma omp parallel for schedule(dynamic) if (worth && n > 1)
    for (int64_t i = 0; i < n; ++i) run(i);
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace kvscope::analysis
