#include "kvscope/io/npy.hpp"

#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "kvscope/atomic_file.hpp"
#include "kvscope/error.hpp"

namespace kvscope::io {

static_assert(std::endian::native == std::endian::little,
              "npy writer assumes a little-endian host");

std::string npy_bytes(const Tensor& t) {
  const int64_t n = shape_numel(t.shape);
  if (n != static_cast<int64_t>(t.data.size()))
    throw BadInput(fmt::format("npy: tensor of shape {} holds {} values, expected {}",
                               t.shape_string(), t.data.size(), n));

  // numpy writes a 1-tuple with a trailing comma, "(5,)", and a scalar as "()".
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (i > 0) shape += ", ";
    shape += std::to_string(t.shape[i]);
  }
  if (t.shape.size() == 1) shape += ",";
  shape += ")";
  std::string header =
      fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': {}, }}", shape);
  // Like numpy.save, leave room to rewrite the outer dimension in place with up to 21 digits,
  // so our files are byte-identical to numpy's.
  constexpr size_t kGrowthDigits = 21;
  if (!t.shape.empty()) {
    const size_t digits = std::to_string(t.shape[0]).size();
    if (digits < kGrowthDigits) header.append(kGrowthDigits - digits, ' ');
  }

  // magic (6) + version (2) + header length (2) + header + '\n' is a multiple of 64.
  constexpr size_t kPrefix = 10;
  const size_t unpadded = kPrefix + header.size() + 1;
  const size_t total = (unpadded + 63) / 64 * 64;
  header.append(total - unpadded, ' ');
  header += '\n';
  if (header.size() > 65535)
    throw BadInput(
        fmt::format("npy: shape {} too long for a version 1.0 header", t.shape_string()));

  std::string out;
  out.reserve(total + t.data.size() * sizeof(float));
  out.append("\x93NUMPY", 6);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  const size_t data_at = out.size();
  out.resize(data_at + t.data.size() * sizeof(float));
  if (!t.data.empty())
    std::memcpy(out.data() + data_at, t.data.data(), t.data.size() * sizeof(float));
  return out;
}

void write_npy(const std::string& path, const Tensor& t) {
  write_file_atomic(path, npy_bytes(t));
}

}  // namespace kvscope::io
