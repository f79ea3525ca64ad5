// TrustHooks: the trust layer (dari/trust/trust.h) wired into the server's ServerHooks.
//
//   open (header)  → TrustLayer::authenticate (Authorization: Bearer, peer address, the scope the
//                    path needs: infer for completions and feedback, admin for /admin/*,
//                    metrics or admin for /metrics, any for /v1/models): 401/403 before the
//                    body is read. 401s leave no audit row (they are counted as incidents).
//   session        → one TrustSession per request:
//     admit        → TrustLayer::admit (pause 503, rate and token budgets 429); a refusal is
//                    audited as "rejected" with the key id.
//     check        → the Grant: a revoked key or a pause with cancellation stops the request
//                    (403 / 503).
//     headers      → X-AI-Generated: true; X-AI-Provenance: stream_header (streams, unsigned)
//                    or provenance_header (non-streaming, signed) when the policy discloses.
//     body         → "provenance" (provenance_to_json, signed over choices[0]'s delivered text)
//                    in the JSON body or the final SSE chunk; the visible label per policy.
//     finish       → exactly one audit row (record_async, never blocking the I/O thread) and
//                    charge_tokens for every token generated. With audit on, the response's last
//                    bytes ("data: [DONE]" / the JSON body) are held until the row's batch is
//                    committed, so a response a client saw complete always has its record, even
//                    after kill -9.
//   routes         → POST /admin/pause {"reason": string, "cancel_in_flight": bool},
//                    POST /admin/resume, POST /admin/keys/revoke {"key_id"}, GET /admin/status
//                    (the dashboard's view: src/server/trust_status.h) (loopback without a key,
//                    or a key with the admin scope), POST /v1/feedback
//                    {"request_id","rating","text"}; fields of the wrong type are 400.
//                    GET /v1/provenance (signer's public key, disclosure label) needs no key.
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
