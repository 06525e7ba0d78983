#include "kvscope/io/gguf.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "kvscope/error.hpp"
#include "kvscope/printable.hpp"

namespace kvscope::io {

namespace {

constexpr int64_t kHeaderBytes = 4 + 4 + 8 + 8;
// Smallest possible encodings, used to reject counts that cannot fit in the file before
// reserving memory for them.
constexpr int64_t kMinKvBytes = 8 + 4 + 1;                  // empty key, a u8 value
constexpr int64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // empty name, one dimension
constexpr int64_t kMaxDims = 4;
constexpr int64_t kMaxAlignment = int64_t{1} << 30;
constexpr int64_t kDefaultAlignment = 32;

// Size in bytes of a fixed-size value type; 0 for string and array.
int64_t value_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::Uint8:
    case GgufValueType::Int8:
    case GgufValueType::Bool:
      return 1;
    case GgufValueType::Uint16:
    case GgufValueType::Int16:
      return 2;
    case GgufValueType::Uint32:
    case GgufValueType::Int32:
    case GgufValueType::Float32:
      return 4;
    case GgufValueType::Uint64:
    case GgufValueType::Int64:
    case GgufValueType::Float64:
      return 8;
    case GgufValueType::String:
    case GgufValueType::Array:
      return 0;
  }
  return 0;
}

bool is_integer(GgufValueType t) {
  switch (t) {
    case GgufValueType::Uint8:
    case GgufValueType::Int8:
    case GgufValueType::Uint16:
    case GgufValueType::Int16:
    case GgufValueType::Uint32:
    case GgufValueType::Int32:
    case GgufValueType::Uint64:
    case GgufValueType::Int64:
      return true;
    default:
      return false;
  }
}

bool is_float(GgufValueType t) {
  return t == GgufValueType::Float32 || t == GgufValueType::Float64;
}

template <typename T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Integer value of type `t` at `p`; `ok` false if it does not fit in int64 (a huge uint64).
int64_t load_int(GgufValueType t, const std::byte* p, bool* ok) {
  *ok = true;
  switch (t) {
    case GgufValueType::Uint8:
      return load<uint8_t>(p);
    case GgufValueType::Int8:
      return load<int8_t>(p);
    case GgufValueType::Uint16:
      return load<uint16_t>(p);
    case GgufValueType::Int16:
      return load<int16_t>(p);
    case GgufValueType::Uint32:
      return load<uint32_t>(p);
    case GgufValueType::Int32:
      return load<int32_t>(p);
    case GgufValueType::Int64:
      return load<int64_t>(p);
    case GgufValueType::Uint64: {
      const uint64_t u = load<uint64_t>(p);
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        *ok = false;
        return 0;
      }
      return static_cast<int64_t>(u);
    }
    default:
      *ok = false;
      return 0;
  }
}

// Numeric value (integer or float) of type `t` at `p` as a double. uint64 is exact up to
// 2^53, like any double.
double load_number(GgufValueType t, const std::byte* p) {
  switch (t) {
    case GgufValueType::Float32:
      return load<float>(p);
    case GgufValueType::Float64:
      return load<double>(p);
    case GgufValueType::Uint64:
      return static_cast<double>(load<uint64_t>(p));
    default: {
      bool ok;
      return static_cast<double>(load_int(t, p, &ok));
    }
  }
}

// GGML tensor type ids, for the ones kvscope reads; names of the others for messages.
std::optional<DType> ggml_dtype(uint32_t id) {
  switch (id) {
    case 0:
      return DType::F32;
    case 1:
      return DType::F16;
    case 2:
      return DType::Q4_0;
    case 3:
      return DType::Q4_1;
    case 6:
      return DType::Q5_0;
    case 7:
      return DType::Q5_1;
    case 8:
      return DType::Q8_0;
    case 10:
      return DType::Q2_K;
    case 11:
      return DType::Q3_K;
    case 12:
      return DType::Q4_K;
    case 13:
      return DType::Q5_K;
    case 14:
      return DType::Q6_K;
    case 24:
      return DType::I8;
    case 25:
      return DType::I16;
    case 26:
      return DType::I32;
    case 27:
      return DType::I64;
    case 28:
      return DType::F64;
    case 30:
      return DType::BF16;
    default:
      return std::nullopt;
  }
}

std::string_view ggml_type_name(uint32_t id) {
  switch (id) {
    case 4:
      return "Q4_2 (removed)";
    case 5:
      return "Q4_3 (removed)";
    case 9:
      return "Q8_1";
    case 15:
      return "Q8_K";
    case 16:
      return "IQ2_XXS";
    case 17:
      return "IQ2_XS";
    case 18:
      return "IQ3_XXS";
    case 19:
      return "IQ1_S";
    case 20:
      return "IQ4_NL";
    case 21:
      return "IQ3_S";
    case 22:
      return "IQ2_S";
    case 23:
      return "IQ4_XS";
    case 29:
      return "IQ1_M";
    case 31:
      return "Q4_0_4_4 (removed)";
    case 32:
      return "Q4_0_4_8 (removed)";
    case 33:
      return "Q4_0_8_8 (removed)";
    case 34:
      return "TQ1_0";
    case 35:
      return "TQ2_0";
    case 36:
      return "IQ4_NL_4_4 (removed)";
    case 37:
      return "IQ4_NL_4_8 (removed)";
    case 38:
      return "IQ4_NL_8_8 (removed)";
    case 39:
      return "MXFP4";
    case 40:
      return "NVFP4";
    case 41:
      return "Q1_0";
    default:
      return "";
  }
}

int64_t align_up(int64_t x, int64_t a) {
  return (x + a - 1) / a * a;
}

// Bounds-checked little-endian reader over the file bytes. Every read names what it was
// reading, so a truncated file says where it ended.
class Cursor {
 public:
  Cursor(const std::byte* data, int64_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  int64_t pos() const { return pos_; }
  int64_t remaining() const { return size_ - pos_; }
  const std::byte* here() const { return data_ + pos_; }

  // `what` and `where` make the message: "<path>: truncated file: <where>: <what> ...".
  void need(int64_t n, std::string_view what, std::string_view where) const {
    if (n > remaining())
      throw BadInput(
          fmt::format("{}: truncated file: {}{}{} at byte {} needs {} bytes, file has {}", path_,
                      where, where.empty() ? "" : ": ", what, pos_, n, size_));
  }
  void skip(int64_t n, std::string_view what, std::string_view where) {
    need(n, what, where);
    pos_ += n;
  }
  template <typename T>
  T read(std::string_view what, std::string_view where) {
    need(sizeof(T), what, where);
    T v = load<T>(data_ + pos_);
    pos_ += sizeof(T);
    return v;
  }
  std::string_view read_string(std::string_view what, std::string_view where) {
    const uint64_t len = read<uint64_t>(what, where);
    if (len > static_cast<uint64_t>(remaining()))
      throw BadInput(
          fmt::format("{}: {}{}{} at byte {}: string length {} is longer than the rest of "
                      "the file ({} bytes)",
                      path_, where, where.empty() ? "" : ": ", what, pos_ - 8, len, remaining()));
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
    pos_ += static_cast<int64_t>(len);
    return s;
  }

 private:
  const std::byte* data_;
  int64_t size_;
  int64_t pos_ = 0;
  const std::string& path_;
};

GgufValueType checked_value_type(uint32_t raw, const std::string& path, std::string_view where) {
  if (raw > static_cast<uint32_t>(GgufValueType::Float64))
    throw BadInput(fmt::format("{}: {}: unknown value type {}", path, where, raw));
  return static_cast<GgufValueType>(raw);
}

// Short printable form of one scalar at `p`.
std::string scalar_summary(GgufValueType t, const std::byte* p) {
  switch (t) {
    case GgufValueType::Bool:
      return load<uint8_t>(p) ? "true" : "false";
    case GgufValueType::Float32:
      return fmt::format("{}", load<float>(p));
    case GgufValueType::Float64:
      return fmt::format("{}", load<double>(p));
    case GgufValueType::Uint64:
      return fmt::format("{}", load<uint64_t>(p));
    default: {
      bool ok;
      return fmt::format("{}", load_int(t, p, &ok));
    }
  }
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::Uint8:
      return "uint8";
    case GgufValueType::Int8:
      return "int8";
    case GgufValueType::Uint16:
      return "uint16";
    case GgufValueType::Int16:
      return "int16";
    case GgufValueType::Uint32:
      return "uint32";
    case GgufValueType::Int32:
      return "int32";
    case GgufValueType::Float32:
      return "float32";
    case GgufValueType::Bool:
      return "bool";
    case GgufValueType::String:
      return "string";
    case GgufValueType::Array:
      return "array";
    case GgufValueType::Uint64:
      return "uint64";
    case GgufValueType::Int64:
      return "int64";
    case GgufValueType::Float64:
      return "float64";
  }
  return "?";
}

GgufFile::GgufFile(const std::string& path) : path_(path), mapped_(path) {
  bytes_ = mapped_.data();
  size_ = mapped_.size();
  parse();
}

GgufFile GgufFile::from_bytes(std::vector<std::byte> bytes, std::string name) {
  GgufFile f;
  f.path_ = std::move(name);
  f.owned_ = std::move(bytes);
  f.bytes_ = f.owned_.data();
  f.size_ = static_cast<int64_t>(f.owned_.size());
  f.parse();
  return f;
}

void GgufFile::parse() {
  const std::string& P = path_;
  Cursor c(bytes_, size_, path_);

  // Header.
  c.need(4, "magic", "header");
  if (std::memcmp(bytes_, "GGUF", 4) != 0)
    throw BadInput(
        fmt::format("{}: not a GGUF file: magic is \"{}\", expected \"GGUF\"", P,
                    printable(std::string_view(reinterpret_cast<const char*>(bytes_), 4), 4)));
  c.skip(4, "magic", "header");
  version_ = c.read<uint32_t>("version", "header");
  if (version_ != 2 && version_ != 3) {
    const bool swapped = version_ >= 0x10000 && (version_ & 0xffff) == 0;
    throw Unsupported(
        fmt::format("{}: GGUF version {} is not supported (only 2 and 3, little-endian){}", P,
                    version_, swapped ? "; this looks like a big-endian file" : ""));
  }
  const uint64_t tensor_count = c.read<uint64_t>("tensor_count", "header");
  const uint64_t kv_count = c.read<uint64_t>("kv_count", "header");
  const auto room = static_cast<uint64_t>(size_ - kHeaderBytes);
  if (kv_count > room / kMinKvBytes)
    throw BadInput(fmt::format("{}: header: kv_count {} cannot fit in a file of {} bytes", P,
                               kv_count, size_));
  if (tensor_count > room / kMinTensorInfoBytes)
    throw BadInput(fmt::format("{}: header: tensor_count {} cannot fit in a file of {} bytes", P,
                               tensor_count, size_));

  // Metadata: walk every value once to validate it and find the next key.
  meta_.reserve(kv_count);
  meta_value_pos_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    const std::string where_i = fmt::format("metadata entry {}", i);
    const std::string_view key = c.read_string("key", where_i);
    const std::string where = fmt::format("metadata '{}'", printable(key, 80));
    if (meta_index_.count(key))
      throw BadInput(fmt::format("{}: duplicate metadata key '{}'", P, printable(key, 80)));
    MetaEntry e;
    e.key = std::string(key);
    e.type = checked_value_type(c.read<uint32_t>("value type", where), P, where);
    e.array_type = e.type;
    meta_value_pos_.push_back(c.pos());

    if (e.type == GgufValueType::String) {
      const std::string_view s = c.read_string("string value", where);
      e.summary = fmt::format("\"{}\"", printable(s, 60));
    } else if (e.type == GgufValueType::Array) {
      e.array_type = checked_value_type(c.read<uint32_t>("array element type", where), P, where);
      if (e.array_type == GgufValueType::Array)
        throw Unsupported(fmt::format("{}: {}: arrays of arrays are not supported", P, where));
      e.array_len = c.read<uint64_t>("array length", where);
      const int64_t elem = value_size(e.array_type);
      const int64_t min_elem = elem ? elem : 8;
      if (e.array_len > static_cast<uint64_t>(c.remaining() / min_elem))
        throw BadInput(fmt::format("{}: {}: array length {} of {} cannot fit in the {} bytes left",
                                   P, where, e.array_len, gguf_value_type_name(e.array_type),
                                   c.remaining()));
      const auto n = static_cast<int64_t>(e.array_len);
      constexpr int64_t kShown = 4;
      std::string shown;
      if (e.array_type == GgufValueType::String) {
        for (int64_t j = 0; j < n; ++j) {
          const std::string_view s = c.read_string("array string", where);
          if (j < kShown) shown += fmt::format("{}\"{}\"", j ? ", " : "", printable(s, 24));
        }
      } else {
        const std::byte* p = c.here();
        c.skip(n * elem, "array data", where);
        if (e.array_type == GgufValueType::Bool)
          for (int64_t j = 0; j < n; ++j)
            if (load<uint8_t>(p + j) > 1)
              throw BadInput(fmt::format("{}: {}: element {} is not a bool: {}", P, where, j,
                                         load<uint8_t>(p + j)));
        for (int64_t j = 0; j < std::min(n, kShown); ++j)
          shown += fmt::format("{}{}", j ? ", " : "", scalar_summary(e.array_type, p + j * elem));
      }
      e.summary = fmt::format("[{}{}] ({} x {})", shown, n > kShown ? ", ..." : "", n,
                              gguf_value_type_name(e.array_type));
    } else {
      const std::byte* p = c.here();
      c.skip(value_size(e.type), "value", where);
      if (e.type == GgufValueType::Bool && load<uint8_t>(p) > 1)
        throw BadInput(fmt::format("{}: {}: not a bool: {}", P, where, load<uint8_t>(p)));
      e.summary = scalar_summary(e.type, p);
    }
    meta_index_.emplace(e.key, meta_.size());
    meta_.push_back(std::move(e));
  }

  if (has("general.alignment")) {
    const std::optional<int64_t> a = get_int("general.alignment");  // throws if not an integer
    if (*a <= 0 || (*a & (*a - 1)) != 0 || *a > kMaxAlignment)
      throw BadInput(
          fmt::format("{}: metadata 'general.alignment': {} is not a power of two "
                      "between 1 and {}",
                      P, *a, kMaxAlignment));
    alignment_ = *a;
  } else {
    alignment_ = kDefaultAlignment;
  }

  // Tensor infos.
  std::vector<uint64_t> offsets;
  tensors_.reserve(tensor_count);
  offsets.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    const std::string where_i = fmt::format("tensor info {}", i);
    const std::string_view name = c.read_string("name", where_i);
    const std::string where = fmt::format("tensor '{}'", printable(name, 80));
    if (tensor_index_.count(name))
      throw BadInput(fmt::format("{}: duplicate tensor name '{}'", P, printable(name, 80)));
    const uint32_t n_dims = c.read<uint32_t>("n_dims", where);
    if (n_dims == 0 || n_dims > kMaxDims)
      throw BadInput(
          fmt::format("{}: {}: n_dims {} is not between 1 and {}", P, where, n_dims, kMaxDims));
    RawTensor t;
    t.name = std::string(name);
    t.shape.resize(n_dims);
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>("ne", where);
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw BadInput(fmt::format("{}: {}: ne[{}] = {} is absurd", P, where, d, ne));
      const auto v = static_cast<int64_t>(ne);
      if (v != 0 && numel > std::numeric_limits<int64_t>::max() / v)
        throw BadInput(
            fmt::format("{}: {}: element count overflows at ne[{}] = {}", P, where, d, v));
      numel *= v;
      t.shape[n_dims - 1 - d] = v;  // ne[0] is the contiguous row: last in row-major order
    }
    const uint32_t type_id = c.read<uint32_t>("type", where);
    const std::optional<DType> dt = ggml_dtype(type_id);
    if (!dt) {
      const std::string_view known = ggml_type_name(type_id);
      if (!known.empty())
        throw Unsupported(
            fmt::format("{}: {}: GGML type {} ({}) is not supported", P, where, type_id, known));
      throw BadInput(fmt::format("{}: {}: unknown GGML type id {}", P, where, type_id));
    }
    t.dtype = *dt;
    const int64_t row = t.shape.back();
    const int64_t block = dtype_block_elems(t.dtype);
    if (row % block != 0)
      throw BadInput(
          fmt::format("{}: {}: row length ne[0] = {} is not a multiple of the {} block "
                      "size {}",
                      P, where, row, dtype_name(t.dtype), block));
    const int64_t blocks = numel / block;
    if (blocks > std::numeric_limits<int64_t>::max() / dtype_block_bytes(t.dtype))
      throw BadInput(fmt::format("{}: {}: byte size overflows ({} elements of {})", P, where, numel,
                                 dtype_name(t.dtype)));
    t.nbytes = blocks * dtype_block_bytes(t.dtype);
    offsets.push_back(c.read<uint64_t>("offset", where));
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // Data section: each tensor must start at the running padded sum of those before it, so
  // tensors are in bounds, aligned and never overlap.
  data_start_ = align_up(c.pos(), alignment_);  // pos <= size and alignment <= 2^30: no overflow
  const int64_t data_size = std::max<int64_t>(0, size_ - data_start_);
  int64_t expected = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    RawTensor& t = tensors_[i];
    const uint64_t off = offsets[i];
    if (off % static_cast<uint64_t>(alignment_) != 0)
      throw BadInput(fmt::format("{}: tensor '{}': offset {} is not a multiple of the alignment {}",
                                 P, printable(t.name, 80), off, alignment_));
    if (off != static_cast<uint64_t>(expected))
      throw BadInput(
          fmt::format("{}: tensor '{}': offset {} is not {}, the end of the previous "
                      "tensor padded to {} bytes (overlapping or out of order)",
                      P, printable(t.name, 80), off, expected, alignment_));
    if (t.nbytes > data_size - expected)
      throw BadInput(fmt::format(
          "{}: tensor '{}': data [{}, {}) past end of file ({} bytes, data "
          "section starts at {})",
          P, printable(t.name, 80), data_start_ + expected,
          static_cast<uint64_t>(data_start_ + expected) + static_cast<uint64_t>(t.nbytes), size_,
          data_start_));
    // A zero-byte tensor at the very end may sit past the (unpadded) end of the file.
    t.data = bytes_ + std::min(size_, data_start_ + expected);
    expected = align_up(expected + t.nbytes, alignment_);  // <= data_size + alignment
  }
}

const RawTensor* GgufFile::find(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

bool GgufFile::has(std::string_view key) const {
  return meta_index_.count(key) != 0;
}

const GgufFile::MetaEntry* GgufFile::entry(std::string_view key, size_t* index) const {
  auto it = meta_index_.find(key);
  if (it == meta_index_.end()) return nullptr;
  *index = it->second;
  return &meta_[it->second];
}

namespace {
[[noreturn]] void wrong_type(const std::string& path, const GgufFile::MetaEntry& e,
                             std::string_view wanted) {
  std::string actual(gguf_value_type_name(e.type));
  if (e.type == GgufValueType::Array)
    actual = fmt::format("array of {}", gguf_value_type_name(e.array_type));
  throw BadInput(
      fmt::format("{}: metadata '{}': expected {}, found {}", path, e.key, wanted, actual));
}
}  // namespace

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  size_t i;
  const MetaEntry* e = entry(key, &i);
  if (!e) return std::nullopt;
  if (!is_integer(e->type)) wrong_type(path_, *e, "an integer");
  bool ok;
  const int64_t v = load_int(e->type, bytes_ + meta_value_pos_[i], &ok);
  if (!ok)
    throw BadInput(
        fmt::format("{}: metadata '{}': {} does not fit in int64", path_, e->key, e->summary));
  return v;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  size_t i;
  const MetaEntry* e = entry(key, &i);
  if (!e) return std::nullopt;
  if (!is_integer(e->type) && !is_float(e->type)) wrong_type(path_, *e, "a number");
  return load_number(e->type, bytes_ + meta_value_pos_[i]);
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  size_t i;
  const MetaEntry* e = entry(key, &i);
  if (!e) return std::nullopt;
  if (e->type != GgufValueType::String) wrong_type(path_, *e, "a string");
  const std::byte* p = bytes_ + meta_value_pos_[i];
  const uint64_t len = load<uint64_t>(p);
  return std::string(reinterpret_cast<const char*>(p + 8), static_cast<size_t>(len));
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  size_t i;
  const MetaEntry* e = entry(key, &i);
  if (!e) return std::nullopt;
  if (e->type != GgufValueType::Bool) wrong_type(path_, *e, "a bool");
  return load<uint8_t>(bytes_ + meta_value_pos_[i]) != 0;
}

// Array values start with u32 element type and u64 length; elements follow at +12.
std::vector<std::string_view> GgufFile::get_string_view_array(std::string_view key) const {
  size_t i;
  const MetaEntry* e = entry(key, &i);
  if (!e) return {};
  if (e->type != GgufValueType::Array || e->array_type != GgufValueType::String)
    wrong_type(path_, *e, "an array of string");
  std::vector<std::string_view> out;
  out.reserve(e->array_len);
  const std::byte* p = bytes_ + meta_value_pos_[i] + 12;
  for (uint64_t j = 0; j < e->array_len; ++j) {  // lengths were checked at open
    const auto len = static_cast<size_t>(load<uint64_t>(p));
    out.emplace_back(reinterpret_cast<const char*>(p + 8), len);
    p += 8 + len;
  }
  return out;
}

std::vector<std::string> GgufFile::get_string_array(std::string_view key) const {
  const std::vector<std::string_view> views = get_string_view_array(key);
  return std::vector<std::string>(views.begin(), views.end());
}

std::vector<double> GgufFile::get_float_array(std::string_view key) const {
  size_t i;
  const MetaEntry* e = entry(key, &i);
  if (!e) return {};
  if (e->type != GgufValueType::Array || (!is_integer(e->array_type) && !is_float(e->array_type)))
    wrong_type(path_, *e, "an array of numbers");
  const int64_t elem = value_size(e->array_type);
  const std::byte* p = bytes_ + meta_value_pos_[i] + 12;
  std::vector<double> out(e->array_len);
  for (uint64_t j = 0; j < e->array_len; ++j)
    out[j] = load_number(e->array_type, p + static_cast<int64_t>(j) * elem);
  return out;
}

std::vector<int64_t> GgufFile::get_int_array(std::string_view key) const {
  size_t i;
  const MetaEntry* e = entry(key, &i);
  if (!e) return {};
  if (e->type != GgufValueType::Array || !is_integer(e->array_type))
    wrong_type(path_, *e, "an array of integers");
  const int64_t elem = value_size(e->array_type);
  const std::byte* p = bytes_ + meta_value_pos_[i] + 12;
  std::vector<int64_t> out(e->array_len);
  for (uint64_t j = 0; j < e->array_len; ++j) {
    bool ok;
    out[j] = load_int(e->array_type, p + static_cast<int64_t>(j) * elem, &ok);
    if (!ok)
      throw BadInput(
          fmt::format("{}: metadata '{}': element {} does not fit in int64", path_, e->key, j));
  }
  return out;
}

}  // namespace kvscope::io
