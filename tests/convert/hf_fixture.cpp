#include "convert/hf_fixture.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "dari/tensor/dtype.h"

namespace dari::test {

float round_to_dtype(float v, const std::string& dtype) {
  if (dtype == "F16") return fp16_to_fp32(fp32_to_fp16(v));
  if (dtype == "BF16") return bf16_to_fp32(fp32_to_bf16(v));
  return v;
}

namespace {

void append_tensor_bytes(const StTensor& t, std::vector<uint8_t>* out) {
  for (float v : t.values) {
    if (t.dtype == "F32") {
      uint8_t b[4];
      std::memcpy(b, &v, 4);
      out->insert(out->end(), b, b + 4);
    } else {
      uint16_t h = t.dtype == "F16" ? fp32_to_fp16(v) : fp32_to_bf16(v);
      out->push_back(static_cast<uint8_t>(h & 0xff));
      out->push_back(static_cast<uint8_t>(h >> 8));
    }
  }
}

}  // namespace

std::vector<uint8_t> make_raw_safetensors(const std::string& header,
                                          const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out;
  out.reserve(8 + header.size() + data.size());
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(n >> (8 * i)));
  for (char c : header) out.push_back(static_cast<uint8_t>(c));
  for (uint8_t b : data) out.push_back(b);
  return out;
}

std::vector<uint8_t> make_safetensors(const std::vector<StTensor>& tensors,
                                      const nlohmann::json& metadata) {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata.is_null()) h["__metadata__"] = metadata;
  std::vector<uint8_t> data;
  for (const auto& t : tensors) {
    uint64_t begin = data.size();
    append_tensor_bytes(t, &data);
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string header = h.dump();
  while (header.size() % 8 != 0) header.push_back(' ');
  return make_raw_safetensors(header, data);
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

void write_text(const std::string& path, const std::string& text) {
  write_file(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::string fresh_dir(const std::string& name) {
  std::string d = std::string(DARI_BINARY_DIR) + "/test_convert_tmp/" + name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

void ProtoWriter::varint(uint64_t v) {
  while (v >= 0x80) {
    buf_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  buf_.push_back(static_cast<char>(v));
}

void ProtoWriter::bytes_field(uint32_t field, const std::string& s) {
  tag(field, 2);
  varint(s.size());
  buf_ += s;
}

void ProtoWriter::float_field(uint32_t field, float f) {
  tag(field, 5);
  uint32_t bits = 0;
  std::memcpy(&bits, &f, 4);
  for (int i = 0; i < 4; ++i) buf_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

std::string make_sentencepiece(const std::vector<SpPiece>& pieces, int unk, int bos, int eos,
                               int pad, bool add_dummy_prefix) {
  ProtoWriter model;
  for (const auto& p : pieces) {
    ProtoWriter pw;
    pw.bytes_field(1, p.piece);
    pw.float_field(2, p.score);
    if (p.type != 1) pw.varint_field(3, static_cast<uint64_t>(p.type));
    model.bytes_field(1, pw.data());
  }
  ProtoWriter trainer;
  trainer.varint_field(3, 2);  // model_type BPE
  trainer.varint_field(4, pieces.size());
  // int32: negative values are sign-extended to 64 bits on the wire.
  trainer.varint_field(40, static_cast<uint64_t>(static_cast<int64_t>(unk)));
  trainer.varint_field(41, static_cast<uint64_t>(static_cast<int64_t>(bos)));
  trainer.varint_field(42, static_cast<uint64_t>(static_cast<int64_t>(eos)));
  trainer.varint_field(43, static_cast<uint64_t>(static_cast<int64_t>(pad)));
  model.bytes_field(2, trainer.data());
  ProtoWriter norm;
  norm.bytes_field(1, "identity");
  norm.varint_field(3, add_dummy_prefix ? 1 : 0);
  model.bytes_field(3, norm.data());
  return model.data();
}

std::string make_bpe_tokenizer_json(uint32_t n) {
  nlohmann::json vocab = nlohmann::json::object();
  // Regular tokens: single letters and letter pairs, ids 0 .. n-3.
  for (uint32_t i = 0; i + 2 < n; ++i) {
    std::string tok = i < 26 ? std::string(1, static_cast<char>('a' + i))
                             : std::string(1, static_cast<char>('a' + (i - 26) % 26)) +
                                   std::string(1, static_cast<char>('a' + (i - 26) / 26));
    vocab[tok] = i;
  }
  nlohmann::json tj;
  tj["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a a", {"b", "a"}}}};
  tj["added_tokens"] = {
      {{"id", n - 2}, {"content", "<|endoftext|>"}, {"special", true}},
      {{"id", n - 1}, {"content", "<|tool|>"}, {"special", false}},
  };
  tj["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", "(?i:'s|'t)|\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"}}}},
        {{"type", "ByteLevel"}}}}};
  return tj.dump();
}

}  // namespace dari::test
