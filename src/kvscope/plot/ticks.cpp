#include "kvscope/plot/ticks.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "kvscope/error.hpp"

namespace kvscope::plot {
namespace {

constexpr const char* kMinus = "\u2212";

std::string with_minus(std::string s) {
  if (!s.empty() && s[0] == '-') s = kMinus + s.substr(1);
  return s;
}

// "1.50e-05" -> "1.5e-5": drop trailing mantissa zeros, the exponent's '+' and leading zeros.
std::string tidy_scientific(const std::string& s) {
  size_t e = s.find('e');
  std::string mant = s.substr(0, e), exp = e == std::string::npos ? "" : s.substr(e + 1);
  if (mant.find('.') != std::string::npos) {
    while (!mant.empty() && mant.back() == '0') mant.pop_back();
    if (!mant.empty() && mant.back() == '.') mant.pop_back();
  }
  if (exp.empty()) return mant;
  bool neg = exp[0] == '-';
  size_t i = (exp[0] == '-' || exp[0] == '+') ? 1 : 0;
  while (i + 1 < exp.size() && exp[i] == '0') ++i;
  return mant + "e" + (neg ? "-" : "") + exp.substr(i);
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);  // no "-0"
  return with_minus(s);
}

// Fewest decimals (<= 12) at which every value prints exactly (to 1e-9 of the scale).
int decimals_needed(std::span<const double> vals, double scale) {
  for (int d = 0; d <= 12; ++d) {
    double p = std::pow(10.0, d);
    bool ok = std::all_of(vals.begin(), vals.end(), [&](double v) {
      return std::fabs(std::round(v * p) / p - v) <= 1e-9 * scale;
    });
    if (ok) return d;
  }
  return 12;
}

std::string superscript(int n) {
  static const char* kDigits[10] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  std::string s = n < 0 ? "⁻" : "";
  std::string digits = std::to_string(n < 0 ? -static_cast<long>(n) : n);
  for (char c : digits) s += kDigits[c - '0'];
  return s;
}

void require_finite(double lo, double hi, const char* what) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    throw BadInput(std::string(what) + ": range [" + std::to_string(lo) + ", " +
                   std::to_string(hi) + "] is not finite");
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  require_finite(lo, hi, "ticks");
  if (lo > hi) std::swap(lo, hi);
  max_ticks = std::max(max_ticks, 2);
  double span = hi - lo;
  if (span <= 1e-12 * std::max(std::fabs(lo), std::fabs(hi)) || span == 0) {
    double pad = lo == 0 ? 1.0 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
    span = hi - lo;
  }
  double step = std::pow(10.0, std::floor(std::log10(span / max_ticks)));
  static constexpr double kMult[] = {1, 2, 5};
  for (int guard = 0; guard < 40; ++guard) {
    for (double m : kMult) {
      double s = step * m;
      double first = std::ceil(lo / s - 1e-9), last = std::floor(hi / s + 1e-9);
      if (last - first + 1 <= max_ticks) {
        std::vector<double> out;
        for (double k = first; k <= last; k += 1) {
          double v = k * s;
          out.push_back(std::fabs(v) < s * 1e-9 ? 0.0 : v);
        }
        return out;
      }
    }
    step *= 10;
  }
  return {lo, hi};
}

std::vector<double> log_ticks(double lo, double hi, int max_ticks) {
  require_finite(lo, hi, "log ticks");
  if (lo > hi) std::swap(lo, hi);
  if (!(lo > 0)) {
    throw BadInput("log ticks: lower bound " + std::to_string(lo) + " must be > 0");
  }
  max_ticks = std::max(max_ticks, 2);
  int e0 = static_cast<int>(std::ceil(std::log10(lo) - 1e-9));
  int e1 = static_cast<int>(std::floor(std::log10(hi) + 1e-9));
  if (e1 - e0 + 1 < 2) {
    // Less than two decades in view: 1-2-5 multiples read better than a lone "10²".
    std::vector<double> out;
    for (int e = e0 - 1; e <= e1; ++e) {
      for (double m : {1.0, 2.0, 5.0}) {
        double v = m * std::pow(10.0, e);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push_back(v);
      }
    }
    if (out.size() >= 2) return out;
    return nice_ticks(lo, hi, max_ticks);
  }
  int every = (e1 - e0) / max_ticks + 1;
  std::vector<double> out;
  for (int e = e0; e <= e1; e += every) out.push_back(std::pow(10.0, e));
  return out;
}

std::vector<std::string> format_ticks(std::span<const double> ticks) {
  std::vector<std::string> out;
  if (ticks.empty()) return out;
  double maxabs = 0, step = 0;
  for (double t : ticks) maxabs = std::max(maxabs, std::fabs(t));
  for (size_t i = 1; i < ticks.size(); ++i) {
    double d = std::fabs(ticks[i] - ticks[i - 1]);
    if (d > 0 && (step == 0 || d < step)) step = d;
  }
  if (step == 0) step = maxabs > 0 ? maxabs : 1;
  if (maxabs >= 1e4 && step >= 1) {
    static const char* kSuffix[] = {"", "k", "M", "G", "T"};
    int group = std::min(4, static_cast<int>(std::floor(std::log10(maxabs) / 3)));
    double scale = std::pow(10.0, 3 * group);
    std::vector<double> scaled;
    for (double t : ticks) scaled.push_back(t / scale);
    int d = decimals_needed(scaled, step / scale);
    for (double s : scaled) {
      std::string f = fixed(s, d);
      out.push_back(f.find_first_not_of("0.") == std::string::npos ? f : f + kSuffix[group]);
    }
    return out;
  }
  if (step < 1e-3 && maxabs < 1e-2) {
    for (double t : ticks) {
      // Each label carries its own exponent so it reads alone (no offset text to find).
      if (t == 0) {
        out.push_back("0");
        continue;
      }
      int e = static_cast<int>(std::floor(std::log10(std::fabs(t)) + 1e-9));
      double p = std::pow(10.0, e);
      double m[1] = {t / p};
      int d = std::min(decimals_needed(m, step / p), 6);
      out.push_back(fixed(m[0], d) + "×10" + superscript(e));
    }
    return out;
  }
  int d = decimals_needed(ticks, step);
  for (double t : ticks) out.push_back(fixed(t, d));
  return out;
}

std::vector<std::string> format_log_ticks(std::span<const double> ticks) {
  std::vector<std::string> out;
  for (double t : ticks) {
    double e = std::log10(t);
    if (!(t > 0) || std::fabs(e - std::round(e)) > 1e-9) return format_ticks(ticks);
    out.push_back("10" + superscript(static_cast<int>(std::lround(e))));
  }
  return out;
}

std::string format_number(double v, int significant) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : std::string(kMinus) + "inf";
  if (v == 0) return "0";
  significant = std::clamp(significant, 1, 17);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", significant, v);
  std::string t = tidy_scientific(buf);
  size_t e = t.find('e');
  if (e == std::string::npos) return with_minus(t);
  return with_minus(t.substr(0, e)) + "×10" + superscript(std::stoi(t.substr(e + 1)));
}

int next_round_stride(int stride) {
  if (stride < 1) return 1;
  int p = 1;
  while (p <= stride / 10) p *= 10;
  const int lead = stride / p;  // 1..9
  return lead < 2 ? 2 * p : lead < 5 ? 5 * p : 10 * p;
}

std::vector<int> thinned_positions(int n, int fit) {
  if (fit < 1) fit = 1;
  int stride = 1;
  while (stride < n && (n + stride - 1) / stride > fit) stride = next_round_stride(stride);
  std::vector<int> out;
  for (int i = 0; i < n; i += stride) out.push_back(i);
  return out;
}

}  // namespace kvscope::plot
