#include "kvscope/tokenizer/tokenizer.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <queue>
#include <unordered_map>

#include "kvscope/error.hpp"
#include "kvscope/tokenizer/pre_tokenizer.hpp"
#include "kvscope/tokenizer/utf8.hpp"

namespace kvscope::tokenizer {

namespace {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

constexpr const char* kMetaspace = "\xe2\x96\x81";  // '▁'

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// "<0x4A>" -> 0x4A, else -1.
int parse_byte_token(std::string_view s) {
  if (s.size() != 6 || s.substr(0, 3) != "<0x" || s[5] != '>') return -1;
  int v = 0;
  for (char c : s.substr(3, 2)) {
    v *= 16;
    if (c >= '0' && c <= '9') {
      v += c - '0';
    } else if (c >= 'A' && c <= 'F') {
      v += c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      v += c - 'a' + 10;
    } else {
      return -1;
    }
  }
  return v;
}

}  // namespace

struct Tokenizer::Impl {
  TokenizerSpec spec;
  int32_t vocab_size = 0;
  StringMap vocab_ids;               // model vocabulary: stored string -> id
  StringMap added_ids;               // added token text -> id
  std::vector<std::string> strings;  // id -> stored string (added: its text)
  std::vector<std::string> bytes;    // id -> the bytes it stands for
  std::vector<int8_t> added;         // id -> 0 model token, 1 added, 2 added special
  std::vector<bool> is_byte_token;   // id -> a <0xXX> byte-fallback token
  // Added tokens by first byte, longest first: the leftmost-longest match, as HF finds it.
  std::array<std::vector<const AddedToken*>, 256> added_by_first_byte;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // pair -> (rank, new id)
  std::array<int32_t, 256> byte_symbol{};   // byte-level: byte -> id of its character
  std::array<int32_t, 256> fallback_ids{};  // <0xXX> tokens
  bool have_fallback = false;
  std::unique_ptr<PreTokenizer> pre;

  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void split_added(std::string_view text, std::vector<int32_t>& out) const;
  void encode_text(std::string_view text, bool at_start, std::vector<int32_t>& out) const;
};

namespace {

struct Symbol {
  int32_t id;
  int32_t prev, next;  // -1 at the ends
  bool alive;
};

// Merge candidate: lower priority first, then the leftmost.
struct Candidate {
  double priority;
  int32_t left;
  int32_t left_id, right_id, new_id;
  bool operator>(const Candidate& o) const {
    return priority != o.priority ? priority > o.priority : left > o.left;
  }
};

// BadInput for an id outside [0, vocab_size), before any table is indexed by it.
void require_id(const Tokenizer::Impl& m, int32_t id) {
  if (id < 0 || id >= m.vocab_size) {
    throw BadInput("token id " + std::to_string(id) + " out of range (vocab size " +
                   std::to_string(m.vocab_size) + ")");
  }
}

}  // namespace

void Tokenizer::Impl::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  const bool byte_level = spec.kind == TokenizerKind::ByteLevelBpe;
  if (spec.ignore_merges) {
    std::string whole;
    if (byte_level) {
      for (unsigned char b : word) whole += byte_level_chars()[b];
    }
    auto it = vocab_ids.find(byte_level ? std::string_view(whole) : word);
    if (it != vocab_ids.end()) {
      out.push_back(it->second);
      return;
    }
  }

  std::vector<Symbol> sym;
  sym.reserve(word.size());
  bool last_was_unk = false;
  auto push = [&](int32_t id, bool unknown) {
    if (unknown) {
      if (!spec.unk_id) return;  // no unk token: the character is dropped, as HF does
      if (spec.fuse_unk && last_was_unk) return;
      id = *spec.unk_id;
    }
    last_was_unk = unknown;
    const int32_t n = static_cast<int32_t>(sym.size());
    sym.push_back({id, n - 1, -1, true});
  };
  if (byte_level) {
    for (unsigned char b : word) push(byte_symbol[b], byte_symbol[b] < 0);
  } else {
    size_t i = 0;
    while (i < word.size()) {
      size_t len = utf8_sequence_length(word, i);
      if (len == 0) len = 1;
      const std::string_view ch = word.substr(i, len);
      auto it = vocab_ids.find(ch);
      if (it != vocab_ids.end()) {
        push(it->second, false);
      } else if (spec.byte_fallback && have_fallback) {
        for (unsigned char b : ch) push(fallback_ids[b], false);
      } else {
        push(0, true);
      }
      i += len;
    }
  }
  const int32_t n = static_cast<int32_t>(sym.size());
  for (int32_t k = 0; k + 1 < n; ++k) sym[k].next = k + 1;

  const bool by_score = merges.empty() && !spec.scores.empty();
  auto candidate =
      [&](int32_t left,
          std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>>& queue) {
        const int32_t right = sym[left].next;
        if (right < 0) return;
        const int32_t a = sym[left].id, b = sym[right].id;
        if (by_score) {
          const std::string joined = strings[a] + strings[b];
          auto it = vocab_ids.find(joined);
          if (it == vocab_ids.end()) return;
          queue.push({-static_cast<double>(spec.scores[it->second]), left, a, b, it->second});
        } else {
          auto it = merges.find(pair_key(a, b));
          if (it == merges.end()) return;
          queue.push({static_cast<double>(it->second.first), left, a, b, it->second.second});
        }
      };
  if (!merges.empty() || by_score) {
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
    for (int32_t k = 0; k + 1 < n; ++k) candidate(k, queue);
    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      Symbol& l = sym[c.left];
      // Stale: a neighbour merged since this pair was queued.
      if (!l.alive || l.id != c.left_id || l.next < 0) continue;
      Symbol& r = sym[l.next];
      if (r.id != c.right_id) continue;
      l.id = c.new_id;
      r.alive = false;
      l.next = r.next;
      if (r.next >= 0) sym[r.next].prev = c.left;
      if (l.prev >= 0) candidate(l.prev, queue);
      candidate(c.left, queue);
    }
  }
  for (int32_t k = n > 0 ? 0 : -1; k >= 0; k = sym[k].next) out.push_back(sym[k].id);
}

void Tokenizer::Impl::encode_text(std::string_view text, bool at_start,
                                  std::vector<int32_t>& out) const {
  std::string s = normalize(spec.normalizers, text);
  if (spec.add_prefix_space && !s.empty() && s[0] != ' ') s.insert(s.begin(), ' ');
  std::vector<std::string> words;
  pre->split(s, at_start, words);
  for (const std::string& w : words) encode_word(w, out);
}

void Tokenizer::Impl::split_added(std::string_view text, std::vector<int32_t>& out) const {
  size_t seg_begin = 0;  // start of the plain text not yet encoded
  size_t i = 0;
  while (i < text.size()) {
    const AddedToken* hit = nullptr;
    {
      for (const AddedToken* t : added_by_first_byte[static_cast<uint8_t>(text[i])]) {
        if (text.compare(i, t->content.size(), t->content) == 0) {
          hit = t;
          break;
        }
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t seg_end = i;
    if (hit->lstrip) {
      while (seg_end > seg_begin && is_ascii_space(text[seg_end - 1])) --seg_end;
    }
    if (seg_end > seg_begin) {
      encode_text(text.substr(seg_begin, seg_end - seg_begin), seg_begin == 0, out);
    }
    out.push_back(hit->id);
    i += hit->content.size();
    if (hit->rstrip) {
      while (i < text.size() && is_ascii_space(text[i])) ++i;
    }
    seg_begin = i;
  }
  if (seg_begin < text.size()) {
    encode_text(text.substr(seg_begin), seg_begin == 0, out);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const size_t bad = utf8_first_invalid(text);
  if (bad != text.size()) {
    throw BadInput("text: not valid UTF-8 at byte " + std::to_string(bad) + " (0x" +
                   hex_byte_label(static_cast<uint8_t>(text[bad])).substr(3, 2) + ")");
  }
  const Impl& m = *impl_;
  std::vector<int32_t> ids;
  if (add_special_tokens && m.spec.add_bos) ids.push_back(*m.spec.bos_id);
  m.split_added(text, ids);
  if (add_special_tokens && m.spec.add_eos) ids.push_back(*m.spec.eos_id);
  return ids;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  require_id(*impl_, id);
  return impl_->bytes[id];
}

const std::string& Tokenizer::token_string(int32_t id) const {
  require_id(*impl_, id);
  return impl_->strings[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string raw;
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    require_id(*impl_, id);
    if (!impl_->spec.decode_byte_fallback && impl_->is_byte_token[id]) {
      raw += impl_->strings[id];
      continue;
    }
    raw += token_bytes(id);
  }
  if (impl_->spec.decode_strip_leading_space && !raw.empty() && raw[0] == ' ') raw.erase(0, 1);
  return utf8_lossy(raw);
}

std::string Tokenizer::token_label(int32_t id) const {
  const std::string b = token_bytes(id);
  return impl_->added[id] != 0 ? utf8_lossy(b) : visible_label(b);
}

int32_t Tokenizer::vocab_size() const {
  return impl_->vocab_size;
}
std::optional<int32_t> Tokenizer::bos_id() const {
  return impl_->spec.bos_id;
}
std::optional<int32_t> Tokenizer::eos_id() const {
  return impl_->spec.eos_id;
}
TokenizerKind Tokenizer::kind() const {
  return impl_->spec.kind;
}
bool Tokenizer::decode_strips_leading_space() const {
  return impl_->spec.decode_strip_leading_space;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < impl_->vocab_size && impl_->added[id] == 2;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_ids.find(token); it != impl_->added_ids.end()) return it->second;
  if (auto it = impl_->vocab_ids.find(token); it != impl_->vocab_ids.end()) return it->second;
  return std::nullopt;
}

Tokenizer from_spec(TokenizerSpec spec) {
  auto m = std::make_shared<Tokenizer::Impl>();
  const std::string& src = spec.source.empty() ? std::string("tokenizer") : spec.source;
  if (spec.vocab.empty()) throw BadInput(src + ": vocab is empty");
  if (static_cast<int64_t>(spec.vocab.size()) > kMaxVocabSize) {
    throw BadInput(src + ": vocab has " + std::to_string(spec.vocab.size()) + " tokens");
  }
  int64_t size = static_cast<int64_t>(spec.vocab.size());
  for (const AddedToken& t : spec.added_tokens) {
    if (t.id < 0 || t.id >= kMaxVocabSize) {
      throw BadInput(src + ": added token '" + t.content + "': id " + std::to_string(t.id) +
                     " out of range");
    }
    if (t.content.empty()) {
      throw BadInput(src + ": added token id " + std::to_string(t.id) + ": empty content");
    }
    if (utf8_first_invalid(t.content) != t.content.size()) {
      throw BadInput(src + ": added token id " + std::to_string(t.id) + ": not valid UTF-8");
    }
    size = std::max<int64_t>(size, int64_t{t.id} + 1);
  }
  m->vocab_size = static_cast<int32_t>(size);
  m->strings.assign(size, std::string());
  m->bytes.assign(size, std::string());
  m->added.assign(size, 0);
  m->is_byte_token.assign(size, false);
  for (size_t id = 0; id < spec.vocab.size(); ++id) {
    m->strings[id] = spec.vocab[id];
    // The first of duplicate strings wins; empty strings are holes in the id range.
    if (!spec.vocab[id].empty()) m->vocab_ids.emplace(spec.vocab[id], static_cast<int32_t>(id));
  }
  for (const AddedToken& t : spec.added_tokens) {
    m->strings[t.id] = t.content;
    m->added[t.id] = t.special ? 2 : 1;
    m->added_ids[t.content] = t.id;
  }

  auto check_id = [&](const std::optional<int32_t>& id, const char* field) {
    if (id && (*id < 0 || *id >= m->vocab_size)) {
      throw BadInput(src + ": " + field + " " + std::to_string(*id) + " out of range (vocab size " +
                     std::to_string(m->vocab_size) + ")");
    }
  };
  check_id(spec.bos_id, "bos id");
  check_id(spec.eos_id, "eos id");
  check_id(spec.unk_id, "unk id");
  if (spec.add_bos && !spec.bos_id) throw BadInput(src + ": add_bos set but no bos token");
  if (spec.add_eos && !spec.eos_id) throw BadInput(src + ": add_eos set but no eos token");
  if (spec.merges.empty() && !spec.scores.empty() && spec.scores.size() != spec.vocab.size()) {
    throw BadInput(src + ": " + std::to_string(spec.scores.size()) + " scores for " +
                   std::to_string(spec.vocab.size()) + " tokens");
  }

  for (size_t r = 0; r < spec.merges.size(); ++r) {
    // Named references, not a structured binding: clang 14 cannot capture those in a lambda.
    const std::string& a = spec.merges[r].first;
    const std::string& b = spec.merges[r].second;
    auto find = [&](const std::string& tok) {
      auto it = m->vocab_ids.find(tok);
      if (it == m->vocab_ids.end()) {
        throw BadInput(src + ": merges[" + std::to_string(r) + "] '" + a + " " + b + "': token '" +
                       tok + "' not in vocab");
      }
      return it->second;
    };
    const int32_t ia = find(a), ib = find(b), ic = find(a + b);
    m->merges.emplace(pair_key(ia, ib), std::make_pair(static_cast<int32_t>(r), ic));
  }

  const bool byte_level = spec.kind == TokenizerKind::ByteLevelBpe;
  m->byte_symbol.fill(-1);
  m->fallback_ids.fill(-1);
  m->have_fallback = true;
  for (int b = 0; b < 256; ++b) {
    if (auto it = m->vocab_ids.find(byte_level_chars()[b]); it != m->vocab_ids.end()) {
      m->byte_symbol[b] = it->second;
    }
    if (auto it = m->vocab_ids.find(hex_byte_label(static_cast<uint8_t>(b)));
        it != m->vocab_ids.end()) {
      m->fallback_ids[b] = it->second;
    } else {
      m->have_fallback = false;
    }
  }

  for (size_t id = 0; id < spec.vocab.size(); ++id) {
    if (m->added[id] != 0) continue;
    const std::string& s = spec.vocab[id];
    std::string& out = m->bytes[id];
    if (byte_level) {
      out = byte_level_bytes(s);
    } else {
      const int byte = spec.byte_fallback ? parse_byte_token(s) : -1;
      if (byte >= 0) {
        out = std::string(1, static_cast<char>(byte));
        m->is_byte_token[id] = true;
      } else {
        size_t i = 0;
        for (size_t f = s.find(kMetaspace); f != std::string::npos; f = s.find(kMetaspace, i)) {
          out.append(s, i, f - i);
          out += ' ';
          i = f + 3;
        }
        out.append(s, i, std::string::npos);
      }
    }
  }
  for (const AddedToken& t : spec.added_tokens) m->bytes[t.id] = t.content;

  m->pre = std::make_unique<PreTokenizer>(spec.pre_tokenizers, src);
  m->spec = std::move(spec);
  for (const AddedToken& t : m->spec.added_tokens) {
    m->added_by_first_byte[static_cast<uint8_t>(t.content[0])].push_back(&t);
  }
  for (auto& list : m->added_by_first_byte) {
    std::stable_sort(list.begin(), list.end(), [](const AddedToken* x, const AddedToken* y) {
      return x->content.size() > y->content.size();
    });
  }
  return Tokenizer(std::move(m));
}

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tokenizer_->is_special(id)) return {};
  std::string b = tokenizer_->token_bytes(id);
  if (!started_) {
    started_ = true;
    if (tokenizer_->decode_strips_leading_space() && !b.empty() && b[0] == ' ') {
      b.erase(0, 1);
    }
  }
  pending_ += b;
  const size_t n = utf8_complete_prefix(pending_);
  std::string out = utf8_lossy(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8_lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace kvscope::tokenizer
