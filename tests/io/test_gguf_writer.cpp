// GgufWriter round trips: every metadata type (nested and empty arrays, empty strings), tensors
// of several types, several alignments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "dari/io/gguf.h"
#include "gguf_test_util.h"

namespace dari {
namespace {

using ::testing::HasSubstr;
using test::same_value;

GgufValue arr(GgufValueType elem, std::vector<GgufValue> items) {
  auto a = std::make_shared<GgufArray>();
  a->elem_type = elem;
  a->items = std::move(items);
  return GgufValue(GgufValue::Storage(std::move(a)));
}
template <class T>
GgufValue val(T v) {
  return GgufValue(GgufValue::Storage(v));
}

// Metadata covering every value type, nested arrays, empty arrays and empty strings.
void add_all_metadata(GgufWriter& w) {
  w.set_string("general.architecture", "llama");
  w.set("t.u8", val<uint8_t>(255));
  w.set("t.i8", val<int8_t>(-128));
  w.set("t.u16", val<uint16_t>(65535));
  w.set("t.i16", val<int16_t>(-32768));
  w.set_u32("t.u32", 4294967295u);
  w.set_i32("t.i32", std::numeric_limits<int32_t>::min());
  w.set_f32("t.f32", 1e-5f);
  w.set_bool("t.bool_true", true);
  w.set_bool("t.bool_false", false);
  w.set_string("t.string", "h\xc3\xa9llo\n\t\"");
  w.set_string("t.empty_string", "");
  w.set_u64("t.u64", std::numeric_limits<uint64_t>::max());
  w.set("t.i64", val<int64_t>(std::numeric_limits<int64_t>::min()));
  w.set("t.f64", val<double>(-3.141592653589793));
  w.set("t.f32_nan", val<float>(std::numeric_limits<float>::quiet_NaN()));
  w.set_string_array("t.strings", {"a", "", "ccc"});
  w.set_string_array("t.empty_strings", {});
  w.set_f32_array("t.f32s", {1.5f, -2.0f, 0.0f});
  w.set_i32_array("t.i32s", {-1, 0, 1, 2147483647});
  w.set("t.empty_u8s", arr(GgufValueType::UINT8, {}));
  w.set("t.bools", arr(GgufValueType::BOOL, {val(true), val(false)}));
  w.set("t.u64s", arr(GgufValueType::UINT64, {val<uint64_t>(1), val<uint64_t>(1ull << 63)}));
  w.set("t.nested",
        arr(GgufValueType::ARRAY,
            {arr(GgufValueType::INT16, {val<int16_t>(-5), val<int16_t>(7)}),
             arr(GgufValueType::STRING, {val(std::string("x"))}),
             arr(GgufValueType::ARRAY, {arr(GgufValueType::FLOAT64, {val(2.5)})}),
             arr(GgufValueType::UINT32, {})}));
  w.set("t.empty_nested", arr(GgufValueType::ARRAY, {}));
}

struct TensorSpec {
  std::string name;
  GgmlType type;
  std::vector<uint64_t> ne;
};

std::vector<uint8_t> pattern(uint64_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (uint64_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31);
  return v;
}

const std::vector<TensorSpec> kTensors = {
    {"f32", GgmlType::F32, {3, 5}},
    {"f16", GgmlType::F16, {7}},
    {"q8_0", GgmlType::Q8_0, {64, 2}},
    {"q4_k", GgmlType::Q4_K, {256, 1, 2}},
    {"iq4_xs", GgmlType::IQ4_XS, {512}},
    {"bf16.4d", GgmlType::BF16, {2, 3, 4, 5}},
    {"mxfp4", GgmlType::MXFP4, {32, 3}},
};

class WriterRoundTrip : public ::testing::TestWithParam<uint32_t> {};

TEST_P(WriterRoundTrip, EveryTypeAndTensor) {
  const uint32_t alignment = GetParam();
  GgufWriter w;
  add_all_metadata(w);
  if (alignment != 32) w.set_alignment(alignment);
  std::vector<std::vector<uint8_t>> datas;
  for (size_t i = 0; i < kTensors.size(); ++i) {
    const TensorSpec& s = kTensors[i];
    uint64_t n = *ggml_row_bytes(s.type, s.ne[0]);
    for (size_t d = 1; d < s.ne.size(); ++d) n *= s.ne[d];
    datas.push_back(pattern(n, static_cast<uint8_t>(i)));
    ASSERT_TRUE(w.add_tensor(s.name, s.type, s.ne, datas.back().data(), n).ok());
  }
  auto bytes = w.to_bytes();
  ASSERT_TRUE(bytes.ok()) << bytes.message();
  test::save_seed("writer_align_" + std::to_string(alignment) + ".gguf", *bytes);
  EXPECT_EQ(bytes->size(), w.file_size().value());
  EXPECT_EQ(w.header_bytes().value().size() % alignment, 0u);

  auto f = GgufFile::parse(bytes->data(), bytes->size(), "rt.gguf");
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), alignment);
  EXPECT_EQ(f->data_offset(), w.header_bytes().value().size());
  EXPECT_EQ(f->data_offset() % alignment, 0u);

  // Metadata: same keys, same order, same values.
  size_t extra = alignment != 32 ? 1 : 0;
  ASSERT_EQ(f->metadata().size(), 25u + extra);
  size_t i = 0;
  GgufWriter only_meta;
  add_all_metadata(only_meta);
  auto meta_bytes = only_meta.to_bytes().value();
  auto meta = GgufFile::parse(meta_bytes.data(), meta_bytes.size(), "meta.gguf").value();
  for (const auto& [key, value] : meta.metadata()) {
    ASSERT_LT(i, f->metadata().size());
    EXPECT_EQ(f->metadata()[i].first, key);
    EXPECT_TRUE(same_value(f->metadata()[i].second, value)) << key;
    ++i;
  }
  if (extra != 0) {
    EXPECT_EQ(f->get_u32("general.alignment").value(), alignment);
  }
  // Spot-check decoded values, independently of the writer.
  EXPECT_EQ(f->get_u64("t.u8").value(), 255u);
  EXPECT_EQ(f->get_i64("t.i8").value(), -128);
  EXPECT_EQ(f->get_i64("t.i16").value(), -32768);
  EXPECT_EQ(f->get_u64("t.u64").value(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f->get_i64("t.i64").value(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f->get_f64("t.f64").value(), -3.141592653589793);
  EXPECT_TRUE(std::isnan(f->get_f32("t.f32_nan").value()));
  EXPECT_TRUE(f->get_bool("t.bool_true").value());
  EXPECT_FALSE(f->get_bool("t.bool_false").value());
  EXPECT_EQ(f->get_string("t.string").value(), "h\xc3\xa9llo\n\t\"");
  EXPECT_EQ(f->get_string("t.empty_string").value(), "");
  EXPECT_EQ(f->get_string_array("t.strings").value(), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_TRUE(f->get_string_array("t.empty_strings").value().empty());
  EXPECT_EQ(f->get_i32_array("t.i32s").value(), (std::vector<int32_t>{-1, 0, 1, 2147483647}));
  EXPECT_EQ(f->get_u64_array("t.u64s").value(), (std::vector<uint64_t>{1, 1ull << 63}));
  EXPECT_FALSE(f->get_i32_array("t.u64s").ok());  // 2^63 does not fit
  const GgufArray* nested = f->find("t.nested")->as_array();
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->items.size(), 4u);
  EXPECT_EQ(nested->items[1].as_array()->items[0].as_string()->c_str(), std::string("x"));
  EXPECT_EQ(nested->items[2].as_array()->items[0].as_array()->elem_type, GgufValueType::FLOAT64);
  EXPECT_EQ(nested->items[3].as_array()->elem_type, GgufValueType::UINT32);
  EXPECT_EQ(f->find("t.empty_nested")->as_array()->elem_type, GgufValueType::ARRAY);

  // Tensors: same names, types, shapes and bytes, at aligned offsets.
  ASSERT_EQ(f->tensors().size(), kTensors.size());
  for (size_t k = 0; k < kTensors.size(); ++k) {
    const GgufTensorInfo& t = f->tensors()[k];
    EXPECT_EQ(t.name, kTensors[k].name);
    EXPECT_EQ(t.type, kTensors[k].type);
    EXPECT_EQ(std::vector<uint64_t>(t.ne, t.ne + t.n_dims), kTensors[k].ne);
    EXPECT_EQ(t.offset % alignment, 0u);
    ASSERT_EQ(t.n_bytes, datas[k].size());
    EXPECT_EQ(std::vector<uint8_t>(t.data, t.data + t.n_bytes), datas[k]) << t.name;
    EXPECT_EQ(t.data, bytes->data() + f->data_offset() + t.offset);
  }
}

INSTANTIATE_TEST_SUITE_P(Alignments, WriterRoundTrip, ::testing::Values(1u, 8u, 32u, 64u, 4096u));

TEST(GgufWriter, WriteRenamesIntoPlaceAndOpens) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  std::vector<float> data = {1, 2, 3, 4};
  ASSERT_TRUE(w.add_tensor("w", GgmlType::F32, {4}, data.data(), 16).ok());
  auto dir = test::temp_dir();
  std::string path = (dir / "written.gguf").string();
  ASSERT_TRUE(w.write(path).ok());
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  }
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->path(), path);
  EXPECT_EQ(f->get_u32("llama.block_count").value(), 2u);
  ASSERT_EQ(f->tensors().size(), 1u);
  float x = 0;
  std::memcpy(&x, f->tensors()[0].data + 12, 4);
  EXPECT_EQ(x, 4.0f);
  // A GgufFile can be moved; tensor pointers stay valid (they point into the mapping).
  GgufFile moved = std::move(f).value();
  std::memcpy(&x, moved.find_tensor("w")->data, 4);
  EXPECT_EQ(x, 1.0f);
  EXPECT_FALSE(w.write((dir / "no-such-dir" / "x.gguf").string()).ok());
  std::filesystem::remove_all(dir);
}

TEST(GgufWriter, SetReplacesInPlace) {
  GgufWriter w;
  w.set_u32("a", 1);
  w.set_u32("b", 2);
  w.set_string("a", "now a string");
  auto bytes = w.to_bytes().value();
  auto f = GgufFile::parse(bytes.data(), bytes.size()).value();
  ASSERT_EQ(f.metadata().size(), 2u);
  EXPECT_EQ(f.metadata()[0].first, "a");
  EXPECT_EQ(f.get_string("a").value(), "now a string");
}

TEST(GgufWriter, RejectsBadInput) {
  GgufWriter w;
  std::vector<uint8_t> buf(1024);
  EXPECT_THAT(w.add_tensor("", GgmlType::F32, {1}, buf.data(), 4).message(), HasSubstr("name"));
  EXPECT_THAT(w.add_tensor(std::string(64, 'n'), GgmlType::F32, {1}, buf.data(), 4).message(),
              HasSubstr("name"));
  EXPECT_THAT(w.add_tensor("a", GgmlType::Q4_0, {33}, buf.data(), 18).message(),
              HasSubstr("block size"));
  EXPECT_THAT(w.add_tensor("a", GgmlType::F32, {2}, buf.data(), 4).message(),
              HasSubstr("got 4 bytes, shape needs 8"));
  EXPECT_THAT(w.add_tensor("a", GgmlType::F32, {}, buf.data(), 4).message(), HasSubstr("dims"));
  EXPECT_THAT(w.add_tensor("a", GgmlType::F32, {1, 1, 1, 1, 1}, buf.data(), 4).message(),
              HasSubstr("dims"));
  EXPECT_THAT(w.add_tensor("a", GgmlType::F32, {1, 0}, buf.data(), 0).message(), HasSubstr("zero"));
  EXPECT_THAT(w.add_tensor("a", static_cast<GgmlType>(4), {1}, buf.data(), 4).message(),
              HasSubstr("invalid type"));
  EXPECT_THAT(w.add_tensor_info("a", GgmlType::F32, {1ull << 62, 1ull << 62}).message(),
              HasSubstr("overflows"));
  ASSERT_TRUE(w.add_tensor("a", GgmlType::F32, {1}, buf.data(), 4).ok());
  EXPECT_THAT(w.add_tensor("a", GgmlType::F32, {1}, buf.data(), 4).message(), HasSubstr("duplicate"));

  GgufWriter bad_align;
  bad_align.set_alignment(48);
  EXPECT_THAT(bad_align.to_bytes().message(), HasSubstr("power of two"));
  GgufWriter bad_array;
  auto a = std::make_shared<GgufArray>();
  a->elem_type = GgufValueType::UINT8;
  a->items.push_back(GgufValue(GgufValue::Storage(std::string("oops"))));
  bad_array.set("k", GgufValue(GgufValue::Storage(a)));
  EXPECT_THAT(bad_array.to_bytes().message(), HasSubstr("array of uint8 holds a string"));
  GgufWriter info_only;
  ASSERT_TRUE(info_only.add_tensor_info("big", GgmlType::F32, {1024}).ok());
  EXPECT_THAT(info_only.to_bytes().message(), HasSubstr("without data"));
  EXPECT_EQ(info_only.file_size().value(), info_only.header_bytes().value().size() + 4096);
}

}  // namespace
}  // namespace dari

namespace dari {
namespace {

TEST(GgufReader, AcceptsVersion2) {
  GgufWriter w;
  w.set_u32("k", 7);
  std::vector<uint8_t> data(4 * 32, 0);
  ASSERT_TRUE(w.add_tensor("w", GgmlType::F32, {32}, data.data(), data.size()).ok());
  std::vector<uint8_t> bytes = w.to_bytes().value();
  bytes[4] = 2;  // v2 has the same layout as v3 (v3 only added big-endian files)
  auto f = GgufFile::parse(bytes.data(), bytes.size(), "v2.gguf");
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->get_u32("k").value(), 7u);
  EXPECT_EQ(f->tensors().size(), 1u);
}

}  // namespace
}  // namespace dari
