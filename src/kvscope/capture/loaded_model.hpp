// LoadedModel: a model and its tokenizer, opened from what the user named: a Hugging Face
// model folder, a Hub id (looked up in the local Hub cache, downloaded if absent), or a GGUF
// file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kvscope/io/hub.hpp"
#include "kvscope/model/model.hpp"
#include "kvscope/tokenizer/tokenizer.hpp"

namespace kvscope::capture {

struct LoadedModel {
  std::string spec;    // as the user gave it
  std::string path;    // resolved folder or file
  std::string format;  // "safetensors" or "gguf"
  model::Model model;
  tokenizer::Tokenizer tokenizer;
  std::map<std::string, int64_t> tensor_types;  // on-file tensor type -> tensor count
  std::vector<std::string> files;               // weight files read
};

// Throws BadInput for a missing or corrupt model, Unsupported for an architecture or format
// kvscope does not run.
LoadedModel load_model(const std::string& spec, const io::HubOptions& hub);

}  // namespace kvscope::capture
