// TrustLayer: the server-facing facade (authorization, quotas, signing, audit, oversight).
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "trust/incidents.h"
#include "trust/internal.h"
#include "trust/webhook.h"

namespace dari::trust {

using nlohmann::json;

namespace {

bool is_loopback(std::string_view a) {
  if (a.rfind("[::1]", 0) == 0 || a.rfind("[::ffff:127.", 0) == 0) return true;  // with port
  return a.rfind("127.", 0) == 0 || a == "::1" || a.rfind("::ffff:127.", 0) == 0 ||
         a == "localhost";
}

std::string_view bearer_token(std::string_view h) {
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  if (h.size() < 7) return {};
  std::string scheme(h.substr(0, 7));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "bearer ") return {};
  h.remove_prefix(7);
  while (!h.empty() && (h.front() == ' ')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\r')) h.remove_suffix(1);
  return h;
}

// Token bucket: `level` units, refilled at `rate` units per ms up to `capacity`.
struct Bucket {
  double level = 0, capacity = 0, rate = 0;
  int64_t last_ms = 0;
  void refill(int64_t now) {
    if (now > last_ms)
      level = std::min(capacity, level + rate * static_cast<double>(now - last_ms));
    last_ms = now;
  }
  int64_t seconds_until(double need) const {  // until level >= need
    if (rate <= 0) return 86400;
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((need - level) / rate / 1000.0)));
  }
};

struct KeyState {
  std::shared_ptr<std::atomic<bool>> revoked = std::make_shared<std::atomic<bool>>(false);
  bool limit_requests = false, limit_tokens = false;
  Bucket requests, tokens;
  int64_t charged = 0;   // tokens charged since the layer opened
  int64_t admitted = 0;  // requests admitted since the layer opened
};

// The key id of a token shaped like an API key ("dari_<16 hex>_..."), else "".
std::string token_key_id(std::string_view token) {
  if (token.size() < 23 || token.substr(0, 5) != "dari_" || token[21] != '_') return {};
  for (char c : token.substr(5, 16)) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
  }
  return std::string(token.substr(5, 16));
}

struct Queued {
  AuditRecord record;
  std::function<void()> on_durable;  // may be empty
};

}  // namespace

bool Grant::valid() const noexcept {
  if (revoked_ && revoked_->load(std::memory_order_relaxed)) return false;
  return !cancel_epoch_ || cancel_epoch_->load(std::memory_order_relaxed) == epoch_;
}

std::string AuthDecision::error_json() const {
  std::string code = http_status == 401   ? "invalid_api_key"
                     : http_status == 403 ? "insufficient_scope"
                     : http_status == 429 ? "rate_limit_exceeded"
                     : http_status == 503 ? "service_paused"
                                          : "error";
  return canonical_json(
      json{{"error",
            json{{"message", message}, {"type", error_type}, {"code", code}, {"param", nullptr}}}});
}

struct TrustLayer::Impl {
  Policy policy;
  TrustOptions options;
  SigningKey key;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<KeyStore> keys;
  std::atomic<bool> paused{false};
  std::shared_ptr<std::atomic<uint64_t>> cancel_epoch = std::make_shared<std::atomic<uint64_t>>(0);
  std::shared_ptr<std::atomic<bool>> never_revoked = std::make_shared<std::atomic<bool>>(false);
  std::mutex mu;  // guards the maps and pause_reason
  std::string pause_reason;
  std::map<std::string, KeyState, std::less<>> states;
  std::unique_ptr<IncidentMonitor> monitor;
  std::unique_ptr<WebhookSender> webhook;  // null without [incidents].webhook_url

  // Async audit writer (started on first record_async).
  std::mutex qmu;
  std::condition_variable qcv, done_cv;
  std::deque<Queued> queue;
  uint64_t queued = 0, committed = 0;
  bool stopping = false;
  Status first_error;
  std::thread writer;

  // Retention timer (start_retention_timer).
  std::mutex rmu;
  std::condition_variable rcv;
  bool retention_stop = false;
  std::atomic<uint64_t> retention_runs{0};
  std::thread retention;

  void writer_loop() {
    std::unique_lock<std::mutex> lock(qmu);
    for (;;) {
      qcv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) return;
      std::vector<Queued> batch(std::make_move_iterator(queue.begin()),
                                std::make_move_iterator(queue.end()));
      queue.clear();
      lock.unlock();
      std::vector<AuditRecord> records;
      records.reserve(batch.size());
      for (Queued& q : batch) records.push_back(std::move(q.record));
      Status s = audit->record_batch(records);  // one transaction, one fsync
      if (!s.ok()) std::fprintf(stderr, "dari: audit: %s\n", s.message().c_str());
      // Durable (or failed) now: release the responses that waited for it.
      for (Queued& q : batch) {
        if (q.on_durable) q.on_durable();
      }
      lock.lock();
      if (!s.ok() && first_error.ok()) first_error = s;
      committed += batch.size();
      done_cv.notify_all();
    }
  }
  void retention_loop() {
    const auto interval = std::chrono::seconds(policy.retention_interval_s);
    std::unique_lock<std::mutex> lock(rmu);
    while (!retention_stop) {
      lock.unlock();
      auto n = audit->enforce_retention(now());
      if (!n.ok()) std::fprintf(stderr, "dari: retention: %s\n", n.message().c_str());
      retention_runs.fetch_add(1);
      lock.lock();
      rcv.wait_for(lock, interval, [&] { return retention_stop; });
    }
  }
  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(rmu);
      retention_stop = true;
    }
    rcv.notify_all();
    if (retention.joinable()) retention.join();
    {
      std::lock_guard<std::mutex> lock(qmu);
      stopping = true;
    }
    qcv.notify_all();
    if (writer.joinable()) writer.join();
    webhook.reset();  // after the writer: its incidents may still post
  }

  int64_t now() const { return options.clock_ms ? options.clock_ms() : system_now_ms(); }
  Status admin(std::string_view actor, json detail) {
    detail["actor"] = actor;
    if (!audit) return Status::Ok();
    return audit->append("admin", canonical_json(detail), now());
  }
  AuthDecision deny(int status, std::string type, std::string msg) {
    AuthDecision d;
    d.http_status = status;
    d.error_code = status == 401   ? "invalid_api_key"
                   : status == 403 ? "insufficient_scope"
                   : status == 429 ? "rate_limit_exceeded"
                   : status == 503 ? "service_paused"
                                   : "server_error";
    d.error_type = std::move(type);
    d.message = std::move(msg);
    return d;
  }
  void auth_failure(TrustLayer* self, std::string_view client, std::string_view token) {
    if (auto detail = monitor->auth_failure(client, token_key_id(token), now())) {
      (void)self->record_incident("repeated_auth_failures", *detail);
    }
  }
  // Incidents a finished request raises: its own failure (5xx) and an error burst.
  void request_incidents(TrustLayer* self, const AuditRecord& r) {
    if (r.status != "error") return;
    if (r.http_status >= 500) (void)self->record_incident("request_failure", r.error, r.request_id);
    if (auto detail = monitor->request_error(now())) {
      (void)self->record_incident("error_burst", *detail);
    }
  }
};

TrustLayer::TrustLayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrustLayer::~TrustLayer() = default;
const Policy& TrustLayer::policy() const {
  return impl_->policy;
}
const SigningKey& TrustLayer::signing_key() const {
  return impl_->key;
}
AuditLog* TrustLayer::audit() {
  return impl_->audit.get();
}
bool TrustLayer::paused() const {
  return impl_->paused.load();
}

std::string TrustLayer::pause_reason() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->paused.load() ? impl_->pause_reason : std::string();
}

Result<std::unique_ptr<TrustLayer>> TrustLayer::open(Policy policy, TrustOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->policy = std::move(policy);
  impl->options = std::move(options);
  const Policy& p = impl->policy;
  if (p.disclosure) {
    std::error_code ec;
    if (!std::filesystem::exists(p.signing_key_file, ec) && impl->options.create_signing_key) {
      DARI_ASSIGN_OR_RETURN(SigningKey k, SigningKey::generate());
      DARI_TRY(k.save(p.signing_key_file));
    }
    DARI_ASSIGN_OR_RETURN(impl->key, SigningKey::load(p.signing_key_file));
  } else {
    DARI_ASSIGN_OR_RETURN(impl->key, SigningKey::generate());  // ephemeral, never saved
  }
  if (p.audit) {
    DARI_ASSIGN_OR_RETURN(impl->audit, AuditLog::open(p.audit_db, p));
  }
  IncidentThresholds th;
  th.auth_failures = p.auth_failures_per_minute;
  th.error_burst = p.error_burst_count;
  th.error_window_ms = int64_t{p.error_burst_window_s} * 1000;
  impl->monitor = std::make_unique<IncidentMonitor>(th);
  if (!p.incident_webhook.empty()) {
    WebhookOptions wo;
    wo.url = p.incident_webhook;
    wo.timeout_ms = p.webhook_timeout_ms;
    wo.retries = p.webhook_retries;
    auto w = WebhookSender::start(std::move(wo));
    if (!w.ok()) return make_error("[incidents].webhook_url: " + w.message());
    impl->webhook = std::move(w).value();
  }
  DARI_ASSIGN_OR_RETURN(impl->keys, KeyStore::open(p.keys_db));
  return std::unique_ptr<TrustLayer>(new TrustLayer(std::move(impl)));
}

AuthDecision TrustLayer::authenticate(const RequestMeta& meta) {
  Impl& m = *impl_;
  std::string_view token = bearer_token(meta.authorization);
  bool required =
      m.policy.require_keys == KeyRequirement::kAlways ||
      (m.policy.require_keys == KeyRequirement::kNonLoopback && !is_loopback(meta.client));
  AuthDecision ok;
  ok.grant.cancel_epoch_ = m.cancel_epoch;
  ok.grant.epoch_ = m.cancel_epoch->load();
  ok.grant.revoked_ = m.never_revoked;
  if (token.empty()) {
    if (!required) return ok;
    m.auth_failure(this, meta.client, token);
    return m.deny(401, "invalid_request_error",
                  "an API key is required: send \"Authorization: Bearer <key>\"");
  }
  auto found = m.keys->lookup(token);
  if (!found.ok()) return m.deny(500, "server_error", "key store: " + found.message());
  if (!found->has_value() && !required) {
    // No key configured yet: clients that insist on sending some token (the OpenAI SDKs need
    // one; "sk-no-key-required" is the usual placeholder) are served like keyless ones. Once a
    // key exists, every token is checked.
    auto none = m.keys->empty();
    if (!none.ok()) return m.deny(500, "server_error", "key store: " + none.message());
    if (*none) return ok;
  }
  if (!found->has_value()) {
    m.auth_failure(this, meta.client, token);
    return m.deny(401, "invalid_request_error", "invalid API key");
  }
  const KeyInfo& k = **found;
  if (k.revoked_ms != 0) {
    m.auth_failure(this, meta.client, token);
    std::lock_guard<std::mutex> lock(m.mu);
    auto it = m.states.find(k.key_id);
    if (it != m.states.end()) it->second.revoked->store(true);
    AuthDecision d =
        m.deny(401, "invalid_request_error", "API key " + k.key_id + " has been revoked");
    d.key_id = k.key_id;
    return d;
  }
  if ((k.scopes & meta.scope) == 0) {
    AuthDecision d = m.deny(403, "permission_error",
                            "API key " + k.key_id + " lacks the \"" +
                                scopes_to_string(meta.scope) + "\" scope needed for " +
                                std::string(meta.endpoint));
    d.key_id = k.key_id;
    return d;
  }
  ok.grant.key_id_ = k.key_id;
  ok.key_id = k.key_id;
  std::lock_guard<std::mutex> lock(m.mu);
  auto [it, fresh] = m.states.try_emplace(k.key_id);
  KeyState& s = it->second;
  if (fresh) {
    const int64_t t = m.now();
    s.limit_requests = k.requests_per_minute > 0;
    s.requests = Bucket{static_cast<double>(k.requests_per_minute),
                        static_cast<double>(k.requests_per_minute),
                        static_cast<double>(k.requests_per_minute) / 60000.0, t};
    s.limit_tokens = k.tokens_per_day > 0;
    s.tokens = Bucket{static_cast<double>(k.tokens_per_day), static_cast<double>(k.tokens_per_day),
                      static_cast<double>(k.tokens_per_day) / 86400000.0, t};
  }
  ok.grant.revoked_ = s.revoked;
  return ok;
}

AuthDecision TrustLayer::admit(const Grant& grant, Scope scope) {
  Impl& m = *impl_;
  AuthDecision ok;
  ok.grant = grant;
  ok.key_id = grant.key_id();
  if (scope != kScopeInfer) return ok;
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.paused.load()) {
    AuthDecision d = m.deny(503, "service_unavailable",
                            "generation is paused by the operator" +
                                (m.pause_reason.empty() ? std::string() : ": " + m.pause_reason));
    d.key_id = grant.key_id();
    return d;
  }
  if (grant.key_id().empty()) return ok;
  auto it = m.states.find(grant.key_id());
  if (it == m.states.end()) return ok;
  KeyState& s = it->second;
  const int64_t t = m.now();
  s.requests.refill(t);
  s.tokens.refill(t);
  if (s.limit_tokens && s.tokens.level < 1) {
    AuthDecision d = m.deny(429, "rate_limit_exceeded",
                            "API key " + grant.key_id() + " has used its tokens for the day");
    d.retry_after_s = s.tokens.seconds_until(1);
    d.key_id = grant.key_id();
    return d;
  }
  if (s.limit_requests && s.requests.level < 1) {
    AuthDecision d = m.deny(429, "rate_limit_exceeded",
                            "API key " + grant.key_id() + " exceeded " +
                                std::to_string(static_cast<int64_t>(s.requests.capacity)) +
                                " requests per minute");
    d.retry_after_s = s.requests.seconds_until(1);
    d.key_id = grant.key_id();
    return d;
  }
  if (s.limit_requests) s.requests.level -= 1;
  ++s.admitted;
  return ok;
}

AuthDecision TrustLayer::authorize(const RequestMeta& meta) {
  AuthDecision d = authenticate(meta);
  if (d.http_status != 200) return d;
  return admit(d.grant, meta.scope);
}

void TrustLayer::charge_tokens(const Grant& g, int64_t tokens) {
  if (g.key_id().empty() || tokens <= 0) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->states.find(g.key_id());
  if (it == impl_->states.end()) return;
  it->second.charged += tokens;
  if (!it->second.limit_tokens) return;
  it->second.tokens.refill(impl_->now());
  it->second.tokens.level -= static_cast<double>(tokens);
}

int64_t TrustLayer::tokens_charged(const std::string& key_id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->states.find(key_id);
  return it == impl_->states.end() ? 0 : it->second.charged;
}

std::map<std::string, TrustLayer::KeyUsage> TrustLayer::key_usage() const {
  std::map<std::string, KeyUsage> out;
  std::lock_guard<std::mutex> lock(impl_->mu);
  const int64_t t = impl_->now();
  for (auto& [id, s] : impl_->states) {
    KeyUsage u;
    u.requests = s.admitted;
    u.tokens_charged = s.charged;
    if (s.limit_tokens) {
      Bucket b = s.tokens;  // a copy: looking must not move the bucket's clock
      b.refill(t);
      u.tokens_left_today = std::max<int64_t>(0, static_cast<int64_t>(b.level));
    }
    out.emplace(id, u);
  }
  return out;
}

Provenance TrustLayer::sign(const ProvenanceFacts& facts, std::string_view delivered_text) const {
  return sign_provenance(impl_->key, facts, impl_->policy.operator_name,
                         impl_->policy.deployment_id, delivered_text);
}

Status TrustLayer::record(AuditRecord r) {
  if (r.time_ms == 0) r.time_ms = impl_->now();
  impl_->request_incidents(this, r);
  if (!impl_->audit) return Status::Ok();
  return impl_->audit->record(r);
}

void TrustLayer::record_async(AuditRecord r, std::function<void()> on_durable) {
  Impl& m = *impl_;
  if (r.time_ms == 0) r.time_ms = m.now();
  m.request_incidents(this, r);
  if (!m.audit) return;
  std::lock_guard<std::mutex> lock(m.qmu);
  if (!m.writer.joinable()) m.writer = std::thread([&m] { m.writer_loop(); });
  m.queue.push_back(Queued{std::move(r), std::move(on_durable)});
  ++m.queued;
  m.qcv.notify_one();
}

void TrustLayer::start_retention_timer() {
  Impl& m = *impl_;
  if (!m.audit || m.policy.retention_days <= 0) return;
  std::lock_guard<std::mutex> lock(m.rmu);
  if (m.retention.joinable() || m.retention_stop) return;
  m.retention = std::thread([&m] { m.retention_loop(); });
}

uint64_t TrustLayer::retention_runs() const {
  return impl_->retention_runs.load();
}

Status TrustLayer::flush() {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.qmu);
  uint64_t target = m.queued;
  m.done_cv.wait(lock, [&] { return m.committed >= target; });
  return m.first_error;
}

Status TrustLayer::record_incident(std::string_view kind, std::string_view detail,
                                   std::string_view request_id) {
  std::string d = impl_->policy.redact_pii ? redact_pii(detail) : std::string(detail);
  std::string body = canonical_json(json{{"kind", kind},
                                         {"detail", d},
                                         {"request_id", request_id},
                                         {"deployment_id", impl_->policy.deployment_id}});
  Status s = impl_->audit ? impl_->audit->append("incident", body, impl_->now()) : Status::Ok();
  if (impl_->options.on_incident) impl_->options.on_incident(body);
  if (impl_->webhook) impl_->webhook->post(body);
  return s;
}

Status TrustLayer::record_feedback(std::string_view request_id, int rating, std::string_view text) {
  if (request_id.empty()) return make_error("feedback: request_id must not be empty");
  if (rating < -1 || rating > 5) return make_error("feedback: rating must be between -1 and 5");
  if (text.size() > 16384) return make_error("feedback: text longer than 16384 bytes");
  if (!impl_->audit) return Status::Ok();
  std::string t = impl_->policy.redact_pii ? redact_pii(text) : std::string(text);
  return impl_->audit->append(
      "feedback", canonical_json(json{{"request_id", request_id}, {"rating", rating}, {"text", t}}),
      impl_->now());
}

Status TrustLayer::pause(std::string_view actor, std::string_view reason, bool cancel_in_flight) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->pause_reason = reason;
  }
  impl_->paused.store(true);
  if (cancel_in_flight) impl_->cancel_epoch->fetch_add(1);
  return impl_->admin(
      actor, json{{"action", "pause"}, {"reason", reason}, {"cancel_in_flight", cancel_in_flight}});
}

Status TrustLayer::resume(std::string_view actor) {
  impl_->paused.store(false);
  return impl_->admin(actor, json{{"action", "resume"}});
}

Result<std::string> TrustLayer::create_key(std::string_view actor, KeyInfo info) {
  DARI_ASSIGN_OR_RETURN(std::string token, impl_->keys->create(info));
  DARI_TRY(impl_->admin(actor, json{{"action", "create_key"},
                                    {"key_id", token.substr(5, 16)},
                                    {"name", info.name},
                                    {"scopes", scopes_to_string(info.scopes)}}));
  return token;
}

Status TrustLayer::revoke_key(std::string_view actor, std::string_view key_id) {
  DARI_TRY(impl_->keys->revoke(key_id, impl_->now()));
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->states.find(key_id);
    if (it != impl_->states.end()) it->second.revoked->store(true);
  }
  return impl_->admin(actor, json{{"action", "revoke_key"}, {"key_id", key_id}});
}

Result<std::vector<KeyInfo>> TrustLayer::list_keys() {
  return impl_->keys->list();
}

Status TrustLayer::refresh_revocations() {
  DARI_ASSIGN_OR_RETURN(std::vector<KeyInfo> all, impl_->keys->list());
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (const KeyInfo& k : all) {
    if (k.revoked_ms == 0) continue;
    auto it = impl_->states.find(k.key_id);
    if (it != impl_->states.end()) it->second.revoked->store(true);
  }
  return Status::Ok();
}

}  // namespace dari::trust
