// ChoiceState: how one generated sequence (a "choice") ends. The single-user Engine::generate
// (dari run / chat) and the serving core's sample_one (dari serve) both feed it every token they
// sample, so the end-of-generation rules live in one place. Sampling, KV handling, events and
// timing stay with the callers.
//
// push(token) takes a token the caller has sampled and accepted, and applies in order:
//   1. an end-of-generation token (unless ignore_eog) ends the choice with kStop; its text is not
//      emitted;
//   2. otherwise the token is detokenized incrementally (only complete UTF-8 is emitted) and the
//      text runs through the stop-string matcher; a stop string ends with kStop, and only the
//      text before it is emitted;
//   3. otherwise the length rule: kLength when max_tokens tokens have been generated, or when the
//      context is full. Unit: tokens of the sequence, prompt_tokens + generated() >= n_ctx, where
//      generated() counts every pushed token (a final eog token included). For the serving core,
//      whose SchedSeq::tokens hold prompt + generated, this is tokens.size() >= n_ctx;
//   4. otherwise cancellation: kCancelled when the cancel flag is set;
//   5. on every ending but a stop string, the held-back text (a possible start of a stop string,
//      an incomplete UTF-8 character as one U+FFFD) is flushed through the matcher, which may
//      still find a stop string there (the ending then becomes kStop by that string).
// Without a tokenizer there is no text and no stop string (steps 2 and 5 are skipped).
//
// Ownership: owns its IncrementalDecoder (a shared copy of the tokenizer) and StopMatcher (a copy
// of the stop strings). `eog` and `cancel` are borrowed: the caller keeps them alive (and `eog`
// unchanged) while the object lives. Thread safety: one thread calls every method (the CLI's
// thread, or the serving engine thread); only the cancel flag may be set from another thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dari/core/result.h"
#include "dari/engine.h"
#include "dari/tokenizer/detokenizer.h"

namespace dari {

struct ChoiceOptions {
  const Tokenizer* tokenizer = nullptr;  // null: no text and no stop strings; copied (cheap)
  std::vector<std::string> stop;         // stop strings, each non-empty (callers validate)
  std::span<const uint8_t> eog;          // by token id, nonzero: end of generation; borrowed
  bool ignore_eog = false;               // keep going past end-of-generation tokens
  bool render_special = false;           // control tokens decode to their text
  int32_t max_tokens = -1;               // generated tokens; -1: no limit, else >= 0
  uint32_t prompt_tokens = 0;            // tokens of the sequence before the first generated one
  uint32_t n_ctx = 0;                    // tokens per sequence (prompt + generated); > prompt
  const std::atomic<bool>* cancel = nullptr;  // optional; borrowed; read between tokens
};

// What became final with one pushed token.
struct ChoiceStep {
  std::string text;                           // UTF-8 complete; may be empty
  FinishReason finish = FinishReason::kNone;  // kNone: the choice goes on
  std::string stop_string;                    // the stop string matched (kStop by a string)
};

class ChoiceState {
 public:
  explicit ChoiceState(ChoiceOptions opts);

  // True when the length rule (step 3) already holds, so no token may be sampled: before the
  // first token this means max_tokens == 0 (the choice then ends with kLength and no text).
  bool length_reached() const;
  // Takes the next sampled token (the caller has accepted it into its sampler). Error: the
  // detokenizer rejected the id (outside the vocabulary); the token is counted, the decoder is
  // unchanged, and the caller ends the choice. Must not be called after a step with a finish.
  Result<ChoiceStep> push(int32_t token);
  // Tokens pushed so far.
  uint32_t generated() const { return generated_; }

 private:
  bool is_eog(int32_t token) const;
  // Step 5: appends the held-back text to *step; may turn the ending into kStop by a string.
  void flush_into(ChoiceStep* step);

  std::span<const uint8_t> eog_;
  bool ignore_eog_ = false;
  size_t max_new_ = SIZE_MAX;
  uint32_t prompt_tokens_ = 0;
  uint32_t n_ctx_ = 0;
  const std::atomic<bool>* cancel_ = nullptr;
  std::vector<std::string> stop_;
  std::optional<IncrementalDecoder> decoder_;  // both engaged iff a tokenizer was given
  std::optional<StopMatcher> matcher_;
  uint32_t generated_ = 0;
  bool finished_ = false;
};

}  // namespace dari
