// AuditLog::verify (walks the hash chain and names the first row at fault) and export_to
// (JSON Lines or CSV over a time range).
#include <ctime>
#include <nlohmann/json.hpp>

#include "trust/audit_internal.h"

namespace dari::trust {

using nlohmann::json;

namespace {

std::string iso_time(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string field_text(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

ChainReport fail(ChainReport r, int64_t seq, std::string msg) {
  r.ok = false;
  r.bad_seq = seq;
  r.message = std::move(msg);
  return r;
}

}  // namespace

ChainReport AuditLog::verify() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  ChainReport r;
  sqlite3* db = impl_->db;
  // One read transaction: a consistent snapshot even while another process appends.
  if (!sql_exec(db, "BEGIN", "begin").ok()) return fail(r, -1, "cannot begin a read transaction");
  struct End {
    sqlite3* db;
    ~End() { (void)sql_exec(db, "COMMIT", "commit"); }
  } end{db};
  int64_t anchor_seq = std::strtoll(impl_->meta("anchor_seq", "0").c_str(), nullptr, 10);
  std::string anchor_hash = impl_->meta("anchor_hash", kGenesisHash);
  std::string head_seq_text = impl_->meta("head_seq", "");
  std::string head_hash = impl_->meta("head_hash", "");
  int64_t expect_seq = anchor_seq + 1;
  std::string expect_prev = anchor_hash;
  int64_t last_retention_to = 0;
  std::string last_retention_hash;
  Stmt st(db, "SELECT seq, kind, time_ms, body, prev_hash, hash FROM audit ORDER BY seq");
  if (!st.ok()) return fail(r, -1, impl_->path + ": " + sqlite3_errmsg(db));
  std::string last_hash = anchor_hash;
  int64_t last_seq = anchor_seq;
  while (st.step() == SQLITE_ROW) {
    int64_t seq = st.col_int(0);
    std::string kind = st.col_text(1), body = st.col_text(3), prev = st.col_text(4),
                hash = st.col_text(5);
    int64_t time_ms = st.col_int(2);
    if (seq != expect_seq) {
      if (seq > expect_seq) {
        return fail(r, expect_seq,
                    "row " + std::to_string(expect_seq) +
                        (seq - expect_seq > 1 ? "-" + std::to_string(seq - 1) : std::string()) +
                        " missing before row " + std::to_string(seq) + " (deleted)");
      }
      return fail(r, seq, "row " + std::to_string(seq) + " out of sequence (inserted)");
    }
    if (chain_hash(prev, seq, kind, time_ms, body) != hash) {
      return fail(r, seq,
                  "row " + std::to_string(seq) + " does not match its stored hash (modified)");
    }
    if (prev != expect_prev) {
      return fail(r, seq,
                  "row " + std::to_string(seq) + " does not link to row " +
                      std::to_string(seq - 1) +
                      " (a row was inserted, replaced or re-hashed at or before it)");
    }
    if (kind == "retention") {
      json b = json::parse(body, nullptr, false);
      if (b.is_discarded() || !b.is_object() || !b.contains("deleted_to") ||
          !b["deleted_to"].is_number_integer() || !b.contains("anchor_hash") ||
          !b["anchor_hash"].is_string()) {
        return fail(r, seq, "row " + std::to_string(seq) + ": malformed retention record");
      }
      last_retention_to = b["deleted_to"].get<int64_t>();
      last_retention_hash = b["anchor_hash"].get<std::string>();
    }
    ++r.rows;
    expect_seq = seq + 1;
    expect_prev = hash;
    last_hash = hash;
    last_seq = seq;
  }
  if (anchor_seq != 0 && (anchor_seq != last_retention_to || anchor_hash != last_retention_hash)) {
    return fail(r, anchor_seq + 1,
                "the chain starts after row " + std::to_string(anchor_seq) +
                    " but no retention record accounts for that (rows deleted at the start)");
  }
  if (!head_seq_text.empty() &&
      (std::to_string(last_seq) != head_seq_text || last_hash != head_hash)) {
    int64_t head_seq = std::strtoll(head_seq_text.c_str(), nullptr, 10);
    return fail(r, last_seq > head_seq ? head_seq + 1 : last_seq + 1,
                "the chain ends at row " + std::to_string(last_seq) +
                    " but the recorded head is row " + head_seq_text +
                    " (rows deleted or appended at the end)");
  }
  r.ok = true;
  r.message = std::to_string(r.rows) + " rows, chain intact";
  return r;
}

Status AuditLog::export_to(std::FILE* out, ExportRange range, ExportFormat format) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt st(impl_->db,
          "SELECT seq, kind, time_ms, body, prev_hash, hash FROM audit "
          "WHERE time_ms >= ? AND time_ms < ? ORDER BY seq");
  if (!st.ok()) return make_error(impl_->path + ": " + sqlite3_errmsg(impl_->db));
  st.bind(1, range.since_ms).bind(2, range.until_ms);
  if (format == ExportFormat::kCsv) {
    std::fputs(
        "seq,time,kind,request_id,key_id,client,endpoint,model,status,http_status,"
        "finish_reason,prompt_tokens,completion_tokens,latency_ms,hash\n",
        out);
  }
  while (st.step() == SQLITE_ROW) {
    int64_t seq = st.col_int(0), time_ms = st.col_int(2);
    std::string kind = st.col_text(1);
    json body = json::parse(st.col_text(3), nullptr, false);
    if (body.is_discarded()) body = json::object();
    std::string line;
    if (format == ExportFormat::kJsonl) {
      json row{
          {"seq", seq},     {"time", iso_time(time_ms)},   {"time_ms", time_ms},    {"kind", kind},
          {"record", body}, {"prev_hash", st.col_text(4)}, {"hash", st.col_text(5)}};
      line = canonical_json(row);
    } else {
      line = std::to_string(seq) + "," + iso_time(time_ms) + "," + csv_field(kind);
      for (const char* k :
           {"request_id", "key_id", "client", "endpoint", "model", "status", "http_status",
            "finish_reason", "prompt_tokens", "completion_tokens", "latency_ms"}) {
        line += "," + csv_field(field_text(body, k));
      }
      line += "," + st.col_text(5);
    }
    line += "\n";
    if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) {
      return make_error("export: write failed");
    }
  }
  return Status::Ok();
}

}  // namespace dari::trust

namespace dari::trust {

Result<int64_t> parse_time_ms(std::string_view text) {
  std::string s(text);
  auto bad = [&] {
    return make_error("time \"" + s +
                      "\": expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or unix seconds");
  };
  if (s.empty()) return bad();
  if (s.find_first_not_of("0123456789") == std::string::npos) {
    if (s.size() > 12) return bad();
    return static_cast<int64_t>(std::stoll(s)) * 1000;
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, used = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10) return bad();
  std::string rest = s.substr(10);
  if (!rest.empty()) {
    if (rest[0] != 'T' && rest[0] != ' ') return bad();
    int used2 = 0;
    if (std::sscanf(rest.c_str() + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &used2) != 3 || used2 != 8) {
      return bad();
    }
    std::string tail = rest.substr(9);
    if (!tail.empty() && tail[0] == '.') {
      size_t n = tail.find_first_not_of("0123456789", 1);
      tail = n == std::string::npos ? "" : tail.substr(n);
    }
    if (!tail.empty() && tail != "Z" && tail != "+00:00") return bad();
  }
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      sec > 60) {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

}  // namespace dari::trust
