// Browser safety checks (see origin.h).
#include "origin.h"

#include <algorithm>
#include <cctype>

namespace dari::server {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool listed(const std::vector<std::string>& list, const std::string& value) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& v) { return v == "*" || lower(v) == value; });
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Dotted IPv4 (four decimal parts) or a bracketed IPv6 literal.
bool ip_literal(const std::string& h) {
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    return std::all_of(h.begin() + 1, h.end() - 1, [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
    });
  }
  int parts = 0;
  size_t start = 0;
  while (start <= h.size()) {
    size_t dot = h.find('.', start);
    if (dot == std::string::npos) dot = h.size();
    std::string_view part(h.data() + start, dot - start);
    if (!all_digits(part) || part.size() > 3) return false;
    ++parts;
    start = dot + 1;
  }
  return parts == 4;
}

}  // namespace

std::string host_name(std::string_view host_header) {
  std::string h = lower(host_header);
  if (!h.empty() && h.front() == '[') {
    const size_t close = h.find(']');
    return close == std::string::npos ? h : h.substr(0, close + 1);
  }
  const size_t colon = h.rfind(':');
  if (colon != std::string::npos && all_digits(std::string_view(h).substr(colon + 1))) {
    h.resize(colon);
  }
  return h;
}

bool host_allowed(std::string_view host_header, const BrowserPolicy& p) {
  const std::string h = host_name(host_header);
  if (h.empty()) return false;
  if (ip_literal(h) || h == "localhost") return true;
  if (h.size() > 10 && h.compare(h.size() - 10, 10, ".localhost") == 0) return true;
  if (!p.bound_host.empty() && h == lower(p.bound_host)) return true;
  return listed(p.allowed_hosts, h);
}

bool origin_allowed(std::string_view origin, std::string_view host_header, bool tls,
                    const BrowserPolicy& p) {
  const std::string o = lower(origin);
  if (!host_header.empty() && o == std::string(tls ? "https://" : "http://") + lower(host_header)) {
    return true;
  }
  return listed(p.allowed_origins, o);
}

bool is_loopback_peer(std::string_view remote) {
  return remote.rfind("127.", 0) == 0 || remote.rfind("::1", 0) == 0 ||
         remote.rfind("[::1]", 0) == 0 || remote.rfind("::ffff:127.", 0) == 0 ||
         remote.rfind("[::ffff:127.", 0) == 0;
}

}  // namespace dari::server
