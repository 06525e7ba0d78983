#include "kvscope/analysis/capture_check.hpp"

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::analysis {

std::string_view part_name(KvPart part) {
  switch (part) {
    case KvPart::Key:
      return "key";
    case KvPart::KeyPreRope:
      return "key_pre_rope";
    case KvPart::Value:
      return "value";
  }
  return "unknown";
}

const Tensor& part_tensor(const capture::LayerCapture& layer, KvPart part) {
  switch (part) {
    case KvPart::Key:
      return layer.k;
    case KvPart::KeyPreRope:
      // Without RoPE the pre-RoPE keys are the keys; an engine may skip storing them twice.
      return layer.k_pre_rope.empty() ? layer.k : layer.k_pre_rope;
    case KvPart::Value:
      return layer.v;
  }
  return layer.v;
}

namespace {

std::string who(const capture::Capture& cap) {
  return cap.model_name.empty() ? std::string("capture")
                                : fmt::format("capture '{}'", cap.model_name);
}

void check_shape(const capture::Capture& cap, int l, const char* field, const Tensor& t,
                 const std::vector<int64_t>& want) {
  if (t.shape != want || static_cast<int64_t>(t.data.size()) != shape_numel(want)) {
    Tensor expect;
    expect.shape = want;
    throw BadInput(fmt::format("{}: blocks.{}.attn.{}: shape {} ({} floats), expected {}", who(cap),
                               l, field, t.shape_string(), t.data.size(), expect.shape_string()));
  }
}

}  // namespace

void check_capture(const capture::Capture& cap) {
  if (cap.n_layer < 0 || static_cast<size_t>(cap.n_layer) != cap.layers.size())
    throw BadInput(fmt::format("{}: n_layer {} but {} layers captured", who(cap), cap.n_layer,
                               cap.layers.size()));
  if (cap.n_head <= 0 || cap.n_kv_head <= 0 || cap.n_head % cap.n_kv_head != 0)
    throw BadInput(fmt::format("{}: n_head {} is not a positive multiple of n_kv_head {}", who(cap),
                               cap.n_head, cap.n_kv_head));
  if (cap.head_dim <= 0)
    throw BadInput(fmt::format("{}: head_dim {} is not positive", who(cap), cap.head_dim));
  const int64_t S = cap.seq_len();
  if (!cap.token_strings.empty() && static_cast<int64_t>(cap.token_strings.size()) != S)
    throw BadInput(fmt::format("{}: {} token_strings for {} token_ids", who(cap),
                               cap.token_strings.size(), S));
  const std::vector<int64_t> kv = {cap.n_kv_head, S, cap.head_dim};
  const bool attention = cap.has_attention();
  for (int l = 0; l < cap.n_layer; ++l) {
    const auto& layer = cap.layers[static_cast<size_t>(l)];
    check_shape(cap, l, "k", layer.k, kv);
    check_shape(cap, l, "v", layer.v, kv);
    if (!layer.k_pre_rope.empty()) check_shape(cap, l, "k_pre_rope", layer.k_pre_rope, kv);
    if (attention != !layer.attn.empty())
      throw BadInput(fmt::format("{}: layer {}'s attention summary is {} but layer 0's is {}",
                                 who(cap), l, layer.attn.empty() ? "empty" : "present",
                                 attention ? "present" : "empty"));
    if (attention) {
      const capture::AttentionSummary& a = layer.attn;
      const int64_t P = a.shape.pooled();
      if (a.shape.seq != S || a.shape.heads != cap.n_head)
        throw BadInput(fmt::format("{}: layer {}'s attention summary is of {} heads x {} tokens",
                                   who(cap), l, a.shape.heads, a.shape.seq));
      for (const Tensor* t : {&a.entropy, &a.mean_distance, &a.sink_mass, &a.first_key,
                              &a.max_weight, &a.prev_token, &a.received, &a.last_query})
        check_shape(cap, l, "attention statistic", *t, {cap.n_head, S});
      check_shape(cap, l, "pooled_max", a.pooled_max, {cap.n_head, P, P});
      check_shape(cap, l, "pooled_mean", a.pooled_mean, {cap.n_head, P, P});
    }
    if (!layer.pattern.empty()) {
      const int64_t kept = static_cast<int64_t>(layer.pattern_heads.size());
      check_shape(cap, l, "pattern", layer.pattern, {kept, S, S});
      for (size_t i = 0; i < layer.pattern_heads.size(); ++i)
        if (layer.pattern_heads[i] < 0 || layer.pattern_heads[i] >= cap.n_head ||
            (i > 0 && layer.pattern_heads[i] <= layer.pattern_heads[i - 1]))
          throw BadInput(
              fmt::format("{}: blocks.{}.attn.pattern's heads are not ascending "
                          "heads of the model",
                          who(cap), l));
    }
  }
}

void check_layer_index(const capture::Capture& cap, int layer) {
  if (layer < 0 || layer >= cap.n_layer)
    throw BadInput(fmt::format("{}: layer {} out of range [0, {})", who(cap), layer, cap.n_layer));
}

}  // namespace kvscope::analysis
