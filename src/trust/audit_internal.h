// AuditLog internals: the storage interface that SQLite and PostgreSQL implement, and the
// backend-neutral chain helpers shared by audit_log.cpp and audit_verify.cpp.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "trust/internal.h"

namespace dari::trust {

extern const std::string kGenesisHash;  // prev_hash of row 1: 64 zeros

// sha256(prev_hash "\n" seq "\n" kind "\n" time_ms "\n" body), lowercase hex.
std::string chain_hash(std::string_view prev_hash, int64_t seq, std::string_view kind,
                       int64_t time_ms, std::string_view body);

struct NewRow {  // a row to append; the store gives it seq, prev_hash and hash
  std::string kind, body;
  int64_t time_ms = 0;  // unix milliseconds
};

struct AuditRow {  // a stored row
  int64_t seq = 0, time_ms = 0;
  std::string kind, body, prev_hash, hash;
};

// The row that follows (head_seq, head_hash) in the chain.
AuditRow chain_next(int64_t head_seq, std::string_view head_hash, const NewRow& row);

// What a store keeps beside the rows. The anchor is the last row retention removed (0 and the
// genesis hash when none was); the head is the last row appended (absent in SQLite files
// written before the head was recorded).
struct ChainState {
  int64_t anchor_seq = 0;
  std::string anchor_hash = kGenesisHash;
  bool has_head = false;
  int64_t head_seq = 0;
  std::string head_hash;
};

struct RowQuery {  // rows with since_ms <= time_ms < until_ms (and of `kind` unless empty)
  int64_t since_ms = INT64_MIN, until_ms = INT64_MAX;
  std::string kind;
};
using RowVisitor = std::function<bool(const AuditRow&)>;  // false stops the scan

struct PrefixFacts {  // rows first..last (count of them) removed; anchor_hash = hash of `last`
  int64_t first = 0, last = 0, count = 0;
  std::string anchor_hash;
};
using RetentionBody = std::function<std::string(const PrefixFacts&)>;

// One audit database. Not thread-safe: AuditLog::Impl::mu serialises calls. Every write is one
// durable transaction that is atomic with respect to other processes sharing the database.
class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // For messages: the file, or the connection string without its password.
  virtual const std::string& name() const = 0;
  // Appends `rows` in order after the current head, in one transaction.
  virtual Status append(const std::vector<NewRow>& rows) = 0;
  // Visits matching rows in seq order within one consistent snapshot; fills `state` from the
  // same snapshot when not null.
  virtual Status scan(const RowQuery& q, ChainState* state, const RowVisitor& visit) = 0;
  // In one transaction: removes every row up to the last one older than cutoff_ms, moves the
  // anchor there and appends a "retention" row (time now_ms, body from `body`). Returns the
  // number of rows removed; 0 (and no retention row) when none was older.
  virtual Result<int64_t> delete_prefix(int64_t cutoff_ms, int64_t now_ms,
                                        const RetentionBody& body) = 0;
};

Result<std::unique_ptr<AuditStore>> open_sqlite_store(const std::string& path);
Result<std::unique_ptr<AuditStore>> open_postgres_store(const std::string& conninfo);

struct AuditLog::Impl {
  std::unique_ptr<AuditStore> store;
  Policy policy;
  std::mutex mu;  // serialises every call into `store`

  std::string request_body(const AuditRecord& r) const;  // canonical JSON, per policy
};

}  // namespace dari::trust
