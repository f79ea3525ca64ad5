// Browser safety for `dari serve`: which Origin and Host header values a request may carry.
//
// A web page open in a local browser can send requests to a server on loopback, and loopback
// clients are trusted without a key by default. Two checks close that door:
//   - Origin (cross-site requests): a request that carries an Origin header is refused (403)
//     unless the origin is the server's own (scheme://Host of the request, as the built-in web
//     page sends it) or listed in allowed_origins ("*" allows any).
//   - Host (DNS rebinding: a hostile name that resolves to 127.0.0.1): for loopback clients the
//     Host must be an IP literal, "localhost" (or a name under .localhost), the name the server
//     was bound to, or listed in allowed_hosts ("*" allows any).
// Thread safety: pure functions; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dari::server {

struct BrowserPolicy {
  std::vector<std::string> allowed_origins;  // "scheme://host[:port]", lower case; "*": any
  std::vector<std::string> allowed_hosts;    // host names without port, lower case; "*": any
  std::string bound_host;                    // ServerOptions::host
};

// The host part of a Host header value: port removed, IPv6 brackets kept, lower case.
std::string host_name(std::string_view host_header);
bool host_allowed(std::string_view host_header, const BrowserPolicy& p);
// tls: the request arrived over TLS (so the page's own origin is https://).
bool origin_allowed(std::string_view origin, std::string_view host_header, bool tls,
                    const BrowserPolicy& p);
// "127.0.0.1:5000", "[::1]:80", "::ffff:127.0.0.1" ...: the peer is on this machine.
bool is_loopback_peer(std::string_view remote);

}  // namespace dari::server
