// Connection::route: maps a parsed HTTP request to its handler.
#include <nlohmann/json.hpp>

#include "connection.h"
#include "responses.h"

namespace dari::server {

namespace {

struct Route {
  const char* path;
  http::verb verb;
};

constexpr Route kRoutes[] = {
    {"/v1/chat/completions", http::verb::post},
    {"/v1/completions", http::verb::post},
    {"/v1/models", http::verb::get},
    {"/health", http::verb::get},
    {"/metrics", http::verb::get},
};

}  // namespace

void Connection::route() {
  auto& req = parser_->get();
  keep_alive_ = req.keep_alive();
  info_.method = std::string(req.method_string());
  info_.target = std::string(req.target());
  info_.request_id = server_.next_request_id.fetch_add(1);
  info_.headers.clear();
  for (const auto& f : req) {
    info_.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  std::string path = info_.target.substr(0, info_.target.find('?'));
  const Route* found = nullptr;
  for (const auto& r : kRoutes) {
    if (path == r.path) found = &r;
  }
  endpoint_label_ = found ? found->path : "other";
  if (found == nullptr && server_.opts.hooks) {
    if (auto r = server_.opts.hooks->handle_route(info_, path, req.body())) {
      return send_response(r->status, "application/json", std::move(r->body), r->headers);
    }
  }
  if (found == nullptr) {
    ApiError e;
    e.status = 404;
    e.message = "no route for " + path.substr(0, 128);
    e.code = "not_found";
    return error_response(e);
  }
  if (req.method() != found->verb) {
    ApiError e;
    e.status = 405;
    e.message = "method " + info_.method.substr(0, 16) + " is not allowed on " + path;
    e.code = "method_not_allowed";
    HeaderList extra = {{"Allow", found->verb == http::verb::post ? "POST" : "GET"}};
    return send_response(405, "application/json", error_body(e), extra);
  }
  ServingEngine* engine = server_.engine.load();
  if (path == "/health") {
    if (server_.draining.load()) return simple_response(503, R"({"status":"shutting_down"})");
    if (engine == nullptr) return simple_response(503, R"({"status":"loading"})");
    return simple_response(200, R"({"status":"ok"})");
  }
  if (path == "/v1/models") {
    const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    return simple_response(200, models_body(server_.opts.model_name, created));
  }
  if (path == "/metrics") {
    ServingStats stats;
    if (engine != nullptr) stats = engine->stats();
    std::string text = server_.metrics.render(engine ? &stats : nullptr, server_.in_flight.load(),
                                              engine != nullptr && !server_.draining.load());
    // Count this request before rendering is not possible; it appears in the next scrape.
    return send_response(200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), {});
  }
  const Endpoint ep = path == "/v1/chat/completions" ? Endpoint::kChat : Endpoint::kCompletions;
  auto parsed = parse_request(ep, req.body(), server_.opts.limits);
  if (auto* err = std::get_if<ApiError>(&parsed)) return error_response(*err);
  exchange_ = std::make_shared<Exchange>(server_, this, ex_, info_,
                                         std::move(std::get<ApiRequest>(parsed)), arrival_);
  if (!read_pending_ && buf_.size() == 0) start_read();
  exchange_->start();
}

}  // namespace dari::server
