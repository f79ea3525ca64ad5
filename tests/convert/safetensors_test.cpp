#include "dari/convert/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "convert/hf_fixture.h"

namespace dari {
namespace {

using test::make_raw_safetensors;
using test::make_safetensors;
using test::StTensor;

Result<SafetensorsFile> parse_bytes(const std::vector<uint8_t>& b) {
  return SafetensorsFile::parse(b.data(), b.size(), "t.safetensors");
}

TEST(Safetensors, ParsesTensorsMetadataAndDecodes) {
  auto bytes = make_safetensors({{"a", "F32", {2, 3}, {1, 2, 3, 4, 5, -6}},
                                 {"b", "F16", {2}, {0.5f, -2.25f}},
                                 {"c", "BF16", {1, 2}, {3.0f, -0.125f}},
                                 {"empty", "F32", {0, 4}, {}}},
                                {{"format", "pt"}});
  auto f = parse_bytes(bytes);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->tensors().size(), 4u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const auto* a = f->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(a->n_elements, 6u);
  EXPECT_EQ(a->n_bytes, 24u);
  std::vector<float> out(6);
  ASSERT_TRUE(safetensors_to_f32(*a, out.data()).ok());
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 4, 5, -6}));
  std::vector<float> h(2);
  ASSERT_TRUE(safetensors_to_f32(*f->find("b"), h.data()).ok());
  EXPECT_EQ(h, (std::vector<float>{0.5f, -2.25f}));
  ASSERT_TRUE(safetensors_to_f32(*f->find("c"), h.data()).ok());
  EXPECT_EQ(h, (std::vector<float>{3.0f, -0.125f}));
  EXPECT_EQ(f->find("empty")->n_elements, 0u);
  EXPECT_EQ(f->find("missing"), nullptr);
}

TEST(Safetensors, HalfSubnormalAndSpecials) {
  // 0x0001 = 2^-24, 0x7c00 = +inf, 0xfbff = -65504.
  std::vector<uint8_t> data = {0x01, 0x00, 0x00, 0x7c, 0xff, 0xfb};
  auto bytes = make_raw_safetensors(
      R"({"h": {"dtype": "F16", "shape": [3], "data_offsets": [0, 6]}})", data);
  auto f = parse_bytes(bytes);
  ASSERT_TRUE(f.ok()) << f.message();
  std::vector<float> out(3);
  ASSERT_TRUE(safetensors_to_f32(f->tensors()[0], out.data()).ok());
  EXPECT_EQ(out[0], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(out[1]) && out[1] > 0);
  EXPECT_EQ(out[2], -65504.0f);
}

TEST(Safetensors, UnsupportedDtypeIsRecognisedButNotConverted) {
  auto bytes = make_raw_safetensors(
      R"({"ids": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]}})",
      std::vector<uint8_t>(16, 0));
  auto f = parse_bytes(bytes);
  ASSERT_TRUE(f.ok()) << f.message();
  std::vector<float> out(2);
  Status st = safetensors_to_f32(f->tensors()[0], out.data());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'ids'"), std::string::npos);
  EXPECT_NE(st.message().find("I64 is not supported"), std::string::npos);
}

struct BadCase {
  const char* label;
  std::vector<uint8_t> bytes;
  const char* expect;  // substring of the error
};

std::vector<uint8_t> with_len(uint64_t len, const std::string& rest) {
  std::vector<uint8_t> b(8);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(len >> (8 * i));
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

TEST(Safetensors, MalformedCorpusGivesClearErrors) {
  const std::vector<uint8_t> d8(8, 0);
  std::vector<BadCase> cases = {
      {"tiny", {1, 2, 3}, "too small"},
      {"huge header", with_len(1ull << 40, "{}"), "exceeds"},
      {"header past eof", with_len(100, "{}"), "runs past the end of the file"},
      {"bad json", make_raw_safetensors("{\"a\": ", {}), "invalid JSON"},
      {"not object", make_raw_safetensors("[1,2]", {}), "not a JSON object"},
      {"deep", make_raw_safetensors(std::string(200, '[') + std::string(200, ']'), {}),
       "nested deeper"},
      {"past eof",
       make_raw_safetensors(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", d8),
       "tensor 'w': data [0, 16) runs past the end"},
      {"overlap",
       make_raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                               "v": {"dtype": "F16", "shape": [2], "data_offsets": [4, 8]}})",
                            d8),
       "overlaps"},
      {"unknown dtype",
       make_raw_safetensors(R"({"w": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}})", d8),
       "tensor 'w': unknown dtype 'Q7'"},
      {"shape overflow",
       make_raw_safetensors(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 16],
                                      "data_offsets": [0, 8]}})", d8),
       "overflows"},
      {"negative dim",
       make_raw_safetensors(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", d8),
       "negative dimension"},
      {"float dim",
       make_raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", d8),
       "non-integer"},
      {"size mismatch",
       make_raw_safetensors(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", d8),
       "need 12"},
      {"reversed offsets",
       make_raw_safetensors(R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", d8),
       "end < begin"},
      {"offsets huge",
       make_raw_safetensors(R"({"w": {"dtype": "U8", "shape": [1],
                                      "data_offsets": [18446744073709551615, 18446744073709551615]}})",
                            d8),
       "need 1"},
      {"offsets huge 2",
       make_raw_safetensors(R"({"w": {"dtype": "U8", "shape": [1],
                                      "data_offsets": [18446744073709551614, 18446744073709551615]}})",
                            d8),
       "runs past the end"},
      {"missing offsets", make_raw_safetensors(R"({"w": {"dtype": "F32", "shape": [2]}})", d8),
       "data_offsets must be"},
      {"bad metadata", make_raw_safetensors(R"({"__metadata__": {"a": 1}})", {}), "__metadata__"},
      {"invalid utf8", make_raw_safetensors("{\"\xff\": 1}", {}), "invalid JSON"},
  };
  for (const auto& c : cases) {
    auto f = parse_bytes(c.bytes);
    ASSERT_FALSE(f.ok()) << c.label;
    EXPECT_NE(f.message().find(c.expect), std::string::npos) << c.label << ": " << f.message();
    EXPECT_EQ(f.message().rfind("t.safetensors: ", 0), 0u) << c.label << ": " << f.message();
  }
}

TEST(SafetensorsIndex, ValidatesFileNames) {
  auto ok = parse_safetensors_index(
      R"({"metadata": {}, "weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors"}})", "i");
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->at("b"), "m-2.safetensors");
  for (const char* bad : {R"({"weight_map": {"a": "../x.safetensors"}})",
                          R"({"weight_map": {"a": "sub/x.safetensors"}})",
                          R"({"weight_map": {"a": "/etc/passwd"}})",
                          R"({"weight_map": {"a": "..\\x"}})",
                          R"({"weight_map": {"a": ""}})"}) {
    auto r = parse_safetensors_index(bad, "idx.json");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.message().find("not a plain file name"), std::string::npos) << r.message();
  }
  EXPECT_FALSE(parse_safetensors_index(R"({"weight_map": {"a": 3}})", "i").ok());
  EXPECT_FALSE(parse_safetensors_index(R"({"weight_map": {}})", "i").ok());
  EXPECT_FALSE(parse_safetensors_index(R"({"nothing": 1})", "i").ok());
}

TEST(SafetensorsCheckpoint, OpensShardsAndChecksIndex) {
  std::string dir = test::fresh_dir("ckpt_shards");
  test::write_file(dir + "/s1.safetensors", make_safetensors({{"a", "F32", {1}, {1}}}));
  test::write_file(dir + "/s2.safetensors", make_safetensors({{"b", "F32", {1}, {2}}}));
  test::write_text(dir + "/model.safetensors.index.json",
                   R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  auto ck = SafetensorsCheckpoint::open_dir(dir);
  ASSERT_TRUE(ck.ok()) << ck.message();
  EXPECT_EQ(ck->n_files(), 2u);
  ASSERT_NE(ck->find("b"), nullptr);
  EXPECT_EQ(ck->file_of("b"), dir + "/s2.safetensors");
  EXPECT_EQ(ck->tensors().size(), 2u);

  // Index naming the wrong shard.
  test::write_text(dir + "/model.safetensors.index.json",
                   R"({"weight_map": {"a": "s2.safetensors", "b": "s2.safetensors"}})");
  auto bad = SafetensorsCheckpoint::open_dir(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("tensor 'a'"), std::string::npos) << bad.message();

  // Traversal in the index.
  test::write_text(dir + "/model.safetensors.index.json", R"({"weight_map": {"a": "../s1"}})");
  EXPECT_FALSE(SafetensorsCheckpoint::open_dir(dir).ok());

  // No index: every *.safetensors file; duplicates across files are an error.
  std::filesystem::remove(dir + "/model.safetensors.index.json");
  auto scan = SafetensorsCheckpoint::open_dir(dir);
  ASSERT_TRUE(scan.ok()) << scan.message();
  EXPECT_EQ(scan->n_files(), 2u);
  test::write_file(dir + "/s3.safetensors", make_safetensors({{"a", "F32", {1}, {3}}}));
  auto dup = SafetensorsCheckpoint::open_dir(dir);
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.message().find("appears in both"), std::string::npos) << dup.message();

  EXPECT_FALSE(SafetensorsCheckpoint::open_dir(test::fresh_dir("ckpt_empty")).ok());
}

}  // namespace
}  // namespace dari
