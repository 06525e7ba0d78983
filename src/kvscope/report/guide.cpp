#include "kvscope/report/guide.hpp"

#include <vector>

#include <fmt/format.h>

#include "kvscope/report/token_selection.hpp"

namespace kvscope::report {

namespace {

struct Section {
  std::string file;  // without extension
  std::string title;
  std::string shows;
  std::string read;
  std::string look_for;
  std::string numbers;
};

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

std::string figure_guide_markdown(const ReportOptions& opt, bool with_generation) {
  const std::string measure = importance_label(opt.importance);
  const std::string measure_def = importance_definition(opt.importance);
  const char* attn_norm =
      opt.attention_norm == "row"
          ? "each map is divided by its own largest weight, so every map uses the full colour range"
          : "colours follow a square-root (power 0.5) scale on [0, 1], which lifts small weights "
            "out of the dark end without hiding the large ones";
  std::vector<Section> s = {
      {"kv_cache_layers", "Keys and values of every layer",
       "One heatmap per layer for keys and one for values: rows are token positions, columns are "
       "the cached channels "
       "(key/value heads side by side). Colour is the signed value on a scale centred at zero.",
       "Read a row as one token's cached vector and a column as one channel across the prompt. "
       "Compare layers from top "
       "to bottom of the model.",
       "Vertical stripes are channels that are large for every token (outlier channels, which hurt "
       "per-tensor "
       "quantization); horizontal stripes are tokens that stand out (often the first token, an "
       "attention sink). "
       "Later layers usually have larger and more uneven keys than early ones.",
       "Entries are the fp32 activations as they sit in the cache; keys are taken after the rotary "
       "embedding when "
       "the model uses one."},
      {"kv_cache_statistics", "Per-layer statistics",
       "Line charts across layers of sparsity, key-value correlation, standard deviation and mean "
       "absolute value, "
       "for keys and values.",
       "Each point summarises all entries (heads x tokens x channels) of one layer's K or V.",
       "A layer whose spread jumps compared with its neighbours; keys and values behaving "
       "differently; high "
       "sparsity (many near-zero entries) that pruning could exploit.",
       fmt::format("Sparsity is {}. Standard deviation is the population value (divides by the "
                   "count). Key-value "
                   "correlation is Pearson's r between K and V taken entry by entry. Kurtosis (in "
                   "metrics.json) is "
                   "the excess kurtosis m4/m2² − 3: 0 for a Gaussian, large when a few entries are "
                   "outliers.",
                   sparsity_words(opt.sparsity))},
      {"kv_value_distribution", "Distribution of cached values",
       "Histograms of every key entry and every value entry of all layers, with per-layer curves "
       "on shared bins.",
       opt.log_counts ? "The count axis is logarithmic so that rare, extreme values remain visible."
                      : "The count axis is linear.",
       "Heavy tails and isolated far-out bins: these set the range a quantizer must cover. Keys "
       "often have wider "
       "tails than values.",
       fmt::format("{} equal-width bins over the overall minimum to maximum; the last bin includes "
                   "its right edge. "
                   "Percentiles (0.1, 1, 50, 99, 99.9) interpolate linearly between sorted values.",
                   opt.histogram_bins)},
      {"kv_pca_by_position", "Principal components by position",
       "For a few layers, every token's key (and value) vector projected on the two directions of "
       "largest variance, "
       "coloured by position in the prompt.",
       "Nearby points are tokens whose cached vectors are similar. The axis titles give the share "
       "of variance each "
       "component explains.",
       "A smooth colour gradient means position dominates the vectors (common for keys with rotary "
       "embeddings); a "
       "lone far point is usually the first token; clusters by colour suggest segments of the "
       "prompt.",
       "Vectors are a token's key/value heads concatenated and centred over tokens. Explained "
       "variance ratio = "
       "variance along the component / total variance."},
      {"head_specialization", "How the heads of one layer differ",
       "For the chosen layer: per-head key and value norms by token, attention entropy, mean "
       "attention distance, "
       "the share of attention on the first token, and a head-by-head similarity matrix.",
       "Each bar or row belongs to one query head; under grouped-query attention several query "
       "heads share one "
       "key/value head.",
       "Low-entropy heads attend sharply (often to the previous token or the first token); heads "
       "with long mean "
       "distance look far back; pairs with similarity near 1 are redundant and candidates for "
       "sharing or pruning.",
       "Entropy in nats: −Σ p ln p over the keys a query can see, averaged over queries. Mean "
       "distance in tokens: "
       "Σ p_ij (i − j), averaged over queries i. Sink share: attention on token 0, averaged over "
       "queries. "
       "Similarity: cosine of the heads' attention patterns (or of their mean key vectors without "
       "attention)."},
      {"kv_quantization_error", "What fewer bits would cost",
       "Relative error of keys and values after quantizing to 8, 4, 3 and 2 bits and back, per "
       "layer, for three "
       "groupings: one scale per tensor, per token, or per channel.",
       "Lower is better; the vertical axis is logarithmic. Compare groupings at the same bit "
       "width.",
       "Keys usually prefer per-channel scales (their outliers live in a few channels) and values "
       "per-token scales. "
       "Layers where 4 bits already costs much are the ones to keep at higher precision.",
       "Uniform asymmetric min-max quantization with round-to-nearest: scale = (max − min)/(2^bits "
       "− 1). Relative "
       "error = ‖x − x′‖² / ‖x‖² over the layer's tensor."},
      {"attention_patterns", "Attention maps",
       "Attention weights of the selected layers and heads: rows are query tokens, columns the key "
       "tokens they read.",
       fmt::format("Only the lower triangle is filled (a token cannot see later ones); {}.",
                   attn_norm),
       "A bright first column is an attention sink; a bright diagonal just below the main one is a "
       "previous-token "
       "head; vertical lines mark tokens many queries read (punctuation, separators); a uniform "
       "wash is a head that "
       "averages.",
       "Weights are softmax probabilities: each row sums to 1."},
      {"kv_cache_details", "One head's keys and values",
       "The key and value vectors of the chosen layer and head for every token, as heatmaps with "
       "token labels.",
       "Rows are tokens, columns are the head's channels.",
       "Channels that are large for all tokens; tokens whose whole vector is large; differences "
       "between the key "
       "and the value view of the same token.",
       "Raw cached values, signed, on a scale centred at zero."},
      {"low_importance_tokens", "The least important tokens",
       fmt::format("The {} tokens with the smallest {}, as horizontal bars with each token's text "
                   "and position.",
                   opt.tokens_listed, measure),
       "The lowest score is at the top. Bars are in the units of the measure.",
       "These are the first candidates for eviction or coarser storage. A low score from norms "
       "alone does not prove "
       "a token is unused: check attention received too.",
       "Importance: " + measure_def + "."},
      {"token_importance_comparison", "Most against least important tokens",
       "The highest-scoring and the lowest-scoring tokens side by side on the same horizontal "
       "scale.",
       "Because both panels share the scale, the gap between them shows how uneven the cache is.",
       "A few tokens far above the rest (the first token, punctuation, newlines) are typical of "
       "trained models; a "
       "narrow range means no token stands out and eviction by this measure is a weak signal.",
       "Importance: " + measure_def + ". Ties go to the earlier position."},
      {"token_magnitude_distributions", "Magnitudes by kind of token",
       "Box plots of key and value magnitudes for each token category, with every token drawn as a "
       "point; n is the "
       "number of tokens in the category.",
       "The box spans the middle half of the tokens (quartiles) with the median as a line; "
       "whiskers reach 1.5 "
       "box-lengths. Categories without tokens are left out and named above the panels.",
       "Categories whose magnitudes differ consistently (for example punctuation or special tokens "
       "above words) "
       "could be given their own precision or eviction rule.",
       "Categories are decided by rules applied in order (special, whitespace, number, "
       "punctuation, stop word, "
       "word start, word continuation); metrics.json lists the rules and the stop words. "
       "Magnitude: L2 norm of the "
       "token's vector in one layer and key/value head, averaged over all of them."},
      {"token_magnitudes", "Magnitudes along the prompt",
       "Each token's key magnitude (top) and value magnitude (bottom) against its position, with "
       "the mean as a "
       "dashed line and the largest tokens labelled.",
       "Token texts label the position axis when they fit; otherwise every k-th is shown.",
       "A spike at position 0 (a sink), spikes on punctuation and newlines, and drifts along the "
       "prompt that a "
       "position-based eviction policy would have to respect.",
       "Magnitude: L2 norm of the token's vector in one layer and key/value head, averaged over "
       "all of them."},
      {"token_key_value_scatter", "Tokens in key-value space",
       "Every token as a point at (key magnitude, value magnitude), coloured by category.",
       "Points on a diagonal trend have keys and values that grow together; labelled points are "
       "outliers.",
       "Clusters by category, and outliers that would need special handling by a compression "
       "scheme.",
       "An outlier lies more than 3 robust deviations from the median point: each axis is divided "
       "by its median "
       "absolute deviation and the distance is Euclidean; at most 12 are labelled, furthest "
       "first."},
  };
  if (with_generation)
    s.push_back({"generation", "Generating with the cache",
                 "The generated text, the cache's size after each generated token (all layers, and "
                 "one layer), and each "
                 "generated token's attention over the whole cache (mean over all layers and "
                 "heads, then for one layer).",
                 "In the heatmaps rows are generated tokens in order and columns are cache "
                 "positions; a vertical line marks "
                 "the end of the prompt, and cells to the right of a row's cache length are empty.",
                 "The cache grows by the same number of bytes per token; attention that stays on a "
                 "few prompt tokens (a "
                 "sink, the question) suggests which entries an eviction policy must keep; "
                 "attention to recent generated "
                 "tokens shows a local window.",
                 "Cache bytes = 2 (K and V) × layers × key/value heads × tokens × head dim × 4 "
                 "(fp32). Attention colours use "
                 "a square-root scale."});

  std::string md = "# How to read the kvscope figures\n\n";
  md +=
      "Each section below belongs to one figure file of this report. Numbers behind every figure "
      "are in "
      "metrics.json (and the CSV tables), under the same names.\n\n";
  for (const Section& x : s) {
    md += fmt::format("## {}.{}: {}\n\n", x.file, opt.ext, x.title);
    md += fmt::format("**What it shows.** {}\n\n", x.shows);
    md += fmt::format("**How to read it.** {}\n\n", x.read);
    md += fmt::format("**What to look for.** {}\n\n", x.look_for);
    md += fmt::format("**Numbers.** {}\n\n", x.numbers);
  }
  return md;
}

}  // namespace kvscope::report
