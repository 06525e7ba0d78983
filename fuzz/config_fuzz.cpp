// Fuzzes config.json parsing: any bytes, parsed as JSON and read as a model config, may
// only ever fail with a kvscope::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"
#include "kvscope/model/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto j = kvscope::io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size),
                                     "config.json");
    kvscope::model::config_from_hf_json(j, "config.json");
  } catch (const kvscope::Error&) {
  }
  return 0;
}
