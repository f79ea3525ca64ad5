// Malformed GGUF files: each must fail cleanly with a message naming the file, the byte offset
// and the field. Every case is also saved as a fuzz seed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "dari/io/gguf.h"
#include "gguf_test_util.h"

namespace dari {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using test::RawGguf;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kTypeString = 8;
constexpr uint32_t kTypeArray = 9;

// Parses a heap copy of exactly these bytes (so ASan sees any over-read) and expects failure
// with every substring in `expect`.
void expect_error(const std::string& seed, const RawGguf& b, std::initializer_list<std::string> expect) {
  test::save_seed("bad_" + seed + ".gguf", b.bytes);
  std::vector<uint8_t> copy(b.bytes);
  auto r = GgufFile::parse(copy.data(), copy.size(), "bad.gguf");
  ASSERT_FALSE(r.ok()) << seed << ": parsed a malformed file";
  EXPECT_THAT(r.message(), StartsWith("bad.gguf: offset ")) << seed;
  for (const std::string& s : expect) EXPECT_THAT(r.message(), HasSubstr(s)) << seed;
}

std::string at(uint64_t offset) { return "offset " + std::to_string(offset) + ":"; }

TEST(GgufMalformed, Header) {
  RawGguf magic;
  magic.bytes = {'G', 'G', 'M', 'L', 3, 0, 0, 0};
  expect_error("magic", magic, {at(0), "bad magic 'GGML'"});
  expect_error("empty", RawGguf(), {at(0), "too small"});
  expect_error("v1", RawGguf().header(1, 0, 0), {at(4), "version 1 is obsolete"});
  expect_error("v4", RawGguf().header(4, 0, 0), {at(4), "unsupported GGUF version 4"});
  expect_error("v0", RawGguf().header(0, 0, 0), {at(4), "unsupported GGUF version 0"});
  expect_error("big_endian", RawGguf().header(0x03000000, 0, 0), {at(4), "big-endian"});
  RawGguf short_version;
  short_version.bytes = {'G', 'G', 'U', 'F', 3, 0};
  expect_error("short_version", short_version, {at(4), "version"});
  expect_error("huge_n_tensors", RawGguf().header(3, 1ull << 63, 0), {at(8), "tensor count"});
  expect_error("huge_n_tensors_wrap", RawGguf().header(3, 0x0ec4ec4ec4ec4ec5ull, 0),
               {at(8), "tensor count"});
  expect_error("huge_n_kv", RawGguf().header(3, 0, ~0ull), {at(16), "metadata count"});
  expect_error("n_kv_too_many", RawGguf().header(3, 0, 2).kv_u32("a", 1), {"metadata count"});
  RawGguf minimal = RawGguf().header(3, 0, 0);
  auto ok = GgufFile::parse(minimal.bytes.data(), minimal.size(), "minimal.gguf");
  ASSERT_TRUE(ok.ok()) << ok.message();  // no metadata, no tensors: valid
  EXPECT_EQ(ok->data_offset(), 32u);
}

TEST(GgufMalformed, Strings) {
  expect_error("key_len_max", RawGguf().header(3, 0, 1).u64(~0ull).zeros(16),
               {at(24), "kv 0", "key length 18446744073709551615 exceeds the limit"});
  expect_error("key_len_past_eof", RawGguf().header(3, 0, 1).u64(1000).zeros(16),
               {at(24), "kv 0", "key length 1000 exceeds the 16 bytes left"});
  expect_error("empty_key", RawGguf().header(3, 0, 1).str("").u32(4).u32(1), {at(24), "empty key"});
  RawGguf value_len;
  value_len.header(3, 0, 1).str("k").u32(kTypeString).u64(~0ull - 1).zeros(8);
  expect_error("string_len_max", value_len, {at(37), "kv 0 'k'", "string value length"});
  RawGguf tname;
  tname.header(3, 1, 0).str(std::string(300, 'x')).u32(1).u64(32).u32(kF32).u64(0);
  expect_error("tensor_name_long", tname, {at(24), "tensor 0", "name length 300 exceeds the limit"});
  RawGguf empty_name;
  empty_name.header(3, 1, 0).str("").u32(1).u64(32).u32(kF32).u64(0).pad(32).zeros(128);
  expect_error("tensor_name_empty", empty_name, {at(24), "tensor 0", "empty name"});
}

TEST(GgufMalformed, ValuesAndArrays) {
  expect_error("value_type", RawGguf().header(3, 0, 1).str("k").u32(13).u32(0),
               {at(33), "kv 0 'k'", "invalid value type 13"});
  expect_error("bool_2", RawGguf().header(3, 0, 1).str("k").u32(7).u8(2).zeros(3),
               {at(37), "kv 0 'k'", "bool value 2"});
  expect_error("elem_type", RawGguf().header(3, 0, 1).str("k").u32(kTypeArray).u32(99).u64(0),
               {at(37), "kv 0 'k'", "invalid array element type 99"});
  expect_error("array_u8_huge",
               RawGguf().header(3, 0, 1).str("k").u32(kTypeArray).u32(0).u64(1ull << 60).zeros(64),
               {at(41), "kv 0 'k'", "array count 1152921504606846976 of uint8"});
  expect_error("array_u64_wrap",  // count * 8 wraps to 0 without checked arithmetic
               RawGguf().header(3, 0, 1).str("k").u32(kTypeArray).u32(10).u64(1ull << 61).zeros(64),
               {at(41), "array count"});
  expect_error("array_str_huge",
               RawGguf().header(3, 0, 1).str("k").u32(kTypeArray).u32(kTypeString).u64(~0ull / 8 + 1),
               {at(41), "array count"});
  // Declared STRING elements whose bytes are really a nested array header: the "length" is
  // (5 << 32) | 8, far past the end of the file.
  RawGguf confused;
  confused.header(3, 0, 1).str("k").u32(kTypeArray).u32(kTypeString).u64(1);
  confused.u32(kTypeString).u32(5).str("abcde");
  expect_error("string_as_array", confused, {at(49), "kv 0 'k': element 0", "string value length"});
  // Declared ARRAY of ARRAY whose inner element type is garbage.
  RawGguf inner;
  inner.header(3, 0, 1).str("k").u32(kTypeArray).u32(kTypeArray).u64(2);
  inner.u32(0).u64(1).u8(7);  // element 0: [1 x uint8]
  inner.u32(0x41414141).u64(0);  // element 1: bad type
  expect_error("nested_bad_type", inner, {at(62), "element 1", "invalid array element type"});
  RawGguf inner_huge;
  inner_huge.header(3, 0, 1).str("k").u32(kTypeArray).u32(kTypeArray).u64(1);
  inner_huge.u32(kTypeString).u64(1ull << 40);
  expect_error("nested_huge", inner_huge, {at(53), "element 0", "array count"});
  RawGguf deep;
  deep.header(3, 0, 1).str("k").u32(kTypeArray);
  for (int i = 0; i < 12; ++i) deep.u32(kTypeArray).u64(1);
  deep.u32(0).u64(0);
  expect_error("deep_nesting", deep, {"kv 0 'k'", "nested deeper than 8"});
  RawGguf dup;
  dup.header(3, 0, 2).kv_u32("k", 1);
  uint64_t second = dup.size();
  dup.kv_u32("k", 2);
  expect_error("duplicate_key", dup, {at(second), "kv 1 'k'", "duplicate key"});
}

// A header with one kv (optional) and the given tensors, padded, followed by `data_bytes`.
RawGguf with_tensors(std::initializer_list<std::tuple<std::string, std::vector<uint64_t>, uint32_t, uint64_t>> ts,
                     size_t data_bytes, uint64_t* last_info = nullptr) {
  RawGguf b;
  b.header(3, ts.size(), 1).kv_str("general.architecture", "llama");
  for (const auto& [name, ne, type, offset] : ts) {
    if (last_info != nullptr) *last_info = b.size();
    b.tensor(name, ne, type, offset);
  }
  return b.pad(32).zeros(data_bytes);
}

TEST(GgufMalformed, TensorDirectory) {
  const uint64_t t0 = 24 + 8 + 20 + 4 + 8 + 5;  // header + kv(general.architecture = "llama")
  const uint64_t dims = t0 + 8 + 1;             // after the name "w"
  expect_error("dims_overflow", with_tensors({{"w", {1ull << 32, 1ull << 32}, kF32, 0}}, 128),
               {at(dims), "tensor 0 'w'", "dims product overflows"});
  expect_error("dims_overflow_4d", with_tensors({{"w", {1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16}, kF32, 0}}, 128),
               {at(dims), "tensor 0 'w'", "dims product overflows"});
  expect_error("bytes_overflow", with_tensors({{"w", {1ull << 62}, kF32, 0}}, 128),
               {"tensor 0 'w'", "byte size overflows"});
  expect_error("dim_zero", with_tensors({{"w", {32, 0}, kF32, 0}}, 128),
               {at(dims + 12), "tensor 0 'w'", "dim 1 is 0"});
  expect_error("dim_negative", with_tensors({{"w", {~0ull}, kF32, 0}}, 128),
               {at(dims + 4), "tensor 0 'w'", "dim 0 is 18446744073709551615"});
  expect_error("n_dims_0", with_tensors({{"w", {}, kF32, 0}}, 128), {at(dims), "n_dims 0"});
  expect_error("n_dims_5", with_tensors({{"w", {1, 1, 1, 1, 32}, kF32, 0}}, 128), {at(dims), "n_dims 5"});
  expect_error("type_removed", with_tensors({{"w", {32}, 4, 0}}, 128),
               {at(dims + 12), "tensor 0 'w'", "unknown tensor type 4"});
  expect_error("type_huge", with_tensors({{"w", {32}, 0xdeadbeef, 0}}, 128), {"unknown tensor type"});
  expect_error("block_multiple", with_tensors({{"w", {33}, 2, 0}}, 128),
               {"tensor 0 'w'", "dim 0 (33) is not a multiple of the Q4_0 block size 32"});
  expect_error("misaligned", with_tensors({{"w", {32}, kF32, 4}}, 256),
               {at(dims + 16), "tensor 0 'w'", "offset 4 is not a multiple of the alignment 32"});
  expect_error("past_eof", with_tensors({{"w", {32}, kF32, 1ull << 20}}, 128),
               {at(t0), "tensor 0 'w'", "runs past the end"});
  expect_error("offset_wraps", with_tensors({{"w", {32}, kF32, ~0ull & ~31ull}}, 128),
               {"tensor 0 'w'", "runs past the end"});
  expect_error("data_short", with_tensors({{"w", {32}, kF32, 0}}, 127), {"tensor 0 'w'", "runs past"});
  uint64_t second = 0;
  RawGguf overlap = with_tensors({{"a", {32}, kF32, 0}, {"b", {32}, kF32, 96}}, 256, &second);
  expect_error("overlap", overlap, {at(second), "tensor 1 'b'", "overlaps tensor 'a'"});
  second = 0;
  RawGguf dup = with_tensors({{"a", {32}, kF32, 0}, {"a", {32}, kF32, 128}}, 256, &second);
  expect_error("duplicate_name", dup, {at(second), "tensor 1 'a'", "duplicate tensor name"});
  RawGguf no_data;
  no_data.header(3, 1, 0).tensor("w", {32}, kF32, 0);
  expect_error("data_section_past_eof", no_data, {"data section starts at 64"});
}

RawGguf with_alignment(uint32_t type, uint64_t value) {
  RawGguf b;
  b.header(3, 1, 1).str("general.alignment").u32(type);
  if (type == 4) b.u32(static_cast<uint32_t>(value));
  if (type == 10) b.u64(value);
  if (type == 8) b.str("32");
  return b.tensor("w", {32}, kF32, 0).pad(64).zeros(128);
}

TEST(GgufMalformed, Alignment) {
  const std::string field = "general.alignment";
  expect_error("align_0", with_alignment(4, 0), {at(53), field, "alignment 0 is not a power of two"});
  expect_error("align_3", with_alignment(4, 3), {at(53), field, "alignment 3"});
  expect_error("align_2_40", with_alignment(10, 1ull << 40), {at(53), field, "alignment 1099511627776"});
  expect_error("align_string", with_alignment(8, 0), {at(53), field, "string is not an unsigned integer"});
  RawGguf good = with_alignment(4, 64);
  auto ok = GgufFile::parse(good.bytes.data(), good.size());
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->alignment(), 64u);
  EXPECT_EQ(ok->data_offset() % 64, 0u);
}

// A small valid file with several value types and two tensors.
std::vector<uint8_t> small_valid_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 1);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "a", "b"});
  w.set_i32_array("tokenizer.ggml.token_type", {2, 1, 1});
  auto nested = std::make_shared<GgufArray>();
  nested->elem_type = GgufValueType::ARRAY;
  auto inner = std::make_shared<GgufArray>();
  inner->elem_type = GgufValueType::UINT16;
  inner->items.emplace_back(GgufValue::Storage(uint16_t{9}));
  nested->items.emplace_back(GgufValue::Storage(inner));
  w.set("x.nested", GgufValue(GgufValue::Storage(nested)));
  std::vector<uint8_t> q8(34 * 2, 0x11), f32(4 * 5, 0x22);
  DARI_CHECK(w.add_tensor("blk.0.q8", GgmlType::Q8_0, {64}, q8.data(), q8.size()).ok());
  DARI_CHECK(w.add_tensor("out", GgmlType::F32, {5}, f32.data(), f32.size()).ok());
  return w.to_bytes().value();
}

TEST(GgufMalformed, EveryTruncationFailsCleanly) {
  const std::vector<uint8_t> full = small_valid_file();
  test::save_seed("small_valid.gguf", full);
  auto parsed = GgufFile::parse(full.data(), full.size(), "full.gguf");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  const GgufTensorInfo& last = parsed->tensors().back();
  const uint64_t needed = parsed->data_offset() + last.offset + last.n_bytes;
  ASSERT_LT(needed, full.size());  // the writer pads the last tensor too
  for (size_t len = 0; len < full.size(); ++len) {
    std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    auto r = GgufFile::parse(prefix.data(), prefix.size(), "cut.gguf");
    if (len >= needed) {
      EXPECT_TRUE(r.ok()) << len << ": " << r.message();
    } else {
      ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes parsed";
      EXPECT_THAT(r.message(), StartsWith("cut.gguf: offset ")) << len;
    }
  }
}

TEST(GgufMalformed, EveryByteCorruptionIsHandled) {
  const std::vector<uint8_t> full = small_valid_file();
  int failures = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    for (uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, uint8_t{0x80}}) {
      std::vector<uint8_t> copy(full);
      copy[i] = v;
      auto r = GgufFile::parse(copy.data(), copy.size(), "flip.gguf");
      if (!r.ok()) {
        ++failures;
        EXPECT_THAT(r.message(), StartsWith("flip.gguf: offset ")) << i;
      }
    }
  }
  EXPECT_GT(failures, 100);  // most header bytes matter
}

// Writes `head` and extends the file with zeros (sparse) to `size` bytes.
std::string sparse_file(const std::filesystem::path& dir, const std::string& name,
                        const RawGguf& head, uint64_t size) {
  std::string path = (dir / name).string();
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(head.bytes.data()), static_cast<std::streamsize>(head.size()));
  }
  std::filesystem::resize_file(path, size);
  return path;
}

// Counts that do fit in the file's bytes but would decode into far more memory than the file.
TEST(GgufMalformed, CapsOnCountsThatFitTheFile) {
  auto dir = test::temp_dir();
  RawGguf arr;
  arr.header(3, 0, 1).str("k").u32(kTypeArray).u32(0).u64((1ull << 26) + 1);
  auto a = GgufFile::open(sparse_file(dir, "arr.gguf", arr, (1ull << 26) + 4096));
  ASSERT_FALSE(a.ok());
  EXPECT_THAT(a.message(), HasSubstr("offset 41: kv 0 'k': metadata arrays hold more than 67108864"));
  auto t = GgufFile::open(sparse_file(dir, "tensors.gguf", RawGguf().header(3, (1u << 20) + 1, 0),
                                      64ull << 20));
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(t.message(), HasSubstr("offset 8: tensor count 1048577 exceeds the limit"));
  auto k = GgufFile::open(sparse_file(dir, "kv.gguf", RawGguf().header(3, 0, (1u << 20) + 1),
                                      64ull << 20));
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.message(), HasSubstr("offset 16: metadata count 1048577 exceeds the limit"));
  std::filesystem::remove_all(dir);
}

TEST(GgufMalformed, OpenReportsMissingAndEmptyFiles) {
  auto missing = GgufFile::open("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr("/nonexistent/dir/model.gguf: cannot open"));
  auto dir = test::temp_dir();
  std::string empty = (dir / "empty.gguf").string();
  { std::ofstream(empty, std::ios::binary); }
  auto e = GgufFile::open(empty);
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.message(), HasSubstr(empty + ": offset 0: file too small"));
  auto d = GgufFile::open(dir.string());
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.message(), HasSubstr("not a regular file"));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dari
