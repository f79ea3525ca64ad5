// `dari audit verify|export|retain|incidents`: the hash-chained audit trail, in SQLite or
// PostgreSQL (the policy's [audit] backend, or --db: a postgresql:// URL selects PostgreSQL).
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "dari/trust/trust.h"

namespace {

struct AuditArgs {
  std::string action, policy, db, since, until, format = "jsonl", out;
};

int fail(const std::string& msg) {
  std::fprintf(stderr, "dari: error: %s\n", msg.c_str());
  return 1;
}

bool is_postgres_url(const std::string& s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

int run_audit(const AuditArgs& a) {
  dari::trust::Policy p = dari::trust::default_policy();
  if (!a.policy.empty()) {
    auto loaded = dari::trust::load_policy(a.policy);
    if (!loaded.ok()) return fail("policy: " + loaded.message());
    p = std::move(*loaded);
  }
  if (!a.db.empty()) {
    p.audit_db = a.db;
    p.audit_backend = is_postgres_url(a.db) ? dari::trust::AuditBackend::kPostgresql
                                            : dari::trust::AuditBackend::kSqlite;
  }
  auto log = dari::trust::AuditLog::open(p.audit_db, p);
  if (!log.ok()) return fail(log.message());
  if (a.action == "verify") {
    dari::trust::ChainReport r = (*log)->verify();
    if (!r.ok) {
      std::printf("FAILED: %s: %s\n", (*log)->location().c_str(), r.message.c_str());
      return 1;
    }
    std::printf("OK: %s: %s\n", (*log)->location().c_str(), r.message.c_str());
    return 0;
  }
  if (a.action == "retain") {
    auto n = (*log)->enforce_retention(std::time(nullptr) * int64_t{1000});
    if (!n.ok()) return fail(n.message());
    std::printf("deleted %lld rows older than %lld days\n", static_cast<long long>(*n),
                static_cast<long long>(p.retention_days));
    return 0;
  }
  if (a.action == "incidents") {
    auto list = (*log)->incidents(0);
    if (!list.ok()) return fail(list.message());
    for (const auto& line : *list) std::printf("%s\n", line.c_str());
    return 0;
  }
  dari::trust::ExportRange range;
  if (!a.since.empty()) {
    auto t = dari::trust::parse_time_ms(a.since);
    if (!t.ok()) return fail("--since: " + t.message());
    range.since_ms = *t;
  }
  if (!a.until.empty()) {
    auto t = dari::trust::parse_time_ms(a.until);
    if (!t.ok()) return fail("--until: " + t.message());
    range.until_ms = *t;
  }
  auto fmt =
      a.format == "csv" ? dari::trust::ExportFormat::kCsv : dari::trust::ExportFormat::kJsonl;
  std::FILE* out = stdout;
  if (!a.out.empty()) {
    out = std::fopen(a.out.c_str(), "wb");
    if (out == nullptr) return fail(a.out + ": cannot create");
  }
  auto s = (*log)->export_to(out, range, fmt);
  bool closed = out == stdout ? std::fflush(out) == 0 : std::fclose(out) == 0;
  if (!s.ok()) return fail(s.message());
  return closed ? 0 : fail("export: write failed");
}

std::function<int()> setup_audit(CLI::App& sub) {
  auto a = std::make_shared<AuditArgs>();
  sub.require_subcommand(1);
  sub.add_option("--policy", a->policy, "deployment policy (default: built-in policy)");
  auto add_db = [a](CLI::App* c) {
    c->add_option("--db", a->db,
                  "audit database: a SQLite file or a postgresql:// URL (default: the policy's "
                  "[audit] backend and database)");
  };
  CLI::App* verify = sub.add_subcommand("verify", "Check the hash chain; names the row at fault");
  add_db(verify);
  verify->callback([a] { a->action = "verify"; });
  CLI::App* exp = sub.add_subcommand("export", "Export records as JSON Lines or CSV");
  add_db(exp);
  exp->add_option("--since", a->since, "from this time (YYYY-MM-DD[THH:MM:SSZ] or unix s)");
  exp->add_option("--until", a->until, "before this time");
  exp->add_option("--format", a->format, "jsonl or csv")->check(CLI::IsMember({"jsonl", "csv"}));
  exp->add_option("-o,--output", a->out, "output file (default stdout)");
  exp->callback([a] { a->action = "export"; });
  CLI::App* retain = sub.add_subcommand("retain", "Delete records past the retention period");
  add_db(retain);
  retain->callback([a] { a->action = "retain"; });
  CLI::App* inc = sub.add_subcommand("incidents", "List the incident log (JSON Lines)");
  add_db(inc);
  inc->callback([a] { a->action = "incidents"; });
  return [a]() { return run_audit(*a); };
}

}  // namespace

DARI_COMMAND("audit", "Audit trail: verify the hash chain, export, enforce retention, incidents",
             setup_audit);
