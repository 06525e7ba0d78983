// kvscope dump: the captured tensors in a file numpy and torch users can open.
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "kvscope/atomic_file.hpp"
#include "kvscope/capture/names.hpp"
#include "kvscope/capture/run.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/npy.hpp"
#include "kvscope/io/safetensors.hpp"

namespace kvscope::cli {

namespace fs = std::filesystem;

void add_dump_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "dump", "Write the captured KV cache (and optionally attention, logits) to safetensors");
  struct Opts {
    ModelOptions model;
    PromptOptions prompt;
    std::string out = "cache.safetensors";
    std::string npy_dir;
    bool attention = false;
    bool logits = false;
    bool resid = false;
  };
  auto o = std::make_shared<Opts>();
  o->model.add_to(*cmd);
  o->prompt.add_to(*cmd, kNewsPrompt);
  cmd->add_option("-o,--out", o->out, "Output .safetensors file")->capture_default_str();
  auto* npy =
      cmd->add_option("--npy", o->npy_dir, "Also write one .npy file per tensor into this folder");
  cmd->add_flag("--attention", o->attention, "Include attention patterns [heads, q, k] per layer");
  cmd->add_flag("--logits", o->logits, "Include logits [seq, vocab]");
  cmd->add_flag("--resid", o->resid, "Include the residual stream after each block [seq, d_model]");
  cmd->callback([o, npy]() {
    // Every option is checked before the model is loaded and run.
    const std::string prompt = o->prompt.text();
    o->model.validate();
    if (o->out.empty()) throw BadInput("--out: empty file name");
    if (fs::is_directory(o->out))
      throw BadInput(fmt::format("--out {}: is a folder; give a .safetensors file name", o->out));
    if (npy->count() > 0 && o->npy_dir.empty()) throw BadInput("--npy: empty folder name");
    const fs::path out_dir = fs::path(o->out).parent_path();
    if (!out_dir.empty() && !fs::is_directory(out_dir))
      throw BadInput(fmt::format("--out {}: folder {} does not exist", o->out, out_dir.string()));
    // The .npy files go to a folder that appears whole, and only together with the
    // .safetensors: checked before the model runs, committed last.
    std::optional<AtomicFolder> npy;
    if (!o->npy_dir.empty())
      npy.emplace(
          o->npy_dir, [](const std::string& name) { return name.ends_with(".npy"); }, "--npy");
    capture::LoadedModel m = load(o->model);
    capture::Capture c = capture::capture_prompt(
        m, prompt, {.attention = o->attention, .logits = o->logits, .resid = o->resid});

    std::vector<std::pair<std::string, const Tensor*>> tensors;
    for (int l = 0; l < c.n_layer; ++l) {
      const capture::LayerCapture& L = c.layers[static_cast<size_t>(l)];
      tensors.emplace_back(capture::hook_name(l, capture::Hook::K), &L.k);
      if (c.has_rope)
        tensors.emplace_back(capture::hook_name(l, capture::Hook::KPreRope), &L.k_pre_rope);
      tensors.emplace_back(capture::hook_name(l, capture::Hook::V), &L.v);
      if (!L.pattern.empty())
        tensors.emplace_back(capture::hook_name(l, capture::Hook::Pattern), &L.pattern);
      if (!L.resid_post.empty())
        tensors.emplace_back(capture::hook_name(l, capture::Hook::ResidPost), &L.resid_post);
    }
    if (!c.logits.empty()) tensors.emplace_back(capture::logits_name(), &c.logits);
    std::map<std::string, std::string> meta = {
        {"model", c.model_name},
        {"arch", c.arch},
        {"prompt", c.prompt},
        {"token_ids", nlohmann::json(c.token_ids).dump()},
        {"token_strings", nlohmann::json(c.token_strings)
                              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)},
        {"keys", c.has_rope ? "blocks.{l}.attn.k is after RoPE, blocks.{l}.attn.k_pre_rope before"
                            : "no RoPE"},
        {"producer", "kvscope"},
    };
    if (!c.windows.empty()) {
      // Every position is in the file; the model's own cache holds positions
      // cached_from .. seq - 1 of each layer (sliding layers: the last window - 1).
      std::vector<int> from;
      for (int l = 0; l < c.n_layer; ++l) from.push_back(c.cached_from(l));
      meta["layer_windows"] = nlohmann::json(c.windows).dump();
      meta["model_cache_holds_from"] = nlohmann::json(from).dump();
    }
    AtomicFile out(o->out);
    io::write_safetensors(out, tensors, meta);
    if (npy) {
      npy->create();
      for (const auto& [name, t] : tensors) io::write_npy(npy->path_of(name + ".npy"), *t);
      npy->commit();
    }
    out.commit();
    fmt::print("wrote {} tensors for {} tokens to {}{}\n", tensors.size(), c.seq_len(), o->out,
               o->npy_dir.empty() ? "" : fmt::format(" and {}/", o->npy_dir));
  });
}

}  // namespace kvscope::cli
