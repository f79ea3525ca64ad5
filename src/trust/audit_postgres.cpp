// PostgreSQL audit store, for several dari instances writing one trail. Rows live in
// dari_audit; the chain head and the retention anchor in the one-row table dari_audit_chain.
// Every append locks that row (SELECT ... FOR UPDATE) inside its transaction, so appends from
// any number of processes and hosts are serialised into one chain; commits are durable
// (synchronous_commit on). Every value travels as a statement parameter.
#include <charconv>
#include <optional>

#include "trust/audit_internal.h"
#include "trust/postgres_util.h"

namespace dari::trust {
namespace {

// Schema creation is serialised by a transaction-scoped advisory lock, because concurrent
// CREATE TABLE IF NOT EXISTS can still collide in PostgreSQL's catalogue.
const char* kSchema =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(1684108905);"  // 'dari'
    "CREATE TABLE IF NOT EXISTS dari_audit("
    "  seq BIGINT PRIMARY KEY, kind TEXT NOT NULL, time_ms BIGINT NOT NULL,"
    "  body TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dari_audit_time ON dari_audit(time_ms);"
    "CREATE TABLE IF NOT EXISTS dari_audit_chain("
    "  id INTEGER PRIMARY KEY CHECK (id = 1), head_seq BIGINT NOT NULL,"
    "  head_hash TEXT NOT NULL, anchor_seq BIGINT NOT NULL, anchor_hash TEXT NOT NULL);"
    "INSERT INTO dari_audit_chain VALUES (1, 0, repeat('0', 64), 0, repeat('0', 64))"
    "  ON CONFLICT (id) DO NOTHING;"
    "COMMIT";

const char* kLockHead = "SELECT head_seq, head_hash FROM dari_audit_chain WHERE id = 1 FOR UPDATE";
const char* kInsert =
    "INSERT INTO dari_audit(seq, kind, time_ms, body, prev_hash, hash) "
    "VALUES ($1::bigint, $2, $3::bigint, $4, $5, $6)";
const char* kSetHead =
    "UPDATE dari_audit_chain SET head_seq = $1::bigint, head_hash = $2 WHERE id = 1";
const char* kReadState =
    "SELECT head_seq, head_hash, anchor_seq, anchor_hash FROM dari_audit_chain WHERE id = 1";
const char* kRows =
    "SELECT seq, kind, time_ms, body, prev_hash, hash FROM dari_audit "
    "WHERE time_ms >= $1::bigint AND time_ms < $2::bigint AND ($3::text = '' OR kind = $3::text) "
    "ORDER BY seq";

class PostgresStore final : public AuditStore {
 public:
  explicit PostgresStore(std::unique_ptr<PgConn> conn, std::string name)
      : conn_(std::move(conn)), name_(std::move(name)) {}

  const std::string& name() const override { return name_; }

  Status append(const std::vector<NewRow>& rows) override {
    return in_transaction("BEGIN", [&]() -> Status {
      DARI_ASSIGN_OR_RETURN(AuditRow head, lock_head());
      for (const NewRow& r : rows) DARI_TRY(insert_after(&head, r));
      return set_head(head);
    });
  }

  Status scan(const RowQuery& q, ChainState* state, const RowVisitor& visit) override;
  Result<int64_t> delete_prefix(int64_t cutoff_ms, int64_t now_ms,
                                const RetentionBody& body) override;

 private:
  std::unique_ptr<PgConn> conn_;
  std::string name_;

  Status in_transaction(const char* begin, const std::function<Status()>& fn);
  Result<AuditRow> lock_head();  // seq and hash of the head; holds its row lock until commit
  Status insert_after(AuditRow* head, const NewRow& row);  // *head becomes the new row
  Status set_head(const AuditRow& head);
  Status read_state(ChainState* state);
  Result<std::optional<int64_t>> single_int(const char* sql, const std::vector<std::string>& p,
                                            const char* what);
};

Status PostgresStore::in_transaction(const char* begin, const std::function<Status()>& fn) {
  DARI_TRY(conn_->ready());
  DARI_TRY(conn_->exec_script(begin, "begin"));
  Status s = fn();
  if (!s.ok()) {
    (void)conn_->exec_script("ROLLBACK", "rollback");
    return s;
  }
  PgResult r(PQexec(conn_->get(), "COMMIT"));
  // A COMMIT of a failed transaction reports "ROLLBACK" with a success status.
  if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK ||
      std::string_view(PQcmdStatus(r.get())) != "COMMIT") {
    return conn_->error("commit");
  }
  return Status::Ok();
}

Result<AuditRow> PostgresStore::lock_head() {
  DARI_ASSIGN_OR_RETURN(PgResult r, conn_->exec(kLockHead, {}, PGRES_TUPLES_OK, "locking head"));
  AuditRow head;
  if (PQntuples(r.get()) != 1 || !pg_int(r.get(), 0, 0, &head.seq)) {
    return make_error(name_ + ": the chain head row of dari_audit_chain is missing or damaged");
  }
  head.hash = pg_text(r.get(), 0, 1);
  return head;
}

Status PostgresStore::insert_after(AuditRow* head, const NewRow& row) {
  AuditRow r = chain_next(head->seq, head->hash, row);
  DARI_TRY(conn_->exec(
      kInsert,
      {std::to_string(r.seq), r.kind, std::to_string(r.time_ms), r.body, r.prev_hash, r.hash},
      PGRES_COMMAND_OK, "insert"));
  *head = std::move(r);
  return Status::Ok();
}

Status PostgresStore::set_head(const AuditRow& head) {
  DARI_ASSIGN_OR_RETURN(PgResult r, conn_->exec(kSetHead, {std::to_string(head.seq), head.hash},
                                                PGRES_COMMAND_OK, "updating head"));
  (void)r;
  return Status::Ok();
}

Status PostgresStore::read_state(ChainState* state) {
  DARI_ASSIGN_OR_RETURN(PgResult r, conn_->exec(kReadState, {}, PGRES_TUPLES_OK, "chain state"));
  if (PQntuples(r.get()) != 1) {
    return make_error(name_ +
                      ": dari_audit_chain has no head row (deleted?): the chain's end "
                      "cannot be checked");
  }
  state->has_head = true;
  // A damaged number becomes -1, which no chain matches: verify reports it.
  if (!pg_int(r.get(), 0, 0, &state->head_seq)) state->head_seq = -1;
  state->head_hash = pg_text(r.get(), 0, 1);
  if (!pg_int(r.get(), 0, 2, &state->anchor_seq)) state->anchor_seq = -1;
  state->anchor_hash = pg_text(r.get(), 0, 3);
  return Status::Ok();
}

Status PostgresStore::scan(const RowQuery& q, ChainState* state, const RowVisitor& visit) {
  // One snapshot for the chain state and every row, even while other instances append.
  return in_transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [&]() -> Status {
    if (state != nullptr) DARI_TRY(read_state(state));
    DARI_TRY(conn_->start_rows(
        kRows, {std::to_string(q.since_ms), std::to_string(q.until_ms), q.kind}, "reading rows"));
    Status err;
    bool more = true;
    while (PgResult row = conn_->next_row(&err)) {
      if (!more) continue;  // drain what the server still sends
      AuditRow r;
      const PGresult* p = row.get();
      if (!pg_int(p, 0, 0, &r.seq) || !pg_int(p, 0, 2, &r.time_ms)) {
        if (err.ok()) err = make_error(name_ + ": reading rows: malformed seq or time_ms");
        more = false;
        continue;
      }
      r.kind = pg_text(p, 0, 1);
      r.body = pg_text(p, 0, 3);
      r.prev_hash = pg_text(p, 0, 4);
      r.hash = pg_text(p, 0, 5);
      more = visit(r);
    }
    return err;
  });
}

Result<std::optional<int64_t>> PostgresStore::single_int(const char* sql,
                                                         const std::vector<std::string>& p,
                                                         const char* what) {
  DARI_ASSIGN_OR_RETURN(PgResult r, conn_->exec(sql, p, PGRES_TUPLES_OK, what));
  int64_t v = 0;
  if (PQntuples(r.get()) != 1 || !pg_int(r.get(), 0, 0, &v)) return std::optional<int64_t>();
  return std::optional<int64_t>(v);
}

Result<int64_t> PostgresStore::delete_prefix(int64_t cutoff_ms, int64_t now_ms,
                                             const RetentionBody& body) {
  int64_t deleted = 0;
  Status s = in_transaction("BEGIN", [&]() -> Status {
    DARI_ASSIGN_OR_RETURN(AuditRow head, lock_head());  // no append runs meanwhile
    DARI_ASSIGN_OR_RETURN(std::optional<int64_t> last,
                          single_int("SELECT max(seq) FROM dari_audit WHERE time_ms < $1::bigint",
                                     {std::to_string(cutoff_ms)}, "retention"));
    if (!last) return Status::Ok();
    PrefixFacts f;
    f.last = *last;
    DARI_ASSIGN_OR_RETURN(std::optional<int64_t> first,
                          single_int("SELECT min(seq) FROM dari_audit", {}, "retention"));
    f.first = first.value_or(f.last);
    DARI_ASSIGN_OR_RETURN(PgResult h,
                          conn_->exec("SELECT hash FROM dari_audit WHERE seq = $1",
                                      {std::to_string(f.last)}, PGRES_TUPLES_OK, "retention"));
    if (PQntuples(h.get()) != 1) return make_error(name_ + ": retention: row vanished");
    f.anchor_hash = pg_text(h.get(), 0, 0);
    DARI_ASSIGN_OR_RETURN(
        PgResult del, conn_->exec("DELETE FROM dari_audit WHERE seq <= $1::bigint",
                                  {std::to_string(f.last)}, PGRES_COMMAND_OK, "retention delete"));
    std::string_view n = PQcmdTuples(del.get());
    if (std::from_chars(n.data(), n.data() + n.size(), f.count).ec != std::errc()) {
      return make_error(name_ + ": retention delete: unexpected row count \"" + std::string(n) +
                        "\"");
    }
    deleted = f.count;
    DARI_TRY(conn_->exec(
        "UPDATE dari_audit_chain SET anchor_seq = $1::bigint, anchor_hash = $2 WHERE id = 1",
        {std::to_string(f.last), f.anchor_hash}, PGRES_COMMAND_OK, "moving the anchor"));
    DARI_TRY(insert_after(&head, {"retention", body(f), now_ms}));
    return set_head(head);
  });
  if (!s.ok()) return s.error();
  return deleted;
}

}  // namespace

Result<std::unique_ptr<AuditStore>> open_postgres_store(const std::string& conninfo) {
  std::string name = postgres_display_name(conninfo);
  DARI_ASSIGN_OR_RETURN(std::unique_ptr<PgConn> conn, PgConn::connect(conninfo, name));
  Status s = conn->exec_script(kSchema, "creating the audit schema");
  if (!s.ok()) {
    (void)conn->exec_script("ROLLBACK", "rollback");
    return s.error();
  }
  return std::unique_ptr<AuditStore>(new PostgresStore(std::move(conn), name));
}

}  // namespace dari::trust
