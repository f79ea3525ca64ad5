// Reads the `tokenizer.ggml.*` metadata of a GGUF file into VocabData.
#include "dari/core/strings.h"
#include "dari/io/gguf.h"
#include "dari/tokenizer/vocab.h"

namespace dari {

namespace {

// An id key: present -> its value (any integer type; must fit in int32), absent -> `def` when
// def is inside the vocab (built-in defaults of the model type), else kNoToken.
Result<TokenId> read_id(const GgufFile& f, std::string_view key, TokenId def, size_t n_tokens) {
  if (!f.has(key)) {
    return def >= 0 && static_cast<size_t>(def) < n_tokens ? def : kNoToken;
  }
  DARI_ASSIGN_OR_RETURN(int64_t v, f.get_i64(key));
  // Converters write -1 (as int32) or 0xFFFFFFFF (as uint32) for "no such token".
  if (v == -1 || v == UINT32_MAX) return kNoToken;
  if (v < 0 || v > INT32_MAX) {
    return make_error(str_format("%s: %s = %lld is not a token id", f.path().c_str(),
                                 std::string(key).c_str(), static_cast<long long>(v)));
  }
  return static_cast<TokenId>(v);
}

Result<std::optional<bool>> read_flag(const GgufFile& f, std::string_view key) {
  if (!f.has(key)) return std::optional<bool>();
  DARI_ASSIGN_OR_RETURN(bool v, f.get_bool(key));
  return std::optional<bool>(v);
}

}  // namespace

Result<VocabData> vocab_from_gguf(const GgufFile& f) {
  VocabData d;
  if (!f.has("tokenizer.ggml.model")) {
    return make_error(f.path() + ": no tokenizer.ggml.model key (the file has no vocabulary)");
  }
  DARI_ASSIGN_OR_RETURN(std::string model, f.get_string("tokenizer.ggml.model"));
  TokenId def_bos = kNoToken, def_eos = kNoToken, def_unk = kNoToken, def_pad = kNoToken;
  if (model == "llama") {
    d.kind = VocabKind::kSpm;
    def_bos = 1, def_eos = 2, def_unk = 0;
  } else if (model == "gpt2") {
    d.kind = VocabKind::kBpe;
    def_bos = 11, def_eos = 11;
  } else if (model == "bert") {
    d.kind = VocabKind::kWordPiece;
    def_bos = 101, def_eos = 102, def_unk = 100, def_pad = 0;
  } else {
    return make_error(str_format("%s: tokenizer.ggml.model '%s' is not supported (llama, gpt2, bert)",
                                 f.path().c_str(), printable(model).c_str()));
  }
  DARI_ASSIGN_OR_RETURN(d.pre, f.get_string_or("tokenizer.ggml.pre", "default"));
  DARI_ASSIGN_OR_RETURN(d.tokens, f.get_string_array("tokenizer.ggml.tokens"));
  if (f.has("tokenizer.ggml.scores")) {
    DARI_ASSIGN_OR_RETURN(d.scores, f.get_f32_array("tokenizer.ggml.scores"));
  }
  if (f.has("tokenizer.ggml.token_type")) {
    DARI_ASSIGN_OR_RETURN(d.types, f.get_i32_array("tokenizer.ggml.token_type"));
  }
  if (f.has("tokenizer.ggml.merges")) {
    DARI_ASSIGN_OR_RETURN(d.merges, f.get_string_array("tokenizer.ggml.merges"));
  }
  const size_t n = d.tokens.size();
  const bool bert = d.kind == VocabKind::kWordPiece;
  // BERT: BOS is [CLS] and the appended end marker is [SEP].
  DARI_ASSIGN_OR_RETURN(d.bos, read_id(f, "tokenizer.ggml.bos_token_id", def_bos, n));
  if (bert && f.has("tokenizer.ggml.cls_token_id")) {
    DARI_ASSIGN_OR_RETURN(d.bos, read_id(f, "tokenizer.ggml.cls_token_id", def_bos, n));
  }
  DARI_ASSIGN_OR_RETURN(d.eos, read_id(f, "tokenizer.ggml.eos_token_id", def_eos, n));
  DARI_ASSIGN_OR_RETURN(d.unk, read_id(f, "tokenizer.ggml.unknown_token_id", def_unk, n));
  DARI_ASSIGN_OR_RETURN(d.pad, read_id(f, "tokenizer.ggml.padding_token_id", def_pad, n));
  DARI_ASSIGN_OR_RETURN(d.sep, read_id(f, "tokenizer.ggml.seperator_token_id",
                                       bert ? def_eos : kNoToken, n));
  if (bert && d.sep != kNoToken) d.eos = d.sep;
  DARI_ASSIGN_OR_RETURN(d.add_bos, read_flag(f, "tokenizer.ggml.add_bos_token"));
  DARI_ASSIGN_OR_RETURN(d.add_eos, read_flag(f, "tokenizer.ggml.add_eos_token"));
  DARI_ASSIGN_OR_RETURN(d.add_space_prefix, read_flag(f, "tokenizer.ggml.add_space_prefix"));
  if (f.has("general.name")) {
    DARI_ASSIGN_OR_RETURN(d.name, f.get_string("general.name"));
  }
  return d;
}

}  // namespace dari
