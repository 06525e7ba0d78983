#include "kvscope/io/dequant.hpp"

#include <fmt/format.h>

#include "kvscope/error.hpp"

namespace kvscope::io {

void dequantize(DType t, const std::byte*, int64_t, float*) {
  // Block types are added by the GGUF work (issue 3).
  throw Unsupported(fmt::format("dequantization of {} is not implemented yet", dtype_name(t)));
}

}  // namespace kvscope::io
