// Grammar-constrained sampling glue (see dari/engine/grammar_constraint.h).
#include "dari/engine/grammar_constraint.h"

#include <utility>
#include <vector>

#include "dari/grammar/matcher.h"
#include "dari/tokenizer/tokenizer.h"

namespace dari {

namespace {

class GrammarTokenConstraint final : public TokenConstraint {
 public:
  explicit GrammarTokenConstraint(grammar::Matcher m) : m_(std::move(m)) {}
  std::unique_ptr<TokenConstraint> clone() const override {
    return std::make_unique<GrammarTokenConstraint>(m_);
  }
  void allowed(std::span<uint64_t> words) override {
    // A failed matcher (its work bound was hit) leaves only the end-of-generation ids set, so
    // the choice ends instead of stalling.
    (void)m_.fill_mask(words);
  }
  bool accept(int32_t token) override { return m_.accept(token); }

 private:
  grammar::Matcher m_;
};

class GrammarConstraintFactory final : public TokenConstraintFactory {
 public:
  explicit GrammarConstraintFactory(grammar::Matcher start) : start_(std::move(start)) {}
  std::unique_ptr<TokenConstraint> make() const override {
    return std::make_unique<GrammarTokenConstraint>(start_);
  }

 private:
  grammar::Matcher start_;  // copied for each choice; never advanced itself
};

}  // namespace

Result<std::shared_ptr<const grammar::Vocabulary>> grammar_vocabulary(const Tokenizer& tok) {
  const size_t n = tok.n_tokens();
  std::vector<std::string> bytes(n);
  std::vector<int32_t> eog;
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<TokenId>(i);
    if (tok.is_end_of_generation(id)) eog.push_back(id);
    const TokenType type = tok.token_type(id);
    if (type == TokenType::kControl || type == TokenType::kUnknown || type == TokenType::kUnused) {
      continue;  // never produced by a grammar
    }
    bytes[i] = tok.token_to_piece(id);
  }
  return grammar::Vocabulary::create(std::move(bytes), std::move(eog));
}

Result<std::shared_ptr<const TokenConstraintFactory>> grammar_constraint(
    std::shared_ptr<const grammar::Grammar> grammar,
    std::shared_ptr<const grammar::Vocabulary> vocabulary) {
  DARI_ASSIGN_OR_RETURN(grammar::Matcher m,
                        grammar::Matcher::create(std::move(grammar), std::move(vocabulary)));
  return std::shared_ptr<const TokenConstraintFactory>(
      std::make_shared<GrammarConstraintFactory>(std::move(m)));
}

}  // namespace dari
