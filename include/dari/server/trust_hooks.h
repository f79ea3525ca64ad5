// TrustHooks: the trust layer (dari/trust/trust.h) wired into the server's ServerHooks.
//
//   admit          → TrustLayer::authorize (Authorization: Bearer, peer address, endpoint); a
//                    denial becomes the OpenAI error with the same status (401/403/429 with
//                    Retry-After/503). The Grant travels with the request (RequestState::check):
//                    a revoked key or a pause with cancellation stops the request (403 / 503).
//   headers        → X-AI-Generated: true; X-AI-Provenance: stream_header (streams, unsigned)
//                    or provenance_header (non-streaming, signed) when the policy discloses.
//   body           → "provenance" (provenance_to_json, signed over choices[0]'s delivered text)
//                    in the JSON body or the final SSE chunk; the visible label per policy.
//   on_complete    → record_async (never blocks the I/O thread) + charge_tokens. With audit on,
//                    the response's last bytes ("data: [DONE]" / the JSON body) are held until
//                    the record's batch is committed (on_complete_durable), so a response a
//                    client saw complete always has its record, even after kill -9.
//   routes         → POST /admin/pause {"reason","cancel_in_flight"}, POST /admin/resume,
//                    POST /admin/keys/revoke {"key_id"} (loopback without a key, or a key with
//                    the admin scope), POST /v1/feedback {"request_id","rating","text"}.
//   on_tick        → refresh_revocations() (revocations made by `dari keys revoke`).
//   make_trust_hooks also starts the trust layer's retention timer ([audit].retention_*).
//
// Ownership: shares the TrustLayer. Thread safety: as ServerHooks (any I/O thread).
#pragma once

#include <memory>
#include <string>

#include "dari/server/hooks.h"
#include "dari/trust/trust.h"

namespace dari::server {

// model_sha256: sha256_file_hex of the served model file (in every provenance and audit row).
std::shared_ptr<ServerHooks> make_trust_hooks(std::shared_ptr<trust::TrustLayer> trust,
                                              std::string model_sha256);

}  // namespace dari::server
