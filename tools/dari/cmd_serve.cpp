// `dari serve`: the OpenAI-compatible HTTP server (src/server) around a ServingEngine.
//
// Starts listening first (GET /health answers 503 while the model loads), prints
// "dari serve: listening on http://HOST:PORT" (https:// with --ssl-cert-file) to stdout (flushed;
// tests read the port from it when --port 0), loads the model, then serves until SIGTERM/SIGINT,
// which drains in-flight requests (bounded by --drain-timeout) and exits 0.
//
// The trust layer (dari/trust/trust.h) is always on, configured by --policy FILE (default: the
// built-in policy): disclosure headers, signed provenance, audit trail, API keys and quotas,
// admin routes (see dari/server/trust_hooks.h and docs/TRUST.md). The operator signing key is
// read from the policy's [disclosure].signing_key_file, created when absent (as `dari keys init`).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cmd_common.h"
#include "command.h"
#include "dari/engine/serving.h"
#include "dari/server/server.h"
#include "dari/server/trust_hooks.h"
#include "dari/trust/trust.h"

namespace dari::cli {
namespace {

struct ServeOptions {
  std::string model;
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  uint32_t parallel = 16;
  uint32_t ctx_size = 0;
  uint32_t threads = 0;
  bool no_repack = false;
  uint64_t kv_tokens = 0;
  uint32_t max_queue = 256;
  std::string alias;
  uint32_t io_threads = 1;
  uint64_t max_body = 8u << 20;
  uint32_t timeout_s = 30;
  uint32_t header_timeout_s = 10;
  uint32_t body_timeout_s = 0;  // 0: timeout_s
  uint32_t idle_timeout_s = 120;
  std::string ssl_cert_file;
  std::string ssl_key_file;
  uint32_t drain_timeout_s = 30;
  std::string policy;
  bool strict_api = false;
  bool no_webui = false;
  std::string web_path;
  BackendCliOptions backend;
};

// The policy, the trust layer and the model's SHA-256 into so->hooks (and the policy's browser
// settings into so); false (message printed) on failure.
bool open_trust(const ServeOptions& o, const std::string& model, server::ServerOptions* so) {
  trust::Policy policy = trust::default_policy();
  if (!o.policy.empty()) {
    auto p = trust::load_policy(o.policy);
    if (!p.ok()) {
      std::fprintf(stderr, "dari: error: %s\n", p.message().c_str());
      return false;
    }
    policy = std::move(p).value();
  }
  for (const auto& w : trust::policy_warnings(policy)) {
    std::fprintf(stderr, "dari: policy warning: %s\n", w.c_str());
  }
  const bool had_key = std::filesystem::exists(policy.signing_key_file);
  auto t = trust::TrustLayer::open(policy);
  if (!t.ok()) {
    std::fprintf(stderr, "dari: error: trust layer: %s\n", t.message().c_str());
    return false;
  }
  const trust::SigningKey& key = (*t)->signing_key();
  if (!had_key) {
    std::fprintf(stderr,
                 "dari serve: created the operator signing key %s (mode 0600) and %s.pub\n"
                 "  key id %s, public key %s\n",
                 policy.signing_key_file.c_str(), policy.signing_key_file.c_str(),
                 key.key_id().c_str(), key.public_key_base64().c_str());
  }
  auto sha = trust::sha256_file_hex(model);
  if (!sha.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", sha.message().c_str());
    return false;
  }
  std::fprintf(
      stderr, "dari serve: trust layer on (policy %s; disclosure %s, audit %s, signing key %s)\n",
      o.policy.empty() ? "built-in default" : o.policy.c_str(), policy.disclosure ? "on" : "off",
      policy.audit ? policy.audit_db.c_str() : "off", key.key_id().c_str());
  std::shared_ptr<trust::TrustLayer> shared(std::move(t).value().release());
  so->hooks = server::make_trust_hooks(std::move(shared), std::move(sha).value());
  so->allowed_origins = policy.allowed_origins;
  so->allowed_hosts = policy.allowed_hosts;
  return true;
}

int serve_main(const ServeOptions& o) {
  ResolvedBackend rb;  // before listening: a wrong backend is a one-line error, not a 503 server
  if (!resolve_backend(o.backend, &rb)) return 1;
  ServingOptions eo;
  if (!apply_backend(rb, &eo)) return 1;
  std::string model = o.model;
  if (model.empty()) {
    model = find_default_model();
    if (model.empty()) {
      std::fprintf(stderr,
                   "dari: error: no model given (-m) and the default model %s was not "
                   "found\n",
                   kDefaultModelFile);
      return 1;
    }
    std::fprintf(stderr, "dari: using the default model %s\n", model.c_str());
  }
  server::ServerOptions so;
  if (!open_trust(o, model, &so)) return 1;
  so.host = o.host;
  so.port = o.port;
  so.model_name = o.alias.empty() ? std::filesystem::path(model).stem().string() : o.alias;
  so.io_threads = o.io_threads;
  so.max_body_bytes = o.max_body;
  so.header_timeout = std::chrono::seconds(o.header_timeout_s);
  so.body_timeout = std::chrono::seconds(o.body_timeout_s == 0 ? o.timeout_s : o.body_timeout_s);
  so.write_timeout = std::chrono::seconds(o.timeout_s);
  so.ssl_cert_file = o.ssl_cert_file;
  so.ssl_key_file = o.ssl_key_file;
  so.idle_timeout = std::chrono::seconds(o.idle_timeout_s);
  so.drain_timeout = std::chrono::seconds(o.drain_timeout_s);
  so.handle_signals = true;
  so.limits.strict = o.strict_api;
  so.web_ui = !o.no_webui;
  so.web_dir = o.web_path;
  auto server = server::Server::create(so);
  if (!server.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", server.message().c_str());
    return 1;
  }
  (*server)->start();
  std::printf("dari serve: listening on %s://%s:%u (model '%s')\n",
              so.ssl_cert_file.empty() ? "http" : "https", o.host.c_str(),
              static_cast<unsigned>((*server)->port()), so.model_name.c_str());
  if (so.web_ui) {
    std::printf("dari serve: chat page at /, operator dashboard at /dashboard%s\n",
                so.web_dir.empty() ? "" : (" (files from " + so.web_dir + ")").c_str());
  }
  std::fflush(stdout);

  eo.model_path = model;
  eo.n_ctx = o.ctx_size;
  eo.max_running = o.parallel;
  eo.kv_tokens = o.kv_tokens;
  eo.max_waiting = o.max_queue;
  eo.n_threads = o.threads;
  eo.repack = !o.no_repack;
  auto engine = ServingEngine::start(eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "dari: error: %s\n", engine.message().c_str());
    (*server)->request_stop(false);
    (*server)->wait();
    return 1;
  }
  std::fprintf(stderr, "dari serve: model loaded in %.0f ms (context %u tokens, %u parallel)\n",
               (*engine)->load_ms(), (*engine)->n_ctx(), o.parallel);
  (*server)->set_engine(engine->get());
  (*server)->wait();  // until SIGTERM/SIGINT and the drain
  std::fprintf(stderr, "dari serve: stopped\n");
  (*engine)->shutdown(false);
  server->reset();
  return 0;
}

std::function<int()> setup(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  app.add_option("-m,--model", o->model, "GGUF model (default: the embedded dari-tiny.gguf)");
  app.add_option("--host", o->host, "address to listen on")->capture_default_str();
  app.add_option("--port", o->port, "TCP port (0: any free port)")->capture_default_str();
  app.add_option("--parallel", o->parallel, "sequences decoded together")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1024u));
  app.add_option("-c,--ctx-size", o->ctx_size, "context per request (0: model's, max 4096)");
  app.add_option("-t,--threads", o->threads, "compute threads (0: all cores)");
  app.add_flag("--no-repack", o->no_repack,
               "read Q4_0, Q4_K and Q5_K weights as stored (no faster copy made at load)");
  app.add_option("--kv-tokens", o->kv_tokens, "KV pool capacity in tokens (0: ctx x parallel)");
  app.add_option("--max-queue", o->max_queue, "queued requests before 429")->capture_default_str();
  app.add_option("--alias", o->alias, "model id in the API (default: file name stem)");
  app.add_option("--io-threads", o->io_threads, "HTTP I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 16u));
  app.add_option("--max-body", o->max_body, "largest request body in bytes (413 above)")
      ->capture_default_str();
  app.add_option("--timeout", o->timeout_s,
                 "read/write timeout in seconds: a request body must arrive within it after the "
                 "header (else 408), one response write must finish within it (slow readers are "
                 "closed)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--header-timeout", o->header_timeout_s,
                 "seconds from a request's first byte to the end of its header, also the TLS "
                 "handshake limit (slow clients get 408 and are closed)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--body-timeout", o->body_timeout_s,
                 "seconds from the end of the header to the end of the body (default: --timeout)")
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--idle-timeout", o->idle_timeout_s, "seconds an idle keep-alive connection lives")
      ->capture_default_str()
      ->check(CLI::Range(1u, 86400u));
  app.add_option("--ssl-cert-file", o->ssl_cert_file,
                 "PEM certificate chain: serve HTTPS only (needs --ssl-key-file)")
      ->check(CLI::ExistingFile);
  app.add_option("--ssl-key-file", o->ssl_key_file, "PEM private key of --ssl-cert-file")
      ->check(CLI::ExistingFile);
  app.add_option("--drain-timeout", o->drain_timeout_s,
                 "seconds SIGTERM waits for in-flight requests")
      ->capture_default_str();
  app.add_option("--policy", o->policy,
                 "trust policy TOML (disclosure, audit, keys; default: the built-in policy)");
  app.add_flag("--strict-api", o->strict_api,
               "reject request fields the server does not know (400 unknown_field) instead of "
               "ignoring them (ignored names are counted in /metrics)");
  app.add_flag("--no-webui", o->no_webui,
               "serve the API only: no chat page at / and no dashboard at /dashboard");
  app.add_option("--path", o->web_path,
                 "serve the web pages' files from this folder instead of the embedded copies "
                 "(for work on web/)")
      ->check(CLI::ExistingDirectory);
  add_backend_options(app, &o->backend);
  return [o] { return serve_main(*o); };
}

DARI_COMMAND("serve", "OpenAI-compatible HTTP server (chat/completions, models, metrics)", setup);

}  // namespace
}  // namespace dari::cli
