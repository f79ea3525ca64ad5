// Grammar-constrained sampling: a compiled grammar (dari/grammar) as the sampler's
// TokenConstraint, and the model's vocabulary as the grammar matcher sees it.
//
// Ownership: the factory shares the Grammar and Vocabulary (shared_ptr<const>); each constraint
// it makes owns one Matcher. Thread safety: grammar_vocabulary() and the factory may be used
// from any thread; one constraint instance belongs to one sampler (one thread at a time).
#pragma once

#include <memory>

#include "dari/core/result.h"
#include "dari/grammar/grammar.h"
#include "dari/grammar/vocabulary.h"
#include "dari/sampling/sampler.h"

namespace dari {

class Tokenizer;

// The bytes of every token (control tokens: none) and the end-of-generation ids. Costs one pass
// over the vocabulary and a trie build (tens of milliseconds for 150k tokens): build it once
// per model and share it.
Result<std::shared_ptr<const grammar::Vocabulary>> grammar_vocabulary(const Tokenizer& tok);

// The sampler's constraint for `grammar`: each sampler gets its own matcher. Fails if the
// grammar cannot start (its start state exceeds the matcher's bounds).
Result<std::shared_ptr<const TokenConstraintFactory>> grammar_constraint(
    std::shared_ptr<const grammar::Grammar> grammar,
    std::shared_ptr<const grammar::Vocabulary> vocabulary);

}  // namespace dari
