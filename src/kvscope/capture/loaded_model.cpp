#include "kvscope/capture/loaded_model.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <type_traits>

#include <fmt/format.h>

#include "kvscope/capture/memory_budget.hpp"
#include "kvscope/error.hpp"
#include "kvscope/io/gguf.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/io/regular_file.hpp"
#include "kvscope/io/safetensors.hpp"
#include "kvscope/tokenizer/gguf_tokenizer.hpp"
#include "kvscope/tokenizer/hf_tokenizer.hpp"

namespace kvscope::capture {

namespace fs = std::filesystem;

namespace {

// Weights are memory-mapped, not allocated, but a model whose tensors exceed the machine's
// memory would be read from disk again for every token: refused before a page is touched.
template <class Tensors>
void check_weights_fit(const std::string& path, const Tensors& tensors) {
  double bytes = 0;
  for (const auto& t : tensors) {
    if constexpr (std::is_pointer_v<std::decay_t<decltype(t)>>)
      bytes += static_cast<double>(t->nbytes);
    else
      bytes += static_cast<double>(t.nbytes);
  }
  require_weights_fit(bytes, path);
}

LoadedModel load_hf_folder(const std::string& spec, const std::string& dir) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path))
    throw BadInput(fmt::format("{}: no config.json in this folder", dir));
  model::Config config = model::config_from_hf_json(io::read_json_file(config_path), config_path);
  auto set = std::make_shared<const io::SafetensorsSet>(dir);
  std::vector<std::string> files = set->files();
  model::TensorSource src{
      [&set](std::string_view name) { return set->find(name); },
      files.size() == 1 ? files[0] : (fs::path(dir) / "model.safetensors.index.json").string(),
      set};
  check_weights_fit(dir, set->tensors());
  model::Weights weights = model::load_weights(config, src, model::WeightNaming::HuggingFace);
  std::map<std::string, int64_t> types;
  for (const io::RawTensor* t : set->tensors()) types[std::string(io::dtype_name(t->dtype))]++;
  tokenizer::Tokenizer tok = tokenizer::load_hf_tokenizer(dir);
  if (tok.vocab_size() > config.vocab_size)
    throw BadInput(fmt::format("{}: tokenizer has {} tokens but config.json's vocab_size is {}",
                               dir, tok.vocab_size(), config.vocab_size));
  return LoadedModel{spec,
                     dir,
                     "safetensors",
                     model::Model(std::move(config), std::move(weights)),
                     std::move(tok),
                     std::move(types),
                     std::move(files)};
}

LoadedModel load_gguf(const std::string& spec, const std::string& path) {
  auto file = std::make_shared<const io::GgufFile>(path);
  const io::GgufFile& g = *file;
  model::Config config = model::config_from_gguf(g);
  model::TensorSource src{[&g](std::string_view name) { return g.find(name); }, path, file};
  check_weights_fit(path, g.tensors());
  model::Weights weights = model::load_weights(config, src, model::WeightNaming::Gguf);
  std::map<std::string, int64_t> types;
  for (const io::RawTensor& t : g.tensors()) types[std::string(io::dtype_name(t.dtype))]++;
  tokenizer::Tokenizer tok = tokenizer::load_gguf_tokenizer(g);
  if (tok.vocab_size() > config.vocab_size)
    throw BadInput(fmt::format("{}: tokenizer has {} tokens but the embedding has {} rows", path,
                               tok.vocab_size(), config.vocab_size));
  return LoadedModel{spec,           path,
                     "gguf",         model::Model(std::move(config), std::move(weights)),
                     std::move(tok), std::move(types),
                     {path}};
}

// Whether a regular file starts with GGUF's magic. The file is opened as io::RegularFile,
// so a FIFO or a device is refused before anything is read from it.
bool is_gguf(const std::string& path) {
  const io::RegularFile f(path);
  char magic[4] = {};
  return ::pread(f.fd(), magic, 4, 0) == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

LoadedModel load_model(const std::string& spec, const io::HubOptions& hub) {
  const std::string path = io::resolve_model(spec, hub);
  std::error_code ec;
  if (fs::is_directory(path, ec)) return load_hf_folder(spec, path);
  if (is_gguf(path) || path.ends_with(".gguf")) return load_gguf(spec, path);
  if (path.ends_with(".safetensors"))
    throw BadInput(fmt::format(
        "{}: give the model's folder (with config.json and tokenizer.json), not the weights file",
        path));
  throw BadInput(fmt::format("{}: neither a model folder nor a GGUF file", path));
}

}  // namespace kvscope::capture
