// Limits the GGUF reader and writer enforce (private to src/io). Public copies of the ones a
// caller may care about are documented in include/dari/io/gguf.h.
#pragma once

#include <cstdint>

namespace dari::gguf_limits {

constexpr uint32_t kMagic = 0x46554747;       // "GGUF" read as little-endian u32
constexpr uint64_t kDefaultAlignment = 32;
constexpr uint64_t kMaxAlignment = 1u << 20;  // 1 MiB: far above any real file (32 or 64)
constexpr uint64_t kMaxKeyLength = 65535;     // metadata key bytes
constexpr uint64_t kMaxTensorNameLength = 255;  // reader; the writer keeps llama.cpp's 63
constexpr uint64_t kMaxWriterTensorNameLength = 63;
constexpr uint32_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;  // arrays nested inside arrays (1 = a plain array)
// Caps that keep a hostile multi-GB file from turning into tens of GB of decoded objects.
// Real models stay far below them (largest vocabularies: ~260k tokens + ~300k merges; largest
// MoE models: tens of thousands of tensors).
constexpr uint64_t kMaxKvCount = 1u << 20;
constexpr uint64_t kMaxTensorCount = 1u << 20;
constexpr uint64_t kMaxArrayElements = 1u << 26;  // all metadata arrays of a file together

// Smallest encodings, used to bound counts by the bytes left before anything is reserved.
constexpr uint64_t kMinKvBytes = 8 + 1 + 4 + 1;  // key length, 1-byte key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, 1 dim, type, offset

}  // namespace dari::gguf_limits
