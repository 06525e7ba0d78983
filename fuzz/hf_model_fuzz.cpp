// Fuzzes what a Hugging Face model folder holds besides its weights, read together as
// loading a folder reads them:
//   config.json NUL tokenizer.json NUL tokenizer_config.json
// (a missing part is empty). Any bytes may only ever fail with a kvscope::Error. When both
// load and agree as load_model requires (the tokenizer has no more tokens than config.json's
// vocab_size), a short text encodes to ids the model's embedding has, with bos/eos ids that
// fit in it, and the decoded text is valid UTF-8; else the target traps.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/model/config.hpp"
#include "kvscope/tokenizer/hf_tokenizer.hpp"
#include "kvscope/tokenizer/tokenizer.hpp"
#include "kvscope/tokenizer/utf8.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// Splits off the part before the next NUL (or the rest).
std::string_view take_part(std::string_view& in) {
  const size_t nul = in.find('\0');
  const std::string_view part = in.substr(0, nul);
  in = nul == std::string_view::npos ? std::string_view() : in.substr(nul + 1);
  return part;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvscope;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string config_json(take_part(in));
  const std::string tokenizer_json(take_part(in));
  const std::string tokenizer_config(in);
  try {
    const model::Config cfg =
        model::config_from_hf_json(io::parse_json(config_json, "config.json"), "config.json");
    // The tokenizer's tables are sized by its largest id: keep one input fast.
    if (tokenizer_json.size() > 65536) return 0;
    const tokenizer::Tokenizer tok = tokenizer::from_spec(
        tokenizer::hf_tokenizer_spec_from_json(tokenizer_json, tokenizer_config, "tokenizer.json"));
    if (tok.vocab_size() > cfg.vocab_size) return 0;  // load_model refuses this pair
    for (const auto id : {tok.bos_id(), tok.eos_id()})
      if (id) check(*id >= 0 && *id < cfg.vocab_size);
    const std::vector<int32_t> ids = tok.encode("Hello, world! 12 caf\xc3\xa9\n", true);
    for (int32_t id : ids) check(id >= 0 && id < cfg.vocab_size);
    const std::string text = tok.decode(ids);
    check(tokenizer::utf8_first_invalid(text) == text.size());
  } catch (const Error&) {
  }
  return 0;
}
