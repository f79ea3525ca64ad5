// ServingEngine: many requests at once through continuous batching.
//
// One engine thread owns the model, the paged KV cache (with automatic prefix caching) and every
// request's state. Each step it asks the scheduler which sequences run and with how many tokens
// (decode rows and prefill chunks alike, within a token budget and a sequence limit), runs one
// batched forward pass, samples, and pushes events to each request's Stream. Other threads talk to
// it only through submit(), cancel(), stats() and the Streams.
//
// Request lifecycle: submit() validates and queues (waiting) → admitted when its prompt fits in
// KV memory (prefix-cache hits reused) → prefill in chunks → decode → finished (stop, length,
// cancelled) or failed (error). Under KV pressure the youngest running request is preempted: its
// blocks are freed and it is later recomputed from its prompt plus the tokens already generated,
// so its output does not change.
//
// Batch invariance: a request's tokens do not depend on what else shares its batch (the model
// uses a fixed reduction order per row; each request has its own seeded sampler).
//
// Ownership: ServingEngine owns the model, tokenizer, KV cache and the engine thread. Streams are
// shared between the engine and the caller (shared_ptr); a Stream outlives the engine safely
// (once the engine is destroyed every unfinished stream gets a kDone with kCancelled).
// Thread safety: every public method of ServingEngine and Stream may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dari/backend/backend.h"
#include "dari/core/result.h"
#include "dari/engine.h"
#include "dari/io/ggml_type.h"
#include "dari/sampling/sampler.h"

namespace dari {

class Tokenizer;
struct ModelConfig;

struct ServingOptions {
  std::string model_path;
  uint32_t n_ctx = 0;          // max tokens (prompt + output) per request; 0: min(train, 4096)
  uint32_t max_running = 16;   // sequences in one step (llama.cpp's --parallel)
  uint32_t step_tokens = 512;  // token budget per step (decode rows + prefill chunk rows)
  uint64_t kv_tokens = 0;      // KV pool capacity in tokens; 0: n_ctx * max_running
  uint64_t kv_bytes = 0;       // KV pool budget in bytes; wins over kv_tokens when nonzero
  uint32_t max_waiting = 256;  // queued (not yet admitted) requests; more → kQueueFull
  uint32_t n_threads = 0;      // 0: hardware concurrency
  std::string backend = "cpu";  // ModelLoadOptions::backend: NAME or NAME:DEVICE
  int32_t n_gpu_layers = -1;    // ModelLoadOptions::n_gpu_layers (-1: all layers on `backend`)
  bool repack = true;          // ModelLoadOptions::repack
  bool profile = false;        // ModelLoadOptions::profile (read with op_profile())
  GgmlType kv_dtype = GgmlType::F16;
  bool prefix_cache = true;  // automatic prefix caching of full KV blocks
};

// How an embedding request turns its prompt's hidden states into one vector: the mean over every
// prompt token, the first token's (CLS), or the last token's. kDefault: the model's GGUF
// `<arch>.pooling_type` (1 mean, 2 cls, 3 last; absent or anything else: mean).
enum class EmbedPooling { kDefault, kMean, kCls, kLast };

struct ServingRequest {
  std::vector<int32_t> prompt;    // token ids (special tokens already resolved), non-empty
  SamplingParams sampling;        // validated by submit(); choice i samples with seed + i
  int32_t max_tokens = -1;        // per choice; -1: until a stop or the context is full
  std::vector<std::string> stop;  // stop strings (non-empty each)
  bool ignore_eog = false;
  // Show control tokens in the text (tool-call markers such as [TOOL_CALLS]); the end of
  // generation token is never shown.
  bool render_special = false;
  uint32_t n = 1;        // choices; n > 1 forks the prompt's KV (shared, copy-on-write)
  int32_t priority = 0;  // higher runs first; FCFS within one priority
  // Embedding request: the prompt is run (prefill only: no sampling, no generated tokens) and its
  // one kDone (kStop) carries StreamEvent::embedding, the final hidden states after the output norm
  // (n_embd floats per token) pooled over the prompt. n must be 1; sampling, stop and max_tokens
  // are not used. Mean and CLS pooling skip the prefix cache (every token is computed), so the
  // vector never depends on what was cached.
  bool embed = false;
  EmbedPooling pooling = EmbedPooling::kDefault;
  bool normalize = true;  // embed: divide the pooled vector by its L2 norm
};

enum class SubmitError { kNone, kInvalid, kTooLong, kQueueFull, kShuttingDown };

struct SubmitResult;  // below (needs Stream)

// One event of a request. Per choice: zero or more kToken events, then exactly one kDone.
// A kError ends the whole request (no kDone follows for unfinished choices).
struct StreamEvent {
  enum class Kind { kToken, kDone, kError };
  Kind kind = Kind::kToken;
  uint32_t index = 0;                         // choice index in [0, n)
  TokenEvent token;                           // kToken: id, final text piece, logprobs
  FinishReason finish = FinishReason::kNone;  // kDone
  std::string stop_string;                    // kDone by a stop string: which one
  GenerationTimings timings;  // kDone: prompt/cached/generated counts and times (ms)
  double ttft_ms = 0.0;       // kDone: submit → first token
  std::string error;          // kError: message
  std::vector<float> embedding = {};  // kDone of an embedding request (not cancelled): n_embd
};

// Events of one request, produced by the engine thread, consumed by the caller. Never blocks the
// producer: events queue until taken.
class Stream {
 public:
  explicit Stream(uint64_t id) : id_(id) {}
  uint64_t id() const { return id_; }

  // Moves every queued event into *out (appending). Returns false once the stream is finished
  // and nothing is left to take (the caller can stop polling).
  bool poll(std::vector<StreamEvent>* out);
  // Like poll() but waits up to `timeout` for at least one event (or the end).
  bool wait(std::chrono::milliseconds timeout, std::vector<StreamEvent>* out);
  // Called on the engine thread after events are queued (and once at the end). Must not block
  // (post to an event loop). Replaces any previous callback; called at once if events are queued.
  void set_notify(std::function<void()> fn);
  bool finished() const;

  // Producer side (engine thread only).
  void push(StreamEvent ev);
  void finish();  // no more events will be pushed

 private:
  const uint64_t id_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  std::function<void()> notify_;
  bool finished_ = false;
};

struct SubmitResult {
  std::shared_ptr<Stream> stream;  // set on success
  SubmitError error = SubmitError::kNone;
  std::string message;  // names what was wrong ("max_tokens: ...")
  std::string param;    // the request field at fault, if any ("max_tokens", "prompt")
};

struct ServingStats {
  uint32_t waiting = 0;  // queued, not admitted
  uint32_t running = 0;  // admitted (prefilling or decoding)
  uint32_t kv_blocks_total = 0;
  uint32_t kv_blocks_used = 0;    // referenced by a live sequence
  uint32_t kv_blocks_cached = 0;  // unreferenced but kept by the prefix cache (evictable)
  uint32_t kv_block_tokens = 0;
  uint64_t prefix_query_tokens = 0;  // prompt tokens looked up in the prefix cache
  uint64_t prefix_hit_tokens = 0;    // of those, found (not recomputed)
  uint64_t prompt_tokens = 0;        // prompt tokens computed (excluding hits)
  uint64_t generated_tokens = 0;
  uint64_t requests_finished = 0;
  uint64_t requests_cancelled = 0;
  uint64_t preemptions = 0;
  uint64_t steps = 0;
};

class ServingEngine {
 public:
  // Loads the model, sizes the KV pool (error if the model plus one full-context sequence does not
  // fit the budget) and starts the engine thread.
  static Result<std::unique_ptr<ServingEngine>> start(const ServingOptions& opts);
  virtual ~ServingEngine() = default;  // implementations stop the thread; streams get kCancelled

  // Validates (sampling ranges, logit_bias ids, prompt ids, prompt length < n_ctx, max_tokens)
  // and queues the request. Never blocks on the engine thread.
  virtual SubmitResult submit(ServingRequest req) = 0;
  // Cancels a request by stream id; its blocks are freed at the next step and its stream ends
  // with kDone/kCancelled for every unfinished choice. Unknown ids are ignored.
  virtual void cancel(uint64_t id) = 0;
  virtual ServingStats stats() const = 0;
  // Stops admitting new requests (submit → kShuttingDown). drain = true: returns once every
  // in-flight request has finished; false: cancels them and returns.
  virtual void shutdown(bool drain) = 0;
  // With ServingOptions::profile: the backend's time per op over the engine's life, largest
  // first. Only after shutdown() (the engine thread owns the model until then); empty before.
  virtual std::vector<OpProfile> op_profile() const { return {}; }

  // Immutable after start(); any thread.
  virtual const Tokenizer& tokenizer() const = 0;
  virtual const ModelConfig& model_config() const = 0;
  virtual uint32_t n_ctx() const = 0;
  virtual std::string chat_template() const = 0;  // "" if the model has none
  virtual const std::string& model_path() const = 0;
  virtual double load_ms() const = 0;
};

}  // namespace dari
