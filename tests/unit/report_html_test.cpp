// report.html's data: the resolution chosen at write time, the packed arrays decoded back to
// the capture's numbers, the page's markers replaced, nothing in the data able to end a
// script element, and the page's code embedded whole.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis_fixture.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/raw_tensor.hpp"
#include "kvscope/report/html_report.hpp"

namespace kvscope::report {
namespace {

using nlohmann::json;

std::vector<uint8_t> unbase64(const std::string& s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    const int v = val(c);
    if (v < 0) break;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

struct Page {
  json meta;
  std::map<std::string, std::vector<uint8_t>> arrays;  // by array name
  std::string html;
};

Page parse(const std::string& html) {
  Page p;
  p.html = html;
  const std::string open = "<script type=\"application/json\" id=\"kv-meta\">";
  const size_t a = html.find(open);
  EXPECT_NE(a, std::string::npos);
  const size_t b = html.find("</script>", a);
  p.meta = json::parse(html.substr(a + open.size(), b - a - open.size()));
  for (const auto& [name, info] : p.meta["arrays"].items()) {
    const std::string tag =
        "<script type=\"application/octet-stream\" id=\"" + info["id"].get<std::string>() + "\">";
    const size_t s = html.find(tag);
    EXPECT_NE(s, std::string::npos) << name;
    const size_t e = html.find("</script>", s);
    p.arrays[name] = unbase64(html.substr(s + tag.size(), e - s - tag.size()));
  }
  return p;
}

float f16_at(const std::vector<uint8_t>& v, size_t i) {
  return io::f16_to_f32(static_cast<uint16_t>(v[2 * i] | (v[2 * i + 1] << 8)));
}

class HtmlReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cap = analysis::testing::synthetic_capture(true);
    // As the engine captures now: every head's exact map, and the summary beside it.
    for (auto& l : cap.layers) {
      l.pattern_heads.clear();
      for (int h = 0; h < cap.n_head; ++h) l.pattern_heads.push_back(h);
      l.attn = capture::summarize_pattern(l.pattern, {});
    }
    b = build_bundle(cap, opt, {});
  }
  capture::Capture cap;
  ReportOptions opt;
  Bundle b;
};

TEST_F(HtmlReportTest, ShortCaptureGetsExactMapsThatDecodeToThePattern) {
  const HtmlReport r = html_report(cap, b, opt, nullptr, nullptr);
  EXPECT_EQ(r.maps, "exact");
  const Page p = parse(r.html);
  EXPECT_EQ(p.meta["attention"]["mode"], "exact");
  EXPECT_EQ(p.meta["seq"], cap.seq_len());
  const int S = cap.seq_len();
  for (int l = 0; l < cap.n_layer; ++l)
    for (int h = 0; h < cap.n_head; ++h) {
      const auto& m = p.arrays.at("map." + std::to_string(l) + "." + std::to_string(h));
      ASSERT_EQ(m.size(), static_cast<size_t>(S) * (S + 1));  // triangle, 2 bytes a cell
      size_t o = 0;
      for (int i = 0; i < S; ++i)
        for (int j = 0; j <= i; ++j, ++o) {
          const float want = cap.layers[l].pattern.at(h, i, j);
          EXPECT_NEAR(f16_at(m, o), want, 1e-3 * want + 1e-7)
              << l << " " << h << " " << i << " " << j;
        }
    }
}

TEST_F(HtmlReportTest, PooledMapsKeepEachRowsTopKeysExactly) {
  const HtmlReport r = html_report(cap, b, opt, nullptr, nullptr, {.maps = "pooled"});
  EXPECT_EQ(r.maps, "pooled");
  const Page p = parse(r.html);
  const int S = cap.seq_len(), H = cap.n_head, K = p.meta["attention"]["top_k"];
  EXPECT_EQ(K, r.top_k);
  EXPECT_GE(K, 1);
  const auto& keys = p.arrays.at("topk_key.0");
  const auto& w = p.arrays.at("topk_w.0");
  ASSERT_EQ(keys.size(), static_cast<size_t>(H) * S * K * 2);
  for (int h = 0; h < H; ++h)
    for (int i = 0; i < S; ++i) {
      // The first key of each row is its largest weight.
      const size_t at = (static_cast<size_t>(h) * S + i) * K;
      const int key = keys[2 * at] | (keys[2 * at + 1] << 8);
      float best = 0;
      int best_j = 0;
      for (int j = 0; j <= i; ++j)
        if (cap.layers[0].pattern.at(h, i, j) > best)
          best = cap.layers[0].pattern.at(h, i, best_j = j);
      EXPECT_EQ(key, best_j) << h << " " << i;
      EXPECT_NEAR(f16_at(w, at), best, 1e-3 * best);
    }
  EXPECT_EQ(p.arrays.count("map.0.0"), 0u);
}

TEST_F(HtmlReportTest, TokenTextCannotEndTheDataScript) {
  cap.token_strings[0] = "</script><script>alert(1)</script>/*KVSCOPE_JS*/<!--";
  const std::string html = html_report(cap, b, opt, nullptr, nullptr).html;
  EXPECT_EQ(html.find("</script><script>alert"), std::string::npos);
  EXPECT_EQ(html.find("/*KVSCOPE_CSS*/"), std::string::npos);
  EXPECT_EQ(html.find("<!--KVSCOPE_DATA-->"), std::string::npos);
  const Page p = parse(html);
  EXPECT_EQ(p.meta["tokens"][0], cap.token_strings[0]);  // the text itself survives
}

TEST_F(HtmlReportTest, SelfContainedWithAPolicyThatForbidsRequests) {
  const std::string html = html_report(cap, b, opt, nullptr, nullptr).html;
  EXPECT_NE(html.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
  for (const char* outside : {"src=\"", "@import"})
    EXPECT_EQ(html.find(outside), std::string::npos) << outside;
  // url() only names a fragment of the same document (the exported SVG's gradients).
  for (size_t at = html.find("url("); at != std::string::npos; at = html.find("url(", at + 1))
    EXPECT_EQ(html[at + 4], '#') << html.substr(at, 30);
  // The only addresses are XML namespace names (SVG export), never fetched.
  for (size_t at = html.find("://"); at != std::string::npos; at = html.find("://", at + 1))
    EXPECT_EQ(html.compare(at, 14, "://www.w3.org/"), 0) << html.substr(at - 5, 40);
  EXPECT_NE(html.find("window.kvscope"), std::string::npos);  // the page's code is in
}

TEST_F(HtmlReportTest, WithoutAttentionThePageSaysSoAndKeepsKeysAndValues) {
  capture::Capture c = analysis::testing::synthetic_capture(false);
  const Bundle bb = build_bundle(c, opt, {});
  const HtmlReport r = html_report(c, bb, opt, nullptr, nullptr);
  EXPECT_EQ(r.maps, "none");
  const Page p = parse(r.html);
  EXPECT_TRUE(p.meta["attention"].is_null());
  EXPECT_EQ(p.arrays.count("kv.0"), 1u);
  EXPECT_THROW(html_report(c, bb, opt, nullptr, nullptr, {.maps = "sometimes"}), BadInput);
}

TEST_F(HtmlReportTest, ImportanceDefinitionsMatchTheBundle) {
  const Page p = parse(html_report(cap, b, opt, nullptr, nullptr).html);
  std::map<std::string, json> by;
  for (const auto& d : p.meta["importance"]) by[d["name"]] = d;
  ASSERT_TRUE(by.count("key_norm") && by.count("attention_received") && by.count("last_query"));
  for (size_t i = 0; i < b.magnitudes.key.size(); ++i)
    EXPECT_DOUBLE_EQ(by["key_norm"]["values"][i].get<double>(), b.magnitudes.key[i]);
  // Attention received: mean over layers and heads of the column sums of the pattern.
  const int S = cap.seq_len();
  for (int j = 0; j < S; ++j) {
    double want = 0;
    for (const auto& l : cap.layers)
      for (int h = 0; h < cap.n_head; ++h)
        for (int i = j; i < S; ++i) want += l.pattern.at(h, i, j);
    want /= cap.n_layer * cap.n_head;
    EXPECT_NEAR(by["attention_received"]["values"][j].get<double>(), want, 1e-5);
  }
}

}  // namespace
}  // namespace kvscope::report
