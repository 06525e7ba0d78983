#include "kvscope/io/json_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "io_test_util.hpp"
#include "kvscope/error.hpp"

namespace kvscope::io {
namespace {

using kvscope::testing::TempDir;
using kvscope::testing::write_bytes;
using nlohmann::json;
using ::testing::HasSubstr;

template <typename F>
std::string bad_input_message(F&& f) {
  try {
    f();
  } catch (const BadInput& e) {
    return e.what();
  }
  return "";
}

TEST(ReadJsonFile, ParsesAFile) {
  TempDir dir;
  write_bytes(dir / "config.json", R"({"n_layer": 2, "name": "gpt2"})");
  const json j = read_json_file(dir / "config.json");
  EXPECT_EQ(j["n_layer"].get<int>(), 2);
  EXPECT_EQ(j["name"].get<std::string>(), "gpt2");
}

TEST(ReadJsonFile, MissingFileSaysNoSuchFile) {
  TempDir dir;
  const std::string path = dir / "config.json";
  EXPECT_EQ(bad_input_message([&] { read_json_file(path); }), path + ": no such file");
}

TEST(ReadJsonFile, MalformedFileSaysInvalidJsonWithParserMessage) {
  TempDir dir;
  write_bytes(dir / "config.json", R"({"n_layer": 2,)");
  const std::string msg = bad_input_message([&] { read_json_file(dir / "config.json"); });
  EXPECT_THAT(msg, HasSubstr(dir / "config.json: invalid JSON: "));
  EXPECT_THAT(msg, HasSubstr("syntax error"));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("[json.exception")));
}

TEST(ReadJsonFile, FolderIsBadInput) {
  TempDir dir;
  EXPECT_THROW(read_json_file(dir.path()), BadInput);
}

const json kConfig = json::parse(
    R"({"n_layer": 12, "float_int": 4.0, "eps": 1e-5, "name": "gpt2", "tie": true,
        "bad": "abc", "nothing": null, "big": 18446744073709551615})");

TEST(JsonGetters, ReturnTypedValues) {
  EXPECT_EQ(json_int(kConfig, "n_layer", "config.json"), 12);
  EXPECT_EQ(json_int(kConfig, "float_int", "config.json"), 4);
  EXPECT_DOUBLE_EQ(json_float(kConfig, "eps", "config.json"), 1e-5);
  EXPECT_DOUBLE_EQ(json_float(kConfig, "n_layer", "config.json"), 12.0);
  EXPECT_EQ(json_string(kConfig, "name", "config.json"), "gpt2");
  EXPECT_TRUE(json_bool(kConfig, "tie", "config.json"));
}

TEST(JsonGetters, WrongTypeNamesFileFieldAndValue) {
  EXPECT_EQ(bad_input_message([] { json_int(kConfig, "bad", "config.json"); }),
            R"(config.json: field 'bad': expected an integer, got "abc")");
  EXPECT_EQ(bad_input_message([] { json_int(kConfig, "eps", "config.json"); }),
            "config.json: field 'eps': expected an integer, got 1e-05");
  EXPECT_EQ(bad_input_message([] { json_float(kConfig, "name", "config.json"); }),
            R"(config.json: field 'name': expected a number, got "gpt2")");
  EXPECT_EQ(bad_input_message([] { json_string(kConfig, "n_layer", "config.json"); }),
            "config.json: field 'n_layer': expected a string, got 12");
  EXPECT_EQ(bad_input_message([] { json_bool(kConfig, "bad", "config.json"); }),
            R"(config.json: field 'bad': expected true or false, got "abc")");
  EXPECT_THAT(bad_input_message([] { json_int(kConfig, "big", "config.json"); }),
              HasSubstr("expected an integer that fits in 64 bits"));
}

TEST(JsonGetters, MissingOrNullRequiredFieldIsBadInput) {
  EXPECT_EQ(bad_input_message([] { json_int(kConfig, "n_head", "config.json"); }),
            "config.json: missing field 'n_head'");
  EXPECT_EQ(bad_input_message([] { json_string(kConfig, "nothing", "config.json"); }),
            "config.json: missing field 'nothing'");
}

TEST(JsonGetters, OptionalVersionsReturnNulloptOnlyWhenAbsent) {
  EXPECT_EQ(json_int_opt(kConfig, "n_head", "c.json"), std::nullopt);
  EXPECT_EQ(json_int_opt(kConfig, "nothing", "c.json"), std::nullopt);
  EXPECT_EQ(json_int_opt(kConfig, "n_layer", "c.json"), 12);
  EXPECT_EQ(json_string_opt(kConfig, "name", "c.json"), "gpt2");
  EXPECT_EQ(json_bool_opt(kConfig, "tie", "c.json"), true);
  EXPECT_EQ(json_float_opt(kConfig, "x", "c.json"), std::nullopt);
  EXPECT_THROW(json_int_opt(kConfig, "bad", "c.json"), BadInput);
  EXPECT_EQ(json_int_or(kConfig, "n_head", "c.json", 7), 7);
  EXPECT_EQ(json_int_or(kConfig, "n_layer", "c.json", 7), 12);
  EXPECT_DOUBLE_EQ(json_float_or(kConfig, "rope_theta", "c.json", 10000.0), 10000.0);
  EXPECT_EQ(json_string_or(kConfig, "act", "c.json", "gelu"), "gelu");
  EXPECT_FALSE(json_bool_or(kConfig, "x", "c.json", false));
  EXPECT_THROW(json_bool_or(kConfig, "bad", "c.json", false), BadInput);
}

TEST(JsonGetters, NonObjectIsBadInput) {
  EXPECT_THAT(bad_input_message([] { json_int(json::array({1}), "n", "c.json"); }),
              HasSubstr("c.json: expected a JSON object holding 'n', got [1]"));
}

}  // namespace
}  // namespace kvscope::io
