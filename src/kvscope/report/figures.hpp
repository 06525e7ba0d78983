// The named figures of a report (file names as in the seed README, so its explanations still
// apply). Each builds one plot::Figure from the capture and its Bundle; report.cpp saves it
// (the extension picks PNG, SVG or PDF) and tests assert on its layout. The list of figures,
// with their guide texts, is figure_table.inc, read through figure_table().
//
// Sizes: every figure is given in figure units (100 to the inch) and saved at 100 dpi, so one
// text size (titles, labels, ticks) holds across the report.
//
// figures_cache.cpp: what the cache holds, layer by layer and head by head.
// figures_tokens.cpp: what each token weighs in the cache, and generation.
#pragma once

#include <span>
#include <string>

#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/plot/figure.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope::report {

// figures_cache.cpp
plot::Figure build_kv_cache_layers(const capture::Capture& cap, const Bundle& b,
                                   const ReportOptions& opt);
plot::Figure build_kv_cache_statistics(const capture::Capture& cap, const Bundle& b,
                                       const ReportOptions& opt);
plot::Figure build_kv_value_distribution(const capture::Capture& cap, const Bundle& b,
                                         const ReportOptions& opt);
plot::Figure build_kv_pca_by_position(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions& opt);
plot::Figure build_head_specialization(const capture::Capture& cap, const Bundle& b,
                                       const ReportOptions& opt);
plot::Figure build_kv_quantization_error(const capture::Capture& cap, const Bundle& b,
                                         const ReportOptions& opt);
plot::Figure build_attention_patterns(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions& opt);
plot::Figure build_kv_cache_details(const capture::Capture& cap, const Bundle& b,
                                    const ReportOptions& opt);

// figures_tokens.cpp
plot::Figure build_low_importance_tokens(const capture::Capture& cap, const Bundle& b,
                                         const ReportOptions& opt);
plot::Figure build_token_importance_comparison(const capture::Capture& cap, const Bundle& b,
                                               const ReportOptions& opt);
plot::Figure build_token_magnitude_distributions(const capture::Capture& cap, const Bundle& b,
                                                 const ReportOptions& opt);
plot::Figure build_token_magnitudes(const capture::Capture& cap, const Bundle& b,
                                    const ReportOptions& opt);
plot::Figure build_token_key_value_scatter(const capture::Capture& cap, const Bundle& b,
                                           const ReportOptions& opt);
// With --generate: generated text, cache growth per step, and each generated token's
// attention over the whole cache.
plot::Figure build_generation(const capture::Capture& cap, const Bundle& b,
                              const capture::GenerationTrace& trace, const ReportOptions& opt);

// ---- The table (figure_table.inc)

struct FigureInput {
  const capture::Capture& cap;
  const Bundle& b;
  const ReportOptions& opt;
  const capture::GenerationTrace* trace;  // null without --generate
};

enum class Needs { always, attention, generation };

// Templates of the four paragraphs of a figure's section in figure_guide.md (guide.cpp).
struct FigureGuide {
  const char* title;
  const char* shows;
  const char* read;
  const char* look_for;
  const char* numbers;
};

struct FigureSpec {
  const char* stem;  // file name without extension
  Needs needs;
  bool heavy;  // one of the slowest to draw: started first
  plot::Figure (*build)(const FigureInput&);
  FigureGuide guide;
  // Whether a report of a capture with (or without) attention and a generation trace has it.
  bool applies(bool has_attention, bool has_generation) const;
};

std::span<const FigureSpec> figure_table();

}  // namespace kvscope::report
