// GgufFile: a GGUF model file (versions 2 and 3, little-endian), memory-mapped and
// validated on open. Tensors are views into the mapping; metadata values are decoded on
// request from the mapped bytes, which were walked and bounds-checked once at open.
//
// Layout of a GGUF file (all integers little-endian):
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count
//   kv_count x   { string key, u32 value_type, value }
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//   padding to `general.alignment` (default 32), then the data section; each tensor's
//   offset is relative to the data section start.
// A string is u64 length + bytes (no terminator). An array value is u32 element type,
// u64 length, elements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvscope/io/mapped_file.hpp"
#include "kvscope/io/raw_tensor.hpp"

namespace kvscope::io {

// Value type ids as written in the file.
enum class GgufValueType : uint32_t {
  Uint8 = 0,
  Int8 = 1,
  Uint16 = 2,
  Int16 = 3,
  Uint32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  Uint64 = 10,
  Int64 = 11,
  Float64 = 12,
};

std::string_view gguf_value_type_name(GgufValueType t);  // "uint32", "array", ...

class GgufFile {
 public:
  // Maps and validates the file. Throws BadInput for a missing, corrupt or lying file,
  // Unsupported for a version or tensor type kvscope does not read, IoError if the OS fails.
  explicit GgufFile(const std::string& path);
  // The same from bytes in memory (for fuzzing and tests); `name` stands for the path in
  // error messages.
  static GgufFile from_bytes(std::vector<std::byte> bytes, std::string name);

  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  int64_t alignment() const { return alignment_; }     // bytes, a power of two
  int64_t data_offset() const { return data_start_; }  // file offset of the data section

  // Tensors in file order. RawTensor::data points into this object's bytes: valid while it
  // lives (moves keep it valid). shape is ne[] reversed: shape.back() == ne[0].
  const std::vector<RawTensor>& tensors() const { return tensors_; }
  const RawTensor* find(std::string_view name) const;  // nullptr if absent

  // Metadata. The scalar getters return nullopt if the key is absent and throw BadInput if
  // it holds another type.
  bool has(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;   // any integer type
  std::optional<double> get_float(std::string_view key) const;  // float32/64 or any integer
  std::optional<std::string> get_string(std::string_view key) const;
  std::optional<bool> get_bool(std::string_view key) const;
  // Arrays: empty if the key is absent; BadInput if it is not an array of the right kind.
  std::vector<std::string> get_string_array(std::string_view key) const;
  // Views into the file bytes (no copies; valid while this object lives). For the tokenizer.
  std::vector<std::string_view> get_string_view_array(std::string_view key) const;
  std::vector<double> get_float_array(std::string_view key) const;  // float or integer elements
  std::vector<int64_t> get_int_array(std::string_view key) const;   // integer elements

  struct MetaEntry {
    std::string key;
    GgufValueType type = GgufValueType::Uint8;
    GgufValueType array_type = GgufValueType::Uint8;  // element type if type == Array, else == type
    uint64_t array_len = 0;                           // 0 unless type == Array
    std::string summary;  // short printable form, long strings and arrays abbreviated
  };
  // In file order.
  const std::vector<MetaEntry>& metadata() const { return meta_; }

 private:
  GgufFile() = default;
  void parse();
  const MetaEntry* entry(std::string_view key, size_t* index) const;

  std::string path_;
  MappedFile mapped_;             // set when opened from a path
  std::vector<std::byte> owned_;  // set when made from bytes
  const std::byte* bytes_ = nullptr;
  int64_t size_ = 0;

  uint32_t version_ = 0;
  int64_t alignment_ = 32;
  int64_t data_start_ = 0;
  std::vector<RawTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  std::vector<MetaEntry> meta_;
  std::vector<int64_t> meta_value_pos_;  // file offset of each entry's value
  std::map<std::string, size_t, std::less<>> meta_index_;
};

}  // namespace kvscope::io
