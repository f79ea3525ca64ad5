// TrustHooks: ServerHooks backed by the trust layer (see dari/server/trust_hooks.h).
#include "dari/server/trust_hooks.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "exchange.h"
#include "responses.h"

namespace dari::server {

namespace {

using json = nlohmann::json;

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

std::string path_of(const RequestInfo& info) {
  return info.target.substr(0, info.target.find('?'));
}

bool loopback(std::string_view remote) {
  return remote.rfind("127.", 0) == 0 || remote.rfind("::1", 0) == 0 ||
         remote.rfind("[::1]", 0) == 0 || remote.rfind("::ffff:127.", 0) == 0;
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

HookResponse bad_body(std::string message) {
  return error_response(bad_request("", std::move(message)));
}

// Optional fields of an admin body; a missing or mistyped field reads as empty / false.
std::string str_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
bool bool_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
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

// Per-request state: the grant polled by the exchange and what the audit row needs.
class TrustState : public RequestState {
 public:
  TrustState(trust::TrustLayer* t, trust::Grant g) : trust_(t), grant(std::move(g)) {}
  std::optional<ApiError> check() const override {
    if (grant.valid()) return std::nullopt;
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

  trust::TrustLayer* trust_;
  trust::Grant grant;
  bool admitted = false;  // false: denied by authorize (403/429/503), audited as "rejected"
  std::string prompt, sampling;
  std::string signature;  // provenance signature, once signed (strand of the request)
};

class TrustHooks : public ServerHooks {
 public:
  TrustHooks(std::shared_ptr<trust::TrustLayer> t, std::string sha)
      : trust_(std::move(t)), model_sha_(std::move(sha)) {}

  std::optional<ApiError> admit_request(RequestInfo& info, const ApiRequest& req) override {
    const std::string path = path_of(info);
    trust::RequestMeta meta;
    meta.authorization = header(info.headers, "Authorization");
    meta.client = info.remote;
    meta.scope = trust::kScopeInfer;
    meta.endpoint = path;
    trust::AuthDecision d = trust_->authorize(meta);
    // 401s (unknown callers) leave no audit row (the trust layer counts them as incidents);
    // other denials (scope, quota, pause) are audited as "rejected".
    if (d.http_status == 401) return to_api_error(d);
    const bool admitted = d.http_status == 200;
    std::optional<ApiError> denial;
    if (!admitted) denial = to_api_error(d);
    auto st = std::make_shared<TrustState>(trust_.get(), std::move(d.grant));
    st->admitted = admitted;
    st->prompt = prompt_text(req);
    st->sampling = sampling_json(req);
    info.state = std::move(st);
    return denial;
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

  void label_parts(const RequestInfo& /*info*/, std::string* prefix, std::string* suffix) override {
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
    if (auto* st = dynamic_cast<TrustState*>(info.state.get())) st->signature = prov.signature;
    if (headers != nullptr) {
      headers->emplace_back(std::string(trust::kProvenanceHeader), trust::provenance_header(prov));
    }
    return trust::provenance_to_json(prov);
  }

  void on_complete(const RequestInfo& info, const CompletionRecord& rec) override {
    if (auto r = audit_record(info, rec)) trust_->record_async(std::move(*r));
  }

  // The response's last bytes wait until the audit record is committed (group commit on the
  // writer thread), so a kill -9 cannot lose the record of a response the client saw complete.
  bool on_complete_durable(const RequestInfo& info, const CompletionRecord& rec,
                           std::function<void()> durable) override {
    auto r = audit_record(info, rec);
    if (!r) return true;
    if (trust_->audit() == nullptr) {  // audit off: nothing to wait for
      trust_->record_async(std::move(*r));
      return true;
    }
    trust_->record_async(std::move(*r), std::move(durable));
    return false;
  }

  std::optional<HookResponse> handle_route(const RequestInfo& info, const std::string& path,
                                           const std::string& body) override {
    const bool admin =
        path == "/admin/pause" || path == "/admin/resume" || path == "/admin/keys/revoke";
    if (!admin && path != "/v1/feedback") return std::nullopt;
    if (info.method != "POST") {
      ApiError e;
      e.status = 405;
      e.message = "use POST for " + path;
      e.code = "method_not_allowed";
      HookResponse r = error_response(e);
      r.headers.emplace_back("Allow", "POST");
      return r;
    }
    trust::RequestMeta meta;
    meta.authorization = header(info.headers, "Authorization");
    meta.client = info.remote;
    meta.scope = admin ? trust::kScopeAdmin : trust::kScopeInfer;
    meta.endpoint = path;
    trust::AuthDecision d = trust_->authorize(meta);
    // Feedback stays open while paused (the 503 of a pause is about generation).
    if (d.http_status == 503 && !admin) d.http_status = 200;
    if (d.http_status != 200) return error_response(to_api_error(d));
    if (admin && d.grant.key_id().empty() && !loopback(info.remote)) {
      ApiError e;
      e.status = 403;
      e.type = "permission_error";
      e.code = "insufficient_scope";
      e.message = path + " needs a key with the admin scope or a loopback client";
      return error_response(e);
    }
    json j = body.empty() ? json::object() : json::parse(body, nullptr, false);
    if (!j.is_object()) return bad_body(path + ": the body must be a JSON object");
    const std::string actor = d.grant.key_id().empty() ? "loopback" : "key:" + d.grant.key_id();
    Status s = Status::Ok();
    if (path == "/admin/pause") {
      s = trust_->pause(actor, str_field(j, "reason"), bool_field(j, "cancel_in_flight"));
    } else if (path == "/admin/resume") {
      s = trust_->resume(actor);
    } else if (path == "/admin/keys/revoke") {
      if (!j.contains("key_id") || !j["key_id"].is_string()) {
        return bad_body("/admin/keys/revoke: \"key_id\" (string) is required");
      }
      s = trust_->revoke_key(actor, j["key_id"].get<std::string>());
    } else {
      if (!j.contains("request_id") || !j["request_id"].is_string() || !j.contains("rating") ||
          !j["rating"].is_number_integer()) {
        return bad_body(
            "/v1/feedback: \"request_id\" (string) and \"rating\" (integer) are needed");
      }
      s = trust_->record_feedback(j["request_id"].get<std::string>(), j["rating"].get<int>(),
                                  str_field(j, "text"));
    }
    if (!s.ok()) return bad_body(path + ": " + s.message());
    HookResponse r;
    r.body = dump_json(json{{"ok", true}, {"paused", trust_->paused()}});
    return r;
  }

  void on_tick() override { (void)trust_->refresh_revocations(); }

 private:
  // The audit row of a finished request (and its token charge); nullopt when not audited.
  std::optional<trust::AuditRecord> audit_record(const RequestInfo& info,
                                                 const CompletionRecord& rec) {
    const auto* st = dynamic_cast<const TrustState*>(info.state.get());
    // Requests that never reached authorize (malformed, unknown model) or failed it with 401 are
    // not audited: anonymous callers must not be able to grow the audit trail.
    if (st == nullptr) return std::nullopt;
    trust::AuditRecord r;
    r.request_id = rec.id;
    r.client = info.remote;
    r.endpoint = path_of(info);
    r.model = info.model;
    r.model_sha256 = model_sha_;
    r.prompt_tokens = rec.prompt_tokens;
    r.completion_tokens = rec.completion_tokens;
    r.latency_ms = static_cast<int64_t>(rec.e2e_ms);
    r.http_status = rec.status;
    if (!rec.finish_reasons.empty()) r.finish_reason = rec.finish_reasons[0];
    if (!rec.texts.empty()) r.output = rec.texts[0];
    r.key_id = st->grant.key_id();
    r.prompt = st->prompt;
    r.sampling_json = st->sampling;
    r.output_signature = st->signature;
    if (!st->admitted) {
      r.status = "rejected";
    } else if (rec.client_disconnected || r.finish_reason == "cancelled") {
      r.status = "cancelled";
    } else if (rec.status != 200) {
      r.status = "error";
    }
    if (st->admitted) {
      trust_->charge_tokens(st->grant, static_cast<int64_t>(rec.prompt_tokens) +
                                           static_cast<int64_t>(rec.completion_tokens));
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
};

}  // namespace

std::shared_ptr<ServerHooks> make_trust_hooks(std::shared_ptr<trust::TrustLayer> trust,
                                              std::string model_sha256) {
  if (trust) trust->start_retention_timer();
  return std::make_shared<TrustHooks>(std::move(trust), std::move(model_sha256));
}

}  // namespace dari::server
