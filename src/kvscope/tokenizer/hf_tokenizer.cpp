#include "kvscope/tokenizer/hf_tokenizer.hpp"

#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/regular_file.hpp"
#include "kvscope/printable.hpp"

namespace kvscope::tokenizer {

namespace {

using nlohmann::json;

constexpr const char* kMetaspace = "\xe2\x96\x81";  // '▁'

std::string read_file(const std::string& path) {
  return io::read_regular_file(path, io::kMaxTokenizerBytes, "tokenizer file");
}

// Depth-checked (io::kMaxJsonDepth): the readers below recurse into Sequences.
json parse_json(const std::string& text, const std::string& source) {
  return io::parse_json(text, source);
}

// A vocabulary key or token text as it may appear in a message.
std::string shown(const std::string& s) {
  return printable(s, 80);
}

// Reads one member with the JSON type we need, naming the field on error.
struct Reader {
  const std::string& source;

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw BadInput(source + ": " + field + ": " + what);
  }
  const json& member(const json& obj, const char* key, const std::string& where) const {
    if (!obj.is_object()) fail(where, "expected an object");
    auto it = obj.find(key);
    if (it == obj.end()) fail(where + "." + key, "missing");
    return *it;
  }
  std::string str(const json& v, const std::string& field) const {
    if (!v.is_string()) fail(field, "expected a string, got " + io::json_excerpt(v));
    return v.get<std::string>();
  }
  bool flag(const json& obj, const char* key, bool fallback, const std::string& where) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) fail(where + "." + key, "expected true or false");
    return it->get<bool>();
  }
  int64_t integer(const json& v, const std::string& field) const {
    if (!v.is_number_integer()) fail(field, "expected an integer, got " + io::json_excerpt(v));
    return v.get<int64_t>();
  }
  std::string type_of(const json& v, const std::string& where) const {
    return str(member(v, "type", where), where + ".type");
  }
};

// A literal split pattern as a PCRE2 pattern.
std::string escape_regex(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u)) out += '\\';
    out += c;
  }
  return out;
}

std::string pattern_of(const Reader& r, const json& v, const std::string& where) {
  const json& p = r.member(v, "pattern", where);
  if (p.is_object() && p.contains("Regex")) return r.str(p["Regex"], where + ".pattern.Regex");
  if (p.is_object() && p.contains("String")) {
    return escape_regex(r.str(p["String"], where + ".pattern.String"));
  }
  r.fail(where + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
}

struct Layout {
  bool byte_level = false;
  bool metaspace = false;  // '▁' seen in the normalizer, pre-tokenizer or decoder
  bool byte_fallback_decoder = false;
};

void read_normalizer(const Reader& r, const json& v, const std::string& where, TokenizerSpec& spec,
                     Layout& layout) {
  if (v.is_null()) return;
  const std::string type = r.type_of(v, where);
  using T = NormalizerStep::Type;
  NormalizerStep step;
  if (type == "Sequence") {
    const json& list = r.member(v, "normalizers", where);
    if (!list.is_array()) r.fail(where + ".normalizers", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      read_normalizer(r, list[i], where + ".normalizers[" + std::to_string(i) + "]", spec, layout);
    }
    return;
  } else if (type == "NFC") {
    step.type = T::Nfc;
  } else if (type == "NFD") {
    step.type = T::Nfd;
  } else if (type == "NFKC") {
    step.type = T::Nfkc;
  } else if (type == "NFKD") {
    step.type = T::Nfkd;
  } else if (type == "Lowercase") {
    step.type = T::Lowercase;
  } else if (type == "Prepend") {
    step.type = T::Prepend;
    step.pattern = r.str(r.member(v, "prepend", where), where + ".prepend");
  } else if (type == "Replace") {
    step.type = T::Replace;
    const json& p = r.member(v, "pattern", where);
    if (!p.is_object() || !p.contains("String")) {
      throw Unsupported(r.source + ": " + where + ".pattern: only String patterns supported");
    }
    step.pattern = r.str(p["String"], where + ".pattern.String");
    step.content = r.str(r.member(v, "content", where), where + ".content");
    if (step.content == kMetaspace) layout.metaspace = true;
  } else {
    throw Unsupported(r.source + ": " + where + ".type: normalizer '" + shown(type) +
                      "' not supported");
  }
  spec.normalizers.push_back(step);
}

PreTokenizerStep::Behavior behavior_of(const Reader& r, const json& v, const std::string& w) {
  using B = PreTokenizerStep::Behavior;
  auto it = v.find("behavior");
  if (it == v.end()) return B::Isolated;
  const std::string b = r.str(*it, w + ".behavior");
  if (b == "Isolated") return B::Isolated;
  if (b == "Removed") return B::Removed;
  if (b == "MergedWithPrevious") return B::MergedWithPrevious;
  if (b == "MergedWithNext") return B::MergedWithNext;
  if (b == "Contiguous") return B::Contiguous;
  r.fail(w + ".behavior", "unknown value '" + shown(b) + "'");
}

PreTokenizerStep::Prepend prepend_scheme_of(const Reader& r, const json& v, const std::string& w) {
  using P = PreTokenizerStep::Prepend;
  if (auto it = v.find("prepend_scheme"); it != v.end()) {
    const std::string s = r.str(*it, w + ".prepend_scheme");
    if (s == "always") return P::Always;
    if (s == "first") return P::First;
    if (s == "never") return P::Never;
    r.fail(w + ".prepend_scheme", "unknown value '" + shown(s) + "'");
  }
  return r.flag(v, "add_prefix_space", true, w) ? P::Always : P::Never;  // older files
}

void read_pre_tokenizer(const Reader& r, const json& v, const std::string& where,
                        TokenizerSpec& spec, Layout& layout) {
  if (v.is_null()) return;
  const std::string type = r.type_of(v, where);
  PreTokenizerStep step;
  using T = PreTokenizerStep::Type;
  if (type == "Sequence") {
    const json& list = r.member(v, "pretokenizers", where);
    if (!list.is_array()) r.fail(where + ".pretokenizers", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      read_pre_tokenizer(r, list[i], where + ".pretokenizers[" + std::to_string(i) + "]", spec,
                         layout);
    }
    return;
  } else if (type == "ByteLevel") {
    layout.byte_level = true;
    spec.add_prefix_space = r.flag(v, "add_prefix_space", false, where);
    if (!r.flag(v, "use_regex", true, where)) return;
    step.type = T::RegexSplit;
    step.pattern = kGpt2Pattern;
  } else if (type == "Split") {
    step.type = T::RegexSplit;
    step.pattern = pattern_of(r, v, where);
    step.behavior = behavior_of(r, v, where);
    step.invert = r.flag(v, "invert", false, where);
  } else if (type == "Digits") {
    step.type = T::Digits;
    step.individual_digits = r.flag(v, "individual_digits", false, where);
  } else if (type == "Metaspace") {
    layout.metaspace = true;
    step.type = T::Metaspace;
    if (v.contains("replacement"))
      step.replacement = r.str(v["replacement"], where + ".replacement");
    step.prepend_scheme = prepend_scheme_of(r, v, where);
    step.split = r.flag(v, "split", true, where);
  } else {
    throw Unsupported(r.source + ": " + where + ".type: pre-tokenizer '" + shown(type) +
                      "' not supported");
  }
  spec.pre_tokenizers.push_back(step);
}

// Whether the decoder drops the leading space ('▁' prepended at encoding).
bool decoder_strips_space(const Reader& r, const json& v, const std::string& where,
                          Layout& layout) {
  if (v.is_null() || !v.is_object()) return false;
  const std::string type = r.type_of(v, where);
  if (type == "Sequence") {
    const json& list = r.member(v, "decoders", where);
    bool strip = false;
    for (size_t i = 0; list.is_array() && i < list.size(); ++i) {
      strip |=
          decoder_strips_space(r, list[i], where + ".decoders[" + std::to_string(i) + "]", layout);
    }
    return strip;
  }
  if (type == "ByteFallback") {
    layout.metaspace = true;
    layout.byte_fallback_decoder = true;
  }
  if (type == "Strip") {
    auto it = v.find("start");
    return it != v.end() && it->is_number_integer() && it->get<int64_t>() >= 1;
  }
  if (type == "Metaspace") {
    layout.metaspace = true;
    return prepend_scheme_of(r, v, where) != PreTokenizerStep::Prepend::Never;
  }
  return false;
}

struct Template {
  std::vector<std::string> before, after;  // special tokens around $A
  json special_tokens;
};

void read_post_processor(const Reader& r, const json& v, const std::string& where, Template& t) {
  if (v.is_null()) return;
  const std::string type = r.type_of(v, where);
  if (type == "Sequence") {
    const json& list = r.member(v, "processors", where);
    for (size_t i = 0; list.is_array() && i < list.size(); ++i) {
      read_post_processor(r, list[i], where + ".processors[" + std::to_string(i) + "]", t);
    }
    return;
  }
  if (type == "ByteLevel") return;  // offsets only
  if (type != "TemplateProcessing") {
    throw Unsupported(r.source + ": " + where + ".type: post-processor '" + shown(type) +
                      "' not supported");
  }
  const json& single = r.member(v, "single", where);
  if (!single.is_array()) r.fail(where + ".single", "expected an array");
  bool seen_a = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const json& item = single[i];
    const std::string field = where + ".single[" + std::to_string(i) + "]";
    if (item.is_object() && item.contains("SpecialToken")) {
      const std::string id = r.str(r.member(item["SpecialToken"], "id", field), field + ".id");
      (seen_a ? t.after : t.before).push_back(id);
    } else if (item.is_object() && item.contains("Sequence")) {
      seen_a = true;
    } else {
      r.fail(field, "expected SpecialToken or Sequence");
    }
  }
  if (t.before.size() > 1 || t.after.size() > 1) {
    throw Unsupported(r.source + ": " + where +
                      ".single: more than one special token on a side not supported");
  }
  if (v.contains("special_tokens")) t.special_tokens = v["special_tokens"];
}

std::optional<int32_t> lookup(const TokenizerSpec& spec, const std::string& token) {
  for (const AddedToken& a : spec.added_tokens) {
    if (a.content == token) return a.id;
  }
  for (size_t i = 0; i < spec.vocab.size(); ++i) {
    if (spec.vocab[i] == token) return static_cast<int32_t>(i);
  }
  return std::nullopt;
}

int32_t template_id(const Reader& r, const TokenizerSpec& spec, const Template& t,
                    const std::string& name) {
  if (t.special_tokens.is_object() && t.special_tokens.contains(name)) {
    const json& entry = t.special_tokens[name];
    const json ids = entry.is_object() ? entry.value("ids", json::array()) : json::array();
    if (ids.is_array() && ids.size() == 1 && ids[0].is_number_integer()) {
      // Read as an integer that must fit: 2^32 + 7 must not wrap around to 7.
      const int64_t id =
          r.integer(ids[0], "post_processor.special_tokens['" + shown(name) + "'].ids[0]");
      if (id < 0 || id >= kMaxVocabSize)
        r.fail("post_processor.special_tokens['" + shown(name) + "'].ids[0]",
               std::to_string(id) + " out of range");
      return static_cast<int32_t>(id);
    }
  }
  if (auto id = lookup(spec, name)) return *id;
  r.fail("post_processor", "special token '" + shown(name) + "' not in vocab");
}

// tokenizer_config.json names tokens as "<s>" or {"content": "<s>", ...}.
std::optional<std::string> config_token(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
    return (*it)["content"].get<std::string>();
  }
  return std::nullopt;
}

void apply_config(const std::string& config_json, TokenizerSpec& spec) {
  if (config_json.empty()) return;
  const std::string source = "tokenizer_config.json";
  const json cfg = parse_json(config_json, source);
  if (!cfg.is_object()) throw BadInput(source + ": expected a JSON object");
  const Reader r{source};
  auto resolve = [&](const char* key) -> std::optional<int32_t> {
    auto tok = config_token(cfg, key);
    if (!tok) return std::nullopt;
    auto id = lookup(spec, *tok);
    if (!id) throw BadInput(source + ": " + key + ": token '" + shown(*tok) + "' not in vocab");
    return id;
  };
  if (auto id = resolve("bos_token")) spec.bos_id = id;
  if (auto id = resolve("eos_token")) spec.eos_id = id;
  if (!spec.unk_id) spec.unk_id = resolve("unk_token");
  // Like transformers' Llama tokenizers: an explicit add_bos_token rewrites the template.
  spec.add_bos = r.flag(cfg, "add_bos_token", spec.add_bos, "");
  spec.add_eos = r.flag(cfg, "add_eos_token", spec.add_eos, "");
}

void read_vocab(const Reader& r, const json& vocab, const std::string& where, TokenizerSpec& spec) {
  if (!vocab.is_object()) r.fail(where, "expected an object of token -> id");
  int64_t size = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int64_t id = r.integer(it.value(), where + "['" + shown(it.key()) + "']");
    if (id < 0 || id >= kMaxVocabSize) {
      r.fail(where + "['" + shown(it.key()) + "']", "id " + std::to_string(id) + " out of range");
    }
    size = std::max(size, id + 1);
  }
  spec.vocab.assign(static_cast<size_t>(size), std::string());
  std::vector<bool> seen(static_cast<size_t>(size), false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const auto id = static_cast<size_t>(it.value().get<int64_t>());
    if (seen[id])
      r.fail(where + "['" + shown(it.key()) + "']", "id " + std::to_string(id) + " used twice");
    seen[id] = true;
    spec.vocab[id] = it.key();
  }
}

std::pair<std::string, std::string> split_merge(const Reader& r, const std::string& line,
                                                const std::string& field) {
  const size_t sp = line.find(' ');
  if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
    r.fail(field, "expected two tokens separated by one space, got '" + shown(line) + "'");
  }
  return {line.substr(0, sp), line.substr(sp + 1)};
}

TokenizerSpec classic_gpt2_spec(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string vocab_path = (fs::path(dir) / "vocab.json").string();
  const std::string merges_path = (fs::path(dir) / "merges.txt").string();
  TokenizerSpec spec;
  spec.kind = TokenizerKind::ByteLevelBpe;
  spec.source = vocab_path;
  const Reader r{vocab_path};
  read_vocab(r, parse_json(read_file(vocab_path), vocab_path), "vocab", spec);
  const std::string merges = read_file(merges_path);
  const Reader mr{merges_path};
  size_t pos = 0, line_no = 0;
  while (pos < merges.size()) {
    size_t end = merges.find('\n', pos);
    if (end == std::string::npos) end = merges.size();
    std::string line = merges.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++line_no;
    pos = end + 1;
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    spec.merges.push_back(split_merge(mr, line, "line " + std::to_string(line_no)));
  }
  PreTokenizerStep step;
  step.pattern = kGpt2Pattern;
  spec.pre_tokenizers.push_back(step);
  if (auto id = lookup(spec, "<|endoftext|>")) {
    spec.added_tokens.push_back({*id, "<|endoftext|>", true, false, false});
    spec.bos_id = spec.eos_id = id;
  }
  return spec;
}

}  // namespace

TokenizerSpec hf_tokenizer_spec_from_json(const std::string& tokenizer_json,
                                          const std::string& config_json,
                                          const std::string& source) {
  const json j = parse_json(tokenizer_json, source);
  const Reader r{source};
  try {
    TokenizerSpec spec;
    spec.source = source;
    const json& model = r.member(j, "model", "");
    const std::string type =
        model.contains("type") ? r.str(model["type"], "model.type") : std::string("BPE");
    if (type != "BPE") {
      throw Unsupported(source + ": model.type '" + shown(type) + "' not supported (only BPE)");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      auto it = model.find(key);
      if (it != model.end() && it->is_string() && !it->get<std::string>().empty()) {
        throw Unsupported(source + ": model." + key + " '" + shown(it->get<std::string>()) +
                          "' not supported");
      }
    }
    read_vocab(r, r.member(model, "vocab", "model"), "model.vocab", spec);
    const json& merges = r.member(model, "merges", "model");
    if (!merges.is_array()) r.fail("model.merges", "expected an array");
    spec.merges.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string field = "model.merges[" + std::to_string(i) + "]";
      const json& m = merges[i];
      if (m.is_string()) {
        spec.merges.push_back(split_merge(r, m.get<std::string>(), field));
      } else if (m.is_array() && m.size() == 2) {
        spec.merges.emplace_back(r.str(m[0], field), r.str(m[1], field));
      } else {
        r.fail(field, "expected \"a b\" or [\"a\", \"b\"]");
      }
    }
    spec.byte_fallback = r.flag(model, "byte_fallback", false, "model");
    spec.fuse_unk = r.flag(model, "fuse_unk", false, "model");
    spec.ignore_merges = r.flag(model, "ignore_merges", false, "model");

    if (auto it = j.find("added_tokens"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) r.fail("added_tokens", "expected an array");
      for (size_t i = 0; i < it->size(); ++i) {
        const json& a = (*it)[i];
        const std::string field = "added_tokens[" + std::to_string(i) + "]";
        AddedToken t;
        const int64_t id = r.integer(r.member(a, "id", field), field + ".id");
        if (id < 0 || id >= kMaxVocabSize)
          r.fail(field + ".id", std::to_string(id) + " out of range");
        t.id = static_cast<int32_t>(id);
        t.content = r.str(r.member(a, "content", field), field + ".content");
        t.special = r.flag(a, "special", false, field);
        t.lstrip = r.flag(a, "lstrip", false, field);
        t.rstrip = r.flag(a, "rstrip", false, field);
        spec.added_tokens.push_back(t);
      }
    }
    if (auto it = model.find("unk_token"); it != model.end() && it->is_string()) {
      spec.unk_id = lookup(spec, it->get<std::string>());
      if (!spec.unk_id)
        r.fail("model.unk_token", "'" + shown(it->get<std::string>()) + "' not in vocab");
    }

    Layout layout;
    read_normalizer(r, j.value("normalizer", json()), "normalizer", spec, layout);
    read_pre_tokenizer(r, j.value("pre_tokenizer", json()), "pre_tokenizer", spec, layout);
    spec.decode_strip_leading_space =
        decoder_strips_space(r, j.value("decoder", json()), "decoder", layout);
    if (layout.byte_level) {
      spec.kind = TokenizerKind::ByteLevelBpe;
      spec.decode_strip_leading_space = false;
    } else if (layout.metaspace) {
      spec.kind = TokenizerKind::SentencePieceBpe;
      spec.decode_byte_fallback = layout.byte_fallback_decoder;
    } else {
      throw Unsupported(source +
                        ": pre_tokenizer: BPE without ByteLevel or SentencePiece-style '▁' "
                        "spaces not supported");
    }

    Template t;
    read_post_processor(r, j.value("post_processor", json()), "post_processor", t);
    if (!t.before.empty()) {
      spec.bos_id = template_id(r, spec, t, t.before[0]);
      spec.add_bos = true;
    }
    if (!t.after.empty()) {
      spec.eos_id = template_id(r, spec, t, t.after[0]);
      spec.add_eos = true;
    }
    apply_config(config_json, spec);
    return spec;
  } catch (const json::exception& e) {
    throw BadInput(source + ": " + one_line(e.what()));
  }
}

TokenizerSpec hf_tokenizer_spec(const std::string& model_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(model_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw BadInput(model_dir + ": not a directory (expected a tokenizer folder)");
  }
  const fs::path tj = dir / "tokenizer.json";
  const fs::path cfg = dir / "tokenizer_config.json";
  std::string config;
  if (fs::exists(cfg, ec)) config = read_file(cfg.string());
  if (fs::exists(tj, ec)) {
    return hf_tokenizer_spec_from_json(read_file(tj.string()), config, tj.string());
  }
  if (fs::exists(dir / "vocab.json", ec) && fs::exists(dir / "merges.txt", ec)) {
    TokenizerSpec spec = classic_gpt2_spec(model_dir);
    apply_config(config, spec);
    return spec;
  }
  throw BadInput(tj.string() + ": not found (nor vocab.json + merges.txt)");
}

Tokenizer load_hf_tokenizer(const std::string& model_dir) {
  return from_spec(hf_tokenizer_spec(model_dir));
}

}  // namespace kvscope::tokenizer
