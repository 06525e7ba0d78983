// Safetensors checkpoints (Hugging Face): reading single files and sharded folders, and
// writing fp32 exports.
//
// File layout: u64 little-endian N | N bytes of JSON header | data section. The header maps
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} with offsets relative
// to the start of the data section, plus an optional "__metadata__" map of strings.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvscope/atomic_file.hpp"
#include "kvscope/io/mapped_file.hpp"
#include "kvscope/io/raw_tensor.hpp"
#include "kvscope/tensor.hpp"

namespace kvscope::io {

// One .safetensors file, memory-mapped and fully validated on construction. The RawTensors
// point into the mapping and live as long as this object.
class SafetensorsFile {
 public:
  // Throws BadInput for a missing, corrupt or lying file (every message names the file, the
  // tensor and the field), Unsupported for a valid safetensors dtype kvscope has no DType for
  // (F8_E4M3, U32, ...), IoError if the file cannot be mapped.
  explicit SafetensorsFile(const std::string& path);

  // The same checks on bytes in memory (copied); `name` stands for the path in messages.
  static SafetensorsFile from_bytes(std::string_view bytes, const std::string& name = "<memory>");

  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // In file order (ascending data offset).
  const std::vector<RawTensor>& tensors() const { return tensors_; }
  // nullptr if absent.
  const RawTensor* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void parse(const std::byte* bytes, int64_t size);

  std::string path_;
  MappedFile map_;                      // the file, when read from disk
  std::unique_ptr<std::byte[]> owned_;  // the bytes, when made from memory
  std::vector<RawTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// The weights of a checkpoint folder: <dir>/model.safetensors, or the shards listed in
// <dir>/model.safetensors.index.json ({"weight_map": {tensor name: shard file name}}).
// A path to a single .safetensors file is accepted too.
class SafetensorsSet {
 public:
  // Throws BadInput if the folder holds neither file, if the index is malformed, names a
  // shard with a path separator or "..", or lists a tensor its shard does not hold, or if
  // two shards hold the same tensor that the index does not assign.
  explicit SafetensorsSet(const std::string& model_dir);

  const RawTensor* find(std::string_view name) const;  // nullptr if absent
  std::vector<const RawTensor*> tensors() const;       // every tensor, shard by shard, file order
  std::vector<std::string> files() const;              // paths of the files read
  const std::vector<std::unique_ptr<SafetensorsFile>>& shards() const { return shards_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const RawTensor*, std::less<>> by_name_;
};

// Writes F32 tensors (data as given, row-major) to a safetensors file, atomically. The header
// is padded with spaces to a multiple of 8 bytes so the data section is 8-byte aligned.
// Tensors are laid out in the given order. Throws BadInput on an empty or duplicate name, the
// reserved name "__metadata__", or a tensor whose data size does not match its shape.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The same into `out`, left for the caller to commit (so that several files of one run can
// appear together).
void write_safetensors(AtomicFile& out,
                       const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace kvscope::io
