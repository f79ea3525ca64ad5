// Hash-chained audit trail, backend-neutral part: opening the store the policy names, request
// records, retention, incidents. The storage is in audit_sqlite.cpp and audit_postgres.cpp.
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>

#include "trust/audit_internal.h"
#include "trust/postgres_util.h"

namespace dari::trust {

using nlohmann::json;

const std::string kGenesisHash(64, '0');

std::string chain_hash(std::string_view prev_hash, int64_t seq, std::string_view kind,
                       int64_t time_ms, std::string_view body) {
  std::string m;
  m.reserve(prev_hash.size() + kind.size() + body.size() + 48);
  m.append(prev_hash).append("\n").append(std::to_string(seq)).append("\n");
  m.append(kind).append("\n").append(std::to_string(time_ms)).append("\n").append(body);
  return sha256_hex(m);
}

namespace {

std::string stored_text(ContentStorage how, bool redact, const std::string& raw, json& body,
                        const char* name) {
  switch (how) {
    case ContentStorage::kNone:
      return {};
    case ContentStorage::kHash:
      body[std::string(name) + "_sha256"] = sha256_hex(raw);
      return {};
    case ContentStorage::kFull:
      body[std::string(name) + "_sha256"] = sha256_hex(raw);
      body[name] = redact ? redact_pii(raw) : raw;
      return {};
  }
  return {};
}

json explanation_json(const AuditRecord& r, int32_t top_k) {
  json toks = json::array();
  for (const TokenExplanation& t : r.tokens) {
    json top = json::array();
    for (size_t i = 0; i < t.top.size() && i < static_cast<size_t>(top_k); ++i) {
      top.push_back(json::array({t.top[i].first, t.top[i].second}));
    }
    toks.push_back(json{{"t", t.text}, {"lp", t.logprob}, {"top", std::move(top)}});
  }
  return json{{"template_sha256", r.template_sha256}, {"tokens", std::move(toks)}};
}

}  // namespace

AuditRow chain_next(int64_t head_seq, std::string_view head_hash, const NewRow& row) {
  AuditRow r;
  r.seq = head_seq + 1;
  r.time_ms = row.time_ms;
  r.kind = row.kind;
  r.body = row.body;
  r.prev_hash = std::string(head_hash);
  r.hash = chain_hash(head_hash, r.seq, r.kind, r.time_ms, r.body);
  return r;
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path, const Policy& policy) {
  auto impl = std::make_unique<Impl>();
  bool postgres = policy.audit_backend == AuditBackend::kPostgresql || is_postgres_url(path);
  if (postgres) {
    DARI_ASSIGN_OR_RETURN(impl->store, open_postgres_store(path));
  } else {
    DARI_ASSIGN_OR_RETURN(impl->store, open_sqlite_store(path));
  }
  impl->policy = policy;
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditLog::~AuditLog() = default;
const Policy& AuditLog::policy() const {
  return impl_->policy;
}
const std::string& AuditLog::location() const {
  return impl_->store->name();
}

Status AuditLog::append(std::string_view kind, std::string_view body_json, int64_t time_ms) {
  if (time_ms == 0) time_ms = system_now_ms();
  std::vector<NewRow> rows{{std::string(kind), std::string(body_json), time_ms}};
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->store->append(rows);
}

std::string AuditLog::Impl::request_body(const AuditRecord& r) const {
  const Policy& p = policy;
  json body{{"request_id", r.request_id},
            {"key_id", r.key_id},
            {"client", r.client},
            {"endpoint", r.endpoint},
            {"model", r.model},
            {"model_sha256", r.model_sha256},
            {"prompt_tokens", r.prompt_tokens},
            {"completion_tokens", r.completion_tokens},
            {"latency_ms", r.latency_ms},
            {"status", r.status},
            {"http_status", r.http_status},
            {"finish_reason", r.finish_reason}};
  if (!r.sampling_json.empty()) {
    json s = json::parse(r.sampling_json, nullptr, false);
    body["sampling"] = s.is_discarded() ? json(r.sampling_json) : s;
  }
  if (!r.error.empty()) body["error"] = p.redact_pii ? redact_pii(r.error) : r.error;
  if (!r.output_signature.empty()) body["output_signature"] = r.output_signature;
  (void)stored_text(p.store_prompts, p.redact_pii, r.prompt, body, "prompt");
  (void)stored_text(p.store_outputs, p.redact_pii, r.output, body, "output");
  if (p.explanations && (!r.template_sha256.empty() || !r.tokens.empty())) {
    body["explanation"] = explanation_json(r, p.explanation_top_k);
  }
  return canonical_json(body);
}

Status AuditLog::record(const AuditRecord& r) {
  return append("request", impl_->request_body(r), r.time_ms);
}

Status AuditLog::record_batch(const std::vector<AuditRecord>& records) {
  std::vector<NewRow> rows;
  rows.reserve(records.size());
  int64_t now = system_now_ms();
  for (const AuditRecord& r : records) {
    rows.push_back({"request", impl_->request_body(r), r.time_ms != 0 ? r.time_ms : now});
  }
  if (rows.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->store->append(rows);
}

Result<int64_t> AuditLog::enforce_retention(int64_t now_ms) {
  const Policy& p = impl_->policy;
  if (p.retention_days <= 0) return int64_t{0};
  int64_t cutoff = now_ms - p.retention_days * 86400000;  // retention_days <= 36500: no overflow
  auto body = [&](const PrefixFacts& f) {
    json b{{"deleted_from", f.first}, {"deleted_to", f.last},
           {"count", f.count},        {"anchor_hash", f.anchor_hash},
           {"cutoff_ms", cutoff},     {"retention_days", p.retention_days}};
    return canonical_json(b);
  };
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->store->delete_prefix(cutoff, now_ms, body);
}

Result<std::vector<std::string>> AuditLog::incidents(int64_t since_ms) {
  RowQuery q;
  q.since_ms = since_ms;
  q.kind = "incident";
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(impl_->mu);
  DARI_TRY(impl_->store->scan(q, nullptr, [&](const AuditRow& r) {
    json j = json::parse(r.body, nullptr, false);
    json row{{"seq", r.seq}, {"time_ms", r.time_ms}, {"incident", j}};
    out.push_back(canonical_json(row));
    return true;
  }));
  return out;
}

Result<std::vector<AuditEntry>> AuditLog::recent(std::string_view kind, int64_t since_ms,
                                                 size_t limit) {
  RowQuery q;
  q.since_ms = since_ms;
  q.kind = std::string(kind);
  std::deque<AuditEntry> last;  // the newest `limit` rows seen so far, oldest first
  std::lock_guard<std::mutex> lock(impl_->mu);
  DARI_TRY(impl_->store->scan(q, nullptr, [&](const AuditRow& r) {
    if (limit == 0) return false;
    if (last.size() == limit) last.pop_front();
    last.push_back(AuditEntry{r.seq, r.time_ms, r.body});
    return true;
  }));
  return std::vector<AuditEntry>(last.rbegin(), last.rend());
}

}  // namespace dari::trust
