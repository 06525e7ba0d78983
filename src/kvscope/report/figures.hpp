// The named figures of a report (file names as in the seed README, so its explanations still
// apply). Each draws one figure from the capture and its Bundle into `path`; the extension
// picks PNG, SVG or PDF, and the file is written atomically.
//
// figures_cache.cpp: what the cache holds, layer by layer and head by head.
// figures_tokens.cpp: what each token weighs in the cache, and generation.
#pragma once

#include <string>

#include "kvscope/capture/capture.hpp"
#include "kvscope/capture/generate.hpp"
#include "kvscope/report/bundle.hpp"

namespace kvscope::report {

// figures_cache.cpp
void draw_kv_cache_layers(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                          const std::string& path);
void draw_kv_cache_statistics(const capture::Capture& cap, const Bundle& b,
                              const ReportOptions& opt, const std::string& path);
void draw_kv_value_distribution(const capture::Capture& cap, const Bundle& b,
                                const ReportOptions& opt, const std::string& path);
void draw_kv_pca_by_position(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                             const std::string& path);
void draw_head_specialization(const capture::Capture& cap, const Bundle& b,
                              const ReportOptions& opt, const std::string& path);
void draw_kv_quantization_error(const capture::Capture& cap, const Bundle& b,
                                const ReportOptions& opt, const std::string& path);
void draw_attention_patterns(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                             const std::string& path);
void draw_kv_cache_details(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                           const std::string& path);

// figures_tokens.cpp
void draw_low_importance_tokens(const capture::Capture& cap, const Bundle& b,
                                const ReportOptions& opt, const std::string& path);
void draw_token_importance_comparison(const capture::Capture& cap, const Bundle& b,
                                      const ReportOptions& opt, const std::string& path);
void draw_token_magnitude_distributions(const capture::Capture& cap, const Bundle& b,
                                        const ReportOptions& opt, const std::string& path);
void draw_token_magnitudes(const capture::Capture& cap, const Bundle& b, const ReportOptions& opt,
                           const std::string& path);
void draw_token_key_value_scatter(const capture::Capture& cap, const Bundle& b,
                                  const ReportOptions& opt, const std::string& path);
// With --generate: generated text, cache growth per step, and each generated token's
// attention over the whole cache.
void draw_generation(const capture::Capture& cap, const Bundle& b,
                     const capture::GenerationTrace& trace, const ReportOptions& opt,
                     const std::string& path);

}  // namespace kvscope::report
