#include "kvscope/printable.hpp"

#include <fmt/format.h>

namespace kvscope {

namespace {

// Appends c escaped if it is a control byte; returns whether it did.
bool append_control(std::string& out, unsigned char u) {
  if (u == '\n') {
    out += "\\n";
  } else if (u == '\r') {
    out += "\\r";
  } else if (u == '\t') {
    out += "\\t";
  } else if (u < 0x20 || u == 0x7f) {
    out += fmt::format("\\x{:02x}", u);
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string printable(std::string_view s, size_t max_chars) {
  std::string out;
  out.reserve(std::min(s.size(), max_chars) + 8);
  size_t n = 0;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (n >= max_chars && (u & 0xc0) != 0x80) {  // never cut a UTF-8 sequence in two
      out += "...";
      break;
    }
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (!append_control(out, u)) {
      out += c;
    }
    ++n;
  }
  return out;
}

std::string one_line(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (char c : message)
    if (!append_control(out, static_cast<unsigned char>(c))) out += c;
  return out;
}

}  // namespace kvscope
