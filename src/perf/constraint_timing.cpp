// bench-serve's grammar workload (see constraint_timing.h).
#include "constraint_timing.h"

#include <chrono>

#include "dari/engine/grammar_constraint.h"
#include "dari/grammar/matcher.h"

namespace dari::perf {

void MaskTimes::add(double us) {
  std::lock_guard<std::mutex> lock(mu_);
  us_.push_back(us);
}

std::vector<double> MaskTimes::take() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<double> out;
  out.swap(us_);
  return out;
}

namespace {

class TimedConstraint final : public TokenConstraint {
 public:
  TimedConstraint(std::unique_ptr<TokenConstraint> inner, MaskTimes* times)
      : inner_(std::move(inner)), times_(times) {}
  std::unique_ptr<TokenConstraint> clone() const override {
    return std::make_unique<TimedConstraint>(inner_->clone(), times_);
  }
  void allowed(std::span<uint64_t> words) override {
    const auto t0 = std::chrono::steady_clock::now();
    inner_->allowed(words);
    times_->add(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                    .count());
  }
  bool accept(int32_t token) override { return inner_->accept(token); }

 private:
  std::unique_ptr<TokenConstraint> inner_;
  MaskTimes* times_;
};

class TimedFactory final : public TokenConstraintFactory {
 public:
  TimedFactory(std::shared_ptr<const TokenConstraintFactory> inner, MaskTimes* times)
      : inner_(std::move(inner)), times_(times) {}
  std::unique_ptr<TokenConstraint> make() const override {
    return std::make_unique<TimedConstraint>(inner_->make(), times_);
  }

 private:
  std::shared_ptr<const TokenConstraintFactory> inner_;
  MaskTimes* times_;
};

}  // namespace

Result<std::shared_ptr<const TokenConstraintFactory>> timed_grammar_constraint(
    const std::string& gbnf, const Tokenizer& tok, MaskTimes* times, PrecomputeCost* precompute) {
  DARI_ASSIGN_OR_RETURN(auto grammar, grammar::compile_gbnf(gbnf));
  DARI_ASSIGN_OR_RETURN(auto vocab, grammar_vocabulary(tok));
  if (precompute != nullptr) {
    const auto t0 = std::chrono::steady_clock::now();
    size_t n = 0;
    grammar::precompute_masks(grammar, vocab, grammar::kPrecomputeBudget, &n);
    precompute->entries = static_cast<int64_t>(n);
    precompute->ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  DARI_ASSIGN_OR_RETURN(auto factory, grammar_constraint(std::move(grammar), std::move(vocab)));
  return std::shared_ptr<const TokenConstraintFactory>(
      std::make_shared<TimedFactory>(std::move(factory), times));
}

}  // namespace dari::perf
