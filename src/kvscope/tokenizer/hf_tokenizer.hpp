// Loading a Hugging Face tokenizer folder: tokenizer.json (model BPE), else the GPT-2 classic
// pair vocab.json + merges.txt; tokenizer_config.json, when present, names bos/eos and may
// say add_bos_token / add_eos_token.
#pragma once

#include <string>

#include "kvscope/tokenizer/tokenizer.hpp"
#include "kvscope/tokenizer/tokenizer_spec.hpp"

namespace kvscope::tokenizer {

// BadInput for missing or corrupt files (naming the file and field), Unsupported for a
// model type, normalizer, pre-tokenizer or post-processor kvscope does not implement.
TokenizerSpec hf_tokenizer_spec(const std::string& model_dir);
Tokenizer load_hf_tokenizer(const std::string& model_dir);

// The same from the text of the files; config_json may be empty. `source` names
// tokenizer.json in error messages.
TokenizerSpec hf_tokenizer_spec_from_json(const std::string& tokenizer_json,
                                          const std::string& config_json,
                                          const std::string& source);

}  // namespace kvscope::tokenizer
