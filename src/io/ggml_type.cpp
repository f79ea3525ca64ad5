// Block layouts of ggml tensor types, as stored in GGUF files.
//
// Sizes are facts of the file format (ggml's block structs): block_bytes is the size of one
// packed block holding block_elems elements.
#include "dari/io/ggml_type.h"

#include <array>

#include "dari/core/checked.h"

namespace dari {
namespace {

constexpr std::array<GgmlTypeInfo, 32> kTypes = {{
    {GgmlType::F32, "F32", 1, 4},
    {GgmlType::F16, "F16", 1, 2},
    {GgmlType::Q4_0, "Q4_0", 32, 18},      // f16 d + 16 bytes of nibbles
    {GgmlType::Q4_1, "Q4_1", 32, 20},      // f16 d, m + 16
    {GgmlType::Q5_0, "Q5_0", 32, 22},      // f16 d + 4 qh + 16
    {GgmlType::Q5_1, "Q5_1", 32, 24},      // f16 d, m + 4 qh + 16
    {GgmlType::Q8_0, "Q8_0", 32, 34},      // f16 d + 32
    {GgmlType::Q8_1, "Q8_1", 32, 36},      // f16 d, s + 32
    {GgmlType::Q2_K, "Q2_K", 256, 84},     // 16 scales + 64 qs + f16 d, dmin
    {GgmlType::Q3_K, "Q3_K", 256, 110},    // 32 hmask + 64 qs + 12 scales + f16 d
    {GgmlType::Q4_K, "Q4_K", 256, 144},    // f16 d, dmin + 12 scales + 128 qs
    {GgmlType::Q5_K, "Q5_K", 256, 176},    // f16 d, dmin + 12 scales + 32 qh + 128 qs
    {GgmlType::Q6_K, "Q6_K", 256, 210},    // 128 ql + 64 qh + 16 scales + f16 d
    {GgmlType::Q8_K, "Q8_K", 256, 292},    // f32 d + 256 qs + 16 x i16 bsums
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66},  // f16 d + 32 x u16
    {GgmlType::IQ2_XS, "IQ2_XS", 256, 74},    // f16 d + 32 x u16 + 8 scales
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98},  // f16 d + 96
    {GgmlType::IQ1_S, "IQ1_S", 256, 50},      // f16 d + 32 qs + 8 x u16 qh
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18},     // f16 d + 16
    {GgmlType::IQ3_S, "IQ3_S", 256, 110},     // f16 d + 64 qs + 8 qh + 32 signs + 4 scales
    {GgmlType::IQ2_S, "IQ2_S", 256, 82},      // f16 d + 64 qs + 8 qh + 8 scales
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 136},   // f16 d + u16 scales_h + 4 scales_l + 128 qs
    {GgmlType::I8, "I8", 1, 1},
    {GgmlType::I16, "I16", 1, 2},
    {GgmlType::I32, "I32", 1, 4},
    {GgmlType::I64, "I64", 1, 8},
    {GgmlType::F64, "F64", 1, 8},
    {GgmlType::IQ1_M, "IQ1_M", 256, 56},  // 32 qs + 16 qh + 8 scales (scale packed inside)
    {GgmlType::BF16, "BF16", 1, 2},
    {GgmlType::TQ1_0, "TQ1_0", 256, 54},  // 48 qs + 4 qh + f16 d
    {GgmlType::TQ2_0, "TQ2_0", 256, 66},  // 64 qs + f16 d
    {GgmlType::MXFP4, "MXFP4", 32, 17},   // e8m0 exponent + 16 bytes of fp4 pairs
}};

// Raw ids run 0..39; kIndex maps an id to its slot in kTypes, or -1 for removed/unknown ids.
constexpr uint32_t kMaxRawId = 39;

constexpr std::array<int, kMaxRawId + 1> make_index() {
  std::array<int, kMaxRawId + 1> idx{};
  for (auto& v : idx) v = -1;
  for (size_t i = 0; i < kTypes.size(); ++i) {
    idx[static_cast<uint32_t>(kTypes[i].type)] = static_cast<int>(i);
  }
  return idx;
}
constexpr std::array<int, kMaxRawId + 1> kIndex = make_index();

}  // namespace

std::optional<GgmlTypeInfo> ggml_type_info(uint32_t raw_type) {
  if (raw_type > kMaxRawId) return std::nullopt;
  int i = kIndex[raw_type];
  if (i < 0) return std::nullopt;
  return kTypes[static_cast<size_t>(i)];
}

std::string_view ggml_type_name(GgmlType t) {
  auto info = ggml_type_info(static_cast<uint32_t>(t));
  return info ? info->name : std::string_view("UNKNOWN");
}

std::optional<GgmlType> ggml_type_from_name(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.name == name) return t.type;
  }
  return std::nullopt;
}

std::optional<uint64_t> ggml_row_bytes(GgmlType t, uint64_t n) {
  auto info = ggml_type_info(static_cast<uint32_t>(t));
  if (!info) return std::nullopt;
  if (n % info->block_elems != 0) return std::nullopt;
  uint64_t out = 0;
  if (!checked_mul<uint64_t>(n / info->block_elems, info->block_bytes, &out)) return std::nullopt;
  return out;
}

}  // namespace dari
