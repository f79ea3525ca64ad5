// Helpers shared inside dari_trust (not a public header).
#pragma once

#include <sqlite3.h>

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "dari/trust/trust.h"

namespace dari::trust {

// Sorted-key, compact, UTF-8 JSON (invalid UTF-8 replaced by U+FFFD).
std::string canonical_json(const nlohmann::json& j);

Provenance sign_provenance(const SigningKey& key, const ProvenanceFacts& facts,
                           std::string_view operator_name, std::string_view deployment_id,
                           std::string_view delivered_text);

int64_t system_now_ms();

// Minimal SQLite helpers.
Status sql_exec(sqlite3* db, const char* sql, const std::string& what);
Result<sqlite3*> sql_open(const std::string& path);  // WAL, synchronous=FULL, busy timeout

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return st_ != nullptr; }
  Stmt& bind(int i, std::string_view s);
  Stmt& bind(int i, int64_t v);
  int step();  // SQLITE_ROW / SQLITE_DONE / error
  int64_t col_int(int i);
  std::string col_text(int i);
  sqlite3_stmt* get() { return st_; }

 private:
  sqlite3_stmt* st_ = nullptr;
};

}  // namespace dari::trust
