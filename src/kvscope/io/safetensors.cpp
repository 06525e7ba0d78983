#include "kvscope/io/safetensors.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvscope/error.hpp"
#include "kvscope/io/json_file.hpp"

namespace kvscope::io {

using nlohmann::json;

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and is used in place");

namespace {

std::optional<DType> dtype_from_name(std::string_view s) {
  static const std::pair<std::string_view, DType> kTypes[] = {
      {"F64", DType::F64}, {"F32", DType::F32},   {"F16", DType::F16}, {"BF16", DType::BF16},
      {"I64", DType::I64}, {"I32", DType::I32},   {"I16", DType::I16}, {"I8", DType::I8},
      {"U8", DType::U8},   {"BOOL", DType::BOOL},
  };
  for (const auto& [name, t] : kTypes)
    if (s == name) return t;
  return std::nullopt;
}

// Valid in the safetensors format, but without a kvscope DType.
bool is_known_safetensors_dtype(std::string_view s) {
  static const std::string_view kOthers[] = {"U16",     "U32",     "U64",         "C64",
                                             "F8_E4M3", "F8_E5M2", "F8_E8M0",     "F6_E2M3",
                                             "F6_E3M2", "F4",      "F8_E4M3FNUZ", "F8_E5M2FNUZ"};
  return std::find(std::begin(kOthers), std::end(kOthers), s) != std::end(kOthers);
}

// A JSON integer that fits in int64, or nullopt.
std::optional<int64_t> as_i64(const json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  return std::nullopt;
}

struct Entry {
  RawTensor tensor;
  int64_t begin = 0;
  int64_t end = 0;
};

bool is_dir(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), map_(path) {
  parse(map_.data(), map_.size());
}

SafetensorsFile SafetensorsFile::from_bytes(std::string_view bytes, const std::string& name) {
  SafetensorsFile f;
  f.path_ = name;
  // One spare byte so that an empty input still has a valid (unused) buffer.
  f.owned_ = std::make_unique<std::byte[]>(bytes.size() + 1);
  if (!bytes.empty()) std::memcpy(f.owned_.get(), bytes.data(), bytes.size());
  f.parse(f.owned_.get(), static_cast<int64_t>(bytes.size()));
  return f;
}

void SafetensorsFile::parse(const std::byte* bytes, int64_t size) {
  const std::string& file = path_;
  if (size < 8)
    throw BadInput(fmt::format(
        "{}: {} bytes is too short for a safetensors file (8-byte header length)", file, size));
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);
  if (header_len > static_cast<uint64_t>(size - 8))
    throw BadInput(
        fmt::format("{}: header length {} exceeds file size ({} bytes)", file, header_len, size));
  const int64_t hlen = static_cast<int64_t>(header_len);
  const std::byte* data = bytes + 8 + hlen;
  const int64_t data_size = size - 8 - hlen;

  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(hlen));
  check_json_depth(text, file + ": header");
  json header;
  try {
    header = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    std::string msg = e.what();
    if (const size_t close = msg.find("] "); close != std::string::npos)
      msg = msg.substr(close + 2);
    throw BadInput(fmt::format("{}: header: invalid JSON: {}", file, msg));
  }
  if (!header.is_object())
    throw BadInput(
        fmt::format("{}: header: expected a JSON object, got {}", file, json_excerpt(header)));

  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& [name, desc] : header.items()) {
    if (name == "__metadata__") {
      if (!desc.is_object())
        throw BadInput(fmt::format("{}: __metadata__: expected an object of strings, got {}", file,
                                   json_excerpt(desc)));
      for (const auto& [k, v] : desc.items()) {
        if (!v.is_string())
          throw BadInput(fmt::format("{}: __metadata__: key '{}': expected a string, got {}", file,
                                     k, json_excerpt(v)));
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    if (!desc.is_object())
      throw BadInput(fmt::format("{}: tensor '{}': expected an object, got {}", file, name,
                                 json_excerpt(desc)));

    Entry e;
    e.tensor.name = name;

    const auto dt = desc.find("dtype");
    if (dt == desc.end() || !dt->is_string())
      throw BadInput(fmt::format("{}: tensor '{}': dtype: expected a string, got {}", file, name,
                                 dt == desc.end() ? "nothing" : json_excerpt(*dt)));
    const std::string dtype_str = dt->get<std::string>();
    const auto dtype = dtype_from_name(dtype_str);
    if (!dtype) {
      if (is_known_safetensors_dtype(dtype_str))
        throw Unsupported(
            fmt::format("{}: tensor '{}': dtype {} is not supported", file, name, dtype_str));
      throw BadInput(fmt::format("{}: tensor '{}': unknown dtype '{}'", file, name, dtype_str));
    }
    e.tensor.dtype = *dtype;

    const auto sh = desc.find("shape");
    if (sh == desc.end() || !sh->is_array())
      throw BadInput(fmt::format("{}: tensor '{}': shape: expected an array, got {}", file, name,
                                 sh == desc.end() ? "nothing" : json_excerpt(*sh)));
    int64_t numel = 1;
    for (const json& d : *sh) {
      const auto dim = as_i64(d);
      if (!dim || *dim < 0)
        throw BadInput(
            fmt::format("{}: tensor '{}': shape {}: dimension {} is not a non-negative "
                        "integer",
                        file, name, json_excerpt(*sh), json_excerpt(d)));
      e.tensor.shape.push_back(*dim);
    }
    for (int64_t dim : e.tensor.shape) {
      if (dim != 0 && numel > INT64_MAX / dim)
        throw BadInput(fmt::format("{}: tensor '{}': shape {}: too many elements", file, name,
                                   json_excerpt(*sh)));
      numel *= dim;
    }
    const int64_t elem = dtype_block_bytes(e.tensor.dtype);
    if (numel > INT64_MAX / elem)
      throw BadInput(fmt::format("{}: tensor '{}': shape {}: byte size overflows", file, name,
                                 json_excerpt(*sh)));
    const int64_t nbytes = numel * elem;

    const auto off = desc.find("data_offsets");
    std::optional<int64_t> begin, end;
    if (off != desc.end() && off->is_array() && off->size() == 2) {
      begin = as_i64((*off)[0]);
      end = as_i64((*off)[1]);
    }
    if (!begin || !end || *begin < 0 || *end < 0)
      throw BadInput(
          fmt::format("{}: tensor '{}': data_offsets: expected [begin, end] as "
                      "non-negative integers, got {}",
                      file, name, off == desc.end() ? "nothing" : json_excerpt(*off)));
    if (*begin > *end)
      throw BadInput(fmt::format("{}: tensor '{}': data_offsets [{}, {}]: begin is after end", file,
                                 name, *begin, *end));
    if (*end > data_size)
      throw BadInput(
          fmt::format("{}: tensor '{}': data_offsets [{}, {}] past end of data section "
                      "({} bytes)",
                      file, name, *begin, *end, data_size));
    if (*end - *begin != nbytes)
      throw BadInput(fmt::format(
          "{}: tensor '{}': data_offsets [{}, {}] hold {} bytes, but shape "
          "{} of {} needs {}",
          file, name, *begin, *end, *end - *begin, json_excerpt(*sh), dtype_str, nbytes));
    e.begin = *begin;
    e.end = *end;
    e.tensor.data = data + *begin;
    e.tensor.nbytes = nbytes;
    entries.push_back(std::move(e));
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Empty tensors occupy no bytes and cannot overlap anything.
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin == e.end) continue;
    if (prev && e.begin < prev->end)
      throw BadInput(fmt::format(
          "{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' at "
          "[{}, {}]",
          file, e.tensor.name, e.begin, e.end, prev->tensor.name, prev->begin, prev->end));
    prev = &e;
  }

  tensors_.reserve(entries.size());
  for (Entry& e : entries) {
    index_.emplace(e.tensor.name, tensors_.size());
    tensors_.push_back(std::move(e.tensor));
  }
}

const RawTensor* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsSet::SafetensorsSet(const std::string& model_dir) {
  if (!is_dir(model_dir)) {
    if (!exists(model_dir)) throw BadInput(fmt::format("{}: no such file or folder", model_dir));
    shards_.push_back(std::make_unique<SafetensorsFile>(model_dir));
    for (const RawTensor& t : shards_.back()->tensors()) by_name_.emplace(t.name, &t);
    return;
  }
  const std::string dir = model_dir.back() == '/' ? model_dir : model_dir + "/";
  const std::string index_path = dir + "model.safetensors.index.json";
  const std::string single_path = dir + "model.safetensors";

  if (!exists(index_path)) {
    if (!exists(single_path))
      throw BadInput(
          fmt::format("{}: no model.safetensors or model.safetensors.index.json", model_dir));
    shards_.push_back(std::make_unique<SafetensorsFile>(single_path));
    for (const RawTensor& t : shards_.back()->tensors()) by_name_.emplace(t.name, &t);
    return;
  }

  const json index = read_json_file(index_path);
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
    throw BadInput(
        fmt::format("{}: weight_map: expected an object of tensor name -> shard file", index_path));
  const json& weight_map = index["weight_map"];
  if (weight_map.empty()) throw BadInput(fmt::format("{}: weight_map is empty", index_path));

  std::set<std::string> shard_names;
  for (const auto& [tensor, shard] : weight_map.items()) {
    if (!shard.is_string())
      throw BadInput(fmt::format("{}: weight_map: tensor '{}': expected a shard file name, got {}",
                                 index_path, tensor, json_excerpt(shard)));
    const std::string s = shard.get<std::string>();
    if (s.empty() || s.find('/') != std::string::npos || s.find('\\') != std::string::npos ||
        s.find("..") != std::string::npos || s.find('\0') != std::string::npos)
      throw BadInput(
          fmt::format("{}: weight_map: tensor '{}': shard file name '{}' must be a "
                      "plain file name in the model folder",
                      index_path, tensor, s));
    shard_names.insert(s);
  }

  std::map<std::string, const SafetensorsFile*> shard_by_name;
  for (const std::string& s : shard_names) {
    shards_.push_back(std::make_unique<SafetensorsFile>(dir + s));
    shard_by_name[s] = shards_.back().get();
  }
  for (const auto& [tensor, shard] : weight_map.items()) {
    const std::string s = shard.get<std::string>();
    const RawTensor* t = shard_by_name.at(s)->find(tensor);
    if (!t)
      throw BadInput(
          fmt::format("{}: weight_map: tensor '{}' is not in its shard {}", index_path, tensor, s));
    by_name_.emplace(tensor, t);
  }
  // Tensors a shard holds but the index does not list are still usable, unless ambiguous.
  std::map<std::string, const SafetensorsFile*> unlisted_owner;
  for (const auto& shard : shards_) {
    for (const RawTensor& t : shard->tensors()) {
      if (weight_map.contains(t.name)) continue;
      const auto [it, fresh] = unlisted_owner.emplace(t.name, shard.get());
      if (!fresh)
        throw BadInput(
            fmt::format("{}: tensor '{}' is in both {} and {}, and weight_map does not "
                        "say which to use",
                        index_path, t.name, it->second->path(), shard->path()));
      by_name_.emplace(t.name, &t);
    }
  }
}

const RawTensor* SafetensorsSet::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<const RawTensor*> SafetensorsSet::tensors() const {
  std::vector<const RawTensor*> out;
  for (const auto& shard : shards_)
    for (const RawTensor& t : shard->tensors())
      if (find(t.name) == &t) out.push_back(&t);
  return out;
}

std::vector<std::string> SafetensorsSet::files() const {
  std::vector<std::string> out;
  for (const auto& shard : shards_) out.push_back(shard->path());
  return out;
}

void write_safetensors(AtomicFile& out,
                       const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string& path = out.final_path();
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      throw BadInput(fmt::format("{}: tensor name '{}' is not allowed", path, name));
    if (header.contains(name))
      throw BadInput(fmt::format("{}: tensor '{}' is given twice", path, name));
    if (!t) throw BadInput(fmt::format("{}: tensor '{}' is null", path, name));
    const int64_t n = shape_numel(t->shape);
    if (n != static_cast<int64_t>(t->data.size()))
      throw BadInput(fmt::format("{}: tensor '{}': shape {} needs {} values, data holds {}", path,
                                 name, t->shape_string(), n, t->data.size()));
    const int64_t nbytes = n * 4;
    header[name] = {
        {"dtype", "F32"}, {"shape", t->shape}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception&) {
    throw BadInput(fmt::format("{}: a tensor name or metadata value is not valid UTF-8", path));
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  const uint64_t len = text.size();
  out.write(&len, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : tensors)
    if (!out.write(t->data.data(), t->data.size() * sizeof(float))) break;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  AtomicFile out(path);
  write_safetensors(out, tensors, metadata);
  out.commit();
}

}  // namespace kvscope::io
