// Fuzzes the GGUF reader: any bytes must either open or throw a kvscope::Error, and an
// opened file must be safe to query and convert.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kvscope/error.hpp"
#include "kvscope/io/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvscope::io;
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data),
                               reinterpret_cast<const std::byte*>(data) + size);
  try {
    const GgufFile f = GgufFile::from_bytes(std::move(bytes), "fuzz.gguf");
    for (const GgufFile::MetaEntry& e : f.metadata()) {
      // Every getter either answers or throws BadInput for the wrong type.
      try {
        (void)f.get_int(e.key);
      } catch (const kvscope::BadInput&) {
      }
      try {
        (void)f.get_float(e.key);
      } catch (const kvscope::BadInput&) {
      }
      try {
        (void)f.get_string(e.key);
      } catch (const kvscope::BadInput&) {
      }
      try {
        (void)f.get_bool(e.key);
      } catch (const kvscope::BadInput&) {
      }
      try {
        (void)f.get_string_array(e.key);
      } catch (const kvscope::BadInput&) {
      }
      try {
        (void)f.get_float_array(e.key);
      } catch (const kvscope::BadInput&) {
      }
      try {
        (void)f.get_int_array(e.key);
      } catch (const kvscope::BadInput&) {
      }
    }
    std::vector<float> out;
    for (const RawTensor& t : f.tensors()) {
      if (t.numel() > (1 << 20)) continue;  // bounded memory; the bytes are in range anyway
      out.resize(static_cast<size_t>(t.numel()) + 1);  // never a null buffer
      try {
        to_f32(t, out.data());
      } catch (const kvscope::Unsupported&) {  // integer tensors
      }
    }
  } catch (const kvscope::Error&) {
  }
  return 0;
}
