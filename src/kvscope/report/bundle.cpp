#include "kvscope/report/bundle.hpp"

#include <fmt/format.h>

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
  for (int i : asked) {
    if (i < 0 || i >= n)
      throw BadInput(
          fmt::format("{} {} is out of range (the model has {}: 0..{})", what, i, n, n - 1));
    out.push_back(i);
  }
  return out;
}

}  // namespace

void validate_options(const ReportOptions& opt, int n_layer, int n_head) {
  if (opt.ext != "png" && opt.ext != "svg" && opt.ext != "pdf")
    throw BadInput(fmt::format("--format {}: expected png, svg or pdf", opt.ext));
  if (opt.layer < -1 || opt.layer >= n_layer)
    throw BadInput(fmt::format("--layer {} is out of range (the model has {} layers: 0..{})",
                               opt.layer, n_layer, n_layer - 1));
  if (opt.head < 0 || opt.head >= n_head)
    throw BadInput(fmt::format("--head {} is out of range (the model has {} heads: 0..{})",
                               opt.head, n_head, n_head - 1));
  resolve_indices(opt.attn_layers, n_layer, "--layers entry");
  resolve_indices(opt.attn_heads, n_head, "--heads entry");
  resolve_indices(opt.pca_layers, n_layer, "--pca-layers entry");
  if (opt.histogram_bins < 2 || opt.histogram_bins > 10000)
    throw BadInput(fmt::format("--bins {} is out of range (2..10000)", opt.histogram_bins));
  if (opt.tokens_listed < 1 || opt.tokens_listed > 200)
    throw BadInput(fmt::format("--tokens-listed {} is out of range (1..200)", opt.tokens_listed));
  if (opt.attention_norm != "row" && opt.attention_norm != "power")
    throw BadInput(fmt::format("--attention-norm {}: expected row or power", opt.attention_norm));
}

Bundle build_bundle(const capture::Capture& cap, const ReportOptions& opt,
                    std::span<const int32_t> special_ids, const capture::GenerationTrace* trace) {
  analysis::check_capture(cap);
  validate_options(opt, cap.n_layer, cap.n_head);
  if (opt.importance.measure == analysis::ImportanceMeasure::AttentionReceived &&
      !cap.has_attention())
    throw BadInput("--importance attention needs the attention patterns, which were not captured");
  Bundle b;
  const int L = cap.n_layer;
  b.layer = opt.layer >= 0 ? opt.layer : L / 2;
  b.head = opt.head;
  b.attn_layers = resolve_indices(opt.attn_layers, L, "--layers entry");
  b.attn_heads = resolve_indices(opt.attn_heads, cap.n_head, "--heads entry");
  b.pca_layers = opt.pca_layers.empty() ? std::vector<int>{0, L / 2, L - 1} : opt.pca_layers;
  if (L < 3) b.pca_layers = resolve_indices({}, L, "");
  b.stats = analysis::layer_stats(cap, {.sparsity = opt.sparsity});
  b.distribution = analysis::value_distribution(cap, opt.histogram_bins);
  for (int l : b.pca_layers) {
    b.pca_keys.push_back(analysis::pca_by_position(cap, l, analysis::KvPart::Key));
    b.pca_values.push_back(analysis::pca_by_position(cap, l, analysis::KvPart::Value));
  }
  b.heads = analysis::head_specialization(cap, b.layer);
  b.quant = analysis::quantization_errors(cap);
  b.magnitudes = analysis::token_magnitudes(cap);
  b.importance = analysis::token_importance(cap, opt.importance);
  b.ranking = analysis::rank_tokens(b.importance, cap.token_strings, opt.tokens_listed);
  b.categories = analysis::classify_tokens(cap, special_ids);
  b.category_groups = analysis::group_by_category(b.categories, b.magnitudes);
  if (trace)
    b.cache_bytes_per_step =
        analysis::kv_cache_bytes_per_step(cap.n_layer, cap.n_kv_head, cap.head_dim, cap.seq_len(),
                                          static_cast<int64_t>(trace->steps.size()));
  return b;
}

}  // namespace kvscope::report
