// libpq helpers: connection strings (syntax check, display without password), a connection
// with dari's session settings, parameterised statements and single-row reads.
#include "trust/postgres_util.h"

#include <charconv>
#include <cstring>

namespace dari::trust {
namespace {

std::string trimmed(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "unknown error" : s;
}

void ignore_notice(void* /*arg*/, const char* /*message*/) {}

struct ConninfoFree {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};
using ConninfoOptions = std::unique_ptr<PQconninfoOption, ConninfoFree>;

// Parses with libpq; null and `error` set when the string is malformed.
ConninfoOptions parse_conninfo(std::string_view conninfo, std::string* error) {
  std::string s(conninfo);
  char* err = nullptr;
  ConninfoOptions opts(PQconninfoParse(s.c_str(), &err));
  if (!opts) *error = trimmed(err);
  PQfreemem(err);
  return opts;
}

}  // namespace

bool is_postgres_url(std::string_view s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

Status check_postgres_conninfo(std::string_view conninfo) {
  if (!is_postgres_url(conninfo) && conninfo.find('=') == std::string_view::npos) {
    return make_error(
        "not a PostgreSQL connection string: expected a URL "
        "(\"postgresql://user@host:5432/dbname\") or key=value pairs "
        "(\"host=... port=... dbname=...\")");
  }
  std::string error;
  if (!parse_conninfo(conninfo, &error)) {
    return make_error("invalid PostgreSQL connection string: " + error);
  }
  return Status::Ok();
}

std::string postgres_display_name(std::string_view conninfo) {
  std::string error;
  ConninfoOptions opts = parse_conninfo(conninfo, &error);
  if (!opts) return "postgresql (malformed connection string)";
  std::string out = "postgresql";
  for (const char* k : {"host", "hostaddr", "port", "dbname", "user"}) {
    for (const PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
      if (o->val != nullptr && *o->val != '\0' && std::strcmp(o->keyword, k) == 0) {
        out += std::string(" ") + k + "=" + o->val;
      }
    }
  }
  return out;
}

bool postgres_conninfo_has_password(std::string_view conninfo) {
  std::string error;
  ConninfoOptions opts = parse_conninfo(conninfo, &error);
  if (!opts) return false;
  for (const PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (std::strcmp(o->keyword, "password") == 0 && o->val != nullptr && *o->val != '\0') {
      return true;
    }
  }
  return false;
}

Result<std::unique_ptr<PgConn>> PgConn::connect(const std::string& conninfo,
                                                const std::string& name) {
  DARI_TRY(check_postgres_conninfo(conninfo));
  // Earlier entries are defaults: the expanded connection string overrides connect_timeout.
  const char* keys[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {"10", conninfo.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (c == nullptr) return make_error(name + ": cannot connect: out of memory");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = name + ": cannot connect: " + trimmed(PQerrorMessage(c));
    PQfinish(c);
    return make_error(msg);
  }
  std::unique_ptr<PgConn> conn(new PgConn(c, name));
  DARI_TRY(conn->apply_session_settings());
  return conn;
}

PgConn::~PgConn() {
  PQfinish(conn_);
}

Status PgConn::apply_session_settings() {
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
  return exec_script(
      "SET synchronous_commit = on; SET lock_timeout = '10s'; SET client_encoding = 'UTF8'",
      "session settings");
}

Status PgConn::ready() {
  if (PQstatus(conn_) != CONNECTION_OK) {
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) return error("reconnecting");
    return apply_session_settings();
  }
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    return exec_script("ROLLBACK", "rolling back an unfinished transaction");
  }
  return Status::Ok();
}

Status PgConn::error(const char* what) const {
  return make_error(name_ + ": " + what + ": " + trimmed(PQerrorMessage(conn_)));
}

Result<PgResult> PgConn::exec(const char* sql, const std::vector<std::string>& params,
                              ExecStatusType want, const char* what) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  PgResult r(PQexecParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(),
                          nullptr, nullptr, /*resultFormat=*/0));
  if (!r || PQresultStatus(r.get()) != want) return error(what).error();
  return r;
}

Status PgConn::exec_script(const char* sql, const char* what) {
  PgResult r(PQexec(conn_, sql));
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) return error(what);
  return Status::Ok();
}

Status PgConn::start_rows(const char* sql, const std::vector<std::string>& params,
                          const char* what) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const std::string& p : params) values.push_back(p.c_str());
  if (PQsendQueryParams(conn_, sql, static_cast<int>(values.size()), nullptr, values.data(),
                        nullptr, nullptr, 0) == 0) {
    return error(what);
  }
  if (PQsetSingleRowMode(conn_) == 0) {
    Status ignored;
    while (next_row(&ignored)) {
    }
    return error(what);
  }
  return Status::Ok();
}

PgResult PgConn::next_row(Status* out_error) {
  while (PGresult* raw = PQgetResult(conn_)) {
    PgResult r(raw);
    ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_SINGLE_TUPLE) return r;
    if (st != PGRES_TUPLES_OK && out_error->ok()) {
      *out_error = make_error(name_ + ": reading rows: " + trimmed(PQresultErrorMessage(raw)));
    }
  }
  return nullptr;
}

bool pg_int(const PGresult* r, int row, int col, int64_t* out) {
  if (PQgetisnull(r, row, col) != 0) return false;
  const char* s = PQgetvalue(r, row, col);
  const char* end = s + PQgetlength(r, row, col);
  auto [p, ec] = std::from_chars(s, end, *out);
  return ec == std::errc() && p == end && p != s;
}

std::string pg_text(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}

}  // namespace dari::trust
