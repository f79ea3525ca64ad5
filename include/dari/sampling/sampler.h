// Sampler: turns one row of logits into a token id, with per-request parameters.
//
// Chain order (the same as llama.cpp's default chain, so CLI flags mean what users expect):
//   1. repetition penalty   (llama.cpp style, over the last `repeat_last_n` tokens of the whole
//                            history: prompt + generated; each distinct token penalised once:
//                            logit > 0 -> logit / r, else logit * r)
//   2. frequency/presence   (OpenAI semantics, over the generated tokens only:
//                            logit -= count * frequency_penalty + (count > 0) * presence_penalty)
//   3. logit bias           (added to the logit; -infinity bans the token)
//   3b. constraint          (a grammar: tokens it does not allow next are banned)
//   -- temperature <= 0: greedy, argmax of the above (ties -> lowest id); steps 4-7 are skipped.
//   4. top-k                (keep the k largest logits; 0 disables)
//   4b. typical-p           (locally typical sampling: keep the tokens whose surprise is
//                            closest to the entropy until their mass reaches typical_p;
//                            1 disables)
//   5. top-p                (keep the smallest set of largest-probability tokens whose softmax
//                            mass, computed over the tokens left by top-k at temperature 1,
//                            reaches top_p; 1 disables)
//   6. min-p                (keep tokens with p >= min_p * p_max; 0 disables)
//   7. temperature          (divide the kept logits by T) and draw one token.
// Ties in the truncation steps are broken by the lower token id, so the kept set is unique.
//
// Determinism: the RNG is std::mt19937_64 (its output sequence is fixed by the C++ standard) and
// the uniform draw is built from its raw bits, and the draw walks the kept tokens in token-id
// order; the same seed, parameters and logits give the same tokens on every platform (up to libm
// differences in exp()).
//
// Logprobs convention (documented choice): logprobs are the log-softmax of the RAW logits the
// model produced, before penalties, bias, truncation and temperature (the model's own
// distribution, as vLLM reports by default). So a logprob does not change with the sampling
// settings, and the chosen token's logprob is finite unless the model gave it -infinity.
//
// Ownership/threads: a Sampler is a plain value owned by one request; not thread-safe, but
// different Samplers may be used from different threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "dari/core/result.h"

namespace dari {

inline constexpr int32_t kMaxLogprobs = 20;

// A rule on which tokens may come next (a grammar), one instance per choice. The sampler asks
// it before each draw and tells it each token it accepted. Thread safety: one thread at a time
// (the sampler's); instances made by one factory may run on different threads at once.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // A copy with the same state (a Sampler copy gets its own).
  virtual std::unique_ptr<TokenConstraint> clone() const = 0;
  // Sets bit t of words[t / 64] (bit t % 64) iff token t may come next; words holds
  // ceil(n_vocab / 64) entries, all zero on entry.
  virtual void allowed(std::span<uint64_t> words) = 0;
  // The token that was drawn. False if it was not allowed (the state is then unchanged).
  virtual bool accept(int32_t token) = 0;
};

// Makes each choice's constraint (shared by the copies of one request's SamplingParams).
class TokenConstraintFactory {
 public:
  virtual ~TokenConstraintFactory() = default;
  virtual std::unique_ptr<TokenConstraint> make() const = 0;
};

struct SamplingParams {
  // Defaults are neutral (sample from the model's distribution); the CLI applies llama.cpp's
  // defaults (temp 0.8, top-k 40, top-p 0.95, min-p 0.05) itself.
  float temperature = 1.0f;  // <= 0: greedy
  int32_t top_k = 0;         // 0: disabled; else >= 1
  float top_p = 1.0f;        // (0, 1]; 1: disabled
  float min_p = 0.0f;        // [0, 1]; 0: disabled
  float typical_p = 1.0f;    // (0, 1]; 1: disabled
  float repetition_penalty = 1.0f;  // > 0; 1: disabled
  int32_t repeat_last_n = 64;       // window of the history for repetition_penalty; -1: all
  float frequency_penalty = 0.0f;   // [-2, 2]
  float presence_penalty = 0.0f;    // [-2, 2]
  std::map<int32_t, float> logit_bias;  // token id -> bias in [-100, 100], or -infinity (ban)
  uint64_t seed = 0;
  int32_t n_logprobs = -1;  // -1: none; 0: chosen token only; 1..kMaxLogprobs: plus top-n
  // Optional grammar; each Sampler makes its own instance from it.
  std::shared_ptr<const TokenConstraintFactory> constraint;
};

// Checks every field's range (and logit_bias ids against n_vocab); the error names the field.
Status validate_sampling_params(const SamplingParams& p, uint32_t n_vocab);

// A seed from the OS entropy source (for "no seed given").
uint64_t random_seed();

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
};

struct SampledToken {
  int32_t token = -1;
  float logprob = 0.0f;             // set when n_logprobs >= 0 (see convention above)
  std::vector<TokenLogprob> top;    // n_logprobs most likely tokens, descending; ties: lower id
};

// One token with its final sampling probability (after the whole chain).
struct TokenProb {
  int32_t token = -1;
  double prob = 0.0;
};

class Sampler {
 public:
  // Validates params; n_vocab is the logits row length every call must use.
  static Result<Sampler> create(const SamplingParams& params, uint32_t n_vocab);

  const SamplingParams& params() const { return params_; }

  // History used by the penalties. Prompt tokens count for the repetition penalty only;
  // generated tokens count for all penalties. Token ids outside [0, n_vocab) are ignored.
  void accept_prompt(std::span<const int32_t> tokens);
  void accept(int32_t token);
  // Forgets the history (the RNG state is kept; a constraint keeps its state).
  void reset_history();
  // False once a token the constraint did not allow was accepted (a caller's bug or a forced
  // token); sampling then fails instead of drawing from a broken state.
  bool constraint_ok() const { return constraint_ok_; }

  // Draws one token from `logits` (n_vocab floats). Does not accept() it. Errors: wrong row
  // length, NaN logits, or every token banned.
  Result<SampledToken> sample(std::span<const float> logits);

  // The final distribution the next sample() would draw from (greedy: one token with prob 1),
  // sorted by token id. Does not touch the RNG. For tests and diagnostics.
  Result<std::vector<TokenProb>> distribution(std::span<const float> logits);

  // Logits after penalties and bias (steps 1-3), for tests.
  Result<std::vector<float>> penalized_logits(std::span<const float> logits) const;

 private:
  Sampler(const SamplingParams& params, uint32_t n_vocab);

  struct Candidate {
    int32_t id;
    float logit;
  };
  // Owns a constraint; copies clone it, so a copied Sampler has its own state.
  class ConstraintSlot {
   public:
    ConstraintSlot() = default;
    explicit ConstraintSlot(std::unique_ptr<TokenConstraint> c) : c_(std::move(c)) {}
    ConstraintSlot(const ConstraintSlot& o) : c_(o.c_ ? o.c_->clone() : nullptr) {}
    ConstraintSlot(ConstraintSlot&&) noexcept = default;
    ConstraintSlot& operator=(const ConstraintSlot& o) {
      if (this != &o) c_ = o.c_ ? o.c_->clone() : nullptr;
      return *this;
    }
    ConstraintSlot& operator=(ConstraintSlot&&) noexcept = default;
    TokenConstraint* get() const { return c_.get(); }

   private:
    std::unique_ptr<TokenConstraint> c_;
  };

  Status prepare(std::span<const float> logits);  // fills work_ (penalised)
  Status apply_constraint();                      // bans in work_ what the constraint forbids
  Status truncate();                              // fills cand_ (kept set, id order)
  void typical(float max_logit);                  // step 4b on cand_
  void fill_logprobs(std::span<const float> raw, SampledToken* out) const;

  SamplingParams params_;
  uint32_t n_vocab_ = 0;
  std::mt19937_64 rng_;
  std::vector<int32_t> history_;   // prompt + generated, for repetition penalty
  std::map<int32_t, uint32_t> generated_counts_;  // for frequency/presence
  std::vector<float> work_;        // scratch: penalised logits, n_vocab
  std::vector<Candidate> cand_;    // scratch: candidates
  ConstraintSlot constraint_;
  std::vector<uint64_t> mask_;     // scratch: allowed-token bits, ceil(n_vocab / 64) words
  bool constraint_ok_ = true;
};

}  // namespace dari
