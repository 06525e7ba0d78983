// Methods of the compression lab (kvscope compress): each edits a prefilled cache of C context
// tokens in place, by evicting entries (KvCache::evict: the entry stays, attention gives it
// probability 0, no position moves) or by writing dequantized values over its K and V rows.
// The definitions, with where each comes from, are in README.md ("kvscope compress").
//
// A method is written as parts joined by '+': at most one eviction rule, then quantizers
// (for keys and values, or for one side with a "k:" / "v:" prefix) and "rot":
//   window  streaming_llm  knorm  random  magnitude  h2o  tova  snapkv  keydiff
//   q8_0 q5_1 q5_0 q4_1 q4_0   int{B}-token   int{B}-channel   kivi{B}   (B = 2..8)
//   prerope-int{B}-channel (keys only)   rot (Hadamard rotation before quantizing)   full
// e.g. "streaming_llm+q4_0", "k:q8_0+v:q4_0", "q4_0+rot", "kivi2".
//
// Letters: L layers, H query heads, G KV heads, C context tokens, D head_dim.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/analysis/compress_quant.hpp"
#include "kvscope/model/config.hpp"
#include "kvscope/model/kv_cache.hpp"

namespace kvscope::analysis {

enum class Eviction {
  None,
  Window,
  StreamingLlm,
  Knorm,
  Random,
  Magnitude,
  H2o,
  Tova,
  SnapKv,
  KeyDiff
};

enum class KeyQuant { None, Same, PreRope };  // PreRope: int{B}-channel on keys before RoPE

struct MethodSpec {
  std::string name;  // as written (canonical spelling)
  Eviction eviction = Eviction::None;
  std::optional<QuantConfig> keys;    // quantizer of the keys, if any
  std::optional<QuantConfig> values;  // quantizer of the values, if any
  bool pre_rope_keys = false;         // keys quantized before RoPE (prerope-int{B}-channel)
  bool rotate = false;                // +rot

  bool evicts() const { return eviction != Eviction::None; }
  bool quantizes() const { return keys.has_value() || values.has_value(); }
  // h2o, tova and snapkv read the prefill's attention probabilities.
  bool needs_attention() const {
    return eviction == Eviction::H2o || eviction == Eviction::Tova || eviction == Eviction::SnapKv;
  }
};

// Parses one method; BadInput naming it and listing the known names when it is not one, or
// when it does not fit a model with head_dim D (block formats need D % 32 == 0, rot a power
// of two).
MethodSpec parse_method(std::string_view text, int head_dim);

// The known method names, for messages and --help.
std::string known_methods_text();

// The default grid of kvscope compress: those that fit head_dim D, and the pre-RoPE one
// only for a model with RoPE.
std::vector<std::string> default_methods(int head_dim, bool rope);

// Context tokens an eviction keeps: floor(C * (1 - budget)) for a budget in [0, 1) (the
// share removed, as kvpress's compression_ratio), or the budget itself when >= 1 (a token
// count, which must be whole). BadInput when the result is < 1 or > C, or the budget is
// negative or not finite.
int tokens_kept(double budget, int context);

// What a method may read besides the cache.
struct MethodInputs {
  int context = 0;  // C: positions 0..C-1 of the cache are the context
  int n_head = 0;   // H (query heads; head h reads KV head h / (H / G))
  // [L][H, C, C] attention probabilities of the prefill (rows are queries); needed by h2o,
  // tova and snapkv.
  const std::vector<std::vector<float>>* patterns = nullptr;
  int sinks = 4;      // streaming_llm
  uint64_t seed = 0;  // random (mixed with `window`, layer and head)
  int window = 0;     // which window of the text, for random
  bool rope = false;  // the model applies RoPE (prerope-int{B}-channel)
  model::RopePairing pairing = model::RopePairing::Halves;
  const std::vector<float>* inv_freq = nullptr;  // [D / 2], with RoPE
  // [n_layer] each layer's, when layers differ (Gemma 3's sliding layers); else empty.
  std::vector<const std::vector<float>*> inv_freq_by_layer;
  int only_layer = -1;    // >= 0: compress this layer only (sensitivity)
  int only_kv_head = -1;  // >= 0 (with only_layer): this KV head only
};

struct MethodEffect {
  int64_t cache_bytes = 0;  // bytes of the compressed context cache (fp16 where uncompressed)
  double kept_tokens = 0;   // context tokens kept, averaged over layers and KV heads
};

// Bytes of an uncompressed context cache of C tokens at fp16: 2 * L * G * C * D * 2.
int64_t fp16_cache_bytes(int n_layer, int n_kv_head, int context, int head_dim);

// Applies `m` with n_keep kept tokens (ignored without eviction) to the context of `cache`
// (length >= C; entries at C and beyond are left alone). The cache needs pre-RoPE keys for
// prerope-int{B}-channel and inputs.patterns for h2o, tova and snapkv (BadInput otherwise).
MethodEffect apply_method(const MethodSpec& m, int n_keep, const MethodInputs& inputs,
                          model::KvCache& cache);

// The kept positions (ascending) of one eviction rule for one layer and KV head; exposed for
// tests. n_keep in [1, C].
std::vector<int> eviction_keep_set(Eviction e, int n_keep, const MethodInputs& inputs,
                                   const model::KvCache& cache, int layer, int kv_head);

// Keeps the n_keep highest scores (ties: the earlier position); returns kept positions,
// ascending.
std::vector<int> keep_highest(const std::vector<double>& score, int n_keep);

}  // namespace kvscope::analysis
