// Sampler implementation; see include/dari/sampling/sampler.h for the chain and conventions.
#include "dari/sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "dari/core/strings.h"

namespace dari {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kMaxBias = 100.0f;
constexpr float kMaxPenalty = 2.0f;

Status field_error(const char* field, const std::string& what) {
  return make_error(str_format("sampling parameter %s: %s", field, what.c_str()));
}

// Uniform double in [0, 1) from the top 53 bits of one 64-bit draw (platform independent, unlike
// std::uniform_real_distribution).
double uniform01(std::mt19937_64& rng) {
  const uint64_t bits = rng() >> 11;
  return static_cast<double>(bits) * (1.0 / 9007199254740992.0);  // 2^-53
}

}  // namespace

Status validate_sampling_params(const SamplingParams& p, uint32_t n_vocab) {
  if (!std::isfinite(p.temperature)) return field_error("temperature", "must be finite");
  if (p.top_k < 0) {
    return field_error("top_k", str_format("must be >= 0 (0 disables), got %d", p.top_k));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return field_error("top_p", str_format("must be in (0, 1], got %g", double(p.top_p)));
  }
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
    return field_error("min_p", str_format("must be in [0, 1], got %g", double(p.min_p)));
  }
  if (!(p.typical_p > 0.0f && p.typical_p <= 1.0f)) {
    return field_error("typical_p", str_format("must be in (0, 1], got %g", double(p.typical_p)));
  }
  if (!(p.repetition_penalty > 0.0f) || !std::isfinite(p.repetition_penalty)) {
    return field_error("repetition_penalty",
                       str_format("must be finite and > 0, got %g", double(p.repetition_penalty)));
  }
  if (p.repeat_last_n < -1) {
    return field_error("repeat_last_n", str_format("must be >= -1, got %d", p.repeat_last_n));
  }
  if (!(p.frequency_penalty >= -kMaxPenalty && p.frequency_penalty <= kMaxPenalty)) {
    return field_error("frequency_penalty",
                       str_format("must be in [-2, 2], got %g", double(p.frequency_penalty)));
  }
  if (!(p.presence_penalty >= -kMaxPenalty && p.presence_penalty <= kMaxPenalty)) {
    return field_error("presence_penalty",
                       str_format("must be in [-2, 2], got %g", double(p.presence_penalty)));
  }
  for (const auto& [tok, bias] : p.logit_bias) {
    if (tok < 0 || static_cast<uint32_t>(tok) >= n_vocab) {
      return field_error("logit_bias",
                         str_format("token id %d out of range [0, %u)", tok, n_vocab));
    }
    const bool ok = bias == kNegInf || (bias >= -kMaxBias && bias <= kMaxBias);
    if (!ok) {
      return field_error("logit_bias", str_format("bias %g for token %d must be in [-100, 100] "
                                                  "or -infinity", double(bias), tok));
    }
  }
  if (p.n_logprobs < -1 || p.n_logprobs > kMaxLogprobs) {
    return field_error("n_logprobs", str_format("must be in [-1, %d], got %d", kMaxLogprobs,
                                                p.n_logprobs));
  }
  if (n_vocab == 0) return make_error("sampler: vocabulary size is 0");
  return Status::Ok();
}

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ static_cast<uint64_t>(rd());
}

Sampler::Sampler(const SamplingParams& params, uint32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), rng_(params.seed) {
  if (params.constraint) {
    constraint_ = ConstraintSlot(params.constraint->make());
    mask_.resize((n_vocab + 63) / 64);
  }
}

Result<Sampler> Sampler::create(const SamplingParams& params, uint32_t n_vocab) {
  DARI_TRY(validate_sampling_params(params, n_vocab));
  return Sampler(params, n_vocab);
}

void Sampler::accept_prompt(std::span<const int32_t> tokens) {
  for (int32_t t : tokens) {
    if (t >= 0 && static_cast<uint32_t>(t) < n_vocab_) history_.push_back(t);
  }
  // Keep memory bounded: only the last repeat_last_n tokens are ever read.
  const int32_t n = params_.repeat_last_n;
  if (n >= 0 && history_.size() > 2 * static_cast<size_t>(n) + 1024) {
    history_.erase(history_.begin(), history_.end() - n);
  }
}

void Sampler::accept(int32_t token) {
  if (token < 0 || static_cast<uint32_t>(token) >= n_vocab_) return;
  if (TokenConstraint* c = constraint_.get(); c != nullptr && constraint_ok_) {
    constraint_ok_ = c->accept(token);
  }
  accept_prompt(std::span<const int32_t>(&token, 1));
  ++generated_counts_[token];
}

void Sampler::reset_history() {
  history_.clear();
  generated_counts_.clear();
}

Status Sampler::prepare(std::span<const float> logits) {
  if (logits.size() != n_vocab_) {
    return make_error(str_format("sampler: logits row has %zu entries, vocabulary has %u",
                                 logits.size(), n_vocab_));
  }
  work_.assign(logits.begin(), logits.end());
  for (size_t i = 0; i < work_.size(); ++i) {
    if (std::isnan(work_[i])) {
      return make_error(str_format("sampler: logit of token %zu is NaN", i));
    }
  }
  // 1. Repetition penalty: each distinct token in the window once.
  const float r = params_.repetition_penalty;
  if (r != 1.0f && params_.repeat_last_n != 0) {
    size_t window = history_.size();
    if (params_.repeat_last_n > 0) {
      window = std::min(window, static_cast<size_t>(params_.repeat_last_n));
    }
    std::set<int32_t> seen(history_.end() - static_cast<std::ptrdiff_t>(window), history_.end());
    for (int32_t t : seen) {
      float& l = work_[static_cast<size_t>(t)];
      l = l > 0.0f ? l / r : l * r;
    }
  }
  // 2. Frequency / presence over generated tokens.
  if (params_.frequency_penalty != 0.0f || params_.presence_penalty != 0.0f) {
    for (const auto& [t, count] : generated_counts_) {
      work_[static_cast<size_t>(t)] -= static_cast<float>(count) * params_.frequency_penalty +
                                       (count > 0 ? params_.presence_penalty : 0.0f);
    }
  }
  // 3. Logit bias.
  for (const auto& [t, bias] : params_.logit_bias) work_[static_cast<size_t>(t)] += bias;
  return Status::Ok();
}

Status Sampler::apply_constraint() {
  TokenConstraint* c = constraint_.get();
  if (c == nullptr) return Status::Ok();
  if (!constraint_ok_) {
    return make_error("sampler: a token outside the grammar was accepted; cannot go on");
  }
  std::fill(mask_.begin(), mask_.end(), uint64_t{0});
  c->allowed(mask_);
  bool any = false;
  for (size_t w = 0; w < mask_.size(); ++w) {
    const uint64_t bits = mask_[w];
    if (bits == ~uint64_t{0}) {
      any = true;
      continue;
    }
    const size_t end = std::min(work_.size(), (w + 1) * 64);
    for (size_t i = w * 64; i < end; ++i) {
      if ((bits >> (i - w * 64) & 1u) == 0) {
        work_[i] = kNegInf;
      } else if (work_[i] != kNegInf) {
        any = true;
      }
    }
  }
  if (!any) return make_error("sampler: the grammar allows no token here");
  return Status::Ok();
}

namespace {
// Strict total order: larger logit first, then lower id.
bool better(float la, int32_t ia, float lb, int32_t ib) {
  return la > lb || (la == lb && ia < ib);
}
}  // namespace

// Steps 4-6 on work_; leaves the kept candidates in cand_, sorted by token id.
Status Sampler::truncate() {
  cand_.clear();
  for (size_t i = 0; i < work_.size(); ++i) {
    if (work_[i] != kNegInf) cand_.push_back({static_cast<int32_t>(i), work_[i]});
  }
  if (cand_.empty()) return make_error("sampler: every token is banned (all logits -infinity)");
  auto cmp = [](const Candidate& a, const Candidate& b) {
    return better(a.logit, a.id, b.logit, b.id);
  };
  bool reordered = false;
  // 4. top-k: nth_element, no full sort.
  const size_t k = static_cast<size_t>(params_.top_k);
  if (k > 0 && k < cand_.size()) {
    std::nth_element(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(k - 1),
                     cand_.end(), cmp);
    cand_.resize(k);
    reordered = true;
  }
  float max_logit = kNegInf;
  for (const auto& c : cand_) max_logit = std::max(max_logit, c.logit);
  if (params_.typical_p < 1.0f && cand_.size() > 1) {
    typical(max_logit);
    reordered = true;
    max_logit = kNegInf;  // typical sampling may drop the most likely token
    for (const auto& c : cand_) max_logit = std::max(max_logit, c.logit);
  }
  // 6 (bound first). min-p keeps tokens with logit >= max + ln(min_p); it only shortens the
  // sorted prefix that top-p keeps, so compute its size first and sort no further than that.
  size_t limit = cand_.size();
  float min_p_threshold = kNegInf;
  if (params_.min_p > 0.0f) {
    min_p_threshold = max_logit + std::log(params_.min_p);
    limit = static_cast<size_t>(std::count_if(cand_.begin(), cand_.end(), [&](const Candidate& c) {
      return c.logit >= min_p_threshold;
    }));
  }
  // 5. top-p over the top-k set (temperature 1): sort a growing prefix until the mass is reached.
  if (params_.top_p < 1.0f && cand_.size() > 1) {
    double z = 0.0;
    for (const auto& c : cand_) z += std::exp(static_cast<double>(c.logit - max_logit));
    const double target = static_cast<double>(params_.top_p) * z;
    size_t m = std::min<size_t>(limit, 64);
    size_t keep = limit;
    for (;;) {
      std::partial_sort(cand_.begin(), cand_.begin() + static_cast<std::ptrdiff_t>(m),
                        cand_.end(), cmp);
      double cum = 0.0;
      size_t i = 0;
      for (; i < m; ++i) {
        cum += std::exp(static_cast<double>(cand_[i].logit - max_logit));
        if (cum >= target) break;
      }
      if (i < m) {
        keep = std::min(limit, i + 1);
        break;
      }
      if (m >= limit) break;  // min-p bound reached first
      m = std::min(limit, m * 4);
    }
    cand_.resize(keep);
    reordered = true;
  } else if (limit < cand_.size()) {
    auto end = std::partition(cand_.begin(), cand_.end(), [&](const Candidate& c) {
      return c.logit >= min_p_threshold;
    });
    cand_.erase(end, cand_.end());
    reordered = true;
  }
  if (reordered) {
    std::sort(cand_.begin(), cand_.end(),
              [](const Candidate& a, const Candidate& b) { return a.id < b.id; });
  }
  return Status::Ok();
}

// Step 4b: keeps the tokens whose surprise -log p is closest to the entropy of the distribution
// over cand_ (temperature 1), in that order, until their mass reaches typical_p (at least one).
void Sampler::typical(float max_logit) {
  double z = 0.0;
  for (const auto& c : cand_) z += std::exp(static_cast<double>(c.logit - max_logit));
  const double log_z = std::log(z);
  double entropy = 0.0;
  for (const auto& c : cand_) {
    const double lp = static_cast<double>(c.logit - max_logit) - log_z;
    entropy -= std::exp(lp) * lp;
  }
  auto dist = [&](const Candidate& c) {
    return std::fabs(-(static_cast<double>(c.logit - max_logit) - log_z) - entropy);
  };
  std::sort(cand_.begin(), cand_.end(), [&](const Candidate& a, const Candidate& b) {
    const double da = dist(a);
    const double db = dist(b);
    return da < db || (da == db && a.id < b.id);
  });
  double cum = 0.0;
  size_t keep = cand_.size();
  for (size_t i = 0; i < cand_.size(); ++i) {
    cum += std::exp(static_cast<double>(cand_[i].logit - max_logit) - log_z);
    if (cum >= static_cast<double>(params_.typical_p)) {
      keep = i + 1;
      break;
    }
  }
  cand_.resize(keep);
}

Result<std::vector<TokenProb>> Sampler::distribution(std::span<const float> logits) {
  DARI_TRY(prepare(logits));
  DARI_TRY(apply_constraint());
  std::vector<TokenProb> out;
  if (params_.temperature <= 0.0f) {
    size_t best = 0;
    for (size_t i = 1; i < work_.size(); ++i) {
      if (work_[i] > work_[best]) best = i;
    }
    if (work_[best] == kNegInf) return make_error("sampler: every token is banned");
    out.push_back({static_cast<int32_t>(best), 1.0});
    return out;
  }
  DARI_TRY(truncate());
  float max_logit = kNegInf;
  for (const auto& c : cand_) max_logit = std::max(max_logit, c.logit);
  const double inv_t = 1.0 / static_cast<double>(params_.temperature);
  double z = 0.0;
  out.reserve(cand_.size());
  for (const auto& c : cand_) {
    const double w = std::exp(static_cast<double>(c.logit - max_logit) * inv_t);
    out.push_back({c.id, w});
    z += w;
  }
  for (auto& tp : out) tp.prob /= z;
  return out;
}

Result<SampledToken> Sampler::sample(std::span<const float> logits) {
  DARI_ASSIGN_OR_RETURN(std::vector<TokenProb> dist, distribution(logits));
  SampledToken out;
  if (dist.size() == 1) {
    out.token = dist[0].token;
  } else {
    const double u = uniform01(rng_);
    double cum = 0.0;
    out.token = dist.back().token;  // guards against rounding leaving u above the final sum
    for (const auto& tp : dist) {
      cum += tp.prob;
      if (u < cum) {
        out.token = tp.token;
        break;
      }
    }
  }
  if (params_.n_logprobs >= 0) fill_logprobs(logits, &out);
  return out;
}

void Sampler::fill_logprobs(std::span<const float> raw, SampledToken* out) const {
  float max_logit = kNegInf;
  for (float l : raw) max_logit = std::max(max_logit, l);
  double z = 0.0;
  if (max_logit != kNegInf) {
    for (float l : raw) z += std::exp(static_cast<double>(l - max_logit));
  }
  const double lse = static_cast<double>(max_logit) + std::log(z);
  auto lp = [&](int32_t t) {
    const float l = raw[static_cast<size_t>(t)];
    return l == kNegInf ? kNegInf : static_cast<float>(static_cast<double>(l) - lse);
  };
  out->logprob = lp(out->token);
  const size_t n = std::min(static_cast<size_t>(params_.n_logprobs), raw.size());
  if (n == 0) return;
  std::vector<int32_t> ids(raw.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  auto cmp = [&](int32_t a, int32_t b) {
    return better(raw[static_cast<size_t>(a)], a, raw[static_cast<size_t>(b)], b);
  };
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), cmp);
  out->top.clear();
  for (size_t i = 0; i < n; ++i) out->top.push_back({ids[i], lp(ids[i])});
}

Result<std::vector<float>> Sampler::penalized_logits(std::span<const float> logits) const {
  Sampler copy = *this;
  DARI_TRY(copy.prepare(logits));
  return copy.work_;
}

}  // namespace dari
