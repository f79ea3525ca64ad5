// Thin libpq helpers for the PostgreSQL audit store: owned results, a connection that applies
// dari's session settings, parameterised statements only (values never enter SQL text).
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"

namespace dari::trust {

// Connection strings. Also used by the policy parser.
bool is_postgres_url(std::string_view s);  // postgresql:// or postgres://
// Checks the syntax of a URL or key=value connection string (libpq's parser).
Status check_postgres_conninfo(std::string_view conninfo);
// "postgresql host=H port=P dbname=D user=U", for messages: the password never appears.
std::string postgres_display_name(std::string_view conninfo);
bool postgres_conninfo_has_password(std::string_view conninfo);

struct PgResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;

// One connection. Not thread-safe: the caller serialises every call (AuditLog::Impl::mu).
class PgConn {
 public:
  // Connects (10 s connect timeout unless the string sets one) and applies the session
  // settings: synchronous_commit on (commits are durable when they return), lock_timeout
  // 10 s, UTF-8, notices silenced.
  static Result<std::unique_ptr<PgConn>> connect(const std::string& conninfo,
                                                 const std::string& name);
  ~PgConn();
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Reconnects when the server dropped the connection; rolls back a transaction a failed
  // call left open. Call before each operation.
  Status ready();
  // Runs one statement with text parameters ($1, $2, ...); `want` is the expected status
  // (PGRES_COMMAND_OK or PGRES_TUPLES_OK). `what` names the step in the error message.
  Result<PgResult> exec(const char* sql, const std::vector<std::string>& params,
                        ExecStatusType want, const char* what);
  // Several statements without parameters (schema, session settings).
  Status exec_script(const char* sql, const char* what);
  // Starts a parameterised query in single-row mode; read rows with next_row().
  Status start_rows(const char* sql, const std::vector<std::string>& params, const char* what);
  // The next row (PGRES_SINGLE_TUPLE), or null at the end (out_error set on failure). Call
  // until it returns null so the connection is free again.
  PgResult next_row(Status* out_error);
  Status error(const char* what) const;  // "<name>: <what>: <libpq message>"
  PGconn* get() { return conn_; }

 private:
  PgConn(PGconn* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  Status apply_session_settings();
  PGconn* conn_;  // owned
  std::string name_;
};

// Parses a decimal int64 column value; false when it is not one.
bool pg_int(const PGresult* r, int row, int col, int64_t* out);
std::string pg_text(const PGresult* r, int row, int col);

}  // namespace dari::trust
