#include "kvscope/report/labels.hpp"

#include <fmt/format.h>

#include "kvscope/tokenizer/utf8.hpp"

namespace kvscope::report {

std::string visible_text(std::string_view text) {
  return text.empty() ? "∅" : tokenizer::visible_label(text);
}

std::string token_label(const capture::Capture& cap, int i) {
  if (i >= 0 && static_cast<size_t>(i) < cap.token_strings.size()) {
    const std::string& s = cap.token_strings[static_cast<size_t>(i)];
    return s.empty() ? "∅" : s;  // already a tokenizer::visible_label
  }
  return fmt::format("#{}", i);
}

std::vector<std::string> token_labels(const capture::Capture& cap) {
  std::vector<std::string> out;
  for (int i = 0; i < cap.seq_len(); ++i) out.push_back(token_label(cap, i));
  return out;
}

std::string token_with_position(const capture::Capture& cap, int i) {
  return fmt::format("'{}' @{}", token_label(cap, i), i);
}

std::string importance_label(const analysis::ImportanceOptions& opt) {
  switch (opt.measure) {
    case analysis::ImportanceMeasure::KeyNorm:
      return "key norm ‖k‖₂";
    case analysis::ImportanceMeasure::ValueNorm:
      return "value norm ‖v‖₂";
    case analysis::ImportanceMeasure::KeyValueNorm:
      return "key + value norm ‖k‖₂ + ‖v‖₂";
    case analysis::ImportanceMeasure::AttentionReceived:
      return opt.per_visible_query ? "attention received per visible query" : "attention received";
  }
  return "importance";
}

std::string importance_definition(const analysis::ImportanceOptions& opt) {
  const char* keys =
      opt.key_part == analysis::KvPart::KeyPreRope ? "keys before RoPE" : "keys as cached";
  switch (opt.measure) {
    case analysis::ImportanceMeasure::KeyNorm:
      return fmt::format(
          "L2 norm of the token's key vector ({}), averaged over all layers and key/value heads; "
          "units of the cached activations",
          keys);
    case analysis::ImportanceMeasure::ValueNorm:
      return "L2 norm of the token's value vector, averaged over all layers and key/value heads; "
             "units of the "
             "cached activations";
    case analysis::ImportanceMeasure::KeyValueNorm:
      return fmt::format(
          "L2 norm of the token's key vector ({}) plus that of its value vector, each averaged "
          "over all layers "
          "and key/value heads; units of the cached activations",
          keys);
    case analysis::ImportanceMeasure::AttentionReceived:
      return opt.per_visible_query ? "attention probability the token receives, summed over "
                                     "layers, query heads and the query "
                                     "positions that can see it, divided by their number (S - j "
                                     "for token j); dimensionless"
                                   : "attention probability the token receives, summed over "
                                     "layers, query heads and the query "
                                     "positions that can see it; dimensionless (at most layers x "
                                     "heads x visible queries)";
  }
  return "";
}

}  // namespace kvscope::report
