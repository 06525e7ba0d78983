#include "kvscope/io/json_file.hpp"

#include <cmath>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/io/regular_file.hpp"

namespace kvscope::io {

using nlohmann::json;

nlohmann::json read_json_file(const std::string& path, int64_t max_bytes) {
  return parse_json(read_regular_file(path, max_bytes, "JSON file"), path);
}

void check_json_depth(std::string_view text, const std::string& file) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw BadInput(fmt::format("{}: JSON nested more than {} levels deep (at byte {})", file,
                                   kMaxJsonDepth, i));
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

nlohmann::json parse_json(std::string_view text, const std::string& file) {
  // Every reader of the parsed value recurses into it (ours, and nlohmann's dump()), so a
  // hostile file nested tens of thousands deep would overflow the stack: refuse it first.
  check_json_depth(text, file);
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    // nlohmann's messages start with "[json.exception.parse_error.101] "; the tag is noise.
    std::string msg = e.what();
    if (const size_t close = msg.find("] ");
        msg.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      msg = msg.substr(close + 2);
    throw BadInput(fmt::format("{}: invalid JSON: {}", file, msg));
  }
}

namespace {

// Appends at most about `budget` characters of value's JSON text to out. Hand-rolled rather
// than dump() because dump() recurses without limit, and a hostile file can nest deeply.
void excerpt_into(const json& value, std::string& out, size_t budget, int depth) {
  if (out.size() >= budget) return;
  if (value.is_string() && value.get_ref<const std::string&>().size() > budget) {
    // A long string is cut before it is dumped: a message never copies a whole file.
    out += json(value.get_ref<const std::string&>().substr(0, budget))
               .dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  if (!value.is_structured()) {
    out += value.dump(-1, ' ', false, json::error_handler_t::replace);
    return;
  }
  const bool is_object = value.is_object();
  out += is_object ? '{' : '[';
  if (depth >= 4 && !value.empty()) {
    out += "...";
  } else {
    bool first = true;
    for (auto it = value.begin(); it != value.end() && out.size() < budget; ++it) {
      if (!first) out += ',';
      first = false;
      if (is_object)
        out +=
            json(it.key().substr(0, budget)).dump(-1, ' ', false, json::error_handler_t::replace) +
            ':';
      excerpt_into(it.value(), out, budget, depth + 1);
    }
  }
  out += is_object ? '}' : ']';
}

}  // namespace

std::string json_excerpt(const json& value) {
  constexpr size_t kMax = 60;
  std::string s;
  excerpt_into(value, s, kMax, 0);
  if (s.size() > kMax) s = s.substr(0, kMax - 3) + "...";
  return s;
}

namespace {

// obj[key], or nullptr if absent or null. Throws if obj is not an object.
const json* lookup(const json& obj, std::string_view key, const std::string& file) {
  if (!obj.is_object())
    throw BadInput(fmt::format("{}: expected a JSON object holding '{}', got {}", file, key,
                               json_excerpt(obj)));
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

[[noreturn]] void wrong_type(std::string_view key, const std::string& file,
                             std::string_view expected, const json& got) {
  throw BadInput(
      fmt::format("{}: field '{}': expected {}, got {}", file, key, expected, json_excerpt(got)));
}

[[noreturn]] void missing(std::string_view key, const std::string& file) {
  throw BadInput(fmt::format("{}: missing field '{}'", file, key));
}

int64_t as_int(const json& v, std::string_view key, const std::string& file) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      wrong_type(key, file, "an integer that fits in 64 bits", v);
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exactly representable; anything at or beyond it does not fit.
    if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0)
      return static_cast<int64_t>(d);
  }
  wrong_type(key, file, "an integer", v);
}

double as_float(const json& v, std::string_view key, const std::string& file) {
  if (!v.is_number()) wrong_type(key, file, "a number", v);
  return v.get<double>();
}

std::string as_string(const json& v, std::string_view key, const std::string& file) {
  if (!v.is_string()) wrong_type(key, file, "a string", v);
  return v.get<std::string>();
}

bool as_bool(const json& v, std::string_view key, const std::string& file) {
  if (!v.is_boolean()) wrong_type(key, file, "true or false", v);
  return v.get<bool>();
}

}  // namespace

int64_t json_int_value(const json& v, std::string_view key, const std::string& file) {
  return as_int(v, key, file);
}

int64_t json_int(const json& obj, std::string_view key, const std::string& file) {
  const json* v = lookup(obj, key, file);
  if (!v) missing(key, file);
  return as_int(*v, key, file);
}

double json_float(const json& obj, std::string_view key, const std::string& file) {
  const json* v = lookup(obj, key, file);
  if (!v) missing(key, file);
  return as_float(*v, key, file);
}

std::string json_string(const json& obj, std::string_view key, const std::string& file) {
  const json* v = lookup(obj, key, file);
  if (!v) missing(key, file);
  return as_string(*v, key, file);
}

bool json_bool(const json& obj, std::string_view key, const std::string& file) {
  const json* v = lookup(obj, key, file);
  if (!v) missing(key, file);
  return as_bool(*v, key, file);
}

std::optional<int64_t> json_int_opt(const json& obj, std::string_view key,
                                    const std::string& file) {
  const json* v = lookup(obj, key, file);
  if (!v) return std::nullopt;
  return as_int(*v, key, file);
}

std::optional<double> json_float_opt(const json& obj, std::string_view key,
                                     const std::string& file) {
  const json* v = lookup(obj, key, file);
  if (!v) return std::nullopt;
  return as_float(*v, key, file);
}

std::optional<std::string> json_string_opt(const json& obj, std::string_view key,
                                           const std::string& file) {
  const json* v = lookup(obj, key, file);
  if (!v) return std::nullopt;
  return as_string(*v, key, file);
}

std::optional<bool> json_bool_opt(const json& obj, std::string_view key, const std::string& file) {
  const json* v = lookup(obj, key, file);
  if (!v) return std::nullopt;
  return as_bool(*v, key, file);
}

int64_t json_int_or(const json& obj, std::string_view key, const std::string& file,
                    int64_t fallback) {
  return json_int_opt(obj, key, file).value_or(fallback);
}

double json_float_or(const json& obj, std::string_view key, const std::string& file,
                     double fallback) {
  return json_float_opt(obj, key, file).value_or(fallback);
}

std::string json_string_or(const json& obj, std::string_view key, const std::string& file,
                           const std::string& fallback) {
  return json_string_opt(obj, key, file).value_or(fallback);
}

bool json_bool_or(const json& obj, std::string_view key, const std::string& file, bool fallback) {
  return json_bool_opt(obj, key, file).value_or(fallback);
}

}  // namespace kvscope::io
