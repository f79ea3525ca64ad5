// Connection::on_header and Connection::route: what a request may do, and who handles it.
#include <boost/asio/post.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "connection.h"
#include "embeddings_route.h"
#include "origin.h"
#include "responses.h"
#include "tokenize_routes.h"
#include "web_routes.h"

namespace dari::server {

namespace {

enum class Kind { kHealth, kModels, kMetrics, kApi, kHook, kTokenize, kDetokenize, kEmbeddings };

struct Route {
  const char* path;
  http::verb verb;
  Kind kind;
};

constexpr Route kRoutes[] = {
    {"/v1/chat/completions", http::verb::post, Kind::kApi},
    {"/v1/completions", http::verb::post, Kind::kApi},
    {"/v1/messages", http::verb::post, Kind::kApi},
    {"/v1/models", http::verb::get, Kind::kModels},
    {"/health", http::verb::get, Kind::kHealth},
    {"/metrics", http::verb::get, Kind::kMetrics},
    {"/tokenize", http::verb::post, Kind::kTokenize},
    {"/detokenize", http::verb::post, Kind::kDetokenize},
    {"/v1/embeddings", http::verb::post, Kind::kEmbeddings},
};

const Route* find_route(const std::string& path) {
  for (const auto& r : kRoutes) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

constexpr size_t kUrlLimit = 8 * 1024;

std::string_view field(const http::request_parser<http::string_body>& p, http::field f) {
  const auto& h = p.get();
  auto it = h.find(f);
  return it == h.end() ? std::string_view() : std::string_view(it->value().data(), it->value().size());
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// "application/json" with optional parameters ("; charset=utf-8").
bool is_json_type(std::string_view ct) {
  const std::string_view type = ct.substr(0, ct.find(';'));
  size_t end = type.size();
  while (end > 0 && type[end - 1] == ' ') --end;
  return iequals(type.substr(0, end), "application/json");
}

ApiError forbidden(std::string code, std::string message) {
  ApiError e;
  e.status = 403;
  e.type = "permission_error";
  e.code = std::move(code);
  e.message = std::move(message);
  return e;
}

}  // namespace

// The header is in, the body is not read yet: framing, browser safety, the trust session.
bool Connection::on_header() {
  const auto& req = parser_->get();
  http10_ = req.version() < 11;
  keep_alive_ = req.keep_alive();
  info_ = RequestInfo{};
  info_.remote = transport_->remote();
  info_.method = std::string(req.method_string());
  info_.target = std::string(req.target());
  info_.path = info_.target.substr(0, info_.target.find('?'));
  info_.request_id = server_.next_request_id.fetch_add(1);
  for (const auto& f : req) {
    info_.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  const Route* r = find_route(info_.path);
  endpoint_label_ = r ? r->path : "other";
  web_name_.clear();
  if (r == nullptr && server_.opts.web_ui && req.method() == http::verb::get) {
    web_name_ = web_file_name(info_.path);
    if (!web_name_.empty()) endpoint_label_ = "web";
  }
  // API routes are audited and charged (keys, quota: trust_hooks.cpp).
  info_.api = r != nullptr && (r->kind == Kind::kApi || r->kind == Kind::kEmbeddings);
  if (info_.target.size() > kUrlLimit) {
    ApiError e = bad_request("", "the request URL is longer than " + std::to_string(kUrlLimit) +
                                     " bytes", "uri_too_long");
    e.status = 414;
    refuse(e);
    return false;
  }
  const std::string_view host = field(*parser_, http::field::host);
  if (!http10_ && host.empty()) {
    refuse(bad_request("", "an HTTP/1.1 request needs a Host header", "missing_host"));
    return false;
  }
  BrowserPolicy bp{server_.opts.allowed_origins, server_.opts.allowed_hosts, server_.opts.host};
  const std::string_view origin = field(*parser_, http::field::origin);
  if (!origin.empty() && !origin_allowed(origin, host, server_.tls != nullptr, bp)) {
    refuse(forbidden("origin_not_allowed",
                     "requests from the web origin '" + std::string(origin.substr(0, 256)) +
                         "' are not allowed (see [browser].allowed_origins in the policy)"));
    return false;
  }
  if (is_loopback_peer(info_.remote) && !host.empty() && !host_allowed(host, bp)) {
    refuse(forbidden("host_not_allowed",
                     "the Host '" + std::string(host.substr(0, 256)) +
                         "' is not a name of this server (see [browser].allowed_hosts in the "
                         "policy)"));
    return false;
  }
  const bool has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;
  const bool json_route = r == nullptr || r->kind == Kind::kApi || r->kind == Kind::kTokenize ||
                          r->kind == Kind::kDetokenize || r->kind == Kind::kEmbeddings;
  if (req.method() == http::verb::post && json_route && has_body &&
      !is_json_type(field(*parser_, http::field::content_type))) {
    ApiError e = bad_request("", "the request body must be JSON (Content-Type: application/json)",
                             "unsupported_media_type");
    e.status = 415;
    refuse(e);
    return false;
  }
  // The pages' files hold no data: they are served without a key (their API calls need one).
  if (server_.opts.hooks && web_name_.empty() && (r == nullptr || r->kind != Kind::kHealth)) {
    SessionOrError s = server_.opts.hooks->open(info_);
    if (auto* e = std::get_if<ApiError>(&s)) {
      refuse(*e);
      return false;
    }
    session_ = std::get<std::shared_ptr<RequestSession>>(std::move(s));
  }
  if (!http10_ && !parser_->is_done() &&
      iequals(field(*parser_, http::field::expect), "100-continue")) {
    queue_write("HTTP/1.1 100 Continue\r\n\r\n");  // an interim answer: the body may come
  }
  return true;
}

void Connection::route() {
  if (!web_name_.empty()) return route_web();
  const auto& req = parser_->get();
  const Route* found = find_route(info_.path);
  if (found == nullptr && server_.opts.hooks) {
    if (auto r = server_.opts.hooks->handle_route(session_.get(), info_, req.body())) {
      return send_response(r->status, "application/json", std::move(r->body), r->headers);
    }
  }
  if (found == nullptr) {
    ApiError e;
    e.status = 404;
    e.message = "no route for " + info_.path.substr(0, 128);
    e.code = "not_found";
    return error_response(e);
  }
  if (req.method() != found->verb) {
    ApiError e;
    e.status = 405;
    e.message = "method " + info_.method.substr(0, 16) + " is not allowed on " + info_.path;
    e.code = "method_not_allowed";
    HeaderList extra = {{"Allow", found->verb == http::verb::post ? "POST" : "GET"}};
    return send_response(405, "application/json", error_body(e), extra);
  }
  ServingEngine* engine = server_.engine.load();
  switch (found->kind) {
    case Kind::kHealth:
      if (server_.draining.load()) return simple_response(503, R"({"status":"shutting_down"})");
      if (engine == nullptr) return simple_response(503, R"({"status":"loading"})");
      return simple_response(200, R"({"status":"ok"})");
    case Kind::kModels: {
      const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
      return simple_response(200, models_body(server_.opts.model_name, created));
    }
    case Kind::kMetrics: {
      ServingStats stats;
      if (engine != nullptr) stats = engine->stats();
      std::string text = server_.metrics.render(engine ? &stats : nullptr, server_.in_flight.load(),
                                                engine != nullptr && !server_.draining.load());
      // This request is counted after rendering; it appears in the next scrape.
      return send_response(200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), {});
    }
    case Kind::kTokenize:
    case Kind::kDetokenize:
      return route_tokenize(found->kind == Kind::kDetokenize);
    case Kind::kEmbeddings:
      return route_embeddings();
    default:
      return route_api();
  }
}

// "/", "/dashboard", "/web/<name>": a page file (web_routes.h).
void Connection::route_web() {
  std::optional<WebFile> f = load_web_file(server_.opts.web_dir, web_name_);
  if (!f) {
    ApiError e;
    e.status = 404;
    e.message = "no web page file " + web_name_;
    e.code = "not_found";
    return error_response(e);
  }
  if (web_not_modified(*f, field(*parser_, http::field::if_none_match))) {
    return send_response(304, f->content_type, std::string(), f->headers);
  }
  send_response(200, f->content_type, std::move(f->body), f->headers);
}

// /tokenize, /detokenize: on the worker pool (a large text takes a while to tokenize).
void Connection::route_tokenize(bool detokenize) {
  ServingEngine* engine = server_.engine.load();
  if (engine == nullptr) return error_response(service_unavailable("the model is loading"));
  auto body = std::make_shared<std::string>(std::move(parser_->get().body()));
  net::post(*server_.workers, [self = shared_from_this(), body, engine, detokenize] {
    const ApiLimits& lim = self->server_.opts.limits;
    auto reply = std::make_shared<TokenizeReply>(detokenize ? detokenize_route(*engine, *body, lim)
                                                            : tokenize_route(*engine, *body, lim));
    net::post(self->ex_, [self, reply] {
      if (self->phase_ == Phase::kClosed) return;
      self->send_response(reply->status, "application/json", std::move(reply->body), {});
    });
  });
}

// /v1/embeddings: parsed and tokenized on the worker pool, then admitted and run here by an
// EmbeddingsExchange (embeddings_route.h).
void Connection::route_embeddings() {
  ServingEngine* engine = server_.engine.load();
  if (server_.draining.load()) {
    return error_response(service_unavailable("the server is shutting down"));
  }
  if (engine == nullptr) return error_response(service_unavailable("the model is loading"));
  auto body = std::make_shared<std::string>(std::move(parser_->get().body()));
  net::post(*server_.workers, [self = shared_from_this(), body, engine] {
    auto prepared = std::make_shared<std::variant<EmbeddingsRequest, ApiError>>(
        prepare_embeddings(*engine, *body, self->server_.opts.limits));
    net::post(self->ex_, [self, prepared] {
      if (self->phase_ == Phase::kClosed) return;  // the client left meanwhile
      if (auto* err = std::get_if<ApiError>(prepared.get())) return self->error_response(*err);
      EmbeddingsExchange::Params p;
      p.sink = self.get();
      p.info = self->info_;
      p.session = self->session_;
      p.req = std::move(std::get<EmbeddingsRequest>(*prepared));
      p.arrival = self->arrival_;
      self->embeddings_ =
          std::make_shared<EmbeddingsExchange>(self->server_, self->ex_, std::move(p));
      self->embeddings_->start();
    });
  });
}

// A completions request: parsed and tokenized on the worker pool, then admitted and run here.
void Connection::route_api() {
  ServingEngine* engine = server_.engine.load();
  if (server_.draining.load()) return error_response(service_unavailable("the server is shutting down"));
  if (engine == nullptr) return error_response(service_unavailable("the model is loading"));
  const Endpoint ep = info_.path == "/v1/chat/completions" ? Endpoint::kChat
                      : info_.path == "/v1/messages"       ? Endpoint::kMessages
                                                           : Endpoint::kCompletions;
  // The body moves to the worker; the parser is not used again for this request.
  auto body = std::make_shared<std::string>(std::move(parser_->get().body()));
  net::post(*server_.workers, [self = shared_from_this(), body, ep, engine] {
    PrepareInput in;
    in.endpoint = ep;
    in.body = *body;
    in.limits = &self->server_.opts.limits;
    in.engine = engine;
    in.constraints = &self->server_.constraints;
    auto prepared = std::make_shared<std::variant<PreparedRequest, ApiError>>(prepare_request(in));
    net::post(self->ex_, [self, prepared] { self->on_prepared(std::move(*prepared)); });
  });
}

void Connection::on_prepared(std::variant<PreparedRequest, ApiError> prepared) {
  if (phase_ == Phase::kClosed) return;  // the client left while its request was prepared
  if (auto* err = std::get_if<ApiError>(&prepared)) return error_response(*err);
  const auto& ignored = std::get<PreparedRequest>(prepared).req.ignored_fields;
  if (!ignored.empty()) {
    for (const auto& name : server_.metrics.count_ignored_fields(ignored)) {
      std::fprintf(stderr,
                   "dari serve: ignoring request field '%s' (unknown; counted in /metrics, "
                   "rejected with --strict-api); logged once\n",
                   name.c_str());
    }
  }
  Exchange::Params p;
  p.sink = this;
  p.info = info_;
  p.session = session_;
  p.prepared = std::move(std::get<PreparedRequest>(prepared));
  p.arrival = arrival_;
  exchange_ = std::make_shared<Exchange>(server_, ex_, std::move(p));
  exchange_->start();
}

}  // namespace dari::server
