#include "kvscope/analysis/compress_experiment.hpp"

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::analysis {

namespace {

double parse_budget(const std::string& s, const std::string& where) {
  char* end = nullptr;
  const double b = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size())
    throw BadInput(fmt::format("{}: budget '{}' is not a number", where, s));
  return b;
}

}  // namespace

CompressPlan plan_compress(const CompressOptions& o, const model::Config& cfg) {
  CompressPlan plan;
  plan.protocol = o.protocol;
  const int C = o.protocol.context, D = cfg.head_dim;
  const bool rope = cfg.pos == model::PosKind::Rope;
  if (o.sinks < 0) throw BadInput(fmt::format("--sinks {} must not be negative", o.sinks));
  if (o.budgets.empty() && !o.methods.empty()) {
    // Fine when every method only quantizes; checked per method below.
  }
  std::vector<int> kept;
  for (double b : o.budgets) kept.push_back(tokens_kept(b, C));
  const std::vector<std::string> names = o.methods.empty() ? default_methods(D, rope) : o.methods;
  if (names.empty()) throw BadInput("--methods: no method given");
  bool attention = false, pre_rope = false;
  auto note = [&](const MethodSpec& m) {
    attention = attention || m.needs_attention();
    pre_rope = pre_rope || m.pre_rope_keys;
  };
  for (const std::string& name : names) {
    MethodSpec m = parse_method(name, D);
    note(m);
    if (m.evicts()) {
      if (o.budgets.empty())
        throw BadInput(fmt::format("method '{}' evicts tokens and needs --budgets", name));
      for (size_t i = 0; i < o.budgets.size(); ++i)
        plan.jobs.push_back({m, o.budgets[i], kept[i], -1, -1});
    } else {
      plan.jobs.push_back({m, std::nullopt, C, -1, -1});
    }
  }
  plan.n_results = static_cast<int>(plan.jobs.size());

  if (o.layer >= 0 && o.sensitivity.empty())
    throw BadInput(
        "--layer picks the layer whose KV heads --sensitivity scores: add --sensitivity");
  if (!o.sensitivity.empty()) {
    const size_t at = o.sensitivity.rfind('@');
    const std::string name = o.sensitivity.substr(0, at);
    MethodSpec m = parse_method(name, D);
    note(m);
    int n_keep = C;
    if (at != std::string::npos) {
      const double b = parse_budget(o.sensitivity.substr(at + 1), "--sensitivity");
      if (!m.evicts())
        throw BadInput(fmt::format("--sensitivity {}: '{}' does not evict, so it takes no budget",
                                   o.sensitivity, name));
      n_keep = tokens_kept(b, C);
      plan.sensitivity_budget = b;
    } else if (m.evicts()) {
      throw BadInput(fmt::format(
          "--sensitivity {}: '{}' evicts tokens; give a budget as METHOD@BUDGET (e.g. {}@0.5)",
          o.sensitivity, name, name));
    }
    plan.sensitivity_method = name;
    for (int l = 0; l < cfg.n_layer; ++l)
      plan.jobs.push_back({m, plan.sensitivity_budget, n_keep, l, -1});
    plan.n_sensitivity_layers = cfg.n_layer;
    if (o.layer >= 0) {
      if (o.layer >= cfg.n_layer)
        throw BadInput(fmt::format("--layer {} is out of range: the model has {} layers (0-{})",
                                   o.layer, cfg.n_layer, cfg.n_layer - 1));
      for (int g = 0; g < cfg.n_kv_head; ++g)
        plan.jobs.push_back({m, plan.sensitivity_budget, n_keep, o.layer, g});
      plan.n_sensitivity_heads = cfg.n_kv_head;
      plan.sensitivity_layer = o.layer;
    }
  }
  plan.protocol.attention = attention;
  plan.protocol.pre_rope = pre_rope;
  if (attention) {
    const int64_t bytes = int64_t{cfg.n_layer} * cfg.n_head * C * C * 4;
    if (bytes > o.max_attention_bytes)
      throw BadInput(fmt::format(
          "h2o, tova and snapkv read the prefill's attention, {:.1f} GB at --context {}: more "
          "than the {:.1f} GB allowed; use a shorter context or leave those methods out",
          static_cast<double>(bytes) / 1e9, C, static_cast<double>(o.max_attention_bytes) / 1e9));
  }
  return plan;
}

CompressReport run_compress(const capture::LoadedModel& m, const std::vector<int32_t>& ids,
                            const CompressPlan& plan, const CompressOptions& o,
                            const capture::ProtocolProgress& progress) {
  const model::Config& cfg = m.model.config();
  const int C = plan.protocol.context, S = plan.protocol.continuation;
  const size_t J = plan.jobs.size();
  std::vector<MethodEffect> effects(J);
  std::vector<std::vector<PositionScore>> scores(J);
  std::vector<PositionScore> ref_scores;  // nll_ref only
  ReferenceRows ref;

  MethodInputs base;
  base.context = C;
  base.n_head = cfg.n_head;
  base.sinks = o.sinks;
  base.seed = o.seed;
  base.rope = cfg.pos == model::PosKind::Rope;
  base.pairing = cfg.rope_pairing;
  base.inv_freq = &m.model.rope_inv_freq();
  if (base.rope)
    for (int l = 0; l < cfg.n_layer; ++l)
      base.inv_freq_by_layer.push_back(&m.model.rope_inv_freq(l));

  std::vector<capture::Job> jobs;
  for (size_t j = 0; j < J; ++j) {
    jobs.push_back([&, j](const capture::Prefill& p, model::KvCache& cache) {
      const CompressJobSpec& spec = plan.jobs[j];
      MethodInputs in = base;
      in.window = p.window;
      in.patterns = p.patterns;
      in.only_layer = spec.only_layer;
      in.only_kv_head = spec.only_kv_head;
      effects[j] = apply_method(spec.method, spec.n_keep, in, cache);
    });
  }
  auto score = [&](const capture::Prefill& p, int job, std::span<const float> logits) {
    if (job < 0) {
      ref = prepare_reference(logits,
                              p.tokens.subspan(static_cast<size_t>(C) + 1, static_cast<size_t>(S)),
                              cfg.vocab_size);
      for (int s = 0; s < S; ++s) {
        PositionScore ps;
        ps.nll_ref = ps.nll =
            -ref.logp[static_cast<size_t>(s) * ref.vocab + ref.target[static_cast<size_t>(s)]];
        ref_scores.push_back(ps);
      }
      return;
    }
    std::vector<PositionScore> r = score_rows(ref, logits);
    auto& all = scores[static_cast<size_t>(job)];
    all.insert(all.end(), r.begin(), r.end());
  };

  CompressReport rep;
  rep.times = capture::run_protocol(m, ids, plan.protocol, jobs, score, progress);
  rep.context = C;
  rep.continuation = S;
  rep.windows = plan.protocol.windows;
  rep.scored = static_cast<int64_t>(ref_scores.size());
  rep.ppl_ref = summarize(ref_scores).ppl_ref;
  rep.fp16_bytes = fp16_cache_bytes(cfg.n_layer, cfg.n_kv_head, C, cfg.head_dim);
  for (int j = 0; j < plan.n_results; ++j) {
    const CompressJobSpec& spec = plan.jobs[static_cast<size_t>(j)];
    CompressResult r;
    r.method = spec.method.name;
    r.budget = spec.budget;
    r.kept_tokens = effects[static_cast<size_t>(j)].kept_tokens;
    r.cache_bytes = effects[static_cast<size_t>(j)].cache_bytes;
    r.bytes_ratio = static_cast<double>(r.cache_bytes) / static_cast<double>(rep.fp16_bytes);
    r.metrics = summarize(scores[static_cast<size_t>(j)]);
    for (const PositionScore& ps : scores[static_cast<size_t>(j)]) r.kl.push_back(ps.kl);
    rep.results.push_back(std::move(r));
  }
  rep.sensitivity_method = plan.sensitivity_method;
  rep.sensitivity_budget = plan.sensitivity_budget;
  rep.sensitivity_layer = plan.sensitivity_layer;
  for (int i = 0; i < plan.n_sensitivity_layers + plan.n_sensitivity_heads; ++i) {
    const size_t j = static_cast<size_t>(plan.n_results + i);
    SensitivityRow row{plan.jobs[j].only_layer, plan.jobs[j].only_kv_head, summarize(scores[j])};
    (i < plan.n_sensitivity_layers ? rep.sensitivity_layers : rep.sensitivity_heads).push_back(row);
  }
  return rep;
}

}  // namespace kvscope::analysis
