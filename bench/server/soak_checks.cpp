// Response checks of the soak load generator (see soak_checks.h).
#include "soak_checks.h"

#include <nlohmann/json.hpp>

namespace dari::bench {

using nlohmann::json;

namespace {

const char* object_name(Api api, bool stream) {
  if (api == Api::kChat) return stream ? "chat.completion.chunk" : "chat.completion";
  return "text_completion";
}

bool finished(const json& choice) {
  if (!choice.is_object() || !choice.contains("finish_reason")) return false;
  const json& f = choice["finish_reason"];
  return f.is_string() && (f == "stop" || f == "length");
}

std::string check_usage(const json& u) {
  if (!u.is_object()) return "usage is not an object";
  for (const char* k : {"prompt_tokens", "completion_tokens", "total_tokens"}) {
    if (!u.contains(k) || !u[k].is_number_integer() || u[k].get<int64_t>() < 0) {
      return std::string("usage.") + k + " is missing or not a count";
    }
  }
  if (u["total_tokens"].get<int64_t>() !=
      u["prompt_tokens"].get<int64_t>() + u["completion_tokens"].get<int64_t>()) {
    return "usage.total_tokens != prompt_tokens + completion_tokens";
  }
  return "";
}

std::string check_choice_text(Api api, const json& c) {
  if (api == Api::kChat) {
    if (!c.contains("message") || !c["message"].is_object()) return "choice has no message";
    const json& m = c["message"];
    if (m.value("role", "") != "assistant") return "message.role is not 'assistant'";
    if (!m.contains("content") || !m["content"].is_string()) return "message.content not a string";
    return "";
  }
  if (!c.contains("text") || !c["text"].is_string()) return "choice.text is not a string";
  return "";
}

}  // namespace

std::string check_completion(Api api, const Response& r) {
  if (r.status != 200) return "status " + std::to_string(r.status) + ": " + r.body.substr(0, 200);
  const json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) return "body is not a JSON object";
  if (j.value("object", "") != object_name(api, false)) return "wrong 'object'";
  if (!j.contains("id") || !j["id"].is_string()) return "no id";
  if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) {
    return "no choices";
  }
  for (const json& c : j["choices"]) {
    if (!finished(c)) return "a choice has no finish_reason stop/length";
    if (auto e = check_choice_text(api, c); !e.empty()) return e;
  }
  if (!j.contains("usage")) return "no usage";
  return check_usage(j["usage"]);
}

std::string check_stream(Api api, int status, const std::vector<std::string>& payloads,
                         bool include_usage) {
  if (status != 200) return "status " + std::to_string(status);
  bool done = false, finish = false, usage = false;
  std::string id;
  for (const std::string& p : payloads) {
    if (done) return "data after [DONE]";
    if (p == "[DONE]") {
      done = true;
      continue;
    }
    const json j = json::parse(p, nullptr, false);
    if (!j.is_object()) return "a chunk is not a JSON object";
    if (j.contains("error")) return "error event: " + p.substr(0, 200);
    if (j.value("object", "") != object_name(api, true)) return "a chunk has the wrong 'object'";
    const std::string cid = j.value("id", "");
    if (cid.empty() || (!id.empty() && cid != id)) return "chunk ids are missing or differ";
    id = cid;
    if (!j.contains("choices") || !j["choices"].is_array()) return "a chunk has no choices array";
    for (const json& c : j["choices"]) finish = finish || finished(c);
    if (j.contains("usage") && !j["usage"].is_null()) {
      if (auto e = check_usage(j["usage"]); !e.empty()) return e;
      usage = true;
    }
  }
  if (!done) return "no [DONE]";
  if (!finish) return "no finish_reason";
  if (include_usage && !usage) return "include_usage set but no usage chunk";
  return "";
}

std::string check_error(const Response& r, int status, const std::string& param) {
  if (r.status != status) {
    return "status " + std::to_string(r.status) + " (expected " + std::to_string(status) +
           "): " + r.body.substr(0, 200);
  }
  const json j = json::parse(r.body, nullptr, false);
  if (!j.is_object() || j.size() != 1 || !j.contains("error") || !j["error"].is_object()) {
    return "body is not {\"error\": {...}}: " + r.body.substr(0, 200);
  }
  const json& e = j["error"];
  if (e.size() != 4) return "error has other fields than message/type/param/code";
  if (!e.contains("message") || !e["message"].is_string() || e["message"] == "") {
    return "error.message missing";
  }
  if (!e.contains("type") || !e["type"].is_string()) return "error.type missing";
  for (const char* k : {"param", "code"}) {
    if (!e.contains(k) || !(e[k].is_null() || e[k].is_string())) {
      return std::string("error.") + k + " is not a string or null";
    }
  }
  if (!param.empty() &&
      (!e["param"].is_string() || e["param"].get<std::string>().rfind(param, 0))) {
    return "error.param is " + e["param"].dump() + ", expected " + param;
  }
  return "";
}

}  // namespace dari::bench
