// bench-serve's grammar workload: every request's sampler is constrained by one grammar, and
// the time of each token mask (TokenConstraint::allowed) is recorded, so the cost of constrained
// decoding shows next to the same workload unconstrained.
// Thread safety: the factory and its constraints may run on any threads (the recorder locks).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dari/core/result.h"
#include "dari/sampling/sampler.h"

namespace dari {
class Tokenizer;
}

namespace dari::perf {

// Microseconds per mask computation, collected from every constraint of one factory.
class MaskTimes {
 public:
  void add(double us);
  // Takes the samples recorded since the last call.
  std::vector<double> take();

 private:
  std::mutex mu_;
  std::vector<double> us_;
};

// What precomputing a grammar's masks cost (entries computed, wall milliseconds).
struct PrecomputeCost {
  int64_t entries = -1;  // -1: not done
  double ms = 0;
};

// Compiles `gbnf` against the tokenizer's vocabulary; each constraint made by the returned factory
// records its mask times into *times (which must outlive the factory's constraints). With
// `precompute` (non-null), the masks are precomputed first, within `dari serve`'s budget.
Result<std::shared_ptr<const TokenConstraintFactory>> timed_grammar_constraint(
    const std::string& gbnf, const Tokenizer& tok, MaskTimes* times, PrecomputeCost* precompute);

}  // namespace dari::perf
