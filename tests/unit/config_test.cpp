#include "kvscope/model/config.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "kvscope/error.hpp"

namespace kvscope::model {
namespace {

nlohmann::json llama_json() {
  return nlohmann::json::parse(R"({
    "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 100, "max_position_embeddings": 128,
    "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "torch_dtype": "bfloat16"})");
}

TEST(Config, Gpt2FieldsAndDefaults) {
  auto j =
      nlohmann::json::parse(R"({"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768,
    "n_positions": 1024, "vocab_size": 50257, "n_inner": null, "eos_token_id": 50256})");
  Config c = config_from_hf_json(j, "config.json");
  EXPECT_EQ(c.family, Family::Gpt2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.d_ff, 3072);  // n_inner null means 4 x n_embd
  EXPECT_TRUE(c.tied_head);
  EXPECT_EQ(c.pos, PosKind::Learned);
  EXPECT_EQ(c.eos_id, 50256);
  EXPECT_EQ(c.kv_bytes_per_token(), 2 * 12 * 12 * 64 * 4);
  EXPECT_EQ(c.declared_dtype, "");
}

TEST(Config, LlamaGqaAndBothDtypeSpellings) {
  Config c = config_from_hf_json(llama_json(), "config.json");
  EXPECT_EQ(c.n_kv_head, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.declared_dtype, "BF16");
  EXPECT_FALSE(c.tied_head);
  auto j = llama_json();
  j.erase("torch_dtype");
  j["dtype"] = "float16";
  EXPECT_EQ(config_from_hf_json(j, "config.json").declared_dtype, "F16");
}

TEST(Config, RopeParametersOfTransformers5AndLlama3Scaling) {
  auto j = llama_json();
  j.erase("rope_theta");
  j["rope_parameters"] = {{"rope_theta", 500000.0},  {"rope_type", "llama3"},
                          {"factor", 32.0},          {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  Config c = config_from_hf_json(j, "config.json");
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_TRUE(c.rope_scaling.llama3);
  EXPECT_FLOAT_EQ(c.rope_scaling.factor, 32.0f);
  EXPECT_EQ(c.rope_scaling.original_max_position, 8192);
}

TEST(Config, EosListTakesFirst) {
  auto j = llama_json();
  j["eos_token_id"] = {128001, 128009};
  EXPECT_EQ(config_from_hf_json(j, "config.json").eos_id, 128001);
}

void expect_bad(const nlohmann::json& j, const std::string& needle) {
  try {
    config_from_hf_json(j, "config.json");
    FAIL() << "accepted a config that should fail with: " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("config.json", 0), 0u) << e.what();
  }
}

TEST(Config, RejectsNumbersNoIntegerHolds) {
  // Casting 1e300 to an integer is undefined behaviour; it must be refused before that.
  auto j = llama_json();
  j["num_hidden_layers"] = 1e300;
  expect_bad(j, "field 'num_hidden_layers': expected an integer, got 1e+300");
  j = llama_json();
  j["hidden_size"] = -1e19;
  expect_bad(j, "field 'hidden_size': expected an integer");
  j = llama_json();
  j["eos_token_id"] = {1e300};
  expect_bad(j, "field 'eos_token_id': expected an integer");
  j = llama_json();
  j["eos_token_id"] = 4294967296;
  expect_bad(j, "field 'eos_token_id': value 4294967296 is out of range");
  j = llama_json();
  j["eos_token_id"] = nlohmann::json::array();
  EXPECT_NO_THROW(config_from_hf_json(j, "config.json"));
}

TEST(Config, RejectsAbsurdAndInconsistentValues) {
  auto j = llama_json();
  j["num_hidden_layers"] = 1000000000;
  expect_bad(j, "number of layers 1000000000 is out of range");
  j = llama_json();
  j["num_key_value_heads"] = 3;
  expect_bad(j, "not a multiple of 3 key/value heads");
  j = llama_json();
  j["hidden_size"] = "big";
  expect_bad(j, "field 'hidden_size': expected an integer, got \"big\"");
  j = llama_json();
  j["vocab_size"] = -5;
  expect_bad(j, "vocabulary size -5 is out of range");
  j = llama_json();
  j["num_hidden_layers"] = 1e30;
  expect_bad(j, "num_hidden_layers");
  j = llama_json();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  expect_bad(j, "rope scaling 'yarn' is not supported");
  j = llama_json();
  j["model_type"] = "bert";
  expect_bad(j,
             "unsupported architecture 'bert'; supported: gemma3, gemma3_text, gpt2, llama, "
             "mistral, qwen2, qwen3");
  j = llama_json();
  j.erase("hidden_size");
  expect_bad(j, "missing field 'hidden_size'");
  j = llama_json();
  j["torch_dtype"] = "int4";
  expect_bad(j, "unknown weight type 'int4'");
  expect_bad(nlohmann::json::array(), "expected a JSON object");
}

}  // namespace
}  // namespace kvscope::model

namespace kvscope::model {
namespace {

TEST(Config, SlidingWindowsFromLayerTypesMistralAndQwen2) {
  auto j = llama_json();
  j["model_type"] = "mistral";
  j["sliding_window"] = 4096;
  Config c = config_from_hf_json(j, "config.json");
  ASSERT_EQ(c.layer_specs.size(), static_cast<size_t>(c.n_layer));
  for (int l = 0; l < c.n_layer; ++l) EXPECT_EQ(c.layer(l).window, 4096);

  j["sliding_window"] = nullptr;  // Mistral v0.2 and later: no window
  EXPECT_TRUE(config_from_hf_json(j, "config.json").layer_specs.empty());

  j = llama_json();
  j["model_type"] = "qwen2";
  j["sliding_window"] = 64;  // written by every Qwen2 config, used only when switched on
  EXPECT_TRUE(config_from_hf_json(j, "config.json").layer_specs.empty());
  j["use_sliding_window"] = true;
  j["max_window_layers"] = 1;
  c = config_from_hf_json(j, "config.json");
  EXPECT_EQ(c.layer(0).window, 0);
  EXPECT_EQ(c.layer(1).window, 64);

  j = llama_json();
  j["sliding_window"] = 16;
  std::vector<std::string> kinds(static_cast<size_t>(j["num_hidden_layers"].get<int>()),
                                 "full_attention");
  kinds[0] = "sliding_attention";
  j["layer_types"] = kinds;
  c = config_from_hf_json(j, "config.json");
  EXPECT_EQ(c.layer(0).window, 16);
  EXPECT_EQ(c.layer(1).window, 0);
}

TEST(Config, RejectsBadLayerTypesAndWindows) {
  auto expect_bad = [](const nlohmann::json& j, const std::string& what) {
    try {
      config_from_hf_json(j, "config.json");
      ADD_FAILURE() << "accepted: " << what;
    } catch (const BadInput& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  const int L = llama_json()["num_hidden_layers"].get<int>();
  auto j = llama_json();
  j["sliding_window"] = 16;
  j["layer_types"] = std::vector<std::string>(static_cast<size_t>(L) + 1, "full_attention");
  expect_bad(j, "expected a list of " + std::to_string(L) + " layer kinds");
  j["layer_types"] = std::vector<std::string>(static_cast<size_t>(L), "chunked_attention");
  expect_bad(j, "unknown layer kind");
  j = llama_json();
  j["layer_types"] = std::vector<std::string>(static_cast<size_t>(L), "sliding_attention");
  expect_bad(j, "has no 'sliding_window'");
  j["sliding_window"] = 0;
  expect_bad(j, "'sliding_window': value 0 is out of range");
  j = llama_json();
  j["model_type"] = "mistral";
  j["sliding_window"] = -5;
  expect_bad(j, "'sliding_window': value -5 is out of range");
}

nlohmann::json gemma3_json() {
  return nlohmann::json::parse(R"({
    "model_type": "gemma3_text", "hidden_size": 640, "num_hidden_layers": 8,
    "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
    "intermediate_size": 2048, "vocab_size": 262144, "max_position_embeddings": 32768,
    "rms_norm_eps": 1e-6, "query_pre_attn_scalar": 256, "sliding_window": 512,
    "sliding_window_pattern": 6, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0,
    "rope_scaling": null, "final_logit_softcapping": null, "attn_logit_softcapping": null,
    "hidden_activation": "gelu_pytorch_tanh"})");
}

TEST(Config, Gemma3FromTheOlderPatternKey) {
  Config c = config_from_hf_json(gemma3_json(), "config.json");
  EXPECT_EQ(c.family, Family::Gemma3);
  EXPECT_EQ(c.head_dim, 256);  // not 640 / 4
  EXPECT_EQ(c.mlp, MlpKind::GeGlu);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.post_norms);
  EXPECT_TRUE(c.tied_head);
  EXPECT_EQ(c.norm_weight_offset, 1.0f);
  EXPECT_FLOAT_EQ(c.embed_scale, std::sqrt(640.0f));
  EXPECT_FLOAT_EQ(c.attn_scale, 1.0f / 16.0f);
  EXPECT_EQ(c.final_logit_softcap, 0.0f);
  EXPECT_EQ(c.bos_id, 2);
  // Every sixth layer is global: layer 5 here; the sliding ones have the local RoPE base.
  for (int l = 0; l < 8; ++l) {
    EXPECT_EQ(c.layer(l).window, l == 5 ? 0 : 512) << l;
    EXPECT_EQ(c.layer(l).rope_theta, l == 5 ? 0.0f : 10000.0f) << l;
    EXPECT_EQ(c.layer(l).rope_linear, l == 5) << l;
  }
  EXPECT_EQ(c.rope_theta, 1e6f);
  EXPECT_EQ(c.rope_linear_factor, 1.0f);
}

TEST(Config, Gemma3LayerTypesRopeParametersAndMultimodalWrapper) {
  auto j = gemma3_json();
  j.erase("sliding_window_pattern");
  j["layer_types"] = {"full_attention",    "sliding_attention", "sliding_attention",
                      "full_attention",    "sliding_attention", "sliding_attention",
                      "sliding_attention", "full_attention"};
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  j["final_logit_softcapping"] = 30.0;
  Config c = config_from_hf_json(j, "config.json");
  EXPECT_EQ(c.layer(0).window, 0);
  EXPECT_EQ(c.layer(1).window, 512);
  EXPECT_EQ(c.layer(7).window, 0);
  EXPECT_EQ(c.rope_linear_factor, 8.0f);
  EXPECT_EQ(c.final_logit_softcap, 30.0f);
  // transformers 5: rope_parameters keyed by layer kind.
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j.erase("rope_local_base_freq");
  j["rope_parameters"] = {
      {"full_attention", {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 5e5}}},
      {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 2e4}}}};
  c = config_from_hf_json(j, "config.json");
  EXPECT_EQ(c.rope_theta, 5e5f);
  EXPECT_EQ(c.rope_linear_factor, 4.0f);
  EXPECT_EQ(c.layer(1).rope_theta, 2e4f);
  // The multimodal "gemma3" config runs its text_config.
  nlohmann::json mm = {{"model_type", "gemma3"}, {"text_config", j}};
  mm["text_config"]["model_type"] = "gemma3_text";
  c = config_from_hf_json(mm, "config.json");
  EXPECT_EQ(c.family, Family::Gemma3);
  EXPECT_EQ(c.layer(1).window, 512);
  // Fields equal to Gemma3TextConfig's defaults may be left out of a text_config.
  mm["text_config"].erase("num_key_value_heads");
  mm["text_config"].erase("vocab_size");
  c = config_from_hf_json(mm, "config.json");
  EXPECT_EQ(c.n_kv_head, 4);
  EXPECT_EQ(c.vocab_size, 262208);
}

TEST(Config, Gemma3BadWindowsAndKinds) {
  auto expect_bad = [](const nlohmann::json& j, const std::string& what) {
    try {
      config_from_hf_json(j, "config.json");
      ADD_FAILURE() << "accepted: " << what;
    } catch (const BadInput& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  auto j = gemma3_json();
  j.erase("sliding_window");
  expect_bad(j, "no 'sliding_window'");
  j["sliding_window"] = 0;
  expect_bad(j, "'sliding_window': value 0 is out of range");
  j = gemma3_json();
  j["layer_types"] = std::vector<std::string>(3, "full_attention");
  expect_bad(j, "expected a list of 8 layer kinds");
  j["layer_types"] = std::vector<std::string>(8, "local");
  expect_bad(j, "unknown layer kind");
  j = gemma3_json();
  j["query_pre_attn_scalar"] = 0;
  expect_bad(j, "query_pre_attn_scalar");
  j = gemma3_json();
  j["attn_logit_softcapping"] = 50.0;  // Gemma 2
  EXPECT_THROW(config_from_hf_json(j, "config.json"), Unsupported);
}

TEST(Config, Qwen3HasQkNormAndNoBiases) {
  auto j = llama_json();
  j["model_type"] = "qwen3";
  j["head_dim"] = 24;
  Config c = config_from_hf_json(j, "config.json");
  EXPECT_EQ(c.family, Family::Qwen3);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.post_norms);
  EXPECT_EQ(c.norm_weight_offset, 0.0f);
  EXPECT_EQ(c.head_dim, 24);
  EXPECT_EQ(c.mlp, MlpKind::SwiGlu);
  EXPECT_TRUE(c.layer_specs.empty());
  // Qwen3 slides, like Qwen2, only when switched on, from max_window_layers on.
  j["sliding_window"] = 32;
  j["use_sliding_window"] = true;
  j["max_window_layers"] = 1;
  c = config_from_hf_json(j, "config.json");
  EXPECT_EQ(c.layer(0).window, 0);
  EXPECT_EQ(c.layer(1).window, 32);
}

}  // namespace
}  // namespace kvscope::model
