// The compression lab: quantizers bit for bit against the gguf package, methods' keep sets,
// metrics, the protocol (full = reference, eviction of nothing = full, reference = one
// forward), eviction against an independent recomputation, and the whole experiment against
// transformers (tests/oracle/make_compress_fixtures.py).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <numeric>

#include <nlohmann/json.hpp>

#include "kvscope/analysis/compress_experiment.hpp"
#include "kvscope/analysis/compress_methods.hpp"
#include "kvscope/analysis/compress_metrics.hpp"
#include "kvscope/analysis/compress_quant.hpp"
#include "kvscope/capture/compress_protocol.hpp"
#include "kvscope/capture/loaded_model.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/raw_tensor.hpp"
#include "kvscope/io/safetensors.hpp"

namespace kvscope::analysis {
namespace {

namespace fs = std::filesystem;
const fs::path kFixtures = KVSCOPE_FIXTURES_DIR;

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

capture::LoadedModel load_fixture_model(const std::string& name) {
  io::HubOptions hub;
  hub.offline = true;
  return capture::load_model((kFixtures / "models" / name).string(), hub);
}

// ---- quantizers ----------------------------------------------------------------------------

TEST(CompressQuant, Fp16RoundsAsNumpy) {
  const nlohmann::json fx =
      io::read_json_file((kFixtures / "compress" / "gguf_quants.json").string());
  const auto in = fx["fp16"]["input"].get<std::vector<double>>();
  const auto bits = fx["fp16"]["bits"].get<std::vector<int>>();
  ASSERT_EQ(in.size(), bits.size());
  for (size_t i = 0; i < in.size(); ++i)
    EXPECT_EQ(fp16_bits(static_cast<float>(in[i])), bits[i]) << "input " << in[i];
  EXPECT_EQ(fp16_value(0x3c00), 1.0f);
  EXPECT_EQ(fp16_value(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_value(0xfbff), -65504.0f);
}

TEST(CompressQuant, BlockFormatsMatchTheGgufPackageBitForBit) {
  const nlohmann::json fx =
      io::read_json_file((kFixtures / "compress" / "gguf_quants.json").string());
  const auto in = fx["input"].get<std::vector<double>>();
  std::vector<float> x(in.begin(), in.end());
  ASSERT_EQ(x.size() % kBlockValues, 0u);
  const size_t n_blocks = x.size() / kBlockValues;
  for (BlockFormat f : {BlockFormat::Q8_0, BlockFormat::Q5_1, BlockFormat::Q5_0, BlockFormat::Q4_1,
                        BlockFormat::Q4_0}) {
    SCOPED_TRACE(block_format_name(f));
    const nlohmann::json& e = fx["formats"][block_format_name(f)];
    const std::string hex = e["packed_hex"];
    const auto deq = e["dequantized"].get<std::vector<double>>();
    ASSERT_EQ(hex.size(), 2 * n_blocks * static_cast<size_t>(block_bytes(f)));
    for (size_t b = 0; b < n_blocks; ++b) {
      uint8_t block[64];
      quantize_block(f, &x[b * kBlockValues], block);
      std::string got;
      for (int i = 0; i < block_bytes(f); ++i) got += fmt::format("{:02x}", block[i]);
      EXPECT_EQ(got, hex.substr(2 * b * block_bytes(f), 2 * static_cast<size_t>(block_bytes(f))))
          << "block " << b;
      float back[kBlockValues];
      dequantize_block(f, block, back);
      for (int j = 0; j < kBlockValues; ++j)
        EXPECT_EQ(bits_of(back[j]), bits_of(static_cast<float>(deq[b * kBlockValues + j])))
            << "block " << b << " value " << j << ": " << back[j] << " vs "
            << deq[b * kBlockValues + j];
    }
  }
}

TEST(CompressQuant, BlockSizesAreLlamaCpps) {
  EXPECT_EQ(block_bytes(BlockFormat::Q8_0), 34);  // 8.5 bits a value
  EXPECT_EQ(block_bytes(BlockFormat::Q5_1), 24);
  EXPECT_EQ(block_bytes(BlockFormat::Q5_0), 22);
  EXPECT_EQ(block_bytes(BlockFormat::Q4_1), 20);
  EXPECT_EQ(block_bytes(BlockFormat::Q4_0), 18);  // 4.5 bits a value
}

TEST(CompressQuant, IntTokenUsesMinMaxAndFp16Scale) {
  std::vector<float> x = {0, 1, 2, 3, 0.4f, 0.6f, 1.0f, 1.0f};  // two rows of 4
  quantize_rows({QuantScheme::IntToken, BlockFormat::Q8_0, 2}, x, 2, 4);
  EXPECT_EQ(x[0], 0.0f);
  EXPECT_EQ(x[1], 1.0f);
  EXPECT_EQ(x[3], 3.0f);
  // Row 2: lo 0.4, scale 0.2; 0.6 -> code 1, back as fp16(0.4) + fp16(0.2).
  EXPECT_EQ(x[4], to_fp16(0.4f));
  EXPECT_EQ(x[5], to_fp16(0.4f) + to_fp16(0.2f));
  EXPECT_EQ(x[7], to_fp16(0.4f) + 3.0f * to_fp16(0.2f));
}

TEST(CompressQuant, IntChannelGroupsAcrossRows) {
  // Channel 0 spans 0..3, channel 1 is constant: 2 bits reproduce both exactly.
  std::vector<float> x = {0, 5, 1, 5, 2, 5, 3, 5};
  quantize_rows({QuantScheme::IntChannel, BlockFormat::Q8_0, 2}, x, 4, 2);
  EXPECT_EQ(x, (std::vector<float>{0, 5, 1, 5, 2, 5, 3, 5}));
}

TEST(CompressQuant, KiviKeepsTheLast32RowsExact) {
  const int n = 40, D = 4;
  std::vector<float> x(static_cast<size_t>(n) * D);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i));
  const std::vector<float> orig = x;
  quantize_rows({QuantScheme::KiviKey, BlockFormat::Q8_0, 2}, x, n, D);
  for (int i = n - kKiviResidual; i < n; ++i)
    for (int d = 0; d < D; ++d)
      EXPECT_EQ(x[static_cast<size_t>(i) * D + d], orig[static_cast<size_t>(i) * D + d]);
  int changed = 0;
  for (int i = 0; i < n - kKiviResidual; ++i)
    for (int d = 0; d < D; ++d)
      changed += x[static_cast<size_t>(i) * D + d] != orig[static_cast<size_t>(i) * D + d];
  EXPECT_GT(changed, 16);
}

TEST(CompressQuant, BytesCountCodesScalesAndResiduals) {
  const QuantConfig q4{QuantScheme::Block, BlockFormat::Q4_0, 0};
  EXPECT_EQ(quantized_bytes(q4, 10, 64), 10 * 2 * 18);
  EXPECT_EQ(quantized_bytes({QuantScheme::IntToken, BlockFormat::Q8_0, 4}, 10, 64), 10 * (32 + 4));
  EXPECT_EQ(quantized_bytes({QuantScheme::IntChannel, BlockFormat::Q8_0, 2}, 10, 64), 64 * (3 + 4));
  // kivi2 over 100 rows: 32 rows at fp16, 68 quantized in key groups of 32, 32 and 4 rows.
  EXPECT_EQ(quantized_bytes({QuantScheme::KiviKey, BlockFormat::Q8_0, 2}, 100, 64),
            32 * 64 * 2 + 64 * (8 + 4) * 2 + 64 * (1 + 4));
  EXPECT_EQ(quantized_bytes({QuantScheme::KiviValue, BlockFormat::Q8_0, 2}, 100, 64),
            32 * 64 * 2 + 68 * 2 * (8 + 4));
  EXPECT_EQ(fp16_cache_bytes(30, 3, 512, 64), int64_t{2} * 30 * 3 * 512 * 64 * 2);
}

TEST(CompressQuant, HadamardIsOrthonormalAndItsOwnInverse) {
  std::vector<float> e(16, 0.0f);
  e[0] = 1;
  hadamard_rotate(e.data(), 16);
  for (float v : e) EXPECT_FLOAT_EQ(v, 0.25f);
  std::vector<float> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(1.3f * static_cast<float>(i)) * (i % 7);
  const std::vector<float> orig = x;
  double n0 = 0, n1 = 0;
  for (float v : x) n0 += v * v;
  hadamard_rotate(x.data(), 64);
  for (float v : x) n1 += v * v;
  EXPECT_NEAR(n1, n0, 1e-4 * n0);
  hadamard_rotate(x.data(), 64);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], orig[i], 1e-5);
  EXPECT_THROW(hadamard_rotate(x.data(), 48), BadInput);
}

// ---- methods ---------------------------------------------------------------------------------

TEST(CompressMethods, TokensKeptFollowsTheBudget) {
  EXPECT_EQ(tokens_kept(0.5, 512), 256);
  EXPECT_EQ(tokens_kept(0.75, 512), 128);
  EXPECT_EQ(tokens_kept(0.9, 512), 51);
  EXPECT_EQ(tokens_kept(0.9, 10), 1);  // 10 * (1 - 0.9) is 0.99999999999999978 in doubles
  EXPECT_EQ(tokens_kept(0, 7), 7);
  EXPECT_EQ(tokens_kept(3, 10), 3);  // >= 1: a token count
  EXPECT_EQ(tokens_kept(10, 10), 10);
  EXPECT_THROW(tokens_kept(0.99, 10), BadInput);  // would keep 0
  EXPECT_THROW(tokens_kept(11, 10), BadInput);
  EXPECT_THROW(tokens_kept(1.5, 10), BadInput);
  EXPECT_THROW(tokens_kept(-0.1, 10), BadInput);
  EXPECT_THROW(tokens_kept(NAN, 10), BadInput);
}

TEST(CompressMethods, ParsesNamesAndCompositions) {
  MethodSpec m = parse_method("streaming_llm+q4_0", 64);
  EXPECT_EQ(m.eviction, Eviction::StreamingLlm);
  ASSERT_TRUE(m.keys && m.values);
  EXPECT_EQ(m.keys->format, BlockFormat::Q4_0);
  m = parse_method("k:q8_0+v:q4_0", 64);
  EXPECT_EQ(m.keys->format, BlockFormat::Q8_0);
  EXPECT_EQ(m.values->format, BlockFormat::Q4_0);
  m = parse_method("kivi2", 16);
  EXPECT_EQ(m.keys->scheme, QuantScheme::KiviKey);
  EXPECT_EQ(m.values->scheme, QuantScheme::KiviValue);
  EXPECT_EQ(m.keys->bits, 2);
  m = parse_method("prerope-int3-channel", 16);
  EXPECT_TRUE(m.pre_rope_keys);
  EXPECT_FALSE(m.values.has_value());
  m = parse_method("v:int8-token", 16);
  EXPECT_FALSE(m.keys.has_value());
  EXPECT_EQ(m.values->bits, 8);
  m = parse_method("q4_0+rot", 64);
  EXPECT_TRUE(m.rotate);
  EXPECT_TRUE(parse_method("h2o", 16).needs_attention());
  EXPECT_FALSE(parse_method("full", 16).quantizes());
}

TEST(CompressMethods, RejectsWhatIsNotAMethod) {
  try {
    parse_method("lru", 64);
    FAIL() << "no BadInput";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("unknown method 'lru'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("streaming_llm"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_method("int9-token", 64), BadInput);
  EXPECT_THROW(parse_method("int1-channel", 64), BadInput);
  EXPECT_THROW(parse_method("window+knorm", 64), BadInput);
  EXPECT_THROW(parse_method("q8_0+k:q4_0", 64), BadInput);
  EXPECT_THROW(parse_method("rot", 64), BadInput);
  EXPECT_THROW(parse_method("window+rot", 64), BadInput);
  EXPECT_THROW(parse_method("q4_0", 16), BadInput);            // head_dim not a multiple of 32
  EXPECT_THROW(parse_method("int4-token+rot", 48), BadInput);  // not a power of two
  EXPECT_THROW(parse_method("full+window", 64), BadInput);
  EXPECT_THROW(parse_method("v:prerope-int4-channel", 64), BadInput);
  EXPECT_THROW(parse_method("", 64), BadInput);
}

// One layer, one KV head, D = 2: keys set per position.
model::KvCache small_cache(const std::vector<std::array<float, 2>>& keys) {
  model::KvCache c(1, 1, 2, static_cast<int>(keys.size()), false);
  c.advance(static_cast<int>(keys.size()));
  for (size_t t = 0; t < keys.size(); ++t) {
    c.k_row(0, 0, static_cast<int>(t))[0] = keys[t][0];
    c.k_row(0, 0, static_cast<int>(t))[1] = keys[t][1];
    c.v_row(0, 0, static_cast<int>(t))[0] = 1;
  }
  return c;
}

TEST(CompressMethods, KeepSetsOfTheRules) {
  const model::KvCache c =
      small_cache({{3, 0}, {1, 0}, {2, 0}, {1, 0}, {5, 0}, {0, 4}, {0.5f, 0}, {2, 2}});
  MethodInputs in;
  in.context = 8;
  in.n_head = 1;
  in.sinks = 2;
  using V = std::vector<int>;
  EXPECT_EQ(eviction_keep_set(Eviction::Window, 3, in, c, 0, 0), (V{5, 6, 7}));
  EXPECT_EQ(eviction_keep_set(Eviction::StreamingLlm, 5, in, c, 0, 0), (V{0, 1, 5, 6, 7}));
  EXPECT_EQ(eviction_keep_set(Eviction::StreamingLlm, 2, in, c, 0, 0), (V{0, 1}));
  EXPECT_EQ(eviction_keep_set(Eviction::StreamingLlm, 1, in, c, 0, 0), (V{0}));
  // Smallest key norms: 0.5 (6), then 1 at 1 and 3 (a tie: the earlier first).
  EXPECT_EQ(eviction_keep_set(Eviction::Knorm, 2, in, c, 0, 0), (V{1, 6}));
  EXPECT_EQ(eviction_keep_set(Eviction::Knorm, 3, in, c, 0, 0), (V{1, 3, 6}));
  // keydiff: every key but 5 and 7 points along x; 5 is least like the mean direction.
  EXPECT_EQ(eviction_keep_set(Eviction::KeyDiff, 1, in, c, 0, 0), (V{5}));
  // Magnitude keeps the largest key + value norm (values are all 1 here): 4 (5), 5 (4).
  EXPECT_EQ(eviction_keep_set(Eviction::Magnitude, 2, in, c, 0, 0), (V{4, 5}));
  const V r1 = eviction_keep_set(Eviction::Random, 4, in, c, 0, 0);
  EXPECT_EQ(r1.size(), 4u);
  EXPECT_EQ(r1, eviction_keep_set(Eviction::Random, 4, in, c, 0, 0));  // seeded
  in.seed = 1;
  const V r2 = eviction_keep_set(Eviction::Random, 4, in, c, 0, 0);
  EXPECT_EQ(r2.size(), 4u);
  EXPECT_THROW(eviction_keep_set(Eviction::Window, 0, in, c, 0, 0), BadInput);
  EXPECT_THROW(eviction_keep_set(Eviction::H2o, 4, in, c, 0, 0), BadInput);  // no attention
}

TEST(CompressMethods, AttentionRulesReadThePrefillPattern) {
  const int C = 40;
  std::vector<std::array<float, 2>> keys(C, {1, 0});
  const model::KvCache c = small_cache(keys);
  // One head; every query puts 0.5 on position 7, the rest spread over what it sees; the
  // last query also favours position 20, and queries 8..39 also favour 3.
  std::vector<std::vector<float>> patterns(1, std::vector<float>(static_cast<size_t>(C) * C, 0.0f));
  auto P = [&](int i, int j) -> float& { return patterns[0][static_cast<size_t>(i) * C + j]; };
  for (int i = 0; i < C; ++i) {
    for (int j = 0; j <= i; ++j) P(i, j) = 0.1f / static_cast<float>(i + 1);
    if (i >= 7) P(i, 7) += 0.5f;
    if (i >= 8) P(i, 3) += 0.2f;
  }
  P(C - 1, 20) += 0.3f;
  MethodInputs in;
  in.context = C;
  in.n_head = 1;
  in.patterns = &patterns;
  using V = std::vector<int>;
  // h2o, 4 kept: 2 heavy hitters (7, then 3) and the 2 most recent.
  EXPECT_EQ(eviction_keep_set(Eviction::H2o, 4, in, c, 0, 0), (V{3, 7, 38, 39}));
  // tova: the last query's top 2 are 7 (0.5) and 20 (0.3).
  EXPECT_EQ(eviction_keep_set(Eviction::Tova, 2, in, c, 0, 0), (V{7, 20}));
  // snapkv, 33 kept: the last 32 positions, then the best pooled score among 0..7. Pooling
  // over 5 neighbours: position 5 reaches 3..7, both favoured keys, and wins.
  const V s = eviction_keep_set(Eviction::SnapKv, 33, in, c, 0, 0);
  ASSERT_EQ(s.size(), 33u);
  EXPECT_EQ(s[0], 5);
  EXPECT_EQ(s[1], 8);
  // Fewer kept than the window: the most recent only.
  EXPECT_EQ(eviction_keep_set(Eviction::SnapKv, 3, in, c, 0, 0), (V{37, 38, 39}));
}

// ---- metrics ---------------------------------------------------------------------------------

TEST(CompressMetrics, KlTop1PerplexityAndDeltaP) {
  // Two positions, vocabulary of 2. Reference p = (0.5, 0.5) and (0.9, 0.1).
  const std::vector<float> ref = {0, 0, static_cast<float>(std::log(9.0)), 0};
  const std::vector<int32_t> y = {0, 1};
  const ReferenceRows r = prepare_reference(ref, y, 2);
  // Method: (0.75, 0.25) and the reference itself.
  const std::vector<float> got = {static_cast<float>(std::log(3.0)), 0, ref[2], ref[3]};
  const std::vector<PositionScore> s = score_rows(r, got);
  const double kl0 = 0.5 * std::log(0.5 / 0.75) + 0.5 * std::log(0.5 / 0.25);
  EXPECT_NEAR(s[0].kl, kl0, 1e-6);
  EXPECT_NEAR(s[1].kl, 0.0, 1e-12);
  EXPECT_TRUE(s[0].same_top1);  // the reference's tie goes to token 0, as the method's top
  EXPECT_TRUE(s[1].same_top1);
  EXPECT_NEAR(s[0].delta_p, 0.25, 1e-6);
  const CompressMetrics m = summarize(s);
  EXPECT_NEAR(m.kl_mean, kl0 / 2, 1e-6);
  EXPECT_NEAR(m.kl_max, kl0, 1e-6);
  EXPECT_NEAR(m.kl_p50, kl0 / 2, 1e-6);  // linear between the two
  EXPECT_NEAR(m.ppl_ref, std::exp((std::log(2.0) + std::log(10.0)) / 2), 1e-5);
  EXPECT_NEAR(m.ppl, std::exp((-std::log(0.75) + std::log(10.0)) / 2), 1e-5);
  EXPECT_NEAR(m.ppl_ratio, m.ppl / m.ppl_ref, 1e-9);
  EXPECT_NEAR(m.delta_p_rms, std::sqrt(0.25 * 0.25 / 2), 1e-6);
  EXPECT_THROW(prepare_reference(ref, std::vector<int32_t>{0, 2}, 2), BadInput);
}

// ---- the protocol on a real (tiny) model -----------------------------------------------------

std::vector<int32_t> some_ids(int n, int vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = (i * 37 + 11) % vocab;
  return ids;
}

CompressReport run(const capture::LoadedModel& m, const std::vector<int32_t>& ids, int C, int S,
                   int K, std::vector<std::string> methods, std::vector<double> budgets) {
  CompressOptions o;
  o.protocol = {C, S, K, false, false};
  o.methods = std::move(methods);
  o.budgets = std::move(budgets);
  const CompressPlan plan = plan_compress(o, m.model.config());
  return run_compress(m, ids, plan, o);
}

TEST(CompressProtocol, FullGivesZeroKlAndEvictingNothingEqualsFull) {
  const capture::LoadedModel m = load_fixture_model("llama-gqa");
  const auto ids = some_ids(2 * (40 + 8 + 1), m.model.config().vocab_size);
  const CompressReport r = run(m, ids, 40, 8, 2, {"full", "window", "knorm"}, {0});
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.scored, 16);
  for (const CompressResult& x : r.results) {
    SCOPED_TRACE(x.method);
    EXPECT_LT(x.metrics.kl_max, 1e-9);
    EXPECT_EQ(x.metrics.top1_agree, 1.0);
    EXPECT_NEAR(x.metrics.ppl_ratio, 1.0, 1e-9);
    EXPECT_EQ(x.kept_tokens, 40);
    EXPECT_EQ(x.cache_bytes, r.fp16_bytes);
  }
}

TEST(CompressProtocol, ReferenceIsOneForwardOverContextAndContinuation) {
  const capture::LoadedModel m = load_fixture_model("qwen2");
  const int C = 30, S = 10, V = m.model.config().vocab_size;
  const auto ids = some_ids(C + S + 1, V);
  std::vector<float> ref;
  capture::run_protocol(m, ids, {C, S, 1, false, false}, {},
                        [&](const capture::Prefill&, int job, std::span<const float> logits) {
                          if (job < 0) ref.assign(logits.begin(), logits.end());
                        });
  model::KvCache cache = m.model.new_cache(C + S);
  const model::ForwardResult one =
      m.model.forward(cache, std::span<const int32_t>(ids).subspan(0, C + S), {.all_logits = true});
  ASSERT_EQ(ref.size(), static_cast<size_t>(S) * V);
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(ref[i], one.logits[static_cast<size_t>(C) * V + i], 1e-4) << i;
}

TEST(CompressProtocol, RejectsShortTextsAndLongWindows) {
  const capture::LoadedModel m = load_fixture_model("gpt2-a");  // 64 positions
  const model::Config& cfg = m.model.config();
  try {
    capture::check_protocol({40, 8, 2, false, false}, cfg, 50);
    FAIL();
  } catch (const BadInput& e) {
    EXPECT_STREQ(e.what(),
                 "the text is too short: it has 50 tokens; 2 windows of 40 + 8 + 1 need 98");
  }
  EXPECT_THROW(capture::check_protocol({60, 8, 1, false, false}, cfg, 1000), BadInput);
  EXPECT_THROW(capture::check_protocol({0, 8, 1, false, false}, cfg, 1000), BadInput);
  EXPECT_THROW(capture::check_protocol({40, 8, 1, false, false}, cfg, 0), BadInput);
}

TEST(CompressProtocol, KvCacheEvictionFlags) {
  model::KvCache c(2, 2, 4, 8, false);
  c.advance(6);
  EXPECT_FALSE(c.has_evictions(0));
  c.evict(1, 0, 2);
  c.evict(1, 0, 5);
  c.evict(1, 0, 5);
  EXPECT_TRUE(c.has_evictions(1));
  EXPECT_FALSE(c.has_evictions(0));
  EXPECT_TRUE(c.evicted(1, 0, 2));
  EXPECT_FALSE(c.evicted(1, 1, 2));
  c.reserve_more(20);  // growing keeps the flags
  EXPECT_TRUE(c.evicted(1, 0, 5));
  c.truncate(4);  // drops position 5's flag, keeps 2's
  EXPECT_FALSE(c.evicted(1, 0, 5));
  EXPECT_TRUE(c.evicted(1, 0, 2));
  c.truncate(2);
  EXPECT_FALSE(c.has_evictions(1));
  EXPECT_THROW(c.evict(0, 0, 2), BadInput);  // beyond the length
}

// An independent Llama forward in double from the fixture's safetensors, with a predicate
// deciding which keys each (layer, KV head, query, key) may see.
struct TinyLlama {
  int d = 64, H = 4, G = 2, D = 16, F = 96, V = 509, L = 2;
  double eps = 1e-6, theta = 10000;
  std::map<std::string, std::vector<float>> w;

  explicit TinyLlama(const fs::path& file) {
    io::SafetensorsFile f(file.string());
    for (const io::RawTensor& t : f.tensors()) w[t.name] = io::to_f32(t);
  }
  const std::vector<float>& W(const std::string& n) const { return w.at(n); }
  // y [n, out] = x [n, in] W^T with W [out, in].
  static std::vector<double> lin(const std::vector<double>& x, const std::vector<float>& Wt, int n,
                                 int in, int out) {
    std::vector<double> y(static_cast<size_t>(n) * out, 0.0);
    for (int i = 0; i < n; ++i)
      for (int o = 0; o < out; ++o) {
        double s = 0;
        for (int k = 0; k < in; ++k)
          s += x[static_cast<size_t>(i) * in + k] * Wt[static_cast<size_t>(o) * in + k];
        y[static_cast<size_t>(i) * out + o] = s;
      }
    return y;
  }
  std::vector<double> rms(const std::vector<double>& x, const std::vector<float>& g, int n) const {
    std::vector<double> y(x.size());
    for (int i = 0; i < n; ++i) {
      double ss = 0;
      for (int k = 0; k < d; ++k)
        ss += x[static_cast<size_t>(i) * d + k] * x[static_cast<size_t>(i) * d + k];
      const double inv = 1.0 / std::sqrt(ss / d + eps);
      for (int k = 0; k < d; ++k)
        y[static_cast<size_t>(i) * d + k] =
            x[static_cast<size_t>(i) * d + k] * inv * g[static_cast<size_t>(k)];
    }
    return y;
  }
  void rope(double* v, int pos) const {
    for (int i = 0; i < D / 2; ++i) {
      const double a = pos * std::pow(theta, -2.0 * i / D);
      const double x0 = v[i], x1 = v[i + D / 2];
      v[i] = x0 * std::cos(a) - x1 * std::sin(a);
      v[i + D / 2] = x1 * std::cos(a) + x0 * std::sin(a);
    }
  }
  using Sees = std::function<bool(int l, int g, int i, int j)>;
  std::vector<double> logits(const std::vector<int32_t>& ids, const Sees& sees) const {
    const int n = static_cast<int>(ids.size());
    std::vector<double> x(static_cast<size_t>(n) * d);
    for (int i = 0; i < n; ++i)
      for (int k = 0; k < d; ++k)
        x[static_cast<size_t>(i) * d + k] = W(
            "model.embed_tokens.weight")[static_cast<size_t>(ids[static_cast<size_t>(i)]) * d + k];
    for (int l = 0; l < L; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      const auto h = rms(x, W(p + "input_layernorm.weight"), n);
      auto q = lin(h, W(p + "self_attn.q_proj.weight"), n, d, H * D);
      auto k = lin(h, W(p + "self_attn.k_proj.weight"), n, d, G * D);
      const auto v = lin(h, W(p + "self_attn.v_proj.weight"), n, d, G * D);
      for (int i = 0; i < n; ++i) {
        for (int hh = 0; hh < H; ++hh) rope(&q[static_cast<size_t>(i) * H * D + hh * D], i);
        for (int g = 0; g < G; ++g) rope(&k[static_cast<size_t>(i) * G * D + g * D], i);
      }
      std::vector<double> o(static_cast<size_t>(n) * H * D, 0.0);
      for (int hh = 0; hh < H; ++hh) {
        const int g = hh / (H / G);
        for (int i = 0; i < n; ++i) {
          std::vector<double> s(static_cast<size_t>(i) + 1, -INFINITY);
          double mx = -INFINITY;
          for (int j = 0; j <= i; ++j) {
            if (!sees(l, g, i, j)) continue;
            double dot = 0;
            for (int e = 0; e < D; ++e)
              dot += q[static_cast<size_t>(i) * H * D + hh * D + e] *
                     k[static_cast<size_t>(j) * G * D + g * D + e];
            s[static_cast<size_t>(j)] = dot / std::sqrt(static_cast<double>(D));
            mx = std::max(mx, s[static_cast<size_t>(j)]);
          }
          double z = 0;
          for (double& e : s) z += (e = std::exp(e - mx));
          for (int j = 0; j <= i; ++j)
            for (int e = 0; e < D; ++e)
              o[static_cast<size_t>(i) * H * D + hh * D + e] +=
                  s[static_cast<size_t>(j)] / z * v[static_cast<size_t>(j) * G * D + g * D + e];
        }
      }
      const auto ao = lin(o, W(p + "self_attn.o_proj.weight"), n, H * D, d);
      for (size_t e = 0; e < x.size(); ++e) x[e] += ao[e];
      const auto h2 = rms(x, W(p + "post_attention_layernorm.weight"), n);
      const auto gate = lin(h2, W(p + "mlp.gate_proj.weight"), n, d, F);
      const auto up = lin(h2, W(p + "mlp.up_proj.weight"), n, d, F);
      std::vector<double> mid(gate.size());
      for (size_t e = 0; e < mid.size(); ++e) mid[e] = gate[e] / (1 + std::exp(-gate[e])) * up[e];
      const auto down = lin(mid, W(p + "mlp.down_proj.weight"), n, F, d);
      for (size_t e = 0; e < x.size(); ++e) x[e] += down[e];
    }
    return lin(rms(x, W("model.norm.weight"), n), W("lm_head.weight"), n, d, V);
  }
};

TEST(CompressProtocol, EvictionEqualsAttentionWithThoseKeysRemoved) {
  const fs::path dir = kFixtures / "models" / "llama-gqa";
  const capture::LoadedModel m = load_fixture_model("llama-gqa");
  const TinyLlama ref(dir / "model.safetensors");
  const int C = 20, S = 6, V = m.model.config().vocab_size;
  ASSERT_EQ(V, ref.V);
  const auto ids = some_ids(C + S + 1, V);
  // Evicted: position 3 everywhere; position 5 in layer 1, KV head 0 only; position 0 in
  // layer 0, KV head 1.
  auto evicted = [](int l, int g, int j) {
    return j == 3 || (j == 5 && l == 1 && g == 0) || (j == 0 && l == 0 && g == 1);
  };
  std::vector<float> got;
  const capture::Job job = [&](const capture::Prefill&, model::KvCache& cache) {
    for (int l = 0; l < 2; ++l)
      for (int g = 0; g < 2; ++g)
        for (int j = 0; j < C; ++j)
          if (evicted(l, g, j)) cache.evict(l, g, j);
  };
  capture::run_protocol(m, ids, {C, S, 1, false, false}, {job},
                        [&](const capture::Prefill&, int j, std::span<const float> logits) {
                          if (j == 0) got.assign(logits.begin(), logits.end());
                        });
  // The context was prefilled whole; only the continuation's queries lose the keys.
  const std::vector<double> want = ref.logits(
      std::vector<int32_t>(ids.begin(), ids.begin() + C + S),
      [&](int l, int g, int i, int j) { return !(i >= C && j < C && evicted(l, g, j)); });
  ASSERT_EQ(got.size(), static_cast<size_t>(S) * V);
  double worst = 0, moved = 0;
  const std::vector<double> untouched =
      ref.logits(std::vector<int32_t>(ids.begin(), ids.begin() + C + S),
                 [](int, int, int, int) { return true; });
  for (int i = 0; i < S; ++i)
    for (int v = 0; v < V; ++v) {
      const size_t a = static_cast<size_t>(i) * V + v, b = static_cast<size_t>(C + i) * V + v;
      worst = std::max(worst, std::abs(got[a] - want[b]));
      moved = std::max(moved, std::abs(want[b] - untouched[b]));
    }
  EXPECT_LT(worst, 1e-4);
  EXPECT_GT(moved, 1e-2) << "the evictions should change the logits";
}

// ---- against transformers --------------------------------------------------------------------

class CompressOracle : public ::testing::TestWithParam<std::string> {};

TEST_P(CompressOracle, KlAndTop1MatchTransformers) {
  const fs::path file = kFixtures / "compress" / (GetParam() + ".json");
  if (GetParam() == "default_model" && !fs::exists(file)) GTEST_SKIP() << "no fixture";
  const nlohmann::json fx = io::read_json_file(file.string());
  const std::string model = fx["model"];
  capture::LoadedModel m = [&] {
    if (GetParam() != "default_model") return load_fixture_model(model);
    const fs::path gguf = fs::path(KVSCOPE_SOURCE_DIR) / "models" / (model + ".gguf");
    io::HubOptions hub;
    hub.offline = true;
    return capture::load_model(gguf.string(), hub);
  }();
  const auto ids = fx["ids"].get<std::vector<int32_t>>();
  // One run with every method and every budget of the fixture (one prefill per window); each
  // fixture row is then matched by method and budget.
  CompressOptions o;
  o.protocol = {fx["context"], fx["continuation"], fx["windows"], false, false};
  o.sinks = fx["sinks"];
  o.budgets.clear();
  for (const auto& e : fx["results"]) {
    const std::string name = e["method"];
    if (std::find(o.methods.begin(), o.methods.end(), name) == o.methods.end())
      o.methods.push_back(name);
    if (!e["budget"].is_null() &&
        std::find(o.budgets.begin(), o.budgets.end(), e["budget"].get<double>()) == o.budgets.end())
      o.budgets.push_back(e["budget"]);
  }
  const CompressPlan plan = plan_compress(o, m.model.config());
  const CompressReport r = run_compress(m, ids, plan, o);
  EXPECT_NEAR(r.ppl_ref, fx["reference_ppl"].get<double>(),
              1e-4 * fx["reference_ppl"].get<double>());
  for (const auto& e : fx["results"]) {
    const std::string name = e["method"];
    const std::optional<double> budget =
        e["budget"].is_null() ? std::nullopt : std::optional<double>(e["budget"].get<double>());
    SCOPED_TRACE(name + (budget ? fmt::format(" @ {}", *budget) : ""));
    const auto it = std::find_if(r.results.begin(), r.results.end(), [&](const CompressResult& x) {
      return x.method == name && x.budget == budget;
    });
    ASSERT_NE(it, r.results.end());
    EXPECT_EQ(it->kept_tokens, e["n_keep"].get<int>());
    const CompressMetrics& got = it->metrics;
    EXPECT_NEAR(got.kl_mean, e["kl_mean"].get<double>(), 1e-4);
    EXPECT_NEAR(got.top1_agree, e["top1_agree"].get<double>(), 1e-4);
    // A quantized value that sits on a rounding boundary can take the other code when the
    // engine's K differs from transformers' by 1e-6; the perplexity and delta-p of the actual
    // token move by a few 1e-4 then, and by up to 2e-3 in builds without FMA (the sanitizer
    // build, whose sums round differently) on the default model. KL and top-1, the issue's
    // measures, stay within 1e-4 in every build.
    EXPECT_NEAR(got.delta_p_rms, e["delta_p_rms"].get<double>(), 2e-4);
    EXPECT_NEAR(got.ppl_ratio, e["ppl_ratio"].get<double>(), 3e-3 * e["ppl_ratio"].get<double>());
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CompressOracle,
                         ::testing::Values("llama-gqa", "gpt2-a", "qwen2", "default_model"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (c == '-') c = '_';
                           return s;
                         });

}  // namespace
}  // namespace kvscope::analysis
