// Exchange: request admission, tokenization, engine submission and response assembly.
#include "exchange.h"

#include <random>

#include "dari/engine/chat.h"
#include "dari/model/model.h"
#include "dari/tokenizer/tokenizer.h"
#include "responses.h"

namespace dari::server {

using json = nlohmann::json;

namespace {

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string random_id(const char* prefix) {
  static const char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kAlnum[rng() % (sizeof kAlnum - 1)];
  return id;
}

// Ends a stream: the last SSE event and the chunked-encoding terminator.
void end_sse(ResponseSink& s) {
  s.send_chunk("data: [DONE]\n\n");
  s.end_stream();
}

}  // namespace

Exchange::Exchange(Server::Impl& server, Executor ex, Params p)
    : server_(server),
      sink_(p.sink),
      ex_(std::move(ex)),
      info_(std::move(p.info)),
      session_(std::move(p.session)),
      pending_runs_(std::move(p.prepared.runs)),
      req_(std::move(p.prepared.req)),
      arrival_(p.arrival),
      strip_leading_space_(p.prepared.strip_leading_space),
      parse_output_(p.prepared.parse_output),
      output_options_(p.prepared.output_options) {
  id_ = random_id(req_.endpoint == Endpoint::kChat       ? "chatcmpl-"
                  : req_.endpoint == Endpoint::kMessages ? "msg_"
                                                         : "cmpl-");
  created_ = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  info_.response_id = id_;
  info_.stream = req_.stream;
  info_.created = created_;
  info_.model = server_.opts.model_name;
}

Exchange::~Exchange() {
  // The server stopped with this request still running (drain deadline passed): it ends here,
  // and its session still gets its one finish().
  if (!completed_) {
    abort_runs();
    complete(503, false);
  }
  if (mailbox_) mailbox_->kill();
  if (durable_mb_) durable_mb_->kill();
  if (counted_in_flight_) server_.in_flight.fetch_sub(1);
}

void Exchange::fail(const ApiError& e) {
  done_ = true;
  if (sink_ == nullptr) return;
  HeaderList extra;
  if (e.retry_after_s > 0) extra.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  complete(e.status, false,
           [status = e.status,
            body = req_.endpoint == Endpoint::kMessages ? anthropic_error_body(e) : error_body(e),
            extra = std::move(extra)](ResponseSink& s) {
             s.send_response(status, "application/json", body, extra);
           });
}

void Exchange::start() {
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
  // finish() is owed exactly once.
  if (session_) {
    admitted_ = true;
    if (auto e = session_->admit(info_, req_)) return fail(*e);
    session_->label_parts(&label_prefix_, &label_suffix_);
  }
  if (auto e = submit_all()) return fail(*e);
  for (uint32_t i = 0; i < choices_.size(); ++i) {
    Choice& c = choices_[i];
    c.text = label_prefix_ + echo_text(i);
    if (parse_output_) {
      ParseOptions po = output_options_;
      po.id_seed = output_options_.id_seed + 7919u * i;  // distinct ids per choice
      c.parser = std::make_unique<StreamingOutputParser>(po);
    }
  }
  if (req_.stream) {
    HeaderList extra;
    if (session_) session_->response_headers(info_, &extra);
    sink_->start_stream(extra);
    if (req_.endpoint == Endpoint::kMessages) {
      uint64_t prompt_tokens = 0;
      for (const auto& r : runs_) prompt_tokens += r.prompt_tokens;
      sink_->send_chunk(anthropic_.start(id_, server_.opts.model_name, prompt_tokens));
    }
    if (req_.endpoint == Endpoint::kChat) {
      for (uint32_t i = 0; i < choices_.size(); ++i) {
        json c = chunk_base();
        c["choices"] = json::array({{{"index", i},
                                     {"delta", {{"role", "assistant"}, {"content", ""}}},
                                     {"logprobs", nullptr},
                                     {"finish_reason", nullptr}}});
        send_chunk_json(c);
      }
    }
    for (uint32_t i = 0; i < choices_.size(); ++i) {
      const std::string head = label_prefix_ + echo_text(i);
      if (!head.empty()) send_text_delta(i, head);
    }
  }
  // Notifications start only now, so events never race the response head.
  mailbox_ = server_.make_mailbox(ex_);
  std::weak_ptr<Exchange> weak = weak_from_this();
  mailbox_->deliver = [weak] {
    if (auto self = weak.lock()) self->on_events();
  };
  for (auto& run : runs_) {
    std::shared_ptr<Mailbox> mb = mailbox_;
    run.stream->set_notify([mb] { mb->notify(); });
  }
}

// Completions with `echo`: the prompt of choice i's run, as text.
std::string Exchange::echo_text(uint32_t choice) const {
  if (!req_.echo || req_.endpoint != Endpoint::kCompletions || req_.n == 0) return "";
  const size_t run = choice / req_.n;
  if (run >= req_.prompts.size()) return "";
  if (const auto* text = std::get_if<std::string>(&req_.prompts[run])) return *text;
  DecodeOptions d;
  auto t = engine_->tokenizer().decode(std::get<std::vector<int32_t>>(req_.prompts[run]), d);
  return t.ok() ? as_delivered(*t) : std::string();
}

// Submits the prepared engine requests; the engine validates each (token ids, context length,
// sampling) and its refusal becomes the OpenAI error.
std::optional<ApiError> Exchange::submit_all() {
  for (auto& sr : pending_runs_) {
    const uint32_t prompt_tokens = static_cast<uint32_t>(sr.prompt.size());
    SubmitResult res = engine_->submit(sr);
    if (res.error != SubmitError::kNone) {
      for (auto& r : runs_) engine_->cancel(r.stream->id());
      runs_.clear();
      choices_.clear();
      return submit_error(res, sr);
    }
    Run run;
    run.stream = std::move(res.stream);
    run.prompt_tokens = prompt_tokens;
    run.first_choice = static_cast<uint32_t>(choices_.size());
    runs_.push_back(std::move(run));
    for (uint32_t i = 0; i < req_.n; ++i) choices_.emplace_back();
  }
  pending_runs_.clear();
  return std::nullopt;
}

ApiError Exchange::submit_error(const SubmitResult& res, const ServingRequest& sr) const {
  const char* prompt_param = req_.endpoint == Endpoint::kChat ? "messages" : "prompt";
  switch (res.error) {
    case SubmitError::kTooLong:
      return too_long(engine_->n_ctx(), sr.prompt.size(), "", prompt_param);
    case SubmitError::kQueueFull: {
      ApiError e = bad_request("", res.message, "queue_full");
      e.status = 429;
      e.type = "rate_limit_exceeded";
      e.retry_after_s = 1;
      return e;
    }
    case SubmitError::kShuttingDown:
      return service_unavailable(res.message);
    default: {
      // The engine names the field: "prompt", or "sampling" with a message that starts
      // "sampling parameter <field>: ..." (the OpenAI param is that field).
      std::string param = res.param == "prompt" ? prompt_param : res.param;
      const std::string kPrefix = "sampling parameter ";
      if (param == "sampling" && res.message.rfind(kPrefix, 0) == 0) {
        param = res.message.substr(kPrefix.size(), res.message.find(':') - kPrefix.size());
      }
      return bad_request(param, res.message, "invalid_value");
    }
  }
}

void Exchange::send_text_delta(uint32_t ci, const std::string& text) {
  if (req_.endpoint == Endpoint::kMessages) {
    StreamDelta d;
    d.content = text;
    if (sink_ != nullptr) sink_->send_chunk(anthropic_.feed(d));
    return;
  }
  json ch = chunk_base();
  json choice = req_.endpoint == Endpoint::kChat
                    ? json{{"index", ci}, {"delta", {{"content", text}}}}
                    : json{{"index", ci}, {"text", text}};
  choice["logprobs"] = nullptr;
  choice["finish_reason"] = nullptr;
  ch["choices"] = json::array({choice});
  send_chunk_json(ch);
}

// A hook withdrew the request (key revoked, operator pause): cancel the engine work and end the
// response with the hook's error.
void Exchange::stop_revoked(const ApiError& e) {
  abort_runs();
  for (auto& c : choices_) {
    if (c.finish.empty()) c.finish = "cancelled";
  }
  if (!req_.stream) return fail(e);
  done_ = true;
  if (sink_ == nullptr) return;
  if (req_.endpoint == Endpoint::kMessages) {
    sink_->send_chunk(AnthropicStreamWriter::error_event(e));
    complete(e.status, false, [](ResponseSink& s) { s.end_stream(); });
    return;
  }
  json j = {{"error",
             {{"message", e.message},
              {"type", e.type},
              {"param", nullptr},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
  send_chunk_json(j);
  complete(e.status, false, end_sse);
}

void Exchange::on_events() {
  if (done_) return;
  if (session_) {
    if (auto e = session_->check()) return stop_revoked(*e);
  }
  std::vector<StreamEvent> evs;
  bool all_finished = true;
  for (auto& run : runs_) {
    if (run.finished) continue;
    // poll() reports the end only once the queue is empty, and the end's notification may
    // already have been delivered: poll until a call returns nothing.
    bool more = true;
    do {
      evs.clear();
      more = run.stream->poll(&evs);
      for (const auto& ev : evs) {
        handle_event(ev, run);
        if (done_) return;
      }
    } while (more && !evs.empty());
    if (!more) run.finished = true;
    all_finished = all_finished && run.finished;
  }
  if (!error_.empty()) {
    ApiError e;
    e.status = 500;
    e.type = "server_error";
    e.message = "generation failed: " + error_;
    if (!req_.stream) return fail(e);
    done_ = true;
    if (req_.endpoint == Endpoint::kMessages) {
      if (sink_ != nullptr) sink_->send_chunk(AnthropicStreamWriter::error_event(e));
      complete(500, false, [](ResponseSink& s) { s.end_stream(); });
      return;
    }
    json j = {{"error",
               {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}}}};
    send_chunk_json(j);
    complete(500, false, end_sse);
    return;
  }
  if (all_finished) finish();
}

void Exchange::handle_event(const StreamEvent& ev, const Run& run) {
  const uint32_t ci = run.first_choice + ev.index;
  if (ev.kind == StreamEvent::Kind::kError) {
    error_ = ev.error.empty() ? "engine error" : ev.error;
    return;
  }
  if (ci >= choices_.size()) return;
  Choice& c = choices_[ci];
  if (ev.kind == StreamEvent::Kind::kToken) {
    if (!have_first_token_) {
      have_first_token_ = true;
      first_token_ = std::chrono::steady_clock::now();
    }
    ++c.tokens;
    std::string piece = ev.token.text;
    if (strip_leading_space_ && !c.any_text && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    if (!piece.empty()) c.any_text = true;
    // With hooks (signed provenance) a stream's text is kept exactly as its chunks deliver it.
    if (req_.stream && session_) piece = as_delivered(piece);
    json delta_lp;
    if (req_.logprobs >= 0) add_logprobs(c, ev.token, &delta_lp);
    if (c.parser) {
      c.raw += piece;
      const StreamDelta d = c.parser->feed(piece);
      if (req_.stream && !delta_lp.is_null()) {
        json ch = chunk_base();
        ch["choices"] = json::array(
            {{{"index", ci}, {"delta", json::object()}, {"logprobs", delta_lp},
              {"finish_reason", nullptr}}});
        send_chunk_json(ch);
      }
      emit_parsed(ci, d);
      return;
    }
    const size_t offset = c.text.size();
    c.text += piece;
    if (req_.stream && (!piece.empty() || !delta_lp.is_null())) {
      json ch = chunk_base();
      json choice = req_.endpoint == Endpoint::kChat
                        ? json{{"index", ci}, {"delta", {{"content", piece}}}}
                        : json{{"index", ci}, {"text", piece}};
      choice["logprobs"] = delta_lp;
      if (req_.endpoint == Endpoint::kCompletions && !delta_lp.is_null()) {
        choice["logprobs"]["text_offset"] = json::array({offset});
      }
      choice["finish_reason"] = nullptr;
      ch["choices"] = json::array({choice});
      send_chunk_json(ch);
    }
    return;
  }
  // kDone
  c.finish = ev.finish == FinishReason::kLength ? "length" : "stop";
  c.stop_string = ev.stop_string;
  if (c.parser) {
    emit_parsed(ci, c.parser->finish());
    if (!c.tool_calls.empty()) c.finish = req_.legacy_functions ? "function_call" : "tool_calls";
  }
  if (!label_suffix_.empty()) {
    c.text += label_suffix_;
    if (req_.stream) send_text_delta(ci, label_suffix_);
  }
  if (ev.timings.generated_tokens > c.tokens) c.tokens = ev.timings.generated_tokens;
  if (ev.timings.generated_tokens > 1) {
    tpot_s_ = ev.timings.generation_ms / 1000.0 / (ev.timings.generated_tokens - 1);
  }
  if (req_.stream && req_.endpoint != Endpoint::kMessages) {
    json ch = chunk_base();
    json choice = req_.endpoint == Endpoint::kChat ? json{{"index", ci}, {"delta", json::object()}}
                                                   : json{{"index", ci}, {"text", ""}};
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = c.finish;
    ch["choices"] = json::array({choice});
    send_chunk_json(ch);
  }
}

void Exchange::emit_parsed(uint32_t ci, const StreamDelta& d) {
  Choice& c = choices_[ci];
  c.text += d.content;
  c.reasoning += d.reasoning_content;
  for (const auto& t : d.tool_calls) {
    if (!t.name.empty() || !t.id.empty()) {
      c.tool_calls.push_back({t.id, t.name, ""});
    }
    if (!c.tool_calls.empty()) c.tool_calls.back().arguments += t.arguments;
  }
  if (!req_.stream || d.empty()) return;
  if (req_.endpoint == Endpoint::kMessages) {
    if (sink_ != nullptr) sink_->send_chunk(anthropic_.feed(d));
    return;
  }
  if (!d.reasoning_content.empty()) {
    json ch = chunk_base();
    ch["choices"] = json::array({{{"index", ci},
                                  {"delta", {{"reasoning_content", d.reasoning_content}}},
                                  {"logprobs", nullptr},
                                  {"finish_reason", nullptr}}});
    send_chunk_json(ch);
  }
  if (!d.content.empty()) send_text_delta(ci, d.content);
  for (const auto& t : d.tool_calls) {
    // OpenAI's shape: the first delta of a call carries its index, id, type and name with empty
    // arguments; later ones carry only the index and an arguments fragment.
    json call = {{"index", t.index}};
    if (!t.name.empty() || !t.id.empty()) {
      call["id"] = t.id;
      call["type"] = "function";
      call["function"] = {{"name", t.name}, {"arguments", t.arguments}};
    } else {
      call["function"] = {{"arguments", t.arguments}};
    }
    json delta = {{"tool_calls", json::array({call})}};
    if (req_.legacy_functions) {
      delta = {{"function_call", call["function"]}};
    }
    json ch = chunk_base();
    ch["choices"] = json::array({{{"index", ci},
                                  {"delta", delta},
                                  {"logprobs", nullptr},
                                  {"finish_reason", nullptr}}});
    send_chunk_json(ch);
  }
}

json Exchange::message_json(const Choice& c) const {
  json m = {{"role", "assistant"}};
  const bool calls = !c.tool_calls.empty();
  // OpenAI sends content null next to tool calls when the model wrote no text.
  m["content"] = calls && c.text == label_prefix_ + label_suffix_ ? json(nullptr) : json(c.text);
  if (!c.reasoning.empty()) m["reasoning_content"] = c.reasoning;
  if (calls) {
    json arr = json::array();
    for (const auto& t : c.tool_calls) {
      arr.push_back({{"id", t.id},
                     {"type", "function"},
                     {"function", {{"name", t.name}, {"arguments", t.arguments}}}});
    }
    if (req_.legacy_functions) {
      m["function_call"] = arr[0]["function"];
    } else {
      m["tool_calls"] = arr;
    }
  }
  m["refusal"] = nullptr;
  return m;
}

void Exchange::add_logprobs(Choice& c, const TokenEvent& t, json* delta_lp) {
  const Tokenizer& tok = engine_->tokenizer();
  if (req_.endpoint == Endpoint::kChat) {
    json entry = logprob_entry(tok, t.token, t.logprob);
    json top = json::array();
    for (const auto& alt : t.top_logprobs)
      top.push_back(logprob_entry(tok, alt.token, alt.logprob));
    entry["top_logprobs"] = top;
    if (c.logprobs.is_null()) c.logprobs = json{{"content", json::array()}, {"refusal", nullptr}};
    c.logprobs["content"].push_back(entry);
    *delta_lp = json{{"content", json::array({entry})}, {"refusal", nullptr}};
  } else {
    const std::string piece = tok.token_to_piece(t.token);
    json top = json::object();
    for (const auto& alt : t.top_logprobs) top[tok.token_to_piece(alt.token)] = alt.logprob;
    if (c.logprobs.is_null()) {
      c.logprobs = json{{"tokens", json::array()},
                        {"token_logprobs", json::array()},
                        {"top_logprobs", json::array()},
                        {"text_offset", json::array()}};
    }
    c.logprobs["tokens"].push_back(piece);
    c.logprobs["token_logprobs"].push_back(t.logprob);
    c.logprobs["top_logprobs"].push_back(top);
    c.logprobs["text_offset"].push_back(c.text_bytes);
    c.text_bytes += piece.size();
    *delta_lp = json{{"tokens", {piece}}, {"token_logprobs", {t.logprob}}, {"top_logprobs", {top}}};
  }
}

json Exchange::chunk_base() const {
  json j = {
      {"id", id_},
      {"object", req_.endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
      {"created", created_},
      {"model", server_.opts.model_name},
      {"system_fingerprint", nullptr}};
  if (req_.include_usage) j["usage"] = nullptr;
  return j;
}

void Exchange::send_chunk_json(const json& j) {
  if (sink_ == nullptr) return;
  sink_->send_chunk("data: " + dump_json(j) + "\n\n");
}

void Exchange::finish() {
  done_ = true;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  for (const auto& r : runs_) prompt_tokens += r.prompt_tokens;
  for (const auto& c : choices_) completion_tokens += c.tokens;
  const json usage = {{"prompt_tokens", prompt_tokens},
                      {"completion_tokens", completion_tokens},
                      {"total_tokens", prompt_tokens + completion_tokens}};
  if (sink_ == nullptr) return;
  if (req_.endpoint == Endpoint::kMessages) {
    json prov;
    if (req_.stream && session_ && !choices_.empty()) {
      const std::string p = session_->sign_output(info_, choices_[0].text, nullptr);
      if (!p.empty()) prov = json::parse(p, nullptr, false);
    }
    return finish_messages(prov);
  }
  if (req_.stream) {
    if (session_ && !choices_.empty()) {
      const std::string prov = session_->sign_output(info_, choices_[0].text, nullptr);
      if (!prov.empty()) {
        json ch = chunk_base();
        ch["choices"] = json::array();
        ch["provenance"] = json::parse(prov, nullptr, false);
        send_chunk_json(ch);
      }
    }
    if (req_.include_usage) {
      json ch = chunk_base();
      ch["choices"] = json::array();
      ch["usage"] = usage;
      send_chunk_json(ch);
    }
    complete(200, false, end_sse);
    return;
  }
  json body = {{"id", id_},
               {"object", req_.endpoint == Endpoint::kChat ? "chat.completion" : "text_completion"},
               {"created", created_},
               {"model", server_.opts.model_name},
               {"system_fingerprint", nullptr}};
  json choices = json::array();
  for (uint32_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    json ch = {{"index", i}};
    if (req_.endpoint == Endpoint::kChat) {
      ch["message"] = message_json(c);
    } else {
      ch["text"] = c.text;
    }
    ch["logprobs"] = c.logprobs;
    ch["finish_reason"] = c.finish.empty() ? "stop" : c.finish;
    choices.push_back(ch);
  }
  body["choices"] = choices;
  body["usage"] = usage;
  HeaderList extra;
  if (session_) {
    session_->response_headers(info_, &extra);
    if (!choices_.empty()) {
      const std::string prov =
          session_->sign_output(info_, as_delivered(choices_[0].text), &extra);
      if (!prov.empty()) body["provenance"] = json::parse(prov, nullptr, false);
    }
  }
  complete(200, false, [text = dump_json(body), extra = std::move(extra)](ResponseSink& s) {
    s.send_response(200, "application/json", text, extra);
  });
}

// /v1/messages: the last events of a stream (with the provenance signed over the streamed text)
// or the whole message body (signed here).
void Exchange::finish_messages(const json& provenance) {
  uint64_t prompt_tokens = 0;
  for (const auto& r : runs_) prompt_tokens += r.prompt_tokens;
  const Choice empty;
  const Choice& c = choices_.empty() ? empty : choices_[0];
  std::string stop_reason = anthropic_stop_reason(c.finish);
  if (!c.stop_string.empty() && c.tool_calls.empty()) stop_reason = "stop_sequence";
  if (req_.stream) {
    sink_->send_chunk(anthropic_.finish(stop_reason, c.stop_string, c.tokens, provenance));
    complete(200, false, [](ResponseSink& s) { s.end_stream(); });
    return;
  }
  AnthropicResult r;
  r.id = id_;
  r.model = server_.opts.model_name;
  r.text = c.text;
  r.thinking = c.reasoning;
  r.tool_calls = c.tool_calls;
  r.stop_reason = stop_reason;
  r.stop_sequence = stop_reason == "stop_sequence" ? c.stop_string : "";
  r.input_tokens = prompt_tokens;
  r.output_tokens = c.tokens;
  HeaderList extra;
  if (session_) {
    session_->response_headers(info_, &extra);
    const std::string prov = session_->sign_output(info_, as_delivered(c.text), &extra);
    if (!prov.empty()) r.extra = json{{"provenance", json::parse(prov, nullptr, false)}};
  }
  complete(200, false, [text = anthropic_message_body(r), extra = std::move(extra)](ResponseSink& s) {
    s.send_response(200, "application/json", text, extra);
  });
}

// The single completion point: metrics and the session's finish (audit row, quota), exactly
// once; detaches the sink. `final` (if any) goes out now or once the record is durable.
void Exchange::complete(int status, bool disconnected, FinalSend final) {
  if (completed_) return;
  completed_ = true;
  ResponseSink* sink = sink_;
  sink_ = nullptr;
  const auto now = std::chrono::steady_clock::now();
  CompletionRecord rec;
  rec.id = id_;
  rec.endpoint = req_.endpoint;
  rec.status = status;
  rec.client_disconnected = disconnected;
  for (const auto& r : runs_) rec.prompt_tokens += r.prompt_tokens;
  for (const auto& c : choices_) {
    rec.completion_tokens += c.tokens;
    rec.finish_reasons.push_back(c.finish);
    // Tool calls and reasoning are part of what the model produced: the audit keeps the raw
    // text behind the delivered content.
    rec.texts.push_back(c.parser ? c.raw : c.text);
  }
  rec.ttft_ms = have_first_token_ ? ms_between(arrival_, first_token_) : 0.0;
  rec.e2e_ms = ms_between(arrival_, now);
  // A stream's status was counted with its head; a non-streaming answer the client left before
  // is counted here as 499 (nginx's "client closed request").
  if (disconnected && !req_.stream) server_.metrics.count_request(info_.path, 499);
  if (!runs_.empty()) {
    server_.metrics.observe_request(rec.ttft_ms / 1000.0, tpot_s_, rec.e2e_ms / 1000.0,
                                    have_first_token_);
    server_.metrics.add_tokens(rec.prompt_tokens, rec.completion_tokens);
  }
  final_sink_ = final ? sink : nullptr;
  final_send_ = std::move(final);
  bool send_now = true;
  if (session_ && admitted_) {
    // The final bytes wait for the session's record (crash safety); the notice comes from
    // another thread through a mailbox, which the server kills on shutdown.
    durable_mb_ = server_.make_mailbox(ex_);
    std::weak_ptr<Exchange> weak = weak_from_this();
    durable_mb_->deliver = [weak] {
      if (auto self = weak.lock()) self->send_final();
    };
    std::shared_ptr<Mailbox> mb = durable_mb_;
    send_now = session_->finish(info_, rec, [mb] { mb->notify(); });
  }
  // In flight until the final bytes are queued, so a draining server waits for the record.
  if (send_now || final_sink_ == nullptr) send_final();
}

void Exchange::send_final() {
  if (durable_mb_) durable_mb_->kill();
  ResponseSink* sink = final_sink_;
  FinalSend final = std::move(final_send_);
  final_sink_ = nullptr;
  final_send_ = nullptr;
  release_in_flight();
  if (sink != nullptr && final) final(*sink);
}

void Exchange::release_in_flight() {
  if (counted_in_flight_) {
    counted_in_flight_ = false;
    server_.in_flight.fetch_sub(1);
  }
}

void Exchange::abort() {
  if (final_sink_ != nullptr) {  // the connection went away while the record was committing
    final_sink_ = nullptr;
    final_send_ = nullptr;
    if (durable_mb_) durable_mb_->kill();
    release_in_flight();
  }
  abort_runs();
  complete(499, true);
  done_ = true;
}

void Exchange::abort_runs() {
  if (mailbox_) mailbox_->kill();
  if (engine_ == nullptr) return;
  for (auto& r : runs_) {
    if (!r.finished) engine_->cancel(r.stream->id());
    r.finished = true;
  }
}

}  // namespace dari::server
