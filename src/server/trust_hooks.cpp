// TrustHooks: ServerHooks backed by the trust layer (see dari/server/trust_hooks.h).
#include "dari/server/trust_hooks.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "exchange.h"
#include "origin.h"
#include "responses.h"
#include "trust_status.h"

namespace dari::server {

namespace {

using json = nlohmann::json;

// The signer's public key and the disclosure label: public (every signed response carries the
// key), so no key is needed to read it.
constexpr const char* kProvenancePath = "/v1/provenance";

std::string_view header(const HeaderList& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < k.size() && eq; ++i) {
      eq = std::tolower(static_cast<unsigned char>(k[i])) ==
           std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (eq) return v;
  }
  return {};
}

bool is_admin_path(const std::string& path) {
  return path == "/admin/pause" || path == "/admin/resume" || path == "/admin/keys/revoke" ||
         path == "/admin/status";
}

// Read-only routes (GET); the others of this file take a POST body.
bool is_get_path(const std::string& path) {
  return path == "/admin/status" || path == kProvenancePath;
}

// The scopes a key may hold to use a path (any one of them).
trust::Scope scope_for(const RequestInfo& info) {
  if (info.api || info.path == "/v1/feedback") return trust::kScopeInfer;
  if (is_admin_path(info.path)) return trust::kScopeAdmin;
  if (info.path == "/metrics") {
    return static_cast<trust::Scope>(trust::kScopeMetrics | trust::kScopeAdmin);
  }
  return static_cast<trust::Scope>(trust::kScopeInfer | trust::kScopeAdmin | trust::kScopeMetrics);
}

ApiError to_api_error(const trust::AuthDecision& d) {
  ApiError e;
  e.status = d.http_status;
  e.message = d.message;
  e.type = d.error_type;
  e.code = d.error_code;
  e.retry_after_s = static_cast<int>(d.retry_after_s);
  if (e.status == 429 && e.retry_after_s <= 0) e.retry_after_s = 1;
  return e;
}

HookResponse error_response(const ApiError& e) {
  HookResponse r;
  r.status = e.status;
  r.body = error_body(e);
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

HookResponse bad_body(std::string message, std::string param = "") {
  return error_response(bad_request(std::move(param), std::move(message)));
}

// An optional field of an admin body: absent is fine, any other type than `want` is an error.
std::optional<HookResponse> wrong_type(const json& j, const char* key, json::value_t want,
                                       const std::string& path) {
  auto it = j.find(key);
  if (it == j.end() || it->type() == want ||
      (want == json::value_t::number_integer && it->is_number_integer())) {
    return std::nullopt;
  }
  const char* name = want == json::value_t::boolean  ? "a boolean"
                     : want == json::value_t::string ? "a string"
                                                     : "an integer";
  return bad_body(path + ": \"" + key + "\" must be " + name, key);
}

// The prompt as text for the audit trail (hashed, redacted or dropped there per policy).
std::string prompt_text(const ApiRequest& req) {
  std::string out;
  for (const auto& m : req.messages) out += m.role + ": " + m.content + "\n";
  for (const auto& p : req.prompts) {
    if (const auto* s = std::get_if<std::string>(&p)) {
      out += *s;
    } else {
      for (int32_t id : std::get<std::vector<int32_t>>(p)) out += std::to_string(id) + " ";
    }
    out += "\n";
  }
  return out;
}

std::string sampling_json(const ApiRequest& req) {
  json j = {{"temperature", req.temperature},
            {"top_p", req.top_p},
            {"n", req.n},
            {"presence_penalty", req.presence_penalty},
            {"frequency_penalty", req.frequency_penalty},
            {"stream", req.stream}};
  if (req.max_tokens) j["max_tokens"] = *req.max_tokens;
  if (req.seed) j["seed"] = *req.seed;
  if (!req.stop.empty()) j["stop"] = req.stop;
  return dump_json(j);
}

// One request under the trust layer, from its header to its one audit row. Thread: the
// request's strand. Ownership: shared by the connection and the exchange; shares the layer.
class TrustSession : public RequestSession {
 public:
  TrustSession(std::shared_ptr<trust::TrustLayer> t, std::string model_sha, trust::Grant g)
      : trust_(std::move(t)), model_sha_(std::move(model_sha)), grant_(std::move(g)) {
    key_id_ = grant_.key_id();
  }

  const trust::Grant& grant() const { return grant_; }

  std::optional<ApiError> admit(const RequestInfo& /*info*/, const ApiRequest& req) override {
    prompt_ = prompt_text(req);
    sampling_ = sampling_json(req);
    trust::AuthDecision d = trust_->admit(grant_, trust::kScopeInfer);
    admitted_ = d.http_status == 200;
    if (!admitted_) return to_api_error(d);
    return std::nullopt;
  }

  std::optional<ApiError> check() const override {
    if (grant_.valid()) return std::nullopt;
    ApiError e;
    if (trust_->paused()) {
      e.status = 503;
      e.type = "service_unavailable";
      e.code = "paused";
      e.message = "generation was paused by the operator";
    } else {
      e.status = 403;
      e.type = "permission_error";
      e.code = "key_revoked";
      e.message = "the API key of this request was revoked";
    }
    return e;
  }

  void response_headers(const RequestInfo& info, HeaderList* headers) override {
    const trust::Policy& p = trust_->policy();
    if (!p.disclosure) return;
    headers->emplace_back(std::string(trust::kAiGeneratedHeader), "true");
    if (info.stream) {
      headers->emplace_back(std::string(trust::kProvenanceHeader),
                            trust::stream_header(facts(info), p.operator_name, p.deployment_id));
    }
  }

  void label_parts(std::string* prefix, std::string* suffix) override {
    const trust::Policy& p = trust_->policy();
    const std::string label = trust::label_text(p);
    if (label.empty()) return;
    if (p.label_placement == trust::LabelPlacement::kPrepend) *prefix = label + "\n\n";
    if (p.label_placement == trust::LabelPlacement::kAppend) *suffix = "\n\n" + label;
  }

  std::string sign_output(const RequestInfo& info, const std::string& text,
                          HeaderList* headers) override {
    if (!trust_->policy().disclosure) return {};
    trust::Provenance prov = trust_->sign(facts(info), text);
    signature_ = prov.signature;
    if (headers != nullptr) {
      headers->emplace_back(std::string(trust::kProvenanceHeader), trust::provenance_header(prov));
    }
    return trust::provenance_to_json(prov);
  }

  // The one audit row and the token charge. With audit on, the response's last bytes wait until
  // the row's batch is committed (group commit on the writer thread), so a kill -9 cannot lose
  // the record of a response the client saw complete.
  bool finish(const RequestInfo& info, const CompletionRecord& rec,
              std::function<void()> durable) override {
    if (finished_) return true;
    finished_ = true;
    trust::AuditRecord r = audit_record(info, rec);
    if (admitted_) {
      trust_->charge_tokens(grant_, static_cast<int64_t>(rec.prompt_tokens) +
                                        static_cast<int64_t>(rec.completion_tokens));
    }
    if (trust_->audit() == nullptr) {  // audit off: nothing to wait for
      trust_->record_async(std::move(r));
      return true;
    }
    trust_->record_async(std::move(r), std::move(durable));
    return false;
  }

 private:
  trust::AuditRecord audit_record(const RequestInfo& info, const CompletionRecord& rec) const {
    trust::AuditRecord r;
    r.request_id = rec.id;
    r.client = info.remote;
    r.endpoint = info.path;
    r.model = info.model;
    r.model_sha256 = model_sha_;
    r.prompt_tokens = rec.prompt_tokens;
    r.completion_tokens = rec.completion_tokens;
    r.latency_ms = static_cast<int64_t>(rec.e2e_ms);
    r.http_status = rec.status;
    if (!rec.finish_reasons.empty()) r.finish_reason = rec.finish_reasons[0];
    if (!rec.texts.empty()) r.output = rec.texts[0];
    r.key_id = key_id_;
    r.prompt = prompt_;
    r.sampling_json = sampling_;
    r.output_signature = signature_;
    if (!admitted_) {
      r.status = "rejected";
    } else if (rec.client_disconnected || r.finish_reason == "cancelled") {
      r.status = "cancelled";
    } else if (rec.status != 200) {
      r.status = "error";
    }
    return r;
  }

  trust::ProvenanceFacts facts(const RequestInfo& info) const {
    trust::ProvenanceFacts f;
    f.model = info.model;
    f.model_sha256 = model_sha_;
    f.request_id = info.response_id;
    f.created = info.created;
    return f;
  }

  std::shared_ptr<trust::TrustLayer> trust_;
  std::string model_sha_;
  trust::Grant grant_;
  std::string key_id_;
  bool admitted_ = false;  // false: denied by admit (429/503), audited as "rejected"
  bool finished_ = false;
  std::string prompt_, sampling_;
  std::string signature_;  // provenance signature, once signed
};

class TrustHooks : public ServerHooks {
 public:
  TrustHooks(std::shared_ptr<trust::TrustLayer> t, std::string sha)
      : trust_(std::move(t)), model_sha_(std::move(sha)), status_(trust_) {}

  // Header time: the caller's key (401 unknown/missing/revoked, 403 wrong scope). 401s leave no
  // audit row (the trust layer counts them as incidents): anonymous callers must not be able
  // to grow the audit trail.
  SessionOrError open(const RequestInfo& info) override {
    if (info.path == kProvenancePath) return std::shared_ptr<RequestSession>();
    trust::RequestMeta meta;
    meta.authorization = header(info.headers, "Authorization");
    // Anthropic's clients send the key as x-api-key.
    std::string from_x_api_key;
    if (meta.authorization.empty()) {
      const std::string_view k = header(info.headers, "x-api-key");
      if (!k.empty()) {
        from_x_api_key = "Bearer " + std::string(k);
        meta.authorization = from_x_api_key;
      }
    }
    meta.client = info.remote;
    meta.scope = scope_for(info);
    meta.endpoint = info.path;
    trust::AuthDecision d = trust_->authenticate(meta);
    if (d.http_status != 200) return to_api_error(d);
    return std::make_shared<TrustSession>(trust_, model_sha_, std::move(d.grant));
  }

  std::optional<HookResponse> handle_route(RequestSession* session, const RequestInfo& info,
                                           const std::string& body) override {
    const std::string& path = info.path;
    const bool admin = is_admin_path(path);
    if (!admin && path != "/v1/feedback" && path != kProvenancePath) return std::nullopt;
    const char* verb = is_get_path(path) ? "GET" : "POST";
    if (info.method != verb) {
      ApiError e;
      e.status = 405;
      e.message = std::string("use ") + verb + " for " + path;
      e.code = "method_not_allowed";
      HookResponse r = error_response(e);
      r.headers.emplace_back("Allow", verb);
      return r;
    }
    if (path == kProvenancePath) return json_response(provenance_info_json(*trust_));
    auto* st = static_cast<TrustSession*>(session);  // open() made every session of this hook
    const std::string key_id = st != nullptr ? st->grant().key_id() : std::string();
    if (admin && key_id.empty() && !is_loopback_peer(info.remote)) {
      ApiError e;
      e.status = 403;
      e.type = "permission_error";
      e.code = "insufficient_scope";
      e.message = path + " needs a key with the admin scope or a loopback client";
      return error_response(e);
    }
    if (path == "/admin/status") return json_response(status_.json_body());
    json j = body.empty() ? json::object() : json::parse(body, nullptr, false);
    if (!j.is_object()) return bad_body(path + ": the body must be a JSON object");
    const std::string actor = key_id.empty() ? "loopback" : "key:" + key_id;
    if (path == "/admin/pause") {
      if (auto r = wrong_type(j, "reason", json::value_t::string, path)) return r;
      if (auto r = wrong_type(j, "cancel_in_flight", json::value_t::boolean, path)) return r;
      return done(trust_->pause(actor, j.value("reason", std::string()),
                                j.value("cancel_in_flight", false)),
                  path);
    }
    if (path == "/admin/resume") return done(trust_->resume(actor), path);
    if (path == "/admin/keys/revoke") {
      if (!j.contains("key_id") || !j["key_id"].is_string()) {
        return bad_body("/admin/keys/revoke: \"key_id\" (string) is required", "key_id");
      }
      return done(trust_->revoke_key(actor, j["key_id"].get<std::string>()), path);
    }
    if (!j.contains("request_id") || !j["request_id"].is_string() || !j.contains("rating") ||
        !j["rating"].is_number_integer()) {
      return bad_body("/v1/feedback: \"request_id\" (string) and \"rating\" (integer) are needed");
    }
    if (auto r = wrong_type(j, "text", json::value_t::string, path)) return r;
    return done(trust_->record_feedback(j["request_id"].get<std::string>(), j["rating"].get<int>(),
                                        j.value("text", std::string())),
                path);
  }

  void on_tick() override { (void)trust_->refresh_revocations(); }

 private:
  HookResponse done(const Status& s, const std::string& path) {
    if (!s.ok()) return bad_body(path + ": " + s.message());
    HookResponse r;
    r.body = dump_json(json{{"ok", true}, {"paused", trust_->paused()}});
    return r;
  }

  static HookResponse json_response(std::string body) {
    HookResponse r;
    r.body = std::move(body);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }

  std::shared_ptr<trust::TrustLayer> trust_;
  std::string model_sha_;
  StatusView status_;
};

}  // namespace

std::shared_ptr<ServerHooks> make_trust_hooks(std::shared_ptr<trust::TrustLayer> trust,
                                              std::string model_sha256) {
  if (trust) trust->start_retention_timer();
  return std::make_shared<TrustHooks>(std::move(trust), std::move(model_sha256));
}

}  // namespace dari::server
