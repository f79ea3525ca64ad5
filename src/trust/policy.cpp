// Deployment policy: TOML parsing (toml++), validation with messages that name the file, table
// and key, and the TOML rendering of an effective policy.
#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "dari/trust/trust.h"
#include "trust/postgres_util.h"
#include "trust/toml_guard.h"
#include "trust/webhook.h"

namespace dari::trust {
namespace {

struct Ctx {
  std::string source;
  std::string error;  // first error wins
  void fail(const std::string& where, const std::string& what) {
    if (error.empty()) error = source + ": " + where + ": " + what;
  }
};

const char* placement_name(LabelPlacement p) {
  switch (p) {
    case LabelPlacement::kPrepend:
      return "prepend";
    case LabelPlacement::kAppend:
      return "append";
    case LabelPlacement::kNone:
      break;
  }
  return "none";
}
const char* storage_name(ContentStorage s) {
  switch (s) {
    case ContentStorage::kHash:
      return "hash";
    case ContentStorage::kFull:
      return "full";
    case ContentStorage::kNone:
      break;
  }
  return "none";
}

// Reads table `name` of `root`, checking that it holds only `allowed` keys.
const toml::table* section(Ctx& c, const toml::table& root, const char* name,
                           std::set<std::string> allowed) {
  const toml::node* n = root.get(name);
  if (n == nullptr) return nullptr;
  const toml::table* t = n->as_table();
  if (t == nullptr) {
    c.fail(std::string("[") + name + "]", "must be a table");
    return nullptr;
  }
  for (const auto& [k, v] : *t) {
    if (!allowed.count(std::string(k.str()))) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      c.fail(std::string("[") + name + "]." + std::string(k.str()),
             "unknown key (allowed: " + list + ")");
    }
  }
  return t;
}

void get_string(Ctx& c, const toml::table* t, const char* table, const char* key,
                std::string* out) {
  if (t == nullptr || t->get(key) == nullptr) return;
  auto v = t->get(key)->value<std::string>();
  if (!v) return c.fail(std::string("[") + table + "]." + key, "must be a string");
  *out = *v;
}

// An array of at most 64 strings of at most 256 bytes each.
void get_string_list(Ctx& c, const toml::table* t, const char* table, const char* key,
                     std::vector<std::string>* out) {
  if (t == nullptr || t->get(key) == nullptr) return;
  const std::string where = std::string("[") + table + "]." + key;
  const toml::array* a = t->get(key)->as_array();
  if (a == nullptr) return c.fail(where, "must be an array of strings");
  if (a->size() > 64) return c.fail(where, "has more than 64 entries");
  out->clear();
  for (const toml::node& n : *a) {
    auto v = n.value<std::string>();
    if (!v) return c.fail(where, "must be an array of strings");
    if (v->empty() || v->size() > 256) return c.fail(where, "entries must be 1 to 256 bytes");
    out->push_back(*v);
  }
}

void get_bool(Ctx& c, const toml::table* t, const char* table, const char* key, bool* out) {
  if (t == nullptr || t->get(key) == nullptr) return;
  const toml::node* n = t->get(key);
  if (!n->is_boolean()) {
    return c.fail(std::string("[") + table + "]." + key, "must be true or false");
  }
  *out = *n->value<bool>();
}

template <class Int>
void get_int(Ctx& c, const toml::table* t, const char* table, const char* key, int64_t lo,
             int64_t hi, Int* out) {
  if (t == nullptr || t->get(key) == nullptr) return;
  const toml::node* n = t->get(key);
  std::string where = std::string("[") + table + "]." + key;
  if (!n->is_integer()) return c.fail(where, "must be an integer");
  int64_t v = *n->value<int64_t>();
  if (v < lo || v > hi) {
    return c.fail(where, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                             " (got " + std::to_string(v) + ")");
  }
  *out = static_cast<Int>(v);
}

template <class E>
void get_enum(Ctx& c, const toml::table* t, const char* table, const char* key,
              std::vector<std::pair<const char*, E>> names, E* out) {
  std::string s;
  bool present = t != nullptr && t->get(key) != nullptr;
  get_string(c, t, table, key, &s);
  if (!present || !c.error.empty()) return;
  std::string list;
  for (const auto& [name, value] : names) {
    if (s == name) {
      *out = value;
      return;
    }
    list += (list.empty() ? "" : ", ") + std::string("\"") + name + "\"";
  }
  c.fail(std::string("[") + table + "]." + key, "\"" + s + "\" is not one of " + list);
}

const char* backend_name(AuditBackend b) {
  return b == AuditBackend::kPostgresql ? "postgresql" : "sqlite";
}

// [audit].backend; without it a postgresql:// database URL selects PostgreSQL.
void get_audit_backend(Ctx& c, const toml::table* a, Policy* p) {
  if (a == nullptr || a->get("backend") == nullptr) {
    if (is_postgres_url(p->audit_db)) p->audit_backend = AuditBackend::kPostgresql;
    return;
  }
  get_enum<AuditBackend>(
      c, a, "audit", "backend",
      {{"sqlite", AuditBackend::kSqlite}, {"postgresql", AuditBackend::kPostgresql}},
      &p->audit_backend);
}

void validate_audit_backend(Ctx& c, const Policy& p) {
  if (!p.audit || p.audit_db.empty()) return;
  if (p.audit_backend == AuditBackend::kSqlite && is_postgres_url(p.audit_db)) {
    return c.fail("[audit].database",
                  "is a PostgreSQL URL but backend = \"sqlite\" (use backend = \"postgresql\")");
  }
  if (p.audit_backend != AuditBackend::kPostgresql) return;
  Status s = check_postgres_conninfo(p.audit_db);
  if (!s.ok()) c.fail("[audit].database", "backend = \"postgresql\": " + s.message());
}

void validate(Ctx& c, Policy& p) {
  if (p.operator_name.empty()) c.fail("[operator].name", "must not be empty");
  if (p.deployment_id.empty()) c.fail("[operator].deployment_id", "must not be empty");
  if (p.label_language != "ko" && p.label_language != "en" && p.label_language != "both") {
    c.fail("[disclosure].label_language",
           "\"" + p.label_language + "\" is not one of \"ko\", \"en\", \"both\"");
  }
  if (p.label_placement != LabelPlacement::kNone && p.label_ko.empty() && p.label_en.empty()) {
    c.fail("[disclosure].label", "a label placement needs label_ko or label_en text");
  }
  if (p.disclosure && p.signing_key_file.empty()) {
    c.fail("[disclosure].signing_key_file", "must name a file when disclosure is on");
  }
  if (p.audit && p.audit_db.empty()) {
    c.fail("[audit].database", "must name a file (or a PostgreSQL connection string)");
  }
  validate_audit_backend(c, p);
  if (p.high_impact) {
    if (!p.audit) c.fail("[audit].enabled", "must be true for a high-impact deployment (Art. 34)");
    if (!p.disclosure) {
      c.fail("[disclosure].enabled", "must be true for a high-impact deployment (Art. 31)");
    }
    p.explanations = true;
  }
}

}  // namespace

const char* key_requirement_name(KeyRequirement r) {
  switch (r) {
    case KeyRequirement::kAlways:
      return "always";
    case KeyRequirement::kNever:
      return "never";
    case KeyRequirement::kNonLoopback:
      break;
  }
  return "non-loopback";
}

Policy default_policy() {
  return Policy{};
}

Result<Policy> parse_policy(std::string_view toml_text, std::string_view source) {
  Ctx c{std::string(source), {}};
  toml::table root;
  if (std::string bad = toml_prescreen(toml_text); !bad.empty()) {
    return make_error(std::string(source) + ":" + bad);
  }
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    return make_error(std::string(source) + ":" + std::to_string(e.source().begin.line) + ":" +
                      std::to_string(e.source().begin.column) + ": " +
                      std::string(e.description()));
  }
  for (const auto& [k, v] : root) {
    static const std::set<std::string> kTables = {"operator", "disclosure", "audit", "keys",
                                                  "incidents", "browser"};
    if (!kTables.count(std::string(k.str()))) {
      c.fail(std::string(k.str()),
             "unknown table (allowed: [operator], [disclosure], [audit], [keys], [incidents], "
             "[browser])");
    }
  }
  Policy p;
  const auto* op = section(c, root, "operator", {"name", "deployment_id", "domain", "high_impact"});
  get_string(c, op, "operator", "name", &p.operator_name);
  get_string(c, op, "operator", "deployment_id", &p.deployment_id);
  get_string(c, op, "operator", "domain", &p.domain);
  get_bool(c, op, "operator", "high_impact", &p.high_impact);

  const auto* d =
      section(c, root, "disclosure",
              {"enabled", "label", "label_language", "label_ko", "label_en", "signing_key_file"});
  get_bool(c, d, "disclosure", "enabled", &p.disclosure);
  get_enum<LabelPlacement>(c, d, "disclosure", "label",
                           {{"none", LabelPlacement::kNone},
                            {"prepend", LabelPlacement::kPrepend},
                            {"append", LabelPlacement::kAppend}},
                           &p.label_placement);
  get_string(c, d, "disclosure", "label_language", &p.label_language);
  get_string(c, d, "disclosure", "label_ko", &p.label_ko);
  get_string(c, d, "disclosure", "label_en", &p.label_en);
  get_string(c, d, "disclosure", "signing_key_file", &p.signing_key_file);

  const std::vector<std::pair<const char*, ContentStorage>> kStorage = {
      {"none", ContentStorage::kNone},
      {"hash", ContentStorage::kHash},
      {"full", ContentStorage::kFull}};
  const auto* a = section(
      c, root, "audit",
      {"enabled", "backend", "database", "store_prompts", "store_outputs", "redact_pii",
       "retention_days", "retention_interval_seconds", "explanations", "explanation_top_k"});
  get_bool(c, a, "audit", "enabled", &p.audit);
  get_string(c, a, "audit", "database", &p.audit_db);
  get_audit_backend(c, a, &p);
  get_enum(c, a, "audit", "store_prompts", kStorage, &p.store_prompts);
  get_enum(c, a, "audit", "store_outputs", kStorage, &p.store_outputs);
  get_bool(c, a, "audit", "redact_pii", &p.redact_pii);
  get_int(c, a, "audit", "retention_days", 0, 36500, &p.retention_days);
  get_int(c, a, "audit", "retention_interval_seconds", 1, 31 * 86400, &p.retention_interval_s);
  get_bool(c, a, "audit", "explanations", &p.explanations);
  get_int(c, a, "audit", "explanation_top_k", 0, 20, &p.explanation_top_k);

  const auto* k =
      section(c, root, "keys", {"require", "database", "requests_per_minute", "tokens_per_day"});
  get_enum<KeyRequirement>(c, k, "keys", "require",
                           {{"never", KeyRequirement::kNever},
                            {"non-loopback", KeyRequirement::kNonLoopback},
                            {"always", KeyRequirement::kAlways}},
                           &p.require_keys);
  get_string(c, k, "keys", "database", &p.keys_db);
  get_int(c, k, "keys", "requests_per_minute", 0, 1000000000, &p.default_requests_per_minute);
  get_int(c, k, "keys", "tokens_per_day", 0, INT64_C(1) << 50, &p.default_tokens_per_day);

  const auto* i =
      section(c, root, "incidents",
              {"auth_failures_per_minute", "error_burst_count", "error_burst_window_seconds",
               "webhook_url", "webhook", "webhook_timeout_ms", "webhook_retries"});
  get_int(c, i, "incidents", "auth_failures_per_minute", 0, 1000000, &p.auth_failures_per_minute);
  get_int(c, i, "incidents", "error_burst_count", 0, 1000000, &p.error_burst_count);
  get_int(c, i, "incidents", "error_burst_window_seconds", 1, 86400, &p.error_burst_window_s);
  get_string(c, i, "incidents", "webhook", &p.incident_webhook);  // older name of webhook_url
  get_string(c, i, "incidents", "webhook_url", &p.incident_webhook);
  get_int(c, i, "incidents", "webhook_timeout_ms", 1, 60000, &p.webhook_timeout_ms);
  get_int(c, i, "incidents", "webhook_retries", 0, 10, &p.webhook_retries);
  const auto* b = section(c, root, "browser", {"allowed_origins", "allowed_hosts"});
  get_string_list(c, b, "browser", "allowed_origins", &p.allowed_origins);
  get_string_list(c, b, "browser", "allowed_hosts", &p.allowed_hosts);

  if (c.error.empty() && !p.incident_webhook.empty()) {
    auto url = parse_http_url(p.incident_webhook);
    if (!url.ok()) c.fail("[incidents].webhook_url", url.message());
  }

  if (c.error.empty()) validate(c, p);
  if (!c.error.empty()) return make_error(c.error);
  return p;
}

Result<Policy> load_policy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path + ": cannot open policy file");
  std::stringstream ss;
  ss << in.rdbuf();
  DARI_ASSIGN_OR_RETURN(Policy p, parse_policy(ss.str(), path));
  // Relative file names are relative to the policy file's folder.
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  bool audit_is_file = p.audit_backend == AuditBackend::kSqlite;
  for (std::string* f : {&p.signing_key_file, &p.audit_db, &p.keys_db}) {
    if (f == &p.audit_db && !audit_is_file) continue;  // a connection string
    if (!f->empty() && std::filesystem::path(*f).is_relative() && !dir.empty()) {
      *f = (dir / *f).string();
    }
  }
  return p;
}

std::string policy_to_toml(const Policy& p) {
  toml::table root{
      {"operator", toml::table{{"name", p.operator_name},
                               {"deployment_id", p.deployment_id},
                               {"domain", p.domain},
                               {"high_impact", p.high_impact}}},
      {"disclosure", toml::table{{"enabled", p.disclosure},
                                 {"label", placement_name(p.label_placement)},
                                 {"label_language", p.label_language},
                                 {"label_ko", p.label_ko},
                                 {"label_en", p.label_en},
                                 {"signing_key_file", p.signing_key_file}}},
      {"audit", toml::table{{"enabled", p.audit},
                            {"backend", backend_name(p.audit_backend)},
                            {"database", p.audit_db},
                            {"store_prompts", storage_name(p.store_prompts)},
                            {"store_outputs", storage_name(p.store_outputs)},
                            {"redact_pii", p.redact_pii},
                            {"retention_days", p.retention_days},
                            {"retention_interval_seconds", p.retention_interval_s},
                            {"explanations", p.explanations},
                            {"explanation_top_k", int64_t{p.explanation_top_k}}}},
      {"keys", toml::table{{"require", key_requirement_name(p.require_keys)},
                           {"database", p.keys_db},
                           {"requests_per_minute", p.default_requests_per_minute},
                           {"tokens_per_day", p.default_tokens_per_day}}},
      {"incidents", toml::table{{"auth_failures_per_minute", int64_t{p.auth_failures_per_minute}},
                                {"error_burst_count", int64_t{p.error_burst_count}},
                                {"error_burst_window_seconds", int64_t{p.error_burst_window_s}},
                                {"webhook_url", p.incident_webhook},
                                {"webhook_timeout_ms", int64_t{p.webhook_timeout_ms}},
                                {"webhook_retries", int64_t{p.webhook_retries}}}},
  };
  toml::array origins, hosts;
  for (const auto& o : p.allowed_origins) origins.push_back(o);
  for (const auto& h : p.allowed_hosts) hosts.push_back(h);
  root.insert("browser", toml::table{{"allowed_origins", std::move(origins)},
                                     {"allowed_hosts", std::move(hosts)}});
  // Basic strings only: toml++ 3.3 writes a value holding four single quotes and a newline as
  // a multi-line literal string, which is not valid TOML (found by fuzz/fuzz_policy.cpp).
  constexpr auto kFlags =
      toml::toml_formatter::default_flags &
      ~(toml::format_flags::allow_literal_strings | toml::format_flags::allow_multi_line_strings);
  std::ostringstream out;
  out << toml::toml_formatter(root, kFlags) << "\n";
  return out.str();
}

std::vector<std::string> policy_warnings(const Policy& p) {
  std::vector<std::string> w;
  if (!p.disclosure) w.push_back("disclosure is off: responses carry no AI-generated marking");
  if (!p.audit) w.push_back("audit is off: requests leave no record");
  if (p.audit && p.retention_days == 0) w.push_back("retention_days = 0 keeps records forever");
  if (p.audit && p.audit_backend == AuditBackend::kPostgresql &&
      postgres_conninfo_has_password(p.audit_db)) {
    w.push_back(
        "[audit].database holds a password: prefer a password file (PGPASSFILE, ~/.pgpass) or "
        "PGPASSWORD, which libpq reads");
  }
  if (p.require_keys == KeyRequirement::kNever) {
    w.push_back("keys.require = \"never\": any client that reaches the port may generate");
  }
  if (p.high_impact && p.store_outputs == ContentStorage::kNone) {
    w.push_back("high-impact deployment without stored outputs: results cannot be explained");
  }
  if ((p.store_prompts == ContentStorage::kFull || p.store_outputs == ContentStorage::kFull) &&
      !p.redact_pii) {
    w.push_back("full text is stored without PII redaction");
  }
  return w;
}

}  // namespace dari::trust
