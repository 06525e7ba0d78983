#include "kvscope/report/bundle.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <exception>

#include "kvscope/analysis/cache_size.hpp"
#include "kvscope/error.hpp"

namespace kvscope::report {

namespace {

std::vector<int> resolve_indices(const std::vector<int>& asked, int n, const char* what) {
  std::vector<int> out;
  if (asked.empty()) {
    for (int i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  // Each index at most once: a repeated one would draw the same panel again (460 times over,
  // a figure of hundreds of megabytes).
  std::vector<bool> seen(static_cast<size_t>(std::max(n, 0)), false);
  for (int i : asked) {
    if (i < 0 || i >= n)
      throw BadInput(
          fmt::format("{} {} is out of range (the model has {}: 0..{})", what, i, n, n - 1));
    if (seen[static_cast<size_t>(i)])
      throw BadInput(fmt::format("{} {} is given more than once", what, i));
    seen[static_cast<size_t>(i)] = true;
    out.push_back(i);
  }
  return out;
}

}  // namespace

void validate_options(const ReportOptions& opt, int n_layer, int n_head) {
  if (opt.ext != "png" && opt.ext != "svg" && opt.ext != "pdf")
    throw BadInput(fmt::format("ext {}: expected png, svg or pdf", opt.ext));
  if (opt.layer < -1 || opt.layer >= n_layer)
    throw BadInput(fmt::format("layer {} is out of range (the model has {} layers: 0..{})",
                               opt.layer, n_layer, n_layer - 1));
  if (opt.head < 0 || opt.head >= n_head)
    throw BadInput(fmt::format("head {} is out of range (the model has {} heads: 0..{})", opt.head,
                               n_head, n_head - 1));
  resolve_indices(opt.attn_layers, n_layer, "attn_layers entry");
  resolve_indices(opt.attn_heads, n_head, "attn_heads entry");
  resolve_indices(opt.pca_layers, n_layer, "pca_layers entry");
  if (opt.histogram_bins < 2 || opt.histogram_bins > 10000)
    throw BadInput(fmt::format("histogram_bins {} is out of range (2..10000)", opt.histogram_bins));
  if (opt.tokens_listed < 1 || opt.tokens_listed > 200)
    throw BadInput(fmt::format("tokens_listed {} is out of range (1..200)", opt.tokens_listed));
  if (opt.attention_norm != "row" && opt.attention_norm != "power")
    throw BadInput(fmt::format("attention_norm {}: expected row or power", opt.attention_norm));
  if (opt.html_maps != "auto" && opt.html_maps != "exact" && opt.html_maps != "pooled")
    throw BadInput(fmt::format("html_maps {}: expected auto, exact or pooled", opt.html_maps));
}

Bundle build_bundle(const capture::Capture& cap, const ReportOptions& opt,
                    std::span<const int32_t> special_ids, const capture::GenerationTrace* trace) {
  analysis::check_capture(cap);
  validate_options(opt, cap.n_layer, cap.n_head);
  if (opt.importance.measure == analysis::ImportanceMeasure::AttentionReceived &&
      !cap.has_attention())
    throw BadInput("importance attention needs the attention patterns, which were not captured");
  Bundle b;
  const int L = cap.n_layer;
  b.layer = opt.layer >= 0 ? opt.layer : L / 2;
  b.head = opt.head;
  b.attn_layers = resolve_indices(opt.attn_layers, L, "attn_layers entry");
  b.attn_heads = resolve_indices(opt.attn_heads, cap.n_head, "attn_heads entry");
  b.pca_layers = opt.pca_layers.empty() ? std::vector<int>{0, L / 2, L - 1} : opt.pca_layers;
  if (L < 3) b.pca_layers = resolve_indices({}, L, "");

  // The analyses are independent: each runs as a task of one parallel region, and the loops
  // inside them (analysis::parallel_for) add their items to the same threads as tasks. A
  // failure is kept per job, and the first in the order they used to run one after another is
  // rethrown once all have finished, so the error does not depend on timing.
  const size_t P = b.pca_layers.size();
  b.pca_keys.resize(P);
  b.pca_values.resize(P);
  const size_t kStats = 0, kDistribution = 1, kPca = 2, kHeads = kPca + 2 * P, kQuant = kHeads + 1,
               kTokens = kHeads + 2;
  std::vector<std::exception_ptr> errors(kTokens + 1);
  auto guarded = [&errors](size_t job, const auto& fn) {
    try {
      fn();
    } catch (...) {
      errors[job] = std::current_exception();
    }
  };
#pragma omp parallel if (analysis::worth_threads(cap))
#pragma omp single
  {
    // Longest first, so that the short ones fill in around them.
#pragma omp task
    guarded(kDistribution,
            [&] { b.distribution = analysis::value_distribution(cap, opt.histogram_bins); });
#pragma omp task
    guarded(kQuant, [&] { b.quant = analysis::quantization_errors(cap); });
    for (size_t i = 0; i < 2 * P; ++i) {
#pragma omp task firstprivate(i)
      guarded(kPca + i, [&] {
        const int l = b.pca_layers[i / 2];
        if (i % 2 == 0)
          b.pca_keys[i / 2] = analysis::pca_by_position(cap, l, analysis::KvPart::Key);
        else
          b.pca_values[i / 2] = analysis::pca_by_position(cap, l, analysis::KvPart::Value);
      });
    }
#pragma omp task
    guarded(kHeads, [&] { b.heads = analysis::head_specialization(cap, b.layer); });
#pragma omp task
    guarded(kStats, [&] { b.stats = analysis::layer_stats(cap, {.sparsity = opt.sparsity}); });
#pragma omp task
    guarded(kTokens, [&] {
      b.magnitudes = analysis::token_magnitudes(cap);
      b.importance = analysis::token_importance(cap, opt.importance);
      b.ranking = analysis::rank_tokens(b.importance, cap.token_strings, opt.tokens_listed);
      b.categories = analysis::classify_tokens(cap, special_ids);
      b.category_groups = analysis::group_by_category(b.categories, b.magnitudes);
      const int k_label = std::clamp(cap.seq_len() / 12, 3, 8);
      b.largest_key_tokens = analysis::largest_tokens(b.magnitudes.key, k_label);
      b.largest_value_tokens = analysis::largest_tokens(b.magnitudes.value, k_label);
      b.kv_outliers = analysis::outlier_tokens(b.magnitudes.key, b.magnitudes.value,
                                               Bundle::kOutliersListed, Bundle::kOutlierDistance);
    });
  }
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  if (trace) {
    b.cache_bytes_per_step =
        analysis::kv_cache_bytes_per_step(cap.n_layer, cap.n_kv_head, cap.head_dim, cap.seq_len(),
                                          static_cast<int64_t>(trace->steps.size()));
    if (!cap.windows.empty())
      for (size_t t = 0; t <= trace->steps.size(); ++t)
        b.model_cache_bytes_per_step.push_back(analysis::kv_cache_bytes_windowed(
            cap.windows, cap.n_kv_head, cap.seq_len() + static_cast<int64_t>(t), cap.head_dim));
    b.generation_attention =
        analysis::generation_attention(*trace, cap.n_layer, cap.n_head, b.layer);
  }
  return b;
}

}  // namespace kvscope::report
