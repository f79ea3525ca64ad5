// Incident detectors (internal to dari_trust): repeated authentication failures per client
// address or key, and bursts of failed requests. They only count; TrustLayer records the
// incidents they report.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace dari::trust {

// "1.2.3.4:80" -> "1.2.3.4", "[::1]:5000" -> "::1"; an address without a port is kept.
std::string client_host(std::string_view client);

struct IncidentThresholds {
  int32_t auth_failures = 10;  // per source within auth_window_ms (0 = off)
  int64_t auth_window_ms = 60000;
  int32_t error_burst = 20;  // failed requests within error_window_ms (0 = off)
  int64_t error_window_ms = 60000;
};

// Thread safety: internal mutex; any thread. Times are caller-supplied unix milliseconds.
class IncidentMonitor {
 public:
  explicit IncidentMonitor(IncidentThresholds t) : t_(t) {}
  // One failed authentication from `client` (peer address, port ignored) presenting `key_id`
  // ("" when no key or not parsable). Returns the incident detail when a source reaches the
  // threshold within its window (once per window and source).
  std::optional<std::string> auth_failure(std::string_view client, std::string_view key_id,
                                          int64_t now_ms);
  // One failed request. Returns the incident detail when the burst threshold is reached
  // (once per window).
  std::optional<std::string> request_error(int64_t now_ms);

 private:
  struct Window {
    int64_t start_ms = 0;
    int32_t count = 0;
  };
  // Counts one event in `w`; true when this event reaches `limit` within `window_ms`.
  static bool count(Window& w, int32_t limit, int64_t window_ms, int64_t now_ms);
  bool count_source(const std::string& source, int64_t now_ms);

  IncidentThresholds t_;
  std::mutex mu_;
  std::map<std::string, Window, std::less<>> auth_;  // source -> window; pruned when large
  Window errors_;
};

}  // namespace dari::trust
