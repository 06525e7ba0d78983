#include "kvscope/report/token_selection.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::report {

namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t n = v.size();
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2), v.end());
  double hi = v[n / 2];
  if (n % 2 == 1) return hi;
  double lo = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(n / 2));
  return 0.5 * (lo + hi);
}

// Length of a valid UTF-8 sequence starting at s[i], or 0 when the bytes there are not one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t j = 1; j < n; ++j)
    if ((static_cast<unsigned char>(s[i + j]) & 0xC0) != 0x80) return 0;
  return n;
}

}  // namespace

std::vector<int> largest_tokens(std::span<const double> x, int k) {
  std::vector<int> idx;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i])) idx.push_back(static_cast<int>(i));
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return x[a] > x[b]; });
  if (k < 0) k = 0;
  if (idx.size() > static_cast<size_t>(k)) idx.resize(static_cast<size_t>(k));
  return idx;
}

std::vector<int> outlier_tokens(std::span<const double> x, std::span<const double> y, int k,
                                double min_distance) {
  if (x.size() != y.size())
    throw BadInput(fmt::format("outlier_tokens: {} x values for {} y values", x.size(), y.size()));
  std::vector<double> fx, fy;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      fx.push_back(x[i]);
      fy.push_back(y[i]);
    }
  const double mx = median_of(fx), my = median_of(fy);
  std::vector<double> dx, dy;
  for (double v : fx) dx.push_back(std::fabs(v - mx));
  for (double v : fy) dy.push_back(std::fabs(v - my));
  double sx = median_of(dx), sy = median_of(dy);
  if (!(sx > 0)) sx = 1;
  if (!(sy > 0)) sy = 1;
  std::vector<double> dist(x.size(), -1);
  std::vector<int> idx;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
    dist[i] = std::hypot((x[i] - mx) / sx, (y[i] - my) / sy);
    if (dist[i] > min_distance) idx.push_back(static_cast<int>(i));
  }
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return dist[a] > dist[b]; });
  if (k < 0) k = 0;
  if (idx.size() > static_cast<size_t>(k)) idx.resize(static_cast<size_t>(k));
  return idx;
}

std::string visible_text(std::string_view text) {
  if (text.empty()) return "∅";
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == ' ') {
      out += "␣";
    } else if (c == '\n') {
      out += "↵";
    } else if (c == '\t') {
      out += "→";
    } else if (c == '\r') {
      out += "␍";
    } else {
      const size_t n = utf8_length(text, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  return out;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_length(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string token_label(const capture::Capture& cap, int i) {
  if (i >= 0 && static_cast<size_t>(i) < cap.token_strings.size()) {
    const std::string& s = cap.token_strings[static_cast<size_t>(i)];
    return s.empty() ? "∅" : s;
  }
  return fmt::format("#{}", i);
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
