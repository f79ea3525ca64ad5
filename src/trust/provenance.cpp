// Provenance objects: canonical JSON, signing, header values, offline verification and the
// extraction of text + provenance from a saved response.
#include <nlohmann/json.hpp>

#include "dari/trust/trust.h"
#include "trust/internal.h"

namespace dari::trust {
namespace {

using nlohmann::json;

json unsigned_object(const Provenance& p) {
  return json{{"version", p.version},
              {"generator", p.generator},
              {"ai_generated", p.ai_generated},
              {"model", p.facts.model},
              {"model_sha256", p.facts.model_sha256},
              {"request_id", p.facts.request_id},
              {"created", p.facts.created},
              {"operator", p.operator_name},
              {"deployment_id", p.deployment_id},
              {"output_sha256", p.output_sha256},
              {"key_id", p.key_id},
              {"public_key", p.public_key}};
}

bool take_string(const json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

}  // namespace

std::string canonical_json(const nlohmann::json& j) {
  // nlohmann's object is a std::map: keys come out in byte order, and dump(-1) has no spaces.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string canonical_provenance(const Provenance& p) {
  return canonical_json(unsigned_object(p));
}

std::string provenance_to_json(const Provenance& p) {
  json j = unsigned_object(p);
  j["signature"] = p.signature;
  return canonical_json(j);
}

Result<Provenance> provenance_from_json(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error("provenance: not a JSON object");
  Provenance p;
  const char* missing = nullptr;
  if (!take_string(j, "version", &p.version)) missing = "version";
  if (!take_string(j, "generator", &p.generator)) missing = "generator";
  if (!take_string(j, "model", &p.facts.model)) missing = "model";
  if (!take_string(j, "model_sha256", &p.facts.model_sha256)) missing = "model_sha256";
  if (!take_string(j, "request_id", &p.facts.request_id)) missing = "request_id";
  if (!take_string(j, "operator", &p.operator_name)) missing = "operator";
  if (!take_string(j, "deployment_id", &p.deployment_id)) missing = "deployment_id";
  if (!take_string(j, "output_sha256", &p.output_sha256)) missing = "output_sha256";
  if (!take_string(j, "key_id", &p.key_id)) missing = "key_id";
  if (!take_string(j, "public_key", &p.public_key)) missing = "public_key";
  if (!take_string(j, "signature", &p.signature)) missing = "signature";
  if (missing != nullptr) {
    return make_error(std::string("provenance: missing string field \"") + missing + "\"");
  }
  auto c = j.find("created");
  if (c == j.end() || !c->is_number_integer()) {
    return make_error("provenance: \"created\" must be an integer");
  }
  p.facts.created = c->get<int64_t>();
  auto g = j.find("ai_generated");
  if (g == j.end() || !g->is_boolean()) {
    return make_error("provenance: \"ai_generated\" must be true or false");
  }
  p.ai_generated = g->get<bool>();
  if (j.size() != 13) return make_error("provenance: unexpected extra fields");
  return p;
}

Provenance sign_provenance(const SigningKey& key, const ProvenanceFacts& facts,
                           std::string_view operator_name, std::string_view deployment_id,
                           std::string_view delivered_text) {
  Provenance p;
  p.facts = facts;
  p.operator_name = operator_name;
  p.deployment_id = deployment_id;
  p.output_sha256 = sha256_hex(delivered_text);
  p.key_id = key.key_id();
  p.public_key = key.public_key_base64();
  p.signature = key.sign_base64(canonical_provenance(p));
  return p;
}

std::string provenance_header(const Provenance& p) {
  return base64_encode(provenance_to_json(p));
}

std::string stream_header(const ProvenanceFacts& facts, std::string_view operator_name,
                          std::string_view deployment_id) {
  json j{{"version", "dari-provenance/1"},
         {"generator", "dari"},
         {"ai_generated", true},
         {"model", facts.model},
         {"model_sha256", facts.model_sha256},
         {"request_id", facts.request_id},
         {"created", facts.created},
         {"operator", operator_name},
         {"deployment_id", deployment_id},
         {"signed_in", "final_chunk"}};
  return base64_encode(canonical_json(j));
}

VerifyOutcome verify_provenance(const Provenance& p, std::string_view text,
                                std::string_view trusted_public_key) {
  VerifyOutcome v;
  if (p.version != "dari-provenance/1") {
    v.reason = "unsupported provenance version \"" + p.version + "\"";
    return v;
  }
  std::string pub(trusted_public_key.empty() ? p.public_key : trusted_public_key);
  v.key_trusted = !trusted_public_key.empty();
  if (v.key_trusted && pub != p.public_key) {
    v.reason = "signed by key " + p.key_id + ", not by the trusted key";
    return v;
  }
  Status s = verify_signature(pub, canonical_provenance(p), p.signature);
  if (!s.ok()) {
    v.reason = "provenance altered: " + s.message();
    return v;
  }
  std::string actual = sha256_hex(text);
  if (actual != p.output_sha256) {
    v.reason = "text altered: its SHA-256 is " + actual + ", the signed provenance says " +
               p.output_sha256;
    return v;
  }
  v.intact = true;
  v.reason = v.key_trusted ? "signature valid for the trusted key"
                           : "signature valid for the embedded key " + p.key_id +
                                 " (not checked against a trusted key: pass --public-key)";
  return v;
}

namespace {

// Text of choices[0] in a completion / chat completion (or a streaming chunk's delta).
bool choice_text(const json& j, std::string* out) {
  auto ch = j.find("choices");
  if (ch == j.end() || !ch->is_array() || ch->empty() || !(*ch)[0].is_object()) return false;
  const json& c = (*ch)[0];
  for (const char* holder : {"message", "delta"}) {
    auto m = c.find(holder);
    if (m != c.end() && m->is_object()) {
      auto t = m->find("content");
      if (t != m->end() && t->is_string()) {
        *out += t->get<std::string>();
        return true;
      }
      return holder[0] == 'd';  // a delta without content adds nothing
    }
  }
  auto t = c.find("text");
  if (t != c.end() && t->is_string()) {
    *out += t->get<std::string>();
    return true;
  }
  return false;
}

}  // namespace

Result<std::pair<std::string, Provenance>> extract_saved_response(std::string_view saved) {
  std::string text;
  std::optional<json> prov;
  json whole = json::parse(saved, nullptr, false);
  if (!whole.is_discarded() && whole.is_object()) {
    if (!choice_text(whole, &text)) {
      return make_error("response: no choices[0].message.content or choices[0].text");
    }
    auto it = whole.find("provenance");
    if (it != whole.end()) prov = *it;
  } else {
    // SSE transcript: "data: {...}" lines.
    bool any = false;
    size_t pos = 0;
    while (pos < saved.size()) {
      size_t end = saved.find('\n', pos);
      if (end == std::string_view::npos) end = saved.size();
      std::string_view line = saved.substr(pos, end - pos);
      pos = end + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.rfind("data:", 0) != 0) continue;
      line.remove_prefix(5);
      while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (line == "[DONE]") continue;
      json chunk = json::parse(line, nullptr, false);
      if (chunk.is_discarded() || !chunk.is_object()) {
        return make_error("stream: a data line is not JSON");
      }
      any = true;
      choice_text(chunk, &text);
      auto it = chunk.find("provenance");
      if (it != chunk.end()) prov = *it;
    }
    if (!any) return make_error("response: neither a JSON response nor an SSE transcript");
  }
  if (!prov) return make_error("response: no \"provenance\" object");
  DARI_ASSIGN_OR_RETURN(Provenance p, provenance_from_json(prov->dump()));
  return std::make_pair(std::move(text), std::move(p));
}

std::string label_text(const Policy& p) {
  if (p.label_placement == LabelPlacement::kNone) return {};
  if (p.label_language == "en") return p.label_en;
  if (p.label_language == "both") {
    if (p.label_ko.empty()) return p.label_en;
    if (p.label_en.empty()) return p.label_ko;
    return p.label_ko + " / " + p.label_en;
  }
  return p.label_ko.empty() ? p.label_en : p.label_ko;
}

std::string apply_label(const Policy& p, std::string_view output) {
  std::string label = label_text(p);
  if (label.empty()) return std::string(output);
  if (p.label_placement == LabelPlacement::kPrepend) return label + "\n\n" + std::string(output);
  return std::string(output) + "\n\n" + label;
}

}  // namespace dari::trust
