// Tensor: an owned, row-major fp32 array with a shape (outermost dimension first, as in
// numpy). This is what captures, analyses and exports pass around; weights on disk are
// described by io::RawTensor instead.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace kvscope {

struct Tensor {
  std::vector<int64_t> shape;  // e.g. [kv_heads, seq, head_dim]
  std::vector<float> data;     // numel() floats, row-major

  Tensor() = default;
  // Zero-filled tensor of the given shape.
  explicit Tensor(std::vector<int64_t> shape_);
  Tensor(std::initializer_list<int64_t> shape_) : Tensor(std::vector<int64_t>(shape_)) {}

  int64_t numel() const;
  int64_t dim(int i) const { return shape.at(static_cast<size_t>(i)); }
  int rank() const { return static_cast<int>(shape.size()); }
  bool empty() const { return data.empty(); }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }

  // Element access for rank 2 and 3 (no bounds check beyond debug asserts).
  float& at(int64_t i, int64_t j) { return data[static_cast<size_t>(i * shape[1] + j)]; }
  float at(int64_t i, int64_t j) const { return data[static_cast<size_t>(i * shape[1] + j)]; }
  float& at(int64_t i, int64_t j, int64_t k) {
    return data[static_cast<size_t>((i * shape[1] + j) * shape[2] + k)];
  }
  float at(int64_t i, int64_t j, int64_t k) const {
    return data[static_cast<size_t>((i * shape[1] + j) * shape[2] + k)];
  }

  // "[2, 5, 64]"
  std::string shape_string() const;
};

// Product of dims; throws BadInput on a negative dim or int64 overflow.
int64_t shape_numel(const std::vector<int64_t>& shape);

}  // namespace kvscope
