// POST /v1/embeddings (see embeddings_route.h).
#include "embeddings_route.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "api_parse_util.h"
#include "dari/model/model.h"
#include "dari/tokenizer/tokenizer.h"
#include "prepare.h"
#include "responses.h"

namespace dari::server {

using namespace parse;  // NOLINT: the shared field checks

namespace {

std::string input_param(size_t i, size_t n) {
  return n == 1 ? std::string("input") : "input[" + std::to_string(i) + "]";
}

std::optional<ApiError> token_array(const json& v, const std::string& param, uint32_t n_vocab,
                                    std::vector<int32_t>* out) {
  if (v.empty()) return bad_request(param, "'" + param + "' must not be empty", "invalid_value");
  out->reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    int64_t t = 0;
    if (auto e = get_int(v[i], p, 0, std::numeric_limits<int32_t>::max(), &t)) return e;
    if (t >= static_cast<int64_t>(n_vocab)) {
      return bad_request(p,
                         "'" + p + "' is token id " + std::to_string(t) +
                             ", outside the vocabulary [0, " + std::to_string(n_vocab) + ")",
                         "invalid_value");
    }
    out->push_back(static_cast<int32_t>(t));
  }
  return std::nullopt;
}

// `input`: a string, an array of strings, one token array, or an array of token arrays.
std::optional<ApiError> parse_input(const json& v, uint32_t n_vocab, EmbeddingsRequest* r) {
  const char* kExpected =
      "a string, an array of strings, an array of token ids or an array of token arrays";
  if (v.is_string()) {
    r->inputs.emplace_back(v.get<std::string>());
  } else if (!v.is_array()) {
    return wrong_type("input", kExpected, v);
  } else if (v.empty()) {
    return bad_request("input", "'input' must not be empty", "invalid_value");
  } else if (v[0].is_number()) {  // one token array
    std::vector<int32_t> toks;
    if (auto e = token_array(v, "input", n_vocab, &toks)) return e;
    r->inputs.emplace_back(std::move(toks));
  } else {
    if (v.size() > kMaxEmbeddingInputs) {
      return bad_request("input",
                         "'input' has " + std::to_string(v.size()) + " entries; at most " +
                             std::to_string(kMaxEmbeddingInputs) + " are allowed",
                         "invalid_value");
    }
    // One kind of entry per request, as OpenAI accepts: all strings or all token arrays.
    const bool strings = v[0].is_string();
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string p = "input[" + std::to_string(i) + "]";
      if (strings && v[i].is_string()) {
        r->inputs.emplace_back(v[i].get<std::string>());
      } else if (!strings && v[i].is_array()) {
        std::vector<int32_t> toks;
        if (auto e = token_array(v[i], p, n_vocab, &toks)) return e;
        r->inputs.emplace_back(std::move(toks));
      } else {
        return wrong_type(p, strings ? "a string (like input[0])" : "an array of token ids", v[i]);
      }
    }
  }
  for (size_t i = 0; i < r->inputs.size(); ++i) {
    const auto* s = std::get_if<std::string>(&r->inputs[i]);
    if (s != nullptr && s->empty()) {
      const std::string p = input_param(i, r->inputs.size());
      return bad_request(p, "'" + p + "' must not be an empty string", "invalid_value");
    }
  }
  return std::nullopt;
}

std::string random_id() {
  static const char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "embd-";
  for (int i = 0; i < 24; ++i) id += kAlnum[rng() % (sizeof kAlnum - 1)];
  return id;
}

}  // namespace

std::variant<EmbeddingsRequest, ApiError> prepare_embeddings(const ServingEngine& engine,
                                                             std::string_view body,
                                                             const ApiLimits& limits) {
  if (json_depth_exceeds(body, limits.max_json_depth)) {
    return bad_request(
        "", "request body nests deeper than " + std::to_string(limits.max_json_depth) + " levels");
  }
  const json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return bad_request("", "request body is not valid JSON", "invalid_json");
  if (!doc.is_object()) return bad_request("", "request body must be a JSON object");
  const ModelConfig& cfg = engine.model_config();
  EmbeddingsRequest r;
  for (const auto& [k, v] : doc.items()) {
    if (v.is_null() && k != "input" && k != "model") continue;  // as absent
    std::optional<ApiError> e;
    if (k == "input") {
      e = parse_input(v, cfg.n_vocab, &r);
    } else if (k == "model") {
      e = get_string(v, k, limits.max_model_bytes, &r.model);
    } else if (k == "encoding_format") {
      std::string f;
      e = get_string(v, k, 64, &f);
      if (!e && f != "float" && f != "base64") {
        e = bad_request(k, "'encoding_format' must be \"float\" or \"base64\"", "invalid_value");
      }
      r.base64 = f == "base64";
    } else if (k == "dimensions") {
      int64_t d = 0;
      e = get_int(v, k, 1, std::numeric_limits<int32_t>::max(), &d);
      if (!e && d != static_cast<int64_t>(cfg.n_embd)) {
        e = unsupported_value(k, "'dimensions' must be " + std::to_string(cfg.n_embd) +
                                     ", the model's embedding size (shortening is not supported)");
      }
    } else if (k == "user") {
      e = get_string(v, k, limits.max_user_bytes, &r.user);
    } else if (limits.strict) {
      e = bad_request(k.substr(0, 64), "unknown field '" + k.substr(0, 64) + "'", "unknown_field");
    }
    if (e) return *e;
  }
  if (!doc.contains("model")) return bad_request("model", "'model' is required");
  if (!doc.contains("input")) return bad_request("input", "'input' is required");
  const Tokenizer& tok = engine.tokenizer();
  const uint32_t n_ctx = engine.n_ctx();
  r.tokens.reserve(r.inputs.size());
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const std::string p = input_param(i, r.inputs.size());
    if (const auto* text = std::get_if<std::string>(&r.inputs[i])) {
      EncodeOptions eo;  // as /v1/completions prompts
      eo.add_special = true;
      eo.parse_special = true;
      r.tokens.push_back(tok.encode(*text, eo));
    } else {
      r.tokens.push_back(std::get<std::vector<int32_t>>(r.inputs[i]));
    }
    if (r.tokens.back().empty()) return bad_request(p, "'" + p + "' has no tokens");
    // The engine's limit: a sequence holds fewer than n_ctx tokens.
    if (r.tokens.back().size() >= n_ctx) {
      return too_long(n_ctx - 1, r.tokens.back().size(), " (" + p + ")", p);
    }
  }
  return r;
}

std::string base64_floats(const std::vector<float>& v) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> bytes(v.size() * 4);
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u = 0;
    std::memcpy(&u, &v[i], sizeof u);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<uint8_t>(u >> (8 * b));
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = uint32_t{bytes[i]} << 16 | uint32_t{bytes[i + 1]} << 8 | bytes[i + 2];
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t n = uint32_t{bytes[i]} << 16 | (two ? uint32_t{bytes[i + 1]} << 8 : 0u);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += two ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string embeddings_body(const std::string& model,
                            const std::vector<std::vector<float>>& vectors, bool base64,
                            uint64_t prompt_tokens) {
  // Written by hand: each float in its shortest round-trip form (a float read back from it is
  // the same float), which a JSON library printing doubles would make twice as long.
  std::string out = R"({"object":"list","data":[)";
  char num[64];
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (i > 0) out += ',';
    out += R"({"object":"embedding","index":)" + std::to_string(i) + R"(,"embedding":)";
    if (base64) {
      out += '"' + base64_floats(vectors[i]) + '"';
    } else {
      out += '[';
      for (size_t j = 0; j < vectors[i].size(); ++j) {
        if (j > 0) out += ',';
        const auto res = std::to_chars(num, num + sizeof num, vectors[i][j]);
        out.append(num, res.ptr);
      }
      out += ']';
    }
    out += '}';
  }
  out += R"(],"model":)" + dump_json(nlohmann::json(model));
  out += R"(,"usage":{"prompt_tokens":)" + std::to_string(prompt_tokens) + R"(,"total_tokens":)" +
         std::to_string(prompt_tokens) + "}}";
  return out;
}

EmbeddingsExchange::EmbeddingsExchange(Server::Impl& server, Executor ex, Params p)
    : server_(server),
      sink_(p.sink),
      ex_(std::move(ex)),
      info_(std::move(p.info)),
      session_(std::move(p.session)),
      req_(std::move(p.req)),
      arrival_(p.arrival) {
  id_ = random_id();
  info_.response_id = id_;
  info_.stream = false;
  info_.created = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  info_.model = server_.opts.model_name;
  runs_.resize(req_.tokens.size());
  vectors_.resize(req_.tokens.size());
}

EmbeddingsExchange::~EmbeddingsExchange() {
  // The server stopped with this request still running: it ends here, and its session still
  // gets its one finish().
  if (!completed_) {
    cancel_runs();
    complete(503, false);
  }
  if (mailbox_) mailbox_->kill();
  if (durable_mb_) durable_mb_->kill();
  if (counted_in_flight_) server_.in_flight.fetch_sub(1);
}

void EmbeddingsExchange::start() {
  counted_in_flight_ = true;
  server_.in_flight.fetch_add(1);
  engine_ = server_.engine.load();
  if (server_.draining.load()) return fail(service_unavailable("the server is shutting down"));
  if (engine_ == nullptr) return fail(service_unavailable("the model is loading"));
  if (req_.model != server_.opts.model_name) {
    ApiError e;
    e.status = 404;
    e.message = "The model '" + req_.model.substr(0, 128) + "' does not exist (this server has '" +
                server_.opts.model_name + "')";
    e.param = "model";
    e.code = "model_not_found";
    return fail(e);
  }
  // The single admission point (trust session: scope, quota, pause); from here on the session's
  // finish() is owed exactly once. The session sees the inputs as a completions request's prompts.
  if (session_) {
    admitted_ = true;
    ApiRequest as_api;
    as_api.endpoint = Endpoint::kCompletions;
    as_api.model = req_.model;
    as_api.prompts = req_.inputs;
    as_api.user = req_.user;
    if (auto e = session_->admit(info_, as_api)) return fail(*e);
  }
  mailbox_ = server_.make_mailbox(ex_);
  std::weak_ptr<EmbeddingsExchange> weak = weak_from_this();
  mailbox_->deliver = [weak] {
    if (auto self = weak.lock()) self->on_events();
  };
  if (auto e = submit_more()) {
    cancel_runs();
    return fail(*e);
  }
}

std::optional<ApiError> EmbeddingsExchange::submit_more() {
  while (next_ < runs_.size()) {
    ServingRequest sr;
    sr.prompt = req_.tokens[next_];
    sr.embed = true;  // pooling: the model's default; normalised
    SubmitResult res = engine_->submit(std::move(sr));
    if (res.error == SubmitError::kQueueFull) {
      bool running = false;
      for (size_t i = 0; i < next_; ++i) running = running || !runs_[i].finished;
      if (running) return std::nullopt;  // the rest go in as ours finish (on_events)
    }
    if (res.error != SubmitError::kNone) return submit_error(res, next_);
    submitted_tokens_ += req_.tokens[next_].size();
    req_.tokens[next_].clear();
    req_.tokens[next_].shrink_to_fit();
    runs_[next_].stream = std::move(res.stream);
    std::shared_ptr<Mailbox> mb = mailbox_;
    runs_[next_].stream->set_notify([mb] { mb->notify(); });
    ++next_;
  }
  return std::nullopt;
}

ApiError EmbeddingsExchange::submit_error(const SubmitResult& res, size_t input) const {
  const std::string p = input_param(input, runs_.size());
  switch (res.error) {
    case SubmitError::kTooLong:
      return too_long(engine_->n_ctx() - 1, req_.tokens[input].size(), " (" + p + ")", p);
    case SubmitError::kQueueFull: {
      ApiError e = bad_request("", res.message, "queue_full");
      e.status = 429;
      e.type = "rate_limit_exceeded";
      e.retry_after_s = 1;
      return e;
    }
    case SubmitError::kShuttingDown:
      return service_unavailable(res.message);
    default:
      return bad_request(res.param == "prompt" ? p : res.param, res.message, "invalid_value");
  }
}

void EmbeddingsExchange::on_events() {
  if (done_) return;
  if (session_) {
    if (auto e = session_->check()) {
      cancel_runs();
      return fail(*e);
    }
  }
  std::vector<StreamEvent> evs;
  for (size_t i = 0; i < next_; ++i) {
    Run& run = runs_[i];
    if (run.finished) continue;
    // poll() reports the end only once the queue is empty: poll until a call returns nothing.
    bool more = true;
    do {
      evs.clear();
      more = run.stream->poll(&evs);
      for (auto& ev : evs) {
        if (ev.kind == StreamEvent::Kind::kError) {
          error_ = ev.error.empty() ? "engine error" : ev.error;
        } else if (ev.kind == StreamEvent::Kind::kDone) {
          if (ev.finish == FinishReason::kCancelled) cancelled_ = true;
          vectors_[i] = std::move(ev.embedding);
        }
      }
    } while (more && !evs.empty());
    if (!more) run.finished = true;
  }
  if (!error_.empty()) {
    cancel_runs();
    ApiError e;
    e.status = 500;
    e.type = "server_error";
    e.message = "embedding failed: " + error_;
    return fail(e);
  }
  if (cancelled_) {
    cancel_runs();
    return fail(service_unavailable("the engine stopped before the embeddings were done"));
  }
  if (next_ < runs_.size()) {
    if (auto e = submit_more()) {
      cancel_runs();
      return fail(*e);
    }
  }
  for (const Run& r : runs_) {
    if (!r.finished) return;  // includes inputs not submitted yet
  }
  finish();
}

void EmbeddingsExchange::finish() {
  done_ = true;
  const size_t n_embd = engine_->model_config().n_embd;
  for (const auto& v : vectors_) {
    bool finite = v.size() == n_embd;
    for (float x : v) finite = finite && std::isfinite(x);
    if (!finite) {
      ApiError e;
      e.status = 500;
      e.type = "server_error";
      e.message = "embedding failed: the model produced no finite vector for an input";
      return fail(e);
    }
  }
  std::string body =
      embeddings_body(server_.opts.model_name, vectors_, req_.base64, submitted_tokens_);
  vectors_.clear();
  complete(200, false, [body = std::move(body)](ResponseSink& s) {
    s.send_response(200, "application/json", body, {});
  });
}

void EmbeddingsExchange::fail(const ApiError& e) {
  done_ = true;
  if (sink_ == nullptr) return;
  HeaderList extra;
  if (e.retry_after_s > 0) extra.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  complete(e.status, false,
           [status = e.status, body = error_body(e), extra = std::move(extra)](ResponseSink& s) {
             s.send_response(status, "application/json", body, extra);
           });
}

// The single completion point: metrics and the session's finish (audit row, quota), exactly
// once; detaches the sink. `final` (if any) goes out now or once the record is durable.
void EmbeddingsExchange::complete(int status, bool disconnected, FinalSend final) {
  if (completed_) return;
  completed_ = true;
  ResponseSink* sink = sink_;
  sink_ = nullptr;
  CompletionRecord rec;
  rec.id = id_;
  rec.endpoint = Endpoint::kCompletions;  // the audit row's endpoint is info.path
  rec.status = status;
  rec.client_disconnected = disconnected;
  rec.prompt_tokens = static_cast<uint32_t>(
      std::min<uint64_t>(submitted_tokens_, std::numeric_limits<uint32_t>::max()));
  rec.finish_reasons.push_back(status == 200 ? "stop" : disconnected ? "cancelled" : "error");
  rec.e2e_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - arrival_)
          .count();
  if (disconnected) server_.metrics.count_request(info_.path, 499);
  if (submitted_tokens_ > 0) server_.metrics.add_tokens(submitted_tokens_, 0);
  final_sink_ = final ? sink : nullptr;
  final_send_ = std::move(final);
  bool send_now = true;
  if (session_ && admitted_) {
    // The final bytes wait for the session's record (crash safety); the notice comes from
    // another thread through a mailbox, which the server kills on shutdown.
    durable_mb_ = server_.make_mailbox(ex_);
    std::weak_ptr<EmbeddingsExchange> weak = weak_from_this();
    durable_mb_->deliver = [weak] {
      if (auto self = weak.lock()) self->send_final();
    };
    std::shared_ptr<Mailbox> mb = durable_mb_;
    send_now = session_->finish(info_, rec, [mb] { mb->notify(); });
  }
  // In flight until the final bytes are queued, so a draining server waits for the record.
  if (send_now || final_sink_ == nullptr) send_final();
}

void EmbeddingsExchange::send_final() {
  if (durable_mb_) durable_mb_->kill();
  ResponseSink* sink = final_sink_;
  FinalSend final = std::move(final_send_);
  final_sink_ = nullptr;
  final_send_ = nullptr;
  release_in_flight();
  if (sink != nullptr && final) final(*sink);
}

void EmbeddingsExchange::release_in_flight() {
  if (counted_in_flight_) {
    counted_in_flight_ = false;
    server_.in_flight.fetch_sub(1);
  }
}

void EmbeddingsExchange::abort() {
  if (final_sink_ != nullptr) {  // the connection went away while the record was committing
    final_sink_ = nullptr;
    final_send_ = nullptr;
    if (durable_mb_) durable_mb_->kill();
    release_in_flight();
  }
  cancel_runs();
  complete(499, true);
  done_ = true;
}

void EmbeddingsExchange::cancel_runs() {
  if (mailbox_) mailbox_->kill();
  if (engine_ == nullptr) return;
  for (size_t i = 0; i < next_; ++i) {
    if (!runs_[i].finished) engine_->cancel(runs_[i].stream->id());
    runs_[i].finished = true;
  }
}

}  // namespace dari::server
