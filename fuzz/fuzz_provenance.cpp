// libFuzzer harness: arbitrary bytes through what `dari verify` reads: a saved response (JSON
// or an SSE transcript) or a bare provenance object, then offline verification.
// Input: <saved response or provenance JSON> [NUL <text for the bare provenance>].
// Checks: never crashes or throws; an accepted provenance re-serialises to an object that
// parses back to the same canonical form; verification of fuzzed input is never "intact" for a
// text whose hash does not match.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dari/trust/trust.h"

namespace {

using dari::trust::Provenance;

void check(const Provenance& p, std::string_view text) {
  std::string json = dari::trust::provenance_to_json(p);
  auto back = dari::trust::provenance_from_json(json);
  if (!back.ok() ||
      dari::trust::canonical_provenance(*back) != dari::trust::canonical_provenance(p)) {
    std::abort();
  }
  dari::trust::VerifyOutcome v = dari::trust::verify_provenance(p, text, {});
  if (v.intact && dari::trust::sha256_hex(text) != p.output_sha256) std::abort();
  if (!v.intact && v.reason.empty()) std::abort();
  auto decoded = dari::trust::base64_decode(dari::trust::provenance_header(p));
  if (!decoded.ok() || *decoded != json) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view head = input.substr(0, nul);
  const std::string_view text =
      nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  auto saved = dari::trust::extract_saved_response(head);
  if (saved.ok()) check(saved->second, saved->first);
  auto bare = dari::trust::provenance_from_json(head);
  if (bare.ok()) check(*bare, text);
  if (!saved.ok() && saved.message().empty()) std::abort();
  return 0;
}
