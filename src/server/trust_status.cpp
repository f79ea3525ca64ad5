// trust_status.h: the JSON of GET /v1/provenance and GET /admin/status.
#include "trust_status.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "responses.h"

namespace dari::server {

namespace {

using json = nlohmann::json;

constexpr int64_t kListDays = 30;  // incidents and feedback of the last month
constexpr size_t kMaxIncidents = 50;
constexpr size_t kMaxFeedback = 200;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Rows of `kind` as objects {"seq","time_ms", ...fields of the row's body}, newest first; an
// unreadable body becomes {"body": text}.
json recent_rows(trust::AuditLog* audit, const char* kind, size_t limit, const char* body_key) {
  json out = json::array();
  if (audit == nullptr) return out;
  auto rows = audit->recent(kind, now_ms() - kListDays * 86400000, limit);
  if (!rows.ok()) return out;
  for (const trust::AuditEntry& e : *rows) {
    json body = json::parse(e.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) body = json{{"body", e.body}};
    json row{{"seq", e.seq}, {"time_ms", e.time_ms}};
    if (body_key != nullptr) {
      row[body_key] = std::move(body);
    } else {
      for (auto& [k, v] : body.items()) row[k] = v;
    }
    out.push_back(std::move(row));
  }
  return out;
}

json keys_json(trust::TrustLayer& t) {
  json out = json::array();
  auto keys = t.list_keys();
  if (!keys.ok()) return out;
  const auto usage = t.key_usage();
  for (const trust::KeyInfo& k : *keys) {
    const auto it = usage.find(k.key_id);
    const trust::TrustLayer::KeyUsage u =
        it != usage.end() ? it->second : trust::TrustLayer::KeyUsage{};
    int64_t left = u.tokens_left_today;
    if (it == usage.end() && k.tokens_per_day > 0) left = k.tokens_per_day;  // not used yet
    out.push_back(json{{"key_id", k.key_id},
                       {"name", k.name},
                       {"scopes", trust::scopes_to_string(k.scopes)},
                       {"revoked", k.revoked_ms != 0},
                       {"created_ms", k.created_ms},
                       {"requests_per_minute", k.requests_per_minute},
                       {"tokens_per_day", k.tokens_per_day},
                       {"requests", u.requests},
                       {"tokens_charged", u.tokens_charged},
                       {"tokens_left_today", left}});
  }
  return out;
}

}  // namespace

std::string provenance_info_json(const trust::TrustLayer& t) {
  const trust::Policy& p = t.policy();
  json j{{"algorithm", "Ed25519"},
         {"key_id", t.signing_key().key_id()},
         {"public_key", t.signing_key().public_key_base64()},
         {"operator", p.operator_name},
         {"deployment_id", p.deployment_id},
         {"disclosure", p.disclosure},
         {"label", json{{"en", p.label_en}, {"ko", p.label_ko}}}};
  return dump_json(j);
}

json StatusView::audit_json(int64_t now) {
  trust::AuditLog* audit = trust_->audit();
  if (audit == nullptr) return json{{"enabled", false}};
  std::lock_guard<std::mutex> lock(mu_);
  if (checked_ms_ < 0 || now - checked_ms_ >= kAuditCheckEveryMs) {
    report_ = audit->verify();
    checked_ms_ = now;
  }
  return json{{"enabled", true},
              {"ok", report_.ok},
              {"rows", report_.rows},
              {"verified_to_seq", report_.last_good_seq},
              {"bad_seq", report_.bad_seq},
              {"message", report_.message},
              {"checked_ms", checked_ms_}};
}

std::string StatusView::json_body() {
  const trust::Policy& p = trust_->policy();
  json j{{"paused", trust_->paused()},
         {"pause_reason", trust_->pause_reason()},
         {"operator", p.operator_name},
         {"deployment_id", p.deployment_id},
         {"require_keys", trust::key_requirement_name(p.require_keys)},
         {"audit", audit_json(now_ms())},
         {"keys", keys_json(*trust_)},
         {"incidents", recent_rows(trust_->audit(), "incident", kMaxIncidents, "incident")},
         {"feedback", recent_rows(trust_->audit(), "feedback", kMaxFeedback, nullptr)}};
  return dump_json(j);
}

}  // namespace dari::server
