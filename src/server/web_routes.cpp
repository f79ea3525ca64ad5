// web_routes.h: path → file, the embedded copy or the --path folder, and the response headers.
#include "web_routes.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "dari/web/assets.h"

namespace dari::server {

namespace {

constexpr size_t kMaxNameBytes = 128;
constexpr size_t kMaxFileBytes = 8u << 20;  // a page file from --path larger than this is refused

bool plain_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// FNV-1a over the bytes: a validator for If-None-Match, not a security property.
std::string etag_of(std::string_view body) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

std::optional<std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > kMaxFileBytes) return std::nullopt;
  return s;
}

}  // namespace

std::string web_file_name(std::string_view path) {
  if (path == "/") return "index.html";
  if (path == "/dashboard" || path == "/dashboard/") return "dashboard.html";
  constexpr std::string_view kPrefix = "/web/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return {};
  const std::string_view name = path.substr(kPrefix.size());
  return plain_name(name) ? std::string(name) : std::string();
}

std::optional<WebFile> load_web_file(const std::string& dir, const std::string& name) {
  WebFile f;
  f.content_type = std::string(web::content_type_for(name));
  if (f.content_type.empty()) return std::nullopt;
  if (dir.empty()) {
    const web::Asset* a = web::find_asset(name);
    if (a == nullptr) return std::nullopt;
    f.body = std::string(a->body);
  } else {
    auto body = read_small_file(dir + "/" + name);
    if (!body) return std::nullopt;
    f.body = std::move(*body);
  }
  f.headers = {{"ETag", etag_of(f.body)},
               {"Cache-Control", "no-cache"},
               {"X-Content-Type-Options", "nosniff"},
               {"Referrer-Policy", "no-referrer"}};
  if (f.content_type.rfind("text/html", 0) == 0) {
    // The pages load only their own files and talk only to this server.
    f.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    f.headers.emplace_back("X-Frame-Options", "DENY");
  }
  return f;
}

bool web_not_modified(const WebFile& f, std::string_view if_none_match) {
  if (if_none_match.empty()) return false;
  const std::string& tag = f.headers.front().second;  // ETag comes first (load_web_file)
  return if_none_match == "*" || if_none_match.find(tag) != std::string_view::npos;
}

}  // namespace dari::server
