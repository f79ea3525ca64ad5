// Thin SQLite helpers: open with durable settings, exec, prepared statements.
#include <chrono>

#include "trust/internal.h"

namespace dari::trust {

int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status sql_exec(sqlite3* db, const char* sql, const std::string& what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = what + ": " + (err != nullptr ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return make_error(msg);
  }
  return Status::Ok();
}

Result<sqlite3*> sql_open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = path + ": cannot open database: " +
                      (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return make_error(msg);
  }
  sqlite3_busy_timeout(db, 10000);
  Status s =
      sql_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
               path + ": setting WAL mode");
  if (!s.ok()) {
    sqlite3_close(db);
    return s.error();
  }
  return db;
}

Stmt::Stmt(sqlite3* db, const char* sql) {
  if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK) st_ = nullptr;
}
Stmt::~Stmt() {
  sqlite3_finalize(st_);
}
Stmt& Stmt::bind(int i, std::string_view s) {
  sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}
int Stmt::step() {
  return sqlite3_step(st_);
}
int64_t Stmt::col_int(int i) {
  return sqlite3_column_int64(st_, i);
}
std::string Stmt::col_text(int i) {
  const unsigned char* p = sqlite3_column_text(st_, i);
  int n = sqlite3_column_bytes(st_, i);
  return p != nullptr ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n))
                      : std::string();
}

}  // namespace dari::trust
