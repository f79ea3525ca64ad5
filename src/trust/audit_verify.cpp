// AuditLog::verify (walks the hash chain and names the first row at fault) and export_to
// (JSON Lines or CSV over a time range), on top of whichever AuditStore the log opened.
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

// Walks rows in seq order and remembers the first fault. Backend-neutral: the store supplies
// the rows and the chain state from one snapshot.
class ChainWalker {
 public:
  explicit ChainWalker(const ChainState& st)
      : st_(st),
        expect_seq_(st.anchor_seq + 1),
        last_seq_(st.anchor_seq),
        last_hash_(st.anchor_hash) {}

  bool visit(const AuditRow& row);  // false at the first fault
  ChainReport finish();             // the report once every row was visited

 private:
  const ChainState& st_;
  ChainReport r_;
  bool failed_ = false;
  int64_t expect_seq_, last_seq_;
  std::string last_hash_;
  int64_t retention_to_ = 0;
  std::string retention_hash_;

  bool fault(int64_t seq, std::string msg) {
    r_ = fail(r_, seq, std::move(msg));
    failed_ = true;
    return false;
  }
};

bool ChainWalker::visit(const AuditRow& row) {
  const int64_t seq = row.seq;
  const std::string s = std::to_string(seq);
  if (seq != expect_seq_) {
    if (seq > expect_seq_) {
      return fault(expect_seq_,
                   "row " + std::to_string(expect_seq_) +
                       (seq - expect_seq_ > 1 ? "-" + std::to_string(seq - 1) : std::string()) +
                       " missing before row " + s + " (deleted)");
    }
    return fault(seq, "row " + s + " out of sequence (inserted)");
  }
  if (chain_hash(row.prev_hash, seq, row.kind, row.time_ms, row.body) != row.hash) {
    return fault(seq, "row " + s + " does not match its stored hash (modified)");
  }
  if (row.prev_hash != last_hash_) {
    return fault(seq, "row " + s + " does not link to row " + std::to_string(seq - 1) +
                          " (a row was inserted, replaced or re-hashed at or before it)");
  }
  if (row.kind == "retention") {
    json b = json::parse(row.body, nullptr, false);
    if (b.is_discarded() || !b.is_object() || !b.contains("deleted_to") ||
        !b["deleted_to"].is_number_integer() || !b.contains("anchor_hash") ||
        !b["anchor_hash"].is_string()) {
      return fault(seq, "row " + s + ": malformed retention record");
    }
    retention_to_ = b["deleted_to"].get<int64_t>();
    retention_hash_ = b["anchor_hash"].get<std::string>();
  }
  ++r_.rows;
  expect_seq_ = seq + 1;
  last_seq_ = seq;
  last_hash_ = row.hash;
  r_.last_good_seq = seq;
  return true;
}

ChainReport ChainWalker::finish() {
  if (failed_) return r_;
  if (st_.anchor_seq != 0 &&
      (st_.anchor_seq != retention_to_ || st_.anchor_hash != retention_hash_)) {
    return fail(r_, st_.anchor_seq + 1,
                "the chain starts after row " + std::to_string(st_.anchor_seq) +
                    " but no retention record accounts for that (rows deleted at the start)");
  }
  if (st_.has_head && (last_seq_ != st_.head_seq || last_hash_ != st_.head_hash)) {
    return fail(r_, last_seq_ > st_.head_seq ? st_.head_seq + 1 : last_seq_ + 1,
                "the chain ends at row " + std::to_string(last_seq_) +
                    " but the recorded head is row " + std::to_string(st_.head_seq) +
                    " (rows deleted or appended at the end)");
  }
  r_.ok = true;
  r_.message = std::to_string(r_.rows) + " rows, chain intact";
  return r_;
}

std::string export_line(const AuditRow& row, ExportFormat format) {
  json body = json::parse(row.body, nullptr, false);
  if (body.is_discarded()) body = json::object();
  if (format == ExportFormat::kJsonl) {
    json out{{"seq", row.seq},         {"time", iso_time(row.time_ms)},
             {"time_ms", row.time_ms}, {"kind", row.kind},
             {"record", body},         {"prev_hash", row.prev_hash},
             {"hash", row.hash}};
    return canonical_json(out) + "\n";
  }
  std::string line =
      std::to_string(row.seq) + "," + iso_time(row.time_ms) + "," + csv_field(row.kind);
  for (const char* k :
       {"request_id", "key_id", "client", "endpoint", "model", "status", "http_status",
        "finish_reason", "prompt_tokens", "completion_tokens", "latency_ms"}) {
    line += "," + csv_field(field_text(body, k));
  }
  return line + "," + row.hash + "\n";
}

}  // namespace

ChainReport AuditLog::verify() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  ChainState state;
  std::unique_ptr<ChainWalker> walker;
  bool started = false;
  // The walker needs the chain state, which the store fills before the first row.
  Status s = impl_->store->scan(RowQuery{}, &state, [&](const AuditRow& row) {
    if (!started) {
      walker = std::make_unique<ChainWalker>(state);
      started = true;
    }
    return walker->visit(row);
  });
  if (!s.ok()) return fail(ChainReport{}, -1, s.message());
  if (!started) walker = std::make_unique<ChainWalker>(state);
  return walker->finish();
}

Status AuditLog::export_to(std::FILE* out, ExportRange range, ExportFormat format) {
  if (format == ExportFormat::kCsv) {
    std::fputs(
        "seq,time,kind,request_id,key_id,client,endpoint,model,status,http_status,"
        "finish_reason,prompt_tokens,completion_tokens,latency_ms,hash\n",
        out);
  }
  RowQuery q;
  q.since_ms = range.since_ms;
  q.until_ms = range.until_ms;
  bool write_failed = false;
  std::lock_guard<std::mutex> lock(impl_->mu);
  DARI_TRY(impl_->store->scan(q, nullptr, [&](const AuditRow& row) {
    std::string line = export_line(row, format);
    write_failed = std::fwrite(line.data(), 1, line.size(), out) != line.size();
    return !write_failed;
  }));
  return write_failed ? Status(make_error("export: write failed")) : Status::Ok();
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
