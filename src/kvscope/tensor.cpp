#include "kvscope/tensor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kvscope/error.hpp"

namespace kvscope {

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0)
      throw BadInput(fmt::format("negative dimension {} in shape [{}]", d, fmt::join(shape, ", ")));
    if (d != 0 && n > INT64_MAX / d)
      throw BadInput(fmt::format("shape [{}] has too many elements", fmt::join(shape, ", ")));
    n *= d;
  }
  return n;
}

Tensor::Tensor(std::vector<int64_t> shape_) : shape(std::move(shape_)) {
  data.assign(static_cast<size_t>(shape_numel(shape)), 0.0f);
}

int64_t Tensor::numel() const {
  return static_cast<int64_t>(data.size());
}

std::string Tensor::shape_string() const {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace kvscope
