// tokenizer.json (byte-level BPE), tokenizer_config.json and the GGUF tokenizer keys.
#include <algorithm>
#include <map>

#include "convert/json_util.h"
#include "dari/convert/tokenizer_import.h"
#include "dari/core/strings.h"
#include "dari/io/gguf.h"

namespace dari {
namespace {

// Finds the first {"Regex": "..."} string anywhere under `j` (pre-tokenizer Split patterns).
void collect_regexes(const nlohmann::json& j, std::vector<std::string>* out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (k == "Regex" && v.is_string()) out->push_back(v.get<std::string>());
      collect_regexes(v, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) collect_regexes(v, out);
  }
}

std::string choose_pre(const nlohmann::json& root, std::string_view arch) {
  if (arch == "qwen2" || arch == "qwen3") return "qwen2";
  std::vector<std::string> regexes;
  auto pt = root.find("pre_tokenizer");
  if (pt != root.end()) collect_regexes(*pt, &regexes);
  for (const auto& r : regexes) {
    if (r.find("\\p{N}{1,3}") != std::string::npos) return "llama-bpe";
  }
  return "default";
}

// Ids must be below `limit`: ids far beyond the number of listed tokens would only create
// padding, and would let a tiny file demand a huge table.
Result<uint32_t> token_id(const nlohmann::json& v, const std::string& name, const std::string& tok,
                          uint64_t limit) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() >= limit) {
    return make_error(name + ": token '" + printable(tok) + "' has an invalid id");
  }
  return static_cast<uint32_t>(v.get<uint64_t>());
}

Status read_merges(const nlohmann::json& merges, const std::string& name, TokenizerMetadata* md) {
  if (!merges.is_array()) return make_error(name + ": model.merges is not an array");
  md->merges.reserve(merges.size());
  for (const auto& m : merges) {
    if (m.is_string()) {
      md->merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      md->merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      return make_error(str_format("%s: model.merges[%zu] is neither \"a b\" nor [a, b]",
                                   name.c_str(), md->merges.size()));
    }
  }
  return Status::Ok();
}

// Places `tok` at `id`, growing the table with holes (empty strings, type 0) as needed.
Status place_token(TokenizerMetadata* md, uint32_t id, const std::string& tok, int32_t type,
                   bool allow_replace, const std::string& name) {
  if (id >= md->tokens.size()) {
    md->tokens.resize(id + 1);
    md->token_types.resize(id + 1, 0);
  }
  if (md->token_types[id] != 0 && !(allow_replace && md->tokens[id] == tok)) {
    return make_error(str_format("%s: id %u is used by both '%s' and '%s'", name.c_str(), id,
                                 printable(md->tokens[id]).c_str(), printable(tok).c_str()));
  }
  md->tokens[id] = tok;
  md->token_types[id] = type;
  return Status::Ok();
}

std::optional<std::string> special_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object()) {
    auto c = v.find("content");
    if (c != v.end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

// Field accessors that never throw (nlohmann's value() throws on a type mismatch).
std::string str_field(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return {};
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool bool_field(const nlohmann::json& o, const char* key) {
  if (!o.is_object()) return false;
  auto it = o.find(key);
  return it != o.end() && it->is_boolean() && it->get<bool>();
}

std::optional<uint32_t> find_token(const TokenizerMetadata& md, const std::string& text) {
  for (size_t i = 0; i < md.tokens.size(); ++i) {
    if (md.tokens[i] == text) return static_cast<uint32_t>(i);
  }
  return std::nullopt;
}

}  // namespace

Result<TokenizerMetadata> import_tokenizer_json(std::string_view json, const std::string& name,
                                                std::string_view arch) {
  DARI_ASSIGN_OR_RETURN(nlohmann::json root, parse_json_limited(json, name));
  if (!root.is_object()) return make_error(name + ": not a JSON object");
  auto model = root.find("model");
  if (model == root.end() || !model->is_object()) return make_error(name + ": missing model");
  auto type = model->find("type");
  if (type != model->end() && (!type->is_string() || type->get<std::string>() != "BPE")) {
    return make_error(name + ": only BPE tokenizer.json models are supported");
  }
  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object()) {
    return make_error(name + ": model.vocab is not an object");
  }
  auto added = root.find("added_tokens");
  const uint64_t n_listed =
      vocab->size() + (added != root.end() && added->is_array() ? added->size() : 0);
  const uint64_t id_limit = std::min<uint64_t>(kMaxVocab, n_listed + 65536);
  TokenizerMetadata md;
  md.model = "gpt2";
  md.pre = choose_pre(root, arch);
  for (const auto& [tok, idv] : vocab->items()) {
    DARI_ASSIGN_OR_RETURN(uint32_t id, token_id(idv, name, tok, id_limit));
    DARI_TRY(place_token(&md, id, tok, kTokenNormal, false, name));
  }
  auto merges = model->find("merges");
  if (merges != model->end()) DARI_TRY(read_merges(*merges, name, &md));
  if (added != root.end() && added->is_array()) {
    for (const auto& a : *added) {
      auto c = a.find("content");
      auto i = a.find("id");
      if (!a.is_object() || c == a.end() || !c->is_string() || i == a.end()) {
        return make_error(name + ": added_tokens entry without content/id");
      }
      bool special = bool_field(a, "special");
      DARI_ASSIGN_OR_RETURN(uint32_t id, token_id(*i, name, c->get<std::string>(), id_limit));
      DARI_TRY(place_token(&md, id, c->get<std::string>(),
                           special ? kTokenControl : kTokenUserDefined, true, name));
    }
  }
  if (md.tokens.empty()) return make_error(name + ": empty vocabulary");
  for (size_t i = 0; i < md.tokens.size(); ++i) {
    if (md.token_types[i] == 0) {  // hole in the id space
      md.tokens[i] = str_format("[PAD%zu]", i);
      md.token_types[i] = kTokenUnused;
    }
  }
  return md;
}

Status apply_tokenizer_config(std::string_view json, const std::string& name,
                              TokenizerMetadata* md) {
  DARI_ASSIGN_OR_RETURN(nlohmann::json root, parse_json_limited(json, name));
  if (!root.is_object()) return make_error(name + ": not a JSON object");
  struct Special {
    const char* key;
    std::optional<uint32_t>* dst;
  };
  const Special specials[] = {{"bos_token", &md->bos_id}, {"eos_token", &md->eos_id},
                              {"unk_token", &md->unk_id}, {"pad_token", &md->pad_id}};
  for (const auto& s : specials) {
    auto it = root.find(s.key);
    if (it == root.end()) continue;
    auto text = special_text(*it);
    if (!text) continue;  // null: keep what the tokenizer file said
    auto id = find_token(*md, *text);
    if (id) *s.dst = *id;
  }
  for (const char* key : {"add_bos_token", "add_eos_token"}) {
    auto it = root.find(key);
    if (it == root.end()) continue;
    if (!it->is_boolean()) return make_error(name + ": " + key + " is not a boolean");
    (std::string(key) == "add_bos_token" ? md->add_bos : md->add_eos) = it->get<bool>();
  }
  auto ct = root.find("chat_template");
  if (ct != root.end()) {
    if (ct->is_string()) {
      md->chat_template = ct->get<std::string>();
    } else if (ct->is_array()) {  // [{"name": ..., "template": ...}]: take "default"
      for (const auto& e : *ct) {
        if (str_field(e, "name") == "default") md->chat_template = str_field(e, "template");
      }
    }
  }
  // added_tokens_decoder: mark special tokens the vocabulary lists as normal.
  auto atd = root.find("added_tokens_decoder");
  if (atd != root.end() && atd->is_object()) {
    for (const auto& [id_text, v] : atd->items()) {
      char* end = nullptr;
      unsigned long long id = std::strtoull(id_text.c_str(), &end, 10);
      if (end == id_text.c_str() || *end != '\0' || id >= md->tokens.size()) continue;
      auto text = special_text(v);
      if (!text || *text != md->tokens[id] || md->token_types[id] != kTokenNormal) continue;
      bool special = bool_field(v, "special");
      md->token_types[id] = special ? kTokenControl : kTokenUserDefined;
    }
  }
  return Status::Ok();
}

Status pad_vocab(TokenizerMetadata* md, uint32_t n_vocab) {
  if (md->tokens.size() > n_vocab) {
    return make_error(str_format("tokenizer has %zu tokens but vocab_size is %u",
                                 md->tokens.size(), n_vocab));
  }
  bool scores = !md->scores.empty();
  for (size_t i = md->tokens.size(); i < n_vocab; ++i) {
    md->tokens.push_back(str_format("[PAD%zu]", i));
    md->token_types.push_back(kTokenUnused);
    if (scores) md->scores.push_back(-1000.0f);
  }
  return Status::Ok();
}

Result<TokenizerMetadata> import_hf_tokenizer(const std::string& dir, std::string_view arch) {
  TokenizerMetadata md;
  std::string tj = dir + "/tokenizer.json";
  std::string tm = dir + "/tokenizer.model";
  if (file_exists(tm)) {
    // SentencePiece wins when both exist: tokenizer.json then mirrors it as a (non-BPE) model.
    DARI_ASSIGN_OR_RETURN(std::string bytes, read_whole_file(tm, 256ull << 20));
    DARI_ASSIGN_OR_RETURN(md, import_sentencepiece(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                   bytes.size(), tm));
  } else if (file_exists(tj)) {
    DARI_ASSIGN_OR_RETURN(std::string text, read_whole_file(tj, 512ull << 20));
    DARI_ASSIGN_OR_RETURN(md, import_tokenizer_json(text, tj, arch));
  } else {
    return make_error(dir + ": no tokenizer.json or tokenizer.model");
  }
  std::string tc = dir + "/tokenizer_config.json";
  if (file_exists(tc)) {
    DARI_ASSIGN_OR_RETURN(std::string text, read_whole_file(tc, 64ull << 20));
    DARI_TRY(apply_tokenizer_config(text, tc, &md));
  }
  return md;
}

void write_tokenizer_metadata(const TokenizerMetadata& md, GgufWriter* w) {
  w->set_string("tokenizer.ggml.model", md.model);
  w->set_string("tokenizer.ggml.pre", md.pre.empty() ? "default" : md.pre);
  w->set_string_array("tokenizer.ggml.tokens", md.tokens);
  if (!md.scores.empty()) w->set_f32_array("tokenizer.ggml.scores", md.scores);
  w->set_i32_array("tokenizer.ggml.token_type", md.token_types);
  if (md.model == "gpt2") w->set_string_array("tokenizer.ggml.merges", md.merges);
  if (md.bos_id) w->set_u32("tokenizer.ggml.bos_token_id", *md.bos_id);
  if (md.eos_id) w->set_u32("tokenizer.ggml.eos_token_id", *md.eos_id);
  if (md.unk_id) w->set_u32("tokenizer.ggml.unknown_token_id", *md.unk_id);
  if (md.pad_id) w->set_u32("tokenizer.ggml.padding_token_id", *md.pad_id);
  if (md.add_bos) w->set_bool("tokenizer.ggml.add_bos_token", *md.add_bos);
  if (md.add_eos) w->set_bool("tokenizer.ggml.add_eos_token", *md.add_eos);
  if (md.add_space_prefix && md.model == "llama") {
    w->set_bool("tokenizer.ggml.add_space_prefix", *md.add_space_prefix);
  }
  if (!md.chat_template.empty()) w->set_string("tokenizer.chat_template", md.chat_template);
}

}  // namespace dari
