// AuditLog internals shared by audit_log.cpp and audit_verify.cpp.
#pragma once

#include <functional>
#include <mutex>

#include "trust/internal.h"

namespace dari::trust {

extern const std::string kGenesisHash;  // prev_hash of row 1: 64 zeros

// sha256(prev_hash "\n" seq "\n" kind "\n" time_ms "\n" body), lowercase hex.
std::string chain_hash(std::string_view prev_hash, int64_t seq, std::string_view kind,
                       int64_t time_ms, std::string_view body);

struct AuditLog::Impl {
  sqlite3* db = nullptr;
  std::string path;
  Policy policy;
  std::mutex mu;

  std::string meta(const char* key, const std::string& fallback);
  Status set_meta(const char* key, const std::string& value);
  Status append_locked(std::string_view kind, std::string_view body, int64_t time_ms);
  Status in_transaction(const std::function<Status()>& fn);
  std::string request_body(const AuditRecord& r) const;  // canonical JSON, per policy
};

}  // namespace dari::trust
