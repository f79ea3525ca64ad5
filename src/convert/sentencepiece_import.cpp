// SentencePiece tokenizer.model -> GGUF "llama" tokenizer metadata.
//
// Wire-format facts used (sentencepiece_model.proto):
//   ModelProto      { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
//                     NormalizerSpec normalizer_spec = 3; ... }
//   SentencePiece   { string piece = 1; float score = 2; Type type = 3 [default NORMAL]; }
//   TrainerSpec     { ModelType model_type = 3; int32 unk_id = 40 [0]; bos_id = 41 [1];
//                     eos_id = 42 [2]; pad_id = 43 [-1]; ... }
//   NormalizerSpec  { bool add_dummy_prefix = 3 [default true]; ... }
#include <cstring>

#include "dari/convert/tokenizer_import.h"
#include "dari/core/strings.h"

namespace dari {
namespace {

// Bounds-checked protobuf wire-format reader over [p, end).
class ProtoReader {
 public:
  ProtoReader(const uint8_t* p, size_t n) : p_(p), end_(p + n), start_(p) {}
  bool at_end() const { return p_ >= end_; }
  size_t pos() const { return static_cast<size_t>(p_ - start_); }

  bool varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return false;
      uint8_t b = *p_++;
      if (shift == 63 && (b & 0x7e) != 0) return false;  // more than 64 bits
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;
  }
  bool fixed32(uint32_t* out) {
    if (end_ - p_ < 4) return false;
    *out = static_cast<uint32_t>(p_[0]) | static_cast<uint32_t>(p_[1]) << 8 |
           static_cast<uint32_t>(p_[2]) << 16 | static_cast<uint32_t>(p_[3]) << 24;
    p_ += 4;
    return true;
  }
  // A length-delimited field: returns its bytes.
  bool bytes(const uint8_t** data, size_t* n) {
    uint64_t len = 0;
    if (!varint(&len)) return false;
    if (len > static_cast<uint64_t>(end_ - p_)) return false;
    *data = p_;
    *n = static_cast<size_t>(len);
    p_ += len;
    return true;
  }
  bool skip(uint32_t wire) {
    uint64_t v = 0;
    const uint8_t* d = nullptr;
    size_t n = 0;
    switch (wire) {
      case 0: return varint(&v);
      case 1:
        if (end_ - p_ < 8) return false;
        p_ += 8;
        return true;
      case 2: return bytes(&d, &n);
      case 5: {
        uint32_t x = 0;
        return fixed32(&x);
      }
      default: return false;  // groups (3, 4) and invalid wire types
    }
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const uint8_t* start_;
};

struct Ctx {
  const std::string& name;
  Error err(const std::string& what, size_t pos) const {
    return make_error(str_format("%s: offset %zu: %s", name.c_str(), pos, what.c_str()));
  }
};

Status parse_piece(const Ctx& c, const uint8_t* d, size_t n, size_t base, TokenizerMetadata* md) {
  ProtoReader r(d, n);
  std::string piece;
  float score = 0.0f;
  uint64_t type = kTokenNormal;
  while (!r.at_end()) {
    uint64_t tag = 0;
    if (!r.varint(&tag)) return c.err("truncated field tag in piece", base + r.pos());
    auto field = tag >> 3;
    auto wire = static_cast<uint32_t>(tag & 7);
    if (field == 1 && wire == 2) {
      const uint8_t* s = nullptr;
      size_t len = 0;
      if (!r.bytes(&s, &len)) return c.err("truncated piece string", base + r.pos());
      piece.assign(reinterpret_cast<const char*>(s), len);
    } else if (field == 2 && wire == 5) {
      uint32_t bits = 0;
      if (!r.fixed32(&bits)) return c.err("truncated piece score", base + r.pos());
      std::memcpy(&score, &bits, 4);
    } else if (field == 3 && wire == 0) {
      if (!r.varint(&type)) return c.err("truncated piece type", base + r.pos());
      if (type < kTokenNormal || type > kTokenByte) {
        return c.err(str_format("piece %zu has unknown type %llu", md->tokens.size(),
                                static_cast<unsigned long long>(type)), base + r.pos());
      }
    } else if (!r.skip(wire)) {
      return c.err("malformed field in piece", base + r.pos());
    }
  }
  md->tokens.push_back(std::move(piece));
  md->scores.push_back(score);
  md->token_types.push_back(static_cast<int32_t>(type));
  return Status::Ok();
}

struct TrainerIds {
  int64_t unk = 0, bos = 1, eos = 2, pad = -1;
};

Status parse_trainer(const Ctx& c, const uint8_t* d, size_t n, size_t base, TrainerIds* ids) {
  ProtoReader r(d, n);
  while (!r.at_end()) {
    uint64_t tag = 0;
    if (!r.varint(&tag)) return c.err("truncated field tag in trainer_spec", base + r.pos());
    auto field = tag >> 3;
    auto wire = static_cast<uint32_t>(tag & 7);
    if (wire == 0 && field >= 40 && field <= 43) {
      uint64_t v = 0;
      if (!r.varint(&v)) return c.err("truncated trainer_spec id", base + r.pos());
      // int32 fields: negative values are sign-extended to 64 bits on the wire.
      auto sv = static_cast<int64_t>(v);
      int64_t* dst = field == 40 ? &ids->unk : field == 41 ? &ids->bos : field == 42 ? &ids->eos
                                                                                    : &ids->pad;
      *dst = sv;
    } else if (!r.skip(wire)) {
      return c.err("malformed field in trainer_spec", base + r.pos());
    }
  }
  return Status::Ok();
}

Status parse_normalizer(const Ctx& c, const uint8_t* d, size_t n, size_t base,
                        TokenizerMetadata* md) {
  ProtoReader r(d, n);
  while (!r.at_end()) {
    uint64_t tag = 0;
    if (!r.varint(&tag)) return c.err("truncated field tag in normalizer_spec", base + r.pos());
    auto wire = static_cast<uint32_t>(tag & 7);
    if ((tag >> 3) == 3 && wire == 0) {
      uint64_t v = 0;
      if (!r.varint(&v)) return c.err("truncated add_dummy_prefix", base + r.pos());
      md->add_space_prefix = v != 0;
    } else if (!r.skip(wire)) {
      return c.err("malformed field in normalizer_spec", base + r.pos());
    }
  }
  return Status::Ok();
}

std::optional<uint32_t> valid_id(int64_t id, size_t n) {
  if (id < 0 || static_cast<uint64_t>(id) >= n) return std::nullopt;
  return static_cast<uint32_t>(id);
}

}  // namespace

Result<TokenizerMetadata> import_sentencepiece(const uint8_t* data, size_t size,
                                               const std::string& name) {
  Ctx c{name};
  TokenizerMetadata md;
  md.model = "llama";
  md.add_space_prefix = true;  // NormalizerSpec default
  TrainerIds ids;
  ProtoReader r(data, size);
  while (!r.at_end()) {
    size_t at = r.pos();
    uint64_t tag = 0;
    if (!r.varint(&tag)) return c.err("truncated field tag", at);
    auto field = tag >> 3;
    auto wire = static_cast<uint32_t>(tag & 7);
    if (wire == 2 && field >= 1 && field <= 3) {
      const uint8_t* d = nullptr;
      size_t n = 0;
      if (!r.bytes(&d, &n)) return c.err("length-delimited field runs past the end", at);
      size_t base = static_cast<size_t>(d - data);
      if (field == 1) {
        if (md.tokens.size() >= kMaxVocab) return c.err("too many pieces", at);
        DARI_TRY(parse_piece(c, d, n, base, &md));
      } else if (field == 2) {
        DARI_TRY(parse_trainer(c, d, n, base, &ids));
      } else {
        DARI_TRY(parse_normalizer(c, d, n, base, &md));
      }
    } else if (!r.skip(wire)) {
      return c.err(str_format("malformed field %llu (wire type %u)",
                              static_cast<unsigned long long>(field), wire), at);
    }
  }
  if (md.tokens.empty()) return make_error(name + ": no pieces (not a SentencePiece model?)");
  md.unk_id = valid_id(ids.unk, md.tokens.size());
  md.bos_id = valid_id(ids.bos, md.tokens.size());
  md.eos_id = valid_id(ids.eos, md.tokens.size());
  md.pad_id = valid_id(ids.pad, md.tokens.size());
  return md;
}

}  // namespace dari
