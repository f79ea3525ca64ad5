// dari trust layer: deployment policy, disclosure labels, signed provenance, hash-chained audit
// trail, API keys with scopes and quotas, incident log, human oversight (pause / revoke).
//
// The HTTP server calls it through a few hooks (see docs/TRUST.md for the wiring):
//   1. startup:     policy = load_policy(file) or default_policy();
//                   trust = TrustLayer::open(policy, options);  model_sha = sha256_file_hex(gguf)
//   2. per request: AuthDecision d = trust->authenticate({authorization, client, endpoint})
//                   when the header has arrived (401/403 before the body is read), then
//                   d = trust->admit(d.grant, scope) once the request is parsed (pause, quotas;
//                   authorize() does both at once); if (d.http_status != 200) reply
//                   d.http_status with d.error_json() and, for 429, "Retry-After: d.retry_after_s".
//   3. while generating (each step or chunk): if (!d.grant.valid()) stop with finish "cancelled"
//                   (key revoked or operator paused with cancellation): two atomic loads.
//   4. on completion: Provenance p = trust->sign(facts, delivered_text);
//                   headers: X-AI-Generated: true, X-AI-Provenance: provenance_header(p);
//                   body: "provenance": provenance_to_json(p).  Streaming: stream_header(facts)
//                   as the header (unsigned: the text does not exist yet) and the signed
//                   provenance in the final chunk.
//   5. after the reply (success, failure or cancellation): trust->record(audit_record);
//                   trust->charge_tokens(d.grant, completion + prompt tokens).
//   6. admin endpoints: pause / resume / revoke_key / create_key / incidents / feedback.
//
// Thread safety: TrustLayer is safe to call from any number of threads (internal mutexes for
// the quota buckets and the databases; atomics for pause and revocation). Free functions are
// pure. Errors travel as Result/Status; no exception leaves this header's functions.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"

namespace dari::trust {

// ---------------------------------------------------------------------------------------------
// Policy (TOML). Every field has a default; default_policy() is what `dari serve` uses without
// --policy: disclosure on, audit on (hashes only), keys required only off loopback.

enum class LabelPlacement { kNone, kPrepend, kAppend };
enum class ContentStorage { kNone, kHash, kFull };  // how prompts/outputs reach the audit db
enum class KeyRequirement { kNever, kNonLoopback, kAlways };
enum class AuditBackend { kSqlite, kPostgresql };

struct Policy {
  // [operator]
  std::string operator_name = "unnamed operator";
  std::string deployment_id = "dari-default";
  std::string domain = "general";  // use-case domain, e.g. "hiring", "lending", "healthcare"
  bool high_impact = false;        // forces audit, explanations, full oversight (Art. 34)
  // [disclosure]
  bool disclosure = true;  // X-AI-Generated + signed provenance on every generation response
  LabelPlacement label_placement = LabelPlacement::kNone;
  std::string label_language = "ko";  // "ko", "en" or "both"
  std::string label_ko = "[AI 생성] 이 응답은 인공지능이 생성했습니다.";
  std::string label_en = "[AI-generated] This response was produced by an AI system.";
  std::string signing_key_file = "dari-operator.key";  // Ed25519 PKCS#8 PEM, mode 0600
  // [audit]
  bool audit = true;
  AuditBackend audit_backend = AuditBackend::kSqlite;  // "postgresql" for several instances
  // SQLite: a file. PostgreSQL: a libpq connection string, URL ("postgresql://user@host/db") or
  // key=value ("host=... port=... dbname=..."); a postgresql:// URL selects PostgreSQL.
  std::string audit_db = "dari-audit.db";
  ContentStorage store_prompts = ContentStorage::kHash;
  ContentStorage store_outputs = ContentStorage::kHash;
  bool redact_pii = true;        // emails, phones (incl. Korean), resident registration numbers
  int64_t retention_days = 365;  // 0 keeps records forever
  int64_t retention_interval_s = 3600;  // how often `dari serve` enforces retention (seconds)
  bool explanations = false;      // chat-template hash + per-token logprobs (on when high_impact)
  int32_t explanation_top_k = 5;  // alternatives kept per token
  // [keys]
  KeyRequirement require_keys = KeyRequirement::kNonLoopback;
  std::string keys_db = "dari-keys.db";  // SQLite file with hashed API keys
  int64_t default_requests_per_minute = 60;
  int64_t default_tokens_per_day = 1000000;
  // [incidents]
  int32_t auth_failures_per_minute = 10;  // from one address or key: an incident is recorded
  int32_t error_burst_count = 20;         // this many failed requests (status "error") ...
  int32_t error_burst_window_s = 60;      // ... within this many seconds: an incident
  std::string incident_webhook;           // http:// URL incidents are POSTed to ("" = none)
  int32_t webhook_timeout_ms = 2000;      // per attempt
  int32_t webhook_retries = 3;            // attempts after the first
  // [browser] (dari serve's browser safety, src/server/origin.h): web origins besides the
  // server's own that may call it ("https://app.example.com", "*" for any), and Host names
  // besides IP literals, localhost and the bound address that loopback clients may use.
  std::vector<std::string> allowed_origins;
  std::vector<std::string> allowed_hosts;
};

Policy default_policy();
// [keys].require as the policy file writes it: "never", "non-loopback" or "always".
const char* key_requirement_name(KeyRequirement r);
// Parses TOML text; `source` names the file in messages ("policy.toml: [audit].retention_days:
// must be >= 0"). Unknown keys are errors (typos must not silently disable a duty).
Result<Policy> parse_policy(std::string_view toml_text, std::string_view source);
Result<Policy> load_policy(const std::string& path);
// The effective policy as TOML (round-trips through parse_policy).
std::string policy_to_toml(const Policy& p);
// Human-readable warnings for a valid but questionable policy (e.g. high-impact with
// store_outputs = "none"). Empty when nothing to say.
std::vector<std::string> policy_warnings(const Policy& p);

// ---------------------------------------------------------------------------------------------
// Hashing, encoding, Ed25519 (OpenSSL 3).

std::string sha256_hex(std::string_view data);  // lowercase hex, 64 chars
// Streams the file through SHA-256 (1 MiB reads); call once when the model is loaded.
Result<std::string> sha256_file_hex(const std::string& path);
std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

// Operator signing key. Immutable after creation; sign() is safe from any thread.
class SigningKey {
 public:
  static Result<SigningKey> generate();
  static Result<SigningKey> load(const std::string& pem_path);
  // Writes the private key (PKCS#8 PEM) with mode 0600, refusing to overwrite, and the public
  // key beside it as `<path>.pub` (SubjectPublicKeyInfo PEM).
  Status save(const std::string& pem_path) const;
  std::string sign_base64(std::string_view message) const;              // 64-byte signature, base64
  const std::string& public_key_base64() const { return public_b64_; }  // raw 32 bytes
  const std::string& key_id() const { return key_id_; }  // first 16 hex of sha256(raw public)

 private:
  std::shared_ptr<void> pkey_;  // EVP_PKEY*
  std::string public_b64_, key_id_;
};

// Reads a public key: a `.pub` PEM file, a private key PEM (its public half) or raw base64.
Result<std::string> load_public_key_base64(const std::string& path_or_base64);
Status verify_signature(std::string_view public_key_b64, std::string_view message,
                        std::string_view signature_b64);

// ---------------------------------------------------------------------------------------------
// Provenance. Canonical form: the JSON object of every field except "signature", keys sorted
// by byte order, no whitespace, UTF-8, strings escaped as JSON requires (control characters as
// \u00xx), integers only (no floats). This matches RFC 8785 (JCS) for these values.

struct ProvenanceFacts {     // what the server knows about one response
  std::string model;         // model name as served
  std::string model_sha256;  // sha256_file_hex of the model file
  std::string request_id;
  int64_t created = 0;  // unix seconds
};

struct Provenance {
  std::string version = "dari-provenance/1";
  std::string generator = "dari";
  bool ai_generated = true;
  ProvenanceFacts facts;
  std::string operator_name, deployment_id;
  std::string output_sha256;       // of the text as delivered (labels included)
  std::string key_id, public_key;  // signer
  std::string signature;           // Ed25519 over canonical_provenance(), base64
};

std::string canonical_provenance(const Provenance& p);  // the signed bytes
std::string provenance_to_json(const Provenance& p);    // canonical + "signature"
Result<Provenance> provenance_from_json(std::string_view json);
// Header names and values.
inline constexpr std::string_view kAiGeneratedHeader = "X-AI-Generated";
inline constexpr std::string_view kProvenanceHeader = "X-AI-Provenance";
std::string provenance_header(const Provenance& p);  // base64 of provenance_to_json
// Streaming: headers leave before the text exists, so the header carries the unsigned facts
// (base64 JSON with "signed_in":"final_chunk"); the final chunk carries the signed object.
std::string stream_header(const ProvenanceFacts& facts, std::string_view operator_name,
                          std::string_view deployment_id);

// Checks signature and output hash. `trusted_public_key` empty: the embedded key is used and
// VerifyOutcome::key_trusted is false.
struct VerifyOutcome {
  bool intact = false;
  bool key_trusted = false;
  std::string reason;  // why not intact, or a note
};
VerifyOutcome verify_provenance(const Provenance& p, std::string_view text,
                                std::string_view trusted_public_key);
// A saved response: an OpenAI-shaped JSON (choices[0].message.content or choices[0].text, plus
// "provenance"), or an SSE transcript ("data: {...}" lines, deltas concatenated, provenance in
// a chunk).
Result<std::pair<std::string, Provenance>> extract_saved_response(std::string_view saved);

// Visible label text per policy ("" when placement is none) and the labelled output.
std::string label_text(const Policy& p);
std::string apply_label(const Policy& p, std::string_view output);

// ---------------------------------------------------------------------------------------------
// PII redaction: [EMAIL], [PHONE], [RRN] (Korean resident registration number ######-#######).
std::string redact_pii(std::string_view text);

// ---------------------------------------------------------------------------------------------
// Audit trail (SQLite: WAL, synchronous=FULL; or PostgreSQL: synchronous_commit on; one
// transaction per record or batch). Rows form a hash chain:
// hash = sha256(prev_hash "\n" seq "\n" kind "\n" time_ms "\n" body), body is the record's
// canonical JSON. Retention deletes a prefix and appends a "retention" row naming it.

struct TokenExplanation {
  std::string text;
  double logprob = 0;
  std::vector<std::pair<std::string, double>> top;  // alternatives, best first
};

struct AuditRecord {    // one request; text fields are stored per policy
  int64_t time_ms = 0;  // completion time; 0 = now
  std::string request_id, key_id, client, endpoint, model, model_sha256;
  std::string sampling_json;  // sampling parameters and seed, as the server received them
  int64_t prompt_tokens = 0, completion_tokens = 0, latency_ms = 0;
  std::string status = "ok";  // "ok", "error", "cancelled", "rejected"
  int32_t http_status = 200;
  std::string finish_reason, error;
  std::string prompt, output;    // raw; hashed / redacted / dropped before storage
  std::string output_signature;  // provenance signature, when signed
  // high-impact explanation data (kept only when the policy enables explanations)
  std::string template_sha256;
  std::vector<TokenExplanation> tokens;
};

struct ChainReport {
  bool ok = false;
  int64_t rows = 0;
  int64_t bad_seq = -1;  // the first row at fault, -1 when none
  int64_t last_good_seq = 0;  // the last row checked intact in order (0: none)
  std::string message;
};

struct AuditEntry {  // one chain row as the dashboard lists it
  int64_t seq = 0, time_ms = 0;
  std::string body;  // the row's canonical JSON
};

struct ExportRange {
  int64_t since_ms = 0, until_ms = INT64_MAX;
};
enum class ExportFormat { kJsonl, kCsv };
// "2026-11-29", "2026-11-29T03:00:00Z" (UTC; fractional seconds and "+00:00" accepted) or
// unix seconds ("1764385200") -> unix milliseconds.
Result<int64_t> parse_time_ms(std::string_view text);

// Thread safety: all methods lock an internal mutex; several processes may share the database
// (SQLite: each append is a BEGIN IMMEDIATE transaction that reads the chain head; PostgreSQL:
// each append locks the chain-head row with SELECT ... FOR UPDATE, so instances on several
// hosts still write one chain).
class AuditLog {
 public:
  // `path`: a SQLite file or a PostgreSQL connection string. PostgreSQL is used when
  // policy.audit_backend says so or `path` is a postgresql:// (or postgres://) URL.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path, const Policy& policy);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  Status record(const AuditRecord& r);  // kind "request"; durable when it returns
  // Several records in one transaction (one fsync): the group commit of the async writer.
  Status record_batch(const std::vector<AuditRecord>& records);
  // Chain rows of other kinds: "admin" (operator actions), "incident", "feedback".
  Status append(std::string_view kind, std::string_view body_json, int64_t time_ms = 0);
  ChainReport verify();
  Status export_to(std::FILE* out, ExportRange range, ExportFormat format);
  // Deletes rows older than policy.retention_days before now_ms; returns the count and
  // appends a "retention" row (also when nothing was deleted? no: only when count > 0).
  Result<int64_t> enforce_retention(int64_t now_ms);
  // Incidents (Art. 32) are chain rows of kind "incident"; this lists them.
  Result<std::vector<std::string>> incidents(int64_t since_ms);
  // The newest `limit` rows of `kind` ("feedback", "incident", ...) from since_ms on, newest
  // first. Reads every row of the range (the dashboard asks for the last days only).
  Result<std::vector<AuditEntry>> recent(std::string_view kind, int64_t since_ms, size_t limit);
  const Policy& policy() const;
  // The database for messages: the SQLite file, or "postgresql host=... dbname=..." (never
  // the password).
  const std::string& location() const;

 private:
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// API keys: "dari_<key id: 16 hex>_<secret: 43 base64url>"; only sha256(secret) is stored.

enum Scope : uint32_t { kScopeInfer = 1, kScopeAdmin = 2, kScopeMetrics = 4 };
Result<uint32_t> parse_scopes(std::string_view comma_list);  // "infer,admin"
std::string scopes_to_string(uint32_t scopes);

struct KeyInfo {
  std::string key_id, name;
  uint32_t scopes = kScopeInfer;
  int64_t requests_per_minute = 0, tokens_per_day = 0;  // 0 = unlimited
  int64_t created_ms = 0, revoked_ms = 0;               // revoked_ms 0 = active
};

// SQLite key file. Thread safety: internal mutex.
class KeyStore {
 public:
  static Result<std::unique_ptr<KeyStore>> open(const std::string& path);
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;
  // Returns the full secret token; it is shown once and never stored.
  Result<std::string> create(KeyInfo info);
  Status revoke(std::string_view key_id, int64_t now_ms);
  Result<std::vector<KeyInfo>> list();
  // Constant-time check of the secret; nullopt when unknown, malformed or wrong.
  Result<std::optional<KeyInfo>> lookup(std::string_view token);
  // True when the store holds no key at all (revoked ones count as keys).
  Result<bool> empty();

 private:
  struct Impl;
  explicit KeyStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// The server-facing facade.

struct RequestMeta {
  std::string_view authorization;  // the Authorization header value ("Bearer ...") or ""
  std::string_view client;         // peer address: "127.0.0.1", "::1", "[::1]:5000", "1.2.3.4:80"
  Scope scope = kScopeInfer;       // the scope the endpoint needs
  std::string_view endpoint;       // for the audit trail and messages
};

// Shared between the TrustLayer and in-flight requests; valid() is two atomic loads, safe from
// any thread. False once the key is revoked or the operator paused with cancellation. A
// default-constructed Grant (no trust layer) is always valid.
class Grant {
 public:
  bool valid() const noexcept;
  const std::string& key_id() const { return key_id_; }  // "" for anonymous (loopback)

 private:
  friend class TrustLayer;
  std::shared_ptr<const std::atomic<bool>> revoked_;
  std::shared_ptr<const std::atomic<uint64_t>> cancel_epoch_;
  uint64_t epoch_ = 0;
  std::string key_id_;
};

struct AuthDecision {
  int http_status = 200;           // 200, 401, 403, 429, 503
  int64_t retry_after_s = 0;       // for 429
  std::string message;             // human-readable reason
  std::string error_type;          // OpenAI "type": invalid_request_error / rate_limit_exceeded ...
  std::string error_code;          // OpenAI "code": invalid_api_key / insufficient_scope / ...
  Grant grant;                     // meaningful when http_status == 200
  std::string key_id;              // the key presented and recognised, also when denied (403/429)
  std::string error_json() const;  // {"error":{"message","type","code"}}
};

struct TrustOptions {
  std::function<int64_t()> clock_ms;  // default: system clock (tests inject one)
  bool create_signing_key = true;     // generate and save it when the file is absent
  std::function<void(const std::string& incident_json)> on_incident;  // webhook hook
};

class TrustLayer {
 public:
  static Result<std::unique_ptr<TrustLayer>> open(Policy policy, TrustOptions options = {});
  ~TrustLayer();
  TrustLayer(const TrustLayer&) = delete;
  TrustLayer& operator=(const TrustLayer&) = delete;

  const Policy& policy() const;
  const SigningKey& signing_key() const;
  AuditLog* audit();  // null when audit is off

  // Who is calling (header time): 401 for a missing (when required), unknown or revoked key,
  // 403 when the key lacks meta.scope. Touches no quota.
  AuthDecision authenticate(const RequestMeta& meta);
  // Whether an authenticated caller may run now: for the infer scope, the operator's pause (503)
  // and the key's request and token budgets (429; one request is spent).
  AuthDecision admit(const Grant& grant, Scope scope);
  // authenticate() then admit().
  AuthDecision authorize(const RequestMeta& meta);
  // Spends tokens from the key's daily bucket (may go negative; the next request gets 429).
  void charge_tokens(const Grant& g, int64_t tokens);
  // Tokens charged to a key since this layer opened (0 for a key not seen).
  int64_t tokens_charged(const std::string& key_id) const;
  // What each key seen since this layer opened has used: requests admitted, tokens charged, and
  // what its daily token budget has left now (-1: no budget).
  struct KeyUsage {
    int64_t requests = 0, tokens_charged = 0, tokens_left_today = -1;
  };
  std::map<std::string, KeyUsage> key_usage() const;

  Provenance sign(const ProvenanceFacts& facts, std::string_view delivered_text) const;
  Status record(AuditRecord r);  // no-op when audit is off; durable on return (blocks ~1 ms)
  // Non-blocking: queues the record for a background writer that commits queued records in
  // one transaction (group commit). For callers that must not block (RequestSession::finish).
  // A record queued but not yet committed is lost if the process is killed; flush() waits
  // until everything queued so far is committed and returns the first write error, if any.
  // `on_durable`, when given, runs exactly once on the writer thread after the record's batch
  // committed (or failed to: the error is what flush() returns); it must be quick (e.g. post
  // to an executor). With audit off nothing is queued and `on_durable` is not called: check
  // audit() first. The server holds a response's last bytes until it runs (crash safety).
  void record_async(AuditRecord r, std::function<void()> on_durable = {});
  Status flush();
  // An incident row (kind "incident"), then TrustOptions::on_incident and the policy's webhook
  // ([incidents].webhook_url; POSTed from a background thread, never blocking the caller).
  Status record_incident(std::string_view kind, std::string_view detail,
                         std::string_view request_id = {});
  Status record_feedback(std::string_view request_id, int rating, std::string_view text);

  // Oversight; every action is a chain row of kind "admin" naming `actor`.
  Status pause(std::string_view actor, std::string_view reason, bool cancel_in_flight);
  Status resume(std::string_view actor);
  bool paused() const;
  std::string pause_reason() const;  // the reason of the current pause ("" when none given)
  Result<std::string> create_key(std::string_view actor, KeyInfo info);
  Status revoke_key(std::string_view actor, std::string_view key_id);  // in-flight stop too
  // Re-reads revocations made by another process (`dari keys revoke` while serving) so their
  // in-flight streams stop too; call it every second or so from a timer.
  Status refresh_revocations();
  Result<std::vector<KeyInfo>> list_keys();

  // Starts a background thread that enforces retention (AuditLog::enforce_retention, which
  // records a "retention" row when it deletes) now and then every
  // policy.retention_interval_s, until the TrustLayer is destroyed. For long-running servers;
  // no-op with audit off, retention_days 0 or when already started. Thread: any, once.
  void start_retention_timer();
  // Retention passes run by the timer so far (tests).
  uint64_t retention_runs() const;

 private:
  struct Impl;
  explicit TrustLayer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dari::trust
