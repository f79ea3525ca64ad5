// ServingCore: the single-threaded heart of the serving engine. It holds every request's state,
// runs the scheduler, builds one ForwardBatch per step, samples, and pushes Stream events.
//
// The model is reached only through a ForwardFn, so tests can drive the core with a fake model
// (and a fake clock) and check scheduling, KV accounting and token streams exactly.
//
// Ownership: the core owns the KvCache and the request states; Streams are shared with callers.
// Thread safety: none; the engine thread (or a test) calls every method.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "dari/engine/serving.h"
#include "dari/kv/kv_cache.h"
#include "dari/model/model.h"
#include "engine/choice_state.h"
#include "engine/scheduler.h"

namespace dari::serving {

using ForwardFn = std::function<Status(const ForwardBatch&, KvCache&, std::vector<float>*)>;
// With the hidden-state output (Model::forward_hidden): needed for embedding requests.
using ForwardHiddenFn = std::function<Status(
    const ForwardBatch&, KvCache&, std::vector<float>* logits, std::vector<float>* hidden)>;

struct CoreOptions {
  uint32_t n_ctx = 0;  // max tokens per sequence (prompt + output)
  uint32_t n_vocab = 0;
  SchedulerOptions sched;
  const Tokenizer* tokenizer = nullptr;  // null: token events carry no text
  std::vector<uint8_t> eog;              // by token id: 1 for end-of-generation tokens
  std::function<double()> now_ms;        // clock in ms; empty: steady_clock
  // Embedding requests: the hidden-state width (0: they are refused) and the pooling used for
  // EmbedPooling::kDefault.
  uint32_t n_embd = 0;
  EmbedPooling default_pooling = EmbedPooling::kMean;
};

class ServingCore {
 public:
  // A plain ForwardFn serves no embedding requests (validate() refuses them).
  ServingCore(CoreOptions opts, KvCache kv, ForwardFn forward);
  ServingCore(CoreOptions opts, KvCache kv, ForwardHiddenFn forward);
  ~ServingCore();
  ServingCore(const ServingCore&) = delete;
  ServingCore& operator=(const ServingCore&) = delete;

  // Checks a request against the model (prompt ids and length, sampling, max_tokens, stops, n).
  // kNone when valid; else *message names what is wrong and *param the field.
  SubmitError validate(const ServingRequest& req, std::string* message, std::string* param) const;
  // Queues a validated request; it is admitted by a later step().
  void add(uint64_t id, ServingRequest req, std::shared_ptr<Stream> stream, double submit_ms);
  // Marks a request cancelled; its blocks are freed and its stream ended at the next step().
  void cancel(uint64_t id);
  void cancel_all();

  bool idle() const { return reqs_.empty(); }
  // One step: cancellations, plan, forward, sampling, events. An error means the model failed;
  // the requests in that batch have been ended with kError.
  Status step();

  void fill_stats(ServingStats* st) const;
  uint32_t n_waiting() const;
  uint32_t n_running() const;
  const KvCache& kv() const { return kv_; }
  double now() const;

 private:
  struct Request;
  struct Choice : SchedSeq {
    Request* req = nullptr;
    uint32_t index = 0;
    std::optional<Sampler> sampler;
    std::optional<ChoiceState> state;  // engaged by make_choice; counts the generated tokens
    bool done = false;
    uint32_t first_cached = 0;  // prefix hit tokens at the first admission
    bool admitted_once = false;
    double admit_ms = 0, prompt_done_ms = -1, first_token_ms = -1, last_token_ms = 0;
    // Embedding: the pooled hidden rows so far (mean: their sum; CLS / last: the row), how many,
    // and the finished vector (moved into the kDone event).
    std::vector<double> embed_acc;
    uint32_t embed_rows = 0;
    std::vector<float> embedding;
  };
  struct Request {
    uint64_t id = 0;
    ServingRequest r;
    std::shared_ptr<Stream> stream;
    double submit_ms = 0;
    bool cancelled = false;
    bool failed = false;
    bool forked = false;
    std::vector<std::unique_ptr<Choice>> choices;
    uint32_t n_done = 0;
  };

  std::unique_ptr<Choice> make_choice(Request* r, uint32_t index);
  void process_cancels();
  void on_logits(Choice* c, std::span<const float> row);
  void sample_one(Choice* c, std::span<const float> row);
  void finish_choice(Choice* c, FinishReason why, const std::string& stop);
  void fail_request(Request* r, const std::string& msg);
  // Embedding requests: whether the prompt row at `pos` feeds the pooled vector; pool one row;
  // finish the vector and the choice once the whole prompt is computed.
  static bool embed_row(const Choice& c, uint32_t pos);
  void pool_row(Choice* c, std::span<const float> row);
  void finish_embedding(Choice* c);
  void reap();

  CoreOptions opts_;
  KvCache kv_;
  ForwardHiddenFn forward_;
  Scheduler sched_;
  std::map<uint64_t, std::unique_ptr<Request>> reqs_;  // by id (= submit order)
  uint64_t next_arrival_ = 0;
  ForwardBatch batch_;
  std::vector<float> logits_;
  std::vector<float> hidden_;
  bool can_embed_ = false;  // built with a ForwardHiddenFn
  ServingStats counters_;   // cumulative fields only
};

}  // namespace dari::serving
