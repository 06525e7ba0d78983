#include "kvscope/io/gguf.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kvscope/error.hpp"
#include "kvscope/io/raw_tensor.hpp"

namespace kvscope::io {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using Bytes = std::vector<std::byte>;

const std::string kFixtures = std::string(KVSCOPE_FIXTURES_DIR) + "/gguf";

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << "missing fixture " << path;
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Bytes out(chars.size());
  std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

nlohmann::ordered_json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::ordered_json::parse(in);
}

// Builds GGUF files byte by byte, so each corrupt-file test changes exactly one thing of a
// file that is otherwise valid (GgufBuilder.BaselineIsValid pins that).
class GgufBuilder {
 public:
  uint32_t version = 3;
  std::string magic = "GGUF";
  std::optional<uint64_t> tensor_count, kv_count;  // override the true counts
  int64_t alignment = 32;                          // padding the builder writes
  int64_t data_trim = 0;                           // bytes cut off the end of the file

  template <typename T>
  static void put(Bytes& b, T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    b.insert(b.end(), p, p + sizeof(T));
  }
  static void put_str(Bytes& b, std::string_view s) {
    put<uint64_t>(b, s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    b.insert(b.end(), p, p + s.size());
  }

  // A metadata entry whose value bytes (after the type) are given raw.
  GgufBuilder& kv_raw(std::string_view key, uint32_t type, const Bytes& value) {
    Bytes e;
    put_str(e, key);
    put<uint32_t>(e, type);
    e.insert(e.end(), value.begin(), value.end());
    kvs_.push_back(std::move(e));
    return *this;
  }
  template <typename T>
  GgufBuilder& kv(std::string_view key, GgufValueType type, T v) {
    Bytes val;
    put<T>(val, v);
    return kv_raw(key, static_cast<uint32_t>(type), val);
  }
  GgufBuilder& kv_string(std::string_view key, std::string_view s) {
    Bytes val;
    put_str(val, s);
    return kv_raw(key, static_cast<uint32_t>(GgufValueType::String), val);
  }

  struct TensorSpec {
    std::string name;
    std::vector<uint64_t> ne;  // GGUF order, contiguous dimension first
    uint32_t type;
    int64_t nbytes;
    std::optional<uint64_t> offset;  // default: the running padded sum
  };
  GgufBuilder& tensor(TensorSpec t) {
    tensors_.push_back(std::move(t));
    return *this;
  }
  // An F32 tensor of `rows` x `cols`, data filled with 0, 1, 2, ...
  GgufBuilder& f32(std::string name, uint64_t rows, uint64_t cols) {
    return tensor({std::move(name), {cols, rows}, 0, static_cast<int64_t>(rows * cols * 4), {}});
  }

  Bytes build() const {
    Bytes b;
    b.insert(b.end(), reinterpret_cast<const std::byte*>(magic.data()),
             reinterpret_cast<const std::byte*>(magic.data()) + 4);
    put<uint32_t>(b, version);
    put<uint64_t>(b, tensor_count.value_or(tensors_.size()));
    put<uint64_t>(b, kv_count.value_or(kvs_.size()));
    for (const Bytes& e : kvs_) b.insert(b.end(), e.begin(), e.end());
    uint64_t running = 0;
    for (const TensorSpec& t : tensors_) {
      put_str(b, t.name);
      put<uint32_t>(b, static_cast<uint32_t>(t.ne.size()));
      for (uint64_t n : t.ne) put<uint64_t>(b, n);
      put<uint32_t>(b, t.type);
      put<uint64_t>(b, t.offset.value_or(running));
      running = pad(running + static_cast<uint64_t>(t.nbytes));
    }
    if (!tensors_.empty()) {
      b.resize(pad(b.size()));
      const size_t start = b.size();
      b.resize(start + running);
      for (size_t i = 0; i + 4 <= running; i += 4) {
        const float f = static_cast<float>(i / 4);
        std::memcpy(&b[start + i], &f, 4);
      }
    }
    b.resize(b.size() - static_cast<size_t>(data_trim));
    return b;
  }

 private:
  uint64_t pad(uint64_t x) const { return (x + alignment - 1) / alignment * alignment; }
  std::vector<Bytes> kvs_;
  std::vector<TensorSpec> tensors_;
};

// A small valid file: two metadata entries, two F32 tensors.
GgufBuilder baseline() {
  GgufBuilder b;
  b.kv_string("general.architecture", "llama")
      .kv<uint32_t>("llama.block_count", GgufValueType::Uint32, 2);
  b.f32("a", 2, 3).f32("b", 1, 5);
  return b;
}

// Expects from_bytes to throw E with a message that names the file and contains `needle`.
template <typename E>
void expect_rejects(const Bytes& bytes, const std::string& needle) {
  try {
    GgufFile::from_bytes(bytes, "bad.gguf");
    ADD_FAILURE() << "accepted a file that should fail with: " << needle;
  } catch (const E& e) {
    EXPECT_THAT(e.what(), StartsWith("bad.gguf: "));
    EXPECT_THAT(e.what(), HasSubstr(needle));
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "message must be one line";
  }
}

// --- the tiny file written by gguf.GGUFWriter -------------------------------------------

class GgufTiny : public ::testing::Test {
 protected:
  GgufFile file{kFixtures + "/tiny.gguf"};
  nlohmann::ordered_json expected = read_json(kFixtures + "/tiny.json");
};

TEST_F(GgufTiny, HeaderAndDefaultAlignment) {
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32);
  EXPECT_EQ(file.path(), kFixtures + "/tiny.gguf");
  EXPECT_EQ(file.tensors().size(), expected["tensors"].size());
}

TEST_F(GgufTiny, MetadataKeysAndTypesInFileOrder) {
  const auto& meta = expected["metadata"];
  ASSERT_EQ(file.metadata().size(), meta.size());
  size_t i = 0;
  for (const auto& [key, want] : meta.items()) {
    const GgufFile::MetaEntry& e = file.metadata()[i++];
    EXPECT_EQ(e.key, key);
    EXPECT_EQ(gguf_value_type_name(e.type), want["type"].get<std::string>()) << key;
    if (e.type == GgufValueType::Array) {
      EXPECT_EQ(gguf_value_type_name(e.array_type), want["array_type"].get<std::string>()) << key;
      EXPECT_EQ(e.array_len, want["len"].get<uint64_t>()) << key;
    }
    EXPECT_TRUE(file.has(key));
  }
  EXPECT_FALSE(file.has("test.absent"));
}

TEST_F(GgufTiny, ScalarValuesOfEveryType) {
  const auto& m = expected["metadata"];
  for (const char* k :
       {"test.u8", "test.i8", "test.u16", "test.i16", "test.u32", "test.i32", "test.i64"}) {
    EXPECT_EQ(file.get_int(k), m[k]["value"].get<int64_t>()) << k;
    EXPECT_EQ(file.get_float(k), m[k]["value"].get<double>()) << k;  // integers read as numbers
  }
  EXPECT_EQ(file.get_int("test.i64"), -9000000000000000000LL);
  EXPECT_EQ(file.get_float("test.f32"), 0.15625);
  EXPECT_EQ(file.get_float("test.f64"), m["test.f64"]["value"].get<double>());
  EXPECT_EQ(file.get_bool("test.bool_true"), true);
  EXPECT_EQ(file.get_bool("test.bool_false"), false);
  EXPECT_EQ(file.get_string("test.string"), m["test.string"]["value"].get<std::string>());
  EXPECT_EQ(file.get_string("general.architecture"), "tinyarch");
  // 1.8e19 does not fit in int64: reading it as an integer is an error, as a number it works.
  EXPECT_THROW(file.get_int("test.u64"), BadInput);
  EXPECT_EQ(file.get_float("test.u64"), 18000000000000000000.0);
  EXPECT_EQ(file.get_int("test.absent"), std::nullopt);
  EXPECT_EQ(file.get_string("test.absent"), std::nullopt);
}

TEST_F(GgufTiny, ArrayValues) {
  const auto& m = expected["metadata"];
  EXPECT_EQ(file.get_string_array("test.arr_str"),
            m["test.arr_str"]["value"].get<std::vector<std::string>>());
  const std::vector<std::string_view> views = file.get_string_view_array("test.arr_str");
  ASSERT_EQ(views.size(), 4u);
  EXPECT_EQ(views[3],
            "\xc3\xbc"
            "ber");
  EXPECT_EQ(file.get_int_array("test.arr_i32"),
            m["test.arr_i32"]["value"].get<std::vector<int64_t>>());
  EXPECT_EQ(file.get_int_array("test.arr_u8"), (std::vector<int64_t>{0, 255, 7}));
  EXPECT_EQ(file.get_float_array("test.arr_f32"), (std::vector<double>{0.5, -1.25, 3.0}));
  EXPECT_EQ(file.get_float_array("test.arr_i32"), (std::vector<double>{1, -2, 3, 2147483647}));
  EXPECT_TRUE(file.get_string_array("test.absent").empty());
  EXPECT_TRUE(file.get_int_array("test.absent").empty());
}

TEST_F(GgufTiny, WrongTypeIsBadInputNamingKeyAndTypes) {
  try {
    (void)file.get_string("test.u32");
    FAIL() << "no throw";
  } catch (const BadInput& e) {
    EXPECT_THAT(e.what(), HasSubstr("'test.u32': expected a string, found uint32"));
  }
  EXPECT_THROW(file.get_int("test.f32"), BadInput);
  EXPECT_THROW(file.get_bool("test.u8"), BadInput);
  EXPECT_THROW(file.get_float("test.string"), BadInput);
  EXPECT_THROW(file.get_int("test.arr_i32"), BadInput);
  EXPECT_THROW(file.get_string_array("test.arr_i32"), BadInput);
  EXPECT_THROW(file.get_int_array("test.arr_f32"), BadInput);
  EXPECT_THROW(file.get_float_array("test.arr_str"), BadInput);
  EXPECT_THROW(file.get_int_array("test.string"), BadInput);
}

TEST_F(GgufTiny, SummariesAreShortAndPrintable) {
  auto summary = [&](std::string_view key) {
    for (const auto& e : file.metadata())
      if (e.key == key) return e.summary;
    return std::string("<absent>");
  };
  EXPECT_EQ(summary("test.f32"), "0.15625");
  EXPECT_EQ(summary("test.i8"), "-100");
  EXPECT_EQ(summary("test.u64"), "18000000000000000000");
  EXPECT_EQ(summary("test.bool_true"), "true");
  EXPECT_EQ(summary("general.architecture"), "\"tinyarch\"");
  EXPECT_EQ(summary("test.arr_str"),
            "[\"a\", \"\", \"ccc\", \"\xc3\xbc"
            "ber\"] (4 x string)");
  EXPECT_EQ(summary("test.arr_i32"), "[1, -2, 3, 2147483647] (4 x int32)");
  EXPECT_EQ(summary("test.arr_bool"), "[true, false, true] (3 x bool)");
}

TEST_F(GgufTiny, TensorsShapesReversedOffsetsAndValues) {
  const auto base = read_bytes(kFixtures + "/tiny.gguf");
  size_t i = 0;
  for (const auto& want : expected["tensors"]) {
    const RawTensor& t = file.tensors()[i++];
    const std::string name = want["name"];
    SCOPED_TRACE(name);
    EXPECT_EQ(t.name, name);
    EXPECT_EQ(file.find(name), &t);
    EXPECT_EQ(dtype_name(t.dtype), want["type"].get<std::string>());
    EXPECT_EQ(t.shape, want["shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(t.nbytes, want["n_bytes"].get<int64_t>());
    // The data pointer is at the byte offset gguf-py found, within our mapping.
    const int64_t off = want["file_offset"];
    EXPECT_EQ(std::memcmp(t.data, base.data() + off, static_cast<size_t>(t.nbytes)), 0);
    const auto values = want["values"].get<std::vector<double>>();
    if (t.dtype == DType::I32) {
      EXPECT_THROW(to_f32(t), Unsupported);
      std::vector<int32_t> ints(values.size());
      std::memcpy(ints.data(), t.data, ints.size() * 4);
      for (size_t j = 0; j < ints.size(); ++j) EXPECT_EQ(ints[j], values[j]);
      continue;
    }
    const std::vector<float> got = to_f32(t);
    ASSERT_EQ(got.size(), values.size());
    for (size_t j = 0; j < got.size(); ++j)
      EXPECT_NEAR(got[j], values[j], 1e-6 * std::max(1.0, std::fabs(values[j]))) << j;
  }
  EXPECT_EQ(file.find("absent"), nullptr);
  EXPECT_EQ(file.data_offset(), expected["tensors"][0]["file_offset"].get<int64_t>());
}

TEST_F(GgufTiny, CustomAlignmentMovesEveryOffset) {
  GgufFile f64(kFixtures + "/tiny_align64.gguf");
  EXPECT_EQ(f64.alignment(), 64);
  const auto& want = expected["alignment64_tensors"];
  ASSERT_EQ(f64.tensors().size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const RawTensor& t = f64.tensors()[i];
    EXPECT_EQ(t.name, want[i]["name"].get<std::string>());
    EXPECT_EQ(t.data - f64.tensors()[0].data + f64.data_offset(),
              want[i]["file_offset"].get<int64_t>());
    EXPECT_EQ((t.data - f64.tensors()[0].data) % 64, 0);
  }
  // The same tensor values as the 32-aligned file.
  EXPECT_EQ(to_f32(*f64.find("t.q4_k")), to_f32(*file.find("t.q4_k")));
}

TEST_F(GgufTiny, Version2ReadsTheSame) {
  Bytes b = read_bytes(kFixtures + "/tiny.gguf");
  b[4] = std::byte{2};
  GgufFile v2 = GgufFile::from_bytes(std::move(b), "v2.gguf");
  EXPECT_EQ(v2.version(), 2u);
  EXPECT_EQ(v2.metadata().size(), file.metadata().size());
  EXPECT_EQ(to_f32(*v2.find("t.f16")), to_f32(*file.find("t.f16")));
}

TEST_F(GgufTiny, MovedFileKeepsTensorViewsValid) {
  Bytes b = read_bytes(kFixtures + "/tiny.gguf");
  GgufFile a = GgufFile::from_bytes(std::move(b), "m.gguf");
  const std::vector<float> before = to_f32(*a.find("t.f32"));
  GgufFile moved = std::move(a);
  EXPECT_EQ(to_f32(*moved.find("t.f32")), before);
  EXPECT_EQ(moved.get_string_array("test.arr_str").size(), 4u);
}

TEST_F(GgufTiny, EveryTruncationIsRejected) {
  const Bytes full = read_bytes(kFixtures + "/tiny.gguf");
  for (size_t n = 0; n < full.size(); ++n) {
    Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      GgufFile::from_bytes(std::move(cut), "cut.gguf");
      ADD_FAILURE() << "accepted a file truncated to " << n << " bytes";
    } catch (const BadInput& e) {
      EXPECT_THAT(e.what(), StartsWith("cut.gguf: ")) << n;
    }
  }
}

TEST(GgufOpen, MissingPathIsBadInput) {
  EXPECT_THROW(GgufFile(kFixtures + "/no-such-file.gguf"), BadInput);
}

// --- one corrupt file per validation rule ------------------------------------------------

TEST(GgufBuilder, BaselineIsValid) {
  const GgufFile f = GgufFile::from_bytes(baseline().build(), "ok.gguf");
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensors()[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.tensors()[1].shape, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(f.tensors()[1].data - f.tensors()[0].data, 32);  // 24 bytes padded to 32
  EXPECT_EQ(to_f32(f.tensors()[0])[5], 5.0f);
  EXPECT_EQ(to_f32(f.tensors()[1])[0], 8.0f);  // data continues after the padding
  EXPECT_EQ(f.get_int("llama.block_count"), 2);
}

TEST(GgufCorrupt, BadMagic) {
  GgufBuilder b = baseline();
  b.magic = "GGML";
  expect_rejects<BadInput>(b.build(), "magic is \"GGML\"");
}

TEST(GgufCorrupt, UnsupportedVersions) {
  GgufBuilder b = baseline();
  b.version = 1;
  expect_rejects<Unsupported>(b.build(), "GGUF version 1 is not supported");
  b.version = 4;
  expect_rejects<Unsupported>(b.build(), "GGUF version 4");
  b.version = 0x03000000;  // a big-endian file
  expect_rejects<Unsupported>(b.build(), "big-endian");
}

TEST(GgufCorrupt, EmptyAndHeaderOnlyFiles) {
  expect_rejects<BadInput>({}, "truncated file: header: magic");
  Bytes b = baseline().build();
  b.resize(12);
  expect_rejects<BadInput>(b, "truncated file: header: tensor_count");
}

TEST(GgufCorrupt, AbsurdCounts) {
  GgufBuilder b = baseline();
  b.tensor_count = uint64_t{1} << 60;
  expect_rejects<BadInput>(b.build(), "tensor_count 1152921504606846976 cannot fit");
  b = baseline();
  b.kv_count = ~uint64_t{0};
  expect_rejects<BadInput>(b.build(), "kv_count 18446744073709551615 cannot fit");
}

TEST(GgufCorrupt, CountsLargerThanContentTruncate) {
  GgufBuilder b;
  b.kv_string("a.b", std::string(100, 'c'));
  b.kv_count = 3;  // passes the size bound, but the file ends after one entry
  expect_rejects<BadInput>(b.build(), "truncated file: metadata entry 1: key at byte 147");
  GgufBuilder t;
  t.kv_string("a.b", std::string(100, 'c'));
  t.tensor_count = 1;
  expect_rejects<BadInput>(t.build(), "truncated file: tensor info 0: name at byte 147");
}

TEST(GgufCorrupt, StringLongerThanFile) {
  GgufBuilder b = baseline();
  Bytes v;
  GgufBuilder::put<uint64_t>(v, uint64_t{1} << 40);
  b.kv_raw("x.s", static_cast<uint32_t>(GgufValueType::String), v);
  expect_rejects<BadInput>(b.build(), "string length 1099511627776 is longer than the rest");
  // A key whose length lies.
  Bytes f = baseline().build();
  f[24] = std::byte{0xff};  // low byte of the first key's length
  expect_rejects<BadInput>(f, "metadata entry 0: key");
}

TEST(GgufCorrupt, AbsurdArrayLength) {
  GgufBuilder b = baseline();
  Bytes v;
  GgufBuilder::put<uint32_t>(v, static_cast<uint32_t>(GgufValueType::Uint32));
  GgufBuilder::put<uint64_t>(v, uint64_t{1} << 62);
  GgufBuilder::put<uint32_t>(v, 7);
  b.kv_raw("x.arr", static_cast<uint32_t>(GgufValueType::Array), v);
  expect_rejects<BadInput>(b.build(), "metadata 'x.arr': array length 4611686018427387904");
  // A string array whose element count fits but whose strings do not.
  b = baseline();
  v.clear();
  GgufBuilder::put<uint32_t>(v, static_cast<uint32_t>(GgufValueType::String));
  GgufBuilder::put<uint64_t>(v, 3);
  GgufBuilder::put_str(v, "ok");
  GgufBuilder::put<uint64_t>(v, 500);
  b.kv_raw("x.strs", static_cast<uint32_t>(GgufValueType::Array), v);
  expect_rejects<BadInput>(b.build(), "string length 500");
}

TEST(GgufCorrupt, UnknownValueTypeAndNestedArrays) {
  GgufBuilder b = baseline();
  b.kv_raw("x.t", 13, Bytes(4));
  expect_rejects<BadInput>(b.build(), "metadata 'x.t': unknown value type 13");
  b = baseline();
  Bytes v;
  GgufBuilder::put<uint32_t>(v, static_cast<uint32_t>(GgufValueType::Array));
  GgufBuilder::put<uint64_t>(v, 0);
  b.kv_raw("x.nested", static_cast<uint32_t>(GgufValueType::Array), v);
  expect_rejects<Unsupported>(b.build(), "arrays of arrays");
}

TEST(GgufCorrupt, BoolThatIsNotZeroOrOne) {
  GgufBuilder b = baseline();
  b.kv<uint8_t>("x.b", GgufValueType::Bool, 2);
  expect_rejects<BadInput>(b.build(), "metadata 'x.b': not a bool: 2");
}

TEST(GgufCorrupt, DuplicateKey) {
  GgufBuilder b = baseline();
  b.kv<uint32_t>("llama.block_count", GgufValueType::Uint32, 3);
  expect_rejects<BadInput>(b.build(), "duplicate metadata key 'llama.block_count'");
}

TEST(GgufCorrupt, AlignmentNotAPowerOfTwo) {
  for (uint32_t a : {0u, 48u, 3u}) {
    GgufBuilder b = baseline();
    b.kv<uint32_t>("general.alignment", GgufValueType::Uint32, a);
    expect_rejects<BadInput>(
        b.build(), "'general.alignment': " + std::to_string(a) + " is not a power of two");
  }
  GgufBuilder b = baseline();
  b.kv_string("general.alignment", "32");
  expect_rejects<BadInput>(b.build(), "'general.alignment': expected an integer, found string");
}

TEST(GgufCorrupt, DeclaredAlignmentDisagreesWithPadding) {
  GgufBuilder b = baseline();
  b.kv<uint32_t>("general.alignment", GgufValueType::Uint32, 64);  // builder pads to 32
  expect_rejects<BadInput>(b.build(),
                           "tensor 'b': offset 32 is not a multiple of the alignment 64");
}

TEST(GgufCorrupt, DimensionCounts) {
  GgufBuilder b;
  b.tensor({"z", {}, 0, 0, {}});
  expect_rejects<BadInput>(b.build(), "tensor 'z': n_dims 0 is not between 1 and 4");
  GgufBuilder b5;
  b5.tensor({"five", {1, 1, 1, 1, 1}, 0, 4, {}});
  expect_rejects<BadInput>(b5.build(), "tensor 'five': n_dims 5");
}

TEST(GgufCorrupt, AbsurdDimensions) {
  GgufBuilder b;
  b.tensor({"big", {uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0, {}});
  expect_rejects<BadInput>(b.build(), "tensor 'big': element count overflows");
  GgufBuilder neg;
  neg.tensor({"neg", {~uint64_t{0}}, 0, 0, {}});
  expect_rejects<BadInput>(neg.build(), "tensor 'neg': ne[0] = 18446744073709551615 is absurd");
  GgufBuilder bytes;  // elements fit in int64 but the F32 byte size does not
  bytes.tensor({"wide", {uint64_t{1} << 31, uint64_t{1} << 31}, 0, 0, {}});
  expect_rejects<BadInput>(bytes.build(), "tensor 'wide': byte size overflows");
}

TEST(GgufCorrupt, RowNotAMultipleOfTheBlockSize) {
  GgufBuilder b;
  b.tensor({"q", {48, 2}, 8, 0, {}});  // Q8_0 holds 32-element blocks
  expect_rejects<BadInput>(b.build(),
                           "tensor 'q': row length ne[0] = 48 is not a multiple of the Q8_0 "
                           "block size 32");
}

TEST(GgufCorrupt, UnknownAndUnsupportedTensorTypes) {
  GgufBuilder b;
  b.tensor({"t", {32}, 99, 0, {}});
  expect_rejects<BadInput>(b.build(), "tensor 't': unknown GGML type id 99");
  GgufBuilder iq;
  iq.tensor({"t", {256}, 16, 66, {}});
  expect_rejects<Unsupported>(iq.build(), "tensor 't': GGML type 16 (IQ2_XXS) is not supported");
}

TEST(GgufCorrupt, TensorOffsetNotAligned) {
  GgufBuilder b = baseline();
  b.tensor({"c", {4}, 0, 16, 72});
  expect_rejects<BadInput>(b.build(),
                           "tensor 'c': offset 72 is not a multiple of the alignment 32");
}

TEST(GgufCorrupt, OverlappingOrOutOfOrderTensors) {
  GgufBuilder b;
  b.f32("a", 2, 8).tensor({"b", {8}, 0, 32, 32});  // "a" occupies [0, 64)
  expect_rejects<BadInput>(b.build(), "tensor 'b': offset 32 is not 64");
  GgufBuilder gap;
  gap.f32("a", 1, 4).tensor({"b", {8}, 0, 32, 64});  // leaves a hole at [32, 64)
  expect_rejects<BadInput>(gap.build(), "tensor 'b': offset 64 is not 32");
}

TEST(GgufCorrupt, DataPastEndOfFile) {
  GgufBuilder b = baseline();
  b.data_trim = 13;  // "b" is 20 bytes at the end (after 32 bytes of "a" and its padding)
  expect_rejects<BadInput>(b.build(), "tensor 'b': data [");
  expect_rejects<BadInput>(b.build(), "past end of file");
  GgufBuilder huge;
  huge.tensor({"h", {uint64_t{1} << 40}, 0, 0, {}});  // 4 TiB of F32 declared, none present
  expect_rejects<BadInput>(huge.build(), "tensor 'h': data [");
}

TEST(GgufCorrupt, DuplicateTensorNames) {
  GgufBuilder b;
  b.f32("w", 1, 4).f32("w", 1, 4);
  expect_rejects<BadInput>(b.build(), "duplicate tensor name 'w'");
}

TEST(GgufCorrupt, TruncatedInsideTensorInfo) {
  Bytes f = baseline().build();
  // Cut in the middle of the second tensor's info: header 24 + kvs + first info.
  const GgufFile ok = GgufFile::from_bytes(f, "ok.gguf");
  f.resize(static_cast<size_t>(ok.data_offset()) - 20);
  expect_rejects<BadInput>(f, "truncated file: tensor 'b'");
}

TEST(GgufEdge, EmptyArraysAndNoTensors) {
  GgufBuilder b;
  Bytes v;
  GgufBuilder::put<uint32_t>(v, static_cast<uint32_t>(GgufValueType::Int32));
  GgufBuilder::put<uint64_t>(v, 0);
  b.kv_raw("x.empty", static_cast<uint32_t>(GgufValueType::Array), v);
  const GgufFile f = GgufFile::from_bytes(b.build(), "e.gguf");
  EXPECT_TRUE(f.tensors().empty());
  ASSERT_EQ(f.metadata().size(), 1u);
  EXPECT_EQ(f.metadata()[0].array_len, 0u);
  EXPECT_EQ(f.metadata()[0].summary, "[] (0 x int32)");
  EXPECT_TRUE(f.get_int_array("x.empty").empty());
  EXPECT_TRUE(f.get_float_array("x.empty").empty());
  EXPECT_THROW(f.get_string_array("x.empty"), BadInput);
}

TEST(GgufEdge, LongStringSummaryIsAbbreviated) {
  GgufBuilder b;
  b.kv_string("x.long", std::string(1000, 'a') + "\n");
  const GgufFile f = GgufFile::from_bytes(b.build(), "l.gguf");
  EXPECT_EQ(f.metadata()[0].summary, "\"" + std::string(60, 'a') + "...\"");
  EXPECT_EQ(f.get_string("x.long")->size(), 1001u);
}

TEST(GgufEdge, SummaryNeverCutsAUtf8Sequence) {
  GgufBuilder b;
  b.kv_string("x.u", std::string(59, 'a') + "\xc3\xa9" + std::string(10, 'b'));
  const GgufFile f = GgufFile::from_bytes(b.build(), "u.gguf");
  EXPECT_EQ(f.metadata()[0].summary, "\"" + std::string(59, 'a') + "\xc3\xa9...\"");
}

TEST(GgufEdge, ZeroElementTensorIsEmpty) {
  GgufBuilder b;
  b.tensor({"none", {0, 3}, 0, 0, {}});
  const GgufFile f = GgufFile::from_bytes(b.build(), "z.gguf");
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.tensors()[0].shape, (std::vector<int64_t>{3, 0}));
  EXPECT_EQ(f.tensors()[0].nbytes, 0);
  EXPECT_EQ(f.tensors()[0].numel(), 0);
}

// --- the default model, when present -------------------------------------------------------

TEST(GgufDefaultModel, SmolLM2Q4_1) {
  const std::string path =
      std::string(KVSCOPE_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "default model not present";
  const auto t0 = std::chrono::steady_clock::now();
  const GgufFile f(path);
  const double open_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(open_ms, 1000.0) << "opening should take milliseconds";
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.block_count"), 30);
  EXPECT_EQ(f.get_string_array("tokenizer.ggml.tokens").size(), 49152u);
  EXPECT_EQ(f.get_string_view_array("tokenizer.ggml.merges").size(), 48900u);
  EXPECT_EQ(f.get_int_array("tokenizer.ggml.token_type").size(), 49152u);
  EXPECT_EQ(f.tensors().size(), 272u);

  // Values from gguf-py: gguf.quants.dequantize of the same tensors.
  const RawTensor* emb = f.find("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->dtype, DType::Q8_0);
  EXPECT_EQ(emb->shape, (std::vector<int64_t>{49152, 576}));
  const RawTensor* q = f.find("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::Q4_1);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{576, 576}));
  EXPECT_EQ(f.data_offset(), 1785664);  // file offsets per gguf-py
  EXPECT_EQ(q->data - emb->data, 33806656 - 1785664);
  const std::vector<float> e = to_f32(*emb);
  EXPECT_FLOAT_EQ(e[0], -0.10654449462890625f);
  EXPECT_FLOAT_EQ(e[1], 0.032978057861328125f);
  EXPECT_FLOAT_EQ(e[2], 0.048198699951171875f);
  EXPECT_FLOAT_EQ(e[3], -0.022830963134765625f);
  EXPECT_FLOAT_EQ(e.back(), -0.0417022705078125f);
  const std::vector<float> w = to_f32(*q);
  EXPECT_FLOAT_EQ(w[0], -0.0963134765625f);
  EXPECT_FLOAT_EQ(w[1], 0.1573486328125f);
  EXPECT_FLOAT_EQ(w[2], -0.0963134765625f);
  EXPECT_FLOAT_EQ(w[3], -0.73046875f);
  EXPECT_FLOAT_EQ(w.back(), -0.255859375f);
  EXPECT_FLOAT_EQ(to_f32(*f.find("output_norm.weight"))[0], 1.7578125f);

  for (const RawTensor& t : f.tensors()) {
    SCOPED_TRACE(t.name);
    const std::vector<float> v = to_f32(t);
    for (float x : v) ASSERT_TRUE(std::isfinite(x));
  }
}

}  // namespace
}  // namespace kvscope::io
