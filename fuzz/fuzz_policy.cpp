// libFuzzer harness: arbitrary bytes through the deployment policy parser and validator.
// Checks: never crashes or throws; errors name the source; an accepted policy satisfies the
// documented ranges and renders to TOML that parses back to the same policy.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dari/trust/trust.h"

namespace {

using dari::trust::Policy;

void check_ranges(const Policy& p) {
  if (p.operator_name.empty() || p.deployment_id.empty()) std::abort();
  if (p.retention_days < 0 || p.retention_days > 36500) std::abort();
  if (p.explanation_top_k < 0 || p.explanation_top_k > 20) std::abort();
  if (p.default_requests_per_minute < 0 || p.default_tokens_per_day < 0) std::abort();
  if (p.high_impact && (!p.audit || !p.disclosure || !p.explanations)) std::abort();
  if (p.audit && p.audit_db.empty()) std::abort();
}

bool same(const Policy& a, const Policy& b) {
  return a.operator_name == b.operator_name && a.deployment_id == b.deployment_id &&
         a.domain == b.domain && a.high_impact == b.high_impact && a.disclosure == b.disclosure &&
         a.label_placement == b.label_placement && a.label_ko == b.label_ko &&
         a.label_en == b.label_en && a.audit == b.audit && a.audit_backend == b.audit_backend &&
         a.audit_db == b.audit_db && a.store_prompts == b.store_prompts &&
         a.store_outputs == b.store_outputs && a.retention_days == b.retention_days &&
         a.require_keys == b.require_keys && a.keys_db == b.keys_db &&
         a.incident_webhook == b.incident_webhook;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto p = dari::trust::parse_policy(text, "fuzz.toml");
  if (!p.ok()) {
    if (p.message().rfind("fuzz.toml", 0) != 0) std::abort();  // errors name the file
    return 0;
  }
  check_ranges(*p);
  (void)dari::trust::policy_warnings(*p);
  (void)dari::trust::label_text(*p);
  auto again = dari::trust::parse_policy(dari::trust::policy_to_toml(*p), "shown.toml");
  if (!again.ok() || !same(*p, *again)) std::abort();
  return 0;
}
