// Hugging Face Hub: finding a model in the local Hub cache, and downloading one into it.
//
// The cache layout is the one transformers and huggingface_hub share, so a model either
// tool downloaded is found here and vice versa:
//   <cache_dir>/models--<org>--<name>/refs/<revision>        text file holding a commit sha
//   <cache_dir>/models--<org>--<name>/snapshots/<sha>/<file>  symlink -> ../../blobs/<blob>
//   <cache_dir>/models--<org>--<name>/blobs/<blob>            content, named by ETag or sha256
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace kvscope::io {

struct HubOptions {
  std::string endpoint = "https://huggingface.co";  // no trailing '/'
  std::string cache_dir;                            // the "hub" folder holding models--*
  bool offline = false;                             // never touch the network
  std::string token;                                // sent as "Authorization: Bearer <token>"
  std::string revision = "main";                    // branch, tag or commit sha
  // Called while a file downloads with bytes done and total (total 0 while unknown). The
  // library never prints; the CLI draws the progress bar.
  std::function<void(const std::string& file, int64_t done, int64_t total)> progress;
};

// Options from the environment, as huggingface_hub reads them: HF_ENDPOINT; HF_HUB_CACHE,
// else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else $HOME/.cache/huggingface/hub;
// HF_HUB_OFFLINE (1, true, yes, on); HF_TOKEN.
HubOptions hub_options_from_env();

// "gpt2", "openai-community/gpt2": at most one '/', letters, digits, '-', '_', '.', no
// leading '.', no "..", no "--", and no empty part. Says nothing about existence.
bool looks_like_hub_id(const std::string& spec);

// The snapshot folder of repo_id at options.revision (through refs/<revision>, or directly
// when the revision is a commit sha), if it holds config.json and safetensors weights
// (model.safetensors or model.safetensors.index.json). Never touches the network.
std::optional<std::string> find_in_hub_cache(const std::string& repo_id, const HubOptions& options);

// Downloads config.json, the tokenizer files the repo has (tokenizer.json,
// tokenizer_config.json, vocab.json, merges.txt, special_tokens_map.json),
// generation_config.json if present, and model.safetensors or model.safetensors.index.json
// with its shards, into the cache; files already in the snapshot are not fetched again.
// Returns the snapshot folder. Throws BadInput for a bad id, an unknown model (404), a refused
// one (401/403, mentioning HF_TOKEN), or offline mode; Unsupported for a repo without
// safetensors weights; IoError when the network or the disk fails.
std::string download_model(const std::string& repo_id, const HubOptions& options);

// What the user typed as a model: an existing file or folder is returned as is; a Hub id
// resolves to its cached snapshot, downloading it unless offline. Otherwise BadInput
// "model 'x': no such file or folder, and not a Hub id".
std::string resolve_model(const std::string& spec, const HubOptions& options);

}  // namespace kvscope::io
