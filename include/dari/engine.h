// Engine: the public inference API used by the CLI (and later the server).
//
// An Engine owns one loaded model, its tokenizer (read from the same GGUF file) and one paged KV
// cache shared by up to `max_sequences` sequences. A sequence is a conversation's token history
// whose K/V live in the cache; generate() reuses the longest common prefix between a sequence's
// stored tokens and the new prompt (so a chat turn only prefills the new part), prefills the rest
// in chunks of `prefill_chunk` tokens, then decodes one token at a time, streaming TokenEvents.
//
// Stops (GenerationResult::finish):
//   kStop      an end-of-generation token (eos, eot, eom, and vocabulary tokens such as
//              <|eot_id|>, <|im_end|>, <|end|>, <end_of_turn> marked as control tokens), or a
//              stop string (the text up to, not including, the stop string is emitted);
//   kLength    max_tokens generated, or the context is full: prompt + generated tokens reached
//              n_ctx (so asking for more tokens than the context holds ends with kLength, not an
//              error);
//   kCancelled the cancel flag was seen (checked between prefill chunks and between tokens).
// A prompt of n_ctx tokens or more (or an empty prompt) is an error: at least one token must fit.
//
// Ownership: Engine owns model, tokenizer and KV memory. Thread safety: not thread-safe; one
// thread (the CLI's main thread, later the server's engine thread) calls every method. The cancel
// flag may be set from any thread or a signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dari/core/result.h"
#include "dari/io/ggml_type.h"
#include "dari/kv/kv_cache.h"
#include "dari/sampling/sampler.h"
#include "dari/tokenizer/tokenizer.h"

namespace dari {

class Model;

struct EngineOptions {
  std::string model_path;
  uint32_t n_ctx = 0;          // tokens per sequence; 0: min(model's training context, 4096)
  uint32_t max_sequences = 1;  // the KV pool holds this many full-context sequences
  uint32_t n_threads = 0;      // 0: hardware concurrency
  std::string backend = "cpu";  // ModelLoadOptions::backend: NAME or NAME:DEVICE
  int32_t n_gpu_layers = -1;    // ModelLoadOptions::n_gpu_layers (-1: all layers on `backend`)
  bool repack = true;          // ModelLoadOptions::repack
  uint32_t prefill_chunk = 512;  // prompt tokens per forward pass (>= 1)
  GgmlType kv_dtype = GgmlType::F16;  // F16 or F32
};

enum class FinishReason { kNone, kStop, kLength, kCancelled };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "none"

struct GenerateOptions {
  SamplingParams sampling;
  int32_t max_tokens = -1;         // -1: until a stop or the context is full; else >= 0
  std::vector<std::string> stop;   // stop strings (non-empty)
  bool ignore_eog = false;         // keep going past end-of-generation tokens
  const std::atomic<bool>* cancel = nullptr;  // optional; may be set from another thread
};

// One generated token. `text` is the text that became final with this token: UTF-8 complete,
// with any possible start of a stop string held back (it may be empty, or hold text of earlier
// tokens). Concatenating every event's text gives GenerationResult::text.
struct TokenEvent {
  int32_t token = -1;
  std::string text;
  float logprob = 0.0f;                   // when sampling.n_logprobs >= 0 (raw log-softmax)
  std::vector<TokenLogprob> top_logprobs;
  FinishReason finish = FinishReason::kNone;  // set on the last event of a generation
};

struct GenerationTimings {
  uint32_t prompt_tokens = 0;    // tokens in the prompt
  uint32_t cached_tokens = 0;    // of those, reused from the KV cache (not recomputed)
  double prompt_ms = 0.0;        // prefill of the other prompt tokens
  uint32_t generated_tokens = 0;
  double generation_ms = 0.0;    // from the end of prefill to the last token
};

struct GenerationResult {
  FinishReason finish = FinishReason::kNone;
  std::string text;              // generated text, stop string excluded
  std::vector<int32_t> tokens;   // generated token ids (including a final eog token)
  std::string stop_string;       // which stop string matched (finish kStop by string)
  GenerationTimings timings;
};

// Called once per generated token, on the calling thread, before generate() returns.
using TokenCallback = std::function<void(const TokenEvent&)>;

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> load(const EngineOptions& opts);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const Model& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  uint32_t n_ctx() const { return n_ctx_; }
  uint32_t n_vocab() const;
  double load_ms() const { return load_ms_; }  // model + tokenizer + KV allocation

  // Text -> token ids. add_special: BOS/EOS as the model metadata says; parse_special: text like
  // "<|im_end|>" becomes the control token instead of plain text.
  Result<std::vector<int32_t>> tokenize(std::string_view text, bool add_special,
                                        bool parse_special) const;
  // Token ids -> text (special tokens rendered as their text).
  std::string detokenize(std::span<const int32_t> tokens) const;
  bool is_eog(int32_t token) const;
  // The chat template stored in the model (tokenizer.chat_template), or "" if none.
  std::string chat_template() const;

  // Sequences. Error when max_sequences are already live.
  Result<SeqId> create_sequence();
  void free_sequence(SeqId seq);
  // Tokens whose K/V are stored for seq (prompt + generated, minus the last generated token).
  const std::vector<int32_t>& sequence_tokens(SeqId seq) const;

  // Generates a continuation of `prompt` (the whole context for this sequence: earlier turns
  // included) and streams events to on_token. Errors: unknown sequence, empty or too long
  // prompt, invalid options, model failures.
  Result<GenerationResult> generate(SeqId seq, std::span<const int32_t> prompt,
                                    const GenerateOptions& opts,
                                    const TokenCallback& on_token = {});

 private:
  Engine() = default;
  Status prefill(SeqId seq, std::span<const int32_t> tokens, const std::atomic<bool>* cancel,
                 bool* cancelled);
  Status decode_one(SeqId seq, int32_t token);

  std::unique_ptr<Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<KvCache> kv_;
  uint32_t n_ctx_ = 0;
  uint32_t max_sequences_ = 1;
  uint32_t prefill_chunk_ = 512;
  double load_ms_ = 0.0;
  std::vector<uint8_t> eog_;                      // by token id
  std::map<SeqId, std::vector<int32_t>> seqs_;    // live sequences -> stored tokens
  std::vector<float> logits_;                     // last logits row (n_vocab)
};

}  // namespace dari
