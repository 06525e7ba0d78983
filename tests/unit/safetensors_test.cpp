#include "kvscope/io/safetensors.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "io_test_util.hpp"
#include "kvscope/error.hpp"

namespace kvscope::io {
namespace {

using kvscope::testing::read_bytes;
using kvscope::testing::TempDir;
using kvscope::testing::write_bytes;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A safetensors file: u64 little-endian header length, the header text, the data bytes.
std::string st_bytes(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// The message of the BadInput that reading these bytes from a file throws ("" if none).
std::string bad_input_message(const std::string& bytes) {
  TempDir dir;
  const std::string path = dir / "model.safetensors";
  write_bytes(path, bytes);
  try {
    SafetensorsFile f(path);
  } catch (const BadInput& e) {
    return e.what();
  }
  return "";
}

const std::string kTwoFloats = floats({1.0f, 2.0f});

TEST(SafetensorsFile, ReadsTensorsMetadataAndValues) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}})";
  TempDir dir;
  write_bytes(dir / "m.safetensors", st_bytes(header, floats({1.5f, -2.0f, 3.0f, 4.25f})));
  SafetensorsFile f(dir / "m.safetensors");
  EXPECT_EQ(f.path(), dir / "m.safetensors");
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensors()[0].name, "a");  // file order, not header order
  EXPECT_EQ(f.tensors()[1].name, "b");
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const RawTensor* b = f.find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(b->nbytes, 8);
  EXPECT_EQ(to_f32(*b), (std::vector<float>{3.0f, 4.25f}));
  EXPECT_EQ(to_f32(*f.find("a")), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(f.find("c"), nullptr);
}

TEST(SafetensorsFile, ReadsFileWrittenByPythonSafetensors) {
  SafetensorsFile f(std::string(KVSCOPE_FIXTURES_DIR) + "/io/python_written.safetensors");
  EXPECT_EQ(f.metadata().at("note"), "fixture");
  ASSERT_EQ(f.tensors().size(), 6u);

  const RawTensor* f32 = f.find("f32");
  ASSERT_NE(f32, nullptr);
  EXPECT_EQ(f32->dtype, DType::F32);
  EXPECT_EQ(f32->shape, (std::vector<int64_t>{3, 4}));
  std::vector<float> want(12);
  for (int i = 0; i < 12; ++i) want[i] = static_cast<float>(i) - 5.5f;
  EXPECT_EQ(to_f32(*f32), want);

  const RawTensor* f16 = f.find("f16");
  ASSERT_NE(f16, nullptr);
  EXPECT_EQ(f16->dtype, DType::F16);
  EXPECT_EQ(to_f32(*f16), (std::vector<float>{1.0f, -2.0f, 0.5f, 65504.0f, 0.0f, -0.25f}));

  EXPECT_EQ(to_f32(*f.find("f64")), (std::vector<float>{3.0f, -1.125f}));

  const RawTensor* i64 = f.find("i64");
  ASSERT_NE(i64, nullptr);
  EXPECT_EQ(i64->dtype, DType::I64);
  int64_t third = 0;
  std::memcpy(&third, i64->data + 16, 8);
  EXPECT_EQ(third, int64_t{1} << 40);

  const RawTensor* u8 = f.find("u8");
  ASSERT_NE(u8, nullptr);
  EXPECT_EQ(u8->dtype, DType::U8);
  EXPECT_EQ(static_cast<int>(u8->data[1]), 255);

  EXPECT_EQ(f.find("empty")->shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(f.find("empty")->nbytes, 0);
}

TEST(SafetensorsFile, AcceptsScalarsEmptyTensorsAndHeaderPadding) {
  const std::string header = R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                             R"("e":{"dtype":"BF16","shape":[3,0],"data_offsets":[4,4]}}    )";
  const SafetensorsFile f = SafetensorsFile::from_bytes(st_bytes(header, floats({9.0f})));
  EXPECT_EQ(to_f32(*f.find("s")), (std::vector<float>{9.0f}));
  EXPECT_EQ(f.find("e")->numel(), 0);
  EXPECT_TRUE(f.metadata().empty());
}

TEST(SafetensorsFile, MissingFileIsBadInput) {
  TempDir dir;
  EXPECT_THROW(SafetensorsFile(dir / "nope.safetensors"), BadInput);
}

TEST(SafetensorsFile, RejectsFileShorterThanHeaderLength) {
  EXPECT_THAT(bad_input_message("abc"), HasSubstr("too short"));
}

TEST(SafetensorsFile, RejectsHeaderLengthPastEndOfFile) {
  std::string bytes = st_bytes("{}", "");
  const uint64_t lie = 1000;
  std::memcpy(bytes.data(), &lie, 8);
  EXPECT_THAT(bad_input_message(bytes),
              AllOf(HasSubstr("model.safetensors"),
                    HasSubstr("header length 1000 exceeds file size (10 bytes)")));
  const uint64_t huge = ~uint64_t{0};
  std::memcpy(bytes.data(), &huge, 8);
  EXPECT_THAT(bad_input_message(bytes), HasSubstr("header length 18446744073709551615"));
}

TEST(SafetensorsFile, RejectsHeaderThatIsNotJson) {
  EXPECT_THAT(bad_input_message(st_bytes(R"({"a": )", "")), HasSubstr("header: invalid JSON"));
}

TEST(SafetensorsFile, RejectsHeaderThatIsNotAnObject) {
  EXPECT_THAT(bad_input_message(st_bytes("[1, 2]", "")),
              HasSubstr("header: expected a JSON object, got [1,2]"));
}

TEST(SafetensorsFile, RejectsTensorEntryThatIsNotAnObject) {
  EXPECT_THAT(bad_input_message(st_bytes(R"({"w": 5})", "")),
              HasSubstr("tensor 'w': expected an object, got 5"));
}

TEST(SafetensorsFile, RejectsDeeplyNestedEntryWithoutExhaustingTheStack) {
  const std::string header = R"({"w":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_THAT(bad_input_message(st_bytes(header, "")),
              HasSubstr("header: JSON nested more than 64 levels deep (at byte 68)"));
}

TEST(SafetensorsFile, RejectsMissingDtype) {
  EXPECT_THAT(
      bad_input_message(st_bytes(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", kTwoFloats)),
      HasSubstr("tensor 'w': dtype: expected a string, got nothing"));
}

TEST(SafetensorsFile, RejectsUnknownDtypeNamingTensorAndDtype) {
  EXPECT_THAT(bad_input_message(
                  st_bytes(R"({"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}})", kTwoFloats)),
              AllOf(HasSubstr("model.safetensors: tensor 'w'"), HasSubstr("unknown dtype 'F7'")));
}

TEST(SafetensorsFile, ValidButUnhandledDtypeIsUnsupported) {
  const std::string bytes =
      st_bytes(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "ab");
  try {
    SafetensorsFile::from_bytes(bytes, "q.safetensors");
    FAIL() << "no exception";
  } catch (const Unsupported& e) {
    EXPECT_THAT(e.what(), HasSubstr("q.safetensors: tensor 'w': dtype F8_E4M3 is not supported"));
  }
}

TEST(SafetensorsFile, RejectsShapeThatIsNotAnArray) {
  EXPECT_THAT(bad_input_message(
                  st_bytes(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", kTwoFloats)),
              HasSubstr("tensor 'w': shape: expected an array, got 2"));
}

TEST(SafetensorsFile, RejectsNegativeDimension) {
  EXPECT_THAT(bad_input_message(st_bytes(
                  R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})", kTwoFloats)),
              HasSubstr("tensor 'w': shape [2,-1]: dimension -1 is not a non-negative integer"));
}

TEST(SafetensorsFile, RejectsNonIntegerDimension) {
  EXPECT_THAT(bad_input_message(st_bytes(
                  R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", kTwoFloats)),
              HasSubstr("dimension 2.5 is not a non-negative integer"));
  EXPECT_THAT(bad_input_message(st_bytes(
                  R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", kTwoFloats)),
              HasSubstr(R"(dimension "2" is not)"));
}

TEST(SafetensorsFile, RejectsElementCountOverflow) {
  EXPECT_THAT(bad_input_message(st_bytes(
                  R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                  kTwoFloats)),
              HasSubstr("tensor 'w': shape [4294967296,4294967296]: too many elements"));
}

TEST(SafetensorsFile, RejectsByteSizeOverflow) {
  EXPECT_THAT(bad_input_message(st_bytes(
                  R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})",
                  kTwoFloats)),
              HasSubstr("tensor 'w': shape [2305843009213693952]: byte size overflows"));
}

TEST(SafetensorsFile, RejectsMalformedDataOffsets) {
  for (const char* offsets : {R"([0])", R"([0,8,9])", R"("0-8")", R"([-8,0])", R"([0,1e3])",
                              R"([0,18446744073709551615])"}) {
    const std::string header =
        std::string(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":)") + offsets + "}}";
    EXPECT_THAT(bad_input_message(st_bytes(header, kTwoFloats)),
                HasSubstr("tensor 'w': data_offsets: expected [begin, end]"))
        << offsets;
  }
  EXPECT_THAT(
      bad_input_message(st_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", kTwoFloats)),
      HasSubstr("data_offsets: expected [begin, end] as non-negative integers, got nothing"));
}

TEST(SafetensorsFile, RejectsBeginAfterEnd) {
  EXPECT_THAT(bad_input_message(st_bytes(
                  R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", kTwoFloats)),
              HasSubstr("tensor 'w': data_offsets [8, 0]: begin is after end"));
}

TEST(SafetensorsFile, RejectsOffsetsPastEndOfData) {
  EXPECT_THAT(bad_input_message(st_bytes(
                  R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", kTwoFloats)),
              HasSubstr("model.safetensors: tensor 'w': data_offsets [4, 12] past end of data "
                        "section (8 bytes)"));
}

TEST(SafetensorsFile, RejectsOffsetsThatDisagreeWithShape) {
  EXPECT_THAT(
      bad_input_message(
          st_bytes(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}})", kTwoFloats)),
      HasSubstr("tensor 'w': data_offsets [0, 8] hold 8 bytes, but shape [2] of F16 needs 4"));
}

TEST(SafetensorsFile, RejectsOverlappingTensorsNamingBoth) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_THAT(bad_input_message(st_bytes(header, floats({1, 2, 3}))),
              HasSubstr("tensor 'b': data_offsets [4, 12] overlap tensor 'a' at [0, 8]"));
}

TEST(SafetensorsFile, RejectsMetadataThatIsNotAStringMap) {
  EXPECT_THAT(bad_input_message(st_bytes(R"({"__metadata__":[1]})", "")),
              HasSubstr("__metadata__: expected an object of strings, got [1]"));
  EXPECT_THAT(bad_input_message(st_bytes(R"({"__metadata__":{"step":3}})", "")),
              HasSubstr("__metadata__: key 'step': expected a string, got 3"));
}

TEST(WriteSafetensors, RoundTripsValuesShapesAndMetadata) {
  TempDir dir;
  Tensor a({2, 3});
  for (int i = 0; i < 6; ++i) a.data[i] = 0.25f * static_cast<float>(i) - 1.0f;
  Tensor b({5});
  b.data = {1e-30f, -3.5f, 7.0f, 1e30f, 0.0f};
  Tensor empty({0, 3});
  const std::string path = dir / "out.safetensors";
  write_safetensors(path, {{"blocks.0.attn.k", &a}, {"logits", &b}, {"nothing", &empty}},
                    {{"model", "gpt2"}, {"prompt", "The cat"}});

  const SafetensorsFile f(path);
  EXPECT_EQ(f.metadata(),
            (std::map<std::string, std::string>{{"model", "gpt2"}, {"prompt", "The cat"}}));
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "blocks.0.attn.k");  // laid out in the given order
  EXPECT_EQ(f.find("blocks.0.attn.k")->shape, a.shape);
  EXPECT_EQ(to_f32(*f.find("blocks.0.attn.k")), a.data);
  EXPECT_EQ(to_f32(*f.find("logits")), b.data);
  EXPECT_EQ(f.find("nothing")->shape, empty.shape);

  const std::string bytes = read_bytes(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_len + 4 * (6 + 5));
}

TEST(WriteSafetensors, RejectsDuplicateNamesAndWrongSizesWithoutWriting) {
  TempDir dir;
  Tensor a({2});
  Tensor bad({3});
  bad.data.resize(2);
  const std::string path = dir / "out.safetensors";
  EXPECT_THROW(write_safetensors(path, {{"x", &a}, {"x", &a}}), BadInput);
  EXPECT_THROW(write_safetensors(path, {{"__metadata__", &a}}), BadInput);
  EXPECT_THROW(write_safetensors(path, {{"x", &bad}}), BadInput);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// A checkpoint folder: `files` maps a file name to its contents.
void make_folder(const TempDir& dir, const std::map<std::string, std::string>& files) {
  for (const auto& [name, bytes] : files) write_bytes(dir / name, bytes);
}

std::string one_tensor(const std::string& name, float value) {
  return st_bytes(R"({")" + name + R"(":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                  floats({value}));
}

TEST(SafetensorsSet, LoadsSingleFileFolderOrFilePath) {
  TempDir dir;
  make_folder(dir, {{"model.safetensors", one_tensor("w", 2.0f)}});
  const SafetensorsSet set(dir.path());
  ASSERT_NE(set.find("w"), nullptr);
  EXPECT_EQ(to_f32(*set.find("w"))[0], 2.0f);
  EXPECT_EQ(set.files(), (std::vector<std::string>{dir / "model.safetensors"}));
  EXPECT_EQ(set.tensors().size(), 1u);
  EXPECT_NE(SafetensorsSet(dir / "model.safetensors").find("w"), nullptr);
}

TEST(SafetensorsSet, LoadsShardsListedInIndex) {
  TempDir dir;
  make_folder(dir,
              {{"model-00001-of-00002.safetensors", one_tensor("a", 1.0f)},
               {"model-00002-of-00002.safetensors", one_tensor("b", 2.0f)},
               {"model.safetensors.index.json", R"({"metadata":{"total_size":8},"weight_map":{)"
                                                R"("a":"model-00001-of-00002.safetensors",)"
                                                R"("b":"model-00002-of-00002.safetensors"}})"}});
  const SafetensorsSet set(dir.path());
  EXPECT_EQ(to_f32(*set.find("a"))[0], 1.0f);
  EXPECT_EQ(to_f32(*set.find("b"))[0], 2.0f);
  EXPECT_EQ(set.find("c"), nullptr);
  EXPECT_EQ(set.tensors().size(), 2u);
  EXPECT_EQ(set.files().size(), 2u);
}

TEST(SafetensorsSet, RejectsShardNamesThatLeaveTheFolder) {
  for (const char* shard : {"../model.safetensors", "sub/model.safetensors", "/etc/passwd", ".."}) {
    TempDir dir;
    make_folder(dir, {{"model.safetensors.index.json",
                       std::string(R"({"weight_map":{"a":")") + shard + R"("}})"}});
    try {
      SafetensorsSet set(dir.path());
      ADD_FAILURE() << "accepted " << shard;
    } catch (const BadInput& e) {
      EXPECT_THAT(e.what(), AllOf(HasSubstr("model.safetensors.index.json: weight_map: tensor 'a'"),
                                  HasSubstr("must be a plain file name")));
    }
  }
}

TEST(SafetensorsSet, RejectsIndexListingATensorItsShardLacks) {
  TempDir dir;
  make_folder(dir, {{"s1.safetensors", one_tensor("a", 1.0f)},
                    {"model.safetensors.index.json",
                     R"({"weight_map":{"a":"s1.safetensors","b":"s1.safetensors"}})"}});
  try {
    SafetensorsSet set(dir.path());
    FAIL() << "no exception";
  } catch (const BadInput& e) {
    EXPECT_THAT(e.what(), HasSubstr("weight_map: tensor 'b' is not in its shard s1.safetensors"));
  }
}

TEST(SafetensorsSet, RejectsMalformedIndexAndMissingShard) {
  TempDir dir;
  make_folder(dir, {{"model.safetensors.index.json", R"({"weight_map":[]})"}});
  EXPECT_THROW(SafetensorsSet{dir.path()}, BadInput);
  make_folder(dir,
              {{"model.safetensors.index.json", R"({"weight_map":{"a":"gone.safetensors"}})"}});
  EXPECT_THROW(SafetensorsSet{dir.path()}, BadInput);
}

TEST(SafetensorsSet, FolderWithoutWeightsIsBadInput) {
  TempDir dir;
  try {
    SafetensorsSet set(dir.path());
    FAIL() << "no exception";
  } catch (const BadInput& e) {
    EXPECT_THAT(e.what(), HasSubstr("no model.safetensors or model.safetensors.index.json"));
  }
}

}  // namespace
}  // namespace kvscope::io
