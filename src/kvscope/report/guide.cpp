#include "kvscope/report/guide.hpp"

#include <vector>

#include <fmt/format.h>

#include "kvscope/report/figures.hpp"
#include "kvscope/report/labels.hpp"

namespace kvscope::report {

namespace {

std::string sparsity_words(const analysis::SparsityRule& r) {
  switch (r.scale) {
    case analysis::SparsityScale::MaxAbs:
      return fmt::format(
          "the share of entries whose magnitude is below {} times the largest magnitude in that "
          "layer's tensor",
          r.threshold);
    case analysis::SparsityScale::Std:
      return fmt::format(
          "the share of entries whose magnitude is below {} standard deviations of that layer's "
          "tensor",
          r.threshold);
    case analysis::SparsityScale::Absolute:
      return fmt::format("the share of entries whose magnitude is below {} (absolute)",
                         r.threshold);
  }
  return "";
}

}  // namespace

std::string figure_guide_markdown(const ReportOptions& opt, bool with_generation,
                                  bool with_attention) {
  const std::string measure = importance_label(opt.importance);
  const std::string measure_def = importance_definition(opt.importance);
  const char* attn_norm =
      opt.attention_norm == "row"
          ? "each map is divided by its own largest weight, so every map uses the full colour range"
          : "colours follow a square-root (power 0.5) scale on [0, 1], which lifts small weights "
            "out of the dark end without hiding the large ones";
  std::string md = "# How to read the kvscope figures\n\n";
  md +=
      "Each section below belongs to one figure file of this report. Numbers behind every figure "
      "are in "
      "metrics.json (and the CSV tables), under the same names.\n\n";
  for (const FigureSpec& f : figure_table()) {
    if (!f.applies(with_attention, with_generation)) continue;
    auto text = [&](const char* tmpl) {
      return fmt::format(
          fmt::runtime(tmpl), fmt::arg("sparsity", sparsity_words(opt.sparsity)),
          fmt::arg(
              "count_axis",
              opt.log_counts
                  ? "The count axis is logarithmic so that rare, extreme values remain visible."
                  : "The count axis is linear."),
          fmt::arg("bins", opt.histogram_bins), fmt::arg("attention_norm", attn_norm),
          fmt::arg("tokens_listed", opt.tokens_listed), fmt::arg("measure", measure),
          fmt::arg("measure_definition", measure_def),
          fmt::arg("outliers_listed", Bundle::kOutliersListed),
          fmt::arg("outlier_distance", Bundle::kOutlierDistance));
    };
    md += fmt::format("## {}.{}: {}\n\n", f.stem, opt.ext, f.guide.title);
    md += fmt::format("**What it shows.** {}\n\n", text(f.guide.shows));
    md += fmt::format("**How to read it.** {}\n\n", text(f.guide.read));
    md += fmt::format("**What to look for.** {}\n\n", text(f.guide.look_for));
    md += fmt::format("**Numbers.** {}\n\n", text(f.guide.numbers));
  }
  return md;
}

}  // namespace kvscope::report
