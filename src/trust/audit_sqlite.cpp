// SQLite audit store: one file, WAL, synchronous=FULL. Appends are BEGIN IMMEDIATE
// transactions, so several processes on one host may share the file. The chain head and the
// retention anchor live in the key/value table `meta`.
#include "trust/audit_internal.h"

namespace dari::trust {
namespace {

const char* kSchema =
    "CREATE TABLE IF NOT EXISTS audit("
    "  seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    "  body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);";

// Parses a decimal meta value; `fallback` when absent or malformed.
int64_t meta_int(const std::string& text, int64_t fallback) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != text.npos) {
    return fallback;
  }
  return std::stoll(text);
}

class SqliteStore final : public AuditStore {
 public:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteStore() override { sqlite3_close(db_); }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  const std::string& name() const override { return path_; }

  Status append(const std::vector<NewRow>& rows) override {
    return in_transaction([&]() -> Status {
      for (const NewRow& r : rows) DARI_TRY(append_locked(r));
      return Status::Ok();
    });
  }

  Status scan(const RowQuery& q, ChainState* state, const RowVisitor& visit) override;
  Result<int64_t> delete_prefix(int64_t cutoff_ms, int64_t now_ms,
                                const RetentionBody& body) override;

 private:
  sqlite3* db_;  // owned
  std::string path_;

  Status error(const std::string& what) const {
    return make_error(path_ + ": " + what + ": " + sqlite3_errmsg(db_));
  }
  std::string meta(const char* key, const std::string& fallback);
  Status set_meta(const char* key, const std::string& value);
  Status append_locked(const NewRow& row);
  Status in_transaction(const std::function<Status()>& fn);
};

std::string SqliteStore::meta(const char* key, const std::string& fallback) {
  Stmt st(db_, "SELECT v FROM meta WHERE k = ?");
  if (!st.ok()) return fallback;
  st.bind(1, key);
  return st.step() == SQLITE_ROW ? st.col_text(0) : fallback;
}

Status SqliteStore::set_meta(const char* key, const std::string& value) {
  Stmt st(db_, "INSERT INTO meta(k, v) VALUES(?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v");
  if (!st.ok()) return error("meta");
  st.bind(1, key).bind(2, value);
  if (st.step() != SQLITE_DONE) return error("meta");
  return Status::Ok();
}

Status SqliteStore::append_locked(const NewRow& row) {
  int64_t head_seq = 0;
  std::string head_hash;
  {
    Stmt st(db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!st.ok()) return error("reading the chain head");
    if (st.step() == SQLITE_ROW) {
      head_seq = st.col_int(0);
      head_hash = st.col_text(1);
    } else {
      head_seq = meta_int(meta("anchor_seq", "0"), 0);
      head_hash = meta("anchor_hash", kGenesisHash);
    }
  }
  AuditRow r = chain_next(head_seq, head_hash, row);
  Stmt ins(db_, "INSERT INTO audit(seq, kind, time_ms, body, prev_hash, hash) VALUES(?,?,?,?,?,?)");
  if (!ins.ok()) return error("insert");
  ins.bind(1, r.seq).bind(2, r.kind).bind(3, r.time_ms).bind(4, r.body);
  ins.bind(5, r.prev_hash).bind(6, r.hash);
  if (ins.step() != SQLITE_DONE) return error("insert");
  DARI_TRY(set_meta("head_seq", std::to_string(r.seq)));
  return set_meta("head_hash", r.hash);
}

Status SqliteStore::in_transaction(const std::function<Status()>& fn) {
  DARI_TRY(sql_exec(db_, "BEGIN IMMEDIATE", path_ + ": begin"));
  Status s = fn();
  if (!s.ok()) {
    (void)sql_exec(db_, "ROLLBACK", path_ + ": rollback");
    return s;
  }
  return sql_exec(db_, "COMMIT", path_ + ": commit");
}

Status SqliteStore::scan(const RowQuery& q, ChainState* state, const RowVisitor& visit) {
  // One read transaction: a consistent snapshot even while another process appends.
  DARI_TRY(sql_exec(db_, "BEGIN", path_ + ": begin"));
  struct End {
    sqlite3* db;
    ~End() { (void)sql_exec(db, "COMMIT", "commit"); }
  } end{db_};
  if (state != nullptr) {
    state->anchor_seq = meta_int(meta("anchor_seq", "0"), 0);
    state->anchor_hash = meta("anchor_hash", kGenesisHash);
    std::string head = meta("head_seq", "");
    state->has_head = !head.empty();
    state->head_seq = meta_int(head, -1);
    state->head_hash = meta("head_hash", "");
  }
  Stmt st(db_,
          "SELECT seq, kind, time_ms, body, prev_hash, hash FROM audit "
          "WHERE time_ms >= ? AND time_ms < ? AND (? = '' OR kind = ?) ORDER BY seq");
  if (!st.ok()) return error("reading rows");
  st.bind(1, q.since_ms).bind(2, q.until_ms).bind(3, q.kind).bind(4, q.kind);
  int rc = SQLITE_ROW;
  while ((rc = st.step()) == SQLITE_ROW) {
    AuditRow r{st.col_int(0),  st.col_int(2),  st.col_text(1),
               st.col_text(3), st.col_text(4), st.col_text(5)};
    if (!visit(r)) return Status::Ok();
  }
  return rc == SQLITE_DONE ? Status::Ok() : error("reading rows");
}

Result<int64_t> SqliteStore::delete_prefix(int64_t cutoff_ms, int64_t now_ms,
                                           const RetentionBody& body) {
  int64_t deleted = 0;
  Status s = in_transaction([&]() -> Status {
    Stmt q(db_, "SELECT MAX(seq) FROM audit WHERE time_ms < ?");
    q.bind(1, cutoff_ms);
    if (q.step() != SQLITE_ROW || sqlite3_column_type(q.get(), 0) == SQLITE_NULL) {
      return Status::Ok();
    }
    PrefixFacts f;
    f.last = q.col_int(0);
    Stmt first_q(db_, "SELECT MIN(seq) FROM audit");
    if (first_q.step() != SQLITE_ROW) return error("retention");
    f.first = first_q.col_int(0);
    Stmt h(db_, "SELECT hash FROM audit WHERE seq = ?");
    h.bind(1, f.last);
    if (h.step() != SQLITE_ROW) return make_error(path_ + ": retention: row vanished");
    f.anchor_hash = h.col_text(0);
    Stmt del(db_, "DELETE FROM audit WHERE seq <= ?");
    del.bind(1, f.last);
    if (del.step() != SQLITE_DONE) return error("retention delete");
    f.count = deleted = sqlite3_changes(db_);
    DARI_TRY(set_meta("anchor_seq", std::to_string(f.last)));
    DARI_TRY(set_meta("anchor_hash", f.anchor_hash));
    return append_locked({"retention", body(f), now_ms});
  });
  if (!s.ok()) return s.error();
  return deleted;
}

}  // namespace

Result<std::unique_ptr<AuditStore>> open_sqlite_store(const std::string& path) {
  DARI_ASSIGN_OR_RETURN(sqlite3 * db, sql_open(path));
  auto store = std::make_unique<SqliteStore>(db, path);
  DARI_TRY(sql_exec(db, kSchema, path + ": creating the audit schema"));
  return std::unique_ptr<AuditStore>(std::move(store));
}

}  // namespace dari::trust
