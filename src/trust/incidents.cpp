// Incident detectors (see incidents.h).
#include "trust/incidents.h"

namespace dari::trust {

namespace {
constexpr size_t kMaxSources = 4096;  // auth windows kept before expired ones are pruned
}

std::string client_host(std::string_view client) {
  if (!client.empty() && client.front() == '[') {
    size_t close = client.find(']');
    return std::string(close == std::string_view::npos ? client.substr(1)
                                                       : client.substr(1, close - 1));
  }
  size_t colon = client.find(':');
  if (colon != std::string_view::npos && client.find(':', colon + 1) == std::string_view::npos) {
    return std::string(client.substr(0, colon));  // IPv4 or name with a port
  }
  return std::string(client);  // bare IPv6 address or no port
}

bool IncidentMonitor::count(Window& w, int32_t limit, int64_t window_ms, int64_t now_ms) {
  if (limit <= 0) return false;
  if (w.count == 0 || now_ms - w.start_ms >= window_ms || now_ms < w.start_ms) {
    w = Window{now_ms, 0};
  }
  if (w.count < INT32_MAX) ++w.count;
  return w.count == limit;
}

bool IncidentMonitor::count_source(const std::string& source, int64_t now_ms) {
  if (auth_.size() >= kMaxSources && auth_.find(source) == auth_.end()) {
    std::erase_if(auth_,
                  [&](const auto& kv) { return now_ms - kv.second.start_ms >= t_.auth_window_ms; });
    if (auth_.size() >= kMaxSources) auth_.erase(auth_.begin());  // bounded memory
  }
  return count(auth_[source], t_.auth_failures, t_.auth_window_ms, now_ms);
}

std::optional<std::string> IncidentMonitor::auth_failure(std::string_view client,
                                                         std::string_view key_id, int64_t now_ms) {
  if (t_.auth_failures <= 0) return std::nullopt;
  const std::string window = " within " + std::to_string(t_.auth_window_ms / 1000) + " s";
  const std::string limit = std::to_string(t_.auth_failures);
  std::optional<std::string> detail;
  std::lock_guard<std::mutex> lock(mu_);
  const std::string host = client_host(client);
  if (count_source("addr:" + host, now_ms)) {
    detail = limit + " failed authentications from " + host + window;
  }
  if (!key_id.empty() && count_source("key:" + std::string(key_id), now_ms) && !detail) {
    detail = limit + " failed authentications with key " + std::string(key_id) + window;
  }
  return detail;
}

std::optional<std::string> IncidentMonitor::request_error(int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!count(errors_, t_.error_burst, t_.error_window_ms, now_ms)) return std::nullopt;
  return "error burst: " + std::to_string(t_.error_burst) + " failed requests within " +
         std::to_string(t_.error_window_ms / 1000) + " s";
}

}  // namespace dari::trust
