#include "kvscope/tokenizer/utf8.hpp"

namespace kvscope::tokenizer {

size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const size_t n = s.size();
  if (i >= n) return 0;
  const uint8_t c = b(i);
  if (c < 0x80) return 1;
  size_t len;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlongs
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (i + 1 >= n || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (i + k >= n || (b(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

size_t utf8_first_invalid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = utf8_sequence_length(s, i);
    if (len == 0) return i;
    i += len;
  }
  return s.size();
}

namespace {

// Number of bytes starting at i that form a valid but possibly unfinished prefix of a
// character (at least 1: a lone bad byte is its own maximal subpart).
size_t maximal_subpart(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  size_t len;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t k = 1;
  if (i + 1 < s.size() && b(i + 1) >= lo && b(i + 1) <= hi) {
    k = 2;
    while (k < len && i + k < s.size() && (b(i + k) & 0xC0) == 0x80) ++k;
  }
  return k;
}

}  // namespace

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = utf8_sequence_length(s, i);
    if (len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i += maximal_subpart(s, i);
    }
  }
  return out;
}

std::string hex_byte_label(uint8_t b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
}

std::string visible_label(std::string_view b) {
  std::string label;
  size_t i = 0;
  while (i < b.size()) {
    const size_t len = utf8_sequence_length(b, i);
    const char c = b[i];
    if (len == 0) {
      label += hex_byte_label(static_cast<uint8_t>(c));
      ++i;
      continue;
    }
    if (c == ' ') {
      label += "\xe2\x90\xa3";  // ␣
    } else if (c == '\n') {
      label += "\xe2\x86\xb5";  // ↵
    } else if (c == '\t') {
      label += "\xe2\x86\x92";  // →
    } else if (c == '\r') {
      label += "\xe2\x90\x8d";  // ␍
    } else if (len == 1 && (static_cast<uint8_t>(c) < 0x20 || c == 0x7f)) {
      label += hex_byte_label(static_cast<uint8_t>(c));
    } else {
      label.append(b, i, len);
    }
    i += len;
  }
  return label;
}

size_t utf8_complete_prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = utf8_sequence_length(s, i);
    if (len > 0) {
      i += len;
      continue;
    }
    const size_t part = maximal_subpart(s, i);
    if (i + part == s.size() && static_cast<uint8_t>(s[i]) >= 0xC2) return i;  // may complete
    i += part;
  }
  return s.size();
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

uint32_t utf8_next(std::string_view s, size_t& i) {
  const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[k])); };
  const uint32_t c = b(i);
  if (c < 0x80) {
    i += 1;
    return c;
  }
  if (c < 0xE0) {
    const uint32_t cp = ((c & 0x1F) << 6) | (b(i + 1) & 0x3F);
    i += 2;
    return cp;
  }
  if (c < 0xF0) {
    const uint32_t cp = ((c & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
    i += 3;
    return cp;
  }
  const uint32_t cp =
      ((c & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) | ((b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
  i += 4;
  return cp;
}

namespace {

bool maps_to_itself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct ByteLevelTables {
  std::array<std::string, 256> chars;
  std::array<int, 512> bytes;  // code point -> byte; every mapped code point is < 0x144
  ByteLevelTables() {
    bytes.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const uint32_t cp = maps_to_itself(b) ? b : 256 + next++;
      append_utf8(chars[b], cp);
      bytes[cp] = b;
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_level_chars() {
  return tables().chars;
}

int byte_level_byte(uint32_t code_point) {
  return code_point < 512 ? tables().bytes[code_point] : -1;
}

std::string byte_level_bytes(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t len = utf8_sequence_length(s, i);
    if (len == 0) {  // not UTF-8: keep the byte as is
      out += s[i++];
      continue;
    }
    const size_t start = i;
    const int byte = byte_level_byte(utf8_next(s, i));
    if (byte >= 0) {
      out += static_cast<char>(byte);
    } else {
      out.append(s, start, len);
    }
  }
  return out;
}

}  // namespace kvscope::tokenizer
