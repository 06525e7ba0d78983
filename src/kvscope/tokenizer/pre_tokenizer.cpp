#include "kvscope/tokenizer/pre_tokenizer.hpp"

#include <glib.h>
#include <pcre2.h>

#include <memory>
#include <new>
#include <utility>

#include "kvscope/error.hpp"
#include "kvscope/tokenizer/utf8.hpp"

namespace kvscope::tokenizer {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

PreTokenizerStep regex_step(const char* pattern) {
  PreTokenizerStep s;
  s.type = PreTokenizerStep::Type::RegexSplit;
  s.pattern = pattern;
  return s;
}

// A span of the piece being split, and whether the pattern matched it.
struct Span {
  size_t begin, end;
  bool matched;
};

void emit(std::string_view text, const std::vector<Span>& spans,
          PreTokenizerStep::Behavior behavior, std::vector<std::string>& out) {
  using B = PreTokenizerStep::Behavior;
  std::string pending;  // MergedWithNext: a delimiter waiting for the next piece
  bool have_prev = false;
  for (size_t k = 0; k < spans.size(); ++k) {
    const Span& s = spans[k];
    const std::string_view part = text.substr(s.begin, s.end - s.begin);
    if (part.empty()) continue;
    switch (behavior) {
      case B::Isolated:
        out.emplace_back(part);
        break;
      case B::Removed:
        if (!s.matched) out.emplace_back(part);
        break;
      case B::MergedWithPrevious:
        if (s.matched && have_prev) {
          out.back() += part;
        } else {
          out.emplace_back(part);
        }
        break;
      case B::MergedWithNext:
        if (s.matched) {
          if (!pending.empty()) out.push_back(std::move(pending));
          pending = std::string(part);
        } else {
          out.push_back(pending + std::string(part));
          pending.clear();
        }
        break;
      case B::Contiguous:
        if (s.matched && have_prev && k > 0 && spans[k - 1].matched) {
          out.back() += part;
        } else {
          out.emplace_back(part);
        }
        break;
    }
    have_prev = true;
  }
  if (!pending.empty()) out.push_back(std::move(pending));
}

std::string glib_convert(NormalizerStep::Type type, std::string_view s) {
  using T = NormalizerStep::Type;
  gchar* r = nullptr;
  if (type == T::Lowercase) {
    r = g_utf8_strdown(s.data(), static_cast<gssize>(s.size()));
  } else {
    const GNormalizeMode mode = type == T::Nfc    ? G_NORMALIZE_NFC
                                : type == T::Nfd  ? G_NORMALIZE_NFD
                                : type == T::Nfkc ? G_NORMALIZE_NFKC
                                                  : G_NORMALIZE_NFKD;
    r = g_utf8_normalize(s.data(), static_cast<gssize>(s.size()), mode);
  }
  if (r == nullptr) throw BadInput("text: not valid UTF-8 for normalization");
  std::string out(r);
  g_free(r);
  return out;
}

}  // namespace

std::vector<PreTokenizerStep> builtin_pre_tokenizer(const std::string& name) {
  // Names as llama.cpp writes them into tokenizer.ggml.pre.
  if (name == "gpt-2" || name == "gpt2" || name == "default") return {regex_step(kGpt2Pattern)};
  if (name == "llama3" || name == "llama-v3" || name == "llama-bpe") {
    return {regex_step(kLlama3Pattern)};
  }
  if (name == "qwen2" || name == "deepseek-r1-qwen") return {regex_step(kQwen2Pattern)};
  if (name == "smollm" || name == "starcoder" || name == "refact") {
    return {regex_step(R"(\p{N})"), regex_step(kGpt2Pattern)};
  }
  throw Unsupported("tokenizer.ggml.pre: pre-tokenizer '" + name + "' not supported");
}

struct PreTokenizer::Compiled {
  PreTokenizerStep step;
  pcre2_code* code = nullptr;
  ~Compiled() {
    if (code != nullptr) pcre2_code_free(code);
  }
};

PreTokenizer::PreTokenizer(const std::vector<PreTokenizerStep>& steps, const std::string& source) {
  for (const PreTokenizerStep& step : steps) {
    auto c = std::make_unique<Compiled>();
    c->step = step;
    if (step.type == PreTokenizerStep::Type::Digits) {
      // Rust's char::is_numeric, which HF's Digits uses, is the N categories.
      c->step.pattern = step.individual_digits ? R"(\p{N})" : R"(\p{N}+)";
      c->step.behavior = PreTokenizerStep::Behavior::Isolated;
      c->step.invert = false;
    }
    if (c->step.type != PreTokenizerStep::Type::Metaspace) {
      int err = 0;
      PCRE2_SIZE offset = 0;
      c->code =
          pcre2_compile(reinterpret_cast<PCRE2_SPTR>(c->step.pattern.data()),
                        c->step.pattern.size(), PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
      if (c->code == nullptr) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        throw BadInput(source + ": pre_tokenizer pattern '" + step.pattern + "' at offset " +
                       std::to_string(offset) + ": " + reinterpret_cast<const char*>(msg));
      }
      pcre2_jit_compile(c->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter
    }
    steps_.push_back(std::move(c));
  }
}

PreTokenizer::~PreTokenizer() = default;

void PreTokenizer::split(std::string_view text, bool at_start,
                         std::vector<std::string>& words) const {
  std::vector<std::string> pieces{std::string(text)};
  std::vector<std::string> next;
  std::vector<Span> spans;
  for (const auto& c : steps_) {
    const PreTokenizerStep& step = c->step;
    next.clear();
    // One match block per step, not per piece: pieces can be single digits.
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> md(
        c->code != nullptr ? pcre2_match_data_create_from_pattern(c->code, nullptr) : nullptr,
        &pcre2_match_data_free);
    if (c->code != nullptr && md == nullptr) throw std::bad_alloc();
    for (size_t p = 0; p < pieces.size(); ++p) {
      const std::string& piece = pieces[p];
      spans.clear();
      switch (step.type) {
        case PreTokenizerStep::Type::RegexSplit:
        case PreTokenizerStep::Type::Digits: {
          size_t pos = 0, last = 0;
          while (pos <= piece.size()) {
            const int rc = pcre2_match(c->code, reinterpret_cast<PCRE2_SPTR>(piece.data()),
                                       piece.size(), pos, PCRE2_NO_UTF_CHECK, md.get(), nullptr);
            if (rc == PCRE2_ERROR_NOMATCH) break;  // the rest is a gap
            if (rc < 0) {  // a resource limit: better to refuse than to cut wrongly
              throw BadInput("text: pre-tokenizer pattern failed (PCRE2 error " +
                             std::to_string(rc) + ") on a piece of " +
                             std::to_string(piece.size()) + " bytes");
            }
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
            const size_t b = ov[0], e = ov[1];
            if (e == b) {  // an empty match cuts nothing; step over one character
              if (b >= piece.size()) break;
              pos = b + std::max<size_t>(1, utf8_sequence_length(piece, b));
              continue;
            }
            if (b > last) spans.push_back({last, b, false});
            spans.push_back({b, e, true});
            last = pos = e;
          }
          if (last < piece.size()) spans.push_back({last, piece.size(), false});
          if (step.invert) {
            for (Span& s : spans) s.matched = !s.matched;
          }
          emit(piece, spans, step.behavior, next);
          break;
        }
        case PreTokenizerStep::Type::Metaspace: {
          std::string s;
          const bool prepend =
              step.prepend_scheme == PreTokenizerStep::Prepend::Always ||
              (step.prepend_scheme == PreTokenizerStep::Prepend::First && at_start && p == 0);
          for (char ch : piece) {
            if (ch == ' ') {
              s += step.replacement;
            } else {
              s += ch;
            }
          }
          if (prepend && s.rfind(step.replacement, 0) != 0) s = step.replacement + s;
          if (!step.split) {
            if (!s.empty()) next.push_back(std::move(s));
            break;
          }
          size_t begin = 0;
          for (size_t f = s.find(step.replacement, 1); f != std::string::npos;
               f = s.find(step.replacement, f + 1)) {
            next.push_back(s.substr(begin, f - begin));
            begin = f;
          }
          if (begin < s.size()) next.push_back(s.substr(begin));
          break;
        }
      }
    }
    pieces.swap(next);
  }
  for (std::string& w : pieces) {
    if (!w.empty()) words.push_back(std::move(w));
  }
}

std::string normalize(const std::vector<NormalizerStep>& steps, std::string_view text) {
  std::string s(text);
  for (const NormalizerStep& step : steps) {
    using T = NormalizerStep::Type;
    switch (step.type) {
      case T::Nfc:
      case T::Nfd:
      case T::Nfkc:
      case T::Nfkd:
      case T::Lowercase: {
        // GLib stops at NUL, which no normalization touches: convert between NULs.
        std::string r;
        size_t begin = 0;
        while (begin <= s.size()) {
          size_t end = s.find('\0', begin);
          if (end == std::string::npos) end = s.size();
          if (end > begin)
            r += glib_convert(step.type, std::string_view(s).substr(begin, end - begin));
          if (end < s.size()) r += '\0';
          begin = end + 1;
        }
        s = std::move(r);
        break;
      }
      case T::Prepend:
        if (!s.empty()) s = step.pattern + s;
        break;
      case T::Replace: {
        if (step.pattern.empty()) break;
        std::string r;
        size_t i = 0;
        for (size_t f = s.find(step.pattern); f != std::string::npos; f = s.find(step.pattern, i)) {
          r.append(s, i, f - i);
          r += step.content;
          i = f + step.pattern.size();
        }
        r.append(s, i, std::string::npos);
        s = std::move(r);
        break;
      }
    }
  }
  return s;
}

}  // namespace kvscope::tokenizer
