// figure_guide.md: how to read each figure of a report, in kvscope's own words — what a figure
// shows, how to read it, what to look for, and how its numbers are defined.
#pragma once

#include <string>

#include "kvscope/report/bundle.hpp"

namespace kvscope::report {

// Markdown with one "## <file name>" section per figure file the report writes (file names
// carry opt.ext), from figure_table(): the generation section only when with_generation, the
// attention maps only when with_attention.
std::string figure_guide_markdown(const ReportOptions& opt, bool with_generation,
                                  bool with_attention = true);

}  // namespace kvscope::report
