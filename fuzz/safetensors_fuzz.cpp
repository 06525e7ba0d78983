// libFuzzer target: arbitrary bytes as a safetensors file. The reader must reject bad input
// with a kvscope::Error and never crash, hang or read outside the buffer; what it accepts
// must be safe to convert.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "kvscope/error.hpp"
#include "kvscope/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto f = kvscope::io::SafetensorsFile::from_bytes(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.safetensors");
    for (const kvscope::io::RawTensor& t : f.tensors()) {
      if (kvscope::io::dtype_is_float(t.dtype) && t.numel() <= (1 << 16)) {
        volatile float sink = 0;
        for (float v : kvscope::io::to_f32(t)) sink = sink + v;
      }
    }
  } catch (const kvscope::Error&) {
    // Rejection is the expected outcome for most inputs.
  }
  return 0;
}
