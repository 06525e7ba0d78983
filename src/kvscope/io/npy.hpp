// .npy export of fp32 tensors, readable by numpy.load: format version 1.0, dtype '<f4',
// C (row-major) order, header padded with spaces so the data starts at a multiple of 64 bytes.
#pragma once

#include <string>

#include "kvscope/tensor.hpp"

namespace kvscope::io {

// The complete file contents: magic, header, then numel() little-endian floats.
// Throws BadInput if t.data does not hold shape_numel(t.shape) floats.
std::string npy_bytes(const Tensor& t);

// Writes npy_bytes(t) to path atomically (see atomic_file.hpp).
void write_npy(const std::string& path, const Tensor& t);

}  // namespace kvscope::io
