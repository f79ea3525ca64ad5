// The read-only views of the trust layer that the web pages show (web/README.md):
//   GET /v1/provenance  the signer and the disclosure label (public: it is in every response);
//   GET /admin/status   pause state, audit-chain check, keys with their usage, incidents,
//                       feedback (admin scope or loopback).
// Thread safety: any thread; StatusView serialises its audit check with a mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "dari/trust/trust.h"

namespace dari::server {

std::string provenance_info_json(const trust::TrustLayer& t);

class StatusView {
 public:
  explicit StatusView(std::shared_ptr<trust::TrustLayer> t) : trust_(std::move(t)) {}
  // The /admin/status body. The audit chain is re-verified when the last check is older than
  // kAuditCheckEveryMs (a verification reads every row).
  std::string json_body();
  static constexpr int64_t kAuditCheckEveryMs = 5000;

 private:
  nlohmann::json audit_json(int64_t now_ms);
  std::shared_ptr<trust::TrustLayer> trust_;
  std::mutex mu_;  // guards the cached check
  int64_t checked_ms_ = -1;
  trust::ChainReport report_;
};

}  // namespace dari::server
