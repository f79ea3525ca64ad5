// Summary of a GGUF file for `dari inspect`: text and JSON renderings.
#include "dari/io/gguf_summary.h"

#include <array>
#include <cinttypes>
#include <nlohmann/json.hpp>

#include "dari/core/checked.h"
#include "dari/core/strings.h"

namespace dari {
namespace {

uint64_t saturating_add(uint64_t a, uint64_t b) {
  uint64_t out = 0;
  return checked_add(a, b, &out) ? out : UINT64_MAX;
}

std::string type_display(const GgufValue& v) {
  std::string s(gguf_value_type_name(v.type()));
  if (const GgufArray* a = v.as_array()) s += " of " + std::string(gguf_value_type_name(a->elem_type));
  return s;
}

std::optional<int64_t> optional_int(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.find(key);
  int64_t x = 0;
  if (v == nullptr || !v->to_i64(&x)) return std::nullopt;
  return x;
}

uint64_t array_size(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.find(key);
  const GgufArray* a = v != nullptr ? v->as_array() : nullptr;
  return a != nullptr ? a->items.size() : 0;
}

std::string string_or_empty(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.find(key);
  const std::string* s = v != nullptr ? v->as_string() : nullptr;
  return s != nullptr ? *s : std::string();
}

// Metadata value as JSON: scalars as JSON scalars, arrays in full up to kMaxJsonArray items,
// longer ones as {"type", "count"}.
constexpr size_t kMaxJsonArray = 1024;

nlohmann::json value_to_json(const GgufValue& v) {
  return std::visit(
      [](const auto& x) -> nlohmann::json {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::shared_ptr<GgufArray>>) {
          if (x->items.size() > kMaxJsonArray) {
            return {{"type", std::string(gguf_value_type_name(x->elem_type))},
                    {"count", x->items.size()}};
          }
          nlohmann::json arr = nlohmann::json::array();
          for (const GgufValue& item : x->items) arr.push_back(value_to_json(item));
          return arr;
        } else {
          return nlohmann::json(x);
        }
      },
      v.storage());
}

}  // namespace

std::string_view gguf_file_type_name(uint32_t file_type) {
  static constexpr std::array<std::string_view, 39> kNames = {
      "ALL_F32",        "MOSTLY_F16",     "MOSTLY_Q4_0",    "MOSTLY_Q4_1",
      "MOSTLY_Q4_1_SOME_F16", "",          "",               "MOSTLY_Q8_0",
      "MOSTLY_Q5_0",    "MOSTLY_Q5_1",    "MOSTLY_Q2_K",    "MOSTLY_Q3_K_S",
      "MOSTLY_Q3_K_M",  "MOSTLY_Q3_K_L",  "MOSTLY_Q4_K_S",  "MOSTLY_Q4_K_M",
      "MOSTLY_Q5_K_S",  "MOSTLY_Q5_K_M",  "MOSTLY_Q6_K",    "MOSTLY_IQ2_XXS",
      "MOSTLY_IQ2_XS",  "MOSTLY_Q2_K_S",  "MOSTLY_IQ3_XS",  "MOSTLY_IQ3_XXS",
      "MOSTLY_IQ1_S",   "MOSTLY_IQ4_NL",  "MOSTLY_IQ3_S",   "MOSTLY_IQ3_M",
      "MOSTLY_IQ2_S",   "MOSTLY_IQ2_M",   "MOSTLY_IQ4_XS",  "MOSTLY_IQ1_M",
      "MOSTLY_BF16",    "",               "",               "",  // 33..35 removed
      "MOSTLY_TQ1_0",   "MOSTLY_TQ2_0",   "MOSTLY_MXFP4_MOE"};
  if (file_type >= kNames.size() || kNames[file_type].empty()) return "UNKNOWN";
  return kNames[file_type];
}

std::string gguf_value_display(const GgufValue& v, size_t max_string) {
  return std::visit(
      [max_string](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          // Built by append: gcc 12 at -O3 warns falsely (-Wrestrict) on "lit" + string&&.
          std::string out = "\"";
          out += printable(x, max_string);
          out += '"';
          return out;
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, float>) {
          return str_format("%.7g", static_cast<double>(x));
        } else if constexpr (std::is_same_v<T, double>) {
          return str_format("%.17g", x);
        } else if constexpr (std::is_same_v<T, std::shared_ptr<GgufArray>>) {
          constexpr size_t kShown = 8;
          std::string s = str_format("[%zu x %s]", x->items.size(),
                                     std::string(gguf_value_type_name(x->elem_type)).c_str());
          if (x->items.empty()) return s;
          s += " [";
          for (size_t i = 0; i < x->items.size() && i < kShown; ++i) {
            if (i > 0) s += ", ";
            s += gguf_value_display(x->items[i], 24);
          }
          s += x->items.size() > kShown ? ", ...]" : "]";
          return s;
        } else if constexpr (std::is_signed_v<T>) {
          return std::to_string(static_cast<long long>(x));
        } else {
          return std::to_string(static_cast<unsigned long long>(x));
        }
      },
      v.storage());
}

GgufSummary summarize_gguf(const GgufFile& f) {
  GgufSummary s;
  s.path = f.path();
  s.version = f.version();
  s.file_size = f.file_size();
  s.alignment = f.alignment();
  s.data_offset = f.data_offset();
  s.architecture = string_or_empty(f, "general.architecture");
  s.name = string_or_empty(f, "general.name");
  if (const GgufValue* ft = f.find("general.file_type")) {
    uint64_t x = 0;
    if (ft->to_u64(&x) && x <= UINT32_MAX) {
      s.file_type = static_cast<uint32_t>(x);
      s.file_type_name = std::string(gguf_file_type_name(*s.file_type));
    }
  }
  const std::string prefix = s.architecture.empty() ? std::string() : s.architecture + ".";
  for (const auto& [key, value] : f.metadata()) {
    s.metadata.push_back({key, type_display(value), gguf_value_display(value)});
    if (!prefix.empty() && key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0) {
      s.hyperparameters.emplace_back(key.substr(prefix.size()), value);
    }
  }
  GgufTokenizerSummary& t = s.tokenizer;
  t.model = string_or_empty(f, "tokenizer.ggml.model");
  t.pre = string_or_empty(f, "tokenizer.ggml.pre");
  t.n_tokens = array_size(f, "tokenizer.ggml.tokens");
  t.n_merges = array_size(f, "tokenizer.ggml.merges");
  t.bos_id = optional_int(f, "tokenizer.ggml.bos_token_id");
  t.eos_id = optional_int(f, "tokenizer.ggml.eos_token_id");
  t.unk_id = optional_int(f, "tokenizer.ggml.unknown_token_id");
  t.pad_id = optional_int(f, "tokenizer.ggml.padding_token_id");
  t.has_chat_template = f.has("tokenizer.chat_template");
  for (const GgufTensorInfo& ti : f.tensors()) {
    GgufTensorSummary ts;
    ts.name = ti.name;
    ts.type = std::string(ggml_type_name(ti.type));
    ts.shape.assign(ti.ne, ti.ne + ti.n_dims);
    ts.n_elements = ti.n_elements;
    ts.n_bytes = ti.n_bytes;
    ts.offset = ti.offset;
    s.total_parameters = saturating_add(s.total_parameters, ti.n_elements);
    s.total_tensor_bytes = saturating_add(s.total_tensor_bytes, ti.n_bytes);
    s.tensors.push_back(std::move(ts));
  }
  return s;
}

static std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(static_cast<unsigned long long>(shape[i]));
  }
  return out + "]";
}

static std::string id_text(const std::optional<int64_t>& id) {
  return id ? std::to_string(static_cast<long long>(*id)) : std::string("-");
}

std::string gguf_summary_to_text(const GgufSummary& s) {
  std::string o;
  o += str_format("file:          %s (%s)\n", printable(s.path, 4096).c_str(), human_bytes(s.file_size).c_str());
  o += str_format("gguf:          version %u, %zu metadata keys, %zu tensors, alignment %" PRIu64
                  ", data at byte %" PRIu64 "\n",
                  s.version, s.metadata.size(), s.tensors.size(), s.alignment, s.data_offset);
  o += str_format("architecture:  %s\n", s.architecture.empty() ? "-" : printable(s.architecture).c_str());
  o += str_format("name:          %s\n", s.name.empty() ? "-" : printable(s.name).c_str());
  if (s.file_type) {
    o += str_format("file type:     %u (%s)\n", *s.file_type, s.file_type_name.c_str());
  } else {
    o += "file type:     -\n";
  }
  o += str_format("parameters:    %" PRIu64 " (tensor data %s)\n", s.total_parameters,
                  human_bytes(s.total_tensor_bytes).c_str());
  if (!s.hyperparameters.empty()) {
    o += str_format("\nhyperparameters (%s.*):\n", printable(s.architecture).c_str());
    for (const auto& [k, v] : s.hyperparameters) {
      o += str_format("  %-40s %s\n", printable(k).c_str(), gguf_value_display(v).c_str());
    }
  }
  const GgufTokenizerSummary& t = s.tokenizer;
  o += str_format("\ntokenizer:     model %s, pre %s, %" PRIu64 " tokens, %" PRIu64 " merges\n",
                  t.model.empty() ? "-" : printable(t.model).c_str(),
                  t.pre.empty() ? "-" : printable(t.pre).c_str(), t.n_tokens, t.n_merges);
  o += str_format("               bos %s, eos %s, unk %s, pad %s, chat template: %s\n",
                  id_text(t.bos_id).c_str(), id_text(t.eos_id).c_str(), id_text(t.unk_id).c_str(),
                  id_text(t.pad_id).c_str(), t.has_chat_template ? "yes" : "no");
  o += "\nmetadata:\n";
  for (const auto& m : s.metadata) {
    o += str_format("  %-40s %-18s %s\n", printable(m.key).c_str(), m.type.c_str(), m.display.c_str());
  }
  o += str_format("\ntensors (%zu):\n", s.tensors.size());
  for (const auto& ts : s.tensors) {
    o += str_format("  %-40s %-8s %-24s %12" PRIu64 " bytes\n", printable(ts.name).c_str(),
                    ts.type.c_str(), shape_text(ts.shape).c_str(), ts.n_bytes);
  }
  return o;
}

std::string gguf_summary_to_json(const GgufSummary& s, int indent) {
  using nlohmann::json;
  json j;
  j["path"] = s.path;
  j["version"] = s.version;
  j["file_size"] = s.file_size;
  j["alignment"] = s.alignment;
  j["data_offset"] = s.data_offset;
  j["architecture"] = s.architecture;
  j["name"] = s.name;
  j["file_type"] = s.file_type ? json(*s.file_type) : json(nullptr);
  j["file_type_name"] = s.file_type_name;
  j["n_kv"] = s.metadata.size();
  j["n_tensors"] = s.tensors.size();
  j["total_parameters"] = s.total_parameters;
  j["total_tensor_bytes"] = s.total_tensor_bytes;
  json hp = json::object();
  for (const auto& [k, v] : s.hyperparameters) hp[k] = value_to_json(v);
  j["hyperparameters"] = std::move(hp);
  const GgufTokenizerSummary& t = s.tokenizer;
  auto opt = [](const std::optional<int64_t>& x) { return x ? json(*x) : json(nullptr); };
  j["tokenizer"] = {{"model", t.model},           {"pre", t.pre},
                    {"n_tokens", t.n_tokens},     {"n_merges", t.n_merges},
                    {"bos_id", opt(t.bos_id)},    {"eos_id", opt(t.eos_id)},
                    {"unk_id", opt(t.unk_id)},    {"pad_id", opt(t.pad_id)},
                    {"has_chat_template", t.has_chat_template}};
  json md = json::array();
  for (const auto& m : s.metadata) md.push_back({{"key", m.key}, {"type", m.type}, {"value", m.display}});
  j["metadata"] = std::move(md);
  json ts = json::array();
  for (const auto& x : s.tensors) {
    ts.push_back({{"name", x.name},           {"type", x.type},         {"shape", x.shape},
                  {"n_elements", x.n_elements}, {"n_bytes", x.n_bytes}, {"offset", x.offset}});
  }
  j["tensors"] = std::move(ts);
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace dari
