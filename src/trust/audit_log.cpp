// Hash-chained audit trail in SQLite: schema, append, request records, retention, incidents.
#include <mutex>
#include <nlohmann/json.hpp>

#include "trust/audit_internal.h"

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

const char* kSchema =
    "CREATE TABLE IF NOT EXISTS audit("
    "  seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    "  body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);";

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

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::string& path, const Policy& policy) {
  DARI_ASSIGN_OR_RETURN(sqlite3 * db, sql_open(path));
  auto impl = std::make_unique<Impl>();
  impl->db = db;
  impl->path = path;
  impl->policy = policy;
  DARI_TRY(sql_exec(db, kSchema, path + ": creating the audit schema"));
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AuditLog::~AuditLog() {
  sqlite3_close(impl_->db);
}
const Policy& AuditLog::policy() const {
  return impl_->policy;
}

std::string AuditLog::Impl::meta(const char* key, const std::string& fallback) {
  Stmt st(db, "SELECT v FROM meta WHERE k = ?");
  if (!st.ok()) return fallback;
  st.bind(1, key);
  return st.step() == SQLITE_ROW ? st.col_text(0) : fallback;
}

Status AuditLog::Impl::set_meta(const char* key, const std::string& value) {
  Stmt st(db, "INSERT INTO meta(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v");
  if (!st.ok()) return make_error(path + ": " + sqlite3_errmsg(db));
  st.bind(1, key).bind(2, value);
  if (st.step() != SQLITE_DONE) return make_error(path + ": meta: " + sqlite3_errmsg(db));
  return Status::Ok();
}

Status AuditLog::Impl::append_locked(std::string_view kind, std::string_view body,
                                     int64_t time_ms) {
  int64_t head_seq = 0;
  std::string head_hash;
  {
    Stmt st(db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!st.ok()) return make_error(path + ": " + sqlite3_errmsg(db));
    if (st.step() == SQLITE_ROW) {
      head_seq = st.col_int(0);
      head_hash = st.col_text(1);
    } else {
      head_seq = std::strtoll(meta("anchor_seq", "0").c_str(), nullptr, 10);
      head_hash = meta("anchor_hash", kGenesisHash);
    }
  }
  int64_t seq = head_seq + 1;
  std::string hash = chain_hash(head_hash, seq, kind, time_ms, body);
  Stmt ins(db, "INSERT INTO audit(seq, kind, time_ms, body, prev_hash, hash) VALUES(?,?,?,?,?,?)");
  if (!ins.ok()) return make_error(path + ": " + sqlite3_errmsg(db));
  ins.bind(1, seq).bind(2, kind).bind(3, time_ms).bind(4, body).bind(5, head_hash).bind(6, hash);
  if (ins.step() != SQLITE_DONE) return make_error(path + ": insert: " + sqlite3_errmsg(db));
  DARI_TRY(set_meta("head_seq", std::to_string(seq)));
  return set_meta("head_hash", hash);
}

Status AuditLog::Impl::in_transaction(const std::function<Status()>& fn) {
  DARI_TRY(sql_exec(db, "BEGIN IMMEDIATE", path + ": begin"));
  Status s = fn();
  if (!s.ok()) {
    (void)sql_exec(db, "ROLLBACK", path + ": rollback");
    return s;
  }
  return sql_exec(db, "COMMIT", path + ": commit");
}

Status AuditLog::append(std::string_view kind, std::string_view body_json, int64_t time_ms) {
  if (time_ms == 0) time_ms = system_now_ms();
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->in_transaction([&] { return impl_->append_locked(kind, body_json, time_ms); });
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
  std::vector<std::pair<std::string, int64_t>> rows;
  rows.reserve(records.size());
  int64_t now = system_now_ms();
  for (const AuditRecord& r : records) {
    rows.emplace_back(impl_->request_body(r), r.time_ms != 0 ? r.time_ms : now);
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->in_transaction([&]() -> Status {
    for (const auto& [body, t] : rows) DARI_TRY(impl_->append_locked("request", body, t));
    return Status::Ok();
  });
}

Result<int64_t> AuditLog::enforce_retention(int64_t now_ms) {
  const Policy& p = impl_->policy;
  if (p.retention_days <= 0) return int64_t{0};
  int64_t cutoff = now_ms - p.retention_days * 86400000;
  std::lock_guard<std::mutex> lock(impl_->mu);
  int64_t deleted = 0;
  Status s = impl_->in_transaction([&]() -> Status {
    sqlite3* db = impl_->db;
    Stmt q(db, "SELECT MIN(seq), MAX(seq) FROM audit WHERE time_ms < ?");
    q.bind(1, cutoff);
    if (q.step() != SQLITE_ROW || sqlite3_column_type(q.get(), 1) == SQLITE_NULL) {
      return Status::Ok();
    }
    int64_t last = q.col_int(1);
    Stmt first_q(db, "SELECT MIN(seq) FROM audit");
    (void)first_q.step();
    int64_t first = first_q.col_int(0);
    Stmt h(db, "SELECT hash FROM audit WHERE seq = ?");
    h.bind(1, last);
    if (h.step() != SQLITE_ROW) return make_error(impl_->path + ": retention: row vanished");
    std::string anchor_hash = h.col_text(0);
    Stmt del(db, "DELETE FROM audit WHERE seq <= ?");
    del.bind(1, last);
    if (del.step() != SQLITE_DONE) return make_error(impl_->path + ": retention delete failed");
    deleted = sqlite3_changes(db);
    DARI_TRY(impl_->set_meta("anchor_seq", std::to_string(last)));
    DARI_TRY(impl_->set_meta("anchor_hash", anchor_hash));
    json body{{"deleted_from", first}, {"deleted_to", last},
              {"count", deleted},      {"anchor_hash", anchor_hash},
              {"cutoff_ms", cutoff},   {"retention_days", p.retention_days}};
    return impl_->append_locked("retention", canonical_json(body), now_ms);
  });
  if (!s.ok()) return s.error();
  return deleted;
}

Result<std::vector<std::string>> AuditLog::incidents(int64_t since_ms) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt st(impl_->db,
          "SELECT seq, time_ms, body FROM audit WHERE kind = 'incident' AND time_ms >= ? "
          "ORDER BY seq");
  if (!st.ok()) return make_error(impl_->path + ": " + sqlite3_errmsg(impl_->db));
  st.bind(1, since_ms);
  std::vector<std::string> out;
  while (st.step() == SQLITE_ROW) {
    json j = json::parse(st.col_text(2), nullptr, false);
    json row{{"seq", st.col_int(0)}, {"time_ms", st.col_int(1)}, {"incident", j}};
    out.push_back(canonical_json(row));
  }
  return out;
}

}  // namespace dari::trust
