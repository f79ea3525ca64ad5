#include "engine/serving_core.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "dari/core/strings.h"

namespace dari::serving {
namespace {

constexpr uint32_t kMaxChoices = 64;

}  // namespace

ServingCore::ServingCore(CoreOptions opts, KvCache kv, ForwardFn forward)
    : opts_(std::move(opts)),
      kv_(std::move(kv)),
      forward_([fwd = std::move(forward)](const ForwardBatch& b, KvCache& k, std::vector<float>* l,
                                          std::vector<float>* /*hidden*/) { return fwd(b, k, l); }),
      sched_(opts_.sched) {}

ServingCore::ServingCore(CoreOptions opts, KvCache kv, ForwardHiddenFn forward)
    : opts_(std::move(opts)),
      kv_(std::move(kv)),
      forward_(std::move(forward)),
      sched_(opts_.sched),
      can_embed_(true) {}

ServingCore::~ServingCore() = default;

double ServingCore::now() const {
  if (opts_.now_ms) return opts_.now_ms();
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

SubmitError ServingCore::validate(const ServingRequest& req, std::string* message,
                                  std::string* param) const {
  auto bad = [&](SubmitError e, const char* field, std::string msg) {
    *param = field;
    *message = std::move(msg);
    return e;
  };
  if (req.prompt.empty()) return bad(SubmitError::kInvalid, "prompt", "prompt: no tokens");
  for (size_t i = 0; i < req.prompt.size(); ++i) {
    const int32_t t = req.prompt[i];
    if (t < 0 || static_cast<uint32_t>(t) >= opts_.n_vocab) {
      return bad(SubmitError::kInvalid, "prompt",
                 str_format("prompt: token %zu has id %d, outside [0, %u)", i, t, opts_.n_vocab));
    }
  }
  if (req.embed && (!can_embed_ || opts_.n_embd == 0)) {
    return bad(SubmitError::kInvalid, "embed", "embed: this engine cannot compute embeddings");
  }
  if (req.embed && req.n != 1) {
    return bad(SubmitError::kInvalid, "n",
               str_format("n: an embedding request has one choice, got %u", req.n));
  }
  if (req.prompt.size() >= opts_.n_ctx) {
    return bad(SubmitError::kTooLong, "prompt",
               str_format("prompt: %zu tokens, but the context holds %u (at least one new token "
                          "must fit)",
                          req.prompt.size(), opts_.n_ctx));
  }
  if (req.max_tokens < -1) {
    return bad(SubmitError::kInvalid, "max_tokens",
               str_format("max_tokens: must be >= -1, got %d", req.max_tokens));
  }
  if (req.n < 1 || req.n > kMaxChoices) {
    return bad(SubmitError::kInvalid, "n",
               str_format("n: must be in [1, %u], got %u", kMaxChoices, req.n));
  }
  for (const auto& s : req.stop) {
    if (s.empty()) return bad(SubmitError::kInvalid, "stop", "stop: strings must not be empty");
  }
  if (!req.stop.empty() && opts_.tokenizer == nullptr) {
    return bad(SubmitError::kInvalid, "stop", "stop: this engine has no tokenizer");
  }
  Status sp = validate_sampling_params(req.sampling, opts_.n_vocab);
  if (!sp.ok()) return bad(SubmitError::kInvalid, "sampling", sp.message());
  return SubmitError::kNone;
}

std::unique_ptr<ServingCore::Choice> ServingCore::make_choice(Request* r, uint32_t index) {
  auto c = std::make_unique<Choice>();
  c->req = r;
  c->index = index;
  c->priority = r->r.priority;
  c->arrival = r->choices.empty() ? next_arrival_++ : r->choices[0]->arrival;
  c->tokens = r->r.prompt;
  if (r->r.embed) {
    // Mean and CLS pooling read rows a prefix-cache hit would skip: compute every token.
    c->use_prefix = r->r.pooling == EmbedPooling::kLast;
  } else {  // embedding requests sample nothing
    SamplingParams sp = r->r.sampling;
    sp.seed += index;
    auto sampler = Sampler::create(sp, opts_.n_vocab);
    DARI_CHECK(sampler.ok());  // validated by validate()
    c->sampler.emplace(std::move(sampler).value());
    c->sampler->accept_prompt(r->r.prompt);
  }
  ChoiceOptions co;
  co.tokenizer = opts_.tokenizer;  // null: no text (validate() then allows no stop strings)
  co.stop = r->r.stop;
  co.eog = opts_.eog;  // opts_ outlives every request
  co.ignore_eog = r->r.ignore_eog;
  co.render_special = r->r.render_special;
  co.max_tokens = r->r.max_tokens;
  co.prompt_tokens = static_cast<uint32_t>(r->r.prompt.size());  // c->tokens = prompt + generated
  co.n_ctx = opts_.n_ctx;
  c->state.emplace(std::move(co));
  return c;
}

void ServingCore::add(uint64_t id, ServingRequest req, std::shared_ptr<Stream> stream,
                      double submit_ms) {
  auto r = std::make_unique<Request>();
  r->id = id;
  r->r = std::move(req);
  r->stream = std::move(stream);
  r->submit_ms = submit_ms;
  if (r->r.embed && r->r.pooling == EmbedPooling::kDefault) {
    r->r.pooling = opts_.default_pooling == EmbedPooling::kDefault ? EmbedPooling::kMean
                                                                   : opts_.default_pooling;
  }
  r->choices.push_back(make_choice(r.get(), 0));
  reqs_[id] = std::move(r);
}

void ServingCore::cancel(uint64_t id) {
  auto it = reqs_.find(id);
  if (it != reqs_.end()) it->second->cancelled = true;
}

void ServingCore::cancel_all() {
  for (auto& [id, r] : reqs_) r->cancelled = true;
}

void ServingCore::finish_choice(Choice* c, FinishReason why, const std::string& stop) {
  c->done = true;
  if (c->kv_seq >= 0) kv_.free_sequence(c->kv_seq);
  c->kv_seq = -1;
  Request& r = *c->req;
  StreamEvent ev;
  ev.kind = StreamEvent::Kind::kDone;
  ev.index = c->index;
  ev.finish = why;
  ev.stop_string = stop;
  GenerationTimings& t = ev.timings;
  t.prompt_tokens = static_cast<uint32_t>(r.r.prompt.size());
  t.cached_tokens = c->first_cached;
  if (c->prompt_done_ms >= 0) {
    t.prompt_ms = c->prompt_done_ms - c->admit_ms;
    t.generation_ms = std::max(0.0, c->last_token_ms - c->prompt_done_ms);
  }
  t.generated_tokens = c->state->generated();
  if (c->first_token_ms >= 0) ev.ttft_ms = c->first_token_ms - r.submit_ms;
  ev.embedding = std::move(c->embedding);
  r.stream->push(std::move(ev));
  ++r.n_done;
}

void ServingCore::fail_request(Request* r, const std::string& msg) {
  if (r->failed) return;
  r->failed = true;
  for (auto& c : r->choices) {
    if (c->kv_seq >= 0) kv_.free_sequence(c->kv_seq);
    c->kv_seq = -1;
    c->done = true;
  }
  StreamEvent ev;
  ev.kind = StreamEvent::Kind::kError;
  ev.error = msg;
  r->stream->push(std::move(ev));
}

void ServingCore::process_cancels() {
  for (auto& [id, r] : reqs_) {
    if (!r->cancelled || r->failed) continue;
    for (uint32_t i = 0; i < r->r.n; ++i) {
      if (i < r->choices.size()) {
        if (!r->choices[i]->done) finish_choice(r->choices[i].get(), FinishReason::kCancelled, "");
      } else {  // never forked: end the choice without a sequence
        StreamEvent ev;
        ev.kind = StreamEvent::Kind::kDone;
        ev.index = i;
        ev.finish = FinishReason::kCancelled;
        ev.timings.prompt_tokens = static_cast<uint32_t>(r->r.prompt.size());
        r->stream->push(std::move(ev));
        ++r->n_done;
      }
    }
  }
}

void ServingCore::reap() {
  for (auto it = reqs_.begin(); it != reqs_.end();) {
    Request& r = *it->second;
    if (r.failed || r.n_done >= r.r.n) {
      for (auto& c : r.choices) {
        if (c->kv_seq >= 0) kv_.free_sequence(c->kv_seq);  // defensive: nothing should be left
      }
      r.stream->finish();
      if (r.cancelled) {
        ++counters_.requests_cancelled;
      } else {
        ++counters_.requests_finished;
      }
      it = reqs_.erase(it);
    } else {
      ++it;
    }
  }
}

void ServingCore::sample_one(Choice* c, std::span<const float> row) {
  if (c->done) return;  // its request failed while a sibling was sampled
  Request& r = *c->req;
  if (c->state->length_reached()) {  // max_tokens == 0
    finish_choice(c, FinishReason::kLength, "");
    return;
  }
  auto st = c->sampler->sample(row);
  if (!st.ok()) {
    fail_request(&r, "sampling: " + st.message());
    return;
  }
  const int32_t tok = st->token;
  c->sampler->accept(tok);
  c->tokens.push_back(tok);
  ++counters_.generated_tokens;
  const double t = now();
  if (c->first_token_ms < 0) c->first_token_ms = t;
  c->last_token_ms = t;
  auto step = c->state->push(tok);
  if (!step.ok()) {
    fail_request(&r, "detokenize: " + step.message());
    return;
  }
  StreamEvent ev;
  ev.index = c->index;
  ev.token.token = tok;
  ev.token.text = std::move(step->text);
  ev.token.logprob = st->logprob;
  ev.token.top_logprobs = std::move(st->top);
  ev.token.finish = step->finish;
  r.stream->push(std::move(ev));
  if (step->finish != FinishReason::kNone) finish_choice(c, step->finish, step->stop_string);
}

bool ServingCore::embed_row(const Choice& c, uint32_t pos) {
  switch (c.req->r.pooling) {
    case EmbedPooling::kCls:
      return pos == 0;
    case EmbedPooling::kLast:
      return pos + 1 == c.tokens.size();
    default:
      return true;  // mean: every prompt token
  }
}

void ServingCore::pool_row(Choice* c, std::span<const float> row) {
  c->embed_acc.resize(row.size(), 0.0);
  if (c->req->r.pooling == EmbedPooling::kMean) {
    // Summed in position order whatever the chunking, so the vector does not depend on it.
    for (size_t j = 0; j < row.size(); ++j) c->embed_acc[j] += static_cast<double>(row[j]);
  } else {
    for (size_t j = 0; j < row.size(); ++j) c->embed_acc[j] = static_cast<double>(row[j]);
  }
  ++c->embed_rows;
}

void ServingCore::finish_embedding(Choice* c) {
  c->prompt_done_ms = now();
  std::vector<double> v = std::move(c->embed_acc);
  v.resize(opts_.n_embd, 0.0);
  if (c->req->r.pooling == EmbedPooling::kMean && c->embed_rows > 0) {
    for (double& x : v) x /= static_cast<double>(c->embed_rows);
  }
  if (c->req->r.normalize) {
    double sq = 0.0;
    for (double x : v) sq += x * x;
    const double norm = std::sqrt(sq);
    if (norm > 0.0) {
      for (double& x : v) x /= norm;
    }
  }
  c->embedding.assign(v.begin(), v.end());
  c->embed_acc.clear();
  c->embed_rows = 0;
  finish_choice(c, FinishReason::kStop, "");
}

void ServingCore::on_logits(Choice* c, std::span<const float> row) {
  Request& r = *c->req;
  if (c->prompt_done_ms < 0) c->prompt_done_ms = now();
  if (c->index == 0 && !r.forked && r.r.n > 1) {
    // The prompt is in the cache: the other choices share its blocks (copy-on-write).
    r.forked = true;
    for (uint32_t i = 1; i < r.r.n && !r.failed; ++i) {
      r.choices.push_back(make_choice(&r, i));
      Choice* ch = r.choices.back().get();
      ch->kv_seq = kv_.fork(c->kv_seq);
      ch->computed = c->computed;
      ch->admitted_once = true;
      ch->first_cached = c->first_cached;
      ch->admit_ms = c->admit_ms;
      ch->prompt_done_ms = c->prompt_done_ms;
      sample_one(ch, row);
    }
  }
  sample_one(c, row);
}

Status ServingCore::step() {
  process_cancels();
  reap();
  std::vector<SchedSeq*> seqs;
  for (auto& [id, r] : reqs_) {
    for (auto& c : r->choices) {
      if (!c->done) seqs.push_back(c.get());
    }
  }
  StepPlan plan = sched_.plan(seqs, kv_);
  counters_.preemptions += plan.preempted.size();
  for (SchedSeq* s : plan.preempted) {  // recomputed from the first token: pool again
    auto* c = static_cast<Choice*>(s);
    c->embed_acc.clear();
    c->embed_rows = 0;
  }
  const double t = now();
  for (SchedSeq* s : plan.admitted) {
    auto* c = static_cast<Choice*>(s);
    if (c->admitted_once) continue;
    c->admitted_once = true;
    c->first_cached = c->cached_tokens;
    c->admit_ms = t;
  }
  if (plan.run.empty()) return Status::Ok();
  batch_.tokens.clear();
  batch_.positions.clear();
  batch_.seq_ids.clear();
  batch_.need_logits.clear();
  batch_.need_hidden.clear();
  bool any_embed = false;  // need_hidden stays empty (no hidden output) without embeddings
  size_t n_hidden = 0;
  for (auto [s, n] : plan.run) any_embed = any_embed || static_cast<Choice*>(s)->req->r.embed;
  for (auto [s, n] : plan.run) {
    const auto* c = static_cast<const Choice*>(s);
    const bool embed = c->req->r.embed;
    const bool to_end = s->computed + n == s->tokens.size();
    for (uint32_t i = 0; i < n; ++i) {
      batch_.tokens.push_back(s->tokens[s->computed + i]);
      batch_.positions.push_back(static_cast<int32_t>(s->computed + i));
      batch_.seq_ids.push_back(s->kv_seq);
      batch_.need_logits.push_back(!embed && to_end && i + 1 == n ? 1 : 0);
      if (!any_embed) continue;
      const bool h = embed && embed_row(*c, s->computed + i);
      batch_.need_hidden.push_back(h ? 1 : 0);
      n_hidden += h ? 1 : 0;
    }
  }
  Status fr = forward_(batch_, kv_, &logits_, &hidden_);
  if (fr.ok() && n_hidden > 0 && hidden_.size() != n_hidden * opts_.n_embd) {
    fr = make_error(str_format("forward: %zu hidden values for %zu rows of %u", hidden_.size(),
                               n_hidden, opts_.n_embd));
  }
  if (!fr.ok()) {
    for (auto [s, n] : plan.run) fail_request(static_cast<Choice*>(s)->req, fr.message());
    reap();
    return fr;
  }
  ++counters_.steps;
  size_t row = 0, hrow = 0;
  const size_t e = opts_.n_embd;
  for (auto [s, n] : plan.run) {
    auto* c = static_cast<Choice*>(s);
    const bool embed = c->req->r.embed;
    const bool to_end = s->computed + n == s->tokens.size();
    const bool has_logits = !embed && to_end;
    const uint32_t start = s->computed;
    if (c->done) {  // its request failed while this step's rows were handled
      row += has_logits ? 1 : 0;
      for (uint32_t i = 0; embed && i < n; ++i) hrow += embed_row(*c, start + i) ? 1 : 0;
      continue;
    }
    const bool decode = c->state->generated() > 0 && n == 1 && s->pending() == 1;
    if (!decode) counters_.prompt_tokens += n;
    kv_.commit_tokens(s->kv_seq, std::span<const int32_t>(s->tokens.data() + s->computed, n));
    s->computed += n;
    if (embed) {
      for (uint32_t i = 0; i < n; ++i) {
        if (!embed_row(*c, start + i)) continue;
        pool_row(c, std::span<const float>(hidden_.data() + hrow * e, e));
        ++hrow;
      }
      if (to_end) finish_embedding(c);
      continue;
    }
    if (!has_logits) continue;
    std::span<const float> lrow(logits_.data() + row * opts_.n_vocab, opts_.n_vocab);
    ++row;
    on_logits(c, lrow);
  }
  reap();
  return Status::Ok();
}

uint32_t ServingCore::n_waiting() const {
  uint32_t n = 0;
  for (const auto& [id, r] : reqs_) {
    for (const auto& c : r->choices) n += (!c->done && c->kv_seq < 0) ? 1 : 0;
  }
  return n;
}

uint32_t ServingCore::n_running() const {
  uint32_t n = 0;
  for (const auto& [id, r] : reqs_) {
    for (const auto& c : r->choices) n += (!c->done && c->kv_seq >= 0) ? 1 : 0;
  }
  return n;
}

void ServingCore::fill_stats(ServingStats* st) const {
  *st = counters_;
  st->waiting = n_waiting();
  st->running = n_running();
  st->kv_blocks_total = kv_.total_blocks();
  st->kv_blocks_used = kv_.used_blocks();
  st->kv_blocks_cached = kv_.cached_blocks();
  st->kv_block_tokens = kv_.options().block_tokens;
  st->prefix_query_tokens = kv_.prefix_stats().query_tokens;
  st->prefix_hit_tokens = kv_.prefix_stats().hit_tokens;
}

}  // namespace dari::serving
