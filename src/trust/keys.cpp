// API keys in SQLite: only sha256(secret) is stored; lookups compare in constant time.
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <mutex>

#include "trust/internal.h"

namespace dari::trust {
namespace {

const char* kKeySchema =
    "CREATE TABLE IF NOT EXISTS api_keys("
    "  key_id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_sha256 TEXT NOT NULL,"
    "  scopes INTEGER NOT NULL, requests_per_minute INTEGER NOT NULL,"
    "  tokens_per_day INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    "  revoked_ms INTEGER NOT NULL DEFAULT 0);";

std::string random_bytes(size_t n) {
  std::string s(n, '\0');
  DARI_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n)) == 1);
  return s;
}

std::string base64url(std::string_view bytes) {
  std::string s = base64_encode(bytes);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

KeyInfo row_to_info(Stmt& st) {
  KeyInfo k;
  k.key_id = st.col_text(0);
  k.name = st.col_text(1);
  k.scopes = static_cast<uint32_t>(st.col_int(2));
  k.requests_per_minute = st.col_int(3);
  k.tokens_per_day = st.col_int(4);
  k.created_ms = st.col_int(5);
  k.revoked_ms = st.col_int(6);
  return k;
}

}  // namespace

Result<uint32_t> parse_scopes(std::string_view list) {
  uint32_t scopes = 0;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string_view::npos) end = list.size();
    std::string_view s = list.substr(pos, end - pos);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    if (s == "infer") {
      scopes |= kScopeInfer;
    } else if (s == "admin") {
      scopes |= kScopeAdmin;
    } else if (s == "metrics") {
      scopes |= kScopeMetrics;
    } else {
      return make_error("scope \"" + std::string(s) + "\" is not one of infer, admin, metrics");
    }
    pos = end + 1;
  }
  return scopes;
}

std::string scopes_to_string(uint32_t scopes) {
  std::string s;
  if (scopes & kScopeInfer) s += "infer";
  if (scopes & kScopeAdmin) s += std::string(s.empty() ? "" : ",") + "admin";
  if (scopes & kScopeMetrics) s += std::string(s.empty() ? "" : ",") + "metrics";
  return s;
}

struct KeyStore::Impl {
  sqlite3* db = nullptr;
  std::string path;
  std::mutex mu;
};

KeyStore::KeyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyStore::~KeyStore() {
  sqlite3_close(impl_->db);
}

Result<std::unique_ptr<KeyStore>> KeyStore::open(const std::string& path) {
  DARI_ASSIGN_OR_RETURN(sqlite3 * db, sql_open(path));
  auto impl = std::make_unique<Impl>();
  impl->db = db;
  impl->path = path;
  DARI_TRY(sql_exec(db, kKeySchema, path + ": creating the key schema"));
  return std::unique_ptr<KeyStore>(new KeyStore(std::move(impl)));
}

Result<std::string> KeyStore::create(KeyInfo info) {
  if (info.name.empty()) return make_error("key name must not be empty");
  if (info.requests_per_minute < 0 || info.tokens_per_day < 0) {
    return make_error("key quotas must be >= 0 (0 = unlimited)");
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::string id_bytes = random_bytes(8);
  std::string key_id = sha256_hex(id_bytes).substr(0, 16);
  std::string secret = base64url(random_bytes(32));
  if (info.created_ms == 0) info.created_ms = system_now_ms();
  Stmt st(impl_->db,
          "INSERT INTO api_keys(key_id, name, secret_sha256, scopes, requests_per_minute,"
          " tokens_per_day, created_ms) VALUES(?,?,?,?,?,?,?)");
  st.bind(1, key_id).bind(2, info.name).bind(3, sha256_hex(secret));
  st.bind(4, int64_t{info.scopes}).bind(5, info.requests_per_minute).bind(6, info.tokens_per_day);
  st.bind(7, info.created_ms);
  if (st.step() != SQLITE_DONE) {
    return make_error(impl_->path + ": adding key: " + sqlite3_errmsg(impl_->db));
  }
  return "dari_" + key_id + "_" + secret;
}

Status KeyStore::revoke(std::string_view key_id, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt st(impl_->db, "UPDATE api_keys SET revoked_ms = ? WHERE key_id = ? AND revoked_ms = 0");
  st.bind(1, now_ms).bind(2, key_id);
  if (st.step() != SQLITE_DONE) return make_error(impl_->path + ": " + sqlite3_errmsg(impl_->db));
  if (sqlite3_changes(impl_->db) == 0) {
    return make_error("key \"" + std::string(key_id) + "\" not found or already revoked");
  }
  return Status::Ok();
}

Result<std::vector<KeyInfo>> KeyStore::list() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt st(impl_->db,
          "SELECT key_id, name, scopes, requests_per_minute, tokens_per_day, created_ms,"
          " revoked_ms FROM api_keys ORDER BY created_ms, key_id");
  if (!st.ok()) return make_error(impl_->path + ": " + sqlite3_errmsg(impl_->db));
  std::vector<KeyInfo> out;
  while (st.step() == SQLITE_ROW) out.push_back(row_to_info(st));
  return out;
}

Result<bool> KeyStore::empty() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt st(impl_->db, "SELECT 1 FROM api_keys LIMIT 1");
  if (!st.ok()) return make_error(impl_->path + ": " + sqlite3_errmsg(impl_->db));
  return st.step() != SQLITE_ROW;
}

Result<std::optional<KeyInfo>> KeyStore::lookup(std::string_view token) {
  // dari_<16 hex>_<43 base64url>
  if (token.size() != 5 + 16 + 1 + 43 || token.substr(0, 5) != "dari_" || token[21] != '_') {
    return std::optional<KeyInfo>();
  }
  std::string key_id(token.substr(5, 16));
  std::string want = sha256_hex(token.substr(22));
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt st(impl_->db,
          "SELECT key_id, name, scopes, requests_per_minute, tokens_per_day, created_ms,"
          " revoked_ms, secret_sha256 FROM api_keys WHERE key_id = ?");
  if (!st.ok()) return make_error(impl_->path + ": " + sqlite3_errmsg(impl_->db));
  st.bind(1, key_id);
  if (st.step() != SQLITE_ROW) return std::optional<KeyInfo>();
  std::string have = st.col_text(7);
  if (have.size() != want.size() || CRYPTO_memcmp(have.data(), want.data(), want.size()) != 0) {
    return std::optional<KeyInfo>();
  }
  return std::optional<KeyInfo>(row_to_info(st));
}

}  // namespace dari::trust
