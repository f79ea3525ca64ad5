#include "dari/tokenizer/tokenizer.h"

#include <algorithm>
#include <cstring>

#include "dari/core/strings.h"
#include "dari/io/gguf.h"
#include "tokenizer/impl.h"
#include "tokenizer/utf8.h"

namespace dari {

namespace {

Status check_id(const char* name, TokenId id, size_t n_tokens) {
  if (id == kNoToken) return Status::Ok();
  if (id < 0 || static_cast<size_t>(id) >= n_tokens) {
    return make_error(str_format("tokenizer.ggml.%s = %d is out of range [0, %zu)", name, id,
                                 n_tokens));
  }
  return Status::Ok();
}

Status validate(const VocabData& d) {
  const size_t n = d.tokens.size();
  if (n == 0) return make_error("tokenizer.ggml.tokens: the vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return make_error(str_format("tokenizer.ggml.tokens: %zu tokens is too many", n));
  }
  if (!d.scores.empty() && d.scores.size() != n) {
    return make_error(str_format("tokenizer.ggml.scores: %zu entries for %zu tokens",
                                 d.scores.size(), n));
  }
  if (!d.types.empty() && d.types.size() != n) {
    return make_error(str_format("tokenizer.ggml.token_type: %zu entries for %zu tokens",
                                 d.types.size(), n));
  }
  for (size_t i = 0; i < d.types.size(); ++i) {
    if (d.types[i] < 0 || d.types[i] > static_cast<int32_t>(TokenType::kByte)) {
      return make_error(str_format("tokenizer.ggml.token_type[%zu] = %d is not a token type (0..6)",
                                   i, d.types[i]));
    }
  }
  DARI_TRY(check_id("bos_token_id", d.bos, n));
  DARI_TRY(check_id("eos_token_id", d.eos, n));
  DARI_TRY(check_id("unknown_token_id", d.unk, n));
  DARI_TRY(check_id("padding_token_id", d.pad, n));
  DARI_TRY(check_id("seperator_token_id", d.sep, n));
  for (const auto* list : {&d.lstrip_tokens, &d.rstrip_tokens}) {
    for (size_t i = 0; i < list->size(); ++i) {
      const TokenId id = (*list)[i];
      if (id < 0 || static_cast<size_t>(id) >= n) {
        return make_error(str_format("%s[%zu] = %d is out of range [0, %zu)",
                                     list == &d.lstrip_tokens ? "lstrip_tokens" : "rstrip_tokens",
                                     i, id, n));
      }
    }
  }
  if (d.kind == VocabKind::kBpe && d.merges.empty()) {
    return make_error("tokenizer.ggml.merges: a gpt2 (BPE) vocabulary needs merges");
  }
  return Status::Ok();
}

void build_special_index(TokenizerImpl* t) {
  auto by_length = [t](TokenId a, TokenId b) {
    const size_t la = t->tokens[static_cast<size_t>(a)].size();
    const size_t lb = t->tokens[static_cast<size_t>(b)].size();
    return la != lb ? la > lb : a < b;
  };
  for (size_t i = 0; i < t->tokens.size(); ++i) {
    const TokenType type = t->types[i];
    const std::string& text = t->tokens[i];
    if (text.empty()) continue;
    const auto first = static_cast<uint8_t>(text[0]);
    const auto id = static_cast<TokenId>(i);
    if (type == TokenType::kControl || type == TokenType::kUnknown ||
        type == TokenType::kUserDefined) {
      t->specials_all.by_first_byte[first].push_back(id);
      t->specials_all.empty = false;
    }
    if (type == TokenType::kUserDefined) {
      t->specials_user.by_first_byte[first].push_back(id);
      t->specials_user.empty = false;
    }
  }
  for (SpecialIndex* idx : {&t->specials_all, &t->specials_user}) {
    for (auto& bucket : idx->by_first_byte) std::sort(bucket.begin(), bucket.end(), by_length);
  }
}

// Strip attributes: the explicit lists, then llama.cpp's per-model rules (llama-vocab.cpp sets
// them by `general.name`, because GGUF does not store Hugging Face's added-token flags).
// Phi-3's tokenizer.json marks "</s>" and its chat tokens ("<|assistant|>", "<|end|>", ...)
// rstrip: true, so Hugging Face and llama.cpp both drop the whitespace after them, and the
// text that follows gets the ordinary SPM space prefix: "</s> [" is "</s>" "▁[", not
// "</s>" "▁" "▁[".
void build_strip_attributes(const VocabData& d, TokenizerImpl* t) {
  t->strip.assign(t->tokens.size(), 0);
  for (TokenId id : d.lstrip_tokens) t->strip[static_cast<size_t>(id)] |= TokenizerImpl::kStripLeft;
  for (TokenId id : d.rstrip_tokens) t->strip[static_cast<size_t>(id)] |= TokenizerImpl::kStripRight;
  std::string name = d.name;
  for (char& c : name) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    auto set_rstrip = [t](TokenId id, bool on) {
      if (id == kNoToken) return;
      uint8_t& f = t->strip[static_cast<size_t>(id)];
      f = on ? static_cast<uint8_t>(f | TokenizerImpl::kStripRight)
             : static_cast<uint8_t>(f & ~TokenizerImpl::kStripRight);
    };
    for (size_t i = 0; i < t->tokens.size(); ++i) {
      const TokenType type = t->types[i];
      if (type == TokenType::kControl || type == TokenType::kUnknown ||
          type == TokenType::kUserDefined) {
        set_rstrip(static_cast<TokenId>(i), true);
      }
    }
    set_rstrip(t->find("</s>"), true);
    for (const char* keep : {"<unk>", "<s>", "<|endoftext|>"}) set_rstrip(t->find(keep), false);
  }
}

void build_end_of_generation(TokenizerImpl* t) {
  static constexpr const char* kEnders[] = {"<|eot_id|>", "<|eom_id|>",    "<|im_end|>",
                                            "<|end|>",    "<|endoftext|>", "<end_of_turn>",
                                            "<|end_of_text|>"};
  if (t->eos != kNoToken) t->end_of_generation.push_back(t->eos);
  for (const char* e : kEnders) {
    const TokenId id = t->find(e);
    if (id != kNoToken && t->types[static_cast<size_t>(id)] == TokenType::kControl) {
      t->end_of_generation.push_back(id);
    }
  }
  std::sort(t->end_of_generation.begin(), t->end_of_generation.end());
  t->end_of_generation.erase(
      std::unique(t->end_of_generation.begin(), t->end_of_generation.end()),
      t->end_of_generation.end());
}

void apply_defaults(const VocabData& d, TokenizerImpl* t) {
  bool bos = false, eos = false, space = false;
  switch (d.kind) {
    case VocabKind::kSpm:
      bos = true, space = true;
      break;
    case VocabKind::kBpe:
      bos = t->ignore_merges;  // the Llama 3 family adds BOS
      break;
    case VocabKind::kWordPiece:
      bos = true, eos = true;
      break;
  }
  t->add_bos = d.add_bos.value_or(bos) && t->bos != kNoToken;
  t->add_eos = d.add_eos.value_or(eos) && t->eos != kNoToken;
  t->add_space_prefix = d.add_space_prefix.value_or(space);
}

// The bytes C's isspace() accepts in the "C" locale (what llama.cpp strips).
bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// Splits `text` into raw fragments and special tokens (longest match at each position). A
// matched token with lstrip / rstrip drops the whitespace before / after it; a raw fragment that
// becomes empty is left out.
struct Fragment {
  std::string_view text;
  TokenId id = kNoToken;  // kNoToken: raw text
};

void partition(const TokenizerImpl& t, std::string_view text, bool parse_special,
               std::vector<Fragment>* out) {
  const SpecialIndex& idx = parse_special ? t.specials_all : t.specials_user;
  if (idx.empty) {
    if (!text.empty()) out->push_back(Fragment{text, kNoToken});
    return;
  }
  size_t raw_begin = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto& bucket = idx.by_first_byte[static_cast<uint8_t>(text[pos])];
    TokenId hit = kNoToken;
    for (TokenId id : bucket) {
      const std::string& s = t.tokens[static_cast<size_t>(id)];
      if (s.size() <= text.size() - pos && std::memcmp(s.data(), text.data() + pos, s.size()) == 0) {
        hit = id;
        break;
      }
    }
    if (hit == kNoToken) {
      ++pos;
      continue;
    }
    const uint8_t strip = t.strip[static_cast<size_t>(hit)];
    size_t raw_end = pos;
    if (strip & TokenizerImpl::kStripLeft) {
      while (raw_end > raw_begin && is_ascii_space(text[raw_end - 1])) --raw_end;
    }
    if (raw_end > raw_begin) out->push_back(Fragment{text.substr(raw_begin, raw_end - raw_begin)});
    out->push_back(Fragment{text.substr(pos, t.tokens[static_cast<size_t>(hit)].size()), hit});
    pos += t.tokens[static_cast<size_t>(hit)].size();
    if (strip & TokenizerImpl::kStripRight) {
      while (pos < text.size() && is_ascii_space(text[pos])) ++pos;
    }
    raw_begin = pos;
  }
  if (raw_begin < text.size()) out->push_back(Fragment{text.substr(raw_begin)});
}

int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(text[3]), lo = hex(text[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

Result<Tokenizer> Tokenizer::create(VocabData d) {
  DARI_TRY(validate(d));
  auto t = std::make_shared<TokenizerImpl>();
  t->kind = d.kind;
  t->pre = d.pre;
  t->tokens = std::move(d.tokens);
  t->scores = std::move(d.scores);
  t->types.resize(t->tokens.size(), TokenType::kNormal);
  for (size_t i = 0; i < d.types.size(); ++i) t->types[i] = static_cast<TokenType>(d.types[i]);
  t->token_index.build(t->tokens);
  for (size_t i = 0; i < t->tokens.size(); ++i) {
    t->max_token_bytes = std::max(t->max_token_bytes, t->tokens[i].size());
  }
  t->bos = d.bos, t->eos = d.eos, t->unk = d.unk, t->pad = d.pad, t->sep = d.sep;
  t->byte_fallback.fill(kNoToken);
  t->byte_char_token.fill(kNoToken);
  if (d.kind == VocabKind::kSpm) {
    for (int b = 0; b < 256; ++b) t->byte_fallback[b] = t->find(str_format("<0x%02X>", b));
  } else if (d.kind == VocabKind::kBpe) {
    DARI_ASSIGN_OR_RETURN(tok::PreTokenizerSpec spec, tok::pretokenizer_spec(t->pre));
    t->ignore_merges = spec.ignore_merges;
    DARI_ASSIGN_OR_RETURN(t->splitter, tok::RegexSplitter::create(spec.patterns));
    DARI_TRY(bpe_prepare(t.get(), d.merges));
  }
  if (d.kind == VocabKind::kWordPiece) {
    size_t hashes = 0, marks = 0;
    for (const std::string& s : t->tokens) {
      hashes += s.size() > 2 && s.rfind("##", 0) == 0;
      marks += s.rfind("\xE2\x96\x81", 0) == 0;
    }
    t->wordpiece_hash_prefix = hashes > marks;
  }
  apply_defaults(d, t.get());
  build_special_index(t.get());
  build_strip_attributes(d, t.get());
  build_end_of_generation(t.get());
  return Tokenizer(std::move(t));
}

Result<Tokenizer> Tokenizer::from_gguf(const GgufFile& file) {
  auto data = vocab_from_gguf(file);
  if (!data.ok()) return data.error();
  auto tok = create(std::move(data).value());
  if (!tok.ok()) return make_error(file.path() + ": " + tok.message());
  return tok;
}

Result<Tokenizer> Tokenizer::open(const std::string& gguf_path) {
  DARI_ASSIGN_OR_RETURN(GgufFile file, GgufFile::open(gguf_path));
  return from_gguf(file);
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, const EncodeOptions& opt) const {
  const TokenizerImpl& t = *impl_;
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  if (opt.add_special && opt.add_bos.value_or(t.add_bos) && t.bos != kNoToken) {
    out.push_back(t.bos);
  }
  std::vector<Fragment> fragments;
  partition(t, text, opt.parse_special, &fragments);
  bool prev_special = true;  // SPM: the first fragment gets the space prefix
  std::string spm_text;
  for (const Fragment& f : fragments) {
    if (f.id != kNoToken) {
      out.push_back(f.id);
      prev_special = true;
      continue;
    }
    switch (t.kind) {
      case VocabKind::kSpm:
        spm_text.clear();
        if (t.add_space_prefix && prev_special) spm_text.push_back(' ');
        spm_text.append(f.text);
        spm_encode(t, spm_text, &out);
        break;
      case VocabKind::kBpe:
        bpe_encode(t, f.text, &out);
        break;
      case VocabKind::kWordPiece:
        wordpiece_encode(t, f.text, &out);
        break;
    }
    prev_special = false;
  }
  if (opt.add_special && opt.add_eos.value_or(t.add_eos) && t.eos != kNoToken) {
    out.push_back(t.eos);
  }
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool render_special) const {
  const TokenizerImpl& t = *impl_;
  if (!t.valid(id)) return {};
  const std::string& text = t.tokens[static_cast<size_t>(id)];
  switch (t.types[static_cast<size_t>(id)]) {
    case TokenType::kControl:
    case TokenType::kUnknown:
      return render_special ? text : std::string();
    case TokenType::kUserDefined:
      return text;
    case TokenType::kUnused:
    case TokenType::kUndefined:
      return {};
    case TokenType::kByte: {
      const int b = parse_byte_token(text);
      if (b >= 0) return std::string(1, static_cast<char>(b));
      break;  // not "<0xNN>": decode like a normal token
    }
    case TokenType::kNormal:
      break;
  }
  if (t.kind == VocabKind::kBpe) return tok::byte_level_decode(text);
  if (t.kind == VocabKind::kWordPiece && t.wordpiece_hash_prefix) {
    return text.rfind("##", 0) == 0 ? text.substr(2) : " " + text;
  }
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 3, "\xE2\x96\x81") == 0) {
      out.push_back(' ');
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

Result<std::string> Tokenizer::decode(std::span<const TokenId> ids,
                                      const DecodeOptions& opt) const {
  std::string out;
  bool strip = opt.strip_leading_space && impl_->add_space_prefix;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!impl_->valid(ids[i])) {
      return make_error(str_format("decode: token id %d at position %zu is out of range [0, %zu)",
                                   ids[i], i, impl_->tokens.size()));
    }
    std::string piece = token_to_piece(ids[i], opt.render_special);
    if (piece.empty()) continue;
    if (strip && piece[0] == ' ') piece.erase(0, 1);
    strip = false;
    out += piece;
  }
  return out;
}

size_t Tokenizer::n_tokens() const { return impl_->tokens.size(); }
VocabKind Tokenizer::kind() const { return impl_->kind; }
const std::string& Tokenizer::pre() const { return impl_->pre; }
const std::string& Tokenizer::token_text(TokenId id) const {
  static const std::string kEmpty;
  return impl_->valid(id) ? impl_->tokens[static_cast<size_t>(id)] : kEmpty;
}
TokenType Tokenizer::token_type(TokenId id) const {
  return impl_->valid(id) ? impl_->types[static_cast<size_t>(id)] : TokenType::kUndefined;
}
TokenId Tokenizer::find_token(std::string_view text) const { return impl_->find(text); }
TokenId Tokenizer::bos() const { return impl_->bos; }
TokenId Tokenizer::eos() const { return impl_->eos; }
TokenId Tokenizer::unk() const { return impl_->unk; }
TokenId Tokenizer::pad() const { return impl_->pad; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }
bool Tokenizer::add_space_prefix() const { return impl_->add_space_prefix; }
bool Tokenizer::is_end_of_generation(TokenId id) const {
  return std::binary_search(impl_->end_of_generation.begin(), impl_->end_of_generation.end(), id);
}

}  // namespace dari
