// Reading JSON files (config.json, tokenizer_config.json, index files) with errors that name
// the file, the field and the bad value, e.g.
//   config.json: field 'n_layer': expected an integer, got "abc"
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "kvscope/io/regular_file.hpp"

namespace kvscope::io {

// Nesting deeper than this is refused before parsing (real files nest under 10 levels): every
// reader of a parsed value, nlohmann's dump() among them, recurses into it.
inline constexpr int kMaxJsonDepth = 64;

// Whole file parsed. Missing => BadInput "PATH: no such file"; not a regular file or larger
// than max_bytes => BadInput (io/regular_file.hpp); unreadable => IoError; malformed or nested
// too deep => BadInput "PATH: invalid JSON: <parser message>".
nlohmann::json read_json_file(const std::string& path, int64_t max_bytes = kMaxSmallJsonBytes);

// Same, for JSON already in memory; `file` names it in errors.
nlohmann::json parse_json(std::string_view text, const std::string& file);

// BadInput "FILE: JSON nested more than 64 levels deep (at byte N)" if text nests deeper than
// kMaxJsonDepth; says nothing about whether it is valid JSON.
void check_json_depth(std::string_view text, const std::string& file);

// Typed getters of obj[key]. `file` is only used in messages. They throw BadInput if obj is
// not an object, the key is missing, or the value has the wrong type:
//   "config.json: field 'n_layer': expected an integer, got \"abc\""
//   "config.json: missing field 'n_layer'"
// json_int accepts integers and floats with an integral value (2.0), as Python writes them.
int64_t json_int(const nlohmann::json& obj, std::string_view key, const std::string& file);
double json_float(const nlohmann::json& obj, std::string_view key, const std::string& file);
std::string json_string(const nlohmann::json& obj, std::string_view key, const std::string& file);
bool json_bool(const nlohmann::json& obj, std::string_view key, const std::string& file);

// Optional versions: std::nullopt if the key is absent or null; still BadInput on a value of
// the wrong type (a present but wrong field is a mistake, not an absence).
std::optional<int64_t> json_int_opt(const nlohmann::json& obj, std::string_view key,
                                    const std::string& file);
std::optional<double> json_float_opt(const nlohmann::json& obj, std::string_view key,
                                     const std::string& file);
std::optional<std::string> json_string_opt(const nlohmann::json& obj, std::string_view key,
                                           const std::string& file);
std::optional<bool> json_bool_opt(const nlohmann::json& obj, std::string_view key,
                                  const std::string& file);

// With a default instead of nullopt.
int64_t json_int_or(const nlohmann::json& obj, std::string_view key, const std::string& file,
                    int64_t fallback);
double json_float_or(const nlohmann::json& obj, std::string_view key, const std::string& file,
                     double fallback);
std::string json_string_or(const nlohmann::json& obj, std::string_view key, const std::string& file,
                           const std::string& fallback);
bool json_bool_or(const nlohmann::json& obj, std::string_view key, const std::string& file,
                  bool fallback);

// A value already taken out of its object (an array element, say) read as json_int reads a
// field; `key` names it in messages.
int64_t json_int_value(const nlohmann::json& v, std::string_view key, const std::string& file);

// A value shortened for error messages: its JSON text, cut to about 60 characters.
std::string json_excerpt(const nlohmann::json& value);

}  // namespace kvscope::io
