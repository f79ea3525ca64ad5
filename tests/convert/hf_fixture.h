// Test helpers: write tiny Hugging Face style checkpoints (safetensors, config.json, tokenizer
// files) and keep the original float weights for reference computations.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace dari::test {

// One tensor to store: dtype "F32", "F16" or "BF16" (values are converted), or raw bytes with
// any dtype string (for malformed cases).
struct StTensor {
  std::string name;
  std::string dtype = "F32";
  std::vector<uint64_t> shape;
  std::vector<float> values;
};

// Serialises tensors into a safetensors image (header padded with spaces to 8 bytes).
std::vector<uint8_t> make_safetensors(const std::vector<StTensor>& tensors,
                                      const nlohmann::json& metadata = nullptr);
// Image with a raw header string and raw data bytes (for malformed inputs).
std::vector<uint8_t> make_raw_safetensors(const std::string& header,
                                          const std::vector<uint8_t>& data);

void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
void write_text(const std::string& path, const std::string& text);
// Fresh empty folder under the build tree (removed first if present).
std::string fresh_dir(const std::string& name);

// Value after rounding through a storage dtype ("F32" unchanged).
float round_to_dtype(float v, const std::string& dtype);

// Minimal protobuf writer for SentencePiece models.
class ProtoWriter {
 public:
  void varint(uint64_t v);
  void tag(uint32_t field, uint32_t wire) { varint((uint64_t{field} << 3) | wire); }
  void bytes_field(uint32_t field, const std::string& s);
  void varint_field(uint32_t field, uint64_t v) { tag(field, 0); varint(v); }
  void float_field(uint32_t field, float f);
  const std::string& data() const { return buf_; }

 private:
  std::string buf_;
};

struct SpPiece {
  std::string piece;
  float score = 0;
  int type = 1;
};
// ModelProto with pieces, trainer_spec ids (unk/bos/eos/pad) and normalizer add_dummy_prefix.
std::string make_sentencepiece(const std::vector<SpPiece>& pieces, int unk, int bos, int eos,
                               int pad, bool add_dummy_prefix);

// Tiny model description and its weights (HF names, row-major, as floats after dtype rounding).
struct TinyModel {
  std::string hf_arch = "LlamaForCausalLM";
  uint32_t vocab = 64, embd = 32, ff = 48, layers = 2, heads = 4, kv_heads = 2, head_dim = 8;
  bool explicit_head_dim = false;
  bool tied = false;
  bool qkv_bias = false;  // qwen2
  bool qk_norm = false;   // qwen3
  float eps = 1e-5f, theta = 10000.0f;
  std::string dtype = "F32";
  std::map<std::string, StTensor> weights;  // by HF name

  void generate(uint32_t seed);  // fills `weights` with deterministic values
  nlohmann::json config() const;
  // Writes config.json, safetensors (n_shards files + index when > 1), tokenizer files.
  void write(const std::string& dir, int n_shards, bool spm_tokenizer) const;
};

// tokenizer.json for a byte-level BPE vocabulary of n tokens (last two are special added tokens).
std::string make_bpe_tokenizer_json(uint32_t n);

}  // namespace dari::test
